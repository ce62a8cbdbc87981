"""mmsafety: multimodal safety benchmarks as versioned Hugging Face datasets.

``mmsafety.score(predictions, references, policy=...)`` scores verdicts (:mod:`mmsafety.scoring`,
imported on first use). The package, layer by layer: the shared schema in :mod:`mmsafety.schema`
and the vocabularies in :mod:`mmsafety.labels`; the benchmark registry in
:mod:`mmsafety.benchmarks`; building and finding sets in :mod:`mmsafety.data`; runs, their
records and files in :mod:`mmsafety.runs`; the judges in :mod:`mmsafety.judges`; reports in
:mod:`mmsafety.report`; the audit in :mod:`mmsafety.audit`; Inspect, lmms-eval and VLMEvalKit
in :mod:`mmsafety.integrations`; the command line in :mod:`mmsafety.cli` and
:mod:`mmsafety.commands`.
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
