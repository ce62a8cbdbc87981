"""``mmsafety score``: a verdicts file to the rates of the benchmark's policy.

::

    mmsafety score salad verdicts.jsonl [--policy salad] [--json]
"""

from __future__ import annotations

import argparse
import re
from typing import Any

from mmsafety import benchmarks
from mmsafety.commands.common import (
    add_config_option,
    add_json_option,
    add_score_options,
    check_confidence,
    check_verdict_files,
    incomplete_status,
    print_json,
)
from mmsafety.data.configs import described
from mmsafety.errors import InputError
from mmsafety.labels import BENIGN_LABELS
from mmsafety.scoring.result import Group, RateValue, Score


def add_parser(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register the ``score`` sub-command."""
    score = subparsers.add_parser(
        "score",
        help="score a verdicts file under the benchmark's policy",
        description="Print the safety rates of a verdicts file (from `mmsafety judge`) under a scoring policy. "
        "The file is checked against the built set first: every record must judge the benchmark named here and an "
        "id of its set, with the set's label, category and subset; the coverage (scored N of M items) is printed.",
    )
    score.add_argument("benchmark", help="mmsafeaware, salad, vlsbench, or the repo id of a custom build")
    score.add_argument("verdicts", metavar="VERDICTS", help="verdicts JSONL written by `mmsafety judge`")
    add_config_option(score, from_verdicts=True)
    add_score_options(score)
    score.add_argument("--bootstrap", type=int, default=0, metavar="N", help="bootstrap resamples for percentile intervals")
    add_json_option(score, "the full result, with its coverage")
    score.set_defaults(func=run_score)


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.2f}"


def _interval(low: float | None, high: float | None) -> str:
    return f"{_percent(low)}–{_percent(high)}"


def _fraction(rate: RateValue, template: str) -> str:
    """``n / d`` (a mean of rates, MMSafeAware's Total, has no fraction of its own)."""
    return "" if rate.mean_of else template.format(rate.numerator, rate.denominator)


def format_table(result: Score, title: str) -> str:
    """The rates of a score result as a plain-text table (percent, n/d, interval)."""
    bootstrap = bool(result.settings["bootstrap"])
    level = f"{100 * result.settings['confidence']:g}%"
    header = ["rate", "%", "n / d", f"Wilson {level}"] + ([f"bootstrap {level}"] if bootstrap else [])
    rows = [header]
    for rate in result.rates.values():
        row = [rate.name, _percent(rate.value), _fraction(rate, "{} / {}"), _interval(rate.ci_low, rate.ci_high)]
        if bootstrap:
            row.append(_interval(rate.bootstrap_low, rate.bootstrap_high))
        rows.append(row)
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    benign = sum(result.labels.get(label, 0) for label in BENIGN_LABELS)
    lines = [
        title,
        ", ".join(f"{key} {value}" for key, value in {"policy": result.policy, **result.settings}.items()),
        f"samples: all {result.total}, unsafe {result.labels.get('unsafe', 0)}, benign {benign}",
        "verdicts: " + ", ".join(f"{verdict} {count}" for verdict, count in result.counts.items()),
        "",
    ]
    for index, row in enumerate(rows):
        lines.append("  ".join(cell.ljust(widths[i]) if i == 0 else cell.rjust(widths[i]) for i, cell in enumerate(row)).rstrip())
        if index == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def format_groups(groups: dict[str, Group], kind: str) -> str:
    """One line per group: each rate as ``percent (n/d)``."""
    lines = [f"by {kind}:"]
    width = max((len(g) for g in groups), default=0)
    for key, group in groups.items():
        cells = [f"{rate.name} {_percent(rate.value)}{_fraction(rate, ' ({}/{})')}" for rate in group.rates.values()]
        lines.append(f"  {(key or '(none)').ljust(width)}  " + ", ".join(cells))
    return "\n".join(lines)


def run_score(args: argparse.Namespace) -> int:
    """``mmsafety score``: the metric's rates of a verdicts file checked against its built set."""
    from mmsafety.scoring import score

    name = benchmarks.check_name(args.benchmark)
    check_confidence(args.confidence)
    policy = args.policy or benchmarks.policy(name)
    (checked,) = check_verdict_files([args.verdicts], name, args.config)
    table = checked.table
    try:
        result = score(
            table.column("verdict"),
            table.column("label"),
            policy=policy,
            categories=table.column("category"),
            subsets=table.column("subset"),
            invalid=args.invalid,
            confidence=args.confidence,
            bootstrap=args.bootstrap,
        )
    except ValueError as error:  # e.g. "subsets[3] = 'x' is not a subset": name the record, not only its position
        position = re.match(r"\w+\[(\d+)\]", str(error))
        record = f"id {table.column('id')[int(position[1])].as_py()}" if position else None
        raise InputError(str(error), file=args.verdicts, record=record) from None
    coverage = checked.coverage
    if args.json:
        print_json({**result.to_flat(), "coverage": coverage.to_dict(), "benchmark_config": checked.config})
    else:
        title = f"{described(name, checked.config)}: {table.num_rows} verdicts ({', '.join(judges(table))}), policy {result.policy}"
        print(format_table(result, title + "\n" + coverage.text()))
        for kind in ("subset", "category"):
            groups = getattr(result, f"by_{kind}")
            if groups:
                print()
                print(format_groups(groups, kind))
    return incomplete_status(args, [(args.verdicts, coverage)])


def judges(table: Any) -> list[str]:
    """``judge vVERSION`` of every judge in a verdict table."""
    pairs = table.select(["judge", "judge_version"]).group_by(["judge", "judge_version"]).aggregate([])
    return sorted(f"{judge or '?'} v{version or '?'}" for judge, version in zip(*(pairs.column(c).to_pylist() for c in ("judge", "judge_version"))))
