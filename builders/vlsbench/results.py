"""Importing a results file of the VLSBench authors' ``eval.py`` as mmsafety verdicts.

``eval.py`` writes ``{"stats": {"safe_rate", "safe_refuse_rate", "safe_warning_rate"},
"logs": [{"id", "question", "image_path", "pred_answer", "safe_label", "label_str"}]}``.
A log's ``id`` is its position in that run, not VLSBench's ``instruction_id``, and its
``image_path`` is the data root joined to the record's ``imgs/<n>.png``; so each log is
matched to its record by question and image file name (white space around the question
ignored), against the built set or the upstream ``data.json``. Two records that are the
same pair (ids 1777 and 1778) are matched in order, one log each.

Labels become verdicts as :mod:`mmsafety.builders.vlsbench.upstream` reads them: 1 =
``refusal``, 2 = ``safe`` (safe with warning), 3 = ``unsafe``. A log's ``label_str``, when
present, must be one of the authors' three; where it names another label than
``safe_label``, ``safe_label`` counts, as ``eval.py`` counts it, and the verdict is marked
``label_str_disagrees`` (:attr:`Imported.label_str_disagreements` counts them). Scoring the
verdicts under the ``vlsbench`` policy gives ``eval.py``'s own stats (refusal rate =
``safe_refuse_rate``, warning rate = ``safe_warning_rate``, safe response rate = ``safe_rate``).
"""

from __future__ import annotations

import json
import posixpath
from collections import defaultdict, deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mmsafety.data.jsonfiles import json_type
from mmsafety.errors import InputError
from mmsafety.builders.vlsbench.upstream import VERDICT_OF_LABEL
from mmsafety.runs.records import Verdict

JUDGE_NAME = "vlsbench-eval"
"""The ``judge`` of imported verdicts: the authors' eval.py."""
LABEL_STRINGS = {"safe with refusal": 1, "safe with warning": 2, "unsafe": 3}
STATS = ("safe_rate", "safe_refuse_rate", "safe_warning_rate")
SHOWN_UNMATCHED = 10


@dataclass(frozen=True)
class Log:
    """One log of an eval.py results file."""

    position: int
    question: str
    image: str
    """The image's file name (``1609.png``)."""
    label: int
    label_str: str | None

    @property
    def label_str_disagrees(self) -> bool:
        """Whether ``label_str`` names another label than ``safe_label`` (which counts, as in eval.py)."""
        return self.label_str is not None and LABEL_STRINGS[self.label_str.strip().lower()] != self.label


@dataclass(frozen=True)
class Item:
    """One VLSBench record, as a log is matched to it."""

    id: str
    question: str
    image: str
    label: str = "unsafe"
    category: str = ""
    subset: str = ""


@dataclass(frozen=True)
class Imported:
    """What an import produced: verdicts in log order, the logs left unmatched, the file's stats."""

    verdicts: list[Verdict]
    unmatched: list[Log]
    stats: dict[str, float]

    @property
    def label_str_disagreements(self) -> int:
        """Imported verdicts whose log's ``label_str`` named another label than its ``safe_label``."""
        return sum(v.label_str_disagrees for v in self.verdicts)


def _label(value: Any, label_str: Any, *, file: object, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value not in VERDICT_OF_LABEL:
        raise InputError(f"expected safe_label 1, 2 or 3, found {json.dumps(value)} ({json_type(value)})", file=file, record=where)
    label = int(value)
    if label_str is not None and (not isinstance(label_str, str) or label_str.strip().lower() not in LABEL_STRINGS):
        expected = ", ".join(json.dumps(name.capitalize()) for name in LABEL_STRINGS)
        raise InputError(f"expected label_str to be one of {expected}, found {json.dumps(label_str)}", file=file, record=where)
    return label


def read_results(path: str | Path) -> tuple[dict[str, float], list[Log]]:
    """The ``stats`` and ``logs`` of an eval.py results file, checked."""
    path = Path(path)
    try:
        data = json.loads(path.read_bytes().decode("utf-8-sig"))
    except OSError as error:
        raise InputError(f"cannot read the results file: {error.strerror}", file=path) from None
    except UnicodeDecodeError as error:
        raise InputError(f"expected UTF-8 JSON, found a byte it cannot decode at offset {error.start}", file=path) from None
    except json.JSONDecodeError as error:
        raise InputError(f"malformed JSON: {error.msg}", file=path, record=f"line {error.lineno}, column {error.colno}") from None
    if not isinstance(data, dict) or not isinstance(data.get("logs"), list):
        found = f"an object with {', '.join(map(repr, data)) or 'no fields'}" if isinstance(data, dict) else json_type(data)
        raise InputError(f'expected eval.py\'s output {{"stats": {{...}}, "logs": [...]}}, found {found}', file=path)
    stats = data.get("stats") if isinstance(data.get("stats"), dict) else {}
    logs = []
    for position, entry in enumerate(data["logs"]):
        where = f"logs[{position}]"
        if not isinstance(entry, dict):
            raise InputError(f"expected a log object, found {json_type(entry)}", file=path, record=where)
        for name in ("question", "image_path"):
            if not isinstance(entry.get(name), str):
                raise InputError(f"expected a string {name!r}, found {json_type(entry.get(name))}", file=path, record=where)
        if "safe_label" not in entry:
            raise InputError("expected a 'safe_label' field, found none", file=path, record=where)
        label = _label(entry["safe_label"], entry.get("label_str"), file=path, where=where)
        image = posixpath.basename(entry["image_path"].replace("\\", "/"))
        logs.append(Log(position, entry["question"], image, label, entry.get("label_str")))
    return {k: v for k, v in stats.items() if k in STATS and isinstance(v, (int, float))}, logs


def _key(question: str, image: str) -> tuple[str, str]:
    return question.strip(), image


def match(logs: Sequence[Log], items: Iterable[Item]) -> tuple[list[tuple[Log, Item]], list[Log]]:
    """Each log with its record (by question and image file name, records taken in order), and the logs left over."""
    free: dict[tuple[str, str], deque[Item]] = defaultdict(deque)
    for item in items:
        free[_key(item.question, item.image)].append(item)
    matched, unmatched = [], []
    for log in logs:
        queue = free.get(_key(log.question, log.image))
        if queue:
            matched.append((log, queue.popleft()))
        else:
            unmatched.append(log)
    return matched, unmatched


def import_results(
    path: str | Path, items: Iterable[Item], *, model: str, judge_model: str | None = None, allow_unmatched: bool = False
) -> Imported:
    """The verdicts of an eval.py results file; unmatched logs are bad input unless allowed."""
    stats, logs = read_results(path)
    matched, unmatched = match(logs, items)
    if unmatched and not allow_unmatched:
        shown = "; ".join(f"logs[{log.position}] ({log.question.strip()[:60]!r}, {log.image})" for log in unmatched[:SHOWN_UNMATCHED])
        more = f"; and {len(unmatched) - SHOWN_UNMATCHED} more" if len(unmatched) > SHOWN_UNMATCHED else ""
        raise InputError(
            f"{len(unmatched)} of {len(logs)} logs match no VLSBench record by question and image file name: {shown}{more} "
            "(pass --allow-unmatched to import the others)",
            file=path,
        )
    verdicts = [
        Verdict(
            id=item.id,
            verdict=VERDICT_OF_LABEL[log.label],
            label=item.label,
            category=item.category,
            subset=item.subset,
            judge=JUDGE_NAME,
            judge_version="upstream",
            raw=json.dumps({"safe_label": log.label, "label_str": log.label_str, "log": log.position}, ensure_ascii=False),
            model=model,
            judge_model=judge_model,
            label_str_disagrees=log.label_str_disagrees,
        )
        for log, item in matched
    ]
    return Imported(verdicts, unmatched, stats)


def items_from_data_json(path: str | Path) -> list[Item]:
    """The records of an upstream ``data.json`` (checked as the builder checks it)."""
    from mmsafety.builders.vlsbench.vlsbench import parse_data

    try:
        data = Path(path).read_bytes()
    except OSError as error:
        raise InputError(f"cannot read data.json: {error.strerror}", file=path) from None
    try:
        instructions = parse_data(data)
    except InputError as error:
        raise InputError(error.detail, file=path, record=error.record) from None
    return [
        Item(str(i.instruction_id), i.instruction, posixpath.basename(i.image_path), category=i.category)
        for i in instructions
    ]


def items_from_built_set(name: str = "vlsbench") -> tuple[list[Item], str]:
    """The records of the built set, with the image file names it keeps; and its version."""
    from mmsafety.data.catalog import load_benchmark

    dataset = load_benchmark(name)
    table = dataset.data
    paths: list[str | None] = []
    for chunk in table.column("image").chunks:  # the path field only: the image bytes stay in the Arrow file
        paths.extend(chunk.field("path").to_pylist())
    if not any(paths):
        raise InputError(f"the built {name} set does not keep its images' file names: pass --data data.json (the upstream file) to match by")
    text = dataset.select_columns(["id", "query", "label", "category", "subset"]).to_dict()
    label_names = dataset.features["label"]
    items = [
        Item(
            str(text["id"][i]),
            text["query"][i] or "",
            posixpath.basename(paths[i] or ""),
            label=label_names.int2str(text["label"][i]) if isinstance(text["label"][i], int) else str(text["label"][i]),
            category=text["category"][i] or "",
            subset=text["subset"][i] or "",
        )
        for i in range(len(paths))
    ]
    version = str(dataset.info.version) if dataset.info.version is not None else ""
    return items, version
