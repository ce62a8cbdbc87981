"""Verdict files of the same responses: two judges, or a judge and people, on one run.

:func:`read_judged` reads verdict files (each checked against its built set as any verdict file
is: :func:`mmsafety.runs.checks.check_verdicts`; a human file's own fields too:
:func:`mmsafety.runs.human.check_human`), and :func:`check_same_responses` refuses files that do
not judge the same responses, naming the ids:

- files of different benchmarks;
- files that judge the whole run (not a sample) but different ids;
- a sample (a human file) with ids the other files did not judge;
- a response judged in two files whose ``response_sha256`` differ (another model's answer, or
  another run of the same model); where a file carries no hashes (written by another tool or an
  older mmsafety) the files must at least name the same model, and the check is reported as not made.

:func:`same_run` is the rule a report groups files by: one model's responses, judged by several.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mmsafety.errors import InputError, list_ids
from mmsafety.runs.human import HUMAN_JUDGE, HumanSample, check_human, is_human


def judge_name(records: Sequence[Mapping[str, Any]]) -> str:
    """Who judged a file: ``human (ada)``, ``rules v1``, ``llm v2 (gpt-4o)``.

    >>> judge_name([{"judge": "llm", "judge_version": "2", "judge_model": "gpt-4o"}])
    'llm v2 (gpt-4o)'
    >>> judge_name([{"judge": "human", "labeller": "ada"}, {"judge": "human", "labeller": "bo"}])
    'human (ada, bo)'
    """
    if is_human(records):
        return f"{HUMAN_JUDGE} ({', '.join(sorted({str(r.get('labeller')) for r in records}))})"
    names = []
    for record in records:
        name = f"{record.get('judge', '?')} v{record.get('judge_version', '?')}"
        if record.get("judge_model"):
            name += f" ({record['judge_model']})"
        if name not in names:
            names.append(name)
    return ", ".join(names)


def hashes(records: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """Id -> ``response_sha256`` of the records that carry one."""
    return {str(r["id"]): r["response_sha256"] for r in records if isinstance(r.get("response_sha256"), str)}


def model_of(records: Sequence[Mapping[str, Any]]) -> str | None:
    """The responding model the records name (``None`` when none does)."""
    models = sorted({str(r["model"]) for r in records if r.get("model")})
    return models[0] if len(models) == 1 else ", ".join(models) or None


@dataclass
class JudgedFile:
    """One verdict file read for pairing with others."""

    path: Path
    records: list[dict[str, Any]]
    benchmark: str
    """The repo id of the set it judged."""
    name: str
    """Who judged it (:func:`judge_name`; made unique among the files read together)."""
    human: HumanSample | None = None
    """The sample's weights and seed, for a human file."""
    coverage: Any = None

    @property
    def ids(self) -> list[str]:
        return [str(r["id"]) for r in self.records]


def read_judged(paths: Sequence[str | Path], benchmark: str | None = None) -> list[JudgedFile]:
    """Read and check each file (against its built set; a human file's fields too)."""
    from mmsafety.runs.checks import check_verdicts
    from mmsafety.runs.files import read_verdicts

    files = []
    seen: dict[Path, str] = {}
    for raw in paths:
        path = Path(raw)
        if path.resolve() in seen:
            raise InputError(f"given twice (also as {seen[path.resolve()]}): expected each verdicts file once", file=path)
        seen[path.resolve()] = str(path)
        checked = check_verdicts(path, benchmark)
        records = read_verdicts(path)
        human = check_human(path, records) if is_human(records) else None
        files.append(JudgedFile(path, records, checked.repo, judge_name(records), human, checked.coverage))
    names = [f.name for f in files]
    for file in files:
        if names.count(file.name) > 1:
            file.name = f"{file.name} [{file.path}]"
    return files


def _differing(first: Mapping[str, str], second: Mapping[str, str]) -> list[str]:
    return [i for i, digest in first.items() if i in second and second[i] != digest]


def check_same_responses(files: Sequence[JudgedFile]) -> list[str]:
    """Refuse files that do not judge the same responses (see the module docstring); returns
    notes on checks that could not be made."""
    if len(files) < 2:
        raise InputError(f"expected at least two verdict files of the same responses, found {len(files)}")
    first = files[0]
    for file in files[1:]:
        if file.benchmark != first.benchmark:
            raise InputError(f"these verdicts judged {file.benchmark}, {first.path} judged {first.benchmark}: "
                             "expected verdict files of one benchmark", file=file.path)
    whole = [f for f in files if f.human is None]
    if whole:
        reference = set(whole[0].ids)
        for file in whole[1:]:
            ids = set(file.ids)
            if ids != reference:
                raise InputError(f"judged other ids than {whole[0].path}: only here {list_ids(ids - reference) or 'none'}; "
                                 f"only there {list_ids(reference - ids) or 'none'}: expected verdicts of the same responses",
                                 file=file.path)
        for file in files:
            extra = set(file.ids) - reference
            if extra:
                raise InputError(f"labels {len(extra)} id(s) that {whole[0].path} did not judge: {list_ids(extra)}: "
                                 "expected a sample of the run the other files judge", file=file.path)
    notes = []
    for index, file in enumerate(files):
        own = hashes(file.records)
        if not own:
            notes.append(f"{file.path}: no response_sha256: not checked that it judged the same responses")
        for earlier in files[:index]:
            other = hashes(earlier.records)
            differ = _differing(own, other)
            if differ:
                raise InputError(f"judged other responses than {earlier.path} (response_sha256 differs) on {len(differ)} id(s): "
                                 f"{list_ids(differ)}: expected verdicts of the same responses", file=file.path)
            if not (own and other) and model_of(file.records) and model_of(earlier.records) \
                    and model_of(file.records) != model_of(earlier.records):
                raise InputError(f"judged responses of {model_of(file.records)}, {earlier.path} of {model_of(earlier.records)}: "
                                 "expected verdicts of the same responses", file=file.path)
    return notes


def same_run(first: Sequence[Mapping[str, Any]], second: Sequence[Mapping[str, Any]]) -> bool:
    """Whether two verdict files judge one run: the same model's responses (the ``model`` they
    name, where both name one; sighted or blind alike), with the same ``response_sha256`` on every
    id both judged and at least one such id. Files without hashes are never one run.

    >>> a = [{"id": "1", "model": "m", "response_sha256": "x"}, {"id": "2", "model": "m", "response_sha256": "y"}]
    >>> same_run(a, [{"id": "2", "model": "m", "response_sha256": "y"}]), same_run(a, [{"id": "2", "model": "m", "response_sha256": "z"}])
    (True, False)
    """
    if model_of(first) and model_of(second) and model_of(first) != model_of(second):
        return False
    if {bool(r.get("blind", False)) for r in first} != {bool(r.get("blind", False)) for r in second}:
        return False
    one, two = hashes(first), hashes(second)
    shared = [i for i in one if i in two]
    return bool(shared) and not _differing(one, two)
