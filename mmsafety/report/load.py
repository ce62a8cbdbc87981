"""Reading verdict files into scored runs, grouped by benchmark.

:func:`load_safety_report` reads one verdicts file per run (as ``mmsafety judge`` writes
them), groups the files by the benchmark they judged, scores each under its benchmark's
policy (:func:`mmsafety.scoring.score`), and pairs runs judged on the same items
(:mod:`mmsafety.report.paired`): two models' sighted runs for the paired comparison, a
model's sighted and blind run (records with ``"blind": true``) for image dependence.

A run is held in columns (an Arrow table of the fields a report reads, as ``mmsafety score``
reads a file: :func:`mmsafety.runs.verdict_table.read_verdict_table`), never as a Python
object per verdict: a report of three models' million verdicts costs about what scoring
them does. :attr:`RunResult.records` reads the whole records of a file on first use only.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from mmsafety import benchmarks
from mmsafety.errors import InputError
from mmsafety.report.rates import headline
from mmsafety.scoring import Score, score
from mmsafety.scoring.policies import POLICY_NAMES

DEFAULT_RESAMPLES = 2000
"""Resamples of the paired bootstrap."""


@dataclass
class RunResult:
    """One verdicts file: one model's run on one benchmark, sighted or blind, and its score."""

    label: str
    model: str
    blind: bool
    path: Path
    table: pa.Table
    """The verdicts in columns, in file order (:data:`~mmsafety.runs.verdict_table.VERDICT_SCHEMA`)."""
    score: Score
    """The typed result of :func:`mmsafety.scoring.score` (``.rates[name]``, ``.by_category``)."""
    judges: list[str]
    coverage: Any = None
    """How much of the built set the file scores (:class:`~mmsafety.runs.checks.Coverage`), when it was checked."""

    @cached_property
    def records(self) -> list[dict[str, Any]]:
        """Every record of the file with all its fields (read on first use: a report needs only :attr:`table`)."""
        from mmsafety.runs.files import read_verdicts

        return read_verdicts(self.path)

    @property
    def invalid_reasons(self) -> Counter[str]:
        reasons = self.table.filter(pc.equal(self.table.column("verdict"), "invalid")).column("reason")
        counts = pc.value_counts(reasons.combine_chunks()) if len(reasons) else []
        return Counter({str(item["values"].as_py()): item["counts"].as_py() for item in counts})


@dataclass
class BenchmarkResults:
    """The runs of one benchmark, scored under one policy, and what pairs them."""

    benchmark: str
    """The benchmark's repo id (``mmsafety/salad``, ``org/custom-set``)."""
    version: str
    policy: str
    runs: list[RunResult]
    published: dict[str, Any] | None = None
    """The paper's published rows (``benchmarks.get(repo).published()``), if it has them."""
    comparisons: list[Any] = field(default_factory=list)
    """:class:`~mmsafety.report.paired.PairedComparison` of every two sighted runs on shared items."""
    image_dependence: list[Any] = field(default_factory=list)
    """:class:`~mmsafety.report.paired.ImageDependence` of every model with a sighted and a blind run."""

    @property
    def name(self) -> str:
        """The short name: ``salad`` for ``mmsafety/salad``, else the repo id."""
        return benchmarks.short_name(self.benchmark)

    @property
    def headline(self) -> tuple[str, ...]:
        """The policy's headline rates that at least one run has a value for (empty ones left out)."""
        return tuple(n for n in headline(self.policy) if any(_has(run.score, n) for run in self.runs))


def _has(result: Score, name: str) -> bool:
    rate = result.rates.get(name)
    return rate is not None and rate.value is not None


@dataclass
class SafetyReport:
    """Every benchmark's runs, and the settings they were scored with."""

    benchmarks: list[BenchmarkResults]
    invalid: str = "exclude"
    confidence: float = 0.95
    resamples: int = DEFAULT_RESAMPLES


def _distinct(table: pa.Table, name: str) -> list[Any]:
    """The distinct non-null values of a column, sorted."""
    return sorted(pc.drop_null(pc.unique(table.column(name))).to_pylist())


def _file_benchmark(path: Path, table: pa.Table, given: str | None) -> tuple[str, str]:
    """The benchmark (repo id) and version a verdicts file says it judged, checked against ``given``."""
    named_benchmarks = [b for b in _distinct(table, "benchmark") if b]
    if len(named_benchmarks) > 1:
        raise InputError(f"verdicts of several benchmarks in one file ({', '.join(named_benchmarks)}): expected one", file=path)
    if not named_benchmarks:
        if given is None:
            raise InputError(
                'the verdicts do not say which benchmark they judged (no "benchmark" field: written by another tool '
                "or an older mmsafety?): pass --benchmark NAME",
                file=path,
            )
        return benchmarks.repo_id(given), ""
    (benchmark,) = named_benchmarks
    if given is not None and benchmarks.repo_id(given) != benchmark:
        raise InputError(f"these verdicts judged {benchmark}, not {benchmarks.repo_id(given)} (--benchmark)", file=path)
    versions = [str(v) for v in _distinct(table, "benchmark_version") if v]
    return benchmark, versions[-1] if versions else ""


def _model(path: Path, table: pa.Table) -> str:
    models = [str(m) for m in _distinct(table, "model") if m]
    if len(models) > 1:
        raise InputError(f"verdicts of several models in one file ({', '.join(models)}): expected one model per file", file=path)
    if models:
        return models[0]
    return path.parent.name if path.stem == "verdicts" and path.parent.name else path.stem


def _blind(path: Path, table: pa.Table) -> bool:
    """Whether the file is a blind run: every record ``"blind": true``, or none (the format's reader
    refuses a ``blind`` that is not true or false, naming the line)."""
    flags = {bool(flag) for flag in pc.unique(table.column("blind")).to_pylist()}
    if len(flags) > 1:
        raise InputError('verdicts of a blind and a sighted run in one file ("blind": true on some records only): '
                         "expected one run per file", file=path)
    return flags.pop()


def _judges(table: pa.Table) -> list[str]:
    found: set[str] = set()
    columns = ["judge", "judge_version", "judge_model", "heuristic"]
    for row in table.select(columns).group_by(columns).aggregate([]).to_pylist():
        name = f"{row['judge'] or '?'} v{row['judge_version'] or '?'}"
        if row["judge_model"]:
            name += f" ({row['judge_model']})"
        if row["heuristic"]:
            name += ", a heuristic"
        found.add(name)
    return sorted(found)


def _score(path: Path, table: pa.Table, policy: str, **settings: Any) -> Score:
    try:
        result = score(
            table.column("verdict"),
            table.column("label"),
            policy=policy,
            categories=table.column("category"),
            subsets=table.column("subset"),
            **settings,
        )
    except ValueError as error:
        raise InputError(f"cannot score under policy {policy!r}: {error}", file=path) from None
    return result


def _read(paths: Sequence[str | Path], given: str | None, tables: Mapping[Path, pa.Table]) -> list[tuple[Path, pa.Table, str, str]]:
    from mmsafety.runs.verdict_table import read_verdict_table

    seen: dict[Path, str] = {}
    loaded = []
    for raw in paths:
        path = Path(raw)
        resolved = path.resolve()
        if resolved in seen:
            raise InputError(f"given twice (also as {seen[resolved]}): expected one verdicts file per run", file=path)
        seen[resolved] = str(path)
        table = tables.get(resolved)
        if table is None:
            table = read_verdict_table(path)
        name, version = _file_benchmark(path, table, given)
        loaded.append((path, table, name, version))
    return loaded


class _Column(Mapping[str, str]):
    """A read-only ``{id: value}`` over two Arrow columns, looked up in place (a report asks a few ids)."""

    def __init__(self, ids: pa.Array, values: pa.Array) -> None:
        self._ids, self._values = ids, values

    def __getitem__(self, key: str) -> str:
        index = pc.index(self._ids, key).as_py()
        if index < 0:
            raise KeyError(key)
        return str(self._values[index].as_py() or "")

    def __iter__(self) -> Any:
        return iter(self._ids.to_pylist())

    def __len__(self) -> int:
        return len(self._ids)


def built_queries(repo: str) -> Mapping[str, str]:
    """Each sample's query from the built set in the local datasets cache (empty when not built),
    read from its Arrow columns, not as one Python object per sample."""
    from mmsafety.data.catalog import load_benchmark
    from mmsafety.errors import NotBuiltError

    try:
        dataset = load_benchmark(repo)
    except (NotBuiltError, InputError):
        return {}
    table = dataset.with_format("arrow", columns=["id", "query"])[:]
    return _Column(pc.cast(table.column("id").combine_chunks(), pa.string()), table.column("query").combine_chunks())


def load_safety_report(
    paths: Sequence[str | Path],
    *,
    benchmark: str | None = None,
    policy: str | None = None,
    invalid: str = "exclude",
    confidence: float = 0.95,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    queries: Callable[[str], Mapping[str, str]] | None = None,
    coverage: Mapping[str | Path, Any] | None = None,
    tables: Mapping[str | Path, pa.Table] | None = None,
) -> SafetyReport:
    """Read, score and pair one verdicts file per run (see the module docstring).

    ``queries(repo)`` gives the queries of the items whose verdict flips without the image,
    for verdicts that do not carry them (default: the built set, :func:`built_queries`).
    ``coverage`` maps a verdicts file to its :class:`~mmsafety.runs.checks.Coverage` of the
    built set (as :func:`mmsafety.runs.checks.check_verdicts` gives it); the report shows it per run.
    ``tables`` maps a verdicts file to its verdicts already read in columns (the checked table of
    :func:`~mmsafety.runs.checks.check_verdicts`), so that a checked file is not read twice.

    Raises :class:`~mmsafety.errors.InputError` for no files, a file given twice, an empty or
    malformed file, a file of several models or benchmarks, or verdicts that do not say their
    benchmark when ``benchmark`` is not given.
    """
    from mmsafety.report.paired import compare_runs, image_dependence

    if not paths:
        raise InputError("expected at least one verdicts file")
    if policy is not None and policy not in POLICY_NAMES:
        raise InputError(f"unknown policy {policy!r}: expected one of {', '.join(POLICY_NAMES)}")
    if isinstance(resamples, bool) or not isinstance(resamples, int) or resamples < 1:
        raise InputError(f"expected a number of bootstrap resamples >= 1, found {resamples!r}")
    settings = {"invalid": invalid, "confidence": confidence}
    groups: dict[str, list[tuple[Path, pa.Table, str, str]]] = {}
    known = {Path(path).resolve(): table for path, table in (tables or {}).items()}
    for entry in _read(paths, benchmark, known):
        groups.setdefault(entry[2], []).append(entry)
    results = []
    for repo, loaded in groups.items():
        chosen = policy or benchmarks.policy(repo)
        runs = []
        for path, table, _, _ in loaded:
            model, blind = _model(path, table), _blind(path, table)
            runs.append(RunResult(f"{model} (blind)" if blind else model, model, blind, path, table,
                                  _score(path, table, chosen, **settings), _judges(table)))
        counts = Counter(run.label for run in runs)
        for run in runs:
            if counts[run.label] > 1:
                run.label = f"{run.label} ({run.path})"
        registered = benchmarks.get(repo)
        versions = sorted({version for *_, version in loaded if version})
        result = BenchmarkResults(repo, ", ".join(versions), chosen, runs, registered.published() if registered else None)
        result.comparisons = compare_runs(result, invalid=invalid, confidence=confidence, resamples=resamples, seed=seed)
        result.image_dependence = image_dependence(result, invalid=invalid, confidence=confidence, resamples=resamples,
                                                   seed=seed, queries=queries or built_queries)
        results.append(result)
    return add_coverage(SafetyReport(results, invalid, confidence, resamples), coverage or {})


def add_coverage(report: SafetyReport, coverage: Mapping[str | Path, Any]) -> SafetyReport:
    """Give each run of ``report`` its verdicts file's coverage of the built set (``coverage``:
    file -> :class:`~mmsafety.runs.checks.Coverage`, as :func:`~mmsafety.runs.checks.check_verdicts`
    gives it); runs of other files keep theirs. Returns ``report``."""
    covered = {Path(path).resolve(): value for path, value in coverage.items()}
    for results in report.benchmarks:
        for run in results.runs:
            run.coverage = covered.get(run.path.resolve(), run.coverage)
    return report
