"""The report as a document: a title and a list of blocks, rendered by :mod:`mmsafety.report.render`.

:func:`build_document` lays out one section per benchmark (a summary table of every model
on every benchmark first, when there are several): each run's rates under the policy, its
verdicts (every verdict of :data:`mmsafety.labels.VERDICTS`), the paper's published rows
beside ours, the paired comparison of models, image dependence (sighted against blind),
the charts, and per-category and per-subset breakdowns.
"""

from __future__ import annotations

import datetime
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

from mmsafety import __version__
from mmsafety.data.configs import described
from mmsafety.labels import VERDICTS
from mmsafety.report.load import BenchmarkResults, SafetyReport
from mmsafety.report.paired import ImageDependence, PairedRate
from mmsafety.report.rate_cells import rate_title


@dataclass(frozen=True)
class Heading:
    level: int
    text: str


@dataclass(frozen=True)
class Paragraph:
    text: str


@dataclass(frozen=True)
class Table:
    headers: list[str]
    rows: list[list[str]]


@dataclass(frozen=True)
class Figure:
    """A chart: its files by format (``png``, ``svg``, ``pdf``) and its caption."""

    alt: str
    files: dict[str, Path] = field(default_factory=dict)


@dataclass(frozen=True)
class Code:
    text: str


Block = Union[Heading, Paragraph, Table, Figure, Code]


@dataclass(frozen=True)
class Document:
    title: str
    blocks: list[Block]


# ------------------------------------------------------------------------------ cells


def percent(value: float | None, decimals: int = 2) -> str:
    """``0.8333`` -> ``'83.33'``; ``None`` -> ``'—'``.

    >>> percent(5 / 6), percent(None), percent(0.5, 1)
    ('83.33', '—', '50.0')
    """
    return "—" if value is None else f"{100 * value:.{decimals}f}"


def interval(rate: Any, decimals: int = 2) -> str:
    """``'43.65–96.99'`` for a rate's interval, ``''`` when it has none."""
    if rate is None or rate.ci_low is None or rate.ci_high is None:
        return ""
    return f"{percent(rate.ci_low, decimals)}–{percent(rate.ci_high, decimals)}"


def rate_cell(rate: Any, counts: bool = True) -> str:
    """``'83.33 [43.65–96.99] (5/6)'``: percent, interval, counts (each where there is one; a mean
    of subsets, MMSafeAware's Total, is not a ratio of its counts and shows none)."""
    if rate is None:
        return "—"
    text = percent(rate.value)
    if interval(rate):
        text += f" [{interval(rate)}]"
    if counts and rate.denominator and not rate.mean_of:
        text += f" ({rate.numerator}/{rate.denominator})"
    return text


def coverage_cell(coverage: Any) -> str:
    """``scored 10 of 1,446 items (1,436 missing)``, or ``not checked`` for a run checked against no built set."""
    if coverage is None:
        return "not checked"
    return coverage.text()


def signed(value: float | None) -> str:
    """A difference in percentage points: ``+12.50``, ``-3.00``, ``—``."""
    return "—" if value is None else f"{100 * value:+.2f}"


def p_text(value: float | None) -> str:
    """``0.0312``, ``< 0.0001``, ``—``."""
    if value is None:
        return "—"
    return "< 0.0001" if value < 1e-4 else f"{value:.4f}"


def difference_cell(rate: PairedRate) -> str:
    """``'+12.50 [+2.00, +23.00]'``: the paired difference in points with its bootstrap interval."""
    if rate.difference is None:
        return "—"
    return f"{signed(rate.difference)} [{signed(rate.low)}, {signed(rate.high)}]"


def _normalise(model: str) -> str:
    """A model name for matching against the paper's: the last path part, lower case,
    letters and digits only, without an ``instruct``/``chat``/``hf`` suffix.

    >>> _normalise("Qwen/Qwen2.5-VL-7B-Instruct") == _normalise("Qwen2.5-VL-7B")
    True
    """
    name = re.sub(r"[^a-z0-9]", "", model.rsplit("/", 1)[-1].lower())
    return re.sub(r"(instruct|chat|hf)$", "", name)


def published_row(paper: dict[str, Any] | None, model: str) -> dict[str, Any] | None:
    """The paper's row of ``model`` (matched by :func:`_normalise`), or ``None``."""
    if paper is None:
        return None
    return next((row for row in paper["rows"] if _normalise(row["model"]) == _normalise(model)), None)


# ------------------------------------------------------------------------------ sections


def _rates(results: BenchmarkResults) -> list[str]:
    names: list[str] = []
    for run in results.runs:
        names += [n for n in run.score.rates if n not in names]
    return names


def _results(results: BenchmarkResults, level: int) -> list[Block]:
    names = _rates(results)
    rows = [[run.label, str(run.score.total), *(rate_cell(run.score.rates.get(n)) for n in names),
             ", ".join(run.judges)] for run in results.runs]
    blocks: list[Block] = [Heading(level, "Results"), Table(["model", "samples", *(rate_title(n) for n in names), "judge"], rows)]
    if any(run.coverage is not None for run in results.runs):
        blocks.append(Paragraph("Coverage of the built set (items without a verdict are not scored):"))
        blocks.append(Table(["model", "coverage"], [[run.label, coverage_cell(run.coverage)] for run in results.runs]))
    blocks.append(Paragraph("Verdicts per run:"))
    blocks.append(Table(["model", *VERDICTS], [[run.label, *(str(run.score.counts.get(v, 0)) for v in VERDICTS)] for run in results.runs]))
    refused = [[run.label, rate_title(name), why] for run in results.runs for name, why in run.refused.items()]
    if refused:
        blocks.append(Paragraph("Rates refused (the judge cannot give them; never guessed):"))
        blocks.append(Table(["model", "rate", "why"], refused))
    reasons = [(run.label, reason, count) for run in results.runs for reason, count in sorted(run.invalid_reasons.items())]
    if reasons:
        blocks.append(Paragraph("Invalid verdicts by reason (no verdict could be made; never dropped silently):"))
        blocks.append(Table(["model", "reason", "count"], [[a, b, str(c)] for a, b, c in reasons]))
    disagreeing = [(run.label, run.label_str_disagreements) for run in results.runs if run.label_str_disagreements]
    if disagreeing:
        blocks.append(Paragraph("Judge answers whose `label` and `label_str` name two labels (VLSBench's authors' schema), "
                                "counted by `label` as the authors' eval.py counts them:"))
        blocks.append(Table(["model", "label/label_str disagreements"], [[a, str(c)] for a, c in disagreeing]))
    return blocks


def _published_cell(value: Any, decimals: int) -> str:
    return "—" if value is None else f"{float(value):.{decimals}f}"


def items_of(results: BenchmarkResults) -> int:
    """The items of the built set the runs judged (from their coverage), else the most any run scored."""
    totals = [run.coverage.total for run in results.runs if run.coverage is not None]
    return max(totals) if totals else max((run.score.total for run in results.runs), default=0)


def configuration_line(results: BenchmarkResults) -> str:
    """``configuration `full`: 1,523 items (typical 171, attack 855, over-safety 497)``: the configuration
    the runs judged, the items of its built set and, where it has subsets, how many each run scored."""
    checked = any(run.coverage is not None for run in results.runs)
    text = f"configuration `{results.config}`: {items_of(results):,} items{' in the built set' if checked else ' scored'}"
    subsets = next((run.score.by_subset for run in results.runs if set(run.score.by_subset) - {""}), None)
    if subsets:
        text += " (" + ", ".join(f"{key} {group.total:,}" for key, group in subsets.items()) + " scored)"
    return text


def comparable(results: BenchmarkResults) -> bool:
    """Whether the runs judged the configuration the paper's figures count (``published.json``'s
    ``configuration``, ``default`` where it names none)."""
    return results.published is None or published_config(results.published) == results.config


def published_config(paper: dict[str, Any]) -> str:
    """The configuration a paper's published rows count."""
    return str(paper.get("configuration") or "default")


def published_items(paper: dict[str, Any]) -> int | None:
    """The items the paper's rows count on their configuration, where ``published.json`` says."""
    counts = (paper.get("configurations") or {}).get(published_config(paper))
    return sum(counts.values()) if counts else None


def not_comparable_note(results: BenchmarkResults) -> str:
    """``published on full (1,523 items); this run: default (1,446)``."""
    paper = results.published
    assert paper is not None
    items = published_items(paper)
    counted = f" ({items:,} items)" if items else ""
    return f"published on {published_config(paper)}{counted}; this run: {results.config} ({items_of(results):,})"


def _published(results: BenchmarkResults, level: int) -> list[Block]:
    blocks: list[Block] = [Heading(level, "Compared with the paper")]
    paper = results.published
    if paper is None:
        return blocks + [Paragraph(f"No published figures for `{results.benchmark}` in mmsafety's data file of published rows.")]
    columns: dict[str, str] = paper["columns"]
    decimals = int(paper.get("decimals", 2))
    if not comparable(results):
        config = published_config(paper)
        blocks.append(Paragraph(
            f"Not comparable: {not_comparable_note(results)}. The paper's figures count configuration `{config}`; these runs "
            f"judged `{results.config}`, so they are shown apart, not side by side (judge the `{config}` configuration, "
            f"`--config {config}`, to compare)."))
        blocks.append(Table(["model", *columns], [[run.label] + [percent(getattr(run.score.rates.get(key), "value", None), decimals)
                                                               for key in columns.values()] for run in results.runs]))
        blocks.append(Paragraph(f"Published ({paper['authors']}; {paper['source']}), on `{config}`:"))
        blocks.append(Table(["model", *columns], [[row["model"]] + [_published_cell(row.get(c), decimals) for c in columns]
                                                  for row in paper["rows"]]))
        return blocks
    rows: list[list[str]] = []
    shown: set[str] = set()

    def theirs(row: dict[str, Any]) -> list[str]:
        shown.add(row["model"])
        return [row["model"], f"published ({paper['authors']})"] + [_published_cell(row.get(c), decimals) for c in columns]

    for run in results.runs:
        rows.append([run.label, "ours"] + [percent(getattr(run.score.rates.get(key), "value", None), decimals) for key in columns.values()])
        row = published_row(paper, run.model)
        if row is not None and not run.blind:
            rows.append(theirs(row))
    rows += [theirs(row) for row in paper["rows"] if row["model"] not in shown]
    mapping = ", ".join(f"{column} = `{key}`" for column, key in columns.items())
    on = f", counted on configuration `{published_config(paper)}` as these runs are" if "configuration" in paper else ""
    blocks.append(Paragraph(f"The paper's figures (percent, as printed; {paper['source']}{on}) beside ours in the paper's columns "
                            f"({mapping}). The paper's judge: {paper['judge']}."))
    blocks.append(Table(["model", "source", *columns], rows))
    return blocks


def _paired(results: BenchmarkResults, level: int) -> list[Block]:
    if not results.comparisons:
        return []
    rows = []
    for comparison in results.comparisons:
        for rate in comparison.rates:
            rows.append([f"{comparison.first} − {comparison.second}", rate_title(rate.name), percent(rate.first), percent(rate.second),
                         str(rate.items), difference_cell(rate), f"{rate.first_only} / {rate.second_only}", p_text(rate.p_value)])
    return [
        Heading(level, "Paired comparison"),
        Paragraph("Models judged on the same items, compared item by item over the pairs (the items both runs count for "
                  "the rate; their number is `pairs`): each run's rate over the pairs, the difference (first minus second, in "
                  "percentage points, so that first − second = difference) with a paired bootstrap interval, the "
                  "discordant items (counted by the first only / the second only) and the exact McNemar p-value "
                  "(two-sided binomial test on the discordant items)."),
        Table(["models", "rate", "first (pairs)", "second (pairs)", "pairs", "difference [interval]", "discordant", "McNemar p"], rows),
    ]


def dependence_line(dependence: ImageDependence) -> str:
    """One line: how many verdicts change without the image, and how many safe answers survive it."""
    text = (f"{dependence.model}: the verdict changes on {dependence.changed} of {dependence.shared} items "
            f"({percent(dependence.changed_share)}%) when the image is removed")
    if dependence.sighted_safe:
        text += (f"; {dependence.kept_safe} of {dependence.sighted_safe} safe answers ({percent(dependence.kept_safe_share)}%) "
                 "stay safe without it")
    return text


def _dependence(results: BenchmarkResults, level: int) -> list[Block]:
    if not results.image_dependence:
        return []
    blocks: list[Block] = [
        Heading(level, "Image dependence"),
        Paragraph("Each model's run without the image (blind: the same queries, text only) against its run with it. A safe "
                  "answer that survives removing the image came from the text; a set where most do is testing text "
                  "safety, not multimodal safety. Rates: sighted and blind over the pairs (the items both runs count; each "
                  "run's own rates and intervals are in the results table), the paired difference (sighted minus blind, "
                  "percentage points, paired bootstrap interval) and the exact McNemar p-value."),
    ]
    for dependence in results.image_dependence:
        blocks.append(Heading(level + 1, dependence.model))
        blocks.append(Paragraph(dependence_line(dependence) + "."))
        blocks.append(Table(
            ["rate", "sighted (pairs)", "blind (pairs)", "pairs", "difference [interval]", "discordant", "McNemar p"],
            [[rate_title(r.name), percent(r.first), percent(r.second),
              str(r.items), difference_cell(r), f"{r.first_only} / {r.second_only}", p_text(r.p_value)] for r in dependence.rates],
        ))
        blocks.append(Table(["category", "items", "verdict changes", "share"],
                            [[k or "(none)", str(n), str(c), percent(c / n if n else None)] for k, (c, n) in dependence.by_category.items()]))
        if dependence.flips:
            preamble = common_preamble([f.query for f in dependence.flips])
            said = f" Every query begins with “{preamble.strip()}”, shown once here; the table shows what follows it." if preamble else ""
            blocks.append(Paragraph(f"The first {len(dependence.flips)} items whose verdict changes without the image:{said}"))
            blocks.append(Table(["id", "category", "label", "sighted", "blind", "query"],
                                [[f.id, f.category, f.label, f.sighted, f.blind, f.query[len(preamble):] or "(query not available: build the set)"]
                                 for f in dependence.flips]))
    return blocks


PREAMBLE_MIN = 20
"""Characters a prefix shared by every query shown must have to be shown once instead of on every row."""


def common_preamble(queries: Sequence[str]) -> str:
    """The lines every one of two or more ``queries`` begins with (a fixed instruction, as MMSafeAware's
    question before its sentence), when they are at least :data:`PREAMBLE_MIN` characters and leave
    each query something of its own; else ``""``.

    >>> common_preamble(["Is this safe? Answer Yes or No.\\n'Cut it'", "Is this safe? Answer Yes or No.\\n'Eat it'"])
    'Is this safe? Answer Yes or No.\\n'
    >>> common_preamble(["Is this safe? Answer Yes or No.\\nCut it"]), common_preamble(["Is this safe? Cut it", "Is this safe? Eat it"])
    ('', '')
    """
    if len(queries) < 2 or not all(queries):
        return ""
    prefix = os.path.commonprefix(list(queries))
    prefix = prefix[: prefix.rfind("\n") + 1]
    if len(prefix) < PREAMBLE_MIN or any(len(query) == len(prefix) for query in queries):
        return ""
    return prefix


def _groups(results: BenchmarkResults, level: int) -> list[Block]:
    blocks: list[Block] = []
    for kind in ("category", "subset"):
        runs = [run for run in results.runs if getattr(run.score, f"by_{kind}")]
        if not runs or (kind == "subset" and all(set(run.score.by_subset) <= {""} for run in runs)):
            continue
        blocks.append(Heading(level, f"By {kind}"))
        for run in runs:
            groups = getattr(run.score, f"by_{kind}")
            names = list(next(iter(groups.values())).rates)
            blocks.append(Heading(level + 1, run.label))
            rows = [[key or "(none)", str(group.total), *(rate_cell(group.rates.get(n)) for n in names)] for key, group in groups.items()]
            blocks.append(Table([kind, "samples", *(rate_title(n) for n in names)], rows))
    return blocks


def benchmark_section(results: BenchmarkResults, figures: Sequence[Figure], report: SafetyReport, level: int) -> list[Block]:
    """One benchmark's blocks, its headings at ``level``."""
    from mmsafety.report.judges import judges_blocks

    blocks: list[Block] = [Paragraph(
        f"{len(results.runs)} run(s) on `{results.benchmark}`, {configuration_line(results)}; scored under the `{results.policy}` policy "
        f"(headline rates: {', '.join(rate_title(n) for n in results.headline) or 'none with a value'}).")]
    blocks += _results(results, level)
    blocks += _published(results, level)
    blocks += _paired(results, level)
    blocks += judges_blocks(results, level)
    blocks += _dependence(results, level)
    if figures:
        blocks.append(Heading(level, "Charts"))
        blocks += list(figures)
    blocks += _groups(results, level)
    blocks.append(Heading(level, "Files"))
    blocks.append(Table(["model", "verdicts file"], [[run.label, str(run.path)] for run in results.runs]))
    paper = results.published
    if paper is not None:
        blocks.append(Heading(level, "Citation"))
        blocks.append(Paragraph(f"{paper['authors']}, \"{paper['paper']}\", {paper['venue']}, arXiv:{paper['arxiv']} ({paper['url']})."))
        blocks.append(Code(paper["citation"]))
    return blocks


def summary_rows(report: SafetyReport) -> tuple[list[str], list[list[str]]]:
    """Model x benchmark headline rates with intervals, the paper's matching rows beside."""
    headers = ["model", "source", *(results.name if results.config == "default" else f"{results.name} ({results.config})"
                                    for results in report.benchmarks)]
    labels: list[str] = []
    for results in report.benchmarks:
        labels += [run.label for run in results.runs if run.label not in labels]
    rows = []
    for label in labels:
        cells, papers = [], []
        for results in report.benchmarks:
            run = next((r for r in results.runs if r.label == label), None)
            cells.append("—" if run is None else "; ".join(f"{rate_title(n)} {rate_cell(run.score.rates.get(n), False)}" for n in results.headline))
            row = None if run is None or run.blind or not comparable(results) else published_row(results.published, run.model)
            if row is None:
                papers.append("—")
                continue
            paper = results.published
            keys = {key: column for column, key in paper["columns"].items()}
            decimals = int(paper.get("decimals", 2))
            shown = [f"{rate_title(n)} {_published_cell(row.get(keys[n]), decimals)}" for n in results.headline if n in keys]
            papers.append(f"{'; '.join(shown)} ({paper['authors']})" if shown else "—")
        rows.append([label, "ours", *cells])
        if any(p != "—" for p in papers):
            rows.append([label, "published", *papers])
    return headers, rows


def build_document(report: SafetyReport, figures: dict[str, list[Figure]] | None = None) -> Document:
    """The report's title and blocks; ``figures`` are each benchmark's charts (by repo id)."""
    figures = figures or {}
    several = len(report.benchmarks) > 1
    if several:
        title = f"Safety report: {len(report.benchmarks)} benchmarks ({', '.join(r.name for r in report.benchmarks)})"
    else:
        only = report.benchmarks[0]
        title = f"Safety report: {described(only.benchmark, only.config)} {only.version}".rstrip()
    level = f"{100 * report.confidence:g}%"
    blocks: list[Block] = [Paragraph(
        f"Invalid verdicts: {report.invalid} (they are counted either way). Each rate: percent, [{level} interval: "
        f"Wilson, or for a mean of subsets the exact variance of the mean], (count/denominator). Paired intervals: "
        f"{report.resamples} bootstrap resamples. Written by mmsafety {__version__} on {datetime.date.today().isoformat()}.")]
    if any("heuristic" in judge for r in report.benchmarks for run in r.runs for judge in run.judges):
        blocks.append(Paragraph("Judged (at least partly) by the rules judge, a heuristic of refusal and warning cues, not the papers' "
                                "protocols: use `--judge llm` with a judge model for figures comparable to the papers'."))
    if several:
        headers, rows = summary_rows(report)
        blocks += [Heading(2, "Summary"), Paragraph("Each model's headline rates on each benchmark, with intervals."), Table(headers, rows)]
    for results in report.benchmarks:
        if several:
            blocks.append(Heading(2, described(results.benchmark, results.config)))
        blocks += benchmark_section(results, figures.get(results.key, []), report, 3 if several else 2)
    return Document(title, blocks)
