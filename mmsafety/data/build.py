"""Building a benchmark: into the datasets cache, and optionally as a Hub folder.

Everything is written into a scratch folder first and moved into place only when
the whole build succeeded, so a failed build leaves nothing behind. The move is
made under a per-dataset lock, so two builds at once leave one complete build;
the next build clears what a killed one left (its scratch folder, a build moved
aside and never put back).

>>> result = build("mmsafeaware", source_dir="upstream/mmsafeaware", allow_missing_images=True)  # doctest: +SKIP
>>> result.rows  # doctest: +SKIP
1446
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import datasets
import pyarrow as pa
import pyarrow.compute as pc
from datasets.exceptions import DatasetGenerationError
from filelock import FileLock

from mmsafety import benchmarks
from mmsafety.data.builder import SafetyBuilder
from mmsafety.data.catalog import (
    REPO_MARKER,
    builder_dir_name,
    cache_root,
    recorded_repo_id,
    repo_cache_dir,
)
from mmsafety.data.configs import check_config, configurations
from mmsafety.data.outdir import OutputDir, process_alive, check_output_dir, prepare_output_dir
from mmsafety.data.shards import DEFAULT_MAX_SHARD_SIZE, shard_size_bytes, write_shards
from mmsafety.errors import InputError
from mmsafety.schema import SPLIT

__all__ = ["BuildResult", "build", "build_configurations", "build_with", "repo_cache_dir", "DEFAULT_MAX_SHARD_SIZE"]

SCRATCH_PREFIX = ".mmsafety-build-"
"""Scratch folders in the cache root: ``.mmsafety-build-<pid>-<random>``."""
_SCRATCH = re.compile(re.escape(SCRATCH_PREFIX) + r"(\d+)-[0-9a-f]+")
_ASIDE = re.compile(r"\.(.+)\.old-\d+")
_BUILD = re.compile(r"[0-9a-f]{16}")

_stage: Callable[[str], None] = lambda stage: None  # noqa: E731
"""Called at each step of the swap (``"aside"``, ``"moved"``); tests pause or kill a build there."""


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
    export_files: list[str] = field(default_factory=list)
    """The files of the export, relative to it (``README.md``, ``data/test-00000-of-00002.parquet``...)."""
    builder: SafetyBuilder | None = field(default=None, repr=False, compare=False)
    """The builder that made it (its ``left_out``, ``notes`` and ``source_revision`` for a card)."""


def build(
    name: str,
    *,
    source_dir: str | Path | None = None,
    export_dir: str | Path | None = None,
    allow_missing_images: bool = False,
    checksums: str | Path | None = None,
    config: str | None = None,
    max_shard_size: str | int = DEFAULT_MAX_SHARD_SIZE,
) -> BuildResult:
    """Build a built-in benchmark by name (in its configuration ``config``); see :func:`build_with`."""
    cls = benchmarks.require(name).builder_class()
    if config is not None:
        check_config(name, config)
    return build_with(
        cls,
        source_dir=source_dir,
        export_dir=export_dir,
        allow_missing_images=allow_missing_images,
        checksums=checksums,
        **({"config_name": config} if config else {}),
        max_shard_size=max_shard_size,
    )


def build_configurations(
    name: str,
    configs: Sequence[str],
    *,
    export_dir: str | Path | None = None,
    max_shard_size: str | int = DEFAULT_MAX_SHARD_SIZE,
    **options: Any,
) -> list[BuildResult]:
    """Build each configuration ``configs`` of a built-in benchmark (see :func:`build`), and with
    ``export_dir`` write them into one Hub repository: each configuration's Parquet shards under
    ``data/<config>/``, one card whose ``configs`` lists them all (the benchmark's default first,
    marked default), so that ``load_dataset(export_dir, config)`` loads each. One configuration
    is exported as :func:`build` exports it (``data/`` alone)."""
    configs = list(dict.fromkeys(check_config(name, config) for config in configs))
    if not configs:
        raise InputError(f"expected at least one configuration of {name}", record="--config")
    if len(configs) == 1:
        return [build(name, config=configs[0], export_dir=export_dir, max_shard_size=max_shard_size, **options)]
    shard_bytes = shard_size_bytes(max_shard_size)
    export = None if export_dir is None else Path(export_dir).absolute()
    if export is not None:
        check_output_dir(export, "export")  # refused before the builds, not after
    default = configurations(name)[0]
    configs.sort(key=lambda config: config != default)
    results = [build(name, config=config, max_shard_size=max_shard_size, **options) for config in configs]
    if export is not None:
        files = _export_configurations(results, export, shard_bytes)
        for result in results:
            result.export_dir, result.export_files = export, files
    return results


def _export_configurations(results: list[BuildResult], export: Path, shard_bytes: int) -> list[str]:
    """Write the built configurations of ``results`` (from the cache) into one Hub repository folder."""
    from mmsafety.data.card import render_card
    from mmsafety.data.catalog import load_benchmark

    with prepare_output_dir(export, "export") as out:
        staging = out.staging()
        parts = []
        files = ["README.md"]
        for result in results:
            dataset = load_benchmark(result.repo_id, config=result.config)
            shards = write_shards(dataset, staging / "data" / result.config, shard_bytes)
            files += [f"data/{result.config}/{path.name}" for path in shards]
            assert result.builder is not None
            parts.append((result.builder, dataset, sum(path.stat().st_size for path in shards)))
        first, *others = parts
        render_card(first[0], first[1], download_size=first[2], others=others).save(staging / "README.md")
        out.commit()
    return files


def build_with(
    cls: type[SafetyBuilder],
    *,
    source_dir: str | Path | None = None,
    export_dir: str | Path | None = None,
    allow_missing_images: bool = False,
    checksums: str | Path | None = None,
    max_shard_size: str | int = DEFAULT_MAX_SHARD_SIZE,
    card: Mapping[str, Any] | None = None,
    **builder_kwargs: object,
) -> BuildResult:
    """Build ``cls`` into the datasets cache (and ``export_dir``), all or nothing.

    After it, ``datasets.load_dataset(<repo id>, split="test")`` returns the rows,
    offline too. The export is in Parquet shards of at most ``max_shard_size``
    (spelled as ``push_to_hub``'s); ``card`` holds custom card fields (see
    :func:`mmsafety.data.card.render_card`). Raises
    :class:`~mmsafety.errors.InputError` on bad input, having written nothing.
    """
    started = time.perf_counter()
    shard_bytes = shard_size_bytes(max_shard_size)
    root = cache_root()
    root.mkdir(parents=True, exist_ok=True)
    export = None if export_dir is None else Path(export_dir).absolute()
    if export is not None:
        check_output_dir(export, "export")
    remove_dead_scratch(root)
    scratch = root / f"{SCRATCH_PREFIX}{os.getpid()}-{secrets.token_hex(4)}"
    scratch.mkdir()
    try:
        builder = cls(
            cache_dir=str(scratch),
            source_dir=source_dir,
            allow_missing_images=allow_missing_images,
            checksums=checksums,
            **builder_kwargs,
        )
        check_repo_folder(builder.repo_id)
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
            with prepare_output_dir(export, "export") as out:
                result.export_files = _export(builder, dataset, out, shard_bytes, card or {})
        del dataset
        built = Path(builder.cache_dir)
        target = root / built.relative_to(scratch)
        with FileLock(str(lock_path(builder.repo_id))):
            check_repo_folder(builder.repo_id)
            restore_aside(repo_cache_dir(builder.repo_id))
            _replace_dir(built, target)
            for stale in target.parent.iterdir():  # older builds of the same version, and nothing else
                if stale != target and is_build_folder(stale):
                    shutil.rmtree(stale, ignore_errors=True)
            if builder.config_name != builder.default_config():
                # load_dataset(repo_id) offline reloads the newest cached configuration: keep it the default
                for default_build in (target.parents[2] / builder.default_config()).glob("*/*"):
                    os.utime(default_build)
            _record_repo(builder.repo_id)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    result.cache_path = target
    result.export_dir = export
    result.seconds = time.perf_counter() - started
    return result


# -- the cache folder of one repo id ------------------------------------------------------------
def lock_path(repo: str) -> Path:
    """The lock every build of ``repo`` holds while it moves its result into the cache."""
    return cache_root() / f".{builder_dir_name(repo)}.mmsafety.lock"


def check_repo_folder(repo: str) -> None:
    """Refuse to build ``repo`` into a cache folder that holds a build of another repo id."""
    other = recorded_repo_id(repo)
    if other is not None and other != repo:
        raise InputError(
            f"the datasets cache keeps {repo!r} in the same folder as {other!r}, which is built there "
            f"(load_dataset maps both ids to it); choose another repo id, or remove {other!r} first",
            file=repo_cache_dir(repo),
        )


def _record_repo(repo: str) -> None:
    folder = repo_cache_dir(repo)
    temporary = folder / f"{REPO_MARKER}.{os.getpid()}.tmp"
    temporary.write_text(json.dumps({"repo_id": repo}) + "\n", encoding="utf-8")
    os.replace(temporary, folder / REPO_MARKER)


def is_build_folder(folder: Path) -> bool:
    """Whether ``folder`` is a build as mmsafety's builders write one: named by a build hash
    (16 hex digits, :meth:`~mmsafety.data.builder.SafetyBuilder.build_hash`), holding the
    ``dataset_info.json`` that ``datasets`` writes, and not a symbolic link."""
    return (_BUILD.fullmatch(folder.name) is not None and folder.is_dir() and not folder.is_symlink()
            and (folder / datasets.config.DATASET_INFO_FILENAME).is_file())


# -- what killed builds leave ------------------------------------------------------------------
def remove_dead_scratch(root: Path) -> list[Path]:
    """Remove the scratch folders of builds whose process is gone; return them."""
    removed = []
    for entry in root.glob(f"{SCRATCH_PREFIX}*"):
        match = _SCRATCH.fullmatch(entry.name)
        if match and entry.is_dir() and not entry.is_symlink() and not process_alive(int(match.group(1))):
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry)
    return removed


def restore_aside(folder: Path) -> None:
    """Put back (or drop) builds a killed swap moved aside (``<config>/<version>/.<hash>.old-<pid>``).

    Called under the dataset's lock, so no swap is under way: every such folder is
    stranded. It goes back in place when nothing replaced it, else it is removed.
    """
    for aside in folder.glob("*/*/.*.old-*"):
        match = _ASIDE.fullmatch(aside.name)
        if not match or not aside.is_dir():
            continue
        original = aside.with_name(match.group(1))
        if original.exists() or any(p.is_dir() and not p.name.startswith(".") for p in aside.parent.iterdir()):
            shutil.rmtree(aside, ignore_errors=True)
        else:
            os.replace(aside, original)


# -- summary and export -------------------------------------------------------------------------
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
        builder=builder,
    )


def _image_bytes(column: pa.ChunkedArray) -> int:
    """The total size of the image bytes, read from Arrow's offsets (no bytes copied into Python)."""
    return sum(pc.sum(pc.binary_length(pc.struct_field(chunk, "bytes"))).as_py() or 0 for chunk in column.chunks)


def _export(builder: SafetyBuilder, dataset: datasets.Dataset, out: OutputDir, shard_bytes: int, card: Mapping[str, Any]) -> list[str]:
    """Write the Hub repository (Parquet shards with image bytes, and the card) into ``out``; return its files."""
    from mmsafety.data.card import render_card

    staging = out.staging()
    shards = write_shards(dataset, staging / "data", shard_bytes)
    download_size = sum(path.stat().st_size for path in shards)
    render_card(builder, dataset, download_size=download_size, **card).save(staging / "README.md")
    out.commit()
    return ["README.md", *(f"data/{path.name}" for path in shards)]


def _replace_dir(new: Path, target: Path) -> None:
    """Move ``new`` to ``target``, replacing what was there only once ``new`` is in place."""
    target.parent.mkdir(parents=True, exist_ok=True)
    old = None
    if target.exists():
        old = target.with_name(f".{target.name}.old-{os.getpid()}")
        os.replace(target, old)
        _stage("aside")
    try:
        os.replace(new, target)
    except OSError:
        if old is not None:
            os.replace(old, target)
        raise
    _stage("moved")
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
