"""What the audit reads: a set built in the cache, an exported folder, or a Parquet file.

Each is opened as a :class:`AuditInput` that yields Arrow batches of the columns the
audit needs, the images as ``{bytes, path}`` structs never decoded on the way: memory
holds one batch at a time, however large the set.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import datasets
import pyarrow as pa

from mmsafety.errors import InputError

REQUIRED = ("id", "image", "query", "label")
OPTIONAL = ("category", "subset")
REPO = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)?")


@dataclass
class AuditInput:
    """One set to audit."""

    target: str
    kind: str
    """``repo`` (built in the datasets cache), ``export`` (a folder of Parquet files) or ``parquet``."""
    num_rows: int
    columns: tuple[str, ...]
    """The columns read: :data:`REQUIRED`, then those of :data:`OPTIONAL` the set has."""
    label_names: list[str] | None
    """The label names when labels are stored as ``ClassLabel`` integers."""
    batches: Callable[[int], Iterator[pa.Table | pa.RecordBatch]]
    """``batches(batch_size)``: the columns, batch by batch."""


def open_input(target: str | Path) -> AuditInput:
    """Open ``target``: an existing path (Parquet file, or a folder) or a repo id built in the cache."""
    path = Path(target)
    if path.is_file():
        if path.suffix.lower() != ".parquet":
            raise InputError("expected a .parquet file, an exported folder or a repo id built in the cache", file=path)
        return _parquet(str(target), [path], kind="parquet")
    if path.is_dir():
        files = sorted((path / "data").rglob("*.parquet")) or sorted(path.rglob("*.parquet"))
        if files:
            return _parquet(str(target), files, kind="export")
        if (path / "state.json").is_file() or (path / "dataset_dict.json").is_file():
            loaded = datasets.load_from_disk(str(path))
            if isinstance(loaded, datasets.DatasetDict):
                loaded = loaded["test"] if "test" in loaded else next(iter(loaded.values()))
            return _dataset(str(target), loaded, kind="saved")
        raise InputError("expected an exported folder (data/*.parquet) or a folder written by save_to_disk, found neither", file=path)
    text = str(target)
    if not REPO.fullmatch(text):
        raise InputError("expected a repo id built in the cache (ORG/NAME), an exported folder or a .parquet file; found no such path", file=text)
    from mmsafety.data.catalog import load_benchmark

    return _dataset(text, load_benchmark(text), kind="repo")


def _columns(names: list[str], where: str) -> tuple[str, ...]:
    missing = [c for c in REQUIRED if c not in names]
    if missing:
        raise InputError(
            f"expected the columns {', '.join(REQUIRED)}, found no {', '.join(map(repr, missing))} among {', '.join(map(repr, names))}",
            file=where,
        )
    return (*REQUIRED, *(c for c in OPTIONAL if c in names))


def _label_names(features: datasets.Features | None) -> list[str] | None:
    feature = features.get("label") if features else None
    return list(feature.names) if isinstance(feature, datasets.ClassLabel) else None


def _dataset(target: str, dataset: datasets.Dataset, kind: str) -> AuditInput:
    columns = _columns(list(dataset.column_names), target)
    table = dataset.select_columns(list(columns)).with_format("arrow")

    def batches(size: int) -> Iterator[pa.Table]:
        yield from table.iter(batch_size=size)

    return AuditInput(target, kind, dataset.num_rows, columns, _label_names(dataset.features), batches)


def _parquet(target: str, files: list[Path], kind: str) -> AuditInput:
    import pyarrow.parquet as pq

    opened = []
    for file in files:
        try:
            # pre_buffer off: on, pyarrow keeps every column chunk it has read ahead, and
            # memory grows with the file instead of staying at one batch
            opened.append(pq.ParquetFile(file, pre_buffer=False))
        except Exception as error:  # pyarrow raises several kinds for a damaged or foreign file
            raise InputError(f"expected a readable Parquet file ({error})", file=file) from None
    schema = opened[0].schema_arrow
    columns = _columns(list(schema.names), str(files[0]))
    for file, handle in zip(files[1:], opened[1:]):
        _columns(list(handle.schema_arrow.names), str(file))
    features = None
    if schema.metadata and b"huggingface" in schema.metadata:
        try:
            features = datasets.Features.from_arrow_schema(schema)
        except Exception:  # metadata of another datasets version: read the plain values
            features = None

    def batches(size: int) -> Iterator[pa.RecordBatch]:
        for handle in opened:
            yield from handle.iter_batches(batch_size=size, columns=list(columns))

    rows = sum(handle.metadata.num_rows for handle in opened)
    return AuditInput(target, kind, rows, columns, _label_names(features), batches)
