"""Every ```python block of README.md runs as written.

What a snippet may rely on (say so in the README where it matters):

- each block runs **on its own**, in a fresh interpreter, in an empty temporary working
  directory (it may write files there); blocks share no state;
- **offline** (``HF_HUB_OFFLINE=1``, no API key): the datasets cache holds ``mmsafety/demo`` (the
  real embedded DEMO set, 12 rows) and stand-ins for ``mmsafety/salad``, ``mmsafety/vlsbench``
  and ``mmsafety/mmsafeaware`` (12 generated rows each, in the shared schema: not the real
  data, so no real sizes or categories);
- a block that needs files (a records CSV, images) makes them itself;
- a block that needs the network (a served model, a judge endpoint, building from the Hub) is
  skipped when the line just before its fence is ``<!-- readme-test: skip -->``;
- each block finishes within :data:`TIMEOUT` seconds.

``MMSAFETY_README=path`` runs another file's blocks (to try a draft).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import datasets
import pytest

from helpers.judging import build_fixture

ROOT = Path(__file__).resolve().parents[1]
README = Path(os.environ.get("MMSAFETY_README", ROOT / "README.md"))
SKIP_MARK = "<!-- readme-test: skip -->"
TIMEOUT = 120
STAND_INS = ("salad", "vlsbench", "mmsafeaware")


def python_blocks(text: str) -> list[tuple[int, str]]:
    """``(line, code)`` of every ```python block not marked to skip.

    >>> python_blocks("x\\n```python\\nprint(1)\\n```\\n<!-- readme-test: skip -->\\n```python\\nboom\\n```\\n")
    [(2, 'print(1)\\n')]
    """
    blocks = []
    lines = text.splitlines(keepends=True)
    index = 0
    while index < len(lines):
        match = re.match(r"^(\s*)(```+)\s*python\s*$", lines[index])
        if not match:
            index += 1
            continue
        indent, fence = match.groups()
        start = index
        index += 1
        body = []
        while index < len(lines) and not lines[index].strip().startswith(fence):
            body.append(lines[index][len(indent):] if lines[index].startswith(indent) else lines[index])
            index += 1
        index += 1
        previous = lines[start - 1].strip() if start else ""
        if previous != SKIP_MARK:
            blocks.append((start + 1, "".join(body)))
    return blocks


BLOCKS = python_blocks(README.read_text(encoding="utf-8")) if README.is_file() else []


@pytest.fixture(scope="module")
def readme_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """An offline Hugging Face home holding the demo set and the three stand-ins; its environment."""
    from mmsafety.data.build import build_with
    from mmsafety.builders.demo import DemoSet

    home = tmp_path_factory.mktemp("readme-hf")
    cache = home / "datasets"
    cache.mkdir()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(datasets.config, "HF_DATASETS_CACHE", cache)
        build_with(DemoSet)
        for name in STAND_INS:
            build_fixture(cache, name, count=12)
    env = {
        **os.environ,
        "HF_HOME": str(home),
        "HF_DATASETS_CACHE": str(cache),
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_DISABLE_PROGRESS_BARS": "1",
        "XDG_CACHE_HOME": str(home / "xdg"),
    }
    env.pop("OPENAI_API_KEY", None)
    yield env


def test_readme_has_python_snippets() -> None:
    assert README.is_file(), f"no README at {README}"
    assert BLOCKS, f"{README} has no ```python block to run (or every one is marked {SKIP_MARK})"


@pytest.mark.parametrize("line, code", BLOCKS, ids=[f"line-{line}" for line, _ in BLOCKS])
def test_snippet_runs(line: int, code: str, readme_env: dict[str, str], tmp_path: Path) -> None:
    script = tmp_path / f"readme_line_{line}.py"
    script.write_text(code, encoding="utf-8")
    workdir = tmp_path / "work"
    workdir.mkdir()
    result = subprocess.run([sys.executable, str(script)], cwd=workdir, env=readme_env, capture_output=True, text=True, timeout=TIMEOUT)
    assert result.returncode == 0, f"{README.name}, the python block at line {line} failed:\n{code}\n--- stderr ---\n{result.stderr[-4000:]}"
