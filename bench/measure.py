"""What the benchmarks share: peak memory of a run, and the local OpenAI-compatible server."""

from __future__ import annotations

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
    """Start ``tests/openai_server.py`` on 127.0.0.1 answering ``answer`` after ``latency`` s: (process, base URL)."""
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "tests" / "openai_server.py"), "--latency", str(latency), "--default", answer],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline().strip()
    if not line.startswith("READY "):
        process.kill()
        raise RuntimeError(f"the server did not start: {line!r}")
    return process, line.split(" ", 1)[1]
