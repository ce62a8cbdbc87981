"""Custom safety sets: a records file and a folder of images, built in the mmsafety schema.

A benchmark author keeps one record per sample in a ``.csv`` / ``.tsv``, ``.jsonl``,
``.json`` (a list of objects) or ``.parquet`` file, and the images in a folder.
:class:`CustomSet` is a :class:`~mmsafety.data.builder.SafetyBuilder` like the three
built-in builders, so the set is built, registered under its repo id (after which
``datasets.load_dataset("ORG/NAME")`` works offline), exported and checked exactly
as theirs are::

    from mmsafety.builders.custom import build_custom
    build_custom("records.csv", "images/", "me/my-set", mapping={"query": "text"}, export_dir="export/my-set")

or ``mmsafety build custom --records records.csv --images images/ --repo-id me/my-set --map query=text``.

How the columns are read:

* The shared columns come from the user's columns of the same name, or from the
  column ``mapping`` names (``{"query": "text"}``; on the command line
  ``--map query=text,label=safety``). ``id``, ``image``, ``query`` and ``label`` are
  required; ``category``, ``subcategory``, ``subset`` and ``reference`` are ``""``
  where the file has no such column (a column the mapping names must exist).
* ``id``: a non-empty string (an integer is written as its digits), unique.
  ``image``: a file name relative to the images folder (one that escapes it is
  refused). ``label``: one of :data:`~mmsafety.labels.LABELS`, exactly.
  ``query``: the text as given (an empty one is kept, and ``mmsafety audit`` reports it).
* Every other column is kept as an extra column after the shared ones: CSV cells as
  text; JSON and Parquet values keep their type when the column holds only booleans,
  only integers, only numbers or only strings (nulls allowed), and are written as JSON
  text otherwise.

Bad input (an unknown label, a missing image file, a column the mapping names but the
file lacks, a CSV row with the wrong number of fields, a duplicate id) is one
:class:`~mmsafety.errors.InputError` naming the file, the record (its line in a CSV or
JSONL file, else its position) and the column; nothing is written.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import datasets

from mmsafety.data.builder import Row, SafetyBuilder
from mmsafety.errors import InputError, list_ids
from mmsafety.data.images import read_image_file, resolve_inside
from mmsafety.builders.custom.records_file import Records, read_records
from mmsafety import benchmarks
from mmsafety.labels import LABELS
from mmsafety.schema import COLUMNS
from mmsafety.data.sources import Source, sha256_file

REQUIRED: tuple[str, ...] = ("id", "image", "query", "label")
"""Shared columns every record must have."""
OPTIONAL: tuple[str, ...] = ("category", "subcategory", "subset", "reference")
"""Shared columns that are ``""`` where the records file has none."""
DEFAULT_VERSION = "1.0.0"
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


# -- records -> samples --------------------------------------------------------------------
@dataclass(frozen=True)
class Sample:
    """One record in the schema, before its image is read."""

    id: str
    where: str
    """``line N (id X)``: where the record is, for messages."""
    example: dict[str, Any]
    image: str
    """The image file name, relative to the images folder."""
    image_present: bool


@dataclass(frozen=True)
class Plan:
    samples: list[Sample]
    columns: dict[str, str]
    """Schema column -> the user's column it comes from."""
    extra: dict[str, Any]
    """Extra column -> its ``datasets`` feature."""


def plan_records(records: Records, mapping: Mapping[str, str], images: Path) -> Plan:
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

    samples: list[Sample] = []
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
        samples.append(Sample(key, read.where, example, image, path.is_file()))
    return Plan(samples, columns, extra)


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
    from mmsafety.data.jsonfiles import json_type

    return f"{json_type(value)} {value!r}" if value is not None else "null"


def _extra_feature(records: Records, name: str) -> datasets.Value:
    """The feature of an extra column: text for CSV; for JSON and Parquet the one type its values share."""
    if not records.typed:
        return datasets.Value("string")
    kinds = {_kind(row.get(name)) for row in records.rows} - {"null"}
    if kinds == {"bool"}:
        return datasets.Value("bool")
    if kinds == {"int"}:
        return datasets.Value("int64")
    if kinds and kinds <= {"int", "float"}:
        return datasets.Value("float64")
    return datasets.Value("string")


def _kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "str"
    return "other"


def _extra_value(value: object, feature: datasets.Value) -> object:
    if value is None or feature.dtype != "string" or isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)


# -- the builder ------------------------------------------------------------------------------
class CustomSet(SafetyBuilder):
    """A safety set built from a records file and a folder of images (see the module docstring).

    ``repo_id`` (``ORG/NAME``) decides where it is registered in the datasets cache and
    what ``load_dataset`` it answers to; ``mapping`` maps schema columns to the file's.
    """

    NAME = "custom"
    PINNED = False  # reads the author's own files, not pinned upstream ones
    VERSION = datasets.Version(DEFAULT_VERSION)
    DESCRIPTION = "A multimodal safety set in the mmsafety schema, built with `mmsafety build custom`."

    def __init__(
        self,
        *,
        records: str | Path,
        images: str | Path,
        repo_id: str,
        mapping: Mapping[str, str] | None = None,
        version: str | None = None,
        license: str | None = None,  # noqa: A002 - the card's field
        pretty_name: str | None = None,
        description: str | None = None,
        citation: str | None = None,
        known_defects: Sequence[str] = (),
        release_notes: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> None:
        self.records_path = Path(records)
        self.images_dir = Path(images)
        org, name = check_repo_id(repo_id).split("/")
        mapping = dict(mapping or {})
        check_mapping(mapping)
        try:
            self.VERSION = datasets.Version(version or DEFAULT_VERSION)
        except ValueError:
            raise InputError(f"expected a version X.Y.Z, found {version!r}", record="--version") from None
        if not self.images_dir.is_dir():
            raise InputError("expected the folder of images the records name, found none", file=self.images_dir)
        self.custom_plan = plan_records(read_records(self.records_path), mapping, self.images_dir)
        self.records_sha256 = sha256_file(self.records_path)
        self.mapping = mapping
        self.NAME = name
        self.PRETTY_NAME = pretty_name or name
        if description:
            self.DESCRIPTION = description
        self.LICENSE = license or "unknown"
        self.UPSTREAM = f"{self.records_path.name} (sha256 {self.records_sha256[:12]}) and the images it names"
        self.KNOWN_DEFECTS = tuple(known_defects)
        self.RELEASE_NOTES = dict(release_notes or {str(self.VERSION): f"Built from {self.records_path.name}."})
        self.EXTRA_FEATURES = self.custom_plan.extra
        self._citation = citation or ""
        kwargs["dataset_name"] = name
        kwargs["repo_id"] = repo_id
        super().__init__(**kwargs)

    def citation(self) -> str:  # type: ignore[override]  # per set, not per class
        return self._citation.strip()

    def build_hash(self) -> str:
        digest = hashlib.sha256(super().build_hash().encode())
        for part in (self.records_sha256, json.dumps(self.mapping, sort_keys=True), os.path.realpath(self.images_dir)):
            digest.update(part.encode())
        return digest.hexdigest()[:16]

    def plan(self, source: Source) -> Plan:
        missing = [s for s in self.custom_plan.samples if not s.image_present]
        if missing and not self.allow_missing_images:
            column = self.custom_plan.columns["image"]
            first = missing[0]
            more = "" if len(missing) == 1 else f" (and {len(missing) - 1} more, ids {list_ids([s.id for s in missing[1:]], limit=20)})"
            raise InputError(
                f"column {column!r}: no image file {first.image!r} in {self.images_dir}{more}; "
                "pass --allow-missing-images to leave such rows out",
                file=self.records_path,
                record=first.where,
            )
        return self.custom_plan

    def rows(self, source: Source, plan: Plan) -> Iterator[Row]:
        column = plan.columns["image"]
        for sample in plan.samples:
            image: Any
            if not sample.image_present:
                image = InputError(f"column {column!r}: no image file {sample.image!r}", file=self.records_path, record=sample.where)
            else:
                try:
                    image = read_image_file(self.images_dir, sample.image, record=sample.where)
                except InputError as error:
                    image = InputError(f"column {column!r}: {error.detail}", file=error.file, record=sample.where)
            yield sample.id, sample.example, image


def build_custom(
    records: str | Path,
    images: str | Path,
    repo_id: str,
    *,
    mapping: Mapping[str, str] | None = None,
    version: str | None = None,
    export_dir: str | Path | None = None,
    allow_missing_images: bool = False,
    **card: Any,
) -> Any:
    """Build a custom set into the datasets cache under ``repo_id`` (and ``export_dir``), all or nothing.

    ``card`` takes ``license``, ``pretty_name``, ``description``, ``citation``,
    ``known_defects`` and ``release_notes`` for the dataset card. Returns the
    :class:`~mmsafety.data.build.BuildResult`.
    """
    from mmsafety.data.build import build_with

    return build_with(
        CustomSet,
        export_dir=export_dir,
        allow_missing_images=allow_missing_images,
        records=records,
        images=images,
        repo_id=repo_id,
        mapping=mapping,
        version=version,
        **card,
    )
