"""The tally: counts of (label, verdict) pairs, overall, per category and per subset.

A score depends on these counts only, so a :class:`Tally` is all a metric keeps between
batches, and tallies of disjoint rows add up (:meth:`Tally.merge`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mmsafety.labels import LABELS
from mmsafety.labels import VERDICTS
from mmsafety.scoring.columns import LABEL_CODES
from mmsafety.scoring.columns import VERDICT_CODES
from mmsafety.scoring.columns import as_column
from mmsafety.scoring.columns import check_lengths
from mmsafety.scoring.columns import encode_groups

__all__ = ["CELLS", "Tally"]

CELLS = len(LABELS) * len(VERDICTS)
"""One cell per (label, verdict) pair: ``label_id * len(VERDICTS) + verdict_id``."""


class Tally:
    """Counts of (label, verdict) pairs: overall, per category and per subset.

    A score depends on these counts only, so tallies of disjoint rows add up
    (:meth:`merge`), whatever the order or batching of the rows. ``counts`` has one cell
    per pair, ``label_id * len(VERDICTS) + verdict_id``; ``by_category`` and ``by_subset``
    map a group's key to its cells, or are ``None`` when no rows came with groups.

    >>> tally = Tally()
    >>> tally.add(["safe", "refusal"], ["unsafe", "unsafe"], categories=["fire", "fire"])
    >>> int(tally.counts.sum()), sorted(tally.by_category)
    (2, ['fire'])
    """

    def __init__(self) -> None:
        self.counts = np.zeros(CELLS, dtype=np.int64)
        self.by_category: dict[str, np.ndarray] | None = None
        self.by_subset: dict[str, np.ndarray] | None = None

    def __len__(self) -> int:
        return int(self.counts.sum())

    def add(
        self,
        predictions: Any,
        references: Any,
        categories: Any = None,
        subsets: Any = None,
        *,
        subset_names: tuple[str, ...] | None = None,
    ) -> None:
        """Count one batch of rows. ``subset_names``, when given, are the only subsets allowed.

        Nothing is counted when the batch has a bad value: the error names it and its position.
        """
        if not len(self):  # nothing counted yet: this batch decides whether groups come with the rows
            self.by_category = self.by_subset = None
        predictions = as_column(predictions, "predictions")
        references = as_column(references, "references")
        check_lengths(predictions, "predictions", references, "references")
        groups = {}
        for name, values in (("categories", categories), ("subsets", subsets)):
            if values is not None:
                values = as_column(values, name)
                check_lengths(predictions, "predictions", values, name)
                groups[name] = values
        for name, seen in (("categories", self.by_category), ("subsets", self.by_subset)):
            if len(self) and (seen is not None) != (name in groups):
                given = "were" if seen is not None else "were not"
                raise ValueError(f"{name} {given} given for the earlier rows; give them for all rows or none")
        cells = np.multiply(LABEL_CODES.encode(references, "references"), len(VERDICTS), dtype=np.intp)
        cells += VERDICT_CODES.encode(predictions, "predictions")
        encoded = {name: encode_groups(values, name) for name, values in groups.items()}
        if subset_names is not None and "subsets" in encoded:
            _check_subset_names(*encoded["subsets"], subset_names)

        overall = None
        if "categories" in encoded:
            self.by_category, overall = self._fold(self.by_category, cells, *encoded["categories"])
        if "subsets" in encoded:
            self.by_subset, overall = self._fold(self.by_subset, cells, *encoded["subsets"])
        self.counts += np.bincount(cells, minlength=CELLS) if overall is None else overall

    @staticmethod
    def _fold(
        groups: dict[str, np.ndarray] | None, cells: np.ndarray, codes: np.ndarray, keys: list[str]
    ) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """Add each group's cell counts into ``groups``; also return the batch's overall counts."""
        groups = {} if groups is None else groups
        if not keys:
            return groups, np.zeros(CELLS, dtype=np.int64)
        combined = np.multiply(codes, CELLS, dtype=np.intp)
        combined += cells
        counts = np.bincount(combined, minlength=len(keys) * CELLS).reshape(len(keys), CELLS)
        for code in np.flatnonzero(counts.any(axis=1)):
            key = keys[code]
            groups[key] = groups[key] + counts[code] if key in groups else counts[code].copy()
        return groups, counts.sum(axis=0)

    def merge(self, other: Tally) -> Tally:
        """Add another tally's counts into this one (rows seen elsewhere, e.g. another process)."""
        if len(self) and len(other):
            for name in ("by_category", "by_subset"):
                if (getattr(self, name) is None) != (getattr(other, name) is None):
                    raise ValueError(f"cannot merge: one tally has {name}, the other has not")
        self.counts += other.counts
        for name in ("by_category", "by_subset"):
            theirs = getattr(other, name)
            if theirs is not None:
                mine = getattr(self, name) or {}
                for key, counts in theirs.items():
                    mine[key] = mine[key] + counts if key in mine else counts.copy()
                setattr(self, name, mine)
        return self


def _check_subset_names(codes: np.ndarray, keys: list[str], allowed: tuple[str, ...]) -> None:
    bad = [code for code, key in enumerate(keys) if key not in allowed]
    if bad:
        present = np.isin(codes, bad)
        if present.any():
            position = int(np.flatnonzero(present)[0])
            raise ValueError(f"subsets[{position}] = {keys[codes[position]]!r} is not a subset; expected one of {allowed}")
