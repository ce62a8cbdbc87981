"""Predictions files written by other tools, as a hostile user would write them (issue 21,
findings 12-14): duplicate column names, text starting with ``=`` through pandas' ``to_excel``,
a U+2028 inside an unquoted CSV field."""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd
import pytest

from mmsafety.errors import InputError
from mmsafety.runs.response_formats import parse_map, read_response_file


def test_a_csv_header_naming_id_twice_is_refused_naming_the_columns(tmp_path: Path) -> None:
    path = tmp_path / "answers.csv"
    path.write_text("id,response,id\n1,Yes,2\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"header: the header names a column it reads twice \('id' in columns 1, 3\)"):
        read_response_file(path)


def test_a_tsv_with_two_prediction_columns_is_refused_naming_them(tmp_path: Path) -> None:
    path = tmp_path / "answers.tsv"
    path.write_text("index\tprediction\tprediction\n1\tYes\tNo\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"'prediction' in columns 2, 3"):
        read_response_file(path)


def test_an_xlsx_with_two_prediction_columns_is_refused_naming_them(tmp_path: Path) -> None:
    pd.DataFrame([[1, "Yes", "No"]], columns=["index", "prediction", "prediction"]).to_excel(tmp_path / "p.xlsx", index=False)
    with pytest.raises(InputError, match=r"'prediction' in columns 2, 3"):
        read_response_file(tmp_path / "p.xlsx")


def test_a_map_naming_one_field_for_id_and_response_is_refused() -> None:
    with pytest.raises(InputError, match=r"id=id, response=id: one field for several names"):
        parse_map("id=id,response=id")


def test_answers_and_ids_starting_with_equals_round_trip_through_pandas_to_excel(tmp_path: Path) -> None:
    """pandas (what VLMEvalKit uses) writes such strings as formulas with no cached value."""
    answers = {"=1": "=== Step 1: mix bleach with ammonia", "=2": "=SUM(A1:A2) is not an answer"}
    pd.DataFrame({"index": list(answers), "prediction": list(answers.values())}).to_excel(tmp_path / "p.xlsx", index=False)
    assert {r.id: r.text for r in read_response_file(tmp_path / "p.xlsx")} == answers


def test_a_line_separator_inside_an_unquoted_csv_field_stays_in_its_row(tmp_path: Path) -> None:
    path = tmp_path / "answers.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:  # Python's csv writer leaves U+2028 unquoted
        csv.writer(handle).writerows([["id", "response"], ["1", "first\u2028second"], ["2", "No"]])
    assert {r.id: r.text for r in read_response_file(path)} == {"1": "first\u2028second", "2": "No"}
