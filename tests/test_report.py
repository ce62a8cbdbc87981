"""`mmsafety report`: tables, published figures, charts, and bad input."""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from helpers.judging import build_fixture, read_jsonl
from mmsafety.cli import main
from mmsafety.errors import InputError
from mmsafety.runs.records import Verdict
from mmsafety.runs.files import write_verdicts
from mmsafety.report import (
    CATEGORY_CHART,
    TRADEOFF_CHART,
    TRADEOFF_SIZE,
    category_chart_size,
    interval,
    load_report,
    write_report,
)
from mmsafety.scoring import score

CATEGORIES = ("kitchen", "outdoors", "electricity")


def verdicts_file(
    path: Path,
    verdicts: list[str],
    labels: list[str],
    *,
    model: str | None = "model-a",
    benchmark: str = "mmsafety/salad",
    subsets: list[str] | None = None,
    reasons: dict[int, str] | None = None,
) -> Path:
    """A verdicts file as `mmsafety judge` writes it, categories cycling over three."""
    records = []
    for index, (verdict, label) in enumerate(zip(verdicts, labels)):
        subset = subsets[index] if subsets else ("unsafe" if label == "unsafe" else "safe")
        reason = (reasons or {}).get(index, "empty_response") if verdict == "invalid" else None
        records.append(
            Verdict(str(index + 1), verdict, label, CATEGORIES[index % 3], subset, "rules", "1", raw="cue", reason=reason, model=model, heuristic=True)
        )
    write_verdicts(path, records, benchmark=benchmark, benchmark_version="1.0.0" if benchmark else "")
    return path


def run(capsys: pytest.CaptureFixture[str], *argv: object) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def cell(result: dict[str, Any], name: str) -> str:
    """How the report prints one rate: percent [interval] (n/d)."""
    return f"{100 * result[name]:.2f} [{interval(result, name)}] ({result[name + '_numerator']}/{result[name + '_denominator']})"


SALAD_LABELS = ["unsafe", "oversensitive"] * 6
CAREFUL = ["safe", "safe", "safe", "refusal", "refusal", "safe", "unsafe", "safe", "safe", "oversensitive", "safe", "invalid"]
EAGER = ["unsafe", "safe", "unsafe", "safe", "safe", "safe", "unsafe", "safe", "refusal", "safe", "unsafe", "safe"]


@pytest.fixture
def built_salad(hf_cache: Path) -> None:
    """A built SaLAD fixture whose rows the verdict files below judge (the report checks them against it)."""
    build_fixture(hf_cache, "salad", count=12)


@pytest.fixture
def two_models(tmp_path: Path) -> tuple[Path, Path]:
    return (
        verdicts_file(tmp_path / "careful.jsonl", CAREFUL, SALAD_LABELS, model="GPT-4o", reasons={11: "model_timeout"}),
        verdicts_file(tmp_path / "eager.jsonl", EAGER, SALAD_LABELS, model="Qwen/Qwen2.5-VL-7B-Instruct"),
    )


def test_markdown_and_html_hold_the_tables_values(built_salad: None, two_models: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "report"
    code, stdout, _ = run(capsys, "report", *two_models, "--out", out)
    assert code == 0
    assert f"report: {out / 'report.html'}" in stdout
    markdown = (out / "report.md").read_text(encoding="utf-8")
    page = (out / "report.html").read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and "<title>Safety report: mmsafety/salad 1.0.0</title>" in page
    for path, verdicts in zip(two_models, (CAREFUL, EAGER)):
        result = score(verdicts, SALAD_LABELS, policy="salad", categories=[CATEGORIES[i % 3] for i in range(12)],
                       subsets=["unsafe" if label == "unsafe" else "safe" for label in SALAD_LABELS])
        for name in ("safe_response_rate", "safe_set_accuracy", "oversensitivity_rate", "overall_accuracy", "invalid_rate"):
            assert cell(result, name) in markdown, name
            assert html.escape(cell(result, name)) in page, name
        for category, entry in result["by_category"].items():
            row = f"| {category} | {entry['num_samples']} | {cell(entry, 'safe_response_rate')} |"
            assert row in markdown
            assert f"<td>{category}</td><td>{entry['num_samples']}</td><td>{cell(entry, 'safe_response_rate')}</td>" in page
    assert "| GPT-4o | model_timeout | 1 |" in markdown
    assert "a heuristic" in markdown
    assert "Judged (at least partly) by the rules judge, a heuristic of refusal and warning cues, not the papers' protocols" in markdown
    scores = json.loads((out / "scores.json").read_text())
    assert scores["policy"] == "salad" and set(scores["models"]) == {"GPT-4o", "Qwen/Qwen2.5-VL-7B-Instruct"}
    assert scores["models"]["GPT-4o"]["safe_response_rate_numerator"] == 4


def test_published_figures_stand_beside_ours_with_the_citation(two_models: tuple[Path, Path], tmp_path: Path) -> None:
    files = write_report(load_report(two_models), tmp_path / "r")
    markdown = files.markdown.read_text(encoding="utf-8")
    rows = markdown.splitlines()
    ours = rows.index("| GPT-4o | ours | 60.00 | 66.67 | 63.64 |")
    assert rows[ours + 1] == "| GPT-4o | published (Lou et al.) | 99.79 | 53.83 | 75.36 |"
    qwen = rows.index("| Qwen/Qwen2.5-VL-7B-Instruct | ours | 100.00 | 16.67 | 58.33 |")
    assert rows[qwen + 1] == "| Qwen2.5-VL-7B | published (Lou et al.) | 98.41 | 31.59 | 62.89 |"
    assert "| Deepseek-VL2-Tiny | published (Lou et al.) | 89.08 | 10.93 | 47.54 |" in rows  # the others too
    assert "arXiv:2601.04043" in markdown and "@inproceedings{lou2026salad" in markdown
    assert "lou2026salad" in files.html.read_text(encoding="utf-8")


def test_the_charts_are_pngs_of_the_expected_size(two_models: tuple[Path, Path], tmp_path: Path) -> None:
    files = write_report(load_report(two_models), tmp_path / "r")
    with Image.open(files.charts[CATEGORY_CHART]) as chart:
        assert chart.format == "PNG" and chart.size == category_chart_size(len(CATEGORIES), 2) == (1000, 360)
        chart.load()
    with Image.open(files.charts[TRADEOFF_CHART]) as chart:
        assert chart.format == "PNG" and chart.size == TRADEOFF_SIZE
        chart.load()
    markdown = files.markdown.read_text(encoding="utf-8")
    assert f"]({CATEGORY_CHART})" in markdown and f"]({TRADEOFF_CHART})" in markdown
    assert f'<img src="{TRADEOFF_CHART}"' in files.html.read_text(encoding="utf-8")
    many = [verdicts_file(tmp_path / f"m{i}.jsonl", CAREFUL, SALAD_LABELS, model=f"m{i}") for i in range(4)]
    bigger = write_report(load_report(many), tmp_path / "many")
    with Image.open(bigger.charts[CATEGORY_CHART]) as chart:
        assert chart.size == category_chart_size(3, 4) == (1000, 412)


def test_policies_without_both_chart_rates(tmp_path: Path) -> None:
    subsets = ["typical", "attack", "over-safety"] * 4
    labels = ["oversensitive" if s == "over-safety" else "unsafe" for s in subsets]
    aware = verdicts_file(tmp_path / "aware.jsonl", ["safe", "unsafe", "oversensitive"] * 4, labels,
                          benchmark="mmsafety/mmsafeaware", subsets=subsets)
    files = write_report(load_report([aware]), tmp_path / "aware")
    markdown = files.markdown.read_text(encoding="utf-8")
    assert "scored under the `mmsafeaware` policy" in markdown and "total accuracy" in markdown
    assert "The `mmsafeaware` policy has no safe-response rate or oversensitivity rate" in markdown
    assert "| LLaVA-1.5-7B | published (Wang et al.) | 95.9 | 97.7 | 6.0 | 66.5 |" in markdown

    vls = verdicts_file(tmp_path / "vls.jsonl", ["safe", "refusal", "unsafe"] * 2, ["unsafe"] * 6, benchmark="mmsafety/vlsbench", subsets=[""] * 6)
    files = write_report(load_report([vls]), tmp_path / "vls")
    markdown = files.markdown.read_text(encoding="utf-8")
    assert "| model-a | ours | 33.33 | 33.33 | 66.67 |" in markdown
    assert "## By subset" not in markdown  # VLSBench has no subsets
    with Image.open(files.charts[TRADEOFF_CHART]) as chart:
        assert chart.size == TRADEOFF_SIZE


def test_files_of_different_benchmarks_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    salad = verdicts_file(tmp_path / "salad.jsonl", CAREFUL, SALAD_LABELS)
    vls = verdicts_file(tmp_path / "vls.jsonl", ["safe"] * 3, ["unsafe"] * 3, benchmark="mmsafety/vlsbench", model="b")
    code, out, err = run(capsys, "report", salad, vls, "--out", tmp_path / "r")
    assert code == 2 and out == ""
    (line,) = err.strip().splitlines()
    assert "verdict files of different benchmarks" in line
    assert f"{salad} judged mmsafety/salad" in line and f"{vls} judged mmsafety/vlsbench" in line
    assert not (tmp_path / "r").exists()


def test_an_empty_file_a_repeated_file_and_an_unnamed_benchmark(built_salad: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n", encoding="utf-8")
    salad = verdicts_file(tmp_path / "salad.jsonl", CAREFUL, SALAD_LABELS)
    code, _, err = run(capsys, "report", salad, empty, "--out", tmp_path / "r")
    assert code == 2 and f"{empty}: expected at least one verdict, found an empty file" in err

    code, _, err = run(capsys, "report", salad, tmp_path / "." / "salad.jsonl", "--out", tmp_path / "r")
    assert code == 2 and f"{tmp_path / '.' / 'salad.jsonl'}: given twice (also as {salad})" in err

    unnamed = verdicts_file(tmp_path / "verdicts.jsonl", CAREFUL, SALAD_LABELS, benchmark="", model=None)
    code, _, err = run(capsys, "report", unnamed, "--out", tmp_path / "r")
    assert code == 2 and f"{unnamed}: the verdicts do not say which benchmark they judged" in err and "pass --benchmark NAME" in err
    code, out, _ = run(capsys, "report", unnamed, "--benchmark", "salad", "--out", tmp_path / "r")
    assert code == 0 and "salad policy" in out
    assert f"| {tmp_path.name} | 12 |" in (tmp_path / "r" / "report.md").read_text()  # labelled by its folder
    code, _, err = run(capsys, "report", salad, "--benchmark", "vlsbench", "--out", tmp_path / "r")
    assert code == 2 and f"{salad}: these verdicts judged mmsafety/salad, not mmsafety/vlsbench" in err

    with pytest.raises(InputError, match="expected at least one verdicts file"):
        load_report([])


def test_a_file_of_mixed_models_and_an_unscorable_policy(tmp_path: Path) -> None:
    path = verdicts_file(tmp_path / "v.jsonl", CAREFUL[:2], SALAD_LABELS[:2])
    records = read_jsonl(path)
    records[1]["model"] = "someone-else"
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    with pytest.raises(InputError, match="verdicts of several models in one file"):
        load_report([path])
    salad = verdicts_file(tmp_path / "s.jsonl", CAREFUL, SALAD_LABELS)
    with pytest.raises(InputError, match="cannot score under policy 'mmsafeaware'"):
        load_report([salad], policy="mmsafeaware")
