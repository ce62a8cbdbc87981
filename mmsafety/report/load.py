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
from functools import cached_property, partial
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from mmsafety import benchmarks
from mmsafety.data.configs import DEFAULT_CONFIG
from mmsafety.errors import InputError
from mmsafety.report import DEFAULT_RESAMPLES
from mmsafety.report.rate_cells import headline
from mmsafety.runs.judged import judge_name
from mmsafety.scoring import Score, score
from mmsafety.scoring.policies import POLICY_NAMES, get_policy
from mmsafety.scoring.signals import refused_rates, withhold



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
    refused: dict[str, str] = field(default_factory=dict)
    """Rates its judge cannot give (:func:`mmsafety.scoring.signals.refused_rates`), each with why: left out of ``score``."""

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

    @property
    def label_str_disagreements(self) -> int:
        """VLSBench verdicts whose judge's ``label`` and ``label_str`` named two labels (``label`` counted, as in eval.py)."""
        return int(pc.sum(pc.fill_null(self.table.column("label_str_disagrees"), False).cast("int64")).as_py() or 0)

    @cached_property
    def named_model(self) -> str | None:
        """The model its records name (``None`` where they name none): runs of two named models are never one run."""
        models = _distinct(self.table, "model")
        return str(models[0]) if models else None

    @property
    def human(self) -> bool:
        """Whether people labelled it (``judge: "human"``, :mod:`mmsafety.runs.human`)."""
        from mmsafety.runs.human import HUMAN_JUDGE

        return bool(pc.any(pc.equal(self.table.column("judge"), HUMAN_JUDGE)).as_py())


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
    config: str = "default"
    """The configuration the runs judged (``load_dataset(repo, config)``)."""
    comparisons: list[Any] = field(default_factory=list)
    """:class:`~mmsafety.report.paired.PairedComparison` of every two sighted runs on shared items."""
    image_dependence: list[Any] = field(default_factory=list)
    """:class:`~mmsafety.report.paired.ImageDependence` of every model with a sighted and a blind run."""
    judged_runs: list[Any] = field(default_factory=list)
    """:class:`~mmsafety.report.judges.JudgedRun` of every run judged by several judges or labelled by people."""

    @property
    def name(self) -> str:
        """The short name: ``salad`` for ``mmsafety/salad``, else the repo id."""
        return benchmarks.short_name(self.benchmark)

    @property
    def key(self) -> str:
        """The benchmark and its configuration: ``mmsafety/mmsafeaware`` (default), ``mmsafety/mmsafeaware:full``."""
        return self.benchmark if self.config == DEFAULT_CONFIG else f"{self.benchmark}:{self.config}"

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

    def name_files(self, names: Mapping[Path, Path]) -> None:
        """Show each verdicts file read from a staging path (a key of ``names``) as where it lands (its value)."""
        for results in self.benchmarks:
            for run in [*results.runs, *(file for judged in results.judged_runs for file in judged.files if file not in results.runs)]:
                if run.path in names:
                    run.label = run.label.replace(f"({run.path})", f"({names[run.path]})")
                    run.path = names[run.path]


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
    columns = ["judge", "judge_version", "judge_model", "guard", "judge_sees", "heuristic"]
    for row in table.select(columns).group_by(columns).aggregate([]).to_pylist():
        name = f"{row['judge'] or '?'} v{row['judge_version'] or '?'}"
        if row["judge_model"]:
            name += f" ({row['judge_model']})"
        if row["guard"]:
            name += f", {row['guard']}"
        if row["judge_sees"] == "text":
            name += ", did not see the image"
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


def _config(path: Path, table: pa.Table) -> str:
    """The configuration a verdicts file judged (one per file; ``default`` where records name none)."""
    named = sorted(set(pc.fill_null(table.column("benchmark_config"), DEFAULT_CONFIG).unique().to_pylist()) - {""} or {DEFAULT_CONFIG})
    if len(named) > 1:
        raise InputError(f"verdicts of several configurations in one file ({', '.join(named)}): expected one", file=path)
    return named[0]


def _read(paths: Sequence[str | Path], given: str | None, tables: Mapping[Path, pa.Table]) -> list[tuple[Path, pa.Table, str, str]]:
    from mmsafety.runs.files import read_verdicts
    from mmsafety.runs.human import HUMAN_JUDGE, check_human
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
        if pc.any(pc.equal(table.column("judge"), HUMAN_JUDGE)).as_py():  # people's labels of a sample: their own fields checked
            check_human(path, read_verdicts(path))
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


def built_queries(repo: str, config: str = DEFAULT_CONFIG) -> Mapping[str, str]:
    """Each sample's query from the built set (configuration ``config``) in the local datasets cache
    (empty when not built), read from its Arrow columns, not as one Python object per sample."""
    from mmsafety.data.catalog import load_benchmark
    from mmsafety.errors import NotBuiltError

    try:
        dataset = load_benchmark(repo, config=config)
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
    calibration: Sequence[str | Path] = (),
) -> SafetyReport:
    """Read, score and pair one verdicts file per run (see the module docstring).

    ``queries(repo)`` gives the queries of the items whose verdict flips without the image,
    for verdicts that do not carry them (default: the built set, :func:`built_queries`).
    ``coverage`` maps a verdicts file to its :class:`~mmsafety.runs.checks.Coverage` of the
    built set (as :func:`mmsafety.runs.checks.check_verdicts` gives it); the report shows it per run.
    ``tables`` maps a verdicts file to its verdicts already read in columns (the checked table of
    :func:`~mmsafety.runs.checks.check_verdicts`), so that a checked file is not read twice.
    ``calibration``: human verdict files (:mod:`mmsafety.runs.human`), each labelling a sample of
    one run given; they are not runs of their own, but join that run in the Judges section
    (:mod:`mmsafety.report.judges`), which corrects its rates by them.

    Raises :class:`~mmsafety.errors.InputError` for no files, a file given twice, an empty or
    malformed file, a file of several models or benchmarks, or verdicts that do not say their
    benchmark when ``benchmark`` is not given.
    """
    from mmsafety.report.judges import judged_runs, label_judges, same_group
    from mmsafety.report.paired import compare_runs, image_dependence

    if not paths:
        raise InputError("expected at least one verdicts file")
    if policy is not None and policy not in POLICY_NAMES:
        raise InputError(f"unknown policy {policy!r}: expected one of {', '.join(POLICY_NAMES)}")
    if isinstance(resamples, bool) or not isinstance(resamples, int) or resamples < 1:
        raise InputError(f"expected a number of bootstrap resamples >= 1, found {resamples!r}")
    settings = {"invalid": invalid, "confidence": confidence}
    groups: dict[tuple[str, str], list[tuple[Path, pa.Table, str, str]]] = {}
    known = {Path(path).resolve(): table for path, table in (tables or {}).items()}
    for entry in _read(paths, benchmark, known):
        groups.setdefault((entry[2], _config(entry[0], entry[1])), []).append(entry)
    humans = _calibration(calibration, paths, benchmark, known)
    results = []
    for (repo, config), loaded in groups.items():
        chosen = policy or benchmarks.policy(repo)
        runs = []
        for path, table, _, _ in loaded:
            model, blind = _model(path, table), _blind(path, table)
            refused = refused_rates(get_policy(chosen), pc.unique(table.column("judge_signals")).to_pylist())
            runs.append(RunResult(f"{model} (blind)" if blind else model, model, blind, path, table,
                                  withhold(_score(path, table, chosen, **settings), refused), _judges(table), refused=refused))
        label_judges(runs)
        counts = Counter(run.label for run in runs)
        for run in runs:
            if counts[run.label] > 1:
                run.label = f"{run.label} ({run.path})"
        registered = benchmarks.get(repo)
        versions = sorted({version for *_, version in loaded if version})
        result = BenchmarkResults(repo, ", ".join(versions), chosen, runs, registered.published() if registered else None, config=config)
        result.comparisons = [c for c in compare_runs(result, invalid=invalid, confidence=confidence, resamples=resamples, seed=seed)
                              if not same_group(result, c.first, c.second)]
        calibrating = []
        for path, table, name, _ in humans:
            if name == repo:
                human = RunResult("", _model(path, table), _blind(path, table), path, table, _score(path, table, chosen, **settings), _judges(table))
                human.label = f"{human.model} · {judge_name(human.records)}"
                calibrating.append(human)
        result.judged_runs = judged_runs(result, calibrating, invalid=invalid, confidence=confidence, resamples=resamples, seed=seed)
        for human in calibrating:
            if not any(human in judged.files for judged in result.judged_runs):
                raise InputError(f"labels responses of no run given ({human.model}: no verdicts file of {repo} has the same "
                                 "response_sha256 on the ids it labels): expected a sample of one of the runs", file=human.path)
        result.image_dependence = image_dependence(result, invalid=invalid, confidence=confidence, resamples=resamples,
                                                   seed=seed, queries=queries or partial(built_queries, config=config))
        results.append(result)
    for path, _, name, _ in humans:
        if name not in {repo for repo, _ in groups}:
            raise InputError(f"labels responses judged on {name}, and no verdicts file given judged it: expected a sample of one of the runs", file=path)
    return add_coverage(SafetyReport(results, invalid, confidence, resamples), coverage or {})


def _calibration(paths: Sequence[str | Path], runs: Sequence[str | Path], given: str | None,
                 tables: Mapping[Path, pa.Table]) -> list[tuple[Path, pa.Table, str, str]]:
    """The human files given with ``--calibration``, read and checked (a human file's fields too)."""
    from mmsafety.runs.human import HUMAN_JUDGE

    if not paths:
        return []
    given_runs = {Path(run).resolve(): str(run) for run in runs}
    for path in paths:
        if Path(path).resolve() in given_runs:
            raise InputError(f"given as a run too ({given_runs[Path(path).resolve()]}): expected a human file as a run or "
                             "with --calibration, not both", file=path)
    loaded = _read(paths, given, tables)
    for path, table, _, _ in loaded:
        if not pc.any(pc.equal(table.column("judge"), HUMAN_JUDGE)).as_py():
            raise InputError('expected a human verdict file (judge "human", as `mmsafety label` writes it) for --calibration', file=path)
    return loaded


def add_coverage(report: SafetyReport, coverage: Mapping[str | Path, Any]) -> SafetyReport:
    """Give each run of ``report`` its verdicts file's coverage of the built set (``coverage``:
    file -> :class:`~mmsafety.runs.checks.Coverage`, as :func:`~mmsafety.runs.checks.check_verdicts`
    gives it); runs of other files keep theirs. Returns ``report``."""
    covered = {Path(path).resolve(): value for path, value in coverage.items()}
    for results in report.benchmarks:
        for run in results.runs:
            run.coverage = covered.get(run.path.resolve(), run.coverage)
    return report
