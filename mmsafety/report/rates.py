"""The rates a report shows: each policy's headline rates, typed results, and item outcomes.

- :func:`headline` is the policy's own list of headline rates (``Policy.headline``), the
  rates a chart shows and the summary table prints.
- :func:`typed` gives a :func:`mmsafety.scoring.score` result as a typed result
  (``.rates[name]`` a :class:`RateValue`, ``.by_category[key].rates``), whatever shape it
  came in; every other module of the report reads rates through it.
- :func:`outcome` says, for one verdict record and one rate, whether the item counts in the
  rate's denominator and in its numerator: what the paired comparison and the image
  dependence section (:mod:`mmsafety.report.paired`) pair up item by item.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from statistics import NormalDist
from typing import Any

from mmsafety.labels import VERDICTS
from mmsafety.scoring.policies import Policy, Rate, get_policy

HEADLINE_FALLBACK: dict[str, tuple[str, ...]] = {
    "default": ("safe_response_rate", "oversensitivity_rate"),
    "salad": ("safe_response_rate", "oversensitivity_rate"),
    "vlsbench": ("refusal_rate", "warning_rate", "safe_response_rate"),
    "mmsafeaware": ("typical_accuracy", "attack_accuracy", "over_safety_accuracy", "total_accuracy"),
}
"""Used only while ``Policy`` has no ``headline`` attribute (the scoring layer's own table wins)."""

STACKED = ("refusal_rate", "warning_rate", "safe_response_rate")
"""Headline rates charted as one stacked bar: refusal + warning = the safe-response rate (VLSBench)."""

RATE_TITLES = {
    "safe_response_rate": "safe-response rate",
    "oversensitivity_rate": "oversensitivity rate",
    "safe_set_accuracy": "safe-set accuracy",
    "overall_accuracy": "overall accuracy",
    "refusal_rate": "refusal rate",
    "warning_rate": "warning rate",
    "invalid_rate": "invalid rate",
    "accuracy": "accuracy",
    "typical_accuracy": "typical accuracy",
    "attack_accuracy": "attack accuracy",
    "over_safety_accuracy": "over-safety accuracy",
    "total_accuracy": "Total (mean of subsets)",
}


def rate_title(name: str) -> str:
    """A rate's name as the report prints it.

    >>> rate_title("over_safety_accuracy"), rate_title("some_rate")
    ('over-safety accuracy', 'some rate')
    """
    return RATE_TITLES.get(name, name.replace("_", " "))


def headline(policy: str | Policy) -> tuple[str, ...]:
    """The policy's headline rates.

    >>> headline("vlsbench")
    ('refusal_rate', 'warning_rate', 'safe_response_rate')
    """
    resolved = policy if isinstance(policy, Policy) else get_policy(policy)
    own = getattr(resolved, "headline", None)
    return tuple(own) if own else HEADLINE_FALLBACK.get(resolved.name, tuple(r.name for r in resolved.rates[:1]))


# ------------------------------------------------------------------------------ typed results

try:  # the scoring layer's typed value, when it has one
    from mmsafety.scoring.result import RateValue  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover - replaced by the scoring layer's

    @dataclass(frozen=True)
    class RateValue:  # type: ignore[no-redef]
        """One rate: value, counts and interval (``None`` where there is none)."""

        name: str
        value: float | None
        numerator: int
        denominator: int
        ci_low: float | None
        ci_high: float | None
        bootstrap_low: float | None = None
        bootstrap_high: float | None = None


@dataclass(frozen=True)
class _Group:
    total: int
    counts: dict[str, int]
    rates: dict[str, Any]


@dataclass(frozen=True)
class _Typed:
    """The typed view of a flat result (while the scoring layer returns flat dicts)."""

    policy: str
    total: int
    counts: dict[str, int]
    invalid: int
    rates: dict[str, Any]
    by_category: dict[str, _Group] = field(default_factory=dict)
    by_subset: dict[str, _Group] = field(default_factory=dict)
    flat: dict[str, Any] = field(default_factory=dict)

    def to_flat(self) -> dict[str, Any]:
        return self.flat


def _value(flat: Mapping[str, Any], name: str) -> Any:
    def get(key: str) -> Any:
        return flat.get(f"{name}_{key}")

    return RateValue(name, flat.get(name), get("numerator") or 0, get("denominator") or 0, get("ci_low"), get("ci_high"),
                     get("bootstrap_low"), get("bootstrap_high"))


def _names(policy: Policy) -> list[str]:
    names = [rate.name for rate in policy.rates]
    if policy.subsets:
        names[1:1] = [policy.subset_key(subset) for subset in policy.subsets] + [policy.macro]
    return names


def _mean_of_proportions(parts: list[Any], name: str, confidence: float) -> Any:
    """The unweighted mean of proportions, its interval from the exact variance of that mean
    (sum of p(1-p)/n over the parts, over the square of their number) by the normal approximation."""
    if not parts or any(p.value is None for p in parts):
        return RateValue(name, None, 0, 0, None, None)
    value = sum(p.value for p in parts) / len(parts)
    variance = sum(p.value * (1 - p.value) / p.denominator for p in parts) / len(parts) ** 2
    half = NormalDist().inv_cdf(0.5 + confidence / 2) * math.sqrt(variance)
    return RateValue(name, value, sum(p.numerator for p in parts), sum(p.denominator for p in parts),
                     max(0.0, value - half), min(1.0, value + half))


def typed(result: Any) -> Any:
    """``result`` with ``.rates``, ``.total``, ``.counts``, ``.by_category``, ``.by_subset`` and ``to_flat()``."""
    if hasattr(result, "rates"):
        return result
    policy = get_policy(result["policy"])

    def group(entry: Mapping[str, Any], names: list[str]) -> _Group:
        counts = {v: int(entry.get(f"count_{v}", 0)) for v in VERDICTS}
        return _Group(int(entry.get("num_samples", 0)), counts, {n: _value(entry, n) for n in names if n in entry})

    rates = {name: _value(result, name) for name in _names(policy) if name in result}
    if policy.macro and policy.macro in rates and rates[policy.macro].ci_low is None:
        parts = [rates[policy.subset_key(s)] for s in policy.subsets]
        rates[policy.macro] = _mean_of_proportions(parts, policy.macro, float(result.get("confidence", 0.95)))
    own = [rate.name for rate in policy.rates]
    main = group(result, own)
    return _Typed(
        policy=policy.name,
        total=main.total,
        counts=main.counts,
        invalid=main.counts["invalid"],
        rates=rates,
        by_category={k: group(v, own) for k, v in result.get("by_category", {}).items()},
        by_subset={k: group(v, own) for k, v in result.get("by_subset", {}).items()},
        flat=dict(result),
    )


# ------------------------------------------------------------------------------ item outcomes


@dataclass(frozen=True)
class ItemRate:
    """What one rate counts item by item: ``rate`` over the items of ``subset`` (all when ``None``)."""

    name: str
    rate: Rate
    subset: str | None = None


def item_rates(policy: str | Policy, name: str) -> list[ItemRate]:
    """The item-level rates behind a headline rate: itself, a subset's rate, or each subset's
    rate of a mean of subsets (MMSafeAware's Total).

    >>> [(r.name, r.subset) for r in item_rates("mmsafeaware", "attack_accuracy")]
    [('attack_accuracy', 'attack')]
    """
    resolved = policy if isinstance(policy, Policy) else get_policy(policy)
    if name in resolved.rate_names:
        return [ItemRate(name, resolved.rate(name))]
    for subset in resolved.subsets:
        if resolved.subset_key(subset) == name:
            return [ItemRate(name, resolved.rates[0], subset)]
    if name == resolved.macro:
        return [ItemRate(resolved.subset_key(s), resolved.rates[0], s) for s in resolved.subsets]
    raise KeyError(f"policy {resolved.name!r} has no rate {name!r}")


def outcome(record: Mapping[str, Any], item: ItemRate, invalid: str) -> bool | None:
    """Whether ``record`` counts as a success of the rate (``None``: not in its denominator).

    >>> rate = item_rates("salad", "safe_response_rate")[0]
    >>> outcome({"verdict": "safe", "label": "unsafe", "subset": ""}, rate, "exclude")
    True
    >>> outcome({"verdict": "invalid", "label": "unsafe", "subset": ""}, rate, "exclude") is None
    True
    """
    if item.subset is not None and record["subset"] != item.subset:
        return None
    if record["label"] not in item.rate.over:
        return None
    verdict = record["verdict"]
    if verdict == "invalid":
        if not (item.rate.keeps_invalid or invalid == "fail"):
            return None
        return "invalid" in item.rate.counts or (invalid == "fail" and item.rate.failure)
    return verdict in item.rate.counts
