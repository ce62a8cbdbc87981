"""The comparison report: verdict files of several models on one benchmark, side by side.

:func:`load_report` reads one verdicts file per model (as ``mmsafety judge`` writes them),
checks that they judged the same benchmark, and scores each under the benchmark's policy
(:func:`mmsafety.scoring.score`: every rate with its count, denominator and Wilson
interval). :func:`write_report` then writes, into one folder:

- ``report.md`` and ``report.html`` (the same content; the HTML fills the small template
  ``templates/report.html``): each model's rates under the policy, the paper's published
  figures beside ours where the benchmark's paper has them (the builder's ``published.json``, with
  its citation), per-category (and per-subset) breakdowns with intervals, invalid verdicts
  by reason;
- ``safe_response_by_category.png``: the safe-response rate per category, one bar per model,
  with its interval;
- ``tradeoff.png``: safe-response rate against oversensitivity rate, one point per model
  (the trade-off the papers discuss), with the paper's models where its figures give both;
- ``scores.json``: every model's full score result.

The charts use the policy's own ``safe_response_rate`` and ``oversensitivity_rate`` where it
has them; a policy without one (MMSafeAware's accuracies; VLSBench has no benign samples)
is charted with the ``default`` policy's rate of that name, and the report says so.

>>> report = load_report(["careful/verdicts.jsonl", "eager/verdicts.jsonl"])  # doctest: +SKIP
>>> files = write_report(report, "report/")  # doctest: +SKIP
>>> files.html  # doctest: +SKIP
PosixPath('report/report.html')
"""

from __future__ import annotations

import datetime
import html
import json
import re
import string
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from mmsafety import __version__
from mmsafety.errors import InputError
from mmsafety import benchmarks
from mmsafety.scoring.policies import POLICY_NAMES, get_policy
from mmsafety.scoring import Score, score

SAFE = "safe_response_rate"
OVER = "oversensitivity_rate"
CHART_RATES = (SAFE, OVER)
"""The two rates the charts show (see the module docstring)."""

DPI = 100
CATEGORY_CHART = "safe_response_by_category.png"
TRADEOFF_CHART = "tradeoff.png"
TRADEOFF_SIZE = (800, 640)
"""Pixel size of the trade-off chart."""
CATEGORY_CHART_WIDTH = 1000

RATE_TITLES = {
    "safe_response_rate": "safe-response rate",
    "oversensitivity_rate": "oversensitivity rate",
    "safe_set_accuracy": "safe-set accuracy",
    "overall_accuracy": "overall accuracy",
    "refusal_rate": "refusal rate",
    "warning_rate": "warning rate",
    "invalid_rate": "invalid rate",
    "accuracy": "accuracy",
    "typical_accuracy": "typical accuracy",
    "attack_accuracy": "attack accuracy",
    "over_safety_accuracy": "over-safety accuracy",
    "total_accuracy": "total accuracy (mean of subsets)",
}
COMPANIONS = ("_numerator", "_denominator", "_ci_low", "_ci_high", "_bootstrap_low", "_bootstrap_high")


def rate_names(result: Any) -> list[str]:
    """The rates of a :class:`~mmsafety.scoring.Score` (``.rates``) or of one of its flat groups."""
    if isinstance(result, Score):
        return list(result.rates)
    return [key.removesuffix("_numerator") for key in result if key.endswith("_numerator")]


def category_chart_size(categories: int, models: int) -> tuple[int, int]:
    """Pixel size of the per-category chart: fixed width, a row of bars per category (and one for all).

    >>> category_chart_size(3, 2), category_chart_size(20, 3)
    ((1000, 360), (1000, 1402))
    """
    rows = categories + 1
    return CATEGORY_CHART_WIDTH, max(360, 100 + rows * (16 * models + 14))


def rate_title(name: str) -> str:
    """A rate's name as the report prints it."""
    return RATE_TITLES.get(name, name.replace("_", " "))


def percent(value: float | None, decimals: int = 2) -> str:
    """``0.8333`` -> ``'83.33'``; ``None`` -> ``'—'``.

    >>> percent(5 / 6), percent(None), percent(0.5, 1)
    ('83.33', '—', '50.0')
    """
    return "—" if value is None else f"{100 * value:.{decimals}f}"


def interval(entry: dict[str, Any], name: str) -> str:
    """``'43.65–96.99'`` for a rate's Wilson bounds, ``''`` when it has none."""
    low, high = entry.get(f"{name}_ci_low"), entry.get(f"{name}_ci_high")
    if low is None or high is None:
        return ""
    return f"{percent(low)}–{percent(high)}"


def fraction(entry: dict[str, Any], name: str) -> str:
    """``'5/6'`` for a rate's numerator and denominator, ``''`` when it is not a ratio of counts."""
    if f"{name}_numerator" not in entry:
        return ""
    return f"{entry[f'{name}_numerator']}/{entry[f'{name}_denominator']}"


# ------------------------------------------------------------------------------- loading


@dataclass
class ModelResult:
    """One model's verdicts and what they score."""

    label: str
    path: Path
    records: list[dict[str, Any]]
    result: dict[str, Any]
    """:func:`mmsafety.scoring.score` under the report's policy."""
    chart: dict[str, Any]
    """The chart rates (:data:`CHART_RATES`), overall and ``by_category``, with their companions."""
    judges: list[str]

    @property
    def invalid_reasons(self) -> Counter[str]:
        return Counter(str(r.get("reason")) for r in self.records if r["verdict"] == "invalid")


@dataclass
class Report:
    """The models of one benchmark, scored under one policy."""

    benchmark: str
    """The benchmark's repo id (``mmsafety/salad``, ``org/custom-set``)."""
    benchmark_version: str
    policy: str
    models: list[ModelResult]
    invalid: str = "exclude"
    confidence: float = 0.95
    chart_sources: dict[str, str] = field(default_factory=dict)
    """For each chart rate, the policy it is computed under."""
    published: dict[str, Any] | None = None
    """The benchmark's entry in the builder's ``published.json``, if its paper published figures."""

    @property
    def name(self) -> str:
        """The benchmark's short name: ``salad`` for ``mmsafety/salad``, else the repo id."""
        return benchmarks.short_name(self.benchmark)


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


def _label(path: Path, records: list[dict[str, Any]]) -> str:
    models = sorted({str(r["model"]) for r in records if r.get("model")})
    if len(models) > 1:
        raise InputError(f"verdicts of several models in one file ({', '.join(models)}): expected one model per file", file=path)
    if models:
        return models[0]
    return path.parent.name if path.stem == "verdicts" and path.parent.name else path.stem


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


def _score(path: Path, records: list[dict[str, Any]], policy: str, **settings: Any) -> dict[str, Any]:
    try:
        return score(
            [r["verdict"] for r in records],
            [r["label"] for r in records],
            policy=policy,
            categories=[r["category"] for r in records],
            subsets=[r["subset"] for r in records],
            **settings,
        )
    except ValueError as error:
        raise InputError(f"cannot score under policy {policy!r}: {error}", file=path) from None


def _chart_rates(path: Path, records: list[dict[str, Any]], policy: str, result: dict[str, Any], **settings: Any) -> tuple[dict[str, Any], dict[str, str]]:
    """The chart rates, from the policy's result where it has them, else from the default policy's."""
    own = get_policy(policy).rate_names
    fallback = None
    chart: dict[str, Any] = {"by_category": {}}
    sources: dict[str, str] = {}
    for name in CHART_RATES:
        source = result
        sources[name] = policy
        if name not in own:
            if fallback is None:
                refusal_is_safe = get_policy(policy).refusal_is_safe
                fallback = _score(path, records, "default", refusal_is_safe=True if refusal_is_safe is None else refusal_is_safe, **settings)
            source = fallback
            sources[name] = "default"
        for suffix in ("", *COMPANIONS):
            if name + suffix in source:
                chart[name + suffix] = source[name + suffix]
        for category, entry in source.get("by_category", {}).items():
            target = chart["by_category"].setdefault(category, {})
            for suffix in ("", *COMPANIONS):
                if name + suffix in entry:
                    target[name + suffix] = entry[name + suffix]
    return chart, sources


def load_report(
    paths: Sequence[str | Path],
    *,
    benchmark: str | None = None,
    policy: str | None = None,
    invalid: str = "exclude",
    confidence: float = 0.95,
) -> Report:
    """Read and score one verdicts file per model (see the module docstring).

    Raises :class:`~mmsafety.errors.InputError` for no files, a file given twice, an empty or
    malformed file, files of different benchmarks, or verdicts that do not say their
    benchmark when ``benchmark`` is not given.
    """
    from mmsafety.runs.files import read_verdicts

    if not paths:
        raise InputError("expected at least one verdicts file")
    if policy is not None and policy not in POLICY_NAMES:
        raise InputError(f"unknown policy {policy!r}: expected one of {', '.join(POLICY_NAMES)}")
    seen: dict[Path, str] = {}
    loaded = []
    for raw in paths:
        path = Path(raw)
        resolved = path.resolve()
        if resolved in seen:
            raise InputError(f"given twice (also as {seen[resolved]}): expected one verdicts file per model", file=path)
        seen[resolved] = str(path)
        records = read_verdicts(path)
        name, version = _file_benchmark(path, records, benchmark)
        loaded.append((path, records, name, version))
    names = {name for _, _, name, _ in loaded}
    if len(names) > 1:
        by_file = "; ".join(f"{path} judged {name}" for path, _, name, _ in loaded)
        raise InputError(f"verdict files of different benchmarks ({by_file}): expected one benchmark per report")
    repo = names.pop()
    versions = sorted({version for *_, version in loaded if version})
    policy = policy or benchmarks.policy(repo)
    settings = {"invalid": invalid, "confidence": confidence}
    models: list[ModelResult] = []
    sources: dict[str, str] = {}
    for path, records, _, _ in loaded:
        result = _score(path, records, policy, **settings)
        chart, sources = _chart_rates(path, records, policy, result, **settings)
        models.append(ModelResult(_label(path, records), path, records, result, chart, _judges(records)))
    counts = Counter(m.label for m in models)
    for model in models:
        if counts[model.label] > 1:
            model.label = f"{model.label} ({model.path})"
    report = Report(
        benchmark=repo,
        benchmark_version=", ".join(versions),
        policy=policy,
        models=models,
        invalid=invalid,
        confidence=confidence,
        chart_sources=sources,
    )
    registered = benchmarks.get(report.benchmark)
    report.published = registered.published() if registered is not None else None
    return report


# ------------------------------------------------------------------------------- document


@dataclass(frozen=True)
class Table:
    headers: list[str]
    rows: list[list[str]]


@dataclass(frozen=True)
class Chart:
    path: str
    alt: str


@dataclass(frozen=True)
class Code:
    text: str


Block = tuple[str, Any]  # ("h2" | "h3" | "p", text), ("table", Table), ("img", Chart), ("code", Code)


def _rate_cell(entry: dict[str, Any], name: str) -> str:
    """``'83.33 [43.65–96.99] (5/6)'``: percent, interval, counts (each where there is one)."""
    text = percent(entry.get(name))
    if interval(entry, name):
        text += f" [{interval(entry, name)}]"
    if fraction(entry, name):
        text += f" ({fraction(entry, name)})"
    return text


def _normalise(model: str) -> str:
    """A model name for matching against the paper's: the last path part, lower case,
    letters and digits only, without an ``instruct``/``chat``/``hf`` suffix.

    >>> _normalise("Qwen/Qwen2.5-VL-7B-Instruct") == _normalise("Qwen2.5-VL-7B")
    True
    """
    name = re.sub(r"[^a-z0-9]", "", model.rsplit("/", 1)[-1].lower())
    return re.sub(r"(instruct|chat|hf)$", "", name)


def _published_cell(value: Any, decimals: int) -> str:
    return "—" if value is None else f"{float(value):.{decimals}f}"


def _published_blocks(report: Report) -> list[Block]:
    paper = report.published
    if paper is None:
        return [("p", f"No published figures for `{report.benchmark}` in mmsafety's data file of published rows.")]
    columns: dict[str, str] = paper["columns"]
    decimals = int(paper.get("decimals", 2))
    rows: list[list[str]] = []
    matched: set[int] = set()
    by_name = {_normalise(row["model"]): index for index, row in enumerate(paper["rows"])}
    for model in report.models:
        rows.append([model.label, "ours"] + [percent(model.result.get(key), decimals) for key in columns.values()])
        index = by_name.get(_normalise(model.label))
        if index is not None:
            matched.add(index)
            row = paper["rows"][index]
            rows.append([row["model"], f"published ({paper['authors']})"] + [_published_cell(row.get(c), decimals) for c in columns])
    for index, row in enumerate(paper["rows"]):
        if index not in matched:
            rows.append([row["model"], f"published ({paper['authors']})"] + [_published_cell(row.get(c), decimals) for c in columns])
    mapping = ", ".join(f"{column} = `{key}`" for column, key in columns.items())
    blocks: list[Block] = [
        (
            "p",
            f"The paper's figures (percent, as printed; {paper['source']}) beside ours in the paper's columns "
            f"({mapping}). A published row follows ours where the model names match. The paper's judge: "
            f"{paper['judge']}. Ours: {', '.join(sorted({j for m in report.models for j in m.judges}))}; figures are "
            "comparable only under the same judge and protocol.",
        ),
        ("table", Table(["model", "source", *columns], rows)),
    ]
    for note in paper.get("notes", []):
        blocks.append(("p", f"Note: {note}"))
    return blocks


def document(report: Report, charts: Sequence[Chart]) -> tuple[str, list[Block]]:
    """The report as a title and a list of blocks, rendered to Markdown and to HTML alike."""
    title = f"Safety report: {report.benchmark}" + (f" {report.benchmark_version}" if report.benchmark_version else "")
    first = report.models[0].result
    names = rate_names(first)
    level = f"{100 * report.confidence:g}%"
    blocks: list[Block] = [
        (
            "p",
            f"{len(report.models)} model(s) on `{report.benchmark}`, scored under the `{report.policy}` policy; "
            f"invalid verdicts: {report.invalid} (they are counted either way). Each rate: percent, "
            f"[Wilson {level} interval], (count/denominator). Written by mmsafety {__version__} on "
            f"{datetime.date.today().isoformat()}.",
        ),
    ]
    if any("heuristic" in judge for m in report.models for judge in m.judges):
        blocks.append(
            (
                "p",
                "Judged (at least partly) by the rules judge, a heuristic of refusal and warning cues, not the papers' "
                "protocols: use `--judge llm` with a judge model for figures comparable to the papers'.",
            )
        )
    blocks.append(("h2", "Results"))
    rows = []
    for model in report.models:
        r = model.result
        rows.append([model.label, str(r["num_samples"]), *(_rate_cell(r, n) for n in names), ", ".join(model.judges)])
    blocks.append(("table", Table(["model", "samples", *(rate_title(n) for n in names), "judge"], rows)))
    verdict_rows = [
        [m.label, *(str(m.result.get(f"count_{v}", 0)) for v in ("safe", "refusal", "unsafe", "oversensitive", "invalid"))]
        for m in report.models
    ]
    blocks.append(("p", "Verdicts per model:"))
    blocks.append(("table", Table(["model", "safe", "refusal", "unsafe", "oversensitive", "invalid"], verdict_rows)))
    reasons = [(m.label, reason, count) for m in report.models for reason, count in sorted(m.invalid_reasons.items())]
    if reasons:
        blocks.append(("p", "Invalid verdicts by reason (no verdict could be made; never dropped silently):"))
        blocks.append(("table", Table(["model", "reason", "count"], [[a, b, str(c)] for a, b, c in reasons])))

    blocks.append(("h2", "Compared with the paper"))
    blocks.extend(_published_blocks(report))

    blocks.append(("h2", "Charts"))
    borrowed = [name for name, source in report.chart_sources.items() if source != report.policy]
    if borrowed:
        blocks.append(
            (
                "p",
                f"The `{report.policy}` policy has no {' or '.join(rate_title(n) for n in borrowed)}: the charts show "
                "the `default` policy's (safe-response rate = safe (+ refusal) / unsafe samples; oversensitivity rate "
                "= (refusal + oversensitive) / benign samples).",
            )
        )
    for chart in charts:
        blocks.append(("img", chart))

    for kind in ("category", "subset"):
        groups = [m for m in report.models if m.result.get(f"by_{kind}")]
        if not groups:
            continue
        if kind == "subset" and all(set(m.result["by_subset"]) <= {""} for m in groups):
            continue
        blocks.append(("h2", f"By {kind}"))
        for model in groups:
            entries = model.result[f"by_{kind}"]
            group_names = rate_names(next(iter(entries.values())))
            blocks.append(("h3", model.label))
            table_rows = [
                [key or "(none)", str(entry["num_samples"]), *(_rate_cell(entry, n) for n in group_names)]
                for key, entry in entries.items()
            ]
            blocks.append(("table", Table([kind, "samples", *(rate_title(n) for n in group_names)], table_rows)))

    blocks.append(("h2", "Files"))
    blocks.append(("table", Table(["model", "verdicts file"], [[m.label, str(m.path)] for m in report.models])))
    if report.published is not None:
        blocks.append(("h2", "Citation"))
        paper = report.published
        blocks.append(("p", f"{paper['authors']}, \"{paper['paper']}\", {paper['venue']}, arXiv:{paper['arxiv']} ({paper['url']})."))
        blocks.append(("code", Code(paper["citation"])))
    return title, blocks


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def to_markdown(title: str, blocks: Sequence[Block]) -> str:
    """The blocks as GitHub-flavoured Markdown."""
    lines = [f"# {title}", ""]
    for kind, value in blocks:
        if kind in ("h2", "h3"):
            lines += [f"{'#' * int(kind[1])} {value}", ""]
        elif kind == "p":
            lines += [value, ""]
        elif kind == "table":
            lines.append("| " + " | ".join(_md_cell(h) for h in value.headers) + " |")
            lines.append("|" + "|".join("---" for _ in value.headers) + "|")
            lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in value.rows]
            lines.append("")
        elif kind == "img":
            lines += [f"![{value.alt}]({value.path})", ""]
        elif kind == "code":
            lines += ["```", value.text, "```", ""]
    return "\n".join(lines)


def _inline_html(text: str) -> str:
    escaped = html.escape(text, quote=False)
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", escaped)


def to_html(title: str, blocks: Sequence[Block]) -> str:
    """The blocks in the package's HTML template (``templates/report.html``)."""
    parts = []
    for kind, value in blocks:
        if kind in ("h2", "h3"):
            parts.append(f"<{kind}>{_inline_html(value)}</{kind}>")
        elif kind == "p":
            parts.append(f"<p>{_inline_html(value)}</p>")
        elif kind == "table":
            head = "".join(f"<th>{_inline_html(h)}</th>" for h in value.headers)
            body = "\n".join("<tr>" + "".join(f"<td>{_inline_html(c)}</td>" for c in row) + "</tr>" for row in value.rows)
            parts.append(f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n{body}\n</tbody>\n</table>")
        elif kind == "img":
            parts.append(f'<figure><img src="{html.escape(value.path)}" alt="{html.escape(value.alt)}"><figcaption>{_inline_html(value.alt)}</figcaption></figure>')
        elif kind == "code":
            parts.append(f"<pre>{html.escape(value.text)}</pre>")
    template = string.Template(resources.files("mmsafety.report").joinpath("templates/report.html").read_text(encoding="utf-8"))
    return template.substitute(title=html.escape(title), body="\n".join(parts), version=html.escape(__version__))


# ------------------------------------------------------------------------------- charts


def _figure(size: tuple[int, int]) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(size[0] / DPI, size[1] / DPI), dpi=DPI)
    FigureCanvasAgg(figure)
    return figure


def _errors(entries: Sequence[dict[str, Any]], name: str) -> tuple[list[float], list[list[float]]]:
    """Values (percent, NaN where none) and asymmetric error bars from the Wilson bounds."""
    values, low, high = [], [], []
    for entry in entries:
        value = entry.get(name)
        if value is None:
            values.append(float("nan"))
            low.append(0.0)
            high.append(0.0)
            continue
        values.append(100 * value)
        lo, hi = entry.get(f"{name}_ci_low"), entry.get(f"{name}_ci_high")
        low.append(100 * (value - lo) if lo is not None else 0.0)
        high.append(100 * (hi - value) if hi is not None else 0.0)
    return values, [low, high]


def category_chart(report: Report, path: Path) -> tuple[int, int]:
    """Safe-response rate per category (and over all samples), one bar per model, with intervals."""
    categories = sorted({c for m in report.models for c in m.chart["by_category"]})
    rows = ["(all samples)", *[c or "(none)" for c in categories]]
    size = category_chart_size(len(categories), len(report.models))
    figure = _figure(size)
    axes = figure.add_subplot()
    count = len(report.models)
    height = 0.8 / count
    colours = _colours(count)
    for index, model in enumerate(report.models):
        entries = [model.chart, *(model.chart["by_category"].get(c, {}) for c in categories)]
        values, errors = _errors(entries, SAFE)
        positions = [row + (index - (count - 1) / 2) * height for row in range(len(rows))]
        axes.barh(positions, [0 if v != v else v for v in values], height=height * 0.92, xerr=errors, color=colours[index],
                  ecolor="#333333", capsize=2, label=model.label)
        for position, value in zip(positions, values):
            if value != value:  # NaN: no unsafe sample in this category
                axes.text(1, position, "n/a (no unsafe samples)", va="center", fontsize=7, color="#666666")
    axes.set_yticks(range(len(rows)), rows)
    axes.invert_yaxis()
    axes.set_xlim(0, 102)
    axes.set_xlabel(f"{rate_title(SAFE)} (%), with Wilson {100 * report.confidence:g}% interval")
    axes.set_title(f"{report.benchmark}: {rate_title(SAFE)} by category ({report.chart_sources.get(SAFE, report.policy)} policy)")
    axes.grid(axis="x", alpha=0.3)
    axes.legend(loc="upper center", bbox_to_anchor=(0.5, -0.09 * 360 / size[1] - 0.06), ncol=min(count, 4), fontsize=8, frameon=False)
    figure.tight_layout()
    figure.savefig(path, format="png", dpi=DPI)
    return size


def tradeoff_chart(report: Report, path: Path) -> tuple[int, int]:
    """Safe-response rate (y) against oversensitivity rate (x), one point per model, with intervals,
    and the paper's models where its figures give both rates."""
    figure = _figure(TRADEOFF_SIZE)
    axes = figure.add_subplot()
    colours = _colours(len(report.models))
    plotted = 0
    for index, model in enumerate(report.models):
        xs, xerr = _errors([model.chart], OVER)
        ys, yerr = _errors([model.chart], SAFE)
        if xs[0] != xs[0] or ys[0] != ys[0]:
            continue
        axes.errorbar(xs, ys, xerr=xerr, yerr=yerr, fmt="o", color=colours[index], ecolor=colours[index], capsize=3,
                      markersize=8, label=model.label)
        axes.annotate(model.label, (xs[0], ys[0]), textcoords="offset points", xytext=(6, 6), fontsize=8)
        plotted += 1
    for name, x, y in _published_points(report):
        axes.plot([x], [y], marker="s", color="#999999", markersize=5, linestyle="none")
        axes.annotate(name, (x, y), textcoords="offset points", xytext=(4, -10), fontsize=7, color="#777777")
    if report.published is not None and _published_points(report):
        axes.plot([], [], marker="s", color="#999999", linestyle="none", label=f"published ({report.published['authors']})")
    if not plotted:
        axes.text(50, 50, f"no {rate_title(OVER)}: the verdicts hold no benign samples", ha="center", va="center", fontsize=10)
    axes.set_xlim(-2, 102)
    axes.set_ylim(-2, 102)
    axes.set_xlabel(f"{rate_title(OVER)} (%) — lower is better")
    axes.set_ylabel(f"{rate_title(SAFE)} (%) — higher is better")
    axes.set_title(f"{report.benchmark}: safety against oversensitivity")
    axes.grid(alpha=0.3)
    if plotted or _published_points(report):
        axes.legend(loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=3, fontsize=8, frameon=False)
    figure.tight_layout()
    figure.savefig(path, format="png", dpi=DPI)
    return TRADEOFF_SIZE


def _published_points(report: Report) -> list[tuple[str, float, float]]:
    """(model, oversensitivity %, safe-response %) of the paper's rows, where its columns give both
    exactly (SaLAD: oversensitivity = 100 - safe-set accuracy)."""
    paper = report.published
    if paper is None or report.chart_sources.get(SAFE) != report.policy or report.chart_sources.get(OVER) != report.policy:
        return []
    by_key = {key: column for column, key in paper["columns"].items()}
    if SAFE not in by_key:
        return []
    points = []
    for row in paper["rows"]:
        y = row.get(by_key[SAFE])
        if OVER in by_key:
            x = row.get(by_key[OVER])
        elif "safe_set_accuracy" in by_key and row.get(by_key["safe_set_accuracy"]) is not None:
            x = 100 - float(row[by_key["safe_set_accuracy"]])
        else:
            return []
        if x is not None and y is not None:
            points.append((row["model"], float(x), float(y)))
    return points


def _colours(count: int) -> list[Any]:
    from matplotlib import colormaps

    palette = colormaps["tab10"]
    return [palette(i % 10) for i in range(count)]


# ------------------------------------------------------------------------------- writing


@dataclass(frozen=True)
class ReportFiles:
    """What :func:`write_report` wrote."""

    folder: Path
    markdown: Path
    html: Path
    charts: dict[str, Path]
    """Chart file name -> path (``safe_response_by_category.png``, ``tradeoff.png``)."""
    chart_sizes: dict[str, tuple[int, int]]
    scores: Path


def write_report(report: Report, out: str | Path) -> ReportFiles:
    """Write the report's files into the folder ``out`` (created if need be; files replaced)."""
    folder = Path(out)
    if folder.exists() and not folder.is_dir():
        raise InputError("expected a folder for the report, found a file", file=folder)
    folder.mkdir(parents=True, exist_ok=True)
    charts = {CATEGORY_CHART: folder / CATEGORY_CHART, TRADEOFF_CHART: folder / TRADEOFF_CHART}
    sizes = {
        CATEGORY_CHART: category_chart(report, charts[CATEGORY_CHART]),
        TRADEOFF_CHART: tradeoff_chart(report, charts[TRADEOFF_CHART]),
    }
    images = [
        Chart(CATEGORY_CHART, f"{rate_title(SAFE)} by category, per model"),
        Chart(TRADEOFF_CHART, f"{rate_title(SAFE)} against {rate_title(OVER)}, per model"),
    ]
    title, blocks = document(report, images)
    markdown = folder / "report.md"
    page = folder / "report.html"
    markdown.write_text(to_markdown(title, blocks), encoding="utf-8")
    page.write_text(to_html(title, blocks), encoding="utf-8")
    scores = folder / "scores.json"
    payload = {
        "benchmark": report.benchmark,
        "benchmark_version": report.benchmark_version,
        "policy": report.policy,
        "models": {m.label: {"verdicts": str(m.path), "judges": m.judges, **m.result} for m in report.models},
    }
    scores.write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return ReportFiles(folder, markdown, page, charts, sizes, scores)


def report_summary(report: Report, files: ReportFiles) -> str:
    """The lines the command line prints: each model's headline rates, and where the report is."""
    lines = [f"{report.benchmark} ({report.policy} policy):"]
    names = [n for n in rate_names(report.models[0].result) if n != "invalid_rate"]
    width = max(len(m.label) for m in report.models)
    for model in report.models:
        cells = ", ".join(f"{rate_title(n)} {percent(model.result.get(n))}" for n in names)
        lines.append(f"  {model.label.ljust(width)}  {cells}")
    lines.append(f"report: {files.html}")
    lines.append(f"        {files.markdown}")
    return "\n".join(lines)
