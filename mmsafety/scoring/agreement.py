"""Agreement between judges (or judges and people) on the same items.

- :func:`cohen_kappa`: Cohen's κ of two raters, ``(p_o - p_e) / (1 - p_e)`` from their
  confusion matrix (Cohen, 1960), as scikit-learn's ``cohen_kappa_score`` computes it;
- :func:`kappa_interval`: its percentile bootstrap interval (the items are resampled);
- :func:`krippendorff_alpha`: Krippendorff's α for nominal data across any number of raters,
  missing values allowed (Krippendorff, *Content Analysis*, 2004, ch. 11), as the
  ``krippendorff`` package computes it: ``1 - D_o / D_e`` from the coincidence matrix;
- :func:`pair_agreement`: percent agreement, κ with its interval, and the confusion matrix.

Values are category names (strings); ``None`` is a missing value (an item a rater did not rate,
or whose rating is left out, such as an ``invalid`` verdict). κ is ``None`` when it is undefined
(no items, or both raters put every item in one category: ``p_e = 1``).

>>> a = ["safe", "safe", "unsafe", "refusal", "safe"]
>>> b = ["safe", "unsafe", "unsafe", "refusal", "safe"]
>>> round(cohen_kappa(a, b), 4)
0.6875
>>> round(krippendorff_alpha([a, b]), 4)
0.7097
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from mmsafety.scoring.rates import Percentiles

DRAWS_PER_CHUNK = 1 << 21
"""Items drawn at once by the bootstrap of κ (resamples x items): about 16 MB of indices."""


def _codes(first: Sequence[str], second: Sequence[str], categories: Sequence[str] | None) -> tuple[np.ndarray, np.ndarray, list[str]]:
    names = list(categories) if categories is not None else sorted(set(first) | set(second))
    index = {name: i for i, name in enumerate(names)}
    return (np.array([index[v] for v in first], dtype=np.int64), np.array([index[v] for v in second], dtype=np.int64), names)


def confusion(first: Sequence[str], second: Sequence[str], categories: Sequence[str] | None = None) -> tuple[list[str], list[list[int]]]:
    """The categories and the matrix of counts: row = the first rater's category, column = the second's.

    >>> confusion(["a", "b", "b"], ["a", "a", "b"])
    (['a', 'b'], [[1, 0], [1, 1]])
    """
    a, b, names = _codes(first, second, categories)
    k = len(names)
    matrix = np.bincount(a * k + b, minlength=k * k).reshape(k, k)
    return names, matrix.tolist()


def _kappa_of_counts(counts: np.ndarray) -> np.ndarray:
    """κ of each confusion matrix in ``counts`` (shape ``(..., k, k)``); NaN where undefined."""
    total = counts.sum(axis=(-2, -1)).astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        observed = np.trace(counts, axis1=-2, axis2=-1) / total
        expected = (counts.sum(axis=-1) * counts.sum(axis=-2)).sum(axis=-1) / total**2
        return (observed - expected) / (1 - expected)


def cohen_kappa(first: Sequence[str], second: Sequence[str]) -> float | None:
    """Cohen's κ of two raters' categories on the same items (``None`` when undefined)."""
    if len(first) != len(second):
        raise ValueError(f"expected two raters' values for the same items, found {len(first)} and {len(second)}")
    if not first:
        return None
    a, b, names = _codes(first, second, None)
    k = len(names)
    value = float(_kappa_of_counts(np.bincount(a * k + b, minlength=k * k).reshape(k, k)))
    return None if np.isnan(value) else value


def kappa_interval(first: Sequence[str], second: Sequence[str], *, confidence: float = 0.95, resamples: int = 2000,
                   seed: int = 0) -> tuple[float | None, float | None]:
    """The percentile bootstrap interval of :func:`cohen_kappa`: the items are drawn with
    replacement ``resamples`` times (resamples where κ is undefined are left out).

    >>> low, high = kappa_interval(["a", "b"] * 20, ["a", "b"] * 19 + ["b", "a"], resamples=200)
    >>> 0.7 < low < high <= 1
    True
    """
    if not first or resamples < 1:
        return None, None
    a, b, names = _codes(first, second, None)
    k, n = len(names), len(a)
    cells = a * k + b
    rng = np.random.default_rng(seed)
    kept = Percentiles()
    per_chunk = max(1, DRAWS_PER_CHUNK // n)  # memory stays near DRAWS_PER_CHUNK draws, whatever the items
    for size in (min(per_chunk, resamples - start) for start in range(0, resamples, per_chunk)):
        drawn = cells[rng.integers(0, n, size=(size, n))] + (k * k) * np.arange(size)[:, None]  # each resample's own cells
        counts = np.bincount(drawn.ravel(), minlength=size * k * k)
        values = _kappa_of_counts(counts.reshape(size, k, k))
        kept.add(values[~np.isnan(values)])
    return kept.bounds(confidence)


def krippendorff_alpha(ratings: Sequence[Sequence[str | None]]) -> float | None:
    """Krippendorff's α (nominal) of ``ratings``: one sequence per rater, one value per item,
    ``None`` where missing. Items with fewer than two values are left out; ``None`` when α is
    undefined (fewer than two values in all, or a single category: no expected disagreement).

    >>> krippendorff_alpha([["a", "b", None], ["a", "b", "a"], ["a", "a", None]])
    0.375
    """
    names = sorted({v for rater in ratings for v in rater if v is not None})
    if not names or not ratings:
        return None
    index = {name: i for i, name in enumerate(names)}
    k = len(names)
    width = max(len(rater) for rater in ratings)
    if any(len(rater) != width for rater in ratings):
        raise ValueError("expected one value (or None) per item for every rater")
    cells = [unit * k + index[value] for rater in ratings for unit, value in enumerate(rater) if value is not None]
    per_unit = np.bincount(np.asarray(cells, dtype=np.int64), minlength=width * k).reshape(width, k).astype(float)
    pairable = per_unit.sum(axis=1)
    per_unit = per_unit[pairable >= 2]
    pairable = pairable[pairable >= 2]
    if not len(pairable):
        return None
    coincidence = np.einsum("uc,uk->ck", per_unit, per_unit / (pairable - 1)[:, None])
    coincidence -= np.diag((per_unit / (pairable - 1)[:, None]).sum(axis=0))
    marginals = coincidence.sum(axis=1)
    total = marginals.sum()
    observed = coincidence.sum() - np.trace(coincidence)
    expected = (total**2 - (marginals**2).sum()) / (total - 1)
    if expected == 0:
        return None
    return float(1 - observed / expected)


@dataclass(frozen=True)
class PairAgreement:
    """Two raters on the items both rated (``None`` values left out)."""

    first: str
    second: str
    items: int
    agreement: float | None
    """The share of the items given the same category."""
    kappa: float | None
    kappa_low: float | None
    kappa_high: float | None
    categories: list[str]
    confusion: list[list[int]]
    """Rows: the first rater's category; columns: the second's."""

    def to_json(self) -> dict[str, Any]:
        return {
            "first": self.first, "second": self.second, "items": self.items, "agreement": self.agreement,
            "kappa": self.kappa, "kappa_ci_low": self.kappa_low, "kappa_ci_high": self.kappa_high,
            "confusion": {"categories": self.categories, "matrix": self.confusion},
        }


def pair_agreement(first_name: str, second_name: str, first: Sequence[str | None], second: Sequence[str | None], *,
                   categories: Sequence[str] | None = None, confidence: float = 0.95, resamples: int = 2000,
                   seed: int = 0) -> PairAgreement:
    """Agreement of two raters' values on the same items (``None`` on either side: left out).

    >>> pair = pair_agreement("x", "y", ["a", "b", None, "a"], ["a", "a", "b", "a"], resamples=0)
    >>> pair.items, pair.agreement, pair.confusion
    (3, 0.6666666666666666, [[2, 0], [1, 0]])
    """
    both = [(a, b) for a, b in zip(first, second) if a is not None and b is not None]
    a = [x for x, _ in both]
    b = [y for _, y in both]
    names = list(categories) if categories is not None else sorted(set(a) | set(b))
    names, matrix = confusion(a, b, names)
    low, high = kappa_interval(a, b, confidence=confidence, resamples=resamples, seed=seed) if resamples else (None, None)
    return PairAgreement(
        first=first_name, second=second_name, items=len(both),
        agreement=sum(x == y for x, y in both) / len(both) if both else None,
        kappa=cohen_kappa(a, b), kappa_low=low, kappa_high=high, categories=names, confusion=matrix,
    )
