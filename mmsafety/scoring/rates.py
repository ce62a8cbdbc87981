"""Rates from counts: a policy's numerators and denominators, Wilson and bootstrap intervals.

:class:`GroupRates` turns the (label, verdict) cell counts of a group of rows into a
:class:`~mmsafety.scoring.result.Group`: each rate of the policy with its count, its
denominator, its Wilson interval and, on request, a bootstrap percentile interval. The
bootstrap draws its resamples in chunks of :data:`BOOTSTRAP_CHUNK` and keeps, per rate,
only the distinct replicate values and how often each came up, so its memory does not
grow with the number of resamples.

>>> [round(bound, 4) for bound in wilson_interval(81, 263)]
[0.2553, 0.3662]
>>> [round(bound, 4) for bound in mean_interval([(60, 100), (300, 400), (40, 200)])]
[0.4771, 0.5562]
"""

from __future__ import annotations

import math
from statistics import NormalDist
from typing import Any

import numpy as np

from mmsafety.labels import LABELS
from mmsafety.labels import VERDICTS
from mmsafety.scoring.policies import INVALID_HANDLING, Policy
from mmsafety.scoring.result import Group
from mmsafety.scoring.result import RateValue
from mmsafety.scoring.tally import CELLS

__all__ = [
    "BOOTSTRAP_CHUNK", "INVALID_HANDLING", "GroupRates", "Percentiles", "check_settings", "chunk_sizes", "mean_interval",
    "wilson_interval",
]

BOOTSTRAP_CHUNK = 16_384
"""Resamples drawn at once: the bootstrap's working memory is a few of these rows of cells."""


def check_settings(invalid: str, confidence: float, bootstrap: int) -> None:
    """Raise ``ValueError`` for an ``invalid``, ``confidence`` or ``bootstrap`` that ``score`` refuses."""
    if invalid not in INVALID_HANDLING:
        raise ValueError(f"invalid={invalid!r}; expected one of {INVALID_HANDLING}")
    if isinstance(confidence, bool) or not isinstance(confidence, (int, float)) or not 0 < confidence < 1:
        raise ValueError(f"confidence={confidence!r}; expected a number between 0 and 1")
    if isinstance(bootstrap, bool) or not isinstance(bootstrap, (int, np.integer)) or bootstrap < 0:
        raise ValueError(f"bootstrap={bootstrap!r}; expected a number of resamples >= 0")


def _z(confidence: float) -> float:
    return NormalDist().inv_cdf(0.5 + confidence / 2)


def wilson_interval(successes: int, total: int, confidence: float = 0.95) -> tuple[float | None, float | None]:
    """The Wilson score interval of ``successes / total``; ``(None, None)`` when total is 0."""
    if total == 0:
        return None, None
    z = _z(confidence)
    p = successes / total
    shrink = 1 + z * z / total
    centre = (p + z * z / (2 * total)) / shrink
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / shrink
    low = 0.0 if successes == 0 else max(0.0, centre - half)  # exact at the ends, not 1e-17 off
    high = 1.0 if successes == total else min(1.0, centre + half)
    return low, high


def mean_interval(parts: list[tuple[int, int]], confidence: float = 0.95) -> tuple[float | None, float | None]:
    """The interval of the unweighted mean of independent proportions ``numerator / denominator``.

    Its variance is exactly the mean of the parts' binomial variances over their count,
    ``sum(p * (1 - p) / n) / k**2`` (estimated at the observed ``p``); the bounds are the
    normal approximation around the mean, kept inside [0, 1]. ``(None, None)`` when a part has
    no denominator. As with any normal interval, parts at 0 or 1 add no width.
    """
    if not parts or any(denominator == 0 for _, denominator in parts):
        return None, None
    shares = [numerator / denominator for numerator, denominator in parts]
    mean = sum(shares) / len(shares)
    variance = sum(p * (1 - p) / n for p, (_, n) in zip(shares, parts)) / len(parts) ** 2
    half = _z(confidence) * math.sqrt(variance)
    return max(0.0, mean - half), min(1.0, mean + half)


def _matrices(policy: Policy, invalid: str) -> tuple[np.ndarray, np.ndarray]:
    """(numerator, denominator) weights, one column per rate, one row per (label, verdict) cell."""
    numerator = np.zeros((CELLS, len(policy.rates)), dtype=np.int64)
    denominator = np.zeros_like(numerator)
    for column, rate in enumerate(policy.rates):
        for label_id, label in enumerate(LABELS):
            for verdict_id, verdict in enumerate(VERDICTS):
                counted = rate.outcome(label, verdict, invalid)
                cell = label_id * len(VERDICTS) + verdict_id
                numerator[cell, column] = bool(counted)
                denominator[cell, column] = counted is not None
    return numerator, denominator


def chunk_sizes(total: int) -> list[int]:
    """``total`` resamples as chunks of at most :data:`BOOTSTRAP_CHUNK`."""
    return [min(BOOTSTRAP_CHUNK, total - start) for start in range(0, total, BOOTSTRAP_CHUNK)]


class Percentiles:
    """The replicate values of one rate, kept as distinct values and their counts.

    A rate's replicates are ratios of counts, so they repeat: the distinct values stay few
    however many resamples are drawn. :meth:`bounds` gives what ``np.nanpercentile`` (linear
    interpolation) gives on all the replicates.
    """

    def __init__(self) -> None:
        self.values = np.empty(0, dtype=np.float64)
        self.counts = np.empty(0, dtype=np.int64)

    def add(self, replicates: np.ndarray) -> None:
        """Add replicates; NaN (a resample whose denominator is 0) is left out."""
        kept = replicates[~np.isnan(replicates)]
        values, counts = np.unique(kept, return_counts=True)
        merged, inverse = np.unique(np.concatenate([self.values, values]), return_inverse=True)
        self.counts = np.bincount(inverse, weights=np.concatenate([self.counts, counts]), minlength=len(merged)).astype(np.int64)
        self.values = merged

    def bounds(self, confidence: float) -> tuple[float | None, float | None]:
        """The central ``confidence`` percentile interval; ``(None, None)`` with no replicate."""
        n = int(self.counts.sum())
        if n == 0:
            return None, None
        tail = (1 - confidence) / 2 * 100
        quantiles = np.asarray([tail, 100 - tail]) / 100
        virtual = (n - 1) * quantiles  # numpy's "linear" method
        below = np.floor(virtual)
        gamma = virtual - below
        lower = np.clip(below, 0, n - 1).astype(np.int64)
        upper = np.clip(below + 1, 0, n - 1).astype(np.int64)
        ends = np.cumsum(self.counts)
        a = self.values[np.searchsorted(ends, lower, side="right")]
        b = self.values[np.searchsorted(ends, upper, side="right")]
        difference = b - a
        result = np.where(gamma >= 0.5, b - difference * (1 - gamma), a + difference * gamma)
        return float(result[0]), float(result[1])


class GroupRates:
    """A policy's rates, with their intervals, from the cell counts of a group of rows.

    The bootstrap draws from one generator seeded with ``seed``, group after group in the
    order :meth:`group` is called; :meth:`mean_rate` replays the generator states it was
    handed, so a mean of subsets is resampled in step with the subsets themselves.
    """

    def __init__(self, policy: Policy, invalid: str, confidence: float, bootstrap: int, seed: int | None):
        self.policy = policy
        self.numerator, self.denominator = _matrices(policy, invalid)
        self.confidence = confidence
        self.bootstrap = bootstrap
        self.rng = np.random.default_rng(seed)

    def group(self, counts: np.ndarray) -> tuple[Group, dict[str, Any]]:
        """The group of these cell counts, and the generator state its bootstrap started from."""
        table = counts.reshape(len(LABELS), len(VERDICTS))
        state = self.rng.bit_generator.state
        numerators = counts @ self.numerator
        denominators = counts @ self.denominator
        bounds = self._bootstrap(counts)
        rates = {}
        for column, rate in enumerate(self.policy.rates):
            numerator, denominator = int(numerators[column]), int(denominators[column])
            low, high = wilson_interval(numerator, denominator, self.confidence)
            rates[rate.name] = RateValue(
                rate.name, numerator / denominator if denominator else None, numerator, denominator, low, high, *bounds[column]
            )
        group = Group(
            total=int(table.sum()),
            counts={verdict: int(table[:, i].sum()) for i, verdict in enumerate(VERDICTS)},
            labels={label: int(table[i].sum()) for i, label in enumerate(LABELS)},
            rates=rates,
        )
        return group, state

    def _replicates(self, rng: np.random.Generator, counts: np.ndarray, size: int) -> np.ndarray:
        """Every rate on ``size`` resamples of the rows (a multinomial draw over the cells is a
        draw of rows with replacement); NaN where a resample leaves a denominator at 0."""
        total = int(counts.sum())
        draws = rng.multinomial(total, counts / total, size=size)
        with np.errstate(divide="ignore", invalid="ignore"):
            return (draws @ self.numerator) / (draws @ self.denominator)

    def _bootstrap(self, counts: np.ndarray) -> list[tuple[float | None, float | None]]:
        if not self.bootstrap or not counts.sum():
            return [(None, None)] * len(self.policy.rates)
        kept = [Percentiles() for _ in self.policy.rates]
        for size in chunk_sizes(self.bootstrap):
            replicates = self._replicates(self.rng, counts, size)
            for column, percentiles in enumerate(kept):
                percentiles.add(replicates[:, column])
        return [percentiles.bounds(self.confidence) for percentiles in kept]

    def mean_rate(self, name: str, parts: list[RateValue], counts: list[np.ndarray], states: list[dict | None]) -> RateValue:
        """The unweighted mean of ``parts`` (rates[0] of groups whose cells are ``counts``)."""
        values = [part.value for part in parts]
        value = None if any(v is None for v in values) else sum(values) / len(values)
        low, high = mean_interval([(part.numerator, part.denominator) for part in parts], self.confidence)
        boot_low = boot_high = None
        if self.bootstrap and all(state is not None and cells.sum() for state, cells in zip(states, counts)):
            generators = []
            for state in states:
                generator = np.random.default_rng()
                generator.bit_generator.state = state
                generators.append(generator)
            mean = Percentiles()
            for size in chunk_sizes(self.bootstrap):
                replicates = [self._replicates(g, cells, size)[:, 0] for g, cells in zip(generators, counts)]
                mean.add(np.mean(replicates, axis=0))
            boot_low, boot_high = mean.bounds(self.confidence)
        return RateValue(  # a macro mean is no count over a count: no numerator or denominator (see RateValue)
            name, value, None, None, low, high, boot_low, boot_high, mean_of=tuple(part.name for part in parts),
        )
