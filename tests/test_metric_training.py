"""The metric inside a training loop: bound to the evaluation set (`compute_metrics` passes
verdicts only), every rate's key in every result for `metric_for_best_model`, and the
`evaluate` module naming the config that stores categories."""

from __future__ import annotations

import math
import re
from pathlib import Path

import datasets
import evaluate
import numpy as np
import pytest

from mmsafety.metrics import MODULE_PATH, SafetyMetric
from mmsafety.scoring import score

LABELS = ["unsafe", "unsafe", "unsafe", "oversensitive", "oversensitive", "unsafe"]
SUBSETS = ["typical", "attack", "attack", "over-safety", "over-safety", "typical"]
CATEGORIES = ["fire", "food", "fire", "food", "water", "water"]
VERDICTS = ["safe", "unsafe", "safe", "oversensitive", "safe", "invalid"]


def eval_set() -> datasets.Dataset:
    features = datasets.Features(
        {
            "label": datasets.ClassLabel(names=["safe", "unsafe", "oversensitive"]),
            "subset": datasets.Value("string"),
            "category": datasets.Value("string"),
        }
    )
    return datasets.Dataset.from_dict({"label": LABELS, "subset": SUBSETS, "category": CATEGORIES}, features=features)


def test_from_dataset_takes_labels_subsets_and_categories_from_the_rows() -> None:
    metric = SafetyMetric.from_dataset(eval_set(), policy="mmsafeaware")
    result = metric(VERDICTS)
    expected = score(VERDICTS, LABELS, policy="mmsafeaware", subsets=SUBSETS, categories=CATEGORIES).to_numbers()
    assert result == expected
    assert result["by_category/water/accuracy"] == 1.0  # categories came from the set
    assert metric(["unsafe"] * 6)["attack_accuracy"] == 0.0  # each call scores its own predictions


def test_from_dataset_reads_a_trainers_eval_prediction_and_integer_verdicts() -> None:
    from types import SimpleNamespace

    metric = SafetyMetric.from_dataset(eval_set(), policy="salad")
    ids = np.array([["safe", "refusal", "unsafe", "oversensitive", "invalid"].index(v) for v in VERDICTS])
    prediction = SimpleNamespace(predictions=ids, label_ids=np.zeros(6))  # the shape of transformers' EvalPrediction
    assert metric(prediction) == score(VERDICTS, LABELS, policy="salad", subsets=SUBSETS, categories=CATEGORIES).to_numbers()


@pytest.mark.parametrize("count", [5, 7])
def test_a_prediction_count_that_is_not_the_sets_is_refused(count: int) -> None:
    metric = SafetyMetric.from_dataset(eval_set(), policy="salad")
    with pytest.raises(ValueError, match=re.escape(f"expected one verdict per row of the evaluation set (6 rows), found {count}")):
        metric(["safe"] * count)


def test_logits_are_refused_with_the_trainers_hook_named() -> None:
    metric = SafetyMetric.from_dataset(eval_set(), policy="salad")
    with pytest.raises(ValueError, match=r"found shape \(6, 5\): .*preprocess_logits_for_metrics"):
        metric(np.zeros((6, 5)))


def test_a_set_without_subsets_is_refused_for_mmsafeaware() -> None:
    with pytest.raises(ValueError, match="policy 'mmsafeaware' needs each row's subset: expected a 'subset' column"):
        SafetyMetric.from_dataset(eval_set().remove_columns("subset"), policy="mmsafeaware")


def test_keep_empty_keeps_every_rates_key_as_nan() -> None:
    metric = SafetyMetric.from_dataset(eval_set(), policy="salad", keep_empty=True)
    only_unsafe_wrong = metric(["unsafe", "unsafe", "unsafe", "safe", "safe", "unsafe"])
    all_invalid = metric(["invalid"] * 6)
    assert set(all_invalid) >= set(only_unsafe_wrong)  # the same keys whatever the verdicts
    assert math.isnan(all_invalid["safe_response_rate"]) and math.isnan(all_invalid["safe_response_rate_ci_low"])
    assert all_invalid["safe_response_rate_denominator"] == 0
    assert math.isnan(all_invalid["by_category/fire/safe_response_rate"])
    plain = SafetyMetric("salad")
    plain.add_batch(predictions=["invalid"] * 6, references=LABELS)
    assert "safe_response_rate" not in plain.compute()  # the default still leaves an empty rate out


def test_the_evaluate_module_names_the_config_that_stores_categories(tmp_path: Path) -> None:
    metric = evaluate.load(MODULE_PATH, "default", cache_dir=str(tmp_path / "cache"))
    with pytest.raises(ValueError, match=re.escape("config 'default' stores no categories: load the config that does, evaluate.load(MODULE_PATH, 'default+categories')")):
        metric.add_batch(predictions=["safe"], references=["unsafe"], categories=["fire"])
    with pytest.raises(ValueError, match=re.escape("evaluate.load(MODULE_PATH, 'mmsafeaware+categories+subsets')")):
        evaluate.load(MODULE_PATH, "mmsafeaware", cache_dir=str(tmp_path / "cache")).add(prediction="safe", reference="unsafe", subset="attack", category="fire")
    stores = evaluate.load(MODULE_PATH, "default+categories", cache_dir=str(tmp_path / "cache"))
    stores.add_batch(predictions=["safe"], references=["unsafe"], categories=["fire"])
    assert stores.compute()["by_category/fire/safe_response_rate"] == 1.0


def test_a_trainer_picks_its_best_model_by_a_rate_that_starts_empty(tmp_path: Path) -> None:
    """A real `transformers` Trainer (CPU), `metric_for_best_model="safe_response_rate"` with
    `load_best_model_at_end`: the first evaluation's verdicts are all `invalid` (the rate is
    empty, NaN), later ones are not; no KeyError, and the best checkpoint is a later one."""
    torch = pytest.importorskip("torch", reason="the Trainer test needs torch (pip install torch)")
    transformers = pytest.importorskip("transformers", reason="the Trainer test needs transformers")

    class VerdictHead(torch.nn.Module):
        """Five logits, one per verdict, shared by every row; trained towards `safe`."""

        def __init__(self) -> None:
            super().__init__()
            self.verdicts = torch.nn.Parameter(torch.tensor([0.0, 0.0, 0.0, 0.0, 1.0]))  # `invalid` first

        def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
            logits = self.verdicts.expand(x.shape[0], 5) + 0 * x[:, None]
            loss = torch.nn.functional.cross_entropy(logits, torch.zeros(x.shape[0], dtype=torch.long))
            return {"loss": loss, "logits": logits}

    evaluation = eval_set().add_column("x", [0.0] * len(LABELS))
    train = datasets.Dataset.from_dict({"x": [0.0] * 8, "label": [1] * 8})
    metric = SafetyMetric.from_dataset(evaluation, policy="salad", keep_empty=True)
    args = transformers.TrainingArguments(
        output_dir=str(tmp_path / "run"), max_steps=5, learning_rate=0.3, optim="sgd", lr_scheduler_type="constant",
        per_device_train_batch_size=8, per_device_eval_batch_size=6, eval_strategy="steps", eval_steps=1,
        save_strategy="steps", save_steps=1, metric_for_best_model="safe_response_rate", load_best_model_at_end=True,
        report_to=[], use_cpu=True, logging_steps=1, disable_tqdm=True,
    )
    trainer = transformers.Trainer(
        model=VerdictHead(), args=args, train_dataset=train, eval_dataset=evaluation, compute_metrics=metric,
        preprocess_logits_for_metrics=lambda logits, labels: logits.argmax(-1),
    )
    trainer.train()
    rates = [entry["eval_safe_response_rate"] for entry in trainer.state.log_history if "eval_safe_response_rate" in entry]
    assert len(rates) == 5 and math.isnan(rates[0]) and rates[-1] == 1.0
    assert trainer.state.best_metric == 1.0 and trainer.state.best_global_step > 1
    assert int(trainer.model.verdicts.argmax()) == 0  # the best model (verdict `safe`) was loaded
