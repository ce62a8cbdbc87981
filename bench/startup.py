"""How long the ``mmsafety`` command takes to start, against the Python interpreter alone.

Runs each command line ``--repeat`` times in a fresh process (interleaved, median kept):

- ``python -c pass``: the interpreter's own start, the floor;
- ``mmsafety --help`` and ``mmsafety score --help``: the command line's start, what every
  command pays before it does anything (goal: under 0.3 s, with no heavy module imported:
  ``tests/test_cli_startup.py`` checks that);
- ``python -c "import datasets"``: what a command that needs ``datasets`` pays on top, for scale.

    python bench/startup.py [--repeat 9]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

RUNS = {
    "python -c pass": [sys.executable, "-c", "pass"],
    "mmsafety --help": [sys.executable, "-m", "mmsafety.cli", "--help"],
    "mmsafety score --help": [sys.executable, "-m", "mmsafety.cli", "score", "--help"],
    "python -c 'import datasets'": [sys.executable, "-c", "import datasets"],
}
GOAL_S = 0.3


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=9, help="runs of each, interleaved, median kept (default 9)")
    args = parser.parse_args()
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    times: dict[str, list[float]] = {name: [] for name in RUNS}
    for _ in range(args.repeat):
        for name, argv in RUNS.items():
            started = time.perf_counter()
            subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, check=True)
            times[name].append(time.perf_counter() - started)
    floor = statistics.median(times["python -c pass"])
    print(f"start-up, median of {args.repeat} ({os.cpu_count()} CPUs, python {sys.version.split()[0]}):")
    for name, seconds in times.items():
        median = statistics.median(seconds)
        goal = f"  goal < {GOAL_S} s: {'met' if median < GOAL_S else 'NOT met'}" if name.startswith("mmsafety") else ""
        print(f"  {name:<30} {median:6.3f} s  ({median / floor:5.1f}x python -c pass){goal}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
