"""`mmsafety report` comparing models at scale, against `mmsafety score` of the same files.

Builds a set of ``--rows`` items (SaLAD's shape, no images, as ``bench/score.py`` does) into a
temporary datasets cache as ``mmsafety/salad``, writes ``--models`` verdict files of one verdict
per item (each model's verdicts differ from the others' on about a third of the items, so the
paired comparison has discordant pairs to count), then, each in a fresh process:

- ``mmsafety score salad FILE --json`` of each file (what a user pays to score the runs: the
  baseline), its time summed over the files, the highest peak memory of them;
- ``mmsafety report FILE... --out DIR --json`` of all files at once (check, score, pair every
  two models: paired bootstrap and exact McNemar test per headline rate, write report.md,
  report.html, results.tex, charts);

``--repeat`` times, interleaved, best kept. Prints report / score in time, and the report's
peak memory against the files' total size. Goals: a report costs at most ~1.5x scoring its
runs; its peak memory stays within 2x the files.

    python bench/report.py [--rows 100000 1000000] [--models 3] [--repeat 1] [--keep DIR]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from score import build_set, write_verdicts

ROOT = Path(__file__).resolve().parents[1]


def run_once(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """``mmsafety ARGV`` in a fresh process: (wall seconds of the command, its peak memory in MB)."""
    code = (
        "import sys, time, contextlib, io; sys.path.insert(0, %r)\n"
        "import datasets\n"  # imported before timing, as every command does
        "from measure import peak_rss_mb\n"
        "from mmsafety.cli import main\n"
        "out = io.StringIO(); start = time.perf_counter()\n"
        "with contextlib.redirect_stdout(out): status = main(%r)\n"
        "seconds = time.perf_counter() - start\n"
        "assert status == 0, (status, out.getvalue()[-2000:])\n"
        "print(seconds, peak_rss_mb())\n"
    ) % (str(ROOT / "bench"), argv)
    run = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False)
    if run.returncode != 0:
        raise SystemExit(f"mmsafety {' '.join(argv[:2])} failed:\n{run.stderr[-4000:]}")
    seconds, peak = run.stdout.split()[-2:]
    return float(seconds), float(peak)


def bench(folder: Path, rows: int, models: int, repeat: int) -> None:
    cache = folder / f"datasets-{rows}"
    env = {**os.environ, "HF_DATASETS_CACHE": str(cache), "HF_HUB_OFFLINE": "1", "HF_DATASETS_DISABLE_PROGRESS_BARS": "1"}
    os.environ.update(env)
    started = time.perf_counter()
    if not any(cache.glob("mmsafety___salad/*/*/*/dataset_info.json")):
        build_set(cache, rows)
    files = []
    for index in range(models):
        path = folder / f"verdicts-{rows}-model{index + 1}.jsonl"
        if not path.exists():
            write_verdicts(path, rows, model=f"model-{index + 1}", shift=index)
        files.append(path)
    size_mb = sum(path.stat().st_size for path in files) / 2**20
    print(f"{rows:,} items, {models} verdict files ({size_mb:.0f} MB in all) ready in {time.perf_counter() - started:.1f} s")
    scores, reports = [], []
    for attempt in range(repeat):
        figures = [run_once(["score", "salad", str(path), "--json"], env) for path in files]
        scores.append((sum(s for s, _ in figures), max(p for _, p in figures)))
        out = folder / f"report-{rows}-{attempt}"
        reports.append(run_once(["report", *map(str, files), "--out", str(out), "--json"], env))
    score_s, score_peak = min(scores)
    report_s, report_peak = min(reports)
    print(f"  mmsafety score, each file    : {score_s:7.2f} s in all   peak {score_peak:6.0f} MB")
    print(f"  mmsafety report, all files   : {report_s:7.2f} s          peak {report_peak:6.0f} MB "
          f"({report_peak / size_mb:.2f}x the files)")
    ratio = report_s / score_s
    print(f"  report / score: {ratio:.2f}x -> goal <= 1.5x {'met' if ratio <= 1.5 else 'NOT met'}; "
          f"peak <= 2x the files: {'met' if report_peak <= 2 * size_mb else 'NOT met'}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000], help="items per set (default 100,000 and 1,000,000)")
    parser.add_argument("--models", type=int, default=3, help="verdict files, one per model (default 3)")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each, interleaved, best kept (default 1)")
    parser.add_argument("--keep", type=Path, help="build the sets and files in this folder and keep them (default: a temporary folder)")
    args = parser.parse_args()
    print(f"mmsafety report benchmark: {os.cpu_count()} CPUs, python {sys.version.split()[0]}")
    with contextlib.ExitStack() as stack:
        folder = args.keep or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="mmsafety-bench-report-")))
        folder.mkdir(parents=True, exist_ok=True)
        for rows in args.rows:
            bench(folder, rows, args.models, args.repeat)
    return 0


if __name__ == "__main__":
    sys.exit(main())
