"""``mmsafety agree``: how far verdict files of the same responses agree.

::

    mmsafety agree llm.jsonl guard.jsonl human.jsonl [--json]
"""

from __future__ import annotations

import argparse
from typing import Any

from mmsafety import benchmarks
from mmsafety.commands.common import add_json_option, check_confidence, print_json, quiet_datasets
from mmsafety.errors import InputError
from mmsafety.report import DEFAULT_RESAMPLES
from mmsafety.scoring import INVALID_HANDLING
from mmsafety.scoring.policies import POLICY_NAMES


def add_parser(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register ``agree``."""
    agree = subparsers.add_parser(
        "agree",
        help="agreement of verdict files of the same responses: Cohen's kappa per pair, Krippendorff's alpha",
        description="Compare verdict files of the same responses judged by different judges or people (a human file "
        "labels a sample of them). Per pair: Cohen's kappa with a bootstrap interval, percent agreement, the confusion "
        "matrix; across all files: Krippendorff's alpha (nominal). On the full verdicts and on the pass/fail of each "
        "headline rate under the benchmark's policy; overall, per category and per subset. Each file is checked against "
        "the built set; files that judge different responses (response_sha256) or different ids are refused.",
    )
    agree.add_argument("verdicts", nargs="+", metavar="VERDICTS", help="two or more verdicts JSONL files of the same responses")
    agree.add_argument("--benchmark", metavar="NAME", help="the benchmark, for verdicts that do not say it (written by other tools)")
    agree.add_argument("--policy", choices=POLICY_NAMES, help="scoring policy whose headline rates are compared (default: the benchmark's own)")
    agree.add_argument("--invalid", choices=INVALID_HANDLING, default="exclude",
                       help="a rate's pass/fail of an invalid verdict: left out (exclude), or a failure (fail)")
    agree.add_argument("--keep-invalid", action="store_true", help="count invalid as a verdict like the others (default: invalid verdicts are left out of kappa and alpha)")
    agree.add_argument("--confidence", type=float, default=0.95, help="interval level (default 0.95)")
    agree.add_argument("--resamples", type=int, default=DEFAULT_RESAMPLES, metavar="N", help=f"bootstrap resamples of kappa (default {DEFAULT_RESAMPLES})")
    agree.add_argument("--seed", type=int, default=0, help="seed of the bootstrap (default 0)")
    add_json_option(agree, "every table: pairs with kappa, interval, agreement and confusion matrix; alpha; by category and subset")
    agree.set_defaults(func=run_agree)


def _number(value: float | None, digits: int = 3) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.1f}%"


def table_lines(tables: list[Any], indent: str = "") -> list[str]:
    """One line per pair and one for alpha, for each table (verdicts, then each rate)."""
    from mmsafety.report.rate_cells import rate_title

    lines = []
    for table in tables:
        title = "verdicts" if table.on == "verdicts" else f"{rate_title(table.on)} (pass/fail)"
        lines.append(f"{indent}{title}: Krippendorff's alpha {_number(table.alpha)} on {table.units} items")
        for pair in table.pairs:
            interval = f" [{_number(pair.kappa_low)}, {_number(pair.kappa_high)}]" if pair.kappa_low is not None else ""
            lines.append(f"{indent}  {pair.first} vs {pair.second}: kappa {_number(pair.kappa)}{interval}, "
                         f"agreement {_percent(pair.agreement)} on {pair.items} items")
    return lines


def confusion_lines(pair: Any) -> list[str]:
    """The confusion matrix of a pair as text (rows: the first file's verdict)."""
    width = max(len(c) for c in pair.categories) + 2
    lines = [f"  rows: {pair.first}; columns: {pair.second}", "  " + " " * width + "".join(c.rjust(width) for c in pair.categories)]
    lines += ["  " + c.ljust(width) + "".join(str(n).rjust(width) for n in row) for c, row in zip(pair.categories, pair.confusion)]
    return lines


def run_agree(args: argparse.Namespace) -> int:
    """``mmsafety agree``: read, check, compare; print the tables (or JSON)."""
    from mmsafety.report.agreement_tables import agreement
    from mmsafety.runs.judged import check_same_responses, read_judged

    check_confidence(args.confidence)
    if isinstance(args.resamples, bool) or args.resamples < 0:
        raise InputError(f"expected --resamples of at least 0, found {args.resamples}")
    if len(args.verdicts) < 2:
        raise InputError(f"expected at least two verdict files of the same responses, found {len(args.verdicts)}")
    quiet_datasets()
    name = benchmarks.check_name(args.benchmark) if args.benchmark else None
    files = read_judged(args.verdicts, name)
    notes = check_same_responses(files)
    repo = files[0].benchmark
    policy = args.policy or benchmarks.policy(repo)
    result = agreement([f.name for f in files], [f.records for f in files], policy, keep_invalid=args.keep_invalid,
                       invalid=args.invalid, confidence=args.confidence, resamples=args.resamples, seed=args.seed)
    if args.json:
        print_json({
            "benchmark": repo, "policy": policy, "confidence": args.confidence, "resamples": args.resamples, "seed": args.seed,
            "files": [{"path": str(f.path), "name": f.name, "human": f.human is not None, "coverage": f.coverage.to_dict(),
                       "labellers": list(f.human.labellers) if f.human else None} for f in files],
            "notes": notes,
            **result.to_json(),
        })
        return 0
    level = f"{100 * args.confidence:g}%"
    print(f"{repo}: {len(files)} verdict files of the same responses, policy {policy}; kappa with a {level} bootstrap interval "
          f"({args.resamples} resamples)")
    for f in files:
        print(f"  {f.name}: {f.path}, {f.coverage.text()}, {result.invalid[f.name]} invalid"
              + (f" (a sample: {len(f.records)} labelled items)" if f.human else ""))
    print(f"invalid verdicts: {'kept as a verdict' if args.keep_invalid else 'left out of kappa and alpha'}; "
          f"a rate's pass/fail: invalid {args.invalid}")
    for note in notes:
        print(f"note: {note}")
    print()
    lines = table_lines(result.tables)
    print("\n".join(lines))
    for pair in result.tables[0].pairs:
        print()
        print(f"confusion of the verdicts, {pair.first} vs {pair.second}:")
        print("\n".join(confusion_lines(pair)))
    for kind, groups in (("category", result.by_category), ("subset", result.by_subset)):
        for key, tables in groups.items():
            print()
            print(f"{kind} {key or '(none)'}:")
            print("\n".join(table_lines(tables, "  ")))
    return 0
