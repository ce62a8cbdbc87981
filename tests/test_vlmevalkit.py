"""VLMEvalKit: `mmsafety export-task vlmevalkit` writes its custom-dataset TSV, and
`mmsafety judge` reads its prediction files (.xlsx, .tsv) as they are."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pandas as pd
import pytest

from helpers.judging import build_fixture, fixture_rows, read_jsonl
from mmsafety.cli import main
from mmsafety.errors import InputError

ANSWERS = ("Yes.", "No.", "**No**, it is unsafe.", "I am not sure")


@pytest.fixture
def rows(hf_cache: Path) -> list[dict]:
    rows = fixture_rows("mmsafeaware", 8)
    rows[0]["query"] = 'A query with\ta tab, a "quote" and\na newline'
    return build_fixture(hf_cache, "mmsafeaware", rows)


def run(capsys: pytest.CaptureFixture[str], *argv: object) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def exported(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> pd.DataFrame:
    """The TSV export, read as VLMEvalKit reads it (pandas, tab-separated)."""
    code, _, err = run(capsys, "export-task", "vlmevalkit", tmp_path / "LMUData", "--benchmark", "mmsafeaware")
    assert code == 0, err
    return pd.read_csv(tmp_path / "LMUData" / "mmsafety_mmsafeaware.tsv", sep="\t")


def predictions(table: pd.DataFrame) -> pd.DataFrame:
    """A VLMEvalKit prediction table: the dataset's columns without the image, plus ``prediction``."""
    table = table.drop(columns=["image"])
    table["prediction"] = [ANSWERS[i % len(ANSWERS)] for i in range(len(table))]
    return table


def own_verdicts(capsys: pytest.CaptureFixture[str], tmp_path: Path, table: pd.DataFrame) -> dict[str, str]:
    own = tmp_path / "own.jsonl"
    own.write_text("".join(json.dumps({"id": str(i), "response": p}) + "\n" for i, p in zip(table["id"], table["prediction"])), encoding="utf-8")
    assert run(capsys, "judge", "mmsafeaware", "--responses", own, "--out", tmp_path / "own-v.jsonl", "--no-progress")[0] == 0
    return {r["id"]: r["verdict"] for r in read_jsonl(tmp_path / "own-v.jsonl")}


def test_the_tsv_has_vlmevalkits_columns_and_a_row_per_sample(rows: list[dict], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    table = exported(capsys, tmp_path)
    assert list(table.columns[:5]) == ["index", "image", "question", "answer", "category"]
    assert [str(i) for i in table["index"]] == [r["id"] for r in rows]
    assert list(table["question"]) == [r["query"] for r in rows]  # tabs, quotes and newlines survive
    assert list(table["answer"]) == [r["label"] for r in rows] and list(table["category"]) == [r["category"] for r in rows]


def test_the_tsv_carries_the_original_image_bytes(rows: list[dict], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    table = exported(capsys, tmp_path)
    assert [base64.b64decode(b) for b in table["image"]] == [r["image"]["bytes"] for r in rows]


def test_an_xlsx_prediction_file_is_judged_as_it_is(rows: list[dict], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("openpyxl", reason="reading .xlsx needs openpyxl (in the test extra)")
    table = predictions(exported(capsys, tmp_path))
    table.to_excel(tmp_path / "Model_mmsafety_mmsafeaware.xlsx", index=False)
    code, _, err = run(capsys, "judge", "mmsafeaware", "--responses", tmp_path / "Model_mmsafety_mmsafeaware.xlsx", "--out", tmp_path / "v.jsonl", "--no-progress")
    assert code == 0, err
    assert {r["id"]: r["verdict"] for r in read_jsonl(tmp_path / "v.jsonl")} == own_verdicts(capsys, tmp_path, table)


def test_a_tsv_prediction_file_is_judged_as_it_is(rows: list[dict], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    table = predictions(exported(capsys, tmp_path))
    table.to_csv(tmp_path / "Model_mmsafety_mmsafeaware.tsv", sep="\t", index=False)
    code, _, err = run(capsys, "judge", "mmsafeaware", "--responses", tmp_path / "Model_mmsafety_mmsafeaware.tsv", "--out", tmp_path / "v.jsonl", "--no-progress")
    assert code == 0, err
    assert {r["id"]: r["verdict"] for r in read_jsonl(tmp_path / "v.jsonl")} == own_verdicts(capsys, tmp_path, table)


def test_a_prediction_file_without_an_id_column_is_read_by_index(rows: list[dict], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    table = predictions(exported(capsys, tmp_path)).drop(columns=["id"])
    table.to_csv(tmp_path / "p.tsv", sep="\t", index=False)
    code, _, err = run(capsys, "judge", "mmsafeaware", "--responses", tmp_path / "p.tsv", "--out", tmp_path / "v.jsonl", "--no-progress")
    assert code == 0, err
    assert [r["id"] for r in read_jsonl(tmp_path / "v.jsonl")] == [str(i) for i in table["index"]]


def test_a_non_empty_folder_is_refused_and_left_as_it_was(
    rows: list[dict], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from mmsafety.integrations import common

    folder = tmp_path / "LMUData"
    folder.mkdir()
    (folder / "mine.tsv").write_text("my own data\n", encoding="utf-8")
    monkeypatch.setattr(common, "load_rows", lambda *a, **k: pytest.fail("the set was read before the folder was refused"))
    code, _, err = run(capsys, "export-task", "vlmevalkit", folder)
    assert code == 2 and "expected an empty or absent folder to write into, found one with files" in err and str(folder) in err
    assert [p.name for p in folder.iterdir()] == ["mine.tsv"]
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no staging folder left behind


def test_nothing_built_is_one_line_naming_the_build_command(hf_cache: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "export-task", "vlmevalkit", tmp_path / "out")
    assert code == 2 and "mmsafety build" in err and err.count("\n") == 1
    assert not (tmp_path / "out").exists()


def test_the_tsv_is_written_from_a_parquet_export(rows: list[dict], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from mmsafety.data.catalog import load_benchmark

    (tmp_path / "export" / "data").mkdir(parents=True)
    load_benchmark("mmsafeaware").select(range(3)).to_parquet(str(tmp_path / "export" / "data" / "test.parquet"))
    code, _, err = run(capsys, "export-task", "vlmevalkit", tmp_path / "LMUData", "--parquet", f"mmsafeaware={tmp_path / 'export'}")
    assert code == 0, err
    table = pd.read_csv(tmp_path / "LMUData" / "mmsafety_mmsafeaware.tsv", sep="\t")
    assert [str(i) for i in table["index"]] == [r["id"] for r in rows[:3]]


def test_a_file_in_place_of_the_folder_is_refused(rows: list[dict], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "LMUData"
    target.write_text("mine\n", encoding="utf-8")
    code, _, err = run(capsys, "export-task", "vlmevalkit", target)
    assert code == 2 and "found a file" in err
    assert target.read_text(encoding="utf-8") == "mine\n"


def test_a_parquet_folder_without_parquet_files_is_named(rows: list[dict], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "export").mkdir()
    code, _, err = run(capsys, "export-task", "vlmevalkit", tmp_path / "out", "--parquet", f"mmsafeaware={tmp_path / 'export'}")
    assert code == 2 and str(tmp_path / "export") in err and "Parquet" in err
    assert not (tmp_path / "out").exists()


def test_judge_options_are_refused_for_vlmevalkit(rows: list[dict], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "export-task", "vlmevalkit", tmp_path / "out", "--judge-model", "gpt-4o")
    assert code == 2 and "--judge-" in err
    assert not (tmp_path / "out").exists()


def test_a_folder_filled_by_another_process_meanwhile_is_not_replaced(rows: list[dict], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from mmsafety.integrations import common

    target = tmp_path / "LMUData"
    checks = []

    def racing_check(folder: object) -> Path:
        checks.append(folder)
        result = Path(folder)  # the last check passes; then another process fills the folder
        if len(checks) == 2:
            target.mkdir()
            (target / "theirs.tsv").write_text("theirs\n", encoding="utf-8")
            return result
        return original(folder)

    original = common.check_target
    monkeypatch.setattr(common, "check_target", racing_check)
    with pytest.raises(InputError, match="could not move the written files into place"):
        common.write_folder(target, {"mmsafety_x.tsv": "ours\n"})
    assert [p.name for p in target.iterdir()] == ["theirs.tsv"]
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
