"""Human verdict files: people's labels of a sample of one run, in the verdict-file format.

A human verdict file is a verdicts JSONL like any other (:func:`mmsafety.runs.files.read_verdicts`
reads it, and it is checked against the built set as any verdict file is), written by the
labelling page (``mmsafety label``) with, on every line:

==================  ===========================================================================
field               meaning
==================  ===========================================================================
``judge``           ``"human"`` (:data:`HUMAN_JUDGE`)
``labeller``        who labelled (a non-empty string)
``heuristic``       ``false``
``raw``             the labeller's note (``""`` or ``null`` for none)
``response_sha256`` :func:`~mmsafety.runs.records.response_digest` of the response labelled
``sample_seed``     the seed the sample was drawn with (an integer)
``sample_stratum``  the stratum the item was drawn from (a string, e.g. ``unsafe|safe``)
``sample_weight``   the inverse of the item's inclusion probability in the run it was drawn
                    from: the stratum's size in the run / the items drawn from it (a number > 0)
==================  ===========================================================================

and the fields every verdict has (``id, verdict, label, category, subset, judge_version,
reason, model, benchmark, benchmark_version``). :func:`human_record` builds one line;
:func:`check_human` checks a file's records and returns its :class:`HumanSample`.

>>> record = human_record("7", "safe", "unsafe", labeller="ada", note="warns twice",
...                       response="Careful: hot.", seed=3, stratum="unsafe|safe", weight=2.5,
...                       model="m", benchmark="mmsafety/salad", benchmark_version="1.0.0")
>>> record["judge"], record["sample_weight"], record["response_sha256"][:8]
('human', 2.5, 'fd613d75')
>>> check_human("h.jsonl", [record]).weights
{'7': 2.5}
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mmsafety.errors import InputError
from mmsafety.runs.records import response_digest

HUMAN_JUDGE = "human"
"""The ``judge`` of every human verdict."""
HUMAN_JUDGE_VERSION = "1"
"""The ``judge_version`` the labelling page writes (the version of this format)."""
SAMPLING_FIELDS = ("sample_seed", "sample_stratum", "sample_weight")
"""The fields that say how a human file's items were drawn from their run."""
HUMAN_FIELDS = ("labeller", "response_sha256", *SAMPLING_FIELDS)
"""The fields a human verdict has beyond any verdict's."""


def human_record(
    sample_id: str,
    verdict: str,
    label: str,
    *,
    labeller: str,
    response: str,
    seed: int,
    stratum: str,
    weight: float,
    note: str = "",
    category: str = "",
    subset: str = "",
    reason: str | None = None,
    model: str | None = None,
    benchmark: str = "",
    benchmark_version: str = "",
) -> dict[str, Any]:
    """One line of a human verdict file (an ``invalid`` verdict needs a ``reason``)."""
    record: dict[str, Any] = {
        "id": sample_id, "verdict": verdict, "label": label, "category": category, "subset": subset,
        "judge": HUMAN_JUDGE, "judge_version": HUMAN_JUDGE_VERSION, "raw": note,
        "reason": reason if verdict == "invalid" else None, "heuristic": False,
        "labeller": labeller, "response_sha256": response_digest(response),
        "sample_seed": seed, "sample_stratum": stratum, "sample_weight": float(weight),
    }
    if model is not None:
        record["model"] = model
    if benchmark:
        record["benchmark"] = benchmark
    if benchmark_version:
        record["benchmark_version"] = benchmark_version
    return record


def is_human(records: Sequence[Mapping[str, Any]]) -> bool:
    """Whether a verdict file's records are people's (``judge: "human"`` on any of them)."""
    return any(record.get("judge") == HUMAN_JUDGE for record in records)


@dataclass(frozen=True)
class HumanSample:
    """What a checked human file says about its sample."""

    labellers: tuple[str, ...]
    seeds: tuple[int, ...]
    weights: dict[str, float]
    """Id -> ``sample_weight``."""
    strata: dict[str, str]
    """Id -> ``sample_stratum``."""


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def check_human(path: str | Path, records: Sequence[Mapping[str, Any]]) -> HumanSample:
    """Check that every record of a human file (``judge: "human"`` on all of them) carries the
    fields of the format with the right types; raises :class:`~mmsafety.errors.InputError`
    naming the file and the record."""
    labellers, seeds = set(), set()
    weights: dict[str, float] = {}
    strata: dict[str, str] = {}
    for number, record in enumerate(records, 1):
        where = f"verdict {number} (id {record.get('id')})"
        if record.get("judge") != HUMAN_JUDGE:
            raise InputError(f'expected judge "human" on every record of a human verdict file, found {json.dumps(record.get("judge"))}',
                             file=path, record=where)
        checks = (
            ("labeller", lambda v: isinstance(v, str) and v.strip() != "", "a non-empty string"),
            ("response_sha256", lambda v: isinstance(v, str) and len(v) == 64, "the response's SHA-256 (64 hex digits)"),
            ("sample_seed", lambda v: isinstance(v, int) and not isinstance(v, bool), "an integer"),
            ("sample_stratum", lambda v: isinstance(v, str), "a string"),
            ("sample_weight", lambda v: _number(v) and v > 0 and v == v and v != float("inf"), "a number > 0"),
        )
        for name, good, expected in checks:
            if not good(record.get(name)):
                found = "none" if name not in record else json.dumps(record[name])
                raise InputError(f"expected {name!r} to be {expected}, found {found}", file=path, record=where)
        labellers.add(record["labeller"])
        seeds.add(record["sample_seed"])
        weights[str(record["id"])] = float(record["sample_weight"])
        strata[str(record["id"])] = record["sample_stratum"]
    return HumanSample(tuple(sorted(labellers)), tuple(sorted(seeds)), weights, strata)
