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
    add_calibration_option,
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
from mmsafety.scoring.policies import get_policy
from mmsafety.scoring.result import Group, RateValue, Score
from mmsafety.scoring.signals import refused_rates, withhold


def add_parser(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register the ``score`` sub-command."""
    score = subparsers.add_parser(
        "score",
        help="score a verdicts file under the benchmark's policy",
        description="Print the safety rates of a verdicts file (from `mmsafety judge`) under a scoring policy. "
        "The file is checked against the built set first: every record must judge the benchmark named here and an "
        "id of its set, with the set's label, category and subset; the coverage (scored N of M items) is printed.",
    )
    score.add_argument("benchmark", help=f"{', '.join(benchmarks.names())}, or the repo id of a custom build")
    score.add_argument("verdicts", metavar="VERDICTS", help="verdicts JSONL written by `mmsafety judge`")
    add_config_option(score, from_verdicts=True)
    add_score_options(score)
    add_calibration_option(score)
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
    refused = refused_rates(get_policy(policy), table.column("judge_signals").unique().to_pylist())
    result = withhold(result, refused)
    coverage = checked.coverage
    calibration = corrected(args, name, policy) if args.calibration else None
    if args.json:
        print_json({**result.to_flat(), **({"refused_rates": refused} if refused else {}), "coverage": coverage.to_dict(),
                    "benchmark_config": checked.config, **({"calibration": calibration[1]} if calibration else {})})
    else:
        title = f"{described(name, checked.config)}: {table.num_rows} verdicts ({', '.join(judges(table))}), policy {result.policy}"
        print(format_table(result, title + "\n" + coverage.text()))
        for rate, why in refused.items():
            print(f"refused: {rate}: {why}")
        if "text" in table.column("judge_sees").unique().to_pylist():
            print("note: the judge read text only: it did not see the images")
        for kind in ("subset", "category"):
            groups = getattr(result, f"by_{kind}")
            if groups:
                print()
                print(format_groups(groups, kind))
        if calibration:
            print()
            print("\n".join(calibration[0]))
    return incomplete_status(args, [(args.verdicts, coverage)])


def corrected(args: argparse.Namespace, name: str, policy: str) -> tuple[list[str], dict[str, Any]]:
    """The headline rates corrected by each ``--calibration`` file: the lines printed and the JSON."""
    from mmsafety.report.judges import corrected_line
    from mmsafety.report.rate_cells import headline
    from mmsafety.runs.judged import check_same_responses, read_judged
    from mmsafety.scoring.calibration import ASSUMPTION, METHOD, corrected_rates

    judge, *humans = read_judged([args.verdicts, *args.calibration], name)
    if judge.human is not None:
        raise InputError("a human verdict file as the run to score with --calibration: expected the judge's verdicts", file=judge.path)
    lines, payload = [], []
    for human in humans:
        if human.human is None:
            raise InputError('expected a human verdict file (judge "human", as `mmsafety label` writes it) for --calibration', file=human.path)
        check_same_responses([judge, human])
        rates = corrected_rates(judge.records, human.records, policy, headline(policy), invalid=args.invalid, confidence=args.confidence)
        lines.append(f"corrected by {human.name} ({human.path}: {len(human.records)} labelled items, "
                     f"Kish effective n of the weights {kish(human.human.weights.values()):.1f}):")
        lines += [f"  {corrected_line(judge.name, human.name, rate)}" for rate in rates]
        payload.append({"file": str(human.path), "labellers": list(human.human.labellers), "labelled": len(human.records),
                        "rates": [rate.to_json() for rate in rates]})
    lines += [f"method: {METHOD}", f"assumption: {ASSUMPTION}",
              "effective n: the human labels alone that would give an interval as narrow"]
    return lines, {"method": METHOD, "assumption": ASSUMPTION, "files": payload}


def kish(weights: Any) -> float:
    """Kish's effective sample size of sampling weights: ``(sum w)^2 / sum w^2``.

    >>> kish([1, 1, 1, 1]), kish([1, 3])
    (4.0, 1.6)
    """
    values = [float(w) for w in weights]
    return sum(values) ** 2 / sum(v * v for v in values)


def judges(table: Any) -> list[str]:
    """``judge vVERSION`` of every judge in a verdict table."""
    pairs = table.select(["judge", "judge_version"]).group_by(["judge", "judge_version"]).aggregate([])
    return sorted(f"{judge or '?'} v{version or '?'}" for judge, version in zip(*(pairs.column(c).to_pylist() for c in ("judge", "judge_version"))))
