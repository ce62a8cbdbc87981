"""Verdict files of one run's responses, as `mmsafety judge` writes them (with response hashes),
and human verdict files of a sample of them, as the labelling page writes them."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from mmsafety.runs.human import human_record
from mmsafety.runs.records import response_digest

CATEGORIES = ("kitchen", "outdoors")


def _subset(label: str) -> str:
    return "unsafe" if label == "unsafe" else "safe"


def write_rows(path: Path, rows: Sequence[Mapping[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def judged_file(path: Path, verdicts: Sequence[str], labels: Sequence[str], texts: Sequence[str], *, judge: str = "rules",
                model: str = "m", hashed: bool = True) -> Path:
    """A SaLAD-like verdicts file of ``judge`` on the responses ``texts`` (categories alternate)."""
    rows = []
    for i, (verdict, label, text) in enumerate(zip(verdicts, labels, texts)):
        row = {"id": str(i + 1), "verdict": verdict, "label": label, "category": CATEGORIES[i % 2], "subset": _subset(label),
               "judge": judge, "judge_version": "1", "raw": "", "reason": "empty_response" if verdict == "invalid" else None,
               "heuristic": judge == "rules", "model": model, "benchmark": "mmsafety/salad", "benchmark_version": "1.0.0"}
        if hashed:
            row["response_sha256"] = response_digest(text)
        rows.append(row)
    return write_rows(path, rows)


def human_file(path: Path, items: Mapping[int, str], labels: Sequence[str], texts: Sequence[str], *, labeller: str = "ada",
               model: str | None = "m", weight: float = 2.0) -> Path:
    """A human verdict file: ``items`` maps an index of the run to the person's verdict."""
    return write_rows(path, [
        human_record(str(i + 1), verdict, labels[i], category=CATEGORIES[i % 2], subset=_subset(labels[i]), labeller=labeller,
                     response=texts[i], seed=7, stratum=labels[i], weight=weight, model=model, benchmark="mmsafety/salad",
                     benchmark_version="1.0.0")
        for i, verdict in items.items()])
