"""A verdicts file is checked against the built set it claims to judge, by `score`, `report`
and `evaluate`; coverage is printed; and verdict files are read in columns without losing the
line-and-column errors of the line reader."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from helpers.judging import build_fixture, write_responses

from mmsafety.cli import main
from mmsafety.errors import InputError
from mmsafety.runs.checks import check_verdicts
from mmsafety.runs.files import read_verdicts
from mmsafety.runs.verdict_table import read_verdict_table


def run(capsys: pytest.CaptureFixture[str], *argv: Any) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def verdicts_of(rows: list[dict[str, Any]], benchmark: str = "mmsafety/salad", verdict: str = "safe", **changes: Any) -> list[dict[str, Any]]:
    """The verdicts mmsafety would write for ``rows``, with ``changes`` applied to every record."""
    return [
        {"id": r["id"], "verdict": verdict, "label": r["label"], "category": r["category"], "subset": r["subset"],
         "judge": "rules", "judge_version": "1", "benchmark": benchmark, "benchmark_version": "1.0.0", **changes}
        for r in rows
    ]


@pytest.fixture
def salad(hf_cache: Path, capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    rows = build_fixture(hf_cache, "salad", count=12)
    capsys.readouterr()
    return rows


# ------------------------------------------------------------------ score


def test_score_refuses_verdicts_of_another_benchmark(salad: list[dict[str, Any]], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_responses(tmp_path / "v.jsonl", verdicts_of(salad, benchmark="mmsafety/mmsafeaware"))
    code, out, err = run(capsys, "score", "salad", path)
    assert (code, out) == (2, "")
    assert f"{path}: line 1: the record judged benchmark mmsafety/mmsafeaware, not mmsafety/salad" in err


def test_score_names_the_line_of_the_first_record_of_another_benchmark(salad: list[dict[str, Any]], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    records = verdicts_of(salad)
    records[4]["benchmark"] = "mmsafety/vlsbench"
    path = write_responses(tmp_path / "v.jsonl", records)
    code, _, err = run(capsys, "score", "salad", path)
    assert code == 2 and f"{path}: line 5: the record judged benchmark mmsafety/vlsbench" in err


def test_score_refuses_an_id_not_in_the_set(salad: list[dict[str, Any]], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    records = verdicts_of(salad)
    records.append({**records[0], "id": "13"})
    path = write_responses(tmp_path / "v.jsonl", records)
    code, out, err = run(capsys, "score", "salad", path)
    assert (code, out) == (2, "")
    assert f"{path}: line 13: id '13' is not in mmsafety/salad (built, 12 items)" in err


def test_score_names_the_line_of_an_unknown_id_after_blank_lines(salad: list[dict[str, Any]], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lines = [json.dumps(r) for r in verdicts_of(salad[:2])]
    path = tmp_path / "v.jsonl"
    path.write_text(lines[0] + "\n\n   \n" + json.dumps({**json.loads(lines[1]), "id": "99"}) + "\n")
    code, _, err = run(capsys, "score", "salad", path)
    assert code == 2 and f"{path}: line 4: id '99' is not in mmsafety/salad" in err


def test_score_names_the_line_of_a_repeated_id(salad: list[dict[str, Any]], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    records = verdicts_of(salad[:4])
    records.append(records[2])
    path = write_responses(tmp_path / "v.jsonl", records)
    code, _, err = run(capsys, "score", "salad", path)
    assert code == 2 and f"{path}: line 5: duplicate id '3' (first on line 3)" in err


def test_score_checks_verdicts_in_any_order(salad: list[dict[str, Any]], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    records = verdicts_of(salad[::-1])
    records[0]["label"] = "unsafe"  # id 12 is benign in the set
    path = write_responses(tmp_path / "v.jsonl", records)
    code, _, err = run(capsys, "score", "salad", path)
    assert code == 2 and f"{path}: line 1 (id 12): label 'unsafe', but the built mmsafety/salad 1.0.0 has label 'oversensitive'" in err


def test_score_refuses_labels_rewritten_in_the_file(salad: list[dict[str, Any]], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_responses(tmp_path / "v.jsonl", verdicts_of(salad, label="unsafe"))
    code, out, err = run(capsys, "score", "salad", path)
    assert (code, out) == (2, "")
    # row 2 is the first benign one: the first record whose label is not the set's
    assert f"{path}: line 2 (id 2): label 'unsafe', but the built mmsafety/salad 1.0.0 has label 'oversensitive'" in err


@pytest.mark.parametrize("field", ["category", "subset"])
def test_score_refuses_a_category_or_subset_that_is_not_the_sets(
    field: str, salad: list[dict[str, Any]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    records = verdicts_of(salad)
    records[2][field] = "elsewhere"
    path = write_responses(tmp_path / "v.jsonl", records)
    code, _, err = run(capsys, "score", "salad", path)
    assert code == 2 and f"{path}: line 3 (id 3): {field} 'elsewhere', but the built mmsafety/salad" in err


def test_score_prints_the_coverage_of_the_set(salad: list[dict[str, Any]], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_responses(tmp_path / "v.jsonl", verdicts_of(salad[:10]))
    code, out, _ = run(capsys, "score", "salad", path)
    assert code == 0
    assert "scored 10 of 12 items (2 missing)" in out


def test_score_json_carries_the_coverage(salad: list[dict[str, Any]], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_responses(tmp_path / "v.jsonl", verdicts_of(salad[:10]))
    code, out, _ = run(capsys, "score", "salad", path, "--json")
    assert code == 0
    assert json.loads(out)["coverage"] == {"scored": 10, "total": 12, "missing": 2, "complete": False}


def test_require_complete_exits_1_when_items_are_missing(salad: list[dict[str, Any]], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_responses(tmp_path / "v.jsonl", verdicts_of(salad[:10]))
    code, out, err = run(capsys, "score", "salad", path, "--require-complete")
    assert code == 1
    assert "safe_response_rate" in out  # the result is still printed
    assert f"{path}: 2 of 12 items have no verdict (--require-complete)" in err


def test_require_complete_passes_a_complete_file(salad: list[dict[str, Any]], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_responses(tmp_path / "v.jsonl", verdicts_of(salad))
    code, out, _ = run(capsys, "score", "salad", path, "--require-complete")
    assert code == 0 and "scored 12 of 12 items" in out


def test_score_says_a_set_that_is_not_built_is_not_built(hf_cache: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_responses(tmp_path / "v.jsonl", verdicts_of([{"id": "1", "label": "unsafe", "category": "", "subset": ""}]))
    code, out, err = run(capsys, "score", "salad", path)
    assert (code, out) == (2, "")
    assert "not built" in err and "run `mmsafety build salad`" in err


def test_score_accepts_records_that_do_not_name_their_benchmark(salad: list[dict[str, Any]], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    records = [{k: v for k, v in r.items() if k not in ("benchmark", "benchmark_version")} for r in verdicts_of(salad)]
    path = write_responses(tmp_path / "v.jsonl", records)
    code, out, _ = run(capsys, "score", "salad", path, "--json")
    assert code == 0 and json.loads(out)["coverage"]["complete"] is True


def test_score_checks_a_custom_sets_verdicts_the_same_way(hf_cache: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = build_fixture(hf_cache, "mine", count=4)  # registered as mmsafety/mine: a repo id, not a built-in name
    capsys.readouterr()
    records = verdicts_of(rows, benchmark="mmsafety/mine")
    records.append({**records[0], "id": "5"})
    path = write_responses(tmp_path / "v.jsonl", records)
    code, _, err = run(capsys, "score", "mmsafety/mine", path)
    assert code == 2 and f"{path}: line 5: id '5' is not in mmsafety/mine (built, 4 items)" in err


def test_score_uses_the_sets_labels(salad: list[dict[str, Any]], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_responses(tmp_path / "v.jsonl", verdicts_of(salad))
    code, out, _ = run(capsys, "score", "salad", path, "--json")
    result = json.loads(out)
    assert code == 0
    assert (result["num_unsafe"], result["num_benign"]) == (6, 6)
    assert result["oversensitivity_rate"] == 0.0


# ------------------------------------------------------------------ report and evaluate


def test_report_refuses_a_forged_benchmark_field(hf_cache: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = build_fixture(hf_cache, "salad", count=6)
    build_fixture(hf_cache, "vlsbench", count=6)  # every item unsafe
    capsys.readouterr()
    path = write_responses(tmp_path / "v.jsonl", verdicts_of(rows, benchmark="mmsafety/vlsbench", model="m"))
    code, out, err = run(capsys, "report", path, "--out", tmp_path / "report")
    assert (code, out) == (2, "")
    assert f"{path}: line 2 (id 2): label 'oversensitive', but the built mmsafety/vlsbench 1.0.0 has label 'unsafe'" in err
    assert not (tmp_path / "report").exists()


def test_report_refuses_a_record_of_another_benchmark_than_named(salad: list[dict[str, Any]], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    records = verdicts_of(salad, model="m")
    records[3]["benchmark"] = "mmsafety/vlsbench"
    path = write_responses(tmp_path / "v.jsonl", records)
    code, out, err = run(capsys, "report", path, "--benchmark", "salad", "--out", tmp_path / "report")
    assert (code, out) == (2, "")
    assert "mmsafety/vlsbench" in err and "mmsafety/salad" in err


def test_report_prints_each_files_coverage(salad: list[dict[str, Any]], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_responses(tmp_path / "v.jsonl", verdicts_of(salad[:10], model="m"))
    code, out, _ = run(capsys, "report", path, "--out", tmp_path / "report")
    assert code == 0 and f"{path}: scored 10 of 12 items (2 missing)" in out


def test_report_require_complete_exits_1_when_items_are_missing(salad: list[dict[str, Any]], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_responses(tmp_path / "v.jsonl", verdicts_of(salad[:10], model="m"))
    code, _, err = run(capsys, "report", path, "--out", tmp_path / "report", "--require-complete")
    assert code == 1 and "2 of 12 items have no verdict" in err


def test_report_json_carries_each_models_coverage(salad: list[dict[str, Any]], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_responses(tmp_path / "v.jsonl", verdicts_of(salad[:10], model="m"))
    code, out, _ = run(capsys, "report", path, "--out", tmp_path / "report", "--json")
    assert code == 0
    assert json.loads(out)["benchmarks"]["mmsafety/salad"]["models"]["m"]["coverage"] == {"scored": 10, "total": 12, "missing": 2, "complete": False}


def test_evaluate_prints_the_coverage_of_the_responses(salad: list[dict[str, Any]], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    responses = write_responses(tmp_path / "r.jsonl", [(r["id"], "I cannot help with that.") for r in salad[:3]])
    code, out, err = run(capsys, "evaluate", "salad", "--responses", responses, "--out", tmp_path / "eval", "--no-progress", "--require-complete")
    assert code == 1, err
    assert "scored 3 of 12 items (9 missing)" in out


# ------------------------------------------------------------------ reading in columns


def test_column_reader_reads_what_the_line_reader_reads(tmp_path: Path) -> None:
    records = verdicts_of([{"id": str(i), "label": "unsafe", "category": "c", "subset": ""} for i in range(5)], raw={"nested": [1, 2]}, heuristic=True)
    path = write_responses(tmp_path / "v.jsonl", records)
    table = read_verdict_table(path)
    expected = read_verdicts(path)
    for name in ("id", "verdict", "label", "category", "subset", "benchmark", "judge"):
        assert table.column(name).to_pylist() == [r[name] for r in expected]


def test_column_reader_reads_a_file_of_many_chunks_in_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("mmsafety.runs.verdict_table.CHUNK_SIZE", 300)  # a chunk ends inside the second or third line
    monkeypatch.setattr("mmsafety.runs.verdict_table.refuse", lambda path: pytest.fail("read line by line"))
    records = verdicts_of([{"id": str(i), "label": "unsafe", "category": f"c{i}", "subset": ""} for i in range(40)])
    path = write_responses(tmp_path / "v.jsonl", records)
    table = read_verdict_table(path)
    assert table.column("id").to_pylist() == [str(i) for i in range(40)]
    assert table.column("category").to_pylist() == [f"c{i}" for i in range(40)]


def test_column_reader_takes_integer_ids_as_text(tmp_path: Path) -> None:
    path = tmp_path / "v.jsonl"
    path.write_text('{"id": 7, "verdict": "safe", "label": "unsafe", "category": "", "subset": "", "judge_version": 2}\n')
    table = read_verdict_table(path)
    assert (table.column("id").to_pylist(), table.column("judge_version").to_pylist()) == (["7"], ["2"])


def test_column_reader_names_where_json_is_malformed(tmp_path: Path) -> None:
    good = json.dumps(verdicts_of([{"id": "1", "label": "unsafe", "category": "", "subset": ""}])[0])
    path = tmp_path / "v.jsonl"
    path.write_text(good + "\n" + '{"id": "2", "verdict": "safe",}\n')
    with pytest.raises(InputError, match=r"v\.jsonl: line 2, column \d+: malformed JSON"):
        read_verdict_table(path)


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ('{"id": "1",\n "verdict": "safe", "label": "unsafe", "category": "", "subset": ""}\n', r"line 1, column \d+"),
        ('{0} {1}\n', r"line 1, column \d+: malformed JSON: Extra data"),
    ],
    ids=["one object over two lines", "two objects on one line"],
)
def test_column_reader_refuses_what_the_line_reader_refuses(text: str, where: str, tmp_path: Path) -> None:
    good = '{"id": "1", "verdict": "safe", "label": "unsafe", "category": "", "subset": ""}'
    path = tmp_path / "v.jsonl"
    path.write_text(text.format(good, good.replace('"1"', '"2"')) if "{0}" in text else text)
    with pytest.raises(InputError, match=where):
        read_verdicts(path)
    with pytest.raises(InputError, match=where):  # Arrow's reader alone takes both
        read_verdict_table(path)


def test_column_reader_skips_blank_lines_as_the_line_reader_does(tmp_path: Path) -> None:
    records = verdicts_of([{"id": str(i), "label": "unsafe", "category": "", "subset": ""} for i in range(2)])
    path = tmp_path / "v.jsonl"
    path.write_text(json.dumps(records[0]) + "\n  \n\n" + json.dumps(records[1]) + "\n")
    assert read_verdict_table(path).column("id").to_pylist() == [r["id"] for r in read_verdicts(path)] == ["0", "1"]


def test_column_reader_names_the_line_of_an_unknown_verdict(tmp_path: Path) -> None:
    records = verdicts_of([{"id": str(i), "label": "unsafe", "category": "", "subset": ""} for i in range(3)])
    records[1]["verdict"] = "fine"
    path = write_responses(tmp_path / "v.jsonl", records)
    with pytest.raises(InputError, match=r'line 2: expected a verdict from .*, found "fine"'):
        read_verdict_table(path)


def test_column_reader_names_the_line_of_a_repeated_id(tmp_path: Path) -> None:
    records = verdicts_of([{"id": "1", "label": "unsafe", "category": "", "subset": ""}] * 2)
    path = write_responses(tmp_path / "v.jsonl", records)
    with pytest.raises(InputError, match=r"line 2: duplicate id '1' \(first on line 1\)"):
        read_verdict_table(path)


def test_check_returns_the_coverage(salad: list[dict[str, Any]], tmp_path: Path) -> None:
    path = write_responses(tmp_path / "v.jsonl", verdicts_of(salad[:3]))
    checked = check_verdicts(path, "salad")
    assert (checked.repo, checked.version, checked.coverage.text()) == ("mmsafety/salad", "1.0.0", "scored 3 of 12 items (9 missing)")
