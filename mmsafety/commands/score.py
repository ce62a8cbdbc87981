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
    add_json_option,
    add_score_options,
    check_confidence,
    check_verdict_files,
    coverage_line,
    flat_result,
    incomplete_status,
    print_json,
)
from mmsafety.errors import InputError

SCORE_SETTINGS = ("policy", "refusal_is_safe", "invalid_handling", "confidence", "bootstrap")


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
    add_score_options(score)
    score.add_argument("--bootstrap", type=int, default=0, metavar="N", help="bootstrap resamples for percentile intervals")
    add_json_option(score, "the full result, with its coverage")
    score.set_defaults(func=run_score)


def rate_names(result: Any) -> list[str]:
    """The rates of a :func:`mmsafety.scoring.score` result (``.rates``) or of one of its flat groups."""
    if hasattr(result, "rates"):
        return list(result.rates)
    return [key.removesuffix("_ci_low") for key in result if key.endswith("_ci_low")]


def _percent(value: Any) -> str:
    return "—" if value is None else f"{100 * value:.2f}"


def format_table(result: dict[str, Any], title: str) -> str:
    """The rates of a score result as a plain-text table (percent, n/d, interval)."""
    names = rate_names(result)
    bootstrap = any(f"{n}_bootstrap_low" in result for n in names)
    level = f"{100 * result.get('confidence', 0.95):g}%"
    header = ["rate", "%", "n / d", f"Wilson {level}"] + ([f"bootstrap {level}"] if bootstrap else [])
    rows = [header]
    for name in names:
        fraction = ""
        if f"{name}_numerator" in result:
            fraction = f"{result[f'{name}_numerator']} / {result[f'{name}_denominator']}"
        wilson = ""
        if f"{name}_ci_low" in result:
            wilson = f"{_percent(result[f'{name}_ci_low'])}–{_percent(result[f'{name}_ci_high'])}"
        row = [name, _percent(result[name]), fraction, wilson]
        if bootstrap:
            low = result.get(f"{name}_bootstrap_low")
            row.append(f"{_percent(low)}–{_percent(result.get(f'{name}_bootstrap_high'))}" if f"{name}_bootstrap_low" in result else "")
        rows.append(row)
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(header))]
    lines = [title]
    settings = ", ".join(f"{k} {result[k]}" for k in SCORE_SETTINGS if k in result)
    if settings:
        lines.append(settings)
    for prefix, noun in (("num_", "samples"), ("count_", "verdicts")):
        counts = ", ".join(
            f"{'all' if k == 'num_samples' else k.removeprefix(prefix)} {v}" for k, v in result.items() if k.startswith(prefix)
        )
        if counts:
            lines.append(f"{noun}: {counts}")
    lines.append("")
    for index, row in enumerate(rows):
        lines.append("  ".join(str(cell).ljust(widths[i]) if i == 0 else str(cell).rjust(widths[i]) for i, cell in enumerate(row)).rstrip())
        if index == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def format_groups(groups: dict[str, dict[str, Any]], kind: str) -> str:
    """One line per group: each rate as ``percent (n/d)``."""
    lines = [f"by {kind}:"]
    width = max((len(g) for g in groups), default=0)
    for group, entry in groups.items():
        cells = []
        for name in rate_names(entry):
            fraction = f" ({entry[name + '_numerator']}/{entry[name + '_denominator']})" if name + "_numerator" in entry else ""
            cells.append(f"{name} {_percent(entry[name])}{fraction}")
        lines.append(f"  {(group or '(none)').ljust(width)}  " + ", ".join(cells))
    return "\n".join(lines)


def run_score(args: argparse.Namespace) -> int:
    """``mmsafety score``: the metric's rates of a verdicts file checked against its built set."""
    from mmsafety.scoring import score

    name = benchmarks.check_name(args.benchmark)
    check_confidence(args.confidence)
    policy = args.policy or benchmarks.policy(name)
    (checked,) = check_verdict_files([args.verdicts], name)
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
    flat = flat_result(result)
    coverage = checked.coverage
    if args.json:
        print_json({**flat, "coverage": coverage.to_dict()})
    else:
        title = f"{name}: {table.num_rows} verdicts ({', '.join(judges(table))}), policy {flat.get('policy', policy)}"
        print(format_table(flat, title + "\n" + coverage_line(coverage)))
        for kind in ("subset", "category"):
            groups = flat.get(f"by_{kind}")
            if groups:
                print()
                print(format_groups(groups, kind))
    return incomplete_status(args, [(args.verdicts, coverage)])


def judges(table: Any) -> list[str]:
    """``judge vVERSION`` of every judge in a verdict table."""
    pairs = table.select(["judge", "judge_version"]).group_by(["judge", "judge_version"]).aggregate([])
    return sorted(f"{judge or '?'} v{version or '?'}" for judge, version in zip(*(pairs.column(c).to_pylist() for c in ("judge", "judge_version"))))
