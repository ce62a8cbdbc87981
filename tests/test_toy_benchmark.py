"""A fourth benchmark needs its folder only: the per-benchmark tests run on a toy found in a temporary folder.

The toy (tests/helpers/toy.py) is written into a temporary folder named by
``$MMSAFETY_BUILDERS_PATH``; pytest, run on the builder contract in a process of its own, then
finds it among the registered benchmarks and runs every per-benchmark test on it — no test
file names it. tests/test_registry.py takes the same toy through the public commands.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from helpers.toy import FOLDER, NAME, write_toy

from mmsafety import benchmarks

TESTS = Path(__file__).resolve().parent


def test_the_builder_contract_runs_on_a_benchmark_found_in_a_folder(tmp_path: Path) -> None:
    write_toy(tmp_path / "plugin")
    env = {**os.environ, benchmarks.BUILDERS_PATH_ENV: str(tmp_path / "plugin" / FOLDER), "HF_HOME": str(tmp_path / "hf-home")}
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-k", NAME, str(TESTS / "test_builder_contract.py")],
        cwd=TESTS.parent, env=env, capture_output=True, text=True, timeout=600,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    passed = re.search(r"(\d+) passed", run.stdout)
    assert passed and int(passed.group(1)) >= 12, run.stdout[-2000:]  # nine contract checks on its build, three on its declarations
    assert " failed" not in run.stdout and " error" not in run.stdout
