"""README.md and every page under docs/ run top to bottom, as a newcomer would: each page's
```bash and ```python blocks, in order, in one empty folder of its own, in one shell.

- A block marked ``<!-- readme-test: skip -->`` on the line before its fence needs what this
  machine lacks (a served model, an API key, the Hub) and is shown, not run.
- A block marked ``<!-- readme-test: setup -->`` makes and activates the virtual environment and
  installs the package; here the test's own environment stands in for it (its ``bin`` first on
  ``PATH``), and the rest of the block (``mmsafety demo``) runs as written.
- The shell is offline (``HF_HUB_OFFLINE=1``, as the README tells an offline machine to set);
  GitHub is the upstream copy at ``../shared/upstream`` served on 127.0.0.1
  (``MMSAFETY_GITHUB_URL``), so ``mmsafety build mmsafeaware`` downloads the real files.
- ```python blocks run as ``python - <<'EOF'``, in the same folder, after the blocks before them.

``MMSAFETY_README=path`` runs that file alone (to try a draft).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from helpers.env import UPSTREAM
from helpers.http import serve_directory

ROOT = Path(__file__).resolve().parents[1]
PAGES = (
    [Path(os.environ["MMSAFETY_README"])]
    if os.environ.get("MMSAFETY_README")
    else [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
)
"""The pages that run: the README first, then each docs page."""
PRODUCES = {
    "README.md": ("mmsafety-demo/report.html", "demo-report/report.html"),
    "custom-sets-and-audit.md": ("export/my-set/README.md", "audit/my-set/audit.json"),
    "reports.md": ("demo-report/report.html", "mmsafety-demo/report.html"),
}
"""Files a page's blocks must leave behind, beyond running without error."""
SKIP_MARK = "<!-- readme-test: skip -->"
SETUP_MARK = "<!-- readme-test: setup -->"
SETUP_STEPS = (re.compile(r"^python3 -m venv \S+$"), re.compile(r"^\. \S+/bin/activate$"), re.compile(r"^pip install .*$"))
"""The setup block's steps the test's own environment stands in for."""
TIMEOUT = 900
MMSAFEAWARE_PINS = {"data": "500b595c82dfe73d5695bc994d9882a306d2aa1c", "dict": "c3b38cc6fd6e65b4886488ff9acdd1ca9ce4db08"}
"""The commits builders/mmsafeaware/checksums.tsv pins (its data/ folder and its dict.txt)."""


def blocks(text: str) -> list[tuple[int, str, str, str]]:
    """``(line, language, mark, code)`` of every ```bash / ```python block, in order.

    >>> blocks("x\\n```python\\nprint(1)\\n```\\n<!-- readme-test: skip -->\\n```bash\\nboom\\n```\\n")
    [(2, 'python', '', 'print(1)\\n'), (6, 'bash', '<!-- readme-test: skip -->', 'boom\\n')]
    """
    found = []
    lines = text.splitlines(keepends=True)
    index = 0
    while index < len(lines):
        match = re.match(r"^(```+)\s*(bash|python)\s*$", lines[index])
        if not match:
            index += 1
            continue
        fence, language = match.groups()
        start = index
        index += 1
        body = []
        while index < len(lines) and not lines[index].strip().startswith(fence):
            body.append(lines[index])
            index += 1
        index += 1
        previous = lines[start - 1].strip() if start else ""
        found.append((start + 1, language, previous if previous in (SKIP_MARK, SETUP_MARK) else "", "".join(body)))
    return found


def setup_rest(code: str) -> str:
    """The part of a setup block that the test's environment does not stand in for.

    >>> setup_rest("python3 -m venv .venv && . .venv/bin/activate && pip install -q -e . && mmsafety demo\\n")
    'mmsafety demo'
    """
    steps = [step.strip() for step in code.strip().split("&&")]
    return " && ".join(step for step in steps if not any(pattern.match(step) for pattern in SETUP_STEPS))


def script(text: str) -> str:
    """The shell script a newcomer types: every block to run, in order, stopping at the first failure."""
    parts = ["set -euo pipefail"]
    for line, language, mark, code in blocks(text):
        if mark == SKIP_MARK:
            continue
        parts.append(f"echo '--- line {line} ({language})' >&2")
        if mark == SETUP_MARK:
            parts.append(setup_rest(code))
        elif language == "bash":
            parts.append(code.rstrip("\n"))
        else:
            parts.append(f"python - <<'MMSAFETY_README_PYTHON'\n{code.rstrip()}\nMMSAFETY_README_PYTHON")
    return "\n".join(parts) + "\n"


def github_mirror(folder: Path) -> Path:
    """raw.githubusercontent.com as the MMSafeAware build asks it, over the upstream copy."""
    repository = folder / "Jarviswang94" / "MMSafetyAwareness"
    (repository / MMSAFEAWARE_PINS["data"]).mkdir(parents=True)
    (repository / MMSAFEAWARE_PINS["data"] / "data").symlink_to(UPSTREAM / "mmsafeaware")
    (repository / MMSAFEAWARE_PINS["dict"]).mkdir(parents=True)
    (repository / MMSAFEAWARE_PINS["dict"] / "dict.txt").symlink_to(UPSTREAM / "mmsafeaware" / "dict.txt")
    return folder


def test_the_readme_has_blocks_to_run() -> None:
    runnable = [b for b in blocks(PAGES[0].read_text(encoding="utf-8")) if b[2] != SKIP_MARK]
    assert {language for _, language, _, _ in runnable} == {"bash", "python"}


def test_the_readme_stays_short_and_links_every_docs_page() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= 200
    missing = [page.name for page in sorted((ROOT / "docs").glob("*.md")) if f"docs/{page.name}" not in readme]
    assert not missing, f"README.md links no docs page {missing}"


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.name)
def test_the_page_runs_top_to_bottom_in_one_shell(page: Path, tmp_path: Path) -> None:
    text = page.read_text(encoding="utf-8")
    if "mmsafety build mmsafeaware" in script(text) and not (UPSTREAM / "mmsafeaware").is_dir():
        pytest.skip(f"{page.name} builds MMSafeAware, whose upstream copy is not at {UPSTREAM / 'mmsafeaware'}")
    work = tmp_path / "newcomer"
    work.mkdir()
    home = tmp_path / "hf-home"
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("HF_", "MMSAFETY_")) and key not in ("OPENAI_API_KEY", "VIRTUAL_ENV")
    }
    env.update(
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        HOME=str(tmp_path / "home"),
        HF_HOME=str(home),
        HF_HUB_OFFLINE="1",
        XDG_CACHE_HOME=str(tmp_path / "xdg"),
    )
    commands = script(text)
    with serve_directory(github_mirror(tmp_path / "github")) as (base_url, _):
        env["MMSAFETY_GITHUB_URL"] = base_url
        result = subprocess.run(["bash", "-c", commands], cwd=work, env=env, capture_output=True, text=True, timeout=TIMEOUT)
    ran = [line for line in result.stderr.splitlines() if line.startswith("--- line")]
    assert result.returncode == 0, f"{page.name} stopped at {ran[-1] if ran else 'its start'}:\n{result.stderr[-4000:]}"
    for produced in PRODUCES.get(page.name, ()):
        assert (work / produced).is_file(), f"{page.name} ran but left no {produced}"
