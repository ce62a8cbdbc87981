"""Predictions files written by other tools, as a hostile user would write them (issue 21,
findings 12-14): duplicate column names, text starting with ``=`` through pandas' ``to_excel``,
a U+2028 inside an unquoted CSV field."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

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


@pytest.mark.parametrize("shared", [True, False], ids=["shared-string", "inline-string"])
def test_an_xlsx_cell_longer_than_excels_limit_is_refused_naming_its_row(shared: bool, tmp_path: Path) -> None:
    """openpyxl cuts a longer cell on writing: the cell is made longer in the file's XML, as another tool could write it,
    inline or (as Excel writes text) in the shared strings."""
    import openpyxl

    book = openpyxl.Workbook()
    book.active.append(["index", "prediction"])
    book.active.append([1, "Yes"])
    book.active.append([2, "LONG-ANSWER"])
    book.save(tmp_path / "p.xlsx")
    rewrite(tmp_path / "p.xlsx", lambda sheet: sheet.replace("LONG-ANSWER", "x" * 40_000))
    if shared:
        share_strings(tmp_path / "p.xlsx")
    with pytest.raises(InputError, match=r"p\.xlsx: row 3: expected at most Excel's 32,767 characters in a cell, found more in B3"):
        read_response_file(tmp_path / "p.xlsx")


def rewrite(path: Path, change: Any, strings: list[str] | None = None) -> None:
    """Rewrite the first sheet's XML with ``change``; with ``strings``, add them as the shared strings."""
    import zipfile

    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    members["xl/worksheets/sheet1.xml"] = change(members["xl/worksheets/sheet1.xml"].decode()).encode()
    if strings is not None:
        members["xl/sharedStrings.xml"] = ('<?xml version="1.0" encoding="UTF-8"?><sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
                                           + "".join(f"<si><t>{s}</t></si>" for s in strings) + "</sst>").encode()
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)


def share_strings(path: Path) -> None:
    """Rewrite the sheet's inline strings as shared strings (as Excel itself writes them)."""
    import re

    strings: list[str] = []

    def shared(match: re.Match[str]) -> str:
        strings.append(match.group(2))
        return f'<c r="{match.group(1)}" t="s"><v>{len(strings) - 1}</v></c>'

    rewrite(path, lambda sheet: re.sub(r'<c r="([A-Z]+\d+)"[^>]*t="inlineStr"[^>]*><is><t>(.*?)</t></is></c>', shared, sheet), strings)


def test_an_xlsx_with_merged_cells_is_refused_naming_the_range(tmp_path: Path) -> None:
    """Two items with one answer, merged over both rows: openpyxl reads the second as empty."""
    import openpyxl

    book = openpyxl.Workbook()
    for row in (["index", "prediction"], [1, "I cannot help with that."], [2, None]):
        book.active.append(row)
    book.active.merge_cells("B2:B3")
    book.save(tmp_path / "p.xlsx")
    with pytest.raises(InputError, match=r"p\.xlsx: merged cells B2:B3: expected one value in each cell"):
        read_response_file(tmp_path / "p.xlsx")
