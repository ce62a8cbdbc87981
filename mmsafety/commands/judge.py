"""``mmsafety judge``: responses to verdicts.

::

    mmsafety judge salad --responses responses.jsonl --out verdicts.jsonl            # rules (offline)
    mmsafety judge mmsafeaware --responses r.jsonl --out v.jsonl [--compat]         # yesno
    mmsafety judge vlsbench --responses r.jsonl --out v.jsonl \\
        --model gpt-4o [--base-url http://localhost:8000/v1] [--concurrency 16]     # llm

Which judge runs when ``--judge`` is not given: ``llm`` when ``--model`` or
``--base-url`` is; else the benchmark's offline judge (``yesno`` for MMSafeAware,
``rules`` for the others), as :mod:`mmsafety.benchmarks` says.
"""

from __future__ import annotations

import argparse

from mmsafety import benchmarks
from mmsafety.commands.common import (
    check_distinct_files,
    JUDGES_EPILOG,
    add_json_option,
    add_config_option,
    add_judge_options,
    add_responses_options,
    judge_responses,
    judge_summary,
    judge_summary_dict,
    print_json,
)


def add_parser(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register the ``judge`` sub-command."""
    judge = subparsers.add_parser(
        "judge",
        help="judge model responses into verdicts (JSONL)",
        description="Judge a JSONL file of model responses against a built benchmark and write one verdict per response.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=JUDGES_EPILOG,
    )
    judge.add_argument("benchmark", help=f"{', '.join(benchmarks.names())}, or the repo id of a custom build")
    add_responses_options(judge)
    judge.add_argument("--out", required=True, metavar="FILE", help="verdicts JSONL to write (atomically)")
    add_config_option(judge)
    add_judge_options(judge)
    add_json_option(judge, "the summary (verdict counts, invalid reasons, requests, cache hits)")
    judge.set_defaults(func=run_judge)


def run_judge(args: argparse.Namespace) -> int:
    """``mmsafety judge``: read responses, judge them, write verdicts, print a summary."""
    from mmsafety.data.writing import check_writable
    from mmsafety.runs.files import write_verdicts

    name = benchmarks.check_name(args.benchmark)
    check_distinct_files(responses=args.responses, out=args.out, cache=None if args.no_cache else args.cache)
    check_writable(args.out)  # before the first request, not after the last
    run = judge_responses(args, name)
    write_verdicts(args.out, run.verdicts, benchmark=run.benchmark.repo, benchmark_version=run.benchmark.version,
                   benchmark_config=run.benchmark.config)
    if args.json:
        print_json(judge_summary_dict(run, args.out))
    else:
        print(judge_summary(run, args.out))
    return 0
