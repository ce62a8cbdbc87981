"""What the benchmarks share: peak memory of a run, and the local OpenAI-compatible server."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def peak_rss_mb() -> float:
    """This process's peak resident memory since its exec, in MB.

    ``VmHWM`` where Linux has it: ``getrusage``'s ``ru_maxrss`` also counts the parent's
    memory copied at fork, before exec.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def start_openai_server(latency: float, answer: str) -> tuple[subprocess.Popen[str], str]:
    """Start ``tests/helpers/openai_server.py`` on 127.0.0.1 answering ``answer`` after ``latency`` s: (process, base URL)."""
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "tests" / "helpers" / "openai_server.py"), "--latency", str(latency), "--default", answer],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline().strip()
    if not line.startswith("READY "):
        process.kill()
        raise RuntimeError(f"the server did not start: {line!r}")
    return process, line.split(" ", 1)[1]


def print_throughput(results: list[tuple[str, float, int]], *, count: int, unit: str, latency: float, baseline: float, goal_row: str) -> None:
    """The table of a concurrency benchmark: seconds, requests, items/s and speed-up over ``baseline``."""
    print()
    print(f"{count} {unit}, server latency {1000 * latency:.0f} ms per request, {os.cpu_count()} CPUs")
    print(f"{'mode':<44} {'seconds':>9} {'requests':>9} {unit + '/s':>10} {'vs sequential':>14}")
    for name, seconds, requests in results:
        print(f"{name:<44} {seconds:>9.2f} {requests:>9} {count / seconds:>10.1f} {baseline / seconds:>13.1f}x")
    speedup = next((baseline / s for n, s, _ in results if n == goal_row), None)
    print()
    if speedup is not None:
        print(f"goal: concurrency 16 >= 10x sequential: {speedup:.1f}x -> {'met' if speedup >= 10 else 'NOT met'}")
