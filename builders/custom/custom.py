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
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import datasets
from mmsafety.builders.custom.column_map import (
    CustomPlan,
    check_mapping,
    check_repo_id,
    plan_records,
)
from mmsafety.builders.custom.records_file import read_records

from mmsafety.data.builder import Row, SafetyBuilder
from mmsafety.data.images import read_image_file
from mmsafety.data.sources import Source, sha256_file
from mmsafety.errors import InputError, list_ids

DEFAULT_VERSION = "1.0.0"


class CustomSet(SafetyBuilder):
    """A safety set built from a records file and a folder of images (see the module docstring).

    Each set is its own class, made by :meth:`define`: its name, version, card text and
    checked rows are class variables of that class, like a built-in builder's, and no
    instance changes them. ``CustomSet`` itself is the template and is not built.
    """

    NAME = "custom"
    PINNED = False  # reads the author's own files, not pinned upstream ones
    MISSING_IMAGES = "image absent or unreadable"  # the author's own images: no upstream to speak of
    VERSION = datasets.Version(DEFAULT_VERSION)
    DESCRIPTION = "A multimodal safety set in the mmsafety schema, built with `mmsafety build custom`."

    REPO_ID: ClassVar[str] = ""
    """``ORG/NAME``: where the set is registered in the datasets cache, what ``load_dataset`` answers to."""
    RECORDS: ClassVar[Path | None] = None
    IMAGES: ClassVar[Path | None] = None
    MAPPING: ClassVar[Mapping[str, str]] = {}
    """Schema column -> the records file's column."""
    RECORDS_SHA256: ClassVar[str] = ""
    CITATION: ClassVar[str] = ""
    ROWS: ClassVar[CustomPlan | None] = None
    """The records, checked against the schema when the set was defined."""

    @classmethod
    def define(
        cls,
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
    ) -> type[CustomSet]:
        """The builder class of one set: its records read and checked, its card facts set."""
        records_path = Path(records)
        images_dir = Path(images)
        _, name = check_repo_id(repo_id).split("/")
        mapping = dict(mapping or {})
        check_mapping(mapping)
        try:
            set_version = datasets.Version(version or DEFAULT_VERSION)
        except ValueError:
            raise InputError(f"expected a version X.Y.Z, found {version!r}", record="--version") from None
        if not images_dir.is_dir():
            raise InputError("expected the folder of images the records name, found none", file=images_dir)
        rows = plan_records(read_records(records_path), mapping, images_dir)
        records_sha256 = sha256_file(records_path)
        facts = {
            "NAME": name,
            "REPO_ID": repo_id,
            "VERSION": set_version,
            "PRETTY_NAME": pretty_name or name,
            "DESCRIPTION": description or cls.DESCRIPTION,
            "LICENSE": license or "unknown",
            "UPSTREAM": f"{records_path.name} (sha256 {records_sha256[:12]}) and the images it names",
            "KNOWN_DEFECTS": tuple(known_defects),
            "RELEASE_NOTES": dict(release_notes or {str(set_version): f"Built from {records_path.name}."}),
            "EXTRA_FEATURES": rows.extra,
            "RECORDS": records_path,
            "IMAGES": images_dir,
            "MAPPING": mapping,
            "RECORDS_SHA256": records_sha256,
            "CITATION": (citation or "").strip(),
            "ROWS": rows,
            "__module__": cls.__module__,
            "__doc__": f"The custom set {repo_id}, from {records_path.name}.",
        }
        return type(cls.__name__, (cls,), facts)

    def __init__(self, **kwargs: Any) -> None:
        if self.ROWS is None:
            raise TypeError("CustomSet is a template: build a set with CustomSet.define(records=..., images=..., repo_id=...)")
        kwargs["dataset_name"] = self.NAME
        kwargs["repo_id"] = self.REPO_ID
        super().__init__(**kwargs)

    @classmethod
    def citation(cls) -> str:
        return cls.CITATION

    def images_listed_in(self) -> str:
        return str(self.RECORDS)

    def build_hash(self) -> str:
        digest = hashlib.sha256(super().build_hash().encode())
        for part in (self.RECORDS_SHA256, json.dumps(self.MAPPING, sort_keys=True), os.path.realpath(self.IMAGES)):  # type: ignore[arg-type]
            digest.update(part.encode())
        return digest.hexdigest()[:16]

    def plan(self, source: Source) -> CustomPlan:
        plan = self.ROWS
        assert plan is not None
        missing = [row for row in plan.rows if not row.image_present]
        if missing and not self.allow_missing_images:
            column = plan.columns["image"]
            first = missing[0]
            more = "" if len(missing) == 1 else f" (and {len(missing) - 1} more, ids {list_ids([r.id for r in missing[1:]], limit=20)})"
            raise InputError(
                f"column {column!r}: no image file {first.image!r} in {self.IMAGES}{more}; "
                "pass --allow-missing-images to leave such rows out",
                file=self.RECORDS,
                record=first.where,
            )
        return plan

    def rows(self, source: Source, plan: CustomPlan) -> Iterator[Row]:
        column = plan.columns["image"]
        for row in plan.rows:
            image: Any
            if not row.image_present:
                image = InputError(f"column {column!r}: no image file {row.image!r}", file=self.RECORDS, record=row.where)
            else:
                try:
                    image = read_image_file(self.IMAGES, row.image, record=row.where)  # type: ignore[arg-type]
                except InputError as error:
                    # the records file and line name the row; the image's own file is in the detail
                    image = InputError(f"column {column!r}: image {error.file}: {error.detail}", file=self.RECORDS, record=row.where)
            yield row.id, row.example, image


def build_custom(
    records: str | Path,
    images: str | Path,
    repo_id: str,
    *,
    mapping: Mapping[str, str] | None = None,
    version: str | None = None,
    export_dir: str | Path | None = None,
    allow_missing_images: bool = False,
    max_shard_size: str | int | None = None,
    card: Mapping[str, Any] | None = None,
    **facts: Any,
) -> Any:
    """Build a custom set into the datasets cache under ``repo_id`` (and ``export_dir``), all or nothing.

    ``facts`` are the set's own: ``license``, ``pretty_name``, ``description``, ``citation``,
    ``known_defects`` and ``release_notes``; ``card`` adds the Hub's card fields ``language``
    and ``task_categories``; the export is sharded at ``max_shard_size`` (as ``push_to_hub``
    spells it). Returns the :class:`~mmsafety.data.build.BuildResult`.
    """
    from mmsafety.data.build import DEFAULT_MAX_SHARD_SIZE, build_with

    builder = CustomSet.define(records=records, images=images, repo_id=repo_id, mapping=mapping, version=version, **facts)
    return build_with(builder, export_dir=export_dir, allow_missing_images=allow_missing_images,
                      max_shard_size=max_shard_size or DEFAULT_MAX_SHARD_SIZE, card=card)
