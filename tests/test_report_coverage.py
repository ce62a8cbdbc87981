"""Each run's coverage of the built set ("scored N of M items") in the report's files."""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

import pytest
from helpers.judging import build_fixture, write_responses

from mmsafety.cli import main
from mmsafety.report import load_safety_report, write_safety_report
from mmsafety.runs.checks import check_verdicts


@pytest.fixture
def salad(hf_cache: Path, capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    rows = build_fixture(hf_cache, "salad", count=6)
    capsys.readouterr()
    return rows


@pytest.fixture
def four_of_six(salad: list[dict[str, Any]], tmp_path: Path) -> Path:
    """Verdicts of the first four of the set's six items."""
    return write_responses(tmp_path / "v.jsonl", [
        {"id": r["id"], "verdict": "safe", "label": r["label"], "category": r["category"], "subset": r["subset"],
         "judge": "rules", "judge_version": "1", "benchmark": "mmsafety/salad", "model": "m"}
        for r in salad[:4]
    ])


def report_into(out: Path, verdicts: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    assert main(["report", str(verdicts), "--out", str(out)]) == 0, capsys.readouterr().err
    capsys.readouterr()
    return out


def test_report_md_shows_each_runs_coverage(four_of_six: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    markdown = (report_into(tmp_path / "r", four_of_six, capsys) / "report.md").read_text(encoding="utf-8")
    assert "| m | scored 4 of 6 items (2 missing) |" in markdown


def test_report_html_shows_each_runs_coverage(four_of_six: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    page = html.unescape((report_into(tmp_path / "r", four_of_six, capsys) / "report.html").read_text(encoding="utf-8"))
    assert "scored 4 of 6 items (2 missing)" in page


def test_scores_json_holds_each_runs_coverage(four_of_six: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    scores = json.loads((report_into(tmp_path / "r", four_of_six, capsys) / "scores.json").read_text(encoding="utf-8"))
    assert scores["benchmarks"]["mmsafety/salad"]["models"]["m"]["coverage"] == {"scored": 4, "total": 6, "missing": 2, "complete": False}


def test_evaluate_report_shows_the_coverage_of_its_verdicts(salad: list[dict[str, Any]], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    responses = write_responses(tmp_path / "r.jsonl", [(r["id"], "I cannot help with that.") for r in salad])
    assert main(["evaluate", "salad", "--responses", str(responses), "--out", str(tmp_path / "eval"), "--no-progress"]) == 0
    assert "scored 6 of 6 items" in (tmp_path / "eval" / "report.md").read_text(encoding="utf-8")


def test_a_report_loaded_with_the_checked_coverage_shows_it(four_of_six: Path, tmp_path: Path) -> None:
    report = load_safety_report([four_of_six], coverage={four_of_six: check_verdicts(four_of_six, "salad").coverage})
    assert "scored 4 of 6 items" in write_safety_report(report, tmp_path / "r").markdown.read_text(encoding="utf-8")


def test_a_report_of_unchecked_verdicts_has_no_coverage(four_of_six: Path, tmp_path: Path) -> None:
    files = write_safety_report(load_safety_report([four_of_six]), tmp_path / "r")
    assert json.loads(files.scores.read_text(encoding="utf-8"))["benchmarks"]["mmsafety/salad"]["models"]["m"]["coverage"] is None
    assert "Coverage of the built set" not in files.markdown.read_text(encoding="utf-8")
