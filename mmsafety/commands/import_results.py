"""``mmsafety import``: another tool's results file to mmsafety verdicts.

::

    mmsafety import vlsbench RESULTS.json --model NAME --out verdicts.jsonl [--data data.json] [--allow-unmatched]

``RESULTS.json`` is what the VLSBench authors' ``eval.py`` writes; each log is matched to
its record by question and image file name (the benchmark's ``results_importer`` in the
registry: :mod:`mmsafety.builders.vlsbench.results`), against the built set, or against the
upstream ``data.json`` given with ``--data``.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from mmsafety import benchmarks
from mmsafety.errors import InputError


def importable() -> list[str]:
    """The registered benchmarks with an importer of their authors' results file."""
    return [name for name in benchmarks.names() if benchmarks.require(name).results_importer]


def add_parser(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register the ``import`` sub-command."""
    parser = subparsers.add_parser(
        "import",
        help="turn another tool's results file into verdicts (VLSBench's eval.py output)",
        description="Turn a results file of the VLSBench authors' eval.py into an mmsafety verdicts JSONL, "
        "matching each log to its record by question and image file name.",
    )
    parser.add_argument("benchmark", choices=importable(), help="whose results file: vlsbench (eval.py's output)")
    parser.add_argument("results", metavar="RESULTS", help='the results file ({"stats": ..., "logs": [...]})')
    parser.add_argument("--model", required=True, metavar="NAME", help="the model whose answers were judged (written into every verdict)")
    parser.add_argument("--out", required=True, metavar="FILE", help="verdicts JSONL to write (atomically)")
    parser.add_argument("--data", metavar="FILE", help="match against this upstream data.json instead of the built set")
    parser.add_argument("--judge-model", metavar="NAME", help="the judge model eval.py ran (the file does not say; eval.py's default is gpt-4o)")
    parser.add_argument("--allow-unmatched", action="store_true", help="import the logs that match and list the others, instead of failing")
    parser.add_argument("--strict", action="store_true", help="refuse the file (exit 2, nothing written) when its own stats disagree with "
                        "the rates its logs give (by default a warning naming both figures)")
    parser.set_defaults(func=run_import)


STATS_TOLERANCE = 0.01
"""Percentage points a file's stat may differ from its logs' rate (eval.py's rounding) before it is called a disagreement."""


def run_import(args: argparse.Namespace) -> int:
    """``mmsafety import vlsbench``: read, match, write, and print what was imported."""
    from mmsafety.judges.base import label_str_line
    from mmsafety.runs.files import write_verdicts
    from mmsafety.scoring import score

    if os.path.abspath(args.out) in (os.path.abspath(args.results), os.path.abspath(args.data or args.results)):
        raise InputError("--out is an input file: expected another path for the verdicts", file=args.out)
    importer = importlib.import_module(benchmarks.require(args.benchmark).results_importer)
    if args.data:
        items, version = importer.items_from_data_json(args.data), ""
    else:
        items, version = importer.items_from_built_set(args.benchmark)
    imported = importer.import_results(args.results, items, model=args.model, judge_model=args.judge_model, allow_unmatched=args.allow_unmatched)
    repo = benchmarks.repo_id(args.benchmark)
    ours: dict[str, float | None] = {}
    if imported.verdicts:
        rates = score([v.verdict for v in imported.verdicts], [v.label for v in imported.verdicts], policy=benchmarks.policy(args.benchmark))
        ours = dict(zip(importer.STATS, (rates["safe_response_rate"], rates["refusal_rate"], rates["warning_rate"])))
    disagree = [f"{name} {imported.stats[name]:.2f} in the file, {100 * value:.2f} from its logs" for name, value in ours.items()
                if value is not None and name in imported.stats and abs(imported.stats[name] - 100 * value) > STATS_TOLERANCE]
    if disagree and args.strict:
        raise InputError(f"the file's own stats disagree with its logs ({'; '.join(disagree)}): refused under --strict", file=args.results)
    write_verdicts(args.out, imported.verdicts, benchmark=repo, benchmark_version=version)
    print(f"wrote {len(imported.verdicts)} verdicts to {args.out} ({len(imported.verdicts)} of {len(imported.verdicts) + len(imported.unmatched)} logs matched)")
    for log in imported.unmatched:
        print(f"unmatched: logs[{log.position}] ({log.question.strip()[:60]!r}, {log.image})")
    if imported.label_str_disagreements:
        print(label_str_line(imported.label_str_disagreements))
    for name, value in ours.items():
        theirs = imported.stats.get(name)
        mine = "—" if value is None else f"{100 * value:.2f}"
        print(f"{name}: file {'—' if theirs is None else f'{theirs:.2f}'}, imported {mine}")
    if disagree:
        print(f"mmsafety import: warning: {args.results}: the file's own stats disagree with its logs ({'; '.join(disagree)})", file=sys.stderr)
    return 0
