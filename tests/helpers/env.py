"""Where the upstream copy is, and the environment for subprocesses."""

from __future__ import annotations

import os
from pathlib import Path

UPSTREAM = Path(__file__).resolve().parents[2].parent / "shared" / "upstream"
"""``../shared/upstream`` beside the checkout (absent on some machines: tests that need it skip)."""


def subprocess_env(**extra: str) -> dict[str, str]:
    """The current environment (with the test's cache variables) plus ``extra``."""
    return {**os.environ, **extra}
