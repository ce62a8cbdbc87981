"""What several commands share: the options that choose and configure a judge, judging a
responses file with them, and the scoring options. Imported by commands; imports none."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mmsafety import benchmarks
from mmsafety.commands.guard import GUARD_JUDGE, add_guard_options, check_guard_options, make_guard_judge
from mmsafety.data.configs import described
from mmsafety.errors import InputError
from mmsafety.judges import JUDGE_NAMES
from mmsafety.judges.base import Judge
from mmsafety.judges.protocols import JUDGE_MAX_TOKENS, PROTOCOL_CHOICES
from mmsafety.labels import VERDICTS
from mmsafety.scoring import INVALID_HANDLING
from mmsafety.scoring.policies import POLICY_NAMES

LLM_OPTIONS = ("base_url", "model", "api_key_env", "concurrency", "timeout", "cache", "rubric", "max_attempts", "temperature", "max_tokens", "no_cache", "protocol", "source_dir")
JUDGES_EPILOG = (
    "judges: yesno (MMSafeAware's Yes/No reader; --compat for the authors' script), rules (offline "
    "refusal/warning cues, a heuristic), llm (any OpenAI-compatible endpoint), guard (Llama Guard or WildGuard behind one; "
    "see docs/guard-judges.md). Default: guard when --guard is given, llm when --model "
    "or --base-url is given, else the benchmark's offline judge. The llm judge follows --protocol: upstream (the "
    "benchmark authors' own request, read from their pinned evaluation code; the default for VLSBench) or rubric "
    "(mmsafety's rubrics; the default elsewhere; also spelled mmsafety)."
)


def default_cache_path() -> Path:
    """Where the LLM judge caches answers unless told (``$XDG_CACHE_HOME/mmsafety/judge-cache.sqlite``)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "mmsafety" / "judge-cache.sqlite"


def add_responses_options(parser: argparse.ArgumentParser) -> None:
    """``--responses FILE`` and ``--map`` (shared by ``judge`` and ``evaluate``)."""
    from mmsafety.runs.response_formats import MAP_HELP

    parser.add_argument("--responses", required=True, metavar="FILE", help='JSONL, one {"id": ..., "response": ...} a line (as `mmsafety respond` '
                        "writes it); VLMEvalKit's .xlsx/.tsv predictions; other runners' JSONL, CSV, TSV or XLSX with --map")
    parser.add_argument("--map", metavar="NAME=FIELD,...", help=MAP_HELP)


def add_config_option(parser: argparse.ArgumentParser, *, from_verdicts: bool = False) -> None:
    """``--config NAME``: the benchmark's configuration (MMSafeAware: ``default`` or ``full``).
    ``from_verdicts``: a command that reads verdicts takes theirs unless told, and refuses another."""
    what = ("default: the one the verdicts record (default when they record none); a file of another configuration is refused"
            if from_verdicts else "default: the benchmark's default")
    parser.add_argument("--config", metavar="NAME", help=f"the benchmark's configuration (mmsafeaware: default or full; {what})")


def add_judge_options(parser: argparse.ArgumentParser) -> None:
    """The options that choose and configure a judge (shared by ``judge`` and ``evaluate``)."""
    parser.add_argument("--judge", choices=(*JUDGE_NAMES, GUARD_JUDGE), help="which judge (default: see below)")
    parser.add_argument("--compat", action="store_true", help="yesno: reproduce the MMSafeAware authors' substring scoring exactly")
    llm = parser.add_argument_group("llm judge")
    llm.add_argument("--base-url", metavar="URL", help="OpenAI-compatible endpoint, e.g. http://localhost:8000/v1 (default: OpenAI)")
    llm.add_argument("--model", metavar="NAME", help="judge model name")
    llm.add_argument("--api-key-env", metavar="VAR", help="environment variable holding the API key (default OPENAI_API_KEY)")
    llm.add_argument("--concurrency", type=int, metavar="N", help="requests in flight at most (default 16)")
    llm.add_argument("--timeout", type=float, metavar="S", help="seconds to wait for one answer (default 30; a timeout is asked again at most twice, and 8 responses given up in a row stop the run, exit 2)")
    llm.add_argument("--max-attempts", type=int, metavar="N", help="requests per response before giving up (default 6)")
    llm.add_argument("--temperature", type=float, metavar="T", help="judge sampling temperature (default 0)")
    llm.add_argument("--max-tokens", type=int, metavar="N", help=f"judge answer length limit (default {JUDGE_MAX_TOKENS}; the authors' 128 under --protocol upstream)")
    llm.add_argument("--cache", metavar="FILE", help=f"SQLite answer cache (default {default_cache_path()})")
    llm.add_argument("--no-cache", action="store_true", help="neither read nor write the answer cache")
    llm.add_argument("--rubric", action="append", metavar="FILE", help="your own rubric template (repeat for several sample labels)")
    llm.add_argument(
        "--protocol",
        choices=PROTOCOL_CHOICES,
        help="upstream: the benchmark authors' own judge request (default for VLSBench); rubric (or mmsafety, its earlier name): mmsafety's rubrics (default elsewhere)",
    )
    llm.add_argument("--source-dir", metavar="PATH", help="--protocol upstream: a folder holding the authors' evaluation code, or the file; --judge guard: a checkout of "
                     "WildGuard's repository, or its wildguard/utils.py (default: download it at the pinned commit)")
    add_guard_options(parser)
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def choose_judge(benchmark: str, args: argparse.Namespace) -> str:
    """The judge to run: ``--judge``, else ``guard`` if ``--guard`` is given, ``llm`` if an endpoint or model is named, else the
    benchmark's offline judge. Conflicting options are bad input."""
    llm_given = [name for name in LLM_OPTIONS if getattr(args, name) not in (None, False)]
    name = args.judge or (GUARD_JUDGE if args.guard else "llm" if args.base_url or args.model else benchmarks.judging(benchmark).offline_judge)
    if args.compat and name != "yesno":
        raise InputError(f"--compat applies to the yesno judge only, not to {name}")
    check_guard_options(name, args)
    if name not in ("llm", GUARD_JUDGE) and llm_given:
        flags = ", ".join("--" + option.replace("_", "-") for option in llm_given)
        raise InputError(f"{flags}: options of the llm judge, but the {name} judge was chosen")
    if name == "llm" and not args.model:
        raise InputError("the llm judge needs --model NAME (the judge model at --base-url)")
    return name


def make_judge(name: str, args: argparse.Namespace, benchmark: Any) -> Judge:
    """Construct the named judge from command-line options."""
    if name not in ("llm", GUARD_JUDGE):
        from mmsafety.integrations.common import named_judge

        return named_judge(name, compat=args.compat)
    from mmsafety.judges.llm import DEFAULT_API_KEY_ENV, DEFAULT_TIMEOUT, LLMJudge, RetryPolicy
    from mmsafety.judges.protocols import judge_request

    endpoint = dict(
        base_url=args.base_url,
        api_key_env=args.api_key_env or DEFAULT_API_KEY_ENV,
        concurrency=16 if args.concurrency is None else args.concurrency,
        timeout=DEFAULT_TIMEOUT if args.timeout is None else args.timeout,
        cache=None if args.no_cache else Path(args.cache) if args.cache else default_cache_path(),
        retry=RetryPolicy(max_attempts=6 if args.max_attempts is None else args.max_attempts),
        benchmark=benchmark.repo,
        benchmark_version=benchmark.version,
    )
    if name == GUARD_JUDGE:  # a guard's own settings unless given
        given = {key: value for key, value in (("temperature", args.temperature), ("max_tokens", args.max_tokens)) if value is not None}
        return make_guard_judge(args, benchmark, {**endpoint, **given})
    protocol = judge_request(benchmark.name, args.protocol, rubric_files=args.rubric, source=args.source_dir)
    return LLMJudge(
        model=args.model,
        rubrics=protocol.rubrics,
        temperature=protocol.settings.get("temperature", 0.0) if args.temperature is None else args.temperature,
        max_tokens=protocol.settings.get("max_tokens", JUDGE_MAX_TOKENS) if args.max_tokens is None else args.max_tokens,
        **endpoint,  # type: ignore[arg-type]
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
    from mmsafety.runs.response_formats import parse_map, read_response_file
    from mmsafety.runs.samples import load_samples

    start = time.perf_counter()
    quiet_datasets()
    judge_name = choose_judge(name, args)
    if args.concurrency is not None and args.concurrency < 1:
        raise InputError(f"expected --concurrency of at least 1, found {args.concurrency}")
    if args.max_attempts is not None and args.max_attempts < 1:
        raise InputError(f"expected --max-attempts of at least 1, found {args.max_attempts}")
    if judge_name in ("llm", GUARD_JUDGE) and args.api_key_env and not os.environ.get(args.api_key_env):
        raise InputError(f"--api-key-env {args.api_key_env}: that environment variable is not set (expected the judge's API key in it)")
    mapping = parse_map(args.map) if args.map else None
    benchmark = load_samples(name, args.config)
    responses = read_response_file(args.responses, benchmark.samples, benchmark=name, mapping=mapping)
    judge = make_judge(judge_name, args, benchmark)
    pairs = [(benchmark.samples[r.id], r) for r in responses]
    with progress_bar(len(pairs), f"judging {name} ({judge.name})", "response", args) as bar:
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
        f"{len(run.responses)} of {len(benchmark.samples)} samples of {described(benchmark.repo, benchmark.config)})",
        judge.stats.summary(run.verdicts),
    ]
    if judge.heuristic:
        lines.append(
            "note: the rules judge is a heuristic (refusal and warning cues; limits in mmsafety/judges/rules_cues.json); "
            "use --judge llm for the papers' protocols"
        )
    lines += getattr(judge, "notes", list)()
    if judge.stats.structured_output is False:
        lines.append("note: the endpoint rejected structured output (response_format); answers were asked for in plain text")
    return "\n".join(lines)


def judge_summary_dict(run: JudgeRun, out: str | Path) -> dict[str, Any]:
    """What :func:`judge_summary` says, as ``--json`` prints it."""
    judge, stats = run.judge, run.judge.stats
    counts = Counter(v.verdict for v in run.verdicts)
    return {
        "out": str(out),
        "benchmark": run.benchmark.repo,
        "benchmark_version": run.benchmark.version,
        "benchmark_config": run.benchmark.config,
        "judge": judge.name,
        "judge_version": judge.version,
        "judge_model": judge.judge_model,
        "heuristic": bool(judge.heuristic),
        "responses": len(run.responses),
        "samples": len(run.benchmark.samples),
        "verdicts": {name: counts[name] for name in VERDICTS},
        "invalid_reasons": dict(Counter(v.reason for v in run.verdicts if v.reason is not None)),
        **stats.counters(),
        "structured_output": stats.structured_output,
    }


def add_score_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("scoring")
    group.add_argument("--policy", choices=POLICY_NAMES, help="scoring policy (default: the benchmark's own; custom sets: default)")
    group.add_argument("--invalid", choices=INVALID_HANDLING, default="exclude", help="invalid verdicts: leave out of denominators, or count as failures")
    group.add_argument("--confidence", type=float, default=0.95, help="interval level (default 0.95)")
    group.add_argument(
        "--require-complete",
        action="store_true",
        help="exit with status 1 when the verdicts leave items of the built set unscored (after printing the result)",
    )


def add_calibration_option(parser: argparse.ArgumentParser) -> None:
    """``--calibration HUMAN.jsonl`` (repeatable): human labels of a sample of a run, to correct its rates by."""
    parser.add_argument("--calibration", action="append", metavar="HUMAN.jsonl",
                        help="a human verdict file (as `mmsafety label` writes it) labelling a random sample of a run given: "
                        "each headline rate is also given corrected for the judge's errors (prediction-powered inference), "
                        "with its interval (repeat for several)")


def check_confidence(confidence: float) -> None:
    if not 0 < confidence < 1:
        raise InputError(f"expected --confidence between 0 and 1, found {confidence}")


def add_json_option(parser: argparse.ArgumentParser, what: str) -> None:
    """``--json``: print one JSON object on stdout (``what``) instead of the human lines."""
    parser.add_argument("--json", action="store_true", help=f"print one JSON object on stdout instead of the text: {what}")


def print_json(payload: Any) -> None:
    """Print ``payload`` as the one JSON object a ``--json`` run writes on stdout."""
    print(json.dumps(payload, indent=2, ensure_ascii=False, default=str))


def incomplete_status(args: argparse.Namespace, coverages: list[tuple[Any, Any]]) -> int:
    """Exit status 1 (saying why on stderr) when ``--require-complete`` is given and a verdicts
    file leaves items unscored; else 0. ``coverages``: (file, Coverage) pairs."""
    if not args.require_complete:
        return 0
    short = [(path, c) for path, c in coverages if not c.complete]
    for path, coverage in short:
        print(f"mmsafety {args.command}: {path}: {coverage.missing:,} of {coverage.total:,} items have no verdict (--require-complete)", file=sys.stderr)
    return 1 if short else 0


def quiet_datasets() -> None:
    """No "Found the latest cached dataset" chatter from ``datasets`` in a command's output."""
    from datasets.utils import logging as datasets_logging

    datasets_logging.set_verbosity_error()


def check_verdict_files(paths: list[Any], benchmark: str | None, config: str | None = None) -> list[Any]:
    """Each verdicts file checked against its built set in its configuration (``config``: the one
    ``--config`` names, else the one each file records; :func:`mmsafety.runs.checks.check_verdicts`)."""
    from mmsafety.runs.checks import check_verdicts

    quiet_datasets()
    return [check_verdicts(path, benchmark, config) for path in paths]


def report_json(report: Any, files: Any) -> dict[str, Any]:
    """A written report as ``report --json`` and ``evaluate --json`` print it: what ``scores.json``
    holds (every run's result and its verdicts file's coverage of the built set, the paired
    comparisons, image dependence) and the files written."""
    from mmsafety.report import report_payload

    payload = report_payload(report)
    payload["files"] = {
        "html": str(files.html),
        "markdown": str(files.markdown),
        "latex": str(files.latex),
        "scores": str(files.scores),
        "charts": sorted(str(path) for path in files.charts.values()),
    }
    return payload


def progress_bar(total: int, description: str, unit: str, args: argparse.Namespace) -> Any:
    """A progress bar on stderr (none with ``--no-progress``; none in a pipe unless asked)."""
    from tqdm import tqdm

    return tqdm(total=total, desc=description, unit=unit, file=sys.stderr, disable=True if args.no_progress else None, dynamic_ncols=True)


def check_distinct_files(**paths: str | os.PathLike[str] | None) -> None:
    """Refuse two options that name one file (``--cache`` and ``--out``: the verdicts would
    replace the answer cache). ``paths`` maps option names (``out``, ``cache``...) to paths;
    ``None`` is skipped. Symbolic links and ``..`` are resolved.

    >>> check_distinct_files(out="v.jsonl", cache="./v.jsonl")
    Traceback (most recent call last):
    ...
    mmsafety.errors.InputError: ./v.jsonl: --out and --cache name one file: expected two different paths
    """
    seen: dict[str, str] = {}
    for option, path in paths.items():
        if path is None:
            continue
        key = os.path.realpath(path)
        flag = "--" + option.replace("_", "-")
        if key in seen:
            raise InputError(f"{seen[key]} and {flag} name one file: expected two different paths", file=path)
        seen[key] = flag
