"""``mmsafety score``: a verdicts file to the rates of the benchmark's policy.

::

    mmsafety score salad verdicts.jsonl [--policy salad] [--json]
"""

from __future__ import annotations

import argparse
import json
import re
from typing import Any

from mmsafety import benchmarks
from mmsafety.errors import InputError
from mmsafety.scoring import INVALID_HANDLING
from mmsafety.scoring.policies import POLICY_NAMES

SCORE_SETTINGS = ("policy", "refusal_is_safe", "invalid_handling", "confidence", "bootstrap")


def add_parser(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register the ``score`` sub-command."""
    score = subparsers.add_parser(
        "score",
        help="score a verdicts file under the benchmark's policy",
        description="Print the safety rates of a verdicts file (from `mmsafety judge`) under a scoring policy.",
    )
    score.add_argument("benchmark", help="mmsafeaware, salad, vlsbench, or the repo id of a custom build")
    score.add_argument("verdicts", metavar="VERDICTS", help="verdicts JSONL written by `mmsafety judge`")
    score.add_argument("--policy", choices=POLICY_NAMES, help="scoring policy (default: the benchmark's own; custom sets: default)")
    score.add_argument("--invalid", choices=INVALID_HANDLING, default="exclude", help="invalid verdicts: leave out of denominators, or count as failures")
    score.add_argument("--confidence", type=float, default=0.95, help="interval level (default 0.95)")
    score.add_argument("--bootstrap", type=int, default=0, metavar="N", help="bootstrap resamples for percentile intervals")
    score.add_argument("--json", action="store_true", help="print the full result as JSON instead of the table")
    score.set_defaults(func=run_score)


def rate_names(result: Any) -> list[str]:
    """The rates of a :func:`mmsafety.scoring.score` result (``.rates``) or of one of its flat groups."""
    if hasattr(result, "rates"):
        return list(result.rates)
    return [key.removesuffix("_numerator") for key in result if key.endswith("_numerator")]


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
    """``mmsafety score``: the metric's rates of a verdicts file."""
    from mmsafety.runs.files import read_verdicts
    from mmsafety.scoring import score

    name = benchmarks.check_name(args.benchmark)
    policy = args.policy or benchmarks.policy(name)
    records = read_verdicts(args.verdicts)
    try:
        result = score(
            [r["verdict"] for r in records],
            [r["label"] for r in records],
            policy=policy,
            categories=[r["category"] for r in records],
            subsets=[r["subset"] for r in records],
            invalid=args.invalid,
            confidence=args.confidence,
            bootstrap=args.bootstrap,
        )
    except ValueError as error:  # e.g. "subsets[3] = 'x' is not a subset": name the record, not only its position
        position = re.match(r"\w+\[(\d+)\]", str(error))
        record = f"id {records[int(position[1])]['id']}" if position else None
        raise InputError(str(error), file=args.verdicts, record=record) from None
    if args.json:
        print(json.dumps(result.to_flat(), indent=2, ensure_ascii=False))
        return 0
    judges = sorted({f"{r.get('judge', '?')} v{r.get('judge_version', '?')}" for r in records})
    print(format_table(result, f"{name}: {len(records)} verdicts ({', '.join(judges)}), policy {result.get('policy', policy)}"))
    for kind in ("subset", "category"):
        groups = result.get(f"by_{kind}")
        if groups:
            print()
            print(format_groups(groups, kind))
    return 0
