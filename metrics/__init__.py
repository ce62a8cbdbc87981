"""Safety metrics for training and evaluation loops.

:class:`SafetyMetric` is the metric without ``evaluate.load``: it keeps counts only (15
integers, and 15 per category and per subset), so ``add_batch`` costs one vectorised pass
over the batch and memory does not grow with the rows seen. Its results are those of
:func:`mmsafety.score`. The ``evaluate`` module is the folder :data:`MODULE_PATH`
(``evaluate.load(MODULE_PATH, "salad")``).
"""

from __future__ import annotations

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
    ) -> None:
        self.policy = get_policy(policy, refusal_is_safe)
        check_settings(invalid, confidence, bootstrap)
        self.settings = {"invalid": invalid, "confidence": confidence, "bootstrap": bootstrap, "seed": seed}
        self.tally = Tally()

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
        return result if detail else result.to_numbers()

    def reset(self) -> None:
        """Forget every row added."""
        self.tally = Tally()
