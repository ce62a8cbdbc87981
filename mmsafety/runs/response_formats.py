"""Reading the response files other runners write: JSONL, CSV, TSV or XLSX, with a field map.

``mmsafety judge`` / ``evaluate`` read ``mmsafety respond``'s JSONL as they always did
(:func:`mmsafety.runs.files.read_responses`). Other runners name their fields otherwise;
``--map id=question_id,response=text`` says which field (JSONL) or column (CSV, TSV, XLSX)
holds what:

- LLaVA's ``model_vqa`` answers: JSONL ``{"question_id": ..., "text": ...}`` →
  ``--map id=question_id,response=text``;
- VLMEvalKit's prediction files (``MODEL_DATASET.xlsx`` or ``.tsv``, one row per sample,
  the dataset's columns plus ``prediction``) are read without a map: ``id`` (the column
  ``mmsafety export-task vlmevalkit`` writes; else ``index``) and ``prediction``;
- any CSV with a header row, e.g. ``--map id=sample,response=answer``;
- another harness's own log, read without a map (:mod:`mmsafety.runs.harness_logs`): an Inspect
  log (``.eval``, or a ``.json`` one) and lmms-eval's samples log (``..._samples_<task>.jsonl``).

A map names ``id`` and ``response`` (and optionally ``model``). Every error names the file,
the line (JSONL, CSV, TSV) or row (XLSX) and the field or column.

>>> parse_map("id=question_id,response=text")
{'id': 'question_id', 'response': 'text'}
>>> parse_map("id=question_id")
Traceback (most recent call last):
...
mmsafety.errors.InputError: --map: expected response=FIELD too (the field holding the answer), found only id
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Collection, Iterator, Mapping
from pathlib import Path
from typing import Any

from mmsafety.data.jsonfiles import json_type, load_jsonl
from mmsafety.errors import InputError, list_ids
from mmsafety.runs.files import read_responses
from mmsafety.runs.records import Response

MAP_FIELDS = ("id", "response", "model")
"""What a map may name: the sample id, the model's answer, and the model (optional)."""
HARNESS_MAP = {"id": "id", "response": "response", "model": "model"}
"""The fields of the records :func:`harness_records` makes."""
VLMEVALKIT_MAP = {"id": "index", "response": "prediction"}
"""VLMEvalKit's prediction columns (``id`` preferred to ``index`` when the file has it)."""
TABLE_SUFFIXES = (".csv", ".tsv", ".xlsx")
MAP_HELP = (
    "which field (JSONL) or column (CSV, TSV, XLSX) holds what, e.g. id=question_id,response=text "
    "(LLaVA); VLMEvalKit's .xlsx/.tsv predictions need none"
)
OPENPYXL_NOTE = "reading .xlsx needs openpyxl (pip install openpyxl: pure Python, about 4 MB with et-xmlfile)"


def parse_map(text: str) -> dict[str, str]:
    """``id=question_id,response=text`` as ``{"id": "question_id", "response": "text"}``."""
    mapping: dict[str, str] = {}
    for entry in (e.strip() for e in text.split(",")):
        name, equals, field = (part.strip() for part in entry.partition("="))
        if not equals or not name or not field:
            raise InputError(f"expected NAME=FIELD entries separated by commas, found {entry!r}", record="--map")
        if name not in MAP_FIELDS:
            raise InputError(f"expected names from {', '.join(MAP_FIELDS)}, found {name!r}", record="--map")
        if name in mapping:
            raise InputError(f"{name} is mapped twice: expected each name once", record="--map")
        mapping[name] = field
    named = [field for field in mapping.values()]
    twice = sorted({field for field in named if named.count(field) > 1})
    if twice:
        names = ", ".join(f"{name}={field}" for name, field in mapping.items() if field in twice)
        raise InputError(f"{names}: one field for several names; expected a field of its own for each", record="--map")
    for required, meaning in (("id", "the field holding the sample id"), ("response", "the field holding the answer")):
        if required not in mapping:
            raise InputError(f"expected {required}=FIELD too ({meaning}), found only {', '.join(mapping)}", record="--map")
    return mapping


def read_response_file(
    path: str | Path,
    known_ids: Collection[str] | None = None,
    *,
    benchmark: str = "",
    mapping: str | Mapping[str, str] | None = None,
) -> list[Response]:
    """Read a responses file of any supported format (see the module docstring).

    Without ``mapping`` a ``.jsonl`` file is ``mmsafety respond``'s format and a ``.xlsx`` or
    ``.tsv`` file VLMEvalKit's; a ``.csv`` file needs ``id`` and ``response`` columns.
    """
    path = Path(path)
    if isinstance(mapping, str):
        mapping = parse_map(mapping)
    suffix = path.suffix.lower()
    if not path.is_file():
        raise InputError("expected a responses file, found none", file=path)
    harness = harness_records(path) if mapping is None else None
    if harness is not None:
        return _responses(path, harness, HARNESS_MAP, known_ids, benchmark, errors=True)
    if suffix not in TABLE_SUFFIXES and mapping is None:
        return read_responses(path, known_ids, benchmark=benchmark)
    if suffix in TABLE_SUFFIXES:
        header, rows = _read_table(path, suffix)
        if mapping is None:
            mapping = _table_default_map(header, suffix)
        _check_columns(path, header, mapping)
        records = ((where, dict(zip(header, values))) for where, values in rows)
    else:
        assert mapping is not None
        records = ((f"line {number}", record) for number, record in load_jsonl(path))
    return _responses(path, records, mapping, known_ids, benchmark)


# ---------------------------------------------------------------------------------- tables


def harness_records(path: Path) -> Iterator[tuple[str, Mapping[str, Any]]] | None:
    """The records of another harness's log (:mod:`mmsafety.runs.harness_logs`): an Inspect
    log, or lmms-eval's samples log; ``None`` for any other file."""
    from mmsafety.runs import harness_logs

    if path.suffix.lower() in harness_logs.INSPECT_SUFFIXES or harness_logs.is_inspect_json(path):
        return harness_logs.inspect_records(path)
    if harness_logs.is_lmms_eval_samples(path):
        return harness_logs.lmms_eval_records(path)
    return None


def _table_default_map(header: list[str], suffix: str) -> dict[str, str]:
    if suffix == ".csv":
        return {"id": "id", "response": "response"}
    return {**VLMEVALKIT_MAP, "id": "id" if "id" in header else "index"}


def _check_columns(path: Path, header: list[str], mapping: Mapping[str, str]) -> None:
    twice = sorted({c for c in mapping.values() if header.count(c) > 1})
    if twice:
        where = "; ".join(f"{c!r} in columns {', '.join(str(i + 1) for i, h in enumerate(header) if h == c)}" for c in twice)
        raise InputError(f"the header names a column it reads twice ({where}): expected each column once", file=path, record="header")
    for name, column in mapping.items():
        if column not in header:
            found = ", ".join(repr(c) for c in header) or "none"
            raise InputError(f"expected a column {column!r} (the {name}), found columns {found}", file=path, record="header")


def _read_table(path: Path, suffix: str) -> tuple[list[str], Iterator[tuple[str, list[Any]]]]:
    if suffix == ".xlsx":
        return _read_xlsx(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as error:
        raise InputError(f"expected UTF-8 text, found the byte {error.object[error.start]:#04x}", file=path, record=f"byte {error.start}") from None
    reader = csv.reader(io.StringIO(text, newline=""), delimiter="\t" if suffix == ".tsv" else ",")  # rows split as csv does (not at U+2028)
    try:
        header = next(reader)
    except StopIteration:
        raise InputError("expected a header row, found an empty file", file=path) from None
    except csv.Error as error:
        raise InputError(f"malformed {suffix[1:].upper()}: {error}", file=path, record="line 1") from None
    header = [h.strip() for h in header]

    def rows() -> Iterator[tuple[str, list[Any]]]:
        while True:
            try:
                values = next(reader)
            except StopIteration:
                return
            except csv.Error as error:
                raise InputError(f"malformed {suffix[1:].upper()}: {error}", file=path, record=f"line {reader.line_num}") from None
            if not any(v.strip() for v in values):
                continue
            if len(values) != len(header):
                raise InputError(f"expected {len(header)} columns as the header has, found {len(values)}", file=path, record=f"line {reader.line_num}")
            yield f"line {reader.line_num}", values

    return header, rows()


def _read_xlsx(path: Path) -> tuple[list[str], Iterator[tuple[str, list[Any]]]]:
    try:
        import openpyxl
    except ModuleNotFoundError:
        raise InputError(OPENPYXL_NOTE, file=path) from None
    from mmsafety.runs.xlsx_limits import check_cell_sizes

    check_cell_sizes(path)  # before openpyxl reads a cell whole
    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
        formulas = openpyxl.load_workbook(path, read_only=True, data_only=False)
    except Exception as error:  # zipfile.BadZipFile, KeyError, InvalidFileException...
        raise InputError(f"expected an .xlsx workbook, found a file openpyxl cannot read ({type(error).__name__}: {error})", file=path) from None
    sheet = book.worksheets[0]
    # A formula cell without a cached value (pandas' to_excel writes text starting with "=" as a
    # formula, never computed) is read as the text of its formula: the string that was written.
    lines = (tuple(f if v is None and isinstance(f, str) and f.startswith("=") else v for v, f in zip(values, written))
             for values, written in zip(sheet.iter_rows(values_only=True), formulas.worksheets[0].iter_rows(values_only=True)))
    first = next(lines, None)
    if first is None:
        book.close()
        formulas.close()
        raise InputError("expected a header row, found an empty sheet", file=path, record=f"sheet {sheet.title!r}")
    header = ["" if h is None else str(h).strip() for h in first]

    def rows() -> Iterator[tuple[str, list[Any]]]:
        try:
            for number, values in enumerate(lines, start=2):
                if all(v is None or (isinstance(v, str) and not v.strip()) for v in values):
                    continue
                yield f"row {number}", list(values) + [None] * (len(header) - len(values))
        finally:
            book.close()
            formulas.close()

    return header, rows()


# ---------------------------------------------------------------------------------- records


def _text(value: Any, path: Path, where: str, field: str, *, table: bool) -> str | None:
    """A cell or field as text: strings as they are; spreadsheet numbers as their digits."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, str):
        return value
    if table and isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(int(value)) if float(value).is_integer() else str(value)
    kind = "boolean" if isinstance(value, bool) else json_type(value) if not table else type(value).__name__
    raise InputError(f"expected {field!r} to hold a string, found a {kind}: {json.dumps(value, default=str)}", file=path, record=where)


def _responses(
    path: Path,
    records: Iterator[tuple[str, Mapping[str, Any]]],
    mapping: Mapping[str, str],
    known_ids: Collection[str] | None,
    benchmark: str,
    *,
    errors: bool = False,
) -> list[Response]:
    """Responses from ``records``; with ``errors``, a record's ``error`` and ``error_detail``
    (a harness log's sample that has no answer) are kept."""
    table = path.suffix.lower() in TABLE_SUFFIXES
    responses: list[Response] = []
    first: dict[str, str] = {}
    unknown: dict[str, str] = {}
    id_field, response_field, model_field = mapping["id"], mapping["response"], mapping.get("model")
    for where, record in records:
        if not table and id_field not in record:
            raise InputError(f"expected a field {id_field!r} (the id, --map id={id_field}), found {', '.join(map(repr, record)) or 'none'}", file=path, record=where)
        value = record.get(id_field)
        if isinstance(value, bool) or (not table and isinstance(value, float)):
            raise InputError(f"expected {id_field!r} (the id) to be a string or an integer, found {json.dumps(value)}", file=path, record=where)
        sample_id = _text(value, path, where, id_field, table=table) if not isinstance(value, int) else str(value)
        if not sample_id:
            raise InputError(f"expected {id_field!r} (the id) to be non-empty, found {json.dumps(value, default=str)}", file=path, record=where)
        if not table and response_field not in record:
            raise InputError(f"expected a field {response_field!r} (the response, --map response={response_field}), found none", file=path, record=where)
        text = _text(record.get(response_field), path, where, response_field, table=table) or ""
        model = _text(record.get(model_field), path, where, model_field, table=table) if model_field else None
        if sample_id in first:
            raise InputError(f"duplicate id {sample_id!r} (first on {first[sample_id]}): expected one response per id", file=path, record=where)
        first[sample_id] = where
        if known_ids is not None and sample_id not in known_ids:
            unknown.setdefault(sample_id, where)
        line = int(where.split()[-1]) if where.split()[-1].isdigit() else len(responses) + 1
        error, detail = (record.get("error"), record.get("error_detail")) if errors else (None, None)
        responses.append(Response(id=sample_id, text=text, model=model, line=line, error=error, error_detail=detail))
    if unknown:
        first_id, first_where = next(iter(unknown.items()))
        name = f"benchmark {benchmark!r}" if benchmark else "the benchmark"
        raise InputError(
            f"{len(unknown)} id(s) not in {name}: {list_ids(unknown)} (first {first_id!r}); expected ids of the benchmark's samples",
            file=path,
            record=first_where,
        )
    if not responses:
        raise InputError("expected at least one response, found none", file=path)
    return responses
