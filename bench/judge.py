"""Benchmark of the LLM judge: throughput against a local OpenAI-compatible server.

Judges N responses (default 2,000) of a generated VLSBench-shaped benchmark (small PNG
images, the built-in VLSBench rubric, structured output) against the scripted server of
``tests/helpers/openai_server.py``, run in its own process with a fixed latency per request
(default 100 ms):

1. sequentially, as the upstream evaluation scripts do (a synchronous ``openai.OpenAI``
   client in a ``for`` loop) — the baseline;
2. with :class:`mmsafety.judges.llm.LLMJudge` at concurrency 1, 4, 16 and 64, each with
   an empty cache;
3. once more, fully cached (reading the responses, judging, writing the verdicts).

Goals: concurrency 16 at least 10x the sequential loop; the fully cached rerun under 1 s.

    python bench/judge.py [--n 2000] [--latency 0.1] [--concurrency 1 4 16 64]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from measure import print_throughput, start_openai_server

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

KEY_ENV = "MMSAFETY_BENCH_KEY"
ANSWER = '{"verdict": "safe_warning", "explanation": "warns about the risk"}'


def main() -> int:
    parser = argparse.ArgumentParser(description="LLM judge throughput benchmark")
    parser.add_argument("--n", type=int, default=2000, help="responses to judge")
    parser.add_argument("--latency", type=float, default=0.1, help="server latency per request, seconds")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 16, 64])
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="mmsafety-bench-judge-"))
    os.environ["HF_DATASETS_CACHE"] = str(work / "datasets")
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ[KEY_ENV] = "sk-bench-not-a-real-key"

    import datasets
    import openai

    datasets.config.HF_DATASETS_CACHE = work / "datasets"
    datasets.disable_progress_bars()
    datasets.utils.logging.set_verbosity_error()

    from helpers.judging import build_fixture, write_responses
    from mmsafety.judges.llm import LLMJudge
    from mmsafety.judges.rubric import rubrics_for
    from mmsafety.runs.files import read_responses, write_verdicts
    from mmsafety.runs.samples import load_samples

    print(f"building a {args.n}-sample fixture benchmark in {work} ...", flush=True)
    rows = build_fixture(work / "datasets", "vlsbench", count=args.n)
    bench = load_samples("vlsbench")
    responses_path = write_responses(work / "responses.jsonl", [(r["id"], f"Response {r['id']}: be careful, that is dangerous.") for r in rows])
    responses = read_responses(responses_path, bench.samples)
    pairs = [(bench.samples[r.id], r) for r in responses]
    rubrics = rubrics_for("vlsbench")

    server, base_url = start_openai_server(args.latency, ANSWER)
    results: list[tuple[str, float, int]] = []
    try:
        # 1. the upstream scripts' loop: one synchronous request after another
        helper = LLMJudge(model="bench-judge", rubrics=rubrics, base_url=base_url, api_key_env=KEY_ENV)
        client = openai.OpenAI(base_url=base_url, api_key=os.environ[KEY_ENV], max_retries=0, timeout=60)
        rubric = rubrics.rubrics[0]
        start = time.perf_counter()
        safe = 0
        for sample, response in pairs:
            completion = client.chat.completions.create(
                model="bench-judge",
                messages=helper.messages(sample, response, rubric),  # type: ignore[arg-type]
                temperature=0.0,
                max_tokens=512,
                response_format=rubric.json_schema(),  # type: ignore[arg-type]
            )
            safe += rubric.read_answer(completion.choices[0].message.content) == "safe"
        sequential = time.perf_counter() - start
        assert safe == len(pairs)
        results.append(("sequential loop (upstream scripts)", sequential, len(pairs)))
        print(f"  sequential: {sequential:.2f} s", flush=True)

        # 2. the judge at each concurrency, empty cache each time
        last_cache = None
        for concurrency in args.concurrency:
            last_cache = work / f"cache-{concurrency}.sqlite"
            judge = LLMJudge(model="bench-judge", rubrics=rubrics, base_url=base_url, api_key_env=KEY_ENV,
                             concurrency=concurrency, cache=last_cache, benchmark=bench.repo, benchmark_version=bench.version)
            start = time.perf_counter()
            verdicts = judge.judge_many(pairs)
            seconds = time.perf_counter() - start
            judge.close()
            assert judge.stats.requests == len(pairs) and all(v.verdict == "safe" for v in verdicts), judge.stats
            results.append((f"LLMJudge concurrency {concurrency}", seconds, judge.stats.requests))
            print(f"  concurrency {concurrency}: {seconds:.2f} s", flush=True)

        # 3. fully cached: read responses, judge, write verdicts
        start = time.perf_counter()
        responses = read_responses(responses_path, bench.samples)
        judge = LLMJudge(model="bench-judge", rubrics=rubrics, base_url=base_url, api_key_env=KEY_ENV,
                         concurrency=64, cache=last_cache, benchmark=bench.repo, benchmark_version=bench.version)
        verdicts = judge.judge_many([(bench.samples[r.id], r) for r in responses])
        write_verdicts(work / "verdicts.jsonl", verdicts)
        cached = time.perf_counter() - start
        judge.close()
        assert judge.stats.requests == 0 and judge.stats.cache_hits == len(pairs)
        results.append(("fully cached rerun (read + judge + write)", cached, 0))
    finally:
        server.terminate()
        server.wait()
        shutil.rmtree(work, ignore_errors=True)

    print_throughput(results, count=args.n, unit="responses", latency=args.latency, baseline=sequential, goal_row="LLMJudge concurrency 16")
    print(f"goal: fully cached rerun of {args.n} < 1 s: {cached:.3f} s -> {'met' if cached < 1 else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
