"""The benchmark authors' own evaluation files in ``../shared/upstream``, read at test time.

Tests run or read these files where they lie; nothing of them is copied into the project.
A test that needs one skips, naming the missing file, where the upstream copy is absent.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

from helpers.env import UPSTREAM


def authors_file(relative: str) -> Path:
    """``../shared/upstream/<relative>``; skips the test (naming the file) when it is absent."""
    path = UPSTREAM / relative
    if not path.is_file():
        pytest.skip(f"the authors' file {relative} is not at {path} (the upstream copy sits beside the checkout as ../shared/upstream)")
    return path


def import_authors_module(relative: str, name: str) -> ModuleType:
    """Import the authors' Python file ``relative`` as module ``name`` (not left in ``sys.modules``)."""
    path = authors_file(relative)
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    finally:
        sys.modules.pop(name, None)
    return module
