"""Building a benchmark: into the datasets cache, and optionally as a Hub folder.

Everything is written into a temporary folder first and moved into place only
when the whole build succeeded, so a failed build leaves nothing behind.

>>> result = build("mmsafeaware", source_dir="upstream/mmsafeaware", allow_missing_images=True)  # doctest: +SKIP
>>> result.rows  # doctest: +SKIP
1446
"""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import datasets
import pyarrow as pa
import pyarrow.compute as pc
from datasets.exceptions import DatasetGenerationError

from mmsafety.data.builder import SafetyBuilder
from mmsafety import benchmarks
from mmsafety.data.catalog import builder_dir_name, cache_root
from mmsafety.errors import InputError
from mmsafety.schema import SPLIT

PARQUET_NAME = f"{SPLIT}-00000-of-00001.parquet"


@dataclass
class BuildResult:
    """What a build produced, for the closing summary."""

    name: str
    repo_id: str
    version: str
    rows: int
    cache_path: Path
    export_dir: Path | None
    image_bytes: int
    seconds: float
    by_label: Counter[str] = field(default_factory=Counter)
    by_subset: Counter[str] = field(default_factory=Counter)
    by_category: Counter[str] = field(default_factory=Counter)
    left_out: dict[str, list[str]] = field(default_factory=dict)
    notes: dict[str, list[str]] = field(default_factory=dict)
    """Ids kept with a remark, by remark (see :attr:`SafetyBuilder.notes`)."""
    config: str = "default"
    """The configuration built (``load_dataset(repo_id, config)``)."""


def build(
    name: str,
    *,
    source_dir: str | Path | None = None,
    export_dir: str | Path | None = None,
    allow_missing_images: bool = False,
    checksums: str | Path | None = None,
    config: str | None = None,
) -> BuildResult:
    """Build a built-in benchmark by name (in its configuration ``config``); see :func:`build_with`."""
    cls = benchmarks.require(name).builder_class()
    configs = [c.name for c in cls.BUILDER_CONFIGS] or ["default"]
    if config is not None and config not in configs:
        raise InputError(f"expected a configuration of {name} among {', '.join(configs)}, found {config!r}", record="--config")
    return build_with(
        cls,
        source_dir=source_dir,
        export_dir=export_dir,
        allow_missing_images=allow_missing_images,
        checksums=checksums,
        **({"config_name": config} if config else {}),
    )


def build_with(
    cls: type[SafetyBuilder],
    *,
    source_dir: str | Path | None = None,
    export_dir: str | Path | None = None,
    allow_missing_images: bool = False,
    checksums: str | Path | None = None,
    **builder_kwargs: object,
) -> BuildResult:
    """Build ``cls`` into the datasets cache (and ``export_dir``), all or nothing.

    After it, ``datasets.load_dataset(<repo id>, split="test")`` returns the rows,
    offline too. Raises :class:`~mmsafety.errors.InputError` on bad input, having
    written nothing.
    """
    started = time.perf_counter()
    root = cache_root()
    root.mkdir(parents=True, exist_ok=True)
    export = None if export_dir is None else Path(export_dir).absolute()
    if export is not None:
        _check_export_target(export)
    with tempfile.TemporaryDirectory(dir=root, prefix=".mmsafety-build-") as scratch:
        builder = cls(
            cache_dir=scratch,
            source_dir=source_dir,
            allow_missing_images=allow_missing_images,
            checksums=checksums,
            **builder_kwargs,
        )
        try:
            builder.download_and_prepare()
        except DatasetGenerationError as error:
            cause = error.__cause__
            if isinstance(cause, InputError):
                raise cause from None
            raise
        dataset = builder.as_dataset(split=SPLIT)
        result = _summarise(builder, dataset, started)
        if export is not None:
            _export(builder, dataset, export)
        del dataset
        built = Path(builder.cache_dir)
        target = root / built.relative_to(scratch)
        _replace_dir(built, target)
        for stale in target.parent.iterdir():  # older builds of the same version
            if stale.is_dir() and stale != target:
                shutil.rmtree(stale, ignore_errors=True)
        if builder.config_name != builder.default_config():
            # load_dataset(repo_id) offline reloads the newest cached configuration: keep it the default
            for default_build in (target.parents[2] / builder.default_config()).glob("*/*"):
                os.utime(default_build)
    result.cache_path = target
    result.export_dir = export
    result.seconds = time.perf_counter() - started
    return result


def _summarise(builder: SafetyBuilder, dataset: datasets.Dataset, started: float) -> BuildResult:
    table = dataset.data.table
    label_names = dataset.features["label"].names
    image_bytes = _image_bytes(table.column("image"))
    return BuildResult(
        name=builder.NAME,
        repo_id=builder.repo_id,
        version=str(builder.VERSION),
        rows=dataset.num_rows,
        cache_path=Path(builder.cache_dir),
        export_dir=None,
        image_bytes=image_bytes,
        seconds=time.perf_counter() - started,
        by_label=Counter(label_names[i] for i in table.column("label").to_pylist()),
        by_subset=Counter(table.column("subset").to_pylist()),
        by_category=Counter(table.column("category").to_pylist()),
        left_out={reason: list(ids) for reason, ids in builder.left_out.items()},
        notes={remark: list(ids) for remark, ids in builder.notes.items()},
        config=builder.config_name,
    )


def _image_bytes(column: pa.ChunkedArray) -> int:
    """The total size of the image bytes, read from Arrow's offsets (no bytes copied into Python)."""
    return sum(pc.sum(pc.binary_length(pc.struct_field(chunk, "bytes"))).as_py() or 0 for chunk in column.chunks)


def _check_export_target(export: Path) -> None:
    if export.exists() and not export.is_dir():
        raise InputError("expected a folder to export into, found a file", file=export)
    if export.is_dir() and any(export.iterdir()) and not (export / "README.md").exists():
        raise InputError("refusing to replace a non-empty folder that is not an mmsafety export", file=export)


def _export(builder: SafetyBuilder, dataset: datasets.Dataset, export: Path) -> None:
    """Write the Hub repository (Parquet with image bytes, and the card) at ``export``."""
    from mmsafety.data.card import render_card

    export.parent.mkdir(parents=True, exist_ok=True)
    # mkdir, not mkdtemp: the staging folder becomes the export, and mkdtemp makes
    # it private (0700) whatever the user's umask says.
    staging = export.parent / f".{export.name}-{os.getpid()}-{secrets.token_hex(4)}"
    staging.mkdir()
    try:
        (staging / "data").mkdir()
        dataset.to_parquet(str(staging / "data" / PARQUET_NAME))
        render_card(builder, dataset).save(staging / "README.md")
        _replace_dir(staging, export)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _replace_dir(new: Path, target: Path) -> None:
    """Move ``new`` to ``target``, replacing what was there only once ``new`` is in place."""
    target.parent.mkdir(parents=True, exist_ok=True)
    old = None
    if target.exists():
        old = target.with_name(f".{target.name}.old-{os.getpid()}")
        os.replace(target, old)
    try:
        os.replace(new, target)
    except OSError:
        if old is not None:
            os.replace(old, target)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def repo_cache_dir(repo: str) -> Path:
    """Where builds of ``repo`` live in the datasets cache."""
    return cache_root() / builder_dir_name(repo)
