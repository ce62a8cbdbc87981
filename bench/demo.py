"""Benchmark of `mmsafety demo`: wall time end to end, as a newcomer runs it.

Runs ``mmsafety demo`` in a fresh process (``HF_HUB_OFFLINE=1``) ``--runs`` times with an
empty datasets cache each time (cold: the build included), then ``--runs`` times against the
cache the last cold run left (warm). The baseline, measured in the same run, is the floor any
datasets-based command pays: a fresh process that only imports ``datasets`` and ``matplotlib``.

Goal: the demo well under a minute; in practice a few seconds.

    python bench/demo.py [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def timed(command: list[str], env: dict[str, str], cwd: Path) -> float:
    start = time.perf_counter()
    result = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{result.stderr[-3000:]}")
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description="`mmsafety demo` wall time")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="mmsafety-bench-demo-"))
    env = {**os.environ, "HF_HOME": str(work / "hf"), "HF_DATASETS_CACHE": str(work / "hf" / "datasets"), "HF_HUB_OFFLINE": "1"}
    demo = [sys.executable, "-m", "mmsafety.cli", "demo", "--out", str(work / "out")]
    baseline_command = [sys.executable, "-c", "import datasets, matplotlib.figure"]
    try:
        baseline = [timed(baseline_command, env, work) for _ in range(args.runs)]
        cold = []
        for _ in range(args.runs):
            shutil.rmtree(work / "hf", ignore_errors=True)
            shutil.rmtree(work / "out", ignore_errors=True)
            cold.append(timed(demo, env, work))
        warm = [timed(demo, env, work) for _ in range(args.runs)]
    finally:
        shutil.rmtree(work, ignore_errors=True)

    base = statistics.median(baseline)
    print(f"`mmsafety demo`, median of {args.runs} runs each, {os.cpu_count()} CPUs, Python {sys.version.split()[0]}")
    print(f"{'mode':<58} {'seconds':>8} {'vs baseline':>12}")
    for name, runs in (
        ("baseline: a process importing datasets and matplotlib", baseline),
        ("demo, empty datasets cache (build + load + judge + report)", cold),
        ("demo, cache already holding the demo set", warm),
    ):
        median = statistics.median(runs)
        print(f"{name:<58} {median:>8.2f} {median / base:>11.1f}x")
    worst = max(cold)
    print()
    print(f"goal: the demo well under a minute: slowest cold run {worst:.1f} s -> {'met' if worst < 30 else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
