"""``mmsafety report``: verdict files (one per run, of one or several benchmarks) into one report.

::

    mmsafety report reports/qwen/verdicts.jsonl reports/llava/verdicts.jsonl --out reports/salad
    mmsafety report salad/*.jsonl vlsbench/*.jsonl qwen-blind.jsonl --out reports/all --json
"""

from __future__ import annotations

import argparse
from pathlib import Path

from mmsafety import benchmarks
from mmsafety.commands.common import (
    add_calibration_option,
    add_config_option,
    add_json_option,
    add_score_options,
    check_confidence,
    check_verdict_files,
    incomplete_status,
    print_json,
    report_json,
)
from mmsafety.data.outdir import check_output_dir
from mmsafety.report import DEFAULT_RESAMPLES


def add_parser(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register ``report``."""
    report = subparsers.add_parser(
        "report",
        help="compare models: verdict files into report.md, a self-contained report.html, results.tex and charts",
        description="Write one report of verdict files (one per run; one or several benchmarks): a section per "
        "benchmark with each run's rates under its policy with intervals, the paper's published figures beside ours, "
        "the paired comparison of models judged on the same items (difference with a paired bootstrap interval, exact "
        "McNemar p-value), image dependence where a model has a sighted and a blind run, per-category breakdowns and "
        "charts of the headline rates (PNG, SVG, PDF); a summary table when there are several benchmarks.",
    )
    report.add_argument("verdicts", nargs="+", metavar="VERDICTS",
                        help="verdicts JSONL files (from `mmsafety judge` or `evaluate`), one per run; a blind run's records carry \"blind\": true")
    report.add_argument("--out", required=True, metavar="DIR", help="folder for the report: a new or empty folder, or an earlier report (its files are replaced; "
                        "a folder holding anything else, an `evaluate` folder included, is refused)")
    report.add_argument("--benchmark", metavar="NAME", help="the benchmark, for verdicts that do not say it (written by other tools)")
    report.add_argument("--resamples", type=int, default=DEFAULT_RESAMPLES, metavar="N",
                        help=f"paired bootstrap resamples for the comparisons (default {DEFAULT_RESAMPLES})")
    add_config_option(report, from_verdicts=True)
    add_score_options(report)
    add_calibration_option(report)
    add_json_option(report, "each model's result and coverage, and the files written")
    report.set_defaults(func=run_report)


def run_report(args: argparse.Namespace) -> int:
    """``mmsafety report``: verdict files into one report; its summary (or JSON) on stdout."""
    from mmsafety.report import (
        load_safety_report,
        report_summary,
        write_safety_report,
    )

    check_confidence(args.confidence)
    benchmark = benchmarks.check_name(args.benchmark) if args.benchmark else None
    check_output_dir(Path(args.out).absolute(), "report")  # refused before the work, not after
    checked = check_verdict_files(args.verdicts, benchmark, args.config)  # every file checked against its set before any is scored
    labelled = check_verdict_files(args.calibration or [], benchmark, args.config)  # a human sample: checked as any verdict file
    report = load_safety_report(args.verdicts, benchmark=benchmark, policy=args.policy, invalid=args.invalid,
                                confidence=args.confidence, resamples=args.resamples, calibration=args.calibration or (),
                                coverage={c.path: c.coverage for c in checked},
                                tables={c.path: c.table for c in [*checked, *labelled]})
    files = write_safety_report(report, args.out)
    if args.json:
        print_json(report_json(report, files))
    else:
        print(report_summary(report, files))
        for check in checked:
            print(f"{check.path}: {check.coverage.text()}")
        for check in labelled:
            print(f"{check.path}: human labels of a sample, {check.coverage.text().replace('scored', 'labelled')}")
    return incomplete_status(args, [(c.path, c.coverage) for c in checked])
