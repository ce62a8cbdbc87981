"""The examples in the docstrings of every installed module run."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import mmsafety


def _modules() -> list[str]:
    names = [mmsafety.__name__]
    for info in pkgutil.walk_packages(mmsafety.__path__, prefix="mmsafety."):
        names.append(info.name)
    # mapped from builders/ and metrics/ (see pyproject's package-dir)
    for package in ("mmsafety.builders", "mmsafety.metrics"):
        module = importlib.import_module(package)
        names += [package, *(info.name for info in pkgutil.walk_packages(module.__path__, prefix=f"{package}."))]
    return sorted(set(names))


MODULES = _modules()


def test_every_package_is_walked() -> None:
    assert {"mmsafety.judges.llm", "mmsafety.builders.mmsafeaware.mmsafeaware", "mmsafety.scoring", "mmsafety.metrics"} <= set(MODULES)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
