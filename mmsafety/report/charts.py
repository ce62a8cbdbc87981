"""The charts (matplotlib): each benchmark's headline rates, overall and per category.

Every chart is written as PNG, SVG and PDF. A benchmark's charts show its policy's headline
rates (:func:`mmsafety.report.rate_cells.headline`) with their intervals, leaving out rates and
categories no run has a value for:

- ``<benchmark>-headline``: one group of bars per headline rate, a bar per run; VLSBench's
  refusal and warning rates stacked into the safe-response rate (its interval on the total);
- ``<benchmark>-by-category``: the same per category (MMSafeAware, whose headline rates are
  per subset, shows its accuracy per category).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from mmsafety.report.document import Figure
from mmsafety.report.load import BenchmarkResults
from mmsafety.report.rate_cells import STACKED, rate_title
from mmsafety.scoring.policies import get_policy

DPI = 100
WIDTH = 1000
FORMATS = ("png", "svg", "pdf")
RC = {"pdf.fonttype": 42, "ps.fonttype": 42}
"""Settings the charts are drawn and saved under (in a local ``rc_context``, never globally): TrueType
(Type 42) fonts embedded in the PDF, which publishers' PDF checks accept, not Type 3."""


def chart_height(rows: int, bars: int) -> int:
    """Pixel height of a chart with ``rows`` groups of ``bars`` bars.

    >>> chart_height(3, 2), chart_height(20, 3)
    (360, 1340)
    """
    return max(360, 100 + rows * (16 * bars + 14))


def slug(benchmark: str) -> str:
    """A benchmark's repo id as a file-name prefix: ``mmsafety/salad`` -> ``salad``.

    >>> slug("mmsafety/salad"), slug("org/My Set")
    ('salad', 'org-My-Set')
    """
    name = benchmark.removeprefix("mmsafety/")
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-")


def _figure(height: int) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure as MplFigure

    figure = MplFigure(figsize=(WIDTH / DPI, height / DPI), dpi=DPI)
    FigureCanvasAgg(figure)
    return figure


def _colours(count: int) -> list[Any]:
    from matplotlib import colormaps

    palette = colormaps["tab10"]
    return [palette(i % 10) for i in range(count)]


def _error(rate: Any) -> tuple[float, list[list[float]]]:
    value = 100 * rate.value
    low = 100 * (rate.value - rate.ci_low) if rate.ci_low is not None else 0.0
    high = 100 * (rate.ci_high - rate.value) if rate.ci_high is not None else 0.0
    return value, [[max(0.0, low)], [max(0.0, high)]]


def _present(rate: Any) -> bool:
    return rate is not None and rate.value is not None


def _bars(axes: Any, rows: Sequence[str], labels: Sequence[str], cell: Callable[[int, int], dict[str, Any]], stacked: bool,
          rate: str | None) -> None:
    """Horizontal bars: a group per row, a bar per series, each with its interval."""
    count = len(labels)
    height = 0.8 / count
    colours = _colours(count)
    labelled: set[str] = set()

    def legend(label: str) -> str | None:
        if label in labelled:
            return None
        labelled.add(label)
        return label

    for index, label in enumerate(labels):
        for row in range(len(rows)):
            rates = cell(row, index)
            position = row + (index - (count - 1) / 2) * height
            if stacked:
                refusal, warning, safe = (rates.get(n) for n in STACKED)
                if not _present(safe):
                    continue
                split = _present(refusal) and _present(warning)  # else one plain bar: a judge without refusals does not split it
                left = 100 * refusal.value if split else 100 * safe.value
                axes.barh(position, left, height=height * 0.92, color=colours[index], label=legend(plain(label)))
                axes.barh(position, 100 * safe.value - left, left=left, height=height * 0.92, color=colours[index], alpha=0.45,
                          hatch="//", edgecolor="white")
                value, error = _error(safe)
                axes.errorbar([value], [position], xerr=error, fmt="none", ecolor="#333333", capsize=2)
            elif _present(rates.get(rate or rows[row])):
                value, error = _error(rates[rate or rows[row]])
                axes.barh(position, value, height=height * 0.92, xerr=error, color=colours[index], ecolor="#333333", capsize=2,
                          label=legend(plain(label)))
    axes.set_yticks(range(len(rows)), [rate_title(r) if rate is None and not stacked else plain(r) for r in rows])
    axes.invert_yaxis()
    axes.set_xlim(0, 102)
    axes.grid(axis="x", alpha=0.3)


def _save(figure: Any, stem: Path, legend: int = 0, *, beside: bool = False) -> dict[str, Path]:
    """Write ``figure`` in every format; ``legend`` > 0 puts the legend below, in that many columns;
    ``beside`` puts it at the axes' upper right, outside the bars, where the eye reads the chart."""
    from matplotlib import rc_context

    with rc_context(RC):
        return _write(figure, stem, legend, beside)


def _write(figure: Any, stem: Path, legend: int, beside: bool) -> dict[str, Path]:
    bottom = 0.0
    if legend and beside:
        (axes,) = figure.axes
        axes.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False, borderaxespad=0.0)
    elif legend:
        entries: dict[str, Any] = {}
        for axes in figure.axes:
            for handle, label in zip(*axes.get_legend_handles_labels()):
                entries.setdefault(label, handle)
        figure.legend(list(entries.values()), list(entries), loc="lower center", ncol=min(legend, 4), fontsize=8, frameon=False)
        bottom = 40 * (1 + (legend - 1) // 4) / (figure.get_figheight() * DPI)
    figure.tight_layout(rect=(0, bottom, 1, 1))
    files = {}
    for kind in FORMATS:
        path = stem.with_name(f"{stem.name}.{kind}")
        figure.savefig(path, format=kind, dpi=DPI, metadata={"CreationDate": None} if kind == "pdf" else None)
        files[kind] = path
    return files


def headline_chart(results: BenchmarkResults, stem: Path, confidence: float) -> Figure | None:
    """Each run's headline rates; ``None`` when no run has any."""
    names = list(results.headline)
    if not names:
        return None
    runs = results.runs
    stacked = tuple(names) == STACKED
    rows = [run.label for run in runs] if stacked else names
    labels = ["refusal + warning = safe-response rate"] if stacked else [run.label for run in runs]
    height = chart_height(len(rows), len(labels))
    figure = _figure(height)
    axes = figure.add_subplot()
    if stacked:
        _bars(axes, rows, labels, lambda row, _: runs[row].score.rates, True, None)
        axes.set_yticks(range(len(rows)), [plain(row) for row in rows])
    else:
        _bars(axes, rows, labels, lambda row, index: runs[index].score.rates, False, None)
    level = f"{100 * confidence:g}%"
    what = "refusal (solid) + warning (hatched) = safe-response rate" if stacked else "rate"
    axes.set_xlabel(f"{what} (%), with {level} interval")
    axes.set_title(plain(f"{results.benchmark}: headline rates ({results.policy} policy)"))
    return Figure(f"{results.benchmark}: headline rates per run, with {level} intervals",
                  _save(figure, stem, 0 if stacked else len(labels), beside=True))


def category_chart(results: BenchmarkResults, stem: Path, confidence: float) -> Figure | None:
    """The headline rates per category (rows without a value left out); ``None`` without categories."""
    runs = [run for run in results.runs if run.score.by_category]
    if not runs:
        return None
    group_rates = {name for run in runs for group in run.score.by_category.values() for name in group.rates}
    names = [n for n in results.headline if n in group_rates] or [get_policy(results.policy).rates[0].name]
    stacked = tuple(names) == STACKED
    panels = [None] if stacked else names
    categories = sorted({k for run in runs for k in run.score.by_category})

    def rates(run: Any, category: str) -> dict[str, Any]:
        group = run.score.by_category.get(category)
        return group.rates if group is not None else {}

    kept = {panel: [c for c in categories if any(_present(rates(run, c).get(panel or "safe_response_rate")) for run in runs)]
            for panel in panels}
    panels = [p for p in panels if kept[p]]
    if not panels:
        return None
    height = sum(chart_height(len(kept[p]), len(runs)) for p in panels)
    figure = _figure(height)
    for number, panel in enumerate(panels, 1):
        axes = figure.add_subplot(len(panels), 1, number)
        rows = kept[panel]
        _bars(axes, [c or "(none)" for c in rows], [run.label for run in runs],
              lambda row, index, rows=rows: rates(runs[index], rows[row]), stacked, panel or "x")
        title = "refusal (solid) + warning (hatched) = safe-response rate" if stacked else rate_title(panel)
        axes.set_title(plain(f"{results.benchmark}: {title} by category"), fontsize=10)
        axes.set_xlabel(f"% with {100 * confidence:g}% interval")
    shown = "safe-response rate (refusal + warning)" if stacked else ", ".join(rate_title(p) for p in panels)
    return Figure(f"{results.benchmark}: {shown} by category, per run", _save(figure, stem, len(runs)))


def write_charts(results: BenchmarkResults, folder: Path, confidence: float) -> list[Figure]:
    """A benchmark's charts, each as PNG, SVG and PDF, into ``folder``; every text in them is
    drawn as written (no mathtext: ``$5 or $10`` stays that) and holds no character XML forbids."""
    import matplotlib

    prefix = slug(results.key)
    with matplotlib.rc_context({"text.parse_math": False, "text.usetex": False}):
        charts = [headline_chart(results, folder / f"{prefix}-headline", confidence),
                  category_chart(results, folder / f"{prefix}-by-category", confidence)]
    return [chart for chart in charts if chart is not None]


_XML_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def plain(text: str) -> str:
    r"""``text`` for a chart: each character XML forbids (NUL, other controls, a lone surrogate) as U+FFFD.

    >>> plain("kitchen\x00\x1b[31m") == "kitchen\ufffd\ufffd[31m"
    True
    """
    return _XML_FORBIDDEN.sub("\ufffd", text)
