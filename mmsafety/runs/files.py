"""Reading responses JSONL and writing (and reading back) verdicts JSONL.

A responses file has one JSON object a line: ``{"id": "...", "response": "..."}``,
optionally ``"model"``; a sample the model could not be asked about (as ``mmsafety respond``
writes it) has ``"response": null`` and an ``"error"`` reason, with an ``"error_detail"``,
and is judged ``invalid`` with that reason; ``"blind": true`` marks a run asked without the images
(``mmsafety respond --blind``). Blank lines are skipped. Errors name the file and the line
and say what was expected. Responses and verdicts are written atomically: to a temporary file in
the same folder, then renamed over the target, so a reader never sees half a file; the file gets
the permissions a plain ``open()`` would give it (the umask's for a new file, an existing one's own).

>>> import tempfile, os, json
>>> d = tempfile.mkdtemp()
>>> path = os.path.join(d, "r.jsonl")
>>> _ = open(path, "w").write('{"id": "1", "response": "No."}\\n{"id": 2, "response": ""}\\n')
>>> [(r.id, r.text, r.line) for r in read_responses(path, known_ids={"1", "2"})]
[('1', 'No.', 1), ('2', '', 2)]
"""

from __future__ import annotations

import json
import os
import stat
import tempfile
from collections.abc import Collection, Iterable, Mapping
from pathlib import Path
from typing import Any

from mmsafety.data.jsonfiles import json_type, load_jsonl
from mmsafety.errors import InputError, list_ids
from mmsafety.labels import LABELS, VERDICTS
from mmsafety.runs.records import Response, Verdict


def _describe(value: object) -> str:
    return f"JSON {json_type(value)}"


def _id(path: Path, number: int, record: Mapping[str, Any]) -> str:
    if "id" not in record:
        raise InputError('expected an "id" field, found none', file=path, record=f"line {number}")
    value = record["id"]
    if isinstance(value, bool) or not isinstance(value, (str, int)) or value == "":
        raise InputError(
            f'expected "id" to be a non-empty string (or integer), found {json.dumps(value)}',
            file=path,
            record=f"line {number}",
        )
    return str(value)


def _first_time(path: Path, number: int, sample_id: str, first_line: dict[str, int], what: str) -> None:
    """Note that ``sample_id`` is on line ``number``, refusing an id seen on an earlier line."""
    if sample_id in first_line:
        raise InputError(
            f"duplicate id {sample_id!r} (first on line {first_line[sample_id]}): expected one {what} per id",
            file=path,
            record=f"line {number}",
        )
    first_line[sample_id] = number


def read_responses(path: str | Path, known_ids: Collection[str] | None = None, *, benchmark: str = "") -> list[Response]:
    """Read and check a responses JSONL file.

    Every line must be a JSON object with a string (or integer) ``id`` and a string
    ``response`` (``null`` reads as an empty response, judged ``invalid``). An optional
    ``error`` (a reason such as ``model_bad_request``) with ``error_detail`` says why there
    is no response; the response must then be empty. Ids must be unique and, when
    ``known_ids`` is given, all in it; ``benchmark`` names it in errors.
    """
    path = Path(path)
    responses: list[Response] = []
    first_line: dict[str, int] = {}
    unknown: dict[str, int] = {}
    for number, record in load_jsonl(path):
        sample_id = _id(path, number, record)
        if "response" not in record:
            raise InputError('expected a "response" field, found none', file=path, record=f"line {number}")
        response = record["response"]
        if response is None:
            response = ""
        if not isinstance(response, str):
            raise InputError(
                f'expected "response" to be a string, found a {_describe(response)}', file=path, record=f"line {number}"
            )
        model = record.get("model")
        if model is not None and not isinstance(model, str):
            raise InputError(f'expected "model" to be a string, found a {_describe(model)}', file=path, record=f"line {number}")
        error, detail = _error(path, number, record, response)
        blind = record.get("blind", False)
        if not isinstance(blind, bool):
            raise InputError(f'expected "blind" to be true or false, found a {_describe(blind)}', file=path, record=f"line {number}")
        _first_time(path, number, sample_id, first_line, "response")
        if known_ids is not None and sample_id not in known_ids:
            unknown.setdefault(sample_id, number)
        responses.append(Response(id=sample_id, text=response, model=model, line=number, error=error, error_detail=detail, blind=blind))
    if unknown:
        first_id, first = min(unknown.items(), key=lambda item: item[1])
        name = f"benchmark {benchmark!r}" if benchmark else "the benchmark"
        raise InputError(
            f"{len(unknown)} id(s) not in {name}: {list_ids(unknown)} (first {first_id!r}); "
            "expected ids of the benchmark's samples",
            file=path,
            record=f"line {first}",
        )
    if not responses:
        raise InputError("expected at least one response, found an empty file", file=path)
    return responses


def _error(path: Path, number: int, record: Mapping[str, Any], response: str) -> tuple[str | None, str | None]:
    """The ``error`` and ``error_detail`` of a response record (both ``None`` when it has none)."""
    error = record.get("error")
    detail = record.get("error_detail")
    if error is None:
        return None, None
    if not isinstance(error, str) or not error:
        raise InputError(f'expected "error" to be a non-empty string (a reason), found {json.dumps(error)}', file=path, record=f"line {number}")
    if detail is not None and not isinstance(detail, str):
        raise InputError(f'expected "error_detail" to be a string, found a {_describe(detail)}', file=path, record=f"line {number}")
    if response.strip():
        raise InputError(
            f'expected either a "response" or an "error", found both (error {error!r})', file=path, record=f"line {number}"
        )
    return error, detail


def _umask() -> int:
    """The process's umask, read without changing it where Linux says it."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def file_mode(path: Path) -> int:
    """The permissions ``open(path, "w")`` would leave: an existing file's own, else
    ``0o666`` less the umask (``0o644`` under umask 022)."""
    try:
        existing = path.stat()
    except OSError:
        return 0o666 & ~_umask()
    return stat.S_IMODE(existing.st_mode) if stat.S_ISREG(existing.st_mode) else 0o666 & ~_umask()


def write_jsonl_atomic(path: str | Path, records: Iterable[Mapping[str, Any]]) -> None:
    """Write ``records`` as JSONL to ``path`` atomically (temporary file, fsync, rename),
    with the permissions :func:`file_mode` says (a temporary file is created ``0o600``)."""
    from mmsafety.data.writing import writing

    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    with writing(path):
        folder.mkdir(parents=True, exist_ok=True)
        handle = tempfile.NamedTemporaryFile(
            "w", encoding="utf-8", dir=folder, prefix=f".{path.name}.", suffix=".tmp", delete=False
        )
    try:
        with handle:
            for record in records:
                handle.write(json.dumps(record, ensure_ascii=False) + "\n")
            handle.flush()
            os.fchmod(handle.fileno(), file_mode(path))
            os.fsync(handle.fileno())
        os.replace(handle.name, path)
    except OSError as error:
        Path(handle.name).unlink(missing_ok=True)
        with writing(path):
            raise error
    except BaseException:
        Path(handle.name).unlink(missing_ok=True)
        raise


def write_verdicts(path: str | Path, verdicts: Iterable[Verdict], *, benchmark: str = "", benchmark_version: str = "",
                   benchmark_config: str = "") -> None:
    """Write verdicts JSONL atomically, one line per verdict.

    ``benchmark`` (its repo id, e.g. ``mmsafety/salad``), ``benchmark_version`` and
    ``benchmark_config`` (its configuration, e.g. ``full``), when given, are written into
    every line, so that a verdicts file says what it judged (``mmsafety report`` refuses to
    compare files of different benchmarks; ``score`` refuses a file of another configuration).
    """
    fields = (("benchmark", benchmark), ("benchmark_version", benchmark_version), ("benchmark_config", benchmark_config))
    stamp = {k: v for k, v in fields if v}
    write_jsonl_atomic(path, ({**v.to_record(), **stamp} for v in verdicts))


REQUIRED_VERDICT_FIELDS = ("id", "verdict", "label", "category", "subset")
VERDICT_FLAGS = ("blind", "heuristic", "label_str_disagrees")
"""Fields of a verdict that are true or false when present."""


def read_verdicts(path: str | Path) -> list[dict[str, Any]]:
    """Read and check a verdicts JSONL file (as :func:`write_verdicts` writes it).

    Each line needs ``id``, a ``verdict`` from :data:`~mmsafety.labels.VERDICTS`, a
    ``label`` from :data:`~mmsafety.labels.LABELS`, and string ``category`` and
    ``subset``; ids must be unique; ``blind`` and ``heuristic``, where present, are true or false.
    """
    path = Path(path)
    records: list[dict[str, Any]] = []
    first_line: dict[str, int] = {}
    for number, record in load_jsonl(path):
        sample_id = _id(path, number, record)
        for name in REQUIRED_VERDICT_FIELDS[1:]:
            if name not in record:
                raise InputError(f"expected a {name!r} field, found none", file=path, record=f"line {number}")
        if record["verdict"] not in VERDICTS:
            raise InputError(
                f"expected a verdict from {', '.join(VERDICTS)}, found {json.dumps(record['verdict'])}",
                file=path,
                record=f"line {number}",
            )
        if record["label"] not in LABELS:
            raise InputError(
                f"expected a label from {', '.join(LABELS)}, found {json.dumps(record['label'])}",
                file=path,
                record=f"line {number}",
            )
        for name in ("category", "subset"):
            if not isinstance(record[name], str):
                raise InputError(f"expected {name!r} to be a string, found a {_describe(record[name])}", file=path, record=f"line {number}")
        for name in VERDICT_FLAGS:
            if record.get(name) is not None and not isinstance(record[name], bool):
                raise InputError(f"expected {json.dumps(name)} to be true or false, found {json.dumps(record[name])}", file=path, record=f"line {number}")
        _first_time(path, number, sample_id, first_line, "verdict")
        record["id"] = sample_id
        records.append(record)
    if not records:
        raise InputError("expected at least one verdict, found an empty file", file=path)
    return records
