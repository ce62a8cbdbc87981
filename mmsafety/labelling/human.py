"""The human verdict file: what a labeller's labels look like once downloaded.

A human verdict file is a verdicts file like any judge's (``mmsafety score``, ``report`` and
``agree`` read it) whose records say ``judge: "human"`` and carry, beside the usual fields:

- ``labeller``: the labeller's name; ``raw``: their note (``null`` when they wrote none);
- ``response_sha256``: the sha256 (hex) of the response text as UTF-8, so that a file is
  paired only with verdicts on the same responses;
- ``sample_seed``, ``sample_stratum``, ``sample_weight``: the seed the sample was drawn with,
  the item's stratum (label, subset, judge's verdict), and its weight, the inverse inclusion
  probability (stratum size in the run / items drawn from the stratum).

The labelling page fills in ``verdict``, ``labeller``, ``raw`` and ``reason`` of the record
:func:`human_record` makes here, and nothing else: this module is the one place that says
what the file holds.

>>> record = human_record(
...     "7", label="unsafe", category="kitchen", subset="", model="m", benchmark="mmsafety/salad",
...     benchmark_version="1.0.0", response="No.", seed=3, stratum="label=unsafe|subset=|judge=safe", weight=2.5)
>>> record["judge"], record["response_sha256"][:12], record["sample_weight"]
('human', '38178a20b470', 2.5)
>>> fill(record, verdict="safe", labeller="Ada", note="")["raw"] is None
True
"""

from __future__ import annotations

import hashlib
from typing import Any

HUMAN_JUDGE = "human"
HUMAN_JUDGE_VERSION = "1"
CANNOT_JUDGE = "labeller_could_not_judge"
"""The ``reason`` of an ``invalid`` verdict a labeller gave (every invalid verdict has a reason)."""


def response_sha256(text: str) -> str:
    """The sha256 (hex) of a response's text as UTF-8.

    >>> response_sha256("")[:16]
    'e3b0c44298fc1c14'
    """
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def human_record(
    item_id: str,
    *,
    label: str,
    category: str,
    subset: str,
    model: str | None,
    benchmark: str,
    benchmark_version: str,
    response: str,
    seed: int,
    stratum: str,
    weight: float,
) -> dict[str, Any]:
    """A human verdict record with every field but the labeller's own (``verdict``,
    ``labeller``, ``raw``, ``reason`` are ``None`` until :func:`fill` or the page sets them)."""
    return {
        "id": item_id,
        "verdict": None,
        "label": label,
        "category": category,
        "subset": subset,
        "judge": HUMAN_JUDGE,
        "judge_version": HUMAN_JUDGE_VERSION,
        "labeller": None,
        "raw": None,
        "reason": None,
        "heuristic": False,
        "model": model,
        "benchmark": benchmark,
        "benchmark_version": benchmark_version,
        "response_sha256": response_sha256(response),
        "sample_seed": seed,
        "sample_stratum": stratum,
        "sample_weight": float(weight),
    }


def fill(record: dict[str, Any], *, verdict: str, labeller: str, note: str) -> dict[str, Any]:
    """The record with a labeller's verdict and note, as the page's download writes it."""
    return {**record, "verdict": verdict, "labeller": labeller, "raw": note or None, "reason": CANNOT_JUDGE if verdict == "invalid" else None}
