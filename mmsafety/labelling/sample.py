"""Drawing the responses people label: a stratified random sample with its weights.

The items of one run are split into strata by the sample's label and subset and by the
judge's verdict; each stratum gets its share of the sample in proportion to its size
(largest remainders, so the shares add up to the sample size exactly), raised to one item
for a stratum that would otherwise get none when the sample has room for one of each; then
items are drawn at random without replacement within each stratum. Each drawn item carries
its stratum and its weight, the inverse of its inclusion probability (stratum size in the
run / items drawn from it), so that a weighted mean over the sample estimates the mean over
the run (what prediction-powered inference needs). The order in which the page shows the
items is shuffled too: items grouped by stratum would tell the labeller the judge's verdict.

>>> drawn = draw_sample(["a", "b", "c", "d"], ["x", "x", "x", "y"], size=2, seed=7)
>>> sorted((item.stratum, item.weight) for item in drawn)
[('x', 3.0), ('y', 1.0)]
>>> [item.id for item in draw_sample(["a", "b", "c", "d"], ["x"] * 4, size=2, seed=7)] == \\
...     [item.id for item in draw_sample(["a", "b", "c", "d"], ["x"] * 4, size=2, seed=7)]
True
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class DrawnItem:
    """One item of the sample: its id, its stratum, and its weight (stratum size / items drawn from it)."""

    id: str
    stratum: str
    weight: float


def stratum_name(label: str, subset: str, verdict: str) -> str:
    """The stratum of an item: its label and subset, and the judge's verdict on it.

    >>> stratum_name("unsafe", "attack", "refusal")
    'label=unsafe|subset=attack|judge=refusal'
    """
    return f"label={label}|subset={subset}|judge={verdict}"


def allocate(sizes: Mapping[str, int], size: int) -> dict[str, int]:
    """How many items to draw from each stratum: ``size`` shared in proportion to ``sizes``
    (largest remainders, ties by stratum name), each non-empty stratum given at least one when
    ``size`` allows it (taken from the strata with the most), never more than a stratum holds.

    >>> allocate({"a": 90, "b": 9, "c": 1}, 10)
    {'a': 8, 'b': 1, 'c': 1}
    >>> allocate({"a": 3, "b": 1}, 10)
    {'a': 3, 'b': 1}
    """
    total = sum(sizes.values())
    if size >= total:
        return dict(sizes)
    names = sorted(sizes)
    exact = {name: size * sizes[name] / total for name in names}
    shares = {name: int(exact[name]) for name in names}
    by_remainder = sorted(names, key=lambda name: (-(exact[name] - shares[name]), name))
    for name in by_remainder[: size - sum(shares.values())]:
        shares[name] += 1
    empty = [name for name in names if sizes[name] and not shares[name]]
    if len([name for name in names if sizes[name]]) <= size:
        for name in empty:
            donor = max(names, key=lambda other: (shares[other], sizes[other], other))
            shares[donor] -= 1
            shares[name] = 1
    return shares


def draw_sample(ids: Sequence[str], strata: Sequence[str], *, size: int, seed: int) -> list[DrawnItem]:
    """A stratified random sample of ``size`` of ``ids`` (all of them when there are fewer),
    ``strata[i]`` the stratum of ``ids[i]``; in a random order that the seed fixes."""
    if len(ids) != len(strata):
        raise ValueError(f"{len(ids)} ids but {len(strata)} strata")
    if size < 1:
        raise ValueError(f"expected a sample size of at least 1, found {size}")
    members: dict[str, list[str]] = {}
    for item_id, stratum in zip(ids, strata):
        members.setdefault(stratum, []).append(item_id)
    shares = allocate({name: len(group) for name, group in members.items()}, size)
    rng = np.random.default_rng(seed)
    drawn: list[DrawnItem] = []
    for name in sorted(members):
        group, count = members[name], shares[name]
        if not count:
            continue
        chosen = rng.choice(len(group), size=count, replace=False)
        weight = len(group) / count
        drawn.extend(DrawnItem(group[index], name, weight) for index in sorted(chosen.tolist()))
    order = rng.permutation(len(drawn))
    return [drawn[index] for index in order.tolist()]
