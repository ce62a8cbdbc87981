"""A custom set's columns: the ``--map`` of schema columns to the file's, and each record read
into the schema (see :mod:`mmsafety.builders.custom.custom` for the rules).

Bad input is one :class:`~mmsafety.errors.InputError` naming the file, the record (its line
in a CSV or JSONL file, else its position) and the column.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import datasets
from mmsafety.builders.custom.records_file import Records

from mmsafety import benchmarks
from mmsafety.data.images import resolve_inside
from mmsafety.data.jsonfiles import json_type
from mmsafety.errors import InputError
from mmsafety.labels import LABELS
from mmsafety.schema import COLUMNS

REQUIRED: tuple[str, ...] = ("id", "image", "query", "label")
"""Shared columns every record must have."""
OPTIONAL: tuple[str, ...] = ("category", "subcategory", "subset", "reference")
"""Shared columns that are ``""`` where the records file has none."""
REPO_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,95}/[A-Za-z0-9][A-Za-z0-9._-]{0,95}")


# -- the column mapping ---------------------------------------------------------------------
def parse_mapping(specs: Sequence[str] | str | None) -> dict[str, str]:
    """``["query=text,label=safety", "id=uid"]`` -> ``{"query": "text", "label": "safety", "id": "uid"}``.

    >>> parse_mapping("query=text, label=safety")
    {'query': 'text', 'label': 'safety'}
    >>> parse_mapping(["queries=text"])
    Traceback (most recent call last):
    ...
    mmsafety.errors.InputError: --map: expected schema columns (id, image, query, label, category, subcategory, subset, reference) on the left of '=', found 'queries' in 'queries=text'
    """
    if specs is None:
        return {}
    mapping: dict[str, str] = {}
    for spec in [specs] if isinstance(specs, str) else specs:
        for pair in spec.split(","):
            if not pair.strip():
                continue
            column, equals, user_column = (part.strip() for part in pair.partition("="))
            if not equals or not column or not user_column:
                raise InputError(f"expected SCHEMA_COLUMN=YOUR_COLUMN, found {pair.strip()!r}", record="--map")
            check_mapping({column: user_column}, where=f" in {pair.strip()!r}")
            if column in mapping and mapping[column] != user_column:
                raise InputError(f"{column!r} is mapped twice: to {mapping[column]!r} and to {user_column!r}", record="--map")
            mapping[column] = user_column
    return mapping


def check_mapping(mapping: Mapping[str, str], where: str = "") -> None:
    """Refuse a mapping whose keys are not shared schema columns."""
    for column, user_column in mapping.items():
        if column not in COLUMNS:
            raise InputError(
                f"expected schema columns ({', '.join(COLUMNS)}) on the left of '=', found {column!r}{where}",
                record="--map",
            )
        if not isinstance(user_column, str) or not user_column:
            raise InputError(f"expected a column name for {column!r}, found {user_column!r}", record="--map")


def check_repo_id(repo_id: str) -> str:
    """``repo_id`` if it is a Hub dataset id ``ORG/NAME`` that is not a built-in benchmark's.

    >>> check_repo_id("me/my-set")
    'me/my-set'
    >>> check_repo_id("my-set")
    Traceback (most recent call last):
    ...
    mmsafety.errors.InputError: --repo-id: expected ORG/NAME (letters, digits, '-', '_', '.'), found 'my-set'
    """
    if not isinstance(repo_id, str) or not REPO_ID.fullmatch(repo_id) or "--" in repo_id or ".." in repo_id or repo_id.endswith("."):
        raise InputError(f"expected ORG/NAME (letters, digits, '-', '_', '.'), found {repo_id!r}", record="--repo-id")
    org, name = repo_id.split("/")
    if benchmarks.get(repo_id) is not None:
        raise InputError(f"{repo_id} is a built-in benchmark; build it with `mmsafety build {name}`", record="--repo-id")
    return repo_id


# -- records -> rows --------------------------------------------------------------------
@dataclass(frozen=True)
class CustomRow:
    """One record of the records file in the schema, before its image is read."""

    id: str
    where: str
    """``line N (id X)``: where the record is, for messages."""
    example: dict[str, Any]
    image: str
    """The image file name, relative to the images folder."""
    image_present: bool


@dataclass(frozen=True)
class CustomPlan:
    """The checked rows of a records file, and how its columns map to the schema."""

    rows: list[CustomRow]
    columns: dict[str, str]
    """Schema column -> the user's column it comes from."""
    extra: dict[str, Any]
    """Extra column -> its ``datasets`` feature."""


def plan_records(records: Records, mapping: Mapping[str, str], images: Path) -> CustomPlan:
    """Check every record against the schema and map it; raises :class:`InputError` on the first bad one."""
    file = records.file
    available = set(records.columns)
    for column, user_column in mapping.items():
        if user_column not in available:
            raise InputError(
                f"--map {column}={user_column} names the column {user_column!r}, which the file lacks; "
                f"its columns are {', '.join(map(repr, records.columns))}",
                file=file,
                record=_header(records),
            )
    columns: dict[str, str] = {}
    for column in (*REQUIRED, *OPTIONAL):
        user_column = mapping.get(column, column)
        if user_column in available:
            columns[column] = user_column
        elif column in REQUIRED:
            raise InputError(
                f"expected a column {column!r} (or name yours with --map {column}=YOUR_COLUMN), "
                f"found the columns {', '.join(map(repr, records.columns))}",
                file=file,
                record=_header(records),
            )
    used = set(columns.values())
    extra_columns = [c for c in records.columns if c not in used]
    for name in extra_columns:
        if name in COLUMNS:
            raise InputError(
                f"the column {name!r} is not used (the schema's {name!r} comes from {columns[name]!r}) and would clash "
                f"with it; rename it in the file, or map {name!r} to it",
                file=file,
                record=_header(records),
            )
    extra = {name: _extra_feature(records, name) for name in extra_columns}
    for name, feature in extra.items():
        if feature.dtype == "int64":
            _check_int64(records, name)

    rows: list[CustomRow] = []
    first: dict[str, str] = {}
    for row, place in zip(records.rows, records.places):
        read = _Reader(row, file, place, columns, records.typed)
        key = read.id()
        read.where = f"{place} (id {key})"
        if key in first:
            raise InputError(f"duplicate id {key!r} (first at {first[key]})", file=file, record=read.where)
        first[key] = place
        label = read.label(records.class_labels.get(columns["label"]))
        example: dict[str, Any] = {"id": key, "query": read.text("query"), "label": label}
        for column in OPTIONAL:
            example[column] = read.optional(column) if column in columns else ""
        for name, feature in extra.items():
            example[name] = _extra_value(row.get(name), feature)
        image = read.image_name()
        path = resolve_inside(images, image, file=file, record=f"{read.where}, column {columns['image']!r}")
        rows.append(CustomRow(key, read.where, example, image, path.is_file()))
    return CustomPlan(rows, columns, extra)


def _header(records: Records) -> str | None:
    return "the header" if not records.typed else None


class _Reader:
    """The schema columns of one record, each checked; errors name the record and the column."""

    def __init__(self, row: Mapping[str, Any], file: str, where: str, columns: Mapping[str, str], typed: bool) -> None:
        self.row = row
        self.file = file
        self.where = where
        self.columns = columns
        self.typed = typed

    def error(self, column: str, message: str) -> InputError:
        return InputError(f"column {self.columns[column]!r}: {message}", file=self.file, record=self.where)

    def value(self, column: str) -> Any:
        name = self.columns[column]
        if name not in self.row:
            present = ", ".join(repr(key) for key in self.row) or "no columns"
            raise InputError(f"expected the column {name!r}, found only {present}", file=self.file, record=self.where)
        return self.row[name]

    def id(self) -> str:
        value = self.value("id")
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        if not isinstance(value, str):
            raise self.error("id", f"expected a string or integer id, found {_describe(value)}")
        if not value.strip():
            raise self.error("id", f"expected an id, found {'an empty' if not value else 'a blank'} one")
        return value

    def text(self, column: str) -> str:
        value = self.value(column)
        if not isinstance(value, str):
            raise self.error(column, f"expected a string, found {_describe(value)}")
        return value

    def optional(self, column: str) -> str:
        value = self.row.get(self.columns[column])  # absent from one JSON record: as null
        if value is None:
            return ""
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        if not isinstance(value, str):
            raise self.error(column, f"expected a string, found {_describe(value)}")
        return value

    def label(self, class_names: list[str] | None) -> str:
        value = self.value("label")
        if class_names is not None and isinstance(value, int) and not isinstance(value, bool) and 0 <= value < len(class_names):
            value = class_names[value]
        if value not in LABELS:
            hint = " (labels are lower case)" if isinstance(value, str) and value.strip().lower() in LABELS else ""
            raise self.error("label", f"expected a label in {', '.join(LABELS)}, found {_describe(value)}{hint}")
        return value

    def image_name(self) -> str:
        value = self.value("image")
        if not isinstance(value, str):
            raise self.error("image", f"expected an image file name, found {_describe(value)}")
        if not value.strip():
            raise self.error("image", "expected an image file name, found an empty one")
        return value


def _describe(value: object) -> str:
    if isinstance(value, str):
        return repr(value)
    return f"{json_type(value)} {value!r}" if value is not None else "null"


def _extra_feature(records: Records, name: str) -> datasets.Value:
    """The feature of an extra column: text for CSV; for JSON and Parquet the one type its values share."""
    if not records.typed:
        return datasets.Value("string")
    kinds = {json_type(row.get(name)) for row in records.rows} - {"null"}
    if kinds == {"boolean"}:
        return datasets.Value("bool")
    if kinds == {"integer"}:
        return datasets.Value("int64")
    if kinds and kinds <= {"integer", "number"}:
        return datasets.Value("float64")
    return datasets.Value("string")


INT64 = range(-(2**63), 2**63)
"""The integers an ``int64`` column holds."""


def _check_int64(records: Records, name: str) -> None:
    """Refuse an integer an ``int64`` extra column cannot hold, naming its record and column."""
    for row, place in zip(records.rows, records.places):
        value = row.get(name)
        if isinstance(value, int) and value not in INT64:
            raise InputError(
                f"column {name!r}: expected an integer within 64 bits (-2**63 to 2**63 - 1), found {value}; "
                "write it as a string to keep it as text",
                file=records.file,
                record=place,
            )


def _extra_value(value: object, feature: datasets.Value) -> object:
    if value is None or feature.dtype != "string" or isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)
