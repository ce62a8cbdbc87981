"""A verdicts file checked against the built set it claims to judge.

:func:`check_verdicts` reads a verdicts file in columns (:mod:`mmsafety.runs.verdict_table`)
and refuses it, naming the line, when

- a record names another benchmark than the one asked for (its ``benchmark`` field; records
  without one, written by other tools, are taken to judge the named set);
- a record names another configuration than the one asked for (its ``benchmark_config``
  field; records without one judged ``default``), or the file mixes configurations;
- an id is not in the built set;
- a record's ``label``, ``category`` or ``subset`` is not the built set's for its id (the first
  such record is named): scores are computed from the set's own labels, not the file's.

What it returns says how much of the set the file covers (:class:`Coverage`). A set that is
not built is bad input naming the build command (:class:`~mmsafety.errors.NotBuiltError`);
nothing is skipped silently.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mmsafety import benchmarks
from mmsafety.data.configs import CONFIG_FIELD, DEFAULT_CONFIG, check_config, described
from mmsafety.errors import InputError
from mmsafety.runs.verdict_table import line_of, read_verdict_table, refuse

CHECKED_FIELDS = ("label", "category", "subset")
"""The fields of a verdict that must be the built set's for its id."""


@dataclass(frozen=True)
class Coverage:
    """How many of a set's items a verdicts file scores.

    >>> Coverage(scored=10, total=1446).text()
    'scored 10 of 1,446 items (1,436 missing)'
    >>> Coverage(scored=3, total=3).to_dict()
    {'scored': 3, 'total': 3, 'missing': 0, 'complete': True}
    """

    scored: int
    total: int

    @property
    def missing(self) -> int:
        return self.total - self.scored

    @property
    def complete(self) -> bool:
        return self.missing == 0

    def text(self) -> str:
        return f"scored {self.scored:,} of {self.total:,} items" + ("" if self.complete else f" ({self.missing:,} missing)")

    def to_dict(self) -> dict[str, Any]:
        return {"scored": self.scored, "total": self.total, "missing": self.missing, "complete": self.complete}


@dataclass(frozen=True)
class CheckedVerdicts:
    """A verdicts file that passed :func:`check_verdicts`."""

    path: Path
    name: str
    """The benchmark as named (``salad``, or a repo id)."""
    repo: str
    """Its repo id (``mmsafety/salad``)."""
    version: str
    """The built set's version."""
    table: pa.Table
    """The verdicts in columns (:data:`~mmsafety.runs.verdict_table.VERDICT_SCHEMA`), in file order."""
    coverage: Coverage
    config: str = DEFAULT_CONFIG
    """The configuration of the built set checked against (the one the verdicts judged)."""


def _first(mask: pa.ChunkedArray | pa.Array) -> int | None:
    """The first row where ``mask`` is true, or ``None``."""
    rows = pc.indices_nonzero(pc.fill_null(mask, False))
    return rows[0].as_py() if len(rows) else None


def _where(path: Path, row: int, sample_id: str | None = None) -> str:
    line = f"line {line_of(path, row)}"
    return f"{line} (id {sample_id})" if sample_id is not None else line


def _repo(value: str) -> str:
    try:
        return benchmarks.repo_id(value)
    except InputError:
        return value


def named_benchmark(path: str | Path, table: pa.Table, given: str | None) -> str:
    """The benchmark the verdicts are checked against: ``given``, else the one their records name
    (records that name none are taken to judge it; records that name another are refused)."""
    path = Path(path)
    column = table.column("benchmark")
    named = [value for value in pc.drop_null(column).unique().to_pylist()]
    if given is None and not named:
        raise InputError(
            'the verdicts do not say which benchmark they judged (no "benchmark" field: written by another tool?): '
            "name it on the command line (--benchmark NAME)",
            file=path,
        )
    expected = benchmarks.repo_id(given) if given is not None else _repo(named[0])
    for value in named:
        if _repo(value) != expected:
            row = _first(pc.equal(column, value))
            assert row is not None
            said = "as the command line says" if given is not None else "as its first record says"
            raise InputError(
                f"the record judged benchmark {value}, not {expected} {said}: expected verdicts of one benchmark",
                file=path,
                record=_where(path, row),
            )
    return given if given is not None else benchmarks.short_name(expected)


def named_config(path: str | Path, table: pa.Table, name: str, given: str | None) -> str:
    """The configuration the verdicts are checked against: the one their records name (``default``
    for records that name none), refused when ``given`` (``--config``) names another or the
    records name several."""
    path = Path(path)
    column = pc.fill_null(table.column(CONFIG_FIELD), DEFAULT_CONFIG)
    named = column.unique().to_pylist()
    judged = named[0] if named else check_config(name, given)
    if len(named) > 1:
        row = _first(pc.not_equal(column, judged))
        assert row is not None
        raise InputError(
            f"the record judged configuration {column[row].as_py()!r}, the first record {judged!r}: expected verdicts of one configuration",
            file=path,
            record=_where(path, row),
        )
    if given is not None and given != judged:
        repo = benchmarks.repo_id(name)
        raise InputError(
            f"these verdicts judged {described(repo, judged)}, not {described(repo, given)} as --config says: "
            f"expected verdicts of configuration {given!r} (judge them with --config {given}, or score them with --config {judged})",
            file=path,
        )
    return check_config(name, judged)


def built_columns(name: str, config: str = DEFAULT_CONFIG) -> tuple[pa.Table, str]:
    """The built set's ``id``, ``label`` (as names), ``category`` and ``subset`` columns, and its
    version: copied out of the cached Arrow file in one chunk each, so that the file's memory map
    is released when this returns."""
    from mmsafety.data.catalog import load_benchmark

    dataset = load_benchmark(name, config=config)
    version = str(dataset.info.version) if dataset.info.version is not None else ""
    if dataset._indices is None:  # the cached Arrow file as it is: only these columns are read
        table = dataset.data.table.select(["id", *CHECKED_FIELDS])
    else:
        table = dataset.with_format("arrow", columns=["id", *CHECKED_FIELDS])[:]
    label = table.column("label").combine_chunks()
    names = getattr(dataset.features["label"], "names", None)
    if names is not None and pa.types.is_integer(label.type):
        label = pa.array(names, pa.string()).take(label)
    columns = {
        "id": pc.cast(table.column("id").combine_chunks(), pa.string()),
        "label": pc.cast(label, pa.string()),
        "category": pc.fill_null(pc.cast(table.column("category").combine_chunks(), pa.string()), ""),
        "subset": pc.fill_null(pc.cast(table.column("subset").combine_chunks(), pa.string()), ""),
    }
    del dataset, table
    return pa.table(columns), version


def check_verdicts(path: str | Path, name: str | None, config: str | None = None) -> CheckedVerdicts:
    """Read ``path`` and check it against the built set ``name`` (``None``: the one its records
    name) in configuration ``config`` (``None``: the one its records name, ``default`` when they
    name none), as the module docstring says; raises :class:`~mmsafety.errors.InputError` naming
    the file and line."""
    path = Path(path)
    table = read_verdict_table(path, unique=False)  # unique ids: checked below, from their places in the set
    name = named_benchmark(path, table, name)  # verdicts of another benchmark: refused before its set is read
    config = named_config(path, table, name, config)
    built, version = built_columns(name, config)
    repo = benchmarks.repo_id(name)
    ids = table.column("id")
    positions = _positions(ids, built.column("id"))
    if positions is None:  # the file's ids in the set's order, from its first item: no search needed
        expected = {field: built.column(field).slice(0, table.num_rows) for field in CHECKED_FIELDS}
    else:
        unknown = _first(pc.is_null(positions))
        if unknown is not None:
            sample_id = ids[unknown].as_py()
            raise InputError(
                f"id {sample_id!r} is not in {described(repo, config)} (built, {built.num_rows:,} items): expected ids of the set",
                file=path,
                record=_where(path, unknown),
            )
        if np.bincount(positions.to_numpy(), minlength=built.num_rows).max(initial=0) > 1:
            refuse(path)  # names the line of the repeated id
        expected = {field: built.column(field).take(positions) for field in CHECKED_FIELDS}
    for field in CHECKED_FIELDS:
        row = _first(pc.not_equal(table.column(field), expected[field]))
        if row is not None:
            raise InputError(
                f"{field} {table.column(field)[row].as_py()!r}, but the built {repo} {version} has {field} "
                f"{expected[field][row].as_py()!r} for this id: expected the set's label, category and subset "
                "(was the file edited, or judged against another version?)",
                file=path,
                record=_where(path, row, ids[row].as_py()),
            )
    return CheckedVerdicts(path, name, repo, version, table, Coverage(scored=table.num_rows, total=built.num_rows), config)


def _positions(ids: pa.ChunkedArray, built_ids: pa.ChunkedArray) -> pa.Array | None:
    """Where each id is in the set (null where it is not), or ``None`` when the ids are the set's
    first ids in its order (a run over the set, whole or cut short)."""
    if len(ids) <= len(built_ids) and pc.all(pc.equal(ids, built_ids.slice(0, len(ids)))).as_py() is not False:
        return None
    return pc.index_in(ids, value_set=built_ids).combine_chunks() if isinstance(ids, pa.ChunkedArray) else pc.index_in(ids, value_set=built_ids)
