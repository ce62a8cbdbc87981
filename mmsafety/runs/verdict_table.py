"""Reading a verdicts file in columns.

:func:`read_verdict_table` reads a verdicts JSONL file with ``pyarrow.json`` into an Arrow
table of the fields scoring and checking need (:data:`VERDICT_SCHEMA`; other fields are
allowed and skipped), at the speed of Arrow's reader and without a Python object per line.
:func:`mmsafety.runs.files.read_verdicts` is the one judge of the format: when the fast read
fails, gives other than one row per line (an object spread over lines or two on one line,
which Arrow takes and the line reader refuses; a blank line), or what it read breaks a rule of
the format (a missing field, an unknown verdict or label, a repeated id), the file is read
again line by line by it, whose errors name the line and column; a file it accepts (integer
ids, say) is then taken from its records.

>>> import tempfile, os
>>> path = os.path.join(tempfile.mkdtemp(), "v.jsonl")
>>> _ = open(path, "w").write('{"id": "1", "verdict": "safe", "label": "unsafe", "category": "", "subset": "", "raw": [1]}\\n')
>>> read_verdict_table(path).column("verdict").to_pylist()
['safe']
"""

from __future__ import annotations

import mmap
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pa_json

from mmsafety.data.jsonfiles import load_jsonl
from mmsafety.labels import LABELS, VERDICTS
from mmsafety.runs.files import REQUIRED_VERDICT_FIELDS as REQUIRED
from mmsafety.runs.files import VERDICT_FLAGS
from mmsafety.runs.files import read_verdicts
OPTIONAL = ("benchmark", "benchmark_version", "benchmark_config", "judge", "judge_version", "judge_model", "model", "reason", "judge_signals",
            "judge_sees", "guard", "labeller", "query")
"""Fields read when present (null where a line has none; ``query``: verdicts of other tools may carry
the sample's text, which a report shows for items whose verdict changes without the image)."""
FLAGS = VERDICT_FLAGS
"""True-or-false fields read when present (null where a line has none)."""
VERDICT_SCHEMA = pa.schema([(name, pa.string()) for name in REQUIRED + OPTIONAL] + [(name, pa.bool_()) for name in FLAGS])
"""The columns of a verdict table: every field is text but the flags."""

CHUNK_SIZE = 64 << 20
"""Bytes of the file parsed at once: memory stays near the table's size, not the file's."""
BLOCK_SIZE = 8 << 20
"""Bytes per block Arrow parses on one thread (a long ``raw`` answer must fit in one block)."""


def read_verdict_table(path: str | Path, *, unique: bool = True) -> pa.Table:
    """The verdicts of ``path`` as a table with the columns of :data:`VERDICT_SCHEMA`, one row
    per non-blank line, in file order. Bad input is an :class:`~mmsafety.errors.InputError`
    naming the file and the line (from :func:`~mmsafety.runs.files.read_verdicts`).

    ``unique=False`` leaves out the check that ids are unique, for a caller that checks it
    another way (and calls :func:`refuse` when they are not)."""
    table = _fast_read(Path(path))
    if table is not None and _follows_the_format(table, unique=unique):
        return table
    return table_from_records(refuse(path))


def refuse(path: str | Path) -> list[dict[str, Any]]:
    """Read ``path`` line by line, raising the :class:`~mmsafety.errors.InputError` that names
    the line of its first fault (its records when it has none)."""
    return read_verdicts(path)


def _parse(data: pa.Buffer) -> pa.Table:
    options = pa_json.ParseOptions(explicit_schema=VERDICT_SCHEMA, unexpected_field_behavior="ignore")
    return pa_json.read_json(pa.BufferReader(data), read_options=pa_json.ReadOptions(block_size=BLOCK_SIZE), parse_options=options)


def _fast_read(path: Path) -> pa.Table | None:
    """The file parsed by Arrow in chunks cut at line ends, or ``None`` when Arrow cannot read it
    or reads other than one row per line.

    The file is memory-mapped and each chunk handed to Arrow without a copy; the pages of a
    chunk are released once it is parsed, so memory holds the table and about one chunk."""
    tables = []
    lines = 0
    try:
        with open(path, "rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
            whole = pa.py_buffer(mapped)
            start, size = 0, len(mapped)
            while start < size:
                end = mapped.find(b"\n", min(start + CHUNK_SIZE, size) - 1)
                end = size if end < 0 else end + 1
                tables.append(_parse(whole.slice(start, end - start)))
                lines += _lines(mapped, start, end)
                _release(mapped, start, end)
                start = end
            del whole
    except (pa.ArrowException, OSError, ValueError, BufferError):
        return None
    if not tables or sum(table.num_rows for table in tables) != lines:
        return None
    return pa.concat_tables(tables)


def _lines(mapped: mmap.mmap, start: int, end: int) -> int:
    """The lines between ``start`` and ``end`` of ``mapped`` (the last may lack its newline),
    counted a block at a time."""
    count = 0
    for first in range(start, end, BLOCK_SIZE):
        view = np.frombuffer(mapped, dtype=np.uint8, count=min(BLOCK_SIZE, end - first), offset=first)
        count += int(np.count_nonzero(view == 0x0A))
        del view
    return count + (end > start and mapped[end - 1] != 0x0A)


def _release(mapped: mmap.mmap, start: int, end: int) -> None:
    """Drop the pages of ``mapped`` between ``start`` and ``end`` from this process's memory."""
    if hasattr(mmap, "MADV_DONTNEED"):
        first = start - start % mmap.PAGESIZE
        mapped.madvise(mmap.MADV_DONTNEED, first, (end - first) // mmap.PAGESIZE * mmap.PAGESIZE)


def _follows_the_format(table: pa.Table, *, unique: bool = True) -> bool:
    """Whether the rules :func:`~mmsafety.runs.files.read_verdicts` checks hold (if not, it names the line)."""
    if table.num_rows == 0:
        return False
    for name in REQUIRED:
        if table.column(name).null_count:
            return False
    ids = table.column("id")
    if pc.any(pc.equal(pc.utf8_length(ids), 0)).as_py():
        return False
    for name, allowed in (("verdict", VERDICTS), ("label", LABELS)):
        if not pc.all(pc.is_in(table.column(name), value_set=pa.array(allowed))).as_py():
            return False
    return not unique or pc.count_distinct(ids).as_py() == table.num_rows


def _text(value: Any) -> str | None:
    return None if value is None else value if isinstance(value, str) else str(value)


def table_from_records(records: Iterable[Mapping[str, Any]]) -> pa.Table:
    """A verdict table from verdict records (dicts as the verdicts file holds them; the flags
    true, false or absent, as :func:`~mmsafety.runs.files.read_verdicts` checks them)."""
    columns: dict[str, list[Any]] = {name: [] for name in VERDICT_SCHEMA.names}
    for record in records:
        for name, column in columns.items():
            column.append(record.get(name) if name in FLAGS else _text(record.get(name)))
    return pa.table(columns, schema=VERDICT_SCHEMA)


def line_of(path: str | Path, row: int) -> int:
    """The line of ``path`` that row ``row`` of its verdict table was read from (blank lines
    are skipped by both readers)."""
    for index, (number, _) in enumerate(load_jsonl(path)):
        if index == row:
            return number
    raise IndexError(f"{path} has no row {row}")
