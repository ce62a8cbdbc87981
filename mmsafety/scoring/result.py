"""The typed result of :func:`mmsafety.scoring.score`: rates with their counts and intervals.

A :class:`Score` holds the settings, the counts and a :class:`RateValue` per rate, overall
and per category and subset (:class:`Group`). Consumers read ``score.rates[name]`` instead
of parsing key suffixes; ``to_flat()`` gives the flat dict for ``evaluate`` and JSON, and a
``Score`` is also a read-only mapping over it, so ``score["safe_response_rate"]`` works.
``to_numbers()`` gives numbers only, for training loops and experiment trackers.

>>> from mmsafety.scoring import score
>>> result = score(["safe", "refusal", "unsafe"], ["unsafe"] * 3, policy="vlsbench")
>>> rate = result.rates["safe_response_rate"]
>>> rate.numerator, rate.denominator, round(rate.value, 4), round(rate.ci_low, 4)
(2, 3, 0.6667, 0.2077)
>>> result["safe_response_rate_numerator"], result == result.to_flat()
(2, True)
"""

from __future__ import annotations

from collections.abc import Iterator
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from functools import cached_property
from typing import Any

from mmsafety.labels import BENIGN_LABELS

__all__ = ["BREAKDOWNS", "RATE_FIELDS", "Group", "RateValue", "Score"]

RATE_FIELDS: tuple[str, ...] = ("_numerator", "_denominator", "_ci_low", "_ci_high", "_bootstrap_low", "_bootstrap_high")
"""The suffixes of a rate's companion keys in the flat result (``R_numerator``, ...)."""

BREAKDOWNS: tuple[str, ...] = ("by_category", "by_subset")


@dataclass(frozen=True)
class RateValue:
    """One rate: ``value == numerator / denominator``, with its interval(s).

    ``value`` is None when the denominator is 0 (and so are the bounds). A rate that is the
    unweighted mean of other rates (MMSafeAware's Total, the macro mean of its three subset
    accuracies as the paper's table computes it) names them in ``mean_of``; its ``numerator``
    and ``denominator`` are then ``None``: no count over a count gives a macro mean (summed,
    the parts' counts give the micro accuracy instead: 784/1,523 = 0.5148 beside a Total of
    0.5199 on one run), so a reader of the object is never handed a ratio that disagrees with
    ``value``; the parts' own counts are in ``rates[name]`` for each name in ``mean_of``. Its
    ``ci_low``/``ci_high`` come from the exact variance of a mean of independent proportions
    (normal approximation).

    >>> from mmsafety.scoring import score
    >>> total = score(["safe", "unsafe", "safe"], ["unsafe", "unsafe", "oversensitive"], policy="mmsafeaware",
    ...               subsets=["typical", "attack", "over-safety"]).rates["total_accuracy"]
    >>> round(total.value, 4), total.numerator, total.denominator, total.mean_of
    (0.6667, None, None, ('typical_accuracy', 'attack_accuracy', 'over_safety_accuracy'))
    """

    name: str
    value: float | None
    numerator: int | None
    """Items counted as successes; ``None`` for a mean of rates (``mean_of``)."""
    denominator: int | None
    """Items scored; ``None`` for a mean of rates (``mean_of``)."""
    ci_low: float | None
    ci_high: float | None
    bootstrap_low: float | None = None
    bootstrap_high: float | None = None
    mean_of: tuple[str, ...] = ()

    def to_flat(self, bootstrap: bool) -> dict[str, Any]:
        """The rate's keys in the flat result."""
        name = self.name
        flat: dict[str, Any] = {name: self.value}
        if not self.mean_of:
            flat[f"{name}_numerator"] = self.numerator
            flat[f"{name}_denominator"] = self.denominator
        flat[f"{name}_ci_low"] = self.ci_low
        flat[f"{name}_ci_high"] = self.ci_high
        if bootstrap:
            flat[f"{name}_bootstrap_low"] = self.bootstrap_low
            flat[f"{name}_bootstrap_high"] = self.bootstrap_high
        return flat


@dataclass(frozen=True)
class Group:
    """The rows of one category or subset (or all rows): counts and the policy's rates."""

    total: int
    counts: dict[str, int]
    """Rows per verdict."""
    labels: dict[str, int]
    """Rows per sample label."""
    rates: dict[str, RateValue]

    @property
    def invalid(self) -> int:
        return self.counts.get("invalid", 0)

    def _flat_counts(self) -> dict[str, Any]:
        flat: dict[str, Any] = {
            "num_samples": self.total,
            "num_unsafe": self.labels.get("unsafe", 0),
            "num_benign": sum(self.labels.get(label, 0) for label in BENIGN_LABELS),
        }
        flat.update({f"count_{verdict}": count for verdict, count in self.counts.items()})
        return flat

    def to_flat(self, bootstrap: bool = False) -> dict[str, Any]:
        """The group's flat keys: counts, then each rate with its companions."""
        flat = self._flat_counts()
        for rate in self.rates.values():
            flat.update(rate.to_flat(bootstrap))
        return flat


@dataclass(frozen=True, eq=False)
class Score(Mapping):
    """What :func:`mmsafety.scoring.score` returns (see its docstring for every rate).

    ``rates`` holds every rate of the policy in its order, ``invalid_rate`` included; under
    ``mmsafeaware`` also each subset's accuracy and ``total_accuracy``. ``by_category`` and
    ``by_subset`` are empty when no categories or subsets were given (``breakdowns`` names the
    ones that were). As a mapping it is :meth:`to_flat`; ``Score == dict`` compares flat.
    """

    policy: str
    settings: dict[str, Any]
    """``refusal_is_safe``, ``invalid_handling``, ``confidence``, ``bootstrap``."""
    total: int
    counts: dict[str, int]
    labels: dict[str, int]
    rates: dict[str, RateValue]
    by_category: dict[str, Group] = field(default_factory=dict)
    by_subset: dict[str, Group] = field(default_factory=dict)
    breakdowns: tuple[str, ...] = ()
    policy_rates: tuple[str, ...] = ()
    """The rates every group has (the policy's table); the others are whole-result only."""

    @property
    def invalid(self) -> int:
        """Rows whose verdict is ``invalid``."""
        return self.counts.get("invalid", 0)

    @property
    def overall(self) -> Group:
        """All rows as a :class:`Group` (the policy's own rates only)."""
        return Group(self.total, self.counts, self.labels, {n: self.rates[n] for n in self.policy_rates})

    def to_flat(self) -> dict[str, Any]:
        """The flat, JSON-serialisable dict: settings, counts, each rate with its companions
        (``R``, ``R_numerator``, ``R_denominator``, ``R_ci_low``, ``R_ci_high`` and, with a
        bootstrap, ``R_bootstrap_low``, ``R_bootstrap_high``), then ``by_category`` /
        ``by_subset`` (group -> the same per-group keys) when given."""
        bootstrap = bool(self.settings["bootstrap"])
        flat: dict[str, Any] = {"policy": self.policy, **self.settings}
        flat.update(self.overall._flat_counts())
        for rate in self.rates.values():
            flat.update(rate.to_flat(bootstrap))
        for breakdown in self.breakdowns:
            groups = getattr(self, breakdown)
            flat[breakdown] = {key: group.to_flat(bootstrap) for key, group in groups.items()}
        return flat

    def to_numbers(self) -> dict[str, float | int]:
        """Numbers only, flat, for a training loop's metrics, TensorBoard or W&B.

        Counts are ints (``num_samples``, ``num_unsafe``, ``num_benign``, ``count_<verdict>``,
        ``R_numerator``, ``R_denominator``); rates and their bounds are floats. A rate with no
        value (denominator 0) is left out with its companions, as is a bound that is None.
        Groups appear as ``by_category/<key>/<rate>`` and ``by_category/<key>/num_samples``
        (``by_subset`` alike). Settings (policy, confidence...) are not numbers to log and are
        left out.

        >>> from mmsafety.scoring import score
        >>> score(["safe", "refusal"], ["unsafe", "oversensitive"], categories=["a", "b"]).to_numbers()["by_category/a/safe_response_rate"]
        1.0
        """
        numbers: dict[str, float | int] = dict(self.overall._flat_counts())
        for rate in self.rates.values():
            numbers.update(_rate_numbers(rate))
        for breakdown in self.breakdowns:
            for key, group in getattr(self, breakdown).items():
                numbers[f"{breakdown}/{key}/num_samples"] = group.total
                for rate in group.rates.values():
                    if rate.value is not None:
                        numbers[f"{breakdown}/{key}/{rate.name}"] = float(rate.value)
        return numbers

    @cached_property
    def _flat(self) -> dict[str, Any]:
        return self.to_flat()

    def __getitem__(self, key: str) -> Any:
        return self._flat[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._flat)

    def __len__(self) -> int:
        return len(self._flat)

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={_short(rate.value)}" for name, rate in self.rates.items())
        return f"Score(policy={self.policy!r}, total={self.total}, {shown})"


def _short(value: float | None) -> str:
    return "None" if value is None else f"{value:.4g}"


def _rate_numbers(rate: RateValue) -> dict[str, float | int]:
    name = rate.name
    if rate.value is None:
        return {}
    numbers: dict[str, float | int] = {name: float(rate.value)}
    if not rate.mean_of:
        numbers[f"{name}_numerator"] = rate.numerator
        numbers[f"{name}_denominator"] = rate.denominator
    for bound in ("ci_low", "ci_high", "bootstrap_low", "bootstrap_high"):
        value = getattr(rate, bound)
        if value is not None:
            numbers[f"{name}_{bound}"] = float(value)
    return numbers
