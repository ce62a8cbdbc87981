"""``mmsafety respond``: ask a vision model behind an OpenAI-compatible endpoint about every sample.

::

    mmsafety respond salad --base-url http://localhost:8000/v1 --model Qwen/Qwen2.5-VL-7B-Instruct \\
        --out qwen.jsonl [--concurrency 16] [--max-tokens 1024] [--system-prompt FILE] [--limit N] [--blind]
"""

from __future__ import annotations

import argparse
import os
import time
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

from mmsafety import benchmarks
from mmsafety.commands.common import add_config_option, check_distinct_files, print_json, progress_bar, quiet_datasets
from mmsafety.data.configs import DEFAULT_CONFIG, described
from mmsafety.errors import InputError

if TYPE_CHECKING:
    from mmsafety.runs.respond import RespondStats


def respond_cache_path() -> Path:
    """Where ``respond`` caches answers unless told (``$XDG_CACHE_HOME/mmsafety/respond-cache.sqlite``)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "mmsafety" / "respond-cache.sqlite"


def add_parser(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register ``respond``."""
    respond = subparsers.add_parser(
        "respond",
        help="run a vision model behind an OpenAI-compatible endpoint on a built benchmark",
        description="Ask the model under test about every sample of a built benchmark (the image as a data URL, "
        "then the query; temperature 0) and write its responses as JSONL, ready for `mmsafety judge` / `evaluate`. "
        "Answers are cached, so an interrupted run resumes; a sample the endpoint refuses is recorded with its "
        "error and the run goes on.",
    )
    respond.add_argument("benchmark", help=f"{', '.join(benchmarks.names())}, or the repo id of a custom build")
    respond.add_argument("--base-url", required=True, metavar="URL", help="the OpenAI-compatible endpoint, e.g. http://localhost:8000/v1 (vLLM, SGLang), http://localhost:11434/v1 (Ollama), https://api.openai.com/v1")
    respond.add_argument("--model", required=True, metavar="NAME", help="the model under test, as the endpoint names it")
    respond.add_argument("--out", required=True, metavar="FILE", help="responses JSONL to write (atomically)")
    respond.add_argument("--concurrency", type=int, default=16, metavar="N", help="requests in flight at most (default 16)")
    respond.add_argument("--max-tokens", type=int, default=1024, metavar="N", help="answer length limit (default 1024)")
    respond.add_argument("--temperature", type=float, default=0.0, metavar="T", help="sampling temperature (default 0, as the papers)")
    respond.add_argument("--system-prompt", type=Path, metavar="FILE", help="a text file sent as the system message (default: none)")
    add_config_option(respond)
    respond.add_argument("--limit", type=int, metavar="N", help="only the first N samples")
    respond.add_argument("--blind", action="store_true", help="ask the same queries without the images (text only, same system prompt and settings), to measure how much the answers depend on them; each record says \"blind\": true, and the answers are cached apart")
    respond.add_argument("--api-key-env", metavar="VAR", help="environment variable holding the API key (default OPENAI_API_KEY; local servers need none)")
    respond.add_argument("--timeout", type=float, default=120.0, metavar="S", help="seconds to wait for one answer (default 120)")
    respond.add_argument("--max-attempts", type=int, default=6, metavar="N", help="requests per sample before giving up (default 6)")
    respond.add_argument("--cache", type=Path, metavar="FILE", help=f"SQLite answer cache (default {respond_cache_path()})")
    respond.add_argument("--no-cache", action="store_true", help="neither read nor write the answer cache")
    respond.add_argument("--no-progress", action="store_true", help="no progress bar")
    respond.add_argument("--json", action="store_true", help="print one JSON object on stdout instead of the summary: counts, errors by reason, requests, cache hits")
    respond.set_defaults(func=run_respond)


def run_respond(args: argparse.Namespace) -> int:
    """``mmsafety respond``: ask the model about each sample, write the responses JSONL."""
    from mmsafety.transport.endpoint import DEFAULT_API_KEY_ENV, RetryPolicy
    from mmsafety.runs.files import write_jsonl_atomic
    from mmsafety.runs.samples import load_samples
    from mmsafety.runs.respond import Responder

    start = time.perf_counter()
    quiet_datasets()
    name = benchmarks.check_name(args.benchmark)
    for flag, value in (("--concurrency", args.concurrency), ("--max-attempts", args.max_attempts), ("--max-tokens", args.max_tokens)):
        if value < 1:
            raise InputError(f"expected {flag} of at least 1, found {value}")
    if args.limit is not None and args.limit < 1:
        raise InputError(f"expected --limit of at least 1, found {args.limit}")
    if args.api_key_env and not os.environ.get(args.api_key_env):
        raise InputError(f"--api-key-env {args.api_key_env}: that environment variable is not set (expected the API key in it)")
    system_prompt = None
    if args.system_prompt is not None:
        try:
            system_prompt = args.system_prompt.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as error:
            raise InputError(f"cannot read the system prompt: {error}", file=args.system_prompt) from None
        if not system_prompt:
            raise InputError("expected a system prompt, found an empty file", file=args.system_prompt)
    benchmark = load_samples(name, args.config)
    samples = list(benchmark.samples.values())[: args.limit]
    cache = None if args.no_cache else (args.cache or respond_cache_path())
    check_distinct_files(out=args.out, cache=cache)
    from mmsafety.data.writing import check_writable

    check_writable(args.out)  # before the first request, not after the last
    responder = Responder(
        model=args.model,
        base_url=args.base_url,
        api_key_env=args.api_key_env or DEFAULT_API_KEY_ENV,
        concurrency=args.concurrency,
        timeout=args.timeout,
        cache=cache,
        temperature=args.temperature,
        max_tokens=args.max_tokens,
        system_prompt=system_prompt,
        retry=RetryPolicy(max_attempts=args.max_attempts),
        blind=args.blind,
    )
    with progress_bar(len(samples), f"{args.model} on {name}", "sample", args) as bar:
        try:
            answers = responder.respond_many(samples, on_answer=lambda _: bar.update(1))
        finally:
            responder.close()
    write_jsonl_atomic(args.out, (a.to_record() for a in answers))
    responder.stats.seconds = time.perf_counter() - start
    if args.json:
        print_json({**respond_summary(args, answers, len(benchmark.samples), benchmark.repo, responder.stats), "benchmark_config": benchmark.config})
        return 0
    blind = " without the images (blind)" if args.blind else ""
    print(f"wrote {len(answers)} responses of {args.model}{blind} to {args.out} ({len(samples)} of {len(benchmark.samples)} samples of {described(benchmark.repo, benchmark.config)})")
    print(responder.stats.summary(answers))
    failed = [a for a in answers if a.error]
    if failed:
        transient = [a for a in failed if a.error not in ("model_bad_request", "model_content_filter", "invalid_image")]
        print(f"note: {len(failed)} sample(s) have no response (see their \"error\"); `mmsafety judge` counts them invalid"
              + (f"; {len(transient)} may pass on a rerun (answers so far are cached)" if transient else ""))
    truncated = sum(a.finish_reason == "length" for a in answers)
    if truncated:
        print(f"note: {truncated} answer(s) stopped at --max-tokens {args.max_tokens} (finish_reason length)")
    config = "" if benchmark.config == DEFAULT_CONFIG else f" --config {benchmark.config}"
    print(f"next: mmsafety evaluate {name}{config} --responses {args.out} --out <DIR>")
    return 0


def respond_summary(args: argparse.Namespace, answers: list, samples: int, repo: str, stats: RespondStats) -> dict[str, object]:
    """What ``respond`` prints, as ``--json`` prints it."""
    errors = Counter(a.error for a in answers if a.error)
    return {
        "out": str(args.out),
        "model": args.model,
        "blind": bool(args.blind),
        "benchmark": repo,
        "responses": len(answers),
        "samples": samples,
        "errors": dict(errors),
        "truncated": sum(a.finish_reason == "length" for a in answers),
        **stats.counters(),
    }
