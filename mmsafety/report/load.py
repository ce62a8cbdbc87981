"""Reading verdict files into scored runs, grouped by benchmark.

:func:`load_safety_report` reads one verdicts file per run (as ``mmsafety judge`` writes
them), groups the files by the benchmark they judged, scores each under its benchmark's
policy (:func:`mmsafety.scoring.score`), and pairs runs judged on the same items
(:mod:`mmsafety.report.paired`): two models' sighted runs for the paired comparison, a
model's sighted and blind run (records with ``"blind": true``) for image dependence.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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
    records: list[dict[str, Any]]
    score: Score
    """The typed result of :func:`mmsafety.scoring.score` (``.rates[name]``, ``.by_category``)."""
    judges: list[str]
    coverage: Any = None
    """How much of the built set the file scores (:class:`~mmsafety.runs.checks.Coverage`), when it was checked."""

    @property
    def invalid_reasons(self) -> Counter[str]:
        return Counter(str(r.get("reason")) for r in self.records if r["verdict"] == "invalid")


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

    def name_files(self, names: Mapping[Path, Path]) -> None:
        """Show each verdicts file read from a staging path (a key of ``names``) as where it lands (its value)."""
        for results in self.benchmarks:
            for run in results.runs:
                if run.path in names:
                    run.label = run.label.replace(f"({run.path})", f"({names[run.path]})")
                    run.path = names[run.path]


def _file_benchmark(path: Path, records: list[dict[str, Any]], given: str | None) -> tuple[str, str]:
    """The benchmark (repo id) and version a verdicts file says it judged, checked against ``given``."""
    named = {(r.get("benchmark"), r.get("benchmark_version")) for r in records}
    named_benchmarks = {b for b, _ in named if b}
    if len(named_benchmarks) > 1:
        raise InputError(f"verdicts of several benchmarks in one file ({', '.join(sorted(named_benchmarks))}): expected one", file=path)
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
    versions = sorted({str(v) for b, v in named if v})
    return benchmark, versions[-1] if versions else ""


def _model(path: Path, records: list[dict[str, Any]]) -> str:
    models = sorted({str(r["model"]) for r in records if r.get("model")})
    if len(models) > 1:
        raise InputError(f"verdicts of several models in one file ({', '.join(models)}): expected one model per file", file=path)
    if models:
        return models[0]
    return path.parent.name if path.stem == "verdicts" and path.parent.name else path.stem


def _blind(path: Path, records: list[dict[str, Any]]) -> bool:
    """Whether the file is a blind run: every record ``"blind": true``, or none."""
    for number, record in enumerate(records, 1):
        value = record.get("blind", False)
        if not isinstance(value, bool):
            raise InputError(f'expected "blind" to be true or false, found {json.dumps(value)}', file=path, record=f"verdict {number}")
    flags = {bool(r.get("blind", False)) for r in records}
    if len(flags) > 1:
        raise InputError('verdicts of a blind and a sighted run in one file ("blind": true on some records only): '
                         "expected one run per file", file=path)
    return flags.pop()


def _judges(records: Iterable[dict[str, Any]]) -> list[str]:
    found: set[str] = set()
    for r in records:
        name = f"{r.get('judge', '?')} v{r.get('judge_version', '?')}"
        if r.get("judge_model"):
            name += f" ({r['judge_model']})"
        if r.get("heuristic"):
            name += ", a heuristic"
        found.add(name)
    return sorted(found)


def _score(path: Path, records: list[dict[str, Any]], policy: str, **settings: Any) -> Score:
    try:
        result = score(
            [r["verdict"] for r in records],
            [r["label"] for r in records],
            policy=policy,
            categories=[r["category"] for r in records],
            subsets=[r["subset"] for r in records],
            **settings,
        )
    except ValueError as error:
        raise InputError(f"cannot score under policy {policy!r}: {error}", file=path) from None
    return result


def _read(paths: Sequence[str | Path], given: str | None) -> list[tuple[Path, list[dict[str, Any]], str, str]]:
    from mmsafety.runs.files import read_verdicts

    seen: dict[Path, str] = {}
    loaded = []
    for raw in paths:
        path = Path(raw)
        resolved = path.resolve()
        if resolved in seen:
            raise InputError(f"given twice (also as {seen[resolved]}): expected one verdicts file per run", file=path)
        seen[resolved] = str(path)
        records = read_verdicts(path)
        name, version = _file_benchmark(path, records, given)
        loaded.append((path, records, name, version))
    return loaded


def built_queries(repo: str) -> Mapping[str, str]:
    """Each sample's query from the built set in the local datasets cache (``{}`` when not built)."""
    from mmsafety.errors import NotBuiltError
    from mmsafety.runs.samples import load_samples

    try:
        built = load_samples(repo)
    except (NotBuiltError, InputError):
        return {}
    return {sample_id: sample.query for sample_id, sample in built.samples.items()}


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
) -> SafetyReport:
    """Read, score and pair one verdicts file per run (see the module docstring).

    ``queries(repo)`` gives the queries of the items whose verdict flips without the image,
    for verdicts that do not carry them (default: the built set, :func:`built_queries`).
    ``coverage`` maps a verdicts file to its :class:`~mmsafety.runs.checks.Coverage` of the
    built set (as :func:`mmsafety.runs.checks.check_verdicts` gives it); the report shows it per run.

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
    groups: dict[str, list[tuple[Path, list[dict[str, Any]], str, str]]] = {}
    for entry in _read(paths, benchmark):
        groups.setdefault(entry[2], []).append(entry)
    results = []
    for repo, loaded in groups.items():
        chosen = policy or benchmarks.policy(repo)
        runs = []
        for path, records, _, _ in loaded:
            model, blind = _model(path, records), _blind(path, records)
            runs.append(RunResult(f"{model} (blind)" if blind else model, model, blind, path, records,
                                  _score(path, records, chosen, **settings), _judges(records)))
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
