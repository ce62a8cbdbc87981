"""Writing a built dataset as the Parquet shards ``push_to_hub`` would upload.

The shards are named and cut as ``Dataset.push_to_hub`` cuts them
(``data/test-00000-of-00003.parquet``: ``int(bytes / max_shard_size) + 1`` shards
of consecutive rows), and written as a stream: record batches are read from the
built Arrow files one at a time (not memory-mapped, so the process never holds
more than a row group of images) and appended to one ``ParquetWriter`` per shard,
with the options ``Dataset.to_parquet`` writes with.

>>> shard_size_bytes("500MB"), shard_size_bytes("1GiB"), shard_size_bytes(1000)
(500000000, 1073741824, 1000)
>>> shard_bounds(10, 3)
[(0, 4), (4, 7), (7, 10)]
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import datasets
import pyarrow as pa
import pyarrow.parquet as pq
from datasets.arrow_writer import get_parquet_column_options, get_writer_batch_size_from_data_size, get_writer_batch_size_from_features
from datasets.utils.py_utils import convert_file_size_to_int

from mmsafety.errors import InputError
from mmsafety.schema import SPLIT

DEFAULT_MAX_SHARD_SIZE = datasets.config.MAX_SHARD_SIZE
"""``"500MB"``, as ``push_to_hub``."""


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
    """Write ``dataset`` as Parquet shards of at most about ``max_bytes`` into ``folder``; return their paths.

    The files are written with the options ``Dataset.to_parquet`` uses (image bytes
    stored plain and uncompressed, content-defined chunking, a page index, row groups
    of about 100 MB), so they are what ``push_to_hub`` would upload.
    """
    folder.mkdir(parents=True, exist_ok=True)
    if dataset._indices is not None:  # a selection of rows: write it out in order first
        dataset = dataset.flatten_indices()
    schema = dataset.features.arrow_schema  # carries the datasets features, as to_parquet writes them
    nbytes = dataset.data.nbytes
    shards = shard_count(nbytes, dataset.num_rows, max_bytes)
    group_rows = get_writer_batch_size_from_features(dataset.features) or get_writer_batch_size_from_data_size(dataset.num_rows, nbytes)
    options = {
        "use_content_defined_chunking": datasets.config.DEFAULT_CDC_OPTIONS,
        "write_page_index": True,
        **get_parquet_column_options(dataset.features, schema),
    }
    stream = _batches(dataset, schema)
    pending: pa.RecordBatch | None = None
    paths = []
    for index, (start, end) in enumerate(shard_bounds(dataset.num_rows, shards)):
        path = folder / shard_name(index, shards, split)
        with pq.ParquetWriter(str(path), schema, **options) as writer:
            left = end - start
            while left > 0:
                pieces, need = [], min(group_rows, left)
                while need > 0:
                    if pending is None:
                        pending = next(stream)
                    take = min(need, pending.num_rows)
                    pieces.append(pending.slice(0, take))
                    pending = pending.slice(take) if take < pending.num_rows else None
                    need -= take
                group = pa.Table.from_batches(pieces, schema=schema)
                writer.write_table(group, row_group_size=group.num_rows)
                left -= group.num_rows
            if dataset.num_rows == 0:
                writer.write_table(schema.empty_table())
            writer.add_key_value_metadata({"content_defined_chunking": json.dumps(datasets.config.DEFAULT_CDC_OPTIONS)})
        paths.append(path)
    return paths


def _batches(dataset: datasets.Dataset, schema: pa.Schema) -> Iterator[pa.RecordBatch]:
    """The rows of ``dataset`` in order, as record batches of ``schema`` read from its Arrow files
    through ordinary reads (a memory map would count every page read in the process's memory)."""
    files = [entry["filename"] for entry in dataset.cache_files]
    if not files:  # in memory: the table itself
        batches: Iterator[pa.RecordBatch] = iter(dataset.data.table.to_batches())
        yield from (pa.RecordBatch.from_arrays(b.columns, schema=schema) for b in batches if b.num_rows)
        return
    for filename in files:
        with pa.OSFile(filename, "rb") as handle:
            for batch in pa.ipc.open_stream(handle):
                if batch.num_rows:
                    yield pa.RecordBatch.from_arrays(batch.columns, schema=schema)
