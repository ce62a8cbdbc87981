"""The builder base class that every mmsafety dataset is built with.

A benchmark's builder subclasses :class:`SafetyBuilder`, says what it is in class
attributes (``NAME``, ``VERSION``, ``RELEASE_NOTES``, ``KNOWN_DEFECTS``...), keeps
its pinned files in ``checksums.tsv`` and its citation in ``CITATIONS.bib`` beside
its module, and implements two steps:

* :meth:`SafetyBuilder.plan` reads the upstream metadata (strictly) and returns
  the rows to build, each with a way to get its image;
* :meth:`SafetyBuilder.rows` yields ``(id, example, image)`` for them, where
  ``image`` is an :class:`~mmsafety.data.images.ImageValue` or the
  :class:`~mmsafety.errors.InputError` that says why there is none.

The base class does the rest: the schema, the cache location under
``mmsafety/<NAME>``, checking every file against its pin, and the rule for
missing or unreadable images (an error listing every such id, or, with
``allow_missing_images``, rows left out and listed in :attr:`left_out`).

A builder may offer more than one configuration (``BUILDER_CONFIGS``, as in
``datasets``) with a ``DEFAULT_CONFIG_NAME``, and ``load_dataset(repo_id)`` keeps
returning it. Ids kept with a remark (an image upstream never had, ids that differ only
by case, whitespace or Unicode normalization) are listed in :attr:`notes`, for the
build's summary and the card.
"""

from __future__ import annotations

import hashlib
import inspect
import os
import sys
import unicodedata
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar

import datasets

from mmsafety import __version__
from mmsafety.benchmarks import HUB_ORGANISATION
from mmsafety.data.catalog import cache_root
from mmsafety.data.images import ImageValue
from mmsafety.data.sources import PinnedFile, Source, read_checksums
from mmsafety.errors import InputError, list_ids
from mmsafety.schema import SPLIT, features

Row = tuple[str, dict[str, Any], "ImageValue | InputError | None"]
"""One row to build: its id, its columns without the image, and its image (or why not; ``None``:
kept without one, where a configuration says so)."""

NEAR_IDENTICAL_IDS = "warning: ids that differ only by case, surrounding whitespace or Unicode normalization"

_patched_for_streaming = True
"""Tells ``datasets`` to leave this module's globals alone; see :meth:`SafetyBuilder.__init_subclass__`."""


class SafetyBuilder(datasets.GeneratorBasedBuilder):
    """A ``GeneratorBasedBuilder`` in the mmsafety schema, built from pinned files."""

    MISSING_IMAGES: ClassVar[str] = "image absent or unreadable upstream"
    """Why rows whose image is absent or unreadable are left out (the summary's and the card's words)."""
    NAME: ClassVar[str] = ""
    """The benchmark's name; its repo id is ``mmsafety/<NAME>``."""
    VERSION = datasets.Version("0.0.0")
    RELEASE_NOTES: ClassVar[Mapping[str, str]] = {}
    PRETTY_NAME: ClassVar[str] = ""
    DESCRIPTION: ClassVar[str] = ""
    HOMEPAGE: ClassVar[str] = ""
    LICENSE: ClassVar[str] = "unknown"
    UPSTREAM_LICENSE: ClassVar[str] = ""
    """The license upstream states on its own card, for the card where ``LICENSE`` says ``unknown``."""
    UPSTREAM: ClassVar[str] = ""
    """Where the upstream files come from, with their pinned revision."""
    KNOWN_DEFECTS: ClassVar[tuple[str, ...]] = ()
    """Upstream defects kept as upstream has them, for the card."""
    EXTRA_FEATURES: ClassVar[Mapping[str, Any]] = {}
    """The benchmark's own columns, after the shared ones."""
    COLUMN_DESCRIPTIONS: ClassVar[Mapping[str, str]] = {}
    """What a column holds, in the benchmark's own words, for the card (replacing the schema's generic words)."""
    PINNED: ClassVar[bool] = True
    """Whether the builder reads pinned upstream files (its ``checksums.tsv``). A builder
    that reads its author's own local files (a custom set) sets ``False``: no pins."""
    COUNTS: ClassVar[Mapping[str, Mapping[str, Mapping[str, int]]]] = {}
    """What a build of the complete upstream release holds: rows per configuration, per
    column (``label``, ``subset``) and value. Empty where the rows depend on the author's
    own files (a custom set)."""

    def __init__(
        self,
        *,
        source_dir: str | Path | None = None,
        allow_missing_images: bool = False,
        checksums: str | Path | None = None,
        cache_dir: str | None = None,
        **kwargs: Any,
    ) -> None:
        self.source_dir = None if source_dir is None else Path(source_dir)
        self.allow_missing_images = allow_missing_images
        self.checksums_path = Path(checksums) if checksums else self.folder() / "checksums.tsv"
        self.left_out: dict[str, list[str]] = {}
        """Ids left out of the build, by reason (filled while building)."""
        self.notes: dict[str, list[str]] = {}
        """Ids kept with a remark, by remark (filled while building): listed by the summary and the card."""
        self.config_name: str = kwargs.get("config_name") or self.default_config()
        """The configuration being built (``load_dataset(repo_id, config_name)``)."""
        self.source_revision = self.UPSTREAM
        """What this build read, for the card: :attr:`UPSTREAM`, unless :meth:`plan` found another release."""
        kwargs.setdefault("dataset_name", self.NAME)
        kwargs.setdefault("repo_id", f"{HUB_ORGANISATION}/{self.NAME}")
        kwargs.setdefault("hash", self.build_hash())
        super().__init__(cache_dir=cache_dir, **kwargs)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        # On every builder, datasets rewrites the globals of the builder's modules for
        # streaming (open, os.path.*, pathlib.Path -> fsspec-aware stand-ins, importing
        # pandas and scipy to do so). Our builders never stream: Source reads the pinned
        # files itself, and the rewrite only turned source paths into URL-parsing xPaths.
        # A module marked as already patched is skipped.
        super().__init_subclass__(**kwargs)
        module = sys.modules.get(cls.__module__)
        if module is not None:
            module._patched_for_streaming = True  # type: ignore[attr-defined]

    # -- what the subclass provides ---------------------------------------------------
    def plan(self, source: Source) -> Any:
        """Read and check the upstream metadata; return what :meth:`rows` needs."""
        raise NotImplementedError

    def rows(self, source: Source, plan: Any) -> Iterator[Row]:
        """Yield ``(id, example, image)`` for every row of ``plan``."""
        raise NotImplementedError

    def keeps_rows_without_image(self) -> bool:
        """Whether the configuration being built keeps a row whose image is missing (``image`` None)."""
        return False

    # -- facts about the builder --------------------------------------------------------
    @classmethod
    def folder(cls) -> Path:
        """The folder of the builder's module (``checksums.tsv``, ``CITATIONS.bib``)."""
        return Path(inspect.getfile(cls)).parent

    @classmethod
    def citation(cls) -> str:
        path = cls.folder() / "CITATIONS.bib"
        return path.read_text(encoding="utf-8").strip() if path.exists() else ""

    @classmethod
    def default_config(cls) -> str:
        """The name of the configuration ``load_dataset(repo_id)`` gives (``DEFAULT_CONFIG_NAME``, else ``default``)."""
        return cls.DEFAULT_CONFIG_NAME or "default"

    def pins(self) -> dict[str, PinnedFile]:
        return read_checksums(self.checksums_path) if self.PINNED else {}

    def build_hash(self) -> str:
        """A digest of everything that decides the built rows: code, pins, options."""
        digest = hashlib.sha256()
        if self.config_name != self.default_config():
            digest.update(self.config_name.encode())
        for part in (
            __version__,
            inspect.getsource(inspect.getmodule(type(self))),  # type: ignore[arg-type]
            self.checksums_path.read_bytes() if self.checksums_path.exists() else b"",
            str(self.allow_missing_images),
        ):
            digest.update(part.encode() if isinstance(part, str) else part)
        return digest.hexdigest()[:16]

    def _info(self) -> datasets.DatasetInfo:
        return datasets.DatasetInfo(
            description=self.DESCRIPTION,
            features=features(self.EXTRA_FEATURES),
            citation=self.citation(),
            homepage=self.HOMEPAGE,
            license=self.LICENSE,
            version=self.VERSION,
        )

    # -- the datasets steps -------------------------------------------------------------------
    def _split_generators(self, dl_manager: Any) -> list[datasets.SplitGenerator]:
        source = Source(self.pins(), source_dir=self.source_dir, download_dir=cache_root() / "downloads" / "mmsafety")
        self.left_out = {}
        self.notes = {}
        plan = self.plan(source)
        return [datasets.SplitGenerator(name=SPLIT, gen_kwargs={"source": source, "plan": plan})]

    def _generate_examples(self, source: Source, plan: Any) -> Iterator[tuple[str, dict[str, Any]]]:
        problems: dict[str, InputError] = {}
        spellings: dict[str, list[str]] = {}
        for key, example, image in self.rows(source, plan):
            spellings.setdefault(_folded(key), []).append(key)
            if image is None:  # a configuration that keeps rows without an image
                yield key, {**example, "image": None}
                continue
            if isinstance(image, InputError):
                if self.allow_missing_images and self.keeps_rows_without_image():
                    self.note(self.MISSING_IMAGES + " (kept, image None)", [key])
                    yield key, {**example, "image": None}
                else:
                    problems[key] = image
                continue
            yield key, {**example, "image": _kept_as_bytes(image)}
        near = [key for keys in spellings.values() if len(keys) > 1 for key in keys]
        if near:
            self.note(NEAR_IDENTICAL_IDS, near)
        if not problems:
            return
        if not self.allow_missing_images:
            where = self.images_listed_in()
            details = "; ".join(
                f"{_located(key, problems[key], where)}: {problems[key].detail}" for key in sorted(problems, key=_id_order)[:20]
            )
            more = "" if len(problems) <= 20 else f"; and {len(problems) - 20} more"
            raise InputError(
                f"{len(problems)} image(s) {'upstream lists' if self.PINNED else 'the records name'} are absent or unreadable, ids {list_ids(problems)} "
                f"(pass --allow-missing-images to leave these rows out): {details}{more}",
                file=where,
            )
        self.leave_out(self.MISSING_IMAGES, problems)

    def images_listed_in(self) -> str:
        """The file or folder that lists the images, named by an error about them."""
        return str(self.source_dir or self.NAME)

    def leave_out(self, reason: str, ids: Any) -> None:
        """Record ids left out of the build, for the summary and the card."""
        self.left_out.setdefault(reason, []).extend(str(i) for i in ids)
        self.left_out[reason].sort(key=_id_order)

    def note(self, remark: str, ids: Any) -> None:
        """Record ids kept with a remark, for the summary and the card."""
        self.notes.setdefault(remark, []).extend(str(i) for i in ids)
        self.notes[remark].sort(key=_id_order)


def _kept_as_bytes(image: ImageValue) -> dict[str, Any]:
    """``image`` in a form whose bytes ``datasets.Image`` keeps.

    ``datasets.Image`` stores only the path of a ``{"bytes", "path"}`` value whose path
    names an existing file relative to the working directory (building from inside the
    source folder would store ``images/1.jpeg``, not the image); such a name is dropped.
    """
    if image["path"] and os.path.isfile(image["path"]):
        return {"bytes": image["bytes"], "path": None}
    return dict(image)


def _located(key: str, problem: InputError, where: str) -> str:
    """``<file>: <record>`` for one problem in a list under ``where`` (the file left out when it is ``where``)."""
    record = problem.record or f"id {key}"
    return record if problem.file in (None, where) else f"{problem.file}: {record}"


def _folded(key: str) -> str:
    """``key`` as a reader would see it: NFC, case-folded, surrounding whitespace removed.

    >>> _folded(" Caf\u0065\u0301 ") == _folded("café")
    True
    """
    return unicodedata.normalize("NFC", key.strip()).casefold()


def _id_order(value: str) -> tuple[int, int | str]:
    return (0, int(value)) if value.isdigit() else (1, value)
