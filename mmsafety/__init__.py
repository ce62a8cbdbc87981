"""mmsafety: multimodal safety benchmarks as versioned Hugging Face datasets.

The shared schema lives in :mod:`mmsafety.schema`, the vocabularies in
:mod:`mmsafety.labels`, the benchmark registry in :mod:`mmsafety.benchmarks`, and the scoring core in :mod:`mmsafety.scoring`.
"""

from __future__ import annotations

from typing import Any

from mmsafety.labels import LABELS, VERDICTS

__version__ = "0.1.0"

__all__ = ["LABELS", "VERDICTS", "score", "__version__"]


def __getattr__(name: str) -> Any:
    # `score` pulls in numpy and the policy table; import it on first use only.
    if name == "score":
        from mmsafety.scoring import score

        return score
    raise AttributeError(f"module 'mmsafety' has no attribute {name!r}")
