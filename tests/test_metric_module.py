"""The `evaluate` module at metrics/mmsafety: loading, inputs, results, several processes."""

from __future__ import annotations

import json
import os
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
from mmsafety.scoring.policies import POLICY_NAMES
from mmsafety.scoring import score

PREDICTIONS = ["safe", "refusal", "unsafe", "oversensitive", "invalid", "safe", "refusal", "oversensitive", "unsafe", "safe"]
REFERENCES = ["unsafe"] * 5 + ["oversensitive"] * 4 + ["safe"]
CATEGORIES = ["fire", "food", "fire", "food", "fire", "food", "water", "water", "fire", "food"]
SUBSETS = ["typical", "attack", "attack", "typical", "attack"] + ["over-safety"] * 5


def load(config: str, tmp_path: Path, **kwargs):
    return evaluate.load(MODULE_PATH, config, cache_dir=str(tmp_path / "cache"), **kwargs)


def test_module_folder_and_card():
    folder = Path(MODULE_PATH)
    assert (folder / "mmsafety.py").is_file() and (folder / "__init__.py").is_file()
    card = (folder / "README.md").read_text(encoding="utf-8")
    assert card.startswith("---\n")
    header = yaml.safe_load(card.split("---\n")[1])
    assert header["title"] == "mmsafety" and {"evaluate", "metric"} <= set(header["tags"])
    assert header["description"]
    for section in ("## Metric Description", "## How to Use", "### Inputs", "### Output Values", "## Citation"):
        assert section in card
    source = (folder / "mmsafety.py").read_text(encoding="utf-8")
    assert "from mmsafety.scoring import score" in source
    assert not any(line.startswith("import ") and "," in line for line in source.splitlines())


@pytest.mark.parametrize("config", POLICY_NAMES)
def test_each_config_is_a_policy(config, tmp_path):
    metric = load(config, tmp_path)
    assert metric.config_name == config and metric.name == "mmsafety"
    subsets = SUBSETS if config == "mmsafeaware" else None
    result = metric.compute(predictions=PREDICTIONS, references=REFERENCES, subsets=subsets)
    assert result == score(PREDICTIONS, REFERENCES, policy=config, subsets=subsets)
    assert result["policy"] == config


def test_unknown_config(tmp_path):
    with pytest.raises(ValueError, match="config 'harmbench' is not a policy"):
        load("harmbench", tmp_path)


def test_strings_ints_batches_and_single_rows(tmp_path):
    expected = score(PREDICTIONS, REFERENCES, policy="salad", categories=CATEGORIES, subsets=SUBSETS)
    metric = load("salad", tmp_path)
    metric.add_batch(predictions=PREDICTIONS[:4], references=REFERENCES[:4], categories=CATEGORIES[:4], subsets=SUBSETS[:4])
    metric.add_batch(
        predictions=np.array([VERDICTS.index(v) for v in PREDICTIONS[4:8]]),
        references=[LABELS.index(r) for r in REFERENCES[4:8]],
        categories=np.array(CATEGORIES[4:8]),
        subsets=SUBSETS[4:8],
    )
    for i in (8, 9):
        metric.add(prediction=VERDICTS.index(PREDICTIONS[i]), reference=REFERENCES[i], category=CATEGORIES[i], subset=SUBSETS[i])
    assert metric.compute() == expected


def test_categories_and_subsets_are_optional(tmp_path):
    metric = load("default", tmp_path)
    metric.add_batch(predictions=PREDICTIONS[:5], references=REFERENCES[:5])
    metric.add(prediction=PREDICTIONS[5], reference=REFERENCES[5])
    result = metric.compute(predictions=PREDICTIONS[6:], references=REFERENCES[6:])
    assert result == score(PREDICTIONS, REFERENCES)
    assert "by_category" not in result and "by_subset" not in result
    with_categories = metric.compute(predictions=PREDICTIONS, references=REFERENCES, categories=CATEGORIES)
    assert with_categories == score(PREDICTIONS, REFERENCES, categories=CATEGORIES)


def test_compute_options_and_fresh_start(tmp_path):
    metric = load("default", tmp_path)
    options = {"refusal_is_safe": False, "invalid": "fail", "confidence": 0.9, "bootstrap": 200, "seed": 7}
    result = metric.compute(predictions=PREDICTIONS, references=REFERENCES, **options)
    assert result == score(PREDICTIONS, REFERENCES, **options)
    assert result["safe_response_rate_bootstrap_low"] is not None
    again = metric.compute(predictions=PREDICTIONS[:2], references=REFERENCES[:2])  # compute() starts afresh
    assert again["num_samples"] == 2


def test_mmsafeaware_needs_subsets(tmp_path):
    metric = load("mmsafeaware", tmp_path)
    with pytest.raises(ValueError, match="needs subsets"):
        metric.compute(predictions=PREDICTIONS, references=REFERENCES)


def test_bad_input_fails_at_add_time(tmp_path):
    metric = load("vlsbench", tmp_path)
    with pytest.raises(ValueError, match=r"predictions\[2\] = 'maybe' is not a verdict"):
        metric.add_batch(predictions=["safe", "safe", "maybe"], references=["unsafe"] * 3)
    with pytest.raises(ValueError, match=r"references\[1\] = 9 is out of range"):
        metric.add_batch(predictions=["safe", "safe"], references=[1, 9])
    with pytest.raises(ValueError, match=r"references has no value at position 1"):
        metric.add_batch(predictions=["safe", "safe"], references=["unsafe"])
    with pytest.raises(ValueError, match=r"prediction\[0\] is None"):
        metric.add(prediction=None, reference="unsafe")
    metric.add(prediction="refusal", reference="unsafe")
    assert metric.compute()["num_samples"] == 1


WORKER = textwrap.dedent(
    """
    import json
    import sys

    import evaluate

    module, cache, process_id, rows = sys.argv[1], sys.argv[2], int(sys.argv[3]), json.loads(sys.argv[4])
    metric = evaluate.load(
        module, "salad", num_process=2, process_id=process_id, experiment_id="two-halves",
        cache_dir=cache, timeout=60,
    )
    for start in range(0, len(rows["predictions"]), 3):
        metric.add_batch(**{name: column[start:start + 3] for name, column in rows.items()})
    result = metric.compute(bootstrap=50)
    print(json.dumps(result))
    """
)


def test_two_processes_each_adding_half_equal_one_process(tmp_path):
    script = tmp_path / "worker.py"
    script.write_text(WORKER, encoding="utf-8")
    cache = tmp_path / "shared-cache"
    columns = {"predictions": PREDICTIONS * 3, "references": REFERENCES * 3, "categories": CATEGORIES * 3}
    half = len(PREDICTIONS) * 3 // 2
    halves = [{k: v[:half] for k, v in columns.items()}, {k: v[half:] for k, v in columns.items()}]
    halves[1]["predictions"] = [VERDICTS.index(v) for v in halves[1]["predictions"]]  # ids in one process
    env = {**os.environ, "HF_MODULES_CACHE": str(tmp_path / "modules")}
    workers = [
        subprocess.Popen(
            [sys.executable, str(script), MODULE_PATH, str(cache), str(process_id), json.dumps(rows)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        )
        for process_id, rows in enumerate(halves)
    ]
    outputs = [worker.communicate(timeout=120) for worker in workers]
    for worker, (_, stderr) in zip(workers, outputs):
        assert worker.returncode == 0, stderr
    distributed = json.loads(outputs[0][0].strip().splitlines()[-1])
    assert outputs[1][0].strip().splitlines()[-1] == "null"  # only process 0 gets the result

    single = load("salad", tmp_path)
    single.add_batch(**columns)
    assert distributed == single.compute(bootstrap=50)
    assert distributed == score(columns["predictions"], columns["references"], policy="salad",
                                categories=columns["categories"], bootstrap=50)
    assert distributed["num_samples"] == 30
