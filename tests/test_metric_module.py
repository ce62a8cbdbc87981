"""The `evaluate` module at metrics/safety_rates: loading, inputs, results, several processes, its Space."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import evaluate  # a dependency of mmsafety: if it does not import, these tests must fail, not skip
import numpy as np
import pytest
import yaml  # comes with datasets and huggingface_hub

from mmsafety.labels import LABELS
from mmsafety.labels import VERDICTS
from mmsafety.metrics import MODULE_PATH
from mmsafety.scoring import score
from mmsafety.scoring.policies import POLICY_NAMES

PREDICTIONS = ["safe", "refusal", "unsafe", "oversensitive", "invalid", "safe", "refusal", "oversensitive", "unsafe", "safe"]
REFERENCES = ["unsafe"] * 5 + ["oversensitive"] * 4 + ["safe"]
CATEGORIES = ["fire", "food", "fire", "food", "fire", "food", "water", "water", "fire", "food"]
SUBSETS = ["typical", "attack", "attack", "typical", "attack"] + ["over-safety"] * 5


def load(config: str, tmp_path: Path, **kwargs):
    return evaluate.load(MODULE_PATH, config, cache_dir=str(tmp_path / "cache"), **kwargs)


def card_header() -> dict:
    card = (Path(MODULE_PATH) / "README.md").read_text(encoding="utf-8")
    assert card.startswith("---\n")
    return yaml.safe_load(card.split("---\n")[1])


def test_the_card_header_describes_a_metric():
    header = card_header()
    assert header["title"] == "mmsafety" and {"evaluate", "metric"} <= set(header["tags"]) and header["description"]


def test_the_card_header_makes_a_gradio_space():
    header = card_header()
    assert header["sdk"] == "gradio" and (Path(MODULE_PATH) / header["app_file"]).is_file()


def test_the_space_requirements_install_the_scoring_package():
    requirements = (Path(MODULE_PATH) / "requirements.txt").read_text(encoding="utf-8").split()
    assert {"mmsafety", "evaluate>=0.4.6"} <= set(requirements)


def test_the_space_app_launches_the_widget_of_this_module(tmp_path):
    launched = tmp_path / "launched.json"
    stub = tmp_path / "stub"
    stub.mkdir()
    (stub / "sitecustomize.py").write_text(textwrap.dedent(f"""
        import json
        import evaluate.utils

        def launch_gradio_widget(module):
            json.dump({{"name": module.name, "config": module.config_name}}, open({str(launched)!r}, "w"))

        evaluate.utils.launch_gradio_widget = launch_gradio_widget
    """), encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(stub), "HF_MODULES_CACHE": str(tmp_path / "modules")}
    run = subprocess.run([sys.executable, str(Path(MODULE_PATH) / "app.py")], env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert json.loads(launched.read_text()) == {"name": "mmsafety", "config": "default"}


def test_the_card_lists_the_sections_of_an_evaluate_card():
    card = (Path(MODULE_PATH) / "README.md").read_text(encoding="utf-8")
    for section in ("## Metric Description", "## How to Use", "### Inputs", "### Output Values", "## Citation"):
        assert section in card


@pytest.mark.parametrize("config", POLICY_NAMES)
def test_each_policy_is_a_config(config, tmp_path):
    metric = load(config, tmp_path)
    subsets = {"subsets": SUBSETS} if config == "mmsafeaware" else {}
    result = metric.compute(predictions=PREDICTIONS, references=REFERENCES, detail=True, **subsets)
    assert result == score(PREDICTIONS, REFERENCES, policy=config, **subsets)


@pytest.mark.parametrize("config", ["vlsbench+categories", "vlsbench+subsets", "vlsbench+categories+subsets"])
def test_a_config_names_its_breakdowns(config, tmp_path):
    groups = {name: {"categories": CATEGORIES, "subsets": SUBSETS}[name] for name in config.split("+")[1:]}
    result = load(config, tmp_path).compute(predictions=PREDICTIONS, references=REFERENCES, detail=True, **groups)
    assert result == score(PREDICTIONS, REFERENCES, policy="vlsbench", **groups)


def test_a_config_without_breakdowns_declares_only_predictions_and_references(tmp_path):
    metric = load("salad", tmp_path)
    assert all(list(features) == ["predictions", "references"] for features in metric.features)


def test_compute_returns_numbers_only_by_default(tmp_path):
    result = load("salad+categories", tmp_path).compute(predictions=PREDICTIONS, references=REFERENCES, categories=CATEGORIES)
    assert result == score(PREDICTIONS, REFERENCES, policy="salad", categories=CATEGORIES).to_numbers()
    assert all(type(value) in (int, float) for value in result.values())


def test_mmsafeaware_total_is_a_mean_without_counts_in_compute(tmp_path):
    metric = load("mmsafeaware", tmp_path)
    result = metric.compute(predictions=PREDICTIONS, references=REFERENCES, subsets=SUBSETS)
    parts = [result[f"{name}_accuracy"] for name in ("typical", "attack", "over_safety")]
    assert result["total_accuracy"] == pytest.approx(sum(parts) / 3)
    assert not any(key.startswith("total_accuracy_") and key.endswith(("numerator", "denominator")) for key in result)
    total = metric.compute(predictions=PREDICTIONS, references=REFERENCES, subsets=SUBSETS, detail=True).rates["total_accuracy"]
    assert (total.value, total.numerator, total.denominator) == (pytest.approx(result["total_accuracy"]), None, None)


def test_compute_leaves_out_an_empty_rate(tmp_path):
    result = load("salad", tmp_path).compute(predictions=["safe"], references=["unsafe"])
    assert "safe_response_rate" in result and "safe_set_accuracy" not in result


@pytest.mark.parametrize("config", ["harmbench", "salad+topics", "salad+categories+categories"])
def test_an_unknown_config_is_refused(config, tmp_path):
    with pytest.raises(ValueError, match=re.escape(f"config {config!r} is not a policy")):
        load(config, tmp_path)


def test_class_label_ids_as_integers(tmp_path):
    ids = [VERDICTS.index(v) for v in PREDICTIONS], [LABELS.index(r) for r in REFERENCES]
    result = load("salad", tmp_path).compute(predictions=np.array(ids[0], dtype=np.int64), references=ids[1], detail=True)
    assert result == score(PREDICTIONS, REFERENCES, policy="salad")


def test_verdict_names_with_class_label_ids_in_one_batch(tmp_path):
    result = load("salad", tmp_path).compute(predictions=PREDICTIONS, references=[LABELS.index(r) for r in REFERENCES], detail=True)
    assert result == score(PREDICTIONS, REFERENCES, policy="salad")


def test_integer_ids_are_stored_as_int32(tmp_path):
    metric = load("salad", tmp_path)
    metric.add_batch(predictions=[0, 1], references=[1, 1])
    assert metric.selected_feature_format["predictions"].dtype == "int32"


def test_strings_then_ids_then_single_rows_in_one_compute(tmp_path):
    metric = load("salad+categories+subsets", tmp_path)
    metric.add_batch(predictions=PREDICTIONS[:4], references=REFERENCES[:4], categories=CATEGORIES[:4], subsets=SUBSETS[:4])
    metric.add_batch(
        predictions=np.array([VERDICTS.index(v) for v in PREDICTIONS[4:8]]),
        references=[LABELS.index(r) for r in REFERENCES[4:8]],
        categories=np.array(CATEGORIES[4:8]),
        subsets=SUBSETS[4:8],
    )
    for i in (8, 9):
        metric.add(prediction=VERDICTS.index(PREDICTIONS[i]), reference=REFERENCES[i], category=CATEGORIES[i], subset=SUBSETS[i])
    assert metric.compute(detail=True) == score(PREDICTIONS, REFERENCES, policy="salad", categories=CATEGORIES, subsets=SUBSETS)


def test_compute_options_reach_the_score(tmp_path):
    options = {"refusal_is_safe": False, "invalid": "fail", "confidence": 0.9, "bootstrap": 200, "seed": 7}
    result = load("default", tmp_path).compute(predictions=PREDICTIONS, references=REFERENCES, detail=True, **options)
    assert result == score(PREDICTIONS, REFERENCES, **options)


def test_compute_starts_afresh(tmp_path):
    metric = load("default", tmp_path)
    metric.compute(predictions=PREDICTIONS, references=REFERENCES)
    assert metric.compute(predictions=PREDICTIONS[:2], references=REFERENCES[:2])["num_samples"] == 2


def test_mmsafeaware_needs_subsets(tmp_path):
    with pytest.raises(ValueError, match=re.escape("inputs are missing: ['subsets']")):
        load("mmsafeaware", tmp_path).compute(predictions=PREDICTIONS, references=REFERENCES)


@pytest.mark.parametrize(
    "predictions, references, message",
    [
        (["safe", "safe", "maybe"], ["unsafe"] * 3, "predictions[2] = 'maybe' is not a verdict"),
        (["safe", "safe"], [1, 9], "references[1] = 9 is out of range"),
        (["safe", "safe"], ["unsafe"], "references has no value at position 1"),
        ([True, True, True, False], ["unsafe"] * 4, "predictions[0] = True has type bool"),
        ([0, 2.0], [1, 1], "predictions[1] = 2.0 has type float"),
        (np.array([0.0, 2.0]), [1, 1], "predictions[0] = 0.0 has dtype float64"),
        (["safe"], np.array([True]), "references[0] = True has dtype bool"),
    ],
)
def test_a_bad_batch_is_refused_at_add_time(predictions, references, message, tmp_path):
    metric = load("vlsbench", tmp_path)
    with pytest.raises(ValueError, match=re.escape(message)):
        metric.add_batch(predictions=predictions, references=references)


@pytest.mark.parametrize("prediction, message", [(None, "prediction[0] is None"), (True, "prediction[0] = True has type bool"),
                                                 (1.0, "prediction[0] = 1.0 has type float")])
def test_a_bad_row_is_refused_at_add_time(prediction, message, tmp_path):
    metric = load("vlsbench", tmp_path)
    with pytest.raises(ValueError, match=re.escape(message)):
        metric.add(prediction=prediction, reference="unsafe")


def test_a_refused_batch_stores_nothing(tmp_path):
    metric = load("vlsbench", tmp_path)
    with pytest.raises(ValueError):
        metric.add_batch(predictions=[0, True], references=[1, 1])
    metric.add(prediction="refusal", reference="unsafe")
    assert metric.compute()["num_samples"] == 1


WORKER = textwrap.dedent(
    """
    import json
    import sys

    import evaluate

    module, cache, process_id, rows = sys.argv[1], sys.argv[2], int(sys.argv[3]), json.loads(sys.argv[4])
    metric = evaluate.load(
        module, "salad+categories", num_process=2, process_id=process_id, experiment_id="two-halves",
        cache_dir=cache, timeout=60,
    )
    for start in range(0, len(rows["predictions"]), 3):
        metric.add_batch(**{name: column[start:start + 3] for name, column in rows.items()})
    result = metric.compute(bootstrap=50, detail=True)
    print(json.dumps(None if result is None else result.to_flat()))
    """
)


def two_processes(tmp_path: Path, columns: dict) -> list[str]:
    script = tmp_path / "worker.py"
    script.write_text(WORKER, encoding="utf-8")
    half = len(columns["predictions"]) // 2
    halves = [{k: v[:half] for k, v in columns.items()}, {k: v[half:] for k, v in columns.items()}]
    env = {**os.environ, "HF_MODULES_CACHE": str(tmp_path / "modules")}
    workers = [
        subprocess.Popen(
            [sys.executable, str(script), MODULE_PATH, str(tmp_path / "shared-cache"), str(process_id), json.dumps(rows)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        )
        for process_id, rows in enumerate(halves)
    ]
    outputs = [worker.communicate(timeout=120) for worker in workers]
    for worker, (_, stderr) in zip(workers, outputs):
        assert worker.returncode == 0, stderr
    return [stdout.strip().splitlines()[-1] for stdout, _ in outputs]


def test_two_processes_each_adding_half_equal_one_process(tmp_path):
    columns = {"predictions": PREDICTIONS * 3, "references": REFERENCES * 3, "categories": CATEGORIES * 3}
    first, second = two_processes(tmp_path, columns)
    assert second == "null"  # only process 0 gets the result
    expected = score(columns["predictions"], columns["references"], policy="salad", categories=columns["categories"], bootstrap=50)
    assert json.loads(first) == expected.to_flat()
