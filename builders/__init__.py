"""One builder per benchmark, each a :class:`mmsafety.builder.SafetyBuilder`.

>>> sorted(BUILDERS)
['mmsafeaware', 'salad', 'vlsbench']
"""

from __future__ import annotations

import importlib

from mmsafety.builder import SafetyBuilder
from mmsafety.errors import InputError

BUILDERS: dict[str, str] = {
    "mmsafeaware": "mmsafety.builders.mmsafeaware:MMSafeAware",
    "salad": "mmsafety.builders.salad:SaLAD",
    "vlsbench": "mmsafety.builders.vlsbench:VLSBench",
}
"""Benchmark name -> ``module:class`` of its builder (imported on demand)."""


def builder_class(name: str) -> type[SafetyBuilder]:
    """The builder class of a built-in benchmark."""
    if name not in BUILDERS:
        raise InputError(f"expected one of {', '.join(sorted(BUILDERS))}, found {name!r}", record="benchmark")
    module, _, attribute = BUILDERS[name].partition(":")
    return getattr(importlib.import_module(module), attribute)
