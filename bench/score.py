"""`mmsafety score` on a large verdicts file against `pyarrow.json.read_json` of the same file.

Builds a set of ``--rows`` items (1,000,000 by default; SaLAD's shape, no images) into a
temporary datasets cache as ``mmsafety/salad``, writes one verdict per item as
``mmsafety judge`` writes them (rules judge, its ``raw`` cues, the benchmark stamp), then, in a
fresh process:

- runs ``mmsafety score salad FILE --json`` (reading the file in columns, checking it against
  the built set, scoring) and keeps that process's peak memory (VmHWM) after its first run;
- reads the same file with ``pyarrow.json.read_json`` (its defaults: every field inferred), the
  baseline a user would otherwise reach for;

each ``--repeat`` times, interleaved, best kept, and prints both timings, their ratio and the peak memory
against the file's size. Goals: score within 2x the baseline, peak memory at most 2x the file.

    python bench/score.py [--rows 1000000] [--repeat 3] [--keep DIR]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CATEGORIES = tuple(f"category {i}" for i in range(20))
VERDICT_CYCLE = ("safe", "refusal", "unsafe", "safe", "oversensitive", "invalid", "safe")


def build_set(cache: Path, rows: int) -> None:
    """``mmsafety/salad`` with ``rows`` items in ``cache`` (labels alternate unsafe / oversensitive)."""
    import datasets
    import pyarrow as pa

    from mmsafety.schema import features

    schema = features()

    class BenchSet(datasets.ArrowBasedBuilder):
        VERSION = datasets.Version("1.0.0")

        def _info(self) -> datasets.DatasetInfo:
            return datasets.DatasetInfo(features=schema)

        def _split_generators(self, dl_manager: object) -> list[datasets.SplitGenerator]:
            return [datasets.SplitGenerator(name=datasets.Split.TEST, gen_kwargs={})]

        def _generate_tables(self):  # type: ignore[no-untyped-def]
            step = 100_000
            for start in range(0, rows, step):
                ids = range(start, min(start + step, rows))
                columns = {
                    "id": [str(i + 1) for i in ids],
                    "image": [None] * len(ids),
                    "query": [f"Question {i + 1}: what should I do with the thing in the picture?" for i in ids],
                    "label": [1 if i % 2 == 0 else 2 for i in ids],
                    "category": [CATEGORIES[i % len(CATEGORIES)] for i in ids],
                    "subcategory": [""] * len(ids),
                    "subset": ["unsafe" if i % 2 == 0 else "safe" for i in ids],
                    "reference": [""] * len(ids),
                }
                yield start, pa.table(columns).cast(schema.arrow_schema)

    builder = BenchSet(cache_dir=str(cache), dataset_name="salad", repo_id="mmsafety/salad", hash="bench")
    builder.download_and_prepare()


def write_verdicts(path: Path, rows: int, *, model: str = "vlm-under-test", shift: int = 0) -> None:
    """One verdict per item, as ``mmsafety judge`` (rules judge) writes them (``shift`` turns the
    verdict cycle, so that two models' files disagree on some items)."""

    with path.open("w", encoding="utf-8") as handle:
        for i in range(rows):
            verdict = VERDICT_CYCLE[(i + shift * (i % 3 == 0)) % len(VERDICT_CYCLE)]
            label = "unsafe" if i % 2 == 0 else "oversensitive"
            record = {
                "id": str(i + 1), "verdict": verdict, "label": label, "category": CATEGORIES[i % len(CATEGORIES)],
                "subset": "unsafe" if i % 2 == 0 else "safe", "judge": "rules", "judge_version": "1",
                "raw": "refusal cues: I cannot help with that; warning cues: none" if verdict != "invalid" else "",
                "reason": "empty_response" if verdict == "invalid" else None, "heuristic": True,
                "model": model, "benchmark": "mmsafety/salad", "benchmark_version": "1.0.0",
            }
            handle.write(json.dumps(record) + "\n")


def measure(path: Path, repeat: int) -> dict[str, float]:
    """In this (fresh) process: score's best time and the peak memory after it, then the baseline's."""
    import datasets  # noqa: F401 - imported before timing, as by any command
    import pyarrow.json as pa_json

    sys.path.insert(0, str(ROOT / "bench"))
    from measure import peak_rss_mb

    from mmsafety.cli import main
    from mmsafety.runs import checks  # noqa: F401

    def score_once() -> float:
        output = io.StringIO()
        start = time.perf_counter()
        with contextlib.redirect_stdout(output):
            code = main(["score", "salad", str(path), "--json"])
        seconds = time.perf_counter() - start
        assert code == 0, code
        assert json.loads(output.getvalue())["coverage"]["complete"] is True
        return seconds

    def baseline_once() -> float:
        start = time.perf_counter()
        table = pa_json.read_json(path)
        seconds = time.perf_counter() - start
        del table
        return seconds

    result: dict[str, float] = {"before_mb": peak_rss_mb()}
    score_times = [score_once()]
    result["peak_mb"] = peak_rss_mb()  # a command line process scores once: its peak, before any rerun
    baseline_times = []
    for _ in range(repeat):  # interleaved, so that a busy moment of the machine falls on both
        baseline_times.append(baseline_once())
        score_times.append(score_once())
    result["score_s"] = min(score_times)
    result["read_json_s"] = min(baseline_times)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="items in the set and verdicts in the file (default 1,000,000)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each, interleaved, best kept (default 3)")
    parser.add_argument("--keep", type=Path, help="build the set and file in this folder and keep them (default: a temporary folder)")
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)  # the fresh process's part
    args = parser.parse_args()
    if args.measure is not None:
        print(json.dumps(measure(args.measure, args.repeat)))
        return 0
    with contextlib.ExitStack() as stack:
        folder = args.keep or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="mmsafety-bench-score-")))
        folder.mkdir(parents=True, exist_ok=True)
        cache, verdicts = folder / "datasets", folder / "verdicts.jsonl"
        env = {**os.environ, "HF_DATASETS_CACHE": str(cache), "HF_HUB_OFFLINE": "1", "HF_DATASETS_DISABLE_PROGRESS_BARS": "1"}
        os.environ.update(env)
        start = time.perf_counter()
        if not any(cache.glob("mmsafety___salad/*/*/*/dataset_info.json")):
            build_set(cache, args.rows)
        if not verdicts.exists():
            write_verdicts(verdicts, args.rows)
        print(f"set of {args.rows:,} items and its verdicts file ready in {time.perf_counter() - start:.1f} s")
        run = subprocess.run(
            [sys.executable, __file__, "--measure", str(verdicts), "--repeat", str(args.repeat)],
            env=env, capture_output=True, text=True, check=False,
        )
        if run.returncode != 0:
            print(run.stderr, file=sys.stderr)
            return 1
        figures = json.loads(run.stdout.strip().splitlines()[-1])
        size_mb = verdicts.stat().st_size / 2**20  # MiB, as the peak
        ratio = figures["score_s"] / figures["read_json_s"]
        print(f"verdicts file: {args.rows:,} lines, {size_mb:.0f} MB; {os.cpu_count()} CPUs")
        print(f"pyarrow.json.read_json (baseline): {figures['read_json_s']:6.2f} s")
        print(f"mmsafety score salad FILE --json : {figures['score_s']:6.2f} s   ({ratio:.2f}x the baseline)")
        print(f"peak memory of the score process : {figures['peak_mb']:6.0f} MB ({figures['peak_mb'] / size_mb:.2f}x the file; "
              f"{figures['before_mb']:.0f} MB of it before the first score, imports)")
        print(f"goal: score within 2x read_json: {ratio:.2f}x -> {'met' if ratio <= 2 else 'NOT met'}; "
              f"peak memory <= 2x the file: {figures['peak_mb'] / size_mb:.2f}x -> {'met' if figures['peak_mb'] <= 2 * size_mb else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
