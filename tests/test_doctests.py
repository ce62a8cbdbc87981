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


def _runnable_examples(name: str) -> int:
    """How many examples the docstrings of module ``name`` hold that are not marked ``+SKIP``."""
    tests = doctest.DocTestFinder().find(importlib.import_module(name))
    return sum(not example.options.get(doctest.SKIP) for test in tests for example in test.examples)


MODULES = _modules()
WITH_EXAMPLES = {name: count for name in MODULES if (count := _runnable_examples(name))}
"""Modules whose docstrings hold examples to run (a module without any has nothing to test here)."""


def test_every_package_is_walked() -> None:
    assert {"mmsafety.judges.llm", "mmsafety.builders.mmsafeaware.mmsafeaware", "mmsafety.scoring", "mmsafety.metrics"} <= set(MODULES)
    assert {"mmsafety.scoring", "mmsafety.scoring.policies", "mmsafety.data.images", "mmsafety.judges.yesno", "mmsafety.judges.rules",
            "mmsafety.builders.mmsafeaware.mmsafeaware", "mmsafety.metrics.safety_rates.safety_rates"} <= set(WITH_EXAMPLES)


@pytest.mark.parametrize("name", sorted(WITH_EXAMPLES))
def test_docstring_examples(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert (result.attempted, result.failed) == (WITH_EXAMPLES[name], 0)
