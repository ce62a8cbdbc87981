"""The safety report: verdict files of several models (and benchmarks) side by side.

:func:`load_safety_report` reads one verdicts file per run (as ``mmsafety judge`` writes
them; :mod:`~mmsafety.report.load`), scores each under its benchmark's policy and pairs runs
judged on the same items (:mod:`~mmsafety.report.paired`). :func:`write_safety_report`
(:mod:`~mmsafety.report.write`) lays it out as a document (:mod:`~mmsafety.report.document`)
and writes ``report.md``, a self-contained ``report.html``, ``results.tex``
(:mod:`~mmsafety.report.render`), charts as PNG, SVG and PDF (:mod:`~mmsafety.report.charts`)
and ``scores.json``.

>>> report = load_safety_report(["careful/verdicts.jsonl", "eager/verdicts.jsonl"])  # doctest: +SKIP
>>> files = write_safety_report(report, "report/")  # doctest: +SKIP
"""

from mmsafety.lazy import exports

DEFAULT_RESAMPLES = 2000
"""Resamples of the paired bootstrap."""

__all__ = [
    "DEFAULT_RESAMPLES",
    "add_coverage",
    "BenchmarkResults",
    "RunResult",
    "SafetyReport",
    "SafetyReportFiles",
    "load_safety_report",
    "report_payload",
    "report_summary",
    "write_safety_report",
]

__getattr__, _ = exports(__name__, {
    **dict.fromkeys(("BenchmarkResults", "RunResult", "SafetyReport", "add_coverage", "load_safety_report"), "mmsafety.report.load"),
    **dict.fromkeys(("SafetyReportFiles", "report_payload", "report_summary", "write_safety_report"), "mmsafety.report.write"),
})
