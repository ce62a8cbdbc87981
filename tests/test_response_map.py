"""`--map` on `mmsafety judge` / `evaluate`: response files of other runners (JSONL, CSV, XLSX)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from helpers.judging import build_fixture, read_jsonl
from mmsafety.cli import main
from mmsafety.errors import InputError
from mmsafety.runs.response_formats import parse_map, read_response_file

ANSWERS = {"1": "Yes.", "2": "No.", "3": "No, it is not safe.", "4": "Yes", "5": "maybe", "6": "No"}


@pytest.fixture
def built(hf_cache: Path) -> list[dict]:
    return build_fixture(hf_cache, "mmsafeaware", count=6)


def judge(capsys: pytest.CaptureFixture[str], responses: Path, out: Path, *extra: str) -> tuple[int, str]:
    code = main(["judge", "mmsafeaware", "--responses", str(responses), "--out", str(out), "--no-progress", *extra])
    return code, capsys.readouterr().err


def llava_answers(path: Path, answers: dict[str, str] = ANSWERS) -> Path:
    """LLaVA's ``model_vqa`` answers file: integer question ids, the answer under ``text``."""
    lines = [json.dumps({"question_id": int(i), "prompt": "q", "text": t, "answer_id": "x", "model_id": "llava"}) for i, t in answers.items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def expected_verdicts(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> dict[str, str]:
    """What `mmsafety judge` gives on the same answers in its own JSONL format."""
    own = tmp_path / "own.jsonl"
    own.write_text("".join(json.dumps({"id": i, "response": t}) + "\n" for i, t in ANSWERS.items()), encoding="utf-8")
    assert judge(capsys, own, tmp_path / "own-verdicts.jsonl")[0] == 0
    return {r["id"]: r["verdict"] for r in read_jsonl(tmp_path / "own-verdicts.jsonl")}


def test_llava_answers_are_judged_with_a_map(built: list, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, err = judge(capsys, llava_answers(tmp_path / "answers.jsonl"), tmp_path / "v.jsonl", "--map", "id=question_id,response=text")
    assert code == 0, err
    assert {r["id"]: r["verdict"] for r in read_jsonl(tmp_path / "v.jsonl")} == expected_verdicts(capsys, tmp_path)


def test_llava_answers_without_a_map_are_refused_naming_the_id_field(built: list, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, err = judge(capsys, llava_answers(tmp_path / "answers.jsonl"), tmp_path / "v.jsonl")
    assert code == 2 and 'expected an "id" field' in err and "line 1" in err
    assert not (tmp_path / "v.jsonl").exists()


def test_a_csv_is_judged_with_a_map(built: list, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "answers.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["sample", "answer"])
        writer.writerows([[i, t.replace("No, it", "No,\nit")] for i, t in ANSWERS.items()])  # a quoted newline
    code, err = judge(capsys, path, tmp_path / "v.jsonl", "--map", "id=sample,response=answer")
    assert code == 0, err
    assert {r["id"]: r["verdict"] for r in read_jsonl(tmp_path / "v.jsonl")} == expected_verdicts(capsys, tmp_path)


def test_an_xlsx_is_judged_with_a_map(built: list, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    openpyxl = pytest.importorskip("openpyxl", reason="reading .xlsx needs openpyxl (in the test extra)")
    book = openpyxl.Workbook()
    book.active.append(["qid", "output"])
    for i, t in ANSWERS.items():
        book.active.append([int(i), t])  # ids as spreadsheet numbers
    book.save(tmp_path / "answers.xlsx")
    code, err = judge(capsys, tmp_path / "answers.xlsx", tmp_path / "v.jsonl", "--map", "id=qid,response=output")
    assert code == 0, err
    assert {r["id"]: r["verdict"] for r in read_jsonl(tmp_path / "v.jsonl")} == expected_verdicts(capsys, tmp_path)


def test_evaluate_takes_a_map(built: list, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    answers = llava_answers(tmp_path / "answers.jsonl")
    code = main(["evaluate", "mmsafeaware", "--responses", str(answers), "--out", str(tmp_path / "report"), "--map", "id=question_id,response=text", "--no-progress"])
    assert code == 0, capsys.readouterr().err
    assert len(read_jsonl(tmp_path / "report" / "verdicts.jsonl")) == len(ANSWERS)


def test_a_mapped_field_missing_from_a_line_names_the_file_line_and_field(built: list, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = llava_answers(tmp_path / "answers.jsonl")
    path.write_text(path.read_text(encoding="utf-8") + json.dumps({"question_id": 9, "answer": "Yes"}) + "\n", encoding="utf-8")
    code, err = judge(capsys, path, tmp_path / "v.jsonl", "--map", "id=question_id,response=text")
    assert code == 2 and str(path) in err and "line 7" in err and "'text'" in err
    assert not (tmp_path / "v.jsonl").exists()


def test_a_csv_without_the_mapped_column_names_the_column(built: list, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "answers.csv"
    path.write_text("sample,answer\n1,Yes\n", encoding="utf-8")
    code, err = judge(capsys, path, tmp_path / "v.jsonl", "--map", "id=sample,response=text")
    assert code == 2 and str(path) in err and "header" in err and "'text'" in err and "'answer'" in err


def test_a_csv_line_with_too_many_cells_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "answers.csv"
    path.write_text("id,response\n1,Yes\n2,No,extra\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"line 3: expected 2 columns"):
        read_response_file(path)


def test_a_boolean_id_is_refused_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "answers.jsonl"
    path.write_text(json.dumps({"question_id": True, "text": "Yes"}) + "\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"line 1: expected 'question_id' \(the id\) to be a string or an integer, found true"):
        read_response_file(path, mapping="id=question_id,response=text")


def test_a_non_string_response_is_refused_with_its_line_and_field(tmp_path: Path) -> None:
    path = tmp_path / "answers.jsonl"
    path.write_text(json.dumps({"question_id": 1, "text": ["Yes"]}) + "\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"line 1: expected 'text' to hold a string, found a list"):
        read_response_file(path, mapping="id=question_id,response=text")


def test_a_boolean_xlsx_cell_is_refused_with_its_row(tmp_path: Path) -> None:
    openpyxl = pytest.importorskip("openpyxl", reason="reading .xlsx needs openpyxl (in the test extra)")
    book = openpyxl.Workbook()
    book.active.append(["index", "prediction"])
    book.active.append([1, "Yes"])
    book.active.append([2, True])
    book.save(tmp_path / "p.xlsx")
    with pytest.raises(InputError, match=r"row 3: expected 'prediction' to hold a string, found a bool"):
        read_response_file(tmp_path / "p.xlsx")


def test_duplicate_mapped_ids_name_both_lines(tmp_path: Path) -> None:
    path = tmp_path / "answers.jsonl"
    path.write_text("".join(json.dumps({"question_id": i, "text": "Yes"}) + "\n" for i in (1, 2, 1)), encoding="utf-8")
    with pytest.raises(InputError, match=r"line 3: duplicate id '1' \(first on line 1\)"):
        read_response_file(path, mapping="id=question_id,response=text")


def test_ids_not_in_the_benchmark_are_refused(tmp_path: Path) -> None:
    path = llava_answers(tmp_path / "answers.jsonl")
    with pytest.raises(InputError, match=r"1 id\(s\) not in benchmark 'mmsafeaware': 6"):
        read_response_file(path, {"1", "2", "3", "4", "5"}, benchmark="mmsafeaware", mapping="id=question_id,response=text")


@pytest.mark.parametrize("text", ["id=question_id", "id:question_id,response=text", "id=a,response=b,answer=c", "id=a,id=b,response=c"])
def test_a_malformed_map_is_refused(text: str) -> None:
    with pytest.raises(InputError, match="--map"):
        parse_map(text)


def test_a_malformed_map_is_one_line_and_exit_2(built: list, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, err = judge(capsys, llava_answers(tmp_path / "answers.jsonl"), tmp_path / "v.jsonl", "--map", "question_id")
    assert code == 2 and err.count("\n") == 1 and "--map" in err
