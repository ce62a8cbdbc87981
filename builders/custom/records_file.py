"""Reading a benchmark author's records file strictly: CSV / TSV, JSONL, JSON or Parquet.

Each format gives the same :class:`Records`: rows as ``{column: value}`` and where each
row sits in the file (``line N`` for CSV and JSONL, ``record N`` otherwise), so that an
error can name the record. A ragged CSV row, malformed JSON, a line that is not an
object, text that is not UTF-8 or an unreadable Parquet file is an
:class:`~mmsafety.errors.InputError` naming the file and the line.

>>> import pathlib, tempfile
>>> path = pathlib.Path(tempfile.mkdtemp()) / "records.csv"
>>> _ = path.write_text("id,query\\n1,hello\\n")
>>> read_records(path).rows
[{'id': '1', 'query': 'hello'}]
"""

from __future__ import annotations

import csv
import io
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import datasets

from mmsafety.data.jsonfiles import load_json_list, load_jsonl
from mmsafety.errors import InputError

READERS: dict[str, str] = {".csv": "csv", ".tsv": "csv", ".jsonl": "jsonl", ".json": "json", ".parquet": "parquet"}
"""Records file extension -> how it is read."""


@dataclass
class Records:
    """The records of a file as ``{column: value}`` rows, with where each one sits."""

    file: str
    columns: list[str]
    rows: list[dict[str, Any]]
    places: list[str]
    """Where each row is: ``line N`` (CSV, JSONL) or ``record N`` (JSON, Parquet; from 0)."""
    typed: bool
    """Whether values keep a type (JSON, Parquet) or are all text (CSV)."""
    class_labels: dict[str, list[str]]
    """Parquet columns stored as a ``datasets.ClassLabel``: their names, by column."""


def read_records(path: Path) -> Records:
    """Read a records file strictly, by its extension (see :data:`READERS`)."""
    kind = READERS.get(path.suffix.lower())
    if kind is None:
        raise InputError(f"expected a records file ending in {', '.join(READERS)}, found {path.suffix or 'no extension'}", file=path)
    if not path.is_file():
        raise InputError("expected a records file, found nothing", file=path)
    records = {"csv": _read_csv, "jsonl": _read_jsonl, "json": _read_json, "parquet": _read_parquet}[kind](path)
    if not records.rows:
        raise InputError("expected records, found none", file=path)
    return records


def _text(path: Path) -> str:
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise InputError(f"expected UTF-8 text, found the byte {data[error.start]:#04x}", file=path, record=f"line {line}") from None


def _read_csv(path: Path) -> Records:
    """A CSV (or, for ``.tsv``, tab-separated) file with a header row; every row must have as many fields."""
    delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
    # newline="": only \n, \r and \r\n end a line (str.splitlines would also split at
    # U+2028 and friends, which a query may hold); the reader joins a quoted field's lines.
    reader = csv.reader(io.StringIO(_text(path), newline=""), delimiter=delimiter, strict=True)
    file = str(path)
    # the csv module refuses a field over 128 KiB by default; a JSONL value has no such
    # limit, and a records file is read whole anyway: the same query builds from either
    limit = csv.field_size_limit(sys.maxsize)
    try:
        header = next(reader, None)
        while header == []:
            header = next(reader, None)
        if header is None:
            raise InputError("expected a header row, found an empty file", file=file)
        header_line = reader.line_num
        for index, name in enumerate(header):
            if not name.strip():
                raise InputError(f"expected a name for column {index + 1} of the header, found {name!r}", file=file, record=f"line {header_line}")
            if name in header[:index]:
                raise InputError(f"column {name!r} appears twice in the header", file=file, record=f"line {header_line}")
        rows: list[dict[str, Any]] = []
        places: list[str] = []
        start = reader.line_num + 1
        for fields in reader:
            if fields:  # a blank line is no record
                where = f"line {start}"
                if len(fields) != len(header):
                    raise InputError(
                        f"expected {len(header)} fields ({', '.join(header)}), found {len(fields)}: a ragged row "
                        "(a field holding the delimiter must be quoted)",
                        file=file,
                        record=where,
                    )
                rows.append(dict(zip(header, fields)))
                places.append(where)
            start = reader.line_num + 1
    except csv.Error as error:
        raise InputError(f"malformed CSV: {error}", file=file, record=f"line {reader.line_num}") from None
    finally:
        csv.field_size_limit(limit)
    return Records(file, list(header), rows, places, typed=False, class_labels={})


def _read_jsonl(path: Path) -> Records:
    """One JSON object per line (blank lines skipped)."""
    numbered = list(load_jsonl(path))
    rows = [row for _, row in numbered]
    return Records(str(path), _columns(rows), rows, [f"line {n}" for n, _ in numbered], typed=True, class_labels={})


def _read_json(path: Path) -> Records:
    """A JSON list of objects."""
    rows = load_json_list(path.read_bytes(), file=path)
    return Records(str(path), _columns(rows), rows, [f"record {i}" for i in range(len(rows))], typed=True, class_labels={})


def _read_parquet(path: Path) -> Records:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except Exception as error:  # pyarrow raises several kinds for a damaged or foreign file
        raise InputError(f"expected a readable Parquet file ({error})", file=path) from None
    class_labels: dict[str, list[str]] = {}
    if table.schema.metadata and b"huggingface" in table.schema.metadata:
        try:
            hf_features = datasets.Features.from_arrow_schema(table.schema)
        except Exception:  # metadata of another datasets version: read the plain values
            hf_features = datasets.Features()
        class_labels = {name: list(f.names) for name, f in hf_features.items() if isinstance(f, datasets.ClassLabel)}
    rows = table.to_pylist()
    return Records(str(path), list(table.column_names), rows, [f"record {i}" for i in range(len(rows))], typed=True, class_labels=class_labels)


def _columns(rows: list[dict[str, Any]]) -> list[str]:
    """Every key of ``rows``, in the order they first appear."""
    return list(dict.fromkeys(key for row in rows for key in row))
