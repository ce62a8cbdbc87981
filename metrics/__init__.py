"""Safety metrics for training and evaluation loops.

:class:`SafetyMetric` is the metric without ``evaluate.load``: it keeps counts only (15
integers, and 15 per category and per subset), so ``add_batch`` costs one vectorised pass
over the batch and memory does not grow with the rows seen. Its results are those of
:func:`mmsafety.score`. The ``evaluate`` module is the folder :data:`MODULE_PATH`
(``evaluate.load(MODULE_PATH, "salad")``).

In a ``transformers`` ``Trainer``, :meth:`SafetyMetric.from_dataset` binds the metric to the
evaluation set, so ``compute_metrics`` gets the verdicts only (the labels, categories and
subsets come from the set's rows), and ``keep_empty=True`` keeps every rate's key in every
result (NaN while empty), which ``metric_for_best_model`` needs:

>>> import datasets
>>> eval_set = datasets.Dataset.from_dict({
...     "label": ["unsafe", "unsafe", "oversensitive"], "category": ["fire", "food", "fire"],
...     "subset": ["typical", "attack", "over-safety"]})
>>> metric = SafetyMetric.from_dataset(eval_set, policy="mmsafeaware", keep_empty=True)
>>> result = metric(["safe", "invalid", "oversensitive"])  # what compute_metrics returns
>>> result["typical_accuracy"], result["over_safety_accuracy"], result["attack_accuracy"]
(1.0, 0.0, nan)
>>> metric(["safe"])
Traceback (most recent call last):
...
ValueError: expected one verdict per row of the evaluation set (3 rows), found 1
"""

from __future__ import annotations

import copy
import math
from pathlib import Path
from typing import Any

from mmsafety.scoring import Score
from mmsafety.scoring import Tally
from mmsafety.scoring import check_settings
from mmsafety.scoring import score_tally
from mmsafety.scoring.policies import get_policy

__all__ = ["MODULE_PATH", "SafetyMetric"]

MODULE_PATH: str = str(Path(__file__).resolve().parent / "safety_rates")
"""The folder of the ``evaluate`` module: ``evaluate.load(MODULE_PATH, "salad")``."""


class SafetyMetric:
    """Safety rates of judged predictions, accumulated batch by batch.

    Args:
        policy: ``default``, ``salad``, ``vlsbench`` or ``mmsafeaware``.
        refusal_is_safe, invalid, confidence, bootstrap, seed: as for :func:`mmsafety.score`.
        keep_empty: keep every rate's keys (the rate, its bounds, its counts; per category and
            subset too) in every result, NaN while the rate is empty, instead of leaving them
            out: a ``Trainer`` with ``metric_for_best_model`` then finds its key at every
            evaluation.

    ``add`` / ``add_batch`` take verdicts and labels (strings or integer ids, any sequence)
    and, optionally, each row's category and subset (``mmsafeaware`` needs subsets). A batch
    with a bad value (an unknown verdict, a bool or a float where an id belongs) raises
    ``ValueError`` and counts nothing. ``compute()`` returns a flat dict of numbers for all
    rows added so far, ready for a ``Trainer``'s ``compute_metrics``, TensorBoard or W&B (see
    :meth:`compute`); ``compute(detail=True)`` returns the rich :class:`~mmsafety.scoring.Score`
    of ``mmsafety.score``. Like an ``evaluate`` metric it then starts afresh
    (``compute(reset=False)`` to peek at a running value). Tallies of other processes add up
    with :meth:`merge` (e.g. after ``torch.distributed.all_gather_object`` of ``metric.tally``).

    Inside a loop:

    >>> from mmsafety.metrics import SafetyMetric
    >>> metric = SafetyMetric("salad")
    >>> batches = [
    ...     (["safe", "refusal"], ["unsafe", "unsafe"], ["fire", "food"]),
    ...     (["safe", "oversensitive"], ["oversensitive", "oversensitive"], ["fire", "food"]),
    ... ]
    >>> for step, (verdicts, labels, categories) in enumerate(batches):
    ...     metric.add_batch(predictions=verdicts, references=labels, categories=categories)
    ...     running = metric.compute(reset=False)["overall_accuracy"]
    >>> running
    0.5
    >>> result = metric.compute(reset=False)
    >>> result["safe_response_rate"], result["safe_set_accuracy"], result["by_category/fire/overall_accuracy"]
    (0.5, 0.5, 1.0)
    >>> result["num_samples"], all(isinstance(value, (int, float)) for value in result.values())
    (4, True)
    >>> detail = metric.compute(detail=True)
    >>> detail.rates["safe_response_rate"].denominator, detail.by_category["fire"].total
    (2, 2)
    >>> len(metric)
    0
    """

    def __init__(
        self,
        policy: str = "default",
        *,
        refusal_is_safe: bool | None = None,
        invalid: str = "exclude",
        confidence: float = 0.95,
        bootstrap: int = 0,
        seed: int | None = 0,
        keep_empty: bool = False,
    ) -> None:
        self.policy = get_policy(policy, refusal_is_safe)
        check_settings(invalid, confidence, bootstrap)
        self.settings = {"invalid": invalid, "confidence": confidence, "bootstrap": bootstrap, "seed": seed}
        self.keep_empty = keep_empty
        self.tally = Tally()
        self.rows: dict[str, list[Any] | None] | None = None

    @classmethod
    def from_dataset(cls, dataset: Any, policy: str = "default", **settings: Any) -> SafetyMetric:
        """A metric bound to an evaluation set (a ``datasets.Dataset`` in the shared schema, or
        any mapping of columns): each row's ``label`` and, when the set has them, its
        ``category`` and ``subset``. Calling it with one verdict per row, in the set's order,
        scores them (:meth:`__call__`), so a ``Trainer``'s ``compute_metrics`` passes the
        predictions only. ``settings``: as for :class:`SafetyMetric` (``keep_empty=True`` for
        ``metric_for_best_model``)."""
        metric = cls(policy, **settings)
        names = getattr(dataset, "column_names", None) or list(dataset)
        if "label" not in names:
            raise ValueError(f"expected an evaluation set with a 'label' column (the shared schema), found columns {', '.join(map(repr, names))}")
        if metric.policy.subsets and "subset" not in names:
            raise ValueError(f"policy {metric.policy.name!r} needs each row's subset: expected a 'subset' column, found columns {', '.join(map(repr, names))}")
        metric.rows = {
            "references": list(dataset["label"]),
            "categories": list(dataset["category"]) if "category" in names else None,
            "subsets": list(dataset["subset"]) if "subset" in names else None,
        }
        return metric

    def __call__(self, predictions: Any) -> dict[str, float | int]:
        """The numbers of one verdict per row of the bound evaluation set (:meth:`from_dataset`):
        a sequence, or a ``transformers`` ``EvalPrediction`` (its ``predictions``; turn a model's
        outputs into verdicts with the ``Trainer``'s ``preprocess_logits_for_metrics``). A count
        that is not the set's is refused. Rows added before are kept apart (not counted)."""
        if self.rows is None:
            raise ValueError("expected a metric bound to an evaluation set (SafetyMetric.from_dataset); use add_batch and compute otherwise")
        predictions = getattr(predictions, "predictions", predictions)
        shape = getattr(predictions, "shape", None)
        if shape is not None and len(shape) != 1:
            raise ValueError(f"expected one verdict per row (a 1-D array), found shape {tuple(shape)}: turn the model's outputs into verdicts first (Trainer's preprocess_logits_for_metrics)")
        rows = len(self.rows["references"] or [])
        if len(predictions) != rows:
            raise ValueError(f"expected one verdict per row of the evaluation set ({rows} rows), found {len(predictions)}")
        bound = copy.copy(self)
        bound.tally = Tally()
        bound.add_batch(predictions=predictions, **self.rows)
        return bound.compute()  # type: ignore[return-value]

    def __len__(self) -> int:
        """Rows added since the last reset."""
        return len(self.tally)

    def __repr__(self) -> str:
        return f"SafetyMetric(policy={self.policy.name!r}, rows={len(self)})"

    def add(self, *, prediction: Any, reference: Any, category: Any = None, subset: Any = None) -> None:
        """Add one row."""
        self.add_batch(
            predictions=[prediction],
            references=[reference],
            categories=None if category is None else [category],
            subsets=None if subset is None else [subset],
        )

    def add_batch(self, *, predictions: Any, references: Any, categories: Any = None, subsets: Any = None) -> None:
        """Add a batch of rows: verdicts, labels and, optionally, categories and subsets."""
        if self.policy.subsets and subsets is None:
            raise ValueError(f"policy {self.policy.name!r} needs subsets: one of {self.policy.subsets} for each row")
        self.tally.add(predictions, references, categories, subsets, subset_names=self.policy.subsets or None)

    def merge(self, other: SafetyMetric | Tally) -> SafetyMetric:
        """Add the rows of another metric (or tally), e.g. one from another process."""
        self.tally.merge(other.tally if isinstance(other, SafetyMetric) else other)
        return self

    def compute(self, *, reset: bool = True, detail: bool = False) -> dict[str, float | int] | Score:
        """The rates of every row added; then start afresh unless ``reset=False``.

        By default a flat dict of numbers only (:meth:`mmsafety.scoring.Score.to_numbers`):
        each rate and its interval bounds as floats, counts (``num_samples``,
        ``count_<verdict>``, ``R_numerator``, ``R_denominator``) as ints, groups as
        ``by_category/<key>/<rate>``. **A rate with no value (its denominator is 0, e.g. no
        unsafe sample yet) is left out**, not logged as 0 or NaN. ``detail=True`` returns the
        :class:`~mmsafety.scoring.Score` of :func:`mmsafety.score` (``None`` values, settings,
        nested groups; a mapping over its flat dict).
        """
        result = score_tally(self.tally, self.policy, **self.settings)
        if reset:
            self.reset()
        if detail:
            return result
        return keep_every_rate(result) if self.keep_empty else result.to_numbers()

    def reset(self) -> None:
        """Forget every row added."""
        self.tally = Tally()


def keep_every_rate(result: Score) -> dict[str, float | int]:
    """:meth:`~mmsafety.scoring.Score.to_numbers` with every rate's keys, NaN for an empty
    rate and its bounds (its counts are 0), per category and subset too."""
    numbers = result.to_numbers()
    bootstrap = bool(result.settings["bootstrap"])
    for rate in result.rates.values():
        for key, value in rate.to_flat(bootstrap).items():
            numbers.setdefault(key, math.nan if value is None else value)
    for breakdown in result.breakdowns:
        for key, group in getattr(result, breakdown).items():
            for rate in group.rates.values():
                numbers.setdefault(f"{breakdown}/{key}/{rate.name}", math.nan)
    return numbers
