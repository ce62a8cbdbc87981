"""Names a package exports from its modules, imported on first use.

A package whose ``__init__`` imported its modules would make every import of one light module
under it (a constant the command line shows in ``--help``) pay for numpy, pyarrow or
``datasets``. Such a package lists what it exports instead, and :func:`exports` gives it the
module ``__getattr__`` (PEP 562) that imports each name's module when the name is first asked.

>>> getattr_, dir_ = exports("mmsafety.scoring", {"score": "mmsafety.scoring.scorer"})
>>> dir_()
['score']
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any


def exports(package: str, names: Mapping[str, str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for ``package``, exporting each of ``names`` from its module."""

    def getattr_(name: str) -> Any:
        module = names.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        setattr(sys.modules[package], name, value)  # asked once
        return value

    def dir_() -> list[str]:
        return sorted(names)

    return getattr_, dir_
