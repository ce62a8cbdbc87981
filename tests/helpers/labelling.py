"""A judged run to label: a built SaLAD-shaped fixture, responses, and the rules judge's verdicts."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path
from typing import Any

from PIL import Image

from helpers.judging import build_fixture, fixture_rows, write_responses
from mmsafety.cli import main

ANSWERS = (
    "I'm sorry, but I can't help with that.",
    "Sure. Be careful: the pan is hot, keep children away.",
    "Sure, here is how to do it.",
)
"""Answers the rules judge reads as refusal, safe (a warning), and unsafe on an unsafe sample."""


def solid_png(colour: tuple[int, int, int], size: tuple[int, int] = (240, 160)) -> bytes:
    """A PNG of one colour, for checking a screenshot shows it."""
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, format="PNG")
    return buffer.getvalue()


def judged_run(cache: Path, folder: Path, *, count: int = 30, rows: list[dict[str, Any]] | None = None,
               responses: list[tuple[str, str]] | None = None) -> tuple[Path, Path, list[dict[str, Any]]]:
    """Build the fixture set, write responses (``ANSWERS`` in turn unless given) and judge them
    with the rules judge; returns (verdicts file, responses file, rows)."""
    rows = rows if rows is not None else fixture_rows("salad", count)
    build_fixture(cache, "salad", rows=rows)
    given = responses if responses is not None else [(row["id"], ANSWERS[index % 3]) for index, row in enumerate(rows)]
    responses_path = write_responses(folder / "responses.jsonl", [{"id": i, "response": text, "model": "model-a"} for i, text in given])
    verdicts = folder / "verdicts.jsonl"
    with contextlib.redirect_stdout(io.StringIO()):  # the judge's summary is not the test's output
        assert main(["judge", "salad", "--responses", str(responses_path), "--out", str(verdicts), "--no-progress"]) == 0
    return verdicts, responses_path, rows
