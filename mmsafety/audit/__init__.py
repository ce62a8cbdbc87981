"""Auditing a safety set before it is published: what is broken, repeated, unbalanced or leaked.

Use::

    from mmsafety.audit import audit, write_audit
    report = audit("mmsafety/mmsafeaware")   # a repo id built in the cache, an export folder or a .parquet
    report["duplicates"]["exact"][0]         # {'ids': ['78', '2220'], 'labels': ['oversensitive', 'oversensitive']}
    write_audit(report, "audit/")           # audit.json and audit.md

The set is read once, batch by batch (:mod:`mmsafety.audit.scan`), keeping a few facts
per row, then:

* **integrity**: unreadable or truncated images, format/extension mismatches, empty or
  whitespace-only queries, duplicate ids, labels outside the vocabulary, and (a warning
  only, see :func:`~mmsafety.audit.findings.strict_failures`) ids equal but for case,
  whitespace or Unicode form;
* **duplicates** (:mod:`mmsafety.audit.duplicates`): exact (query, image) repeats (the
  same query and the same image bytes), identical images under different labels, and
  near-duplicate images by perceptual hash;
* **balance**: counts per label, per label within each category and subset;
* **text leakage** (:mod:`mmsafety.audit.leakage`): the cross-validated ROC-AUC of a
  text-only classifier of unsafe vs benign.

It needs the ``audit`` extra (``imagehash``, ``scikit-learn``).
"""

from __future__ import annotations

import importlib
import time
from pathlib import Path
from typing import Any

from mmsafety import __version__
from mmsafety.audit.settings import BATCH_SIZE, BOOTSTRAP, FOLDS, PHASH_DISTANCE
from mmsafety.data.outdir import check_output_dir
from mmsafety.errors import InputError
from mmsafety.lazy import exports

__all__ = ["MissingExtraError", "audit", "require_extras", "summary", "write_audit"]

# the writers pull in the report's rendering: imported on first use
__getattr__ = exports(__name__, {"summary": "mmsafety.audit.write", "write_audit": "mmsafety.audit.write"})[0]

EXTRAS = {"imagehash": "imagehash", "sklearn": "scikit-learn"}
"""Modules the audit needs -> the distributions that provide them."""


class MissingExtraError(InputError):
    """The audit's optional dependencies are not installed."""


def require_extras() -> None:
    """Raise :class:`MissingExtraError` naming the install command when an extra is missing."""
    missing = []
    for module, distribution in EXTRAS.items():
        try:
            importlib.import_module(module)
        except ImportError:
            missing.append(distribution)
    if missing:
        raise MissingExtraError(f"the audit needs {' and '.join(missing)}: pip install 'mmsafety[audit]'")


def audit(
    target: str | Path,
    out: str | Path | None = None,
    *,
    phash_distance: int = PHASH_DISTANCE,
    folds: int = FOLDS,
    bootstrap: int = BOOTSTRAP,
    seed: int = 0,
    batch_size: int = BATCH_SIZE,
    workers: int | None = None,
) -> dict[str, Any]:
    """Audit ``target`` (a repo id built in the cache, an exported folder or a Parquet file).

    Returns the report (what ``audit.json`` holds); with ``out``, also writes
    ``audit.json`` and ``audit.md`` there (:func:`write_audit`: a new or empty folder, or an
    earlier audit; any other folder is refused before the set is read).
    """
    require_extras()
    from mmsafety.audit import findings
    from mmsafety.audit.inputs import open_input
    from mmsafety.audit.leakage import text_leakage
    from mmsafety.audit.scan import scan
    from mmsafety.audit.write import write_audit

    if not 0 <= phash_distance <= 64:
        raise InputError(f"expected a distance of 0 to 64 bits, found {phash_distance}", record="--phash-distance")
    if bootstrap < 1:
        raise InputError(f"expected at least 1 resample, found {bootstrap}", record="--bootstrap")
    if out is not None:  # a folder that will be refused is refused before the work, not after
        check_output_dir(Path(out).absolute(), "audit")
    timings: dict[str, float] = {}
    started = time.perf_counter()
    source = open_input(target)
    timings["open"] = time.perf_counter() - started
    facts = scan(source, batch_size=batch_size, workers=workers)
    timings["read"] = facts.seconds_reading
    timings["images"] = facts.seconds_images
    stages = {
        "integrity": lambda: findings.integrity(facts),
        "duplicates": lambda: findings.duplicates(facts, threshold=phash_distance),
        "balance": lambda: findings.balance(facts),
        "leakage": lambda: text_leakage(facts.queries, facts.labels, folds=folds, bootstrap=bootstrap, seed=seed),
    }
    sections: dict[str, Any] = {}
    for name, stage in stages.items():
        started = time.perf_counter()
        sections[name] = stage()
        timings[name] = time.perf_counter() - started
    report = {
        "mmsafety": __version__,
        "dataset": {"target": str(target), "kind": source.kind, "rows": len(facts)},
        "settings": {"phash_distance": phash_distance, "folds": folds, "bootstrap": bootstrap, "seed": seed},
        **sections,
        "timings": {name: round(seconds, 3) for name, seconds in timings.items()},
    }
    if out is not None:
        started = time.perf_counter()
        write_audit(report, out)
        report["timings"]["write"] = round(time.perf_counter() - started, 3)
    return report
