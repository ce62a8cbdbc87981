"""The rates a report shows: each policy's headline rates, their titles, and item outcomes.

- :func:`headline` is the policy's own list of headline rates (``Policy.headline``), the
  rates a chart shows and the summary table prints.
- every module of the report reads rates from the typed :class:`mmsafety.scoring.Score`
  (``.rates[name]``, ``.by_category[key].rates``), never from flat keys;
- :func:`outcome` says, for one verdict record and one rate, whether the item counts in the
  rate's denominator and in its numerator; :func:`outcomes` says it for every row of a
  verdict table at once: what the paired comparison and the image dependence section
  (:mod:`mmsafety.report.paired`) pair up item by item.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mmsafety.labels import LABELS, VERDICTS
from mmsafety.scoring.policies import Policy, Rate, get_policy

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
    return resolved.headline or (resolved.rates[0].name,)


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
    return item.rate.outcome(record["label"], record["verdict"], invalid)


def outcomes(table: pa.Table, item: ItemRate, invalid: str) -> np.ndarray:
    """:func:`outcome` of every row of a verdict table: 1 a success, 0 a failure, -1 not in the
    rate's denominator (an ``int8`` array in the table's order).

    >>> table = pa.table({"verdict": ["safe", "invalid", "refusal"], "label": ["unsafe"] * 3, "subset": [""] * 3})
    >>> outcomes(table, item_rates("salad", "safe_response_rate")[0], "exclude").tolist()
    [1, -1, 0]
    """
    grid = np.array([[_code(item.rate.outcome(label, verdict, invalid)) for verdict in VERDICTS] for label in LABELS], dtype=np.int8)
    labels = pc.index_in(table.column("label"), value_set=pa.array(LABELS)).to_numpy()
    verdicts = pc.index_in(table.column("verdict"), value_set=pa.array(VERDICTS)).to_numpy()
    found = grid[labels, verdicts]
    if item.subset is not None:
        found[~pc.equal(table.column("subset"), item.subset).to_numpy(zero_copy_only=False)] = -1
    return found


def _code(counted: bool | None) -> int:
    return -1 if counted is None else int(counted)
