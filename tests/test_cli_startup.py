"""The command line starts at once: ``--help`` of ``mmsafety`` and of every command imports no
heavy module (numpy, pyarrow, pandas, ``datasets``, matplotlib, scipy, Pillow, the openai
client, ``huggingface_hub``, Inspect, scikit-learn). Commands import those when they run.
(The time it takes is measured by ``bench/startup.py``, not here.)"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("numpy", "pyarrow", "pandas", "datasets", "matplotlib", "scipy", "PIL", "openai", "huggingface_hub", "inspect_ai", "sklearn", "imagehash")

PROBE = """
import contextlib, io, json, sys
from mmsafety.cli import main
argvs = json.loads(sys.argv[1])
for argv in argvs:
    with contextlib.redirect_stdout(io.StringIO()) as out:
        try:
            main(argv)
        except SystemExit:
            pass
    assert "usage:" in out.getvalue(), argv
print(json.dumps(sorted(name for name in %r if name in sys.modules)))
""" % (HEAVY,)


def heavy_after(argvs: list[list[str]]) -> list[str]:
    run = subprocess.run([sys.executable, "-c", PROBE, json.dumps(argvs)], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout.strip().splitlines()[-1])


def commands() -> list[str]:
    from mmsafety.cli import make_parser

    parser = make_parser()
    (subparsers,) = [action for action in parser._actions if action.dest == "command"]
    return sorted(subparsers.choices)


def test_the_top_level_help_imports_no_heavy_module() -> None:
    assert heavy_after([["--help"]]) == []


@pytest.mark.parametrize("command", commands())
def test_a_commands_help_imports_no_heavy_module(command: str) -> None:
    assert heavy_after([[command, "--help"]]) == []


def test_the_probe_sees_a_heavy_import() -> None:
    """The check can fail: scoring verdicts imports numpy."""
    run = subprocess.run([sys.executable, "-c", "import sys\nfrom mmsafety.scoring import score\nscore(['safe'], ['unsafe'])\n"
                          f"print([m for m in {HEAVY!r} if m in sys.modules])"], capture_output=True, text=True, timeout=120)
    assert "numpy" in run.stdout
