"""The options of the guard judge (``--judge guard``), shared by ``judge`` and ``evaluate``.

::

    mmsafety judge vlsbench --responses r.jsonl --out v.jsonl --judge guard --guard llama-guard \\
        --model meta-llama/Llama-Guard-4-12B --base-url http://localhost:8000/v1 [--refusal rules|wildguard]
    mmsafety judge salad --responses r.jsonl --out v.jsonl --judge guard --guard wildguard \\
        --model allenai/wildguard --base-url http://localhost:8001/v1 [--source-dir CHECKOUT] [--checksums FILE]

The guard judge takes the LLM judge's endpoint, cache, concurrency, retry and timeout options;
not its rubrics or protocol.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from mmsafety import benchmarks
from mmsafety.errors import InputError
from mmsafety.judges.guard_answers import GUARDS, REFUSAL_SIGNALS, WILDGUARD_MODEL

GUARD_JUDGE = "guard"
GUARD_OPTIONS = ("guard", "refusal", "checksums", "refusal_model", "refusal_base_url")
"""Options of the guard judge only."""
NOT_FOR_GUARDS = ("rubric", "protocol")
"""Options of the LLM judge a guard does not take (its request is the guard's own)."""


def add_guard_options(parser: argparse.ArgumentParser) -> None:
    """``--guard``, ``--refusal`` and what goes with them."""
    guard = parser.add_argument_group("guard judge (--judge guard; takes the llm judge's endpoint, cache and retry options)")
    guard.add_argument("--guard", choices=GUARDS, help="llama-guard (Llama Guard 3 Vision / 4: sees the image; no refusal) or "
                       "wildguard (text only; harmful request, refusal, harmful response)")
    guard.add_argument("--refusal", choices=REFUSAL_SIGNALS, help="llama-guard: add a refusal signal, the offline refusal cues "
                       "(rules, a heuristic) or a WildGuard beside it (wildguard; see --refusal-model)")
    guard.add_argument("--refusal-model", metavar="NAME", help=f"--refusal wildguard: WildGuard's model name (default {WILDGUARD_MODEL})")
    guard.add_argument("--refusal-base-url", metavar="URL", help="--refusal wildguard: WildGuard's endpoint (default: --base-url)")
    guard.add_argument("--checksums", type=Path, metavar="FILE", help="pin WildGuard's file with this checksums.tsv (from "
                       "`mmsafety checksums`) instead of mmsafety's own, to accept a deliberate newer upstream")


def check_guard_options(name: str, args: argparse.Namespace) -> None:
    """Refuse guard options without the guard judge, LLM options a guard does not take, and a
    guard judge without ``--guard`` or ``--model``."""
    given = [option for option in GUARD_OPTIONS if getattr(args, option, None) is not None]
    if name != GUARD_JUDGE:
        if given:
            flags = ", ".join("--" + option.replace("_", "-") for option in given)
            raise InputError(f"{flags}: options of the guard judge (--judge guard), but the {name} judge was chosen")
        return
    wrong = [option for option in NOT_FOR_GUARDS if getattr(args, option, None)]
    if wrong:
        flags = ", ".join("--" + option.replace("_", "-") for option in wrong)
        raise InputError(f"{flags}: options of the llm judge's rubrics, but a guard judges with its own request (--judge guard)")
    if args.guard is None:
        raise InputError("the guard judge needs --guard llama-guard or --guard wildguard")
    if not args.model:
        raise InputError(f"the guard judge needs --model NAME (the {args.guard} model at --base-url)")


def make_guard_judge(args: argparse.Namespace, benchmark: Any, llm: dict[str, Any]) -> Any:
    """The guard judge the options describe; ``llm`` holds the LLM judge's keyword arguments
    (endpoint, cache, concurrency, retry, timeout; ``temperature``/``max_tokens`` only when given)."""
    from mmsafety.judges.guard import guard_judge

    if benchmarks.judging(benchmark.name).offline_judge == "yesno":
        raise InputError(
            f"--judge guard: {benchmark.name} asks the model whether an image-query pair is safe and scores its Yes/No "
            "answer (the yesno judge); a guard classifies whether a response is harmful, which that answer does not say"
        )
    return guard_judge(
        args.guard,
        model=args.model,
        refusal=args.refusal,
        source=args.source_dir,
        checksums=args.checksums,
        refusal_model=args.refusal_model,
        refusal_base_url=args.refusal_base_url,
        **llm,
    )
