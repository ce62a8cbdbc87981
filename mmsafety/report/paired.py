"""Paired statistics of two runs judged on the same items.

For each headline rate, the items in both runs' denominators are paired by id, and

- the **difference** of the rate (first run minus second) over those items, with a
  **paired bootstrap** percentile interval (the pairs are resampled, not each run apart;
  a mean of subsets, MMSafeAware's Total, resamples within each subset);
- the **exact McNemar** p-value: a two-sided binomial test (p = 1/2) on the discordant
  pairs (an item counted by one run and not the other), computed exactly with integers.

:func:`compare_runs` does this for every two sighted runs of a benchmark;
:func:`image_dependence` for each model's sighted run against its blind run (the same
queries without the image), and adds how many items change verdict without the image,
overall and per category, and the first items that do.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from fractions import Fraction
from math import comb
from typing import Any

import numpy as np

from mmsafety.report.rates import item_rates, outcome
from mmsafety.scoring import wilson_interval
from mmsafety.scoring.rates import Percentiles, chunk_sizes

FLIPS_SHOWN = 10
"""Items whose verdict changes without the image, listed in the report."""


def mcnemar_exact(first_only: int, second_only: int) -> float:
    """Two-sided exact McNemar p-value from the discordant pair counts.

    ``2 * P(X <= min(b, c))`` for ``X ~ Binomial(b + c, 1/2)``, capped at 1; 1 when there is
    no discordant pair.

    >>> mcnemar_exact(0, 5), mcnemar_exact(3, 3), mcnemar_exact(0, 0)
    (0.0625, 1.0, 1.0)
    """
    n = first_only + second_only
    if n == 0:
        return 1.0
    tail = sum(comb(n, k) for k in range(min(first_only, second_only) + 1))
    return float(min(Fraction(1), Fraction(2 * tail, 2**n)))


@dataclass(frozen=True)
class PairedRate:
    """One headline rate of two runs on their shared items."""

    name: str
    first: float | None
    """The rate of the first run over the pairs (a mean of subsets: the mean of its rates over each
    subset's pairs), so that ``first - second == difference``."""
    second: float | None
    """The rate of the second run over the pairs."""
    items: int
    """Items in both runs' denominators: the pairs."""
    difference: float | None
    """First minus second, over the pairs."""
    low: float | None
    high: float | None
    """Paired bootstrap percentile interval of the difference."""
    first_only: int
    """Pairs the first run counts and the second does not (discordant)."""
    second_only: int
    p_value: float | None
    """Exact McNemar p-value (``None`` without pairs)."""


@dataclass(frozen=True)
class PairedComparison:
    """Two sighted runs of one benchmark, rate by rate."""

    first: str
    second: str
    shared: int
    """Items (ids) both runs judged."""
    rates: list[PairedRate]

    def to_json(self) -> dict[str, Any]:
        return {"first": self.first, "second": self.second, "shared_items": self.shared, "rates": [asdict(r) for r in self.rates]}


@dataclass(frozen=True)
class Flip:
    """An item whose verdict changes when the image is removed."""

    id: str
    category: str
    label: str
    sighted: str
    blind: str
    query: str


@dataclass(frozen=True)
class ImageDependence:
    """A model's sighted run against its blind run."""

    model: str
    sighted: str
    blind: str
    shared: int
    changed: int
    """Shared items whose verdict differs without the image."""
    changed_low: float | None
    changed_high: float | None
    by_category: dict[str, tuple[int, int]]
    """Category -> (changed, shared items)."""
    sighted_safe: int
    """Shared items judged ``safe`` with the image."""
    kept_safe: int
    """Of those, judged ``safe`` without it too: the safe answer came from the text."""
    rates: list[PairedRate]
    flips: list[Flip]

    @property
    def changed_share(self) -> float | None:
        return self.changed / self.shared if self.shared else None

    @property
    def kept_safe_share(self) -> float | None:
        return self.kept_safe / self.sighted_safe if self.sighted_safe else None

    def to_json(self) -> dict[str, Any]:
        return {
            "model": self.model, "sighted": self.sighted, "blind": self.blind, "shared_items": self.shared,
            "changed": self.changed, "changed_share": self.changed_share,
            "changed_ci_low": self.changed_low, "changed_ci_high": self.changed_high,
            "by_category": {k: {"changed": c, "items": n, "changed_share": c / n if n else None}
                            for k, (c, n) in self.by_category.items()},
            "sighted_safe": self.sighted_safe, "kept_safe": self.kept_safe, "kept_safe_share": self.kept_safe_share,
            "rates": [asdict(r) for r in self.rates],
            "flips": [asdict(f) for f in self.flips],
        }


def _pairs(first: Sequence[Mapping[str, Any]], second: Sequence[Mapping[str, Any]]) -> list[tuple[Mapping[str, Any], Mapping[str, Any]]]:
    other = {r["id"]: r for r in second}
    return [(r, other[r["id"]]) for r in first if r["id"] in other]


def paired_rate(name: str, policy: str, pairs: list[tuple[Mapping[str, Any], Mapping[str, Any]]], first: Any, second: Any,
                *, invalid: str, confidence: float, resamples: int, rng: np.random.Generator) -> PairedRate:
    """Both runs' rate over the pairs, its paired difference, the bootstrap interval and McNemar's
    p-value of one rate (``first`` and ``second``, the runs' scores, are not needed: the rates are
    computed over the pairs)."""
    parts = item_rates(policy, name)
    differences, discordant, firsts, seconds = [], [], [], []
    first_only = second_only = items = 0
    for part in parts:
        both = [(outcome(a, part, invalid), outcome(b, part, invalid)) for a, b in pairs]
        both = [(x, y) for x, y in both if x is not None and y is not None]
        n = len(both)
        up = sum(1 for x, y in both if x and not y)
        down = sum(1 for x, y in both if y and not x)
        first_only, second_only, items = first_only + up, second_only + down, items + n
        differences.append((up - down) / n if n else None)
        firsts.append(sum(1 for x, _ in both if x) / n if n else None)
        seconds.append(sum(1 for _, y in both if y) / n if n else None)
        discordant.append((n, up, down))
    value = low = high = None
    if differences and all(d is not None for d in differences):
        value = sum(differences) / len(differences)
        kept = Percentiles()  # resampled in chunks: memory does not grow with the resamples
        for size in chunk_sizes(resamples):
            draws = []
            for n, up, down in discordant:
                counts = rng.multinomial(n, [up / n, down / n, 1 - (up + down) / n], size=size)
                draws.append((counts[:, 0] - counts[:, 1]) / n)
            kept.add(np.mean(draws, axis=0))
        low, high = kept.bounds(confidence)
    complete = bool(parts) and all(n for n, _, _ in discordant)
    return PairedRate(
        name=name,
        first=sum(firsts) / len(firsts) if complete else None,
        second=sum(seconds) / len(seconds) if complete else None,
        items=items,
        difference=value,
        low=low,
        high=high,
        first_only=first_only,
        second_only=second_only,
        p_value=mcnemar_exact(first_only, second_only) if items else None,
    )


def _rates(results: Any, first: Any, second: Any, pairs: list, *, invalid: str, confidence: float, resamples: int,
           seed: int) -> list[PairedRate]:
    rng = np.random.default_rng(seed)
    return [paired_rate(name, results.policy, pairs, first.score, second.score, invalid=invalid, confidence=confidence,
                        resamples=resamples, rng=rng) for name in results.headline]


def compare_runs(results: Any, *, invalid: str, confidence: float, resamples: int, seed: int = 0) -> list[PairedComparison]:
    """Every two sighted runs of a benchmark that share items, in the order given."""
    sighted = [run for run in results.runs if not run.blind]
    comparisons = []
    for index, first in enumerate(sighted):
        for second in sighted[index + 1:]:
            pairs = _pairs(first.records, second.records)
            if pairs:
                rates = _rates(results, first, second, pairs, invalid=invalid, confidence=confidence, resamples=resamples, seed=seed)
                comparisons.append(PairedComparison(first.label, second.label, len(pairs), rates))
    return comparisons


def image_dependence(results: Any, *, invalid: str, confidence: float, resamples: int, seed: int = 0,
                     queries: Callable[[str], Mapping[str, str]]) -> list[ImageDependence]:
    """Each model's first sighted run against its first blind run, where both judged shared items."""
    found = []
    for blind in (run for run in results.runs if run.blind):
        sighted = next((run for run in results.runs if not run.blind and run.model == blind.model), None)
        if sighted is None or any(d.model == blind.model for d in found):
            continue
        pairs = _pairs(sighted.records, blind.records)
        if not pairs:
            continue
        changed = [(a, b) for a, b in pairs if a["verdict"] != b["verdict"]]
        by_category: dict[str, tuple[int, int]] = {}
        for a, b in pairs:
            flips, items = by_category.get(a["category"], (0, 0))
            by_category[a["category"]] = (flips + (a["verdict"] != b["verdict"]), items + 1)
        known: Mapping[str, str] = {}
        if changed and not all(a.get("query") for a, _ in changed[:FLIPS_SHOWN]):
            known = queries(results.benchmark)
        flips = [Flip(a["id"], a["category"], a["label"], a["verdict"], b["verdict"],
                      str(a.get("query") or b.get("query") or known.get(a["id"], ""))) for a, b in changed[:FLIPS_SHOWN]]
        low, high = wilson_interval(len(changed), len(pairs), confidence)
        found.append(ImageDependence(
            model=blind.model,
            sighted=sighted.label,
            blind=blind.label,
            shared=len(pairs),
            changed=len(changed),
            changed_low=low,
            changed_high=high,
            by_category=dict(sorted(by_category.items())),
            sighted_safe=sum(1 for a, _ in pairs if a["verdict"] == "safe"),
            kept_safe=sum(1 for a, b in pairs if a["verdict"] == "safe" == b["verdict"]),
            rates=_rates(results, sighted, blind, pairs, invalid=invalid, confidence=confidence, resamples=resamples, seed=seed),
            flips=flips,
        ))
    return found
