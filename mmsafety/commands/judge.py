"""``mmsafety judge`` and ``mmsafety score``: responses to verdicts, verdicts to rates.

::

    mmsafety judge salad --responses responses.jsonl --out verdicts.jsonl            # rules (offline)
    mmsafety judge mmsafeaware --responses r.jsonl --out v.jsonl [--compat]         # yesno
    mmsafety judge vlsbench --responses r.jsonl --out v.jsonl \\
        --model gpt-4o [--base-url http://localhost:8000/v1] [--concurrency 16]     # llm
    mmsafety score salad verdicts.jsonl [--policy salad] [--json]

Which judge runs when ``--judge`` is not given: ``llm`` when ``--model`` or
``--base-url`` is; else the benchmark's offline judge (``yesno`` for MMSafeAware,
``rules`` for the others). The scoring policy defaults to the benchmark's own
(:mod:`mmsafety.judges.protocols`).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mmsafety.errors import InputError
from mmsafety.judges.base import Judge
from mmsafety import benchmarks
from mmsafety.scoring.policies import POLICY_NAMES

LLM_OPTIONS = ("base_url", "model", "api_key_env", "concurrency", "timeout", "cache", "rubric", "max_attempts", "temperature", "max_tokens", "no_cache")
SCORE_SETTINGS = ("policy", "refusal_is_safe", "invalid_handling", "confidence", "bootstrap")
JUDGES_EPILOG = (
    "judges: yesno (MMSafeAware's Yes/No reader; --compat for the authors' script), rules (offline "
    "refusal/warning cues, a heuristic), llm (any OpenAI-compatible endpoint). Default: llm when --model "
    "or --base-url is given, else the benchmark's offline judge."
)
COMPANION_SUFFIXES = ("_numerator", "_denominator", "_ci_low", "_ci_high", "_bootstrap_low", "_bootstrap_high")


def default_cache_path() -> Path:
    """Where the LLM judge caches answers unless told (``$XDG_CACHE_HOME/mmsafety/judge-cache.sqlite``)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "mmsafety" / "judge-cache.sqlite"


def add_parser(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register the ``judge`` and ``score`` sub-commands."""
    judge = subparsers.add_parser(
        "judge",
        help="judge model responses into verdicts (JSONL)",
        description="Judge a JSONL file of model responses against a built benchmark and write one verdict per response.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=JUDGES_EPILOG,
    )
    judge.add_argument("benchmark", help="mmsafeaware, salad, vlsbench, or the repo id of a custom build")
    judge.add_argument("--responses", required=True, metavar="FILE", help='JSONL, one {"id": ..., "response": ...} a line')
    judge.add_argument("--out", required=True, metavar="FILE", help="verdicts JSONL to write (atomically)")
    add_judge_options(judge)
    judge.set_defaults(func=run_judge)

    score = subparsers.add_parser(
        "score",
        help="score a verdicts file under the benchmark's policy",
        description="Print the safety rates of a verdicts file (from `mmsafety judge`) under a scoring policy.",
    )
    score.add_argument("benchmark", help="mmsafeaware, salad, vlsbench, or the repo id of a custom build")
    score.add_argument("verdicts", metavar="VERDICTS", help="verdicts JSONL written by `mmsafety judge`")
    score.add_argument("--policy", choices=POLICY_NAMES, help="scoring policy (default: the benchmark's own; custom sets: default)")
    score.add_argument("--invalid", choices=("exclude", "fail"), default="exclude", help="invalid verdicts: leave out of denominators, or count as failures")
    score.add_argument("--confidence", type=float, default=0.95, help="interval level (default 0.95)")
    score.add_argument("--bootstrap", type=int, default=0, metavar="N", help="bootstrap resamples for percentile intervals")
    score.add_argument("--json", action="store_true", help="print the full result as JSON instead of the table")
    score.set_defaults(func=run_score)


# ---------------------------------------------------------------------------------- judge


def add_judge_options(parser: argparse.ArgumentParser) -> None:
    """The options that choose and configure a judge (shared by ``judge`` and ``evaluate``)."""
    parser.add_argument("--judge", choices=("rules", "yesno", "llm"), help="which judge (default: see below)")
    parser.add_argument("--compat", action="store_true", help="yesno: reproduce the MMSafeAware authors' substring scoring exactly")
    llm = parser.add_argument_group("llm judge")
    llm.add_argument("--base-url", metavar="URL", help="OpenAI-compatible endpoint, e.g. http://localhost:8000/v1 (default: OpenAI)")
    llm.add_argument("--model", metavar="NAME", help="judge model name")
    llm.add_argument("--api-key-env", metavar="VAR", help="environment variable holding the API key (default OPENAI_API_KEY)")
    llm.add_argument("--concurrency", type=int, metavar="N", help="requests in flight at most (default 16)")
    llm.add_argument("--timeout", type=float, metavar="S", help="seconds to wait for one answer (default 60)")
    llm.add_argument("--max-attempts", type=int, metavar="N", help="requests per response before giving up (default 6)")
    llm.add_argument("--temperature", type=float, metavar="T", help="judge sampling temperature (default 0)")
    llm.add_argument("--max-tokens", type=int, metavar="N", help="judge answer length limit (default 512)")
    llm.add_argument("--cache", metavar="FILE", help=f"SQLite answer cache (default {default_cache_path()})")
    llm.add_argument("--no-cache", action="store_true", help="neither read nor write the answer cache")
    llm.add_argument("--rubric", action="append", metavar="FILE", help="your own rubric template (repeat for several sample labels)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def choose_judge(benchmark: str, args: argparse.Namespace) -> str:
    """The judge to run: ``--judge``, else ``llm`` if an endpoint or model is named, else the
    benchmark's offline judge. Conflicting options are bad input."""
    llm_given = [name for name in LLM_OPTIONS if getattr(args, name, None) not in (None, False)]
    name = args.judge or ("llm" if args.base_url or args.model else benchmarks.protocol(benchmark).offline_judge)
    if args.compat and name != "yesno":
        raise InputError(f"--compat applies to the yesno judge only, not to {name}")
    if name != "llm" and llm_given:
        flags = ", ".join("--" + option.replace("_", "-") for option in llm_given)
        raise InputError(f"{flags}: options of the llm judge, but the {name} judge was chosen")
    if name == "llm" and not args.model:
        raise InputError("the llm judge needs --model NAME (the judge model at --base-url)")
    return name


def make_judge(name: str, args: argparse.Namespace, benchmark: Any) -> Judge:
    """Construct the named judge from command-line options."""
    if name == "yesno":
        from mmsafety.judges.yesno import YesNoJudge

        return YesNoJudge(compat=args.compat)
    if name == "rules":
        from mmsafety.judges.rules import RuleJudge

        return RuleJudge()
    from mmsafety.judges.llm import DEFAULT_API_KEY_ENV, LLMJudge, RetryPolicy
    from mmsafety.judges.rubric import RubricSet, rubrics_for

    rubrics = RubricSet.load(args.rubric) if args.rubric else rubrics_for(benchmark.name)
    cache = None if args.no_cache else Path(args.cache) if args.cache else default_cache_path()
    return LLMJudge(
        model=args.model,
        rubrics=rubrics,
        base_url=args.base_url,
        api_key_env=args.api_key_env or DEFAULT_API_KEY_ENV,
        concurrency=16 if args.concurrency is None else args.concurrency,
        timeout=60.0 if args.timeout is None else args.timeout,
        cache=cache,
        temperature=0.0 if args.temperature is None else args.temperature,
        max_tokens=512 if args.max_tokens is None else args.max_tokens,
        retry=RetryPolicy(max_attempts=6 if args.max_attempts is None else args.max_attempts),
        benchmark=benchmark.repo,
        benchmark_version=benchmark.version,
    )


@dataclass
class JudgeRun:
    """What judging a responses file produced."""

    benchmark: Any
    """The :class:`~mmsafety.runs.samples.Benchmark` judged against."""
    responses: list[Any]
    judge: Judge
    verdicts: list[Any]


def judge_responses(args: argparse.Namespace, name: str) -> JudgeRun:
    """Read ``args.responses``, check them against the built benchmark ``name`` and judge them
    with the judge the options choose (with a progress bar unless ``--no-progress``)."""
    from datasets.utils import logging as datasets_logging
    from tqdm import tqdm

    from mmsafety.runs.files import read_responses
    from mmsafety.runs.samples import load_samples

    start = time.perf_counter()
    datasets_logging.set_verbosity_error()  # no "Found the latest cached dataset" chatter in a CLI run
    judge_name = choose_judge(name, args)
    if args.concurrency is not None and args.concurrency < 1:
        raise InputError(f"expected --concurrency of at least 1, found {args.concurrency}")
    if args.max_attempts is not None and args.max_attempts < 1:
        raise InputError(f"expected --max-attempts of at least 1, found {args.max_attempts}")
    if judge_name == "llm" and args.api_key_env and not os.environ.get(args.api_key_env):
        raise InputError(f"--api-key-env {args.api_key_env}: that environment variable is not set (expected the judge's API key in it)")
    benchmark = load_samples(name)
    responses = read_responses(args.responses, benchmark.samples, benchmark=name)
    judge = make_judge(judge_name, args, benchmark)
    pairs = [(benchmark.samples[r.id], r) for r in responses]
    with tqdm(
        total=len(pairs),
        desc=f"judging {name} ({judge.name})",
        unit="response",
        file=sys.stderr,
        disable=True if args.no_progress else None,
        dynamic_ncols=True,
    ) as bar:
        try:
            verdicts = judge.judge_many(pairs, on_verdict=lambda _: bar.update(1))
        finally:
            close = getattr(judge, "close", None)
            if close is not None:
                close()
    judge.stats.seconds = time.perf_counter() - start
    return JudgeRun(benchmark, responses, judge, verdicts)


def judge_summary(run: JudgeRun, out: str | Path) -> str:
    """The lines ``mmsafety judge`` prints after writing ``out``."""
    judge, benchmark = run.judge, run.benchmark
    lines = [
        f"wrote {len(run.verdicts)} verdicts to {out} (judge {judge.name} v{judge.version}"
        f"{', model ' + str(judge.judge_model) if judge.judge_model else ''}; "
        f"{len(run.responses)} of {len(benchmark.samples)} samples of {benchmark.repo})",
        judge.stats.summary(run.verdicts),
    ]
    if judge.heuristic:
        lines.append(
            "note: the rules judge is a heuristic (refusal and warning cues; limits in mmsafety/judges/rules_cues.json); "
            "use --judge llm for the papers' protocols"
        )
    if judge.stats.structured_output is False:
        lines.append("note: the endpoint rejected structured output (response_format); answers were asked for in plain text")
    return "\n".join(lines)


def run_judge(args: argparse.Namespace) -> int:
    """``mmsafety judge``: read responses, judge them, write verdicts, print a summary."""
    from mmsafety.runs.files import write_verdicts

    name = benchmarks.check_name(args.benchmark)
    if os.path.abspath(args.out) == os.path.abspath(args.responses):
        raise InputError("--out is the responses file: expected another path for the verdicts", file=args.out)
    run = judge_responses(args, name)
    write_verdicts(args.out, run.verdicts, benchmark=run.benchmark.repo, benchmark_version=run.benchmark.version)
    print(judge_summary(run, args.out))
    return 0


# ---------------------------------------------------------------------------------- score


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
