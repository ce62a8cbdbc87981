"""Paired statistics of two runs judged on the same items.

For each headline rate, the items in both runs' denominators are paired by id, and

- the **difference** of the rate (first run minus second) over those items, with a
  **paired bootstrap** percentile interval (the pairs are resampled, not each run apart;
  a mean of subsets, MMSafeAware's Total, resamples within each subset);
- the **exact McNemar** p-value: a two-sided binomial test (p = 1/2) on the discordant
  pairs (an item counted by one run and not the other).

Runs are paired in columns (their ids joined with Arrow, their outcomes as numpy arrays):
no Python object per item, so pairing three models' million verdicts costs well under
scoring them.

:func:`compare_runs` does this for every two sighted runs of a benchmark;
:func:`image_dependence` for each model's sighted run against its blind run (the same
queries without the image), and adds how many items change verdict without the image,
overall and per category, and the first items that do.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mmsafety.labels import VERDICTS
from mmsafety.report.rate_cells import item_rates, outcomes
from mmsafety.scoring import wilson_interval
from mmsafety.scoring.rates import Percentiles, chunk_sizes

FLIPS_SHOWN = 10
"""Items whose verdict changes without the image, listed in the report."""


def mcnemar_exact(first_only: int, second_only: int) -> float:
    """Two-sided exact McNemar p-value from the discordant pair counts.

    ``2 * P(X <= min(b, c))`` for ``X ~ Binomial(b + c, 1/2)``, capped at 1; 1 when there is
    no discordant pair: the exact binomial test of ``scipy.stats.binomtest`` (its binomial
    CDF is computed in closed form, so a million discordant pairs cost what ten do).

    >>> mcnemar_exact(0, 5), mcnemar_exact(3, 3), mcnemar_exact(0, 0)
    (0.0625, 1.0, 1.0)
    """
    from scipy.stats import binom

    n = first_only + second_only
    if n == 0 or first_only == second_only:
        return 1.0
    return float(min(1.0, 2.0 * binom.cdf(min(first_only, second_only), n, 0.5)))


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


@dataclass(frozen=True)
class Pairs:
    """Rows of two runs' tables that judged the same ids: ``first[k]`` and ``second[k]``, in the first's order."""

    first: np.ndarray
    second: np.ndarray

    def __len__(self) -> int:
        return len(self.first)


def pair_rows(first: pa.Table, second: pa.Table) -> Pairs:
    """The rows of ``first`` and ``second`` (verdict tables) with the same id.

    >>> a = pa.table({"id": ["1", "2", "3"]}); b = pa.table({"id": ["3", "1"]})
    >>> pairs = pair_rows(a, b); pairs.first.tolist(), pairs.second.tolist()
    ([0, 2], [1, 0])
    """
    where = pc.index_in(first.column("id"), value_set=second.column("id").combine_chunks())
    where = where.combine_chunks() if isinstance(where, pa.ChunkedArray) else where
    found = pc.is_valid(where).to_numpy(zero_copy_only=False)
    return Pairs(np.flatnonzero(found), pc.drop_null(where).to_numpy().astype(np.int64))


def _verdict_codes(table: pa.Table) -> np.ndarray:
    return pc.index_in(table.column("verdict"), value_set=pa.array(VERDICTS)).to_numpy()


def paired_rate(name: str, policy: str, first: pa.Table, second: pa.Table, pairs: Pairs,
                *, invalid: str, confidence: float, resamples: int, rng: np.random.Generator) -> PairedRate:
    """Both runs' rate over the pairs (``first`` and ``second``: their verdict tables), its paired
    difference, the bootstrap interval and McNemar's p-value of one rate."""
    parts = item_rates(policy, name)
    differences, discordant, firsts, seconds = [], [], [], []
    first_only = second_only = items = 0
    for part in parts:
        x = outcomes(first, part, invalid)[pairs.first]
        y = outcomes(second, part, invalid)[pairs.second]
        both = (x >= 0) & (y >= 0)
        n = int(np.count_nonzero(both))
        up = int(np.count_nonzero(both & (x == 1) & (y == 0)))
        down = int(np.count_nonzero(both & (x == 0) & (y == 1)))
        first_only, second_only, items = first_only + up, second_only + down, items + n
        differences.append((up - down) / n if n else None)
        firsts.append(int(np.count_nonzero(both & (x == 1))) / n if n else None)
        seconds.append(int(np.count_nonzero(both & (y == 1))) / n if n else None)
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


def _rates(results: Any, first: Any, second: Any, pairs: Pairs, *, invalid: str, confidence: float, resamples: int,
           seed: int) -> list[PairedRate]:
    rng = np.random.default_rng(seed)
    return [paired_rate(name, results.policy, first.table, second.table, pairs, invalid=invalid,
                        confidence=confidence, resamples=resamples, rng=rng) for name in results.headline
            if name not in first.refused and name not in second.refused]  # a rate a judge cannot give is not compared


def compare_runs(results: Any, *, invalid: str, confidence: float, resamples: int, seed: int = 0) -> list[PairedComparison]:
    """Every two sighted runs of a benchmark that share items, in the order given."""
    sighted = [run for run in results.runs if not run.blind]
    comparisons = []
    for index, first in enumerate(sighted):
        for second in sighted[index + 1:]:
            pairs = pair_rows(first.table, second.table)
            if len(pairs):
                rates = _rates(results, first, second, pairs, invalid=invalid, confidence=confidence, resamples=resamples, seed=seed)
                comparisons.append(PairedComparison(first.label, second.label, len(pairs), rates))
    return comparisons


def image_dependence(results: Any, *, invalid: str, confidence: float, resamples: int, seed: int = 0,
                     queries: Callable[[str], Mapping[str, str]]) -> list[ImageDependence]:
    """Each model's first sighted run against its first blind run, where both judged shared items."""
    found = []
    safe = VERDICTS.index("safe")
    for blind in (run for run in results.runs if run.blind):
        sighted = next((run for run in results.runs if not run.blind and run.model == blind.model), None)
        if sighted is None or any(d.model == blind.model for d in found):
            continue
        pairs = pair_rows(sighted.table, blind.table)
        if not len(pairs):
            continue
        a, b = _verdict_codes(sighted.table)[pairs.first], _verdict_codes(blind.table)[pairs.second]
        changed = a != b
        encoded = pc.dictionary_encode(sighted.table.column("category").combine_chunks().take(pa.array(pairs.first)))
        names = encoded.dictionary.to_pylist()
        codes = encoded.indices.to_numpy()
        flips_per = np.bincount(codes, weights=changed, minlength=len(names)).astype(np.int64)
        items_per = np.bincount(codes, minlength=len(names))
        by_category = {names[k]: (int(flips_per[k]), int(items_per[k])) for k in range(len(names))}
        shown = np.flatnonzero(changed)[:FLIPS_SHOWN]
        rows = sighted.table.select(["id", "category", "label", "query"]).take(pa.array(pairs.first[shown])).to_pylist()
        blind_queries = blind.table.column("query").take(pa.array(pairs.second[shown])).to_pylist()
        known: Mapping[str, str] = {}
        if not all(row["query"] or other for row, other in zip(rows, blind_queries)):
            known = queries(results.benchmark)
        flips = [Flip(row["id"], row["category"], row["label"], VERDICTS[a[k]], VERDICTS[b[k]],
                      str(row["query"] or other or known.get(row["id"], "")))
                 for row, other, k in zip(rows, blind_queries, shown)]
        low, high = wilson_interval(int(changed.sum()), len(pairs), confidence)
        found.append(ImageDependence(
            model=blind.model,
            sighted=sighted.label,
            blind=blind.label,
            shared=len(pairs),
            changed=int(changed.sum()),
            changed_low=low,
            changed_high=high,
            by_category=dict(sorted(by_category.items())),
            sighted_safe=int(np.count_nonzero(a == safe)),
            kept_safe=int(np.count_nonzero((a == safe) & (b == safe))),
            rates=_rates(results, sighted, blind, pairs, invalid=invalid, confidence=confidence, resamples=resamples, seed=seed),
            flips=flips,
        ))
    return found
