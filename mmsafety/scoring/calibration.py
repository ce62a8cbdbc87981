"""Rates corrected for the judge's errors by prediction-powered inference.

A judge rates every item of a run; people label a random sample of them. For a rate, each
item's outcome is 1 when it counts in the numerator and 0 when it does not
(:meth:`mmsafety.scoring.policies.Rate.outcome`). The prediction-powered estimate
(Angelopoulos, Bates, Fannjiang, Jordan and Zrnic, "Prediction-powered inference",
Science 382, 2023) is

    the judge's rate on all N items + the mean (human - judge) difference on the n labelled items,

and its interval is the normal interval of that sum: the variance of the judge's outcomes
over N plus the variance of the differences over n (:func:`ppi_mean`). With sampling weights
(a stratified sample: each labelled item weighs the inverse of its inclusion probability), the
mean difference is the weighted mean, the weights scaled to average 1 (as the reference
implementation, the ``ppi-python`` package, ``ppi_mean_ci(..., lam=1, w=weights)``, does).

Its assumption: the labelled items are drawn at random from the run (within each stratum, with
the weights recorded), as ``mmsafety label`` draws them; the judge may be wrong in any way.
The *effective sample size* is the number of human labels a human-only estimate would need
for an interval as narrow: ``n * var(human-only) / var(corrected)``.

Pure Python (the normal quantile from :class:`statistics.NormalDist`).

>>> estimate = ppi_mean([1, 1, 0, 1], [1, 0, 0, 1], [1, 0, 0, 1, 1, 0, 1, 1])
>>> round(estimate.value, 4), estimate.judge, estimate.human
(0.875, 0.625, 0.75)
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from statistics import NormalDist
from typing import Any

from mmsafety.scoring.policies import Policy, get_policy

METHOD = ("prediction-powered inference (Angelopoulos et al., Science 2023): the judge's rate on all items plus the "
          "mean human − judge difference on the labelled items (weighted by the sampling weights), with its normal interval")
ASSUMPTION = ("the labelled items were drawn at random from the run (within each stratum, with the weights recorded), "
              "as `mmsafety label` draws them")


def _mean_and_spread(values: Sequence[float]) -> tuple[float, float]:
    """The mean and the standard deviation (dividing by the count, as numpy's ``std`` does)."""
    mean = math.fsum(values) / len(values)
    return mean, math.sqrt(math.fsum((v - mean) ** 2 for v in values) / len(values))


@dataclass(frozen=True)
class Estimate:
    """A prediction-powered mean and what went into it."""

    value: float
    low: float
    high: float
    standard_error: float
    judge: float
    """The judge's mean over all N items."""
    human: float
    """The (weighted) mean of the human values on the n labelled items."""
    human_low: float
    human_high: float
    """The normal interval of the human-only mean."""
    labelled: int
    items: int
    effective: float | None
    """Human labels a human-only estimate would need for the same variance (``None`` when both are 0)."""


def ppi_mean(human: Sequence[float], judged: Sequence[float], judged_all: Sequence[float], *,
             weights: Sequence[float] | None = None, confidence: float = 0.95) -> Estimate:
    """The prediction-powered estimate of a mean and its interval.

    ``human`` and ``judged``: the human's and the judge's values on the n labelled items
    (in the same order); ``judged_all``: the judge's values on all N items; ``weights``: the
    labelled items' sampling weights (``None``: all equal). Equals ``ppi_py.ppi_mean_ci(Y, Yhat,
    Yhat_unlabeled, alpha=1 - confidence, lam=1, w=weights)`` and its point estimate.
    """
    n, total = len(human), len(judged_all)
    if n == 0 or total == 0 or len(judged) != n:
        raise ValueError(f"expected labelled items with both values and judged items, found {n} labelled, "
                         f"{len(judged)} judged of them, {total} judged in all")
    if weights is None:
        scaled = [1.0] * n
    else:
        if len(weights) != n or any(not w > 0 for w in weights):
            raise ValueError("expected one weight > 0 per labelled item")
        scale = n / math.fsum(weights)
        scaled = [w * scale for w in weights]
    judge_mean, judge_spread = _mean_and_spread(judged_all)
    rectifier, rectifier_spread = _mean_and_spread([w * (y - f) for w, y, f in zip(scaled, human, judged)])
    human_mean, human_spread = _mean_and_spread([w * y for w, y in zip(scaled, human)])
    value = judge_mean + rectifier
    error = math.sqrt(judge_spread**2 / total + rectifier_spread**2 / n)
    z = NormalDist().inv_cdf(1 - (1 - confidence) / 2)
    human_error = human_spread / math.sqrt(n)
    return Estimate(
        value=value, low=value - z * error, high=value + z * error, standard_error=error,
        judge=judge_mean, human=human_mean, human_low=human_mean - z * human_error, human_high=human_mean + z * human_error,
        labelled=n, items=total, effective=n * human_error**2 / error**2 if error > 0 else None,
    )


@dataclass(frozen=True)
class CorrectedRate:
    """One headline rate: the judge's, the humans' and the corrected, each with its interval."""

    name: str
    judge: float | None
    """The judge's rate on all its items in the rate's denominator."""
    items: int
    human: float | None
    human_low: float | None
    human_high: float | None
    labelled: int
    """Labelled items in the rate's denominator under both the judge and the humans."""
    corrected: float | None
    low: float | None
    high: float | None
    effective: float | None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _values(records: Sequence[Mapping[str, Any]], part: Any, invalid: str) -> dict[str, float]:
    from mmsafety.report.rate_cells import outcome

    found = {}
    for record in records:
        value = outcome(record, part, invalid)
        if value is not None:
            found[str(record["id"])] = float(value)
    return found


def _part(judge: Mapping[str, float], human: Mapping[str, float], weights: Mapping[str, float],
          confidence: float) -> Estimate | None:
    labelled = [i for i in human if i in judge]
    if not labelled or not judge:
        return None
    return ppi_mean([human[i] for i in labelled], [judge[i] for i in labelled], list(judge.values()),
                    weights=[weights.get(i, 1.0) for i in labelled], confidence=confidence)


def corrected_rates(judge_records: Sequence[Mapping[str, Any]], human_records: Sequence[Mapping[str, Any]],
                    policy: str | Policy, names: Sequence[str], *, invalid: str = "exclude",
                    confidence: float = 0.95) -> list[CorrectedRate]:
    """Each rate of ``names`` (headline rates of ``policy``) corrected by the human labels.

    An item counts where the rate counts it: its judge outcome on all items (an ``invalid``
    verdict left out under ``invalid="exclude"``, as scoring leaves it out), the labelled items
    where both the judge's and the humans' verdicts count. A mean of subsets (MMSafeAware's
    Total) is the mean of the subsets' corrected rates, its variance the mean's. The intervals are
    clipped to [0, 1] (a rate lies there; the normal interval of :func:`ppi_mean` need not).

    >>> judge = [{"id": str(i), "verdict": v, "label": "unsafe", "subset": ""} for i, v in enumerate("SSSRRRSSSS")]
    >>> for r in judge: r["verdict"] = {"S": "safe", "R": "refusal"}[r["verdict"]]
    >>> human = [dict(judge[0], verdict="refusal", sample_weight=1.0), dict(judge[3], sample_weight=1.0)]
    >>> rate, = corrected_rates(judge, human, "salad", ["safe_response_rate"])
    >>> rate.judge, rate.human, round(rate.corrected, 10)
    (0.7, 0.0, 0.2)
    """
    from mmsafety.report.rate_cells import item_rates

    resolved = policy if isinstance(policy, Policy) else get_policy(policy)
    z = NormalDist().inv_cdf(1 - (1 - confidence) / 2)
    weights = {str(r["id"]): float(r.get("sample_weight", 1.0)) for r in human_records}
    found = []
    for name in names:
        parts = [_part(_values(judge_records, p, invalid), _values(human_records, p, invalid), weights, confidence)
                 for p in item_rates(resolved, name)]
        if any(p is None for p in parts):
            found.append(CorrectedRate(name, None, 0, None, None, None, 0, None, None, None, None))
            continue
        k = len(parts)
        value = math.fsum(p.value for p in parts) / k
        error = math.sqrt(math.fsum(p.standard_error**2 for p in parts)) / k
        human = math.fsum(p.human for p in parts) / k
        human_error = math.sqrt(math.fsum(((p.human_high - p.human) / z) ** 2 for p in parts)) / k  # Estimate's bounds are not clipped
        labelled = sum(p.labelled for p in parts)
        found.append(CorrectedRate(
            name=name, judge=math.fsum(p.judge for p in parts) / k, items=sum(p.items for p in parts),
            human=human, human_low=max(0.0, human - z * human_error), human_high=min(1.0, human + z * human_error), labelled=labelled,
            corrected=value, low=max(0.0, value - z * error), high=min(1.0, value + z * error),
            effective=labelled * human_error**2 / error**2 if error > 0 else None,
        ))
    return found
