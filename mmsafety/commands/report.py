"""``mmsafety report``: one verdicts file per model into one comparison report.

::

    mmsafety report reports/qwen/verdicts.jsonl reports/llava/verdicts.jsonl --out reports/salad
"""

from __future__ import annotations

import argparse

from mmsafety import benchmarks
from mmsafety.commands.common import add_score_options, check_confidence


def add_parser(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register ``report``."""
    report = subparsers.add_parser(
        "report",
        help="compare models: one verdicts file per model into report.md, report.html and charts",
        description="Write a comparison report of one benchmark's verdict files (one per model): each model's rates "
        "under the benchmark's policy with intervals, per-category breakdowns, the paper's published figures beside "
        "ours, and PNG charts.",
    )
    report.add_argument("verdicts", nargs="+", metavar="VERDICTS", help="verdicts JSONL files (from `mmsafety judge` or `evaluate`), one per model")
    report.add_argument("--out", required=True, metavar="DIR", help="folder for the report")
    report.add_argument("--benchmark", metavar="NAME", help="the benchmark, for verdicts that do not say it (written by other tools)")
    add_score_options(report)
    report.set_defaults(func=run_report)


def run_report(args: argparse.Namespace) -> int:
    """``mmsafety report``: one verdicts file per model into one comparison report."""
    from mmsafety.report import load_report, report_summary, write_report

    check_confidence(args.confidence)
    benchmark = benchmarks.check_name(args.benchmark) if args.benchmark else None
    report = load_report(args.verdicts, benchmark=benchmark, policy=args.policy, invalid=args.invalid, confidence=args.confidence)
    files = write_report(report, args.out)
    print(report_summary(report, files))
    return 0
