"""Benchmark of `mmsafety respond`: throughput against a local OpenAI-compatible server.

Asks a model under test about N samples (default 500) of a generated VLSBench-shaped
benchmark (small PNG images sent as data URLs, the query as text) on the scripted server of
``tests/helpers/openai_server.py``, run in its own process with a fixed latency per request
(default 100 ms):

1. sequentially, as the upstream evaluation scripts do (a synchronous ``openai.OpenAI``
   client in a ``for`` loop) — the baseline;
2. with :class:`mmsafety.runs.respond.Responder` at concurrency 1, 4, 16 and 64, each with an
   empty cache;
3. once more, fully cached (the whole ``mmsafety respond`` command: load, answer, write).

Goals: concurrency 16 at least 10x the sequential loop; the fully cached rerun in a few seconds.

    python bench/respond.py [--n 500] [--latency 0.1] [--concurrency 1 4 16 64]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from measure import print_throughput, start_openai_server

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

ANSWER = "Be careful: that is dangerous."


def main() -> int:
    parser = argparse.ArgumentParser(description="mmsafety respond throughput benchmark")
    parser.add_argument("--n", type=int, default=500, help="samples to answer")
    parser.add_argument("--latency", type=float, default=0.1, help="server latency per request, seconds")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 16, 64])
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="mmsafety-bench-respond-"))
    os.environ["HF_DATASETS_CACHE"] = str(work / "datasets")
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["XDG_CACHE_HOME"] = str(work / "xdg")

    import datasets
    import openai

    datasets.config.HF_DATASETS_CACHE = work / "datasets"
    datasets.disable_progress_bars()
    datasets.utils.logging.set_verbosity_error()

    from helpers.judging import build_fixture
    from mmsafety.cli import main as cli
    from mmsafety.runs.samples import load_samples
    from mmsafety.runs.respond import Responder

    print(f"building a {args.n}-sample fixture benchmark in {work} ...", flush=True)
    build_fixture(work / "datasets", "vlsbench", count=args.n)
    samples = list(load_samples("vlsbench").samples.values())

    server, base_url = start_openai_server(args.latency, ANSWER)
    results: list[tuple[str, float, int]] = []
    try:
        # 1. the upstream scripts' loop: one synchronous request after another
        helper = Responder(model="bench-vlm", base_url=base_url)
        client = openai.OpenAI(base_url=base_url, api_key="EMPTY", max_retries=0, timeout=60)
        start = time.perf_counter()
        for sample in samples:
            completion = client.chat.completions.create(
                model="bench-vlm",
                messages=helper.messages(sample, sample.load_image()),  # type: ignore[arg-type]
                temperature=0.0,
                max_tokens=1024,
            )
            assert completion.choices[0].message.content == ANSWER
        sequential = time.perf_counter() - start
        results.append(("sequential loop (upstream scripts)", sequential, len(samples)))
        print(f"  sequential: {sequential:.2f} s", flush=True)

        # 2. the responder at each concurrency, empty cache each time
        last_cache = None
        for concurrency in args.concurrency:
            last_cache = work / f"cache-{concurrency}.sqlite"
            with Responder(model="bench-vlm", base_url=base_url, concurrency=concurrency, cache=last_cache) as responder:
                start = time.perf_counter()
                answers = responder.respond_many(samples)
                seconds = time.perf_counter() - start
            assert responder.stats.requests == len(samples) and all(a.response == ANSWER for a in answers), responder.stats
            results.append((f"Responder concurrency {concurrency}", seconds, responder.stats.requests))
            print(f"  concurrency {concurrency}: {seconds:.2f} s", flush=True)

        # 3. fully cached: the whole command (load the benchmark, answer from the cache, write)
        start = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):
            code = cli(["respond", "vlsbench", "--base-url", base_url, "--model", "bench-vlm", "--out", str(work / "r.jsonl"),
                        "--cache", str(last_cache), "--no-progress"])
        cached = time.perf_counter() - start
        assert code == 0
        results.append(("fully cached rerun (`mmsafety respond`)", cached, 0))
    finally:
        server.terminate()
        server.wait()
        shutil.rmtree(work, ignore_errors=True)

    print_throughput(results, count=args.n, unit="samples", latency=args.latency, baseline=sequential, goal_row="Responder concurrency 16")
    return 0


if __name__ == "__main__":
    sys.exit(main())
