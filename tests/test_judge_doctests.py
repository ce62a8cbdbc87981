"""The examples in the judges' docstrings run."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "mmsafety.judges",
    "mmsafety.judges.base",
    "mmsafety.judges.cache",
    "mmsafety.judges.llm",
    "mmsafety.judges.protocols",
    "mmsafety.judges.responses",
    "mmsafety.judges.rubric",
    "mmsafety.judges.rules",
    "mmsafety.judges.samples",
    "mmsafety.judges.yesno",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
