"""``mmsafety evaluate``: judge, score and report a responses file into one folder.

::

    mmsafety evaluate salad --responses qwen.jsonl --out reports/qwen [judge options, as `mmsafety judge`]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from mmsafety import benchmarks
from mmsafety.commands.common import (
    check_distinct_files,
    JUDGES_EPILOG,
    add_json_option,
    add_config_option,
    add_judge_options,
    add_responses_options,
    add_score_options,
    check_confidence,
    check_verdict_files,
    incomplete_status,
    judge_responses,
    judge_summary,
    judge_summary_dict,
    print_json,
    report_json,
)
from mmsafety.data.outdir import prepare_output_dir

VERDICTS_NAME = "verdicts.jsonl"


def add_parser(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register ``evaluate``."""
    evaluate = subparsers.add_parser(
        "evaluate",
        help="judge, score and report a responses file in one command",
        description="Judge a responses file (as `mmsafety judge`), score it under the benchmark's policy and write "
        f"{VERDICTS_NAME}, report.md, report.html, the charts and scores.json into one folder.",
        epilog=JUDGES_EPILOG + " Here --model and --base-url name the judge; the model under test is the one "
        "the responses file names.",
    )
    evaluate.add_argument("benchmark", help=f"{', '.join(benchmarks.names())}, or the repo id of a custom build")
    add_responses_options(evaluate)
    evaluate.add_argument("--out", required=True, metavar="DIR", help="folder for the verdicts and the report: a new or empty folder, or an earlier "
                          "`evaluate` output (its files are replaced; a folder holding anything else is refused)")
    add_config_option(evaluate)
    add_score_options(evaluate)
    add_json_option(evaluate, "the judge's summary and the report's results with coverage")
    add_judge_options(evaluate)
    evaluate.set_defaults(func=run_evaluate)


def run_evaluate(args: argparse.Namespace) -> int:
    """``mmsafety evaluate``: judge, write the verdicts, score and report into one folder."""
    from mmsafety.report import load_safety_report, report_summary, write_safety_report
    from mmsafety.runs.files import write_verdicts

    name = benchmarks.check_name(args.benchmark)
    check_confidence(args.confidence)
    out = Path(args.out)
    verdicts = out / VERDICTS_NAME
    check_distinct_files(responses=args.responses, out=verdicts, cache=None if args.no_cache else args.cache)
    with prepare_output_dir(out, "evaluate") as folder:  # refused before judging, not after
        run = judge_responses(args, name)
        staged = folder.file(VERDICTS_NAME)  # moves in with the report, together
        write_verdicts(staged, run.verdicts, benchmark=run.benchmark.repo, benchmark_version=run.benchmark.version,
                       benchmark_config=run.benchmark.config)
        checked = check_verdict_files([staged], name, run.benchmark.config)
        report = load_safety_report([staged], policy=args.policy, invalid=args.invalid, confidence=args.confidence,
                                    coverage={staged: checked[0].coverage}, tables={staged: checked[0].table})
        report.name_files({staged: verdicts})
        files = write_safety_report(report, folder, named=out)
    if args.json:
        print_json({"judge": judge_summary_dict(run, verdicts), "report": report_json(report, files)})
    else:
        print(judge_summary(run, verdicts))
        print(report_summary(report, files))
        print(f"{verdicts}: {checked[0].coverage.text()}")
    return incomplete_status(args, [(verdicts, checked[0].coverage)])
