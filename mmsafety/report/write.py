"""Writing the report's files, its JSON, and the lines the command line prints.

:func:`write_safety_report` writes into one folder: ``report.md``, a self-contained
``report.html``, ``results.tex`` (booktabs, for ``\\input``), each benchmark's charts as PNG,
SVG and PDF, and ``scores.json`` (:func:`report_payload`: every run's full score and coverage
of the built set, the paired comparisons and image dependence; ``mmsafety report --json`` prints
the same object).

The folder follows the rule of :mod:`mmsafety.data.outdir`: a new or empty folder, or an
earlier report; given an :class:`~mmsafety.data.outdir.OutputDir` (``evaluate`` and the demo
write their verdicts beside the report), the report's files join that output.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mmsafety import __version__
from mmsafety.data.configs import described
from mmsafety.data.outdir import OutputDir, prepare_output_dir
from mmsafety.report.charts import write_charts
from mmsafety.report.document import build_document, dependence_line, percent, signed
from mmsafety.report.judges import summary_line
from mmsafety.report.load import SafetyReport
from mmsafety.report.rate_cells import rate_title
from mmsafety.report.render import to_html, to_latex, to_markdown


@dataclass(frozen=True)
class SafetyReportFiles:
    """What :func:`write_safety_report` wrote."""

    folder: Path
    markdown: Path
    html: Path
    latex: Path
    scores: Path
    charts: dict[str, Path]
    """Chart file name -> path (every format of every chart)."""


def report_payload(report: SafetyReport) -> dict[str, Any]:
    """The report as one JSON object: per benchmark, each run's score, the comparisons and image dependence."""
    return {
        "mmsafety_version": __version__,
        "invalid_handling": report.invalid,
        "confidence": report.confidence,
        "bootstrap_resamples": report.resamples,
        "benchmarks": {
            results.key: {
                "benchmark_version": results.version,
                "benchmark_config": results.config,
                "policy": results.policy,
                "headline": list(results.headline),
                "models": {run.label: {"model": run.model, "blind": run.blind, "verdicts": str(run.path), "judges": run.judges,
                                       "coverage": None if run.coverage is None else run.coverage.to_dict(),
                                       "label_str_disagreements": run.label_str_disagreements,
                                       **({"refused_rates": run.refused} if run.refused else {}), **run.score.to_flat()}
                           for run in results.runs},
                "comparisons": [c.to_json() for c in results.comparisons],
                "image_dependence": [d.to_json() for d in results.image_dependence],
                "judges": [j.to_json() for j in results.judged_runs],
            }
            for results in report.benchmarks
        },
    }


def write_safety_report(report: SafetyReport, out: str | Path | OutputDir, *, named: str | Path | None = None) -> SafetyReportFiles:
    """Write the report's files into ``out``: a folder (a new or empty one, or an earlier report,
    whose files are replaced and stale ones removed; anything else is refused naming it, nothing
    written), or an :class:`~mmsafety.data.outdir.OutputDir` the caller is writing (``named``:
    that folder as the paths returned should name it; default its absolute path)."""
    if isinstance(out, OutputDir):
        return _write_into(report, out, Path(named) if named is not None else out.path)
    with prepare_output_dir(out, "report") as folder:
        return _write_into(report, folder, Path(out))


def _write_into(report: SafetyReport, out: OutputDir, folder: Path) -> SafetyReportFiles:
    """Every file written whole into a staging folder first, then moved in together; the paths
    returned are in ``folder`` (the folder as the caller named it)."""
    from mmsafety.data.writing import writing

    try:
        with writing(folder):
            staging = out.staging()
            figures = {results.key: write_charts(results, staging, report.confidence) for results in report.benchmarks}
            document = build_document(report, figures)  # the HTML embeds the charts: read while they are staged
            (staging / "report.md").write_text(to_markdown(document), encoding="utf-8")
            (staging / "report.html").write_text(to_html(document), encoding="utf-8")
            (staging / "results.tex").write_text(to_latex(report), encoding="utf-8")
            (staging / "scores.json").write_text(json.dumps(report_payload(report), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
            out.commit()
    finally:
        out.discard()
    charts = {path.name: folder / path.name for figure_list in figures.values() for figure in figure_list for path in figure.files.values()}
    return SafetyReportFiles(folder, folder / "report.md", folder / "report.html", folder / "results.tex", folder / "scores.json", charts)


def report_summary(report: SafetyReport, files: SafetyReportFiles | None = None) -> str:
    """The lines the command line prints: each run's headline rates, comparisons, image dependence, where the report is."""
    lines = []
    for results in report.benchmarks:
        lines.append(f"{described(results.benchmark, results.config)} ({results.policy} policy):")
        width = max(len(run.label) for run in results.runs)
        for run in results.runs:
            names = [n for n in run.score.rates if n != "invalid_rate"]
            cells = ", ".join(f"{rate_title(n)} {percent(run.score.rates[n].value)}" for n in names)
            lines.append(f"  {run.label.ljust(width)}  {cells}")
        for comparison in results.comparisons:
            first = comparison.rates[0] if comparison.rates else None
            if first is not None and first.difference is not None:
                lines.append(f"  {comparison.first} vs {comparison.second}: {rate_title(first.name)} {signed(first.difference)} points "
                             f"[{signed(first.low)}, {signed(first.high)}], McNemar p = {first.p_value:.4g}")
        for dependence in results.image_dependence:
            lines.append(f"  image dependence, {dependence_line(dependence)}")
        lines += [f"  {summary_line(judged)}" for judged in results.judged_runs]
    if files is not None:
        lines.append(f"report: {files.html}")
        lines.append(f"        {files.markdown}")
    return "\n".join(lines)
