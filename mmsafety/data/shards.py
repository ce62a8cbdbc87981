"""Writing a built dataset as the Parquet shards ``push_to_hub`` would upload.

The shards are named and cut as ``Dataset.push_to_hub`` cuts them
(``data/test-00000-of-00003.parquet``: ``int(bytes / max_shard_size) + 1`` shards
of consecutive rows), and written as a stream: record batches are read from the
built Arrow files one at a time (not memory-mapped, so the process never holds
more than a batch of images) and appended to one ``ParquetWriter`` per shard.

>>> shard_size_bytes("500MB"), shard_size_bytes("1GiB"), shard_size_bytes(1000)
(500000000, 1073741824, 1000)
>>> shard_bounds(10, 3)
[(0, 4), (4, 7), (7, 10)]
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import datasets
import pyarrow as pa
import pyarrow.parquet as pq
from datasets.utils.py_utils import convert_file_size_to_int

from mmsafety.errors import InputError
from mmsafety.schema import SPLIT

DEFAULT_MAX_SHARD_SIZE = datasets.config.MAX_SHARD_SIZE
"""``"500MB"``, as ``push_to_hub``."""
ROW_GROUP_ROWS = datasets.config.ARROW_RECORD_BATCH_SIZE_FOR_IMAGE_DATASETS
"""Rows per Parquet row group: the batch size ``datasets`` writes image datasets with (100)."""


def shard_size_bytes(max_shard_size: str | int) -> int:
    """``max_shard_size`` in bytes, read as ``push_to_hub`` reads it (``"500MB"``, ``"2GiB"``, an int)."""
    try:
        size = convert_file_size_to_int(max_shard_size)
    except (ValueError, TypeError):
        size = 0
    if isinstance(max_shard_size, bool) or not isinstance(size, int) or size <= 0:
        raise InputError(f"expected a size such as 500MB or 2GB, found {max_shard_size!r}", record="--max-shard-size")
    return size


def shard_count(nbytes: int, rows: int, max_bytes: int) -> int:
    """How many shards ``push_to_hub`` cuts ``nbytes`` of ``rows`` rows into (never an empty one)."""
    return max(1, min(rows, int(nbytes / max_bytes) + 1))


def shard_bounds(rows: int, shards: int) -> list[tuple[int, int]]:
    """``(start, end)`` of each shard: ``Dataset.shard(shards, i, contiguous=True)``'s rows."""
    div, mod = divmod(rows, shards)
    bounds = []
    for index in range(shards):
        start = div * index + min(index, mod)
        bounds.append((start, start + div + (1 if index < mod else 0)))
    return bounds


def shard_name(index: int, shards: int, split: str = SPLIT) -> str:
    return f"{split}-{index:05d}-of-{shards:05d}.parquet"


def write_shards(dataset: datasets.Dataset, folder: Path, max_bytes: int, split: str = SPLIT) -> list[Path]:
    """Write ``dataset`` as Parquet shards of at most about ``max_bytes`` into ``folder``; return their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    if dataset._indices is not None:  # a selection of rows: write it out in order first
        dataset = dataset.flatten_indices()
    schema = dataset.features.arrow_schema  # carries the datasets features, as to_parquet writes them
    shards = shard_count(dataset.data.nbytes, dataset.num_rows, max_bytes)
    batches = _row_groups(dataset, schema)
    pending: pa.RecordBatch | None = None
    paths = []
    for index, (start, end) in enumerate(shard_bounds(dataset.num_rows, shards)):
        path = folder / shard_name(index, shards, split)
        with pq.ParquetWriter(str(path), schema) as writer:
            left = end - start
            while left > 0:
                if pending is None:
                    pending = next(batches)
                piece, pending = (pending, None) if pending.num_rows <= left else (pending.slice(0, left), pending.slice(left))
                writer.write_table(pa.Table.from_batches([piece], schema=schema), row_group_size=ROW_GROUP_ROWS)
                left -= piece.num_rows
            if dataset.num_rows == 0:
                writer.write_table(schema.empty_table())
        paths.append(path)
    return paths


def _row_groups(dataset: datasets.Dataset, schema: pa.Schema) -> Iterator[pa.RecordBatch]:
    """The rows of ``dataset`` in order, in batches of at most :data:`ROW_GROUP_ROWS`, as ``schema``."""
    for batch in _batches(dataset):
        batch = pa.RecordBatch.from_arrays(batch.columns, schema=schema)
        for offset in range(0, batch.num_rows, ROW_GROUP_ROWS):
            yield batch.slice(offset, ROW_GROUP_ROWS)


def _batches(dataset: datasets.Dataset) -> Iterator[pa.RecordBatch]:
    """Record batches read from the dataset's Arrow files through ordinary reads (no memory map)."""
    files = [entry["filename"] for entry in dataset.cache_files]
    if not files:  # in memory: the table itself
        yield from dataset.with_format("arrow").data.table.to_batches(max_chunksize=ROW_GROUP_ROWS)
        return
    for filename in files:
        with pa.OSFile(filename, "rb") as handle:
            yield from pa.ipc.open_stream(handle)
