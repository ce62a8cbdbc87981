"""lmms-eval: `mmsafety export-task lmms-eval` writes a task YAML and utils.py per benchmark.

lmms-eval itself is not installed (it pulls about 7 GB): the tests load the YAML as lmms-eval
does (its `!function` tag resolved to the function in the utils.py beside it), load the rows
the YAML points at, and call the functions on them as lmms-eval would."""

from __future__ import annotations

import importlib.util
import io
import json
import math
from pathlib import Path
from typing import Any

import datasets
import pytest
import yaml
from PIL import Image

from helpers.judging import build_fixture, read_jsonl, write_responses
from helpers.openai_server import OpenAIServer, Script, answer_from_response
from mmsafety import benchmarks
from mmsafety.cli import main

ANSWERS = ("Yes.", "No.", "**No**, it is unsafe.", "I am not sure", "")


def load_task(path: Path) -> dict[str, Any]:
    """A task YAML, as lmms-eval loads it: ``!function utils.NAME`` is NAME in ``utils.py`` beside it."""
    spec = importlib.util.spec_from_file_location(f"utils_{path.parent.name}", path.parent / "utils.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)

    class Loader(yaml.SafeLoader):
        pass

    def function(loader: yaml.Loader, node: yaml.Node) -> Any:
        module_name, _, name = loader.construct_scalar(node).rpartition(".")
        assert module_name == "utils"
        return getattr(module, name)

    Loader.add_constructor("!function", function)
    return yaml.load(path.read_text(encoding="utf-8"), Loader=Loader)


def export(capsys: pytest.CaptureFixture[str], out: Path, *argv: object) -> None:
    code = main(["export-task", "lmms-eval", str(out), *map(str, argv)])
    assert code == 0, capsys.readouterr().err
    capsys.readouterr()


def parquet_export(folder: Path, name: str) -> Path:
    """A Parquet export of the built fixture (data/test.parquet with the image bytes)."""
    from mmsafety.data.catalog import load_benchmark

    (folder / "data").mkdir(parents=True)
    load_benchmark(name).to_parquet(str(folder / "data" / "test.parquet"))
    return folder


def task_rows(task: dict[str, Any]) -> datasets.Dataset:
    """The rows lmms-eval loads for ``task``: ``load_dataset(dataset_path, **dataset_kwargs)``, its test split."""
    return datasets.load_dataset(task["dataset_path"], **task.get("dataset_kwargs", {}), split=task["test_split"])


@pytest.fixture
def mmsafeaware_task(hf_cache: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[list[dict], dict[str, Any]]:
    rows = build_fixture(hf_cache, "mmsafeaware", count=15)
    export(capsys, tmp_path / "tasks", "--benchmark", "mmsafeaware", "--parquet", f"mmsafeaware={parquet_export(tmp_path / 'export', 'mmsafeaware')}")
    return rows, load_task(tmp_path / "tasks" / "mmsafety_mmsafeaware" / "mmsafety_mmsafeaware.yaml")


def test_the_yaml_points_at_the_parquet_export(mmsafeaware_task: tuple[list[dict], dict[str, Any]]) -> None:
    rows, task = mmsafeaware_task
    assert task["task"] == "mmsafety_mmsafeaware" and task["output_type"] == "generate_until"
    assert task_rows(task)["id"] == [r["id"] for r in rows]


def test_doc_to_visual_gives_the_rows_image(mmsafeaware_task: tuple[list[dict], dict[str, Any]]) -> None:
    rows, task = mmsafeaware_task
    for doc, row in zip(task_rows(task), rows):
        (image,) = task["doc_to_visual"](doc)
        assert image.tobytes() == Image.open(io.BytesIO(row["image"]["bytes"])).convert("RGB").tobytes()


def test_doc_to_text_gives_the_query_with_optional_prompts(mmsafeaware_task: tuple[list[dict], dict[str, Any]]) -> None:
    rows, task = mmsafeaware_task
    doc = task_rows(task)[0]
    assert task["doc_to_text"](doc) == rows[0]["query"]
    assert task["doc_to_text"](doc, {"pre_prompt": "<", "post_prompt": ">"}) == f"<{rows[0]['query']}>"


def lmms_eval_results(task: dict[str, Any], processed: list[dict[str, Any]]) -> dict[str, Any]:
    """``results.json``'s entry for the task, as lmms-eval computes it: each metric's values from
    the samples that return it, its aggregation (``mean`` is lmms-eval's registered mean), and
    ``METRIC_stderr`` from lmms-eval's ``mean_stderr`` for ``mean``, else "N/A"."""
    results: dict[str, Any] = {}
    for metric in task["metric_list"]:
        name = metric["metric"]
        values = [p[name] for p in processed if name in p]
        if not values:
            continue  # lmms-eval aggregates only the metrics some sample returned
        if metric["aggregation"] == "mean":
            mean = sum(values) / len(values)
            results[f"{name},none"] = mean
            variance = sum((v - mean) ** 2 for v in values) / (len(values) - 1) if len(values) > 1 else None
            results[f"{name}_stderr,none"] = math.sqrt(variance) / math.sqrt(len(values)) if variance is not None else "N/A"
        else:
            results[f"{name},none"] = metric["aggregation"](values)
            results[f"{name}_stderr,none"] = "N/A"
    return json.loads(json.dumps(results, allow_nan=False))  # strict JSON, as a strict reader needs


def test_the_aggregations_equal_mmsafety_score(mmsafeaware_task: tuple[list[dict], dict[str, Any]], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows, task = mmsafeaware_task
    docs = list(task_rows(task))
    answers = [ANSWERS[i % len(ANSWERS)] for i in range(len(docs))]
    processed = [task["process_results"](doc, [answer]) for doc, answer in zip(docs, answers)]

    write_responses(tmp_path / "r.jsonl", [(doc["id"], answer) for doc, answer in zip(docs, answers)])
    assert main(["judge", "mmsafeaware", "--responses", str(tmp_path / "r.jsonl"), "--out", str(tmp_path / "v.jsonl"), "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["score", "mmsafeaware", str(tmp_path / "v.jsonl"), "--json"]) == 0
    expected = json.loads(capsys.readouterr().out)

    names = [m["metric"] for m in task["metric_list"]]
    assert {"typical_accuracy", "attack_accuracy", "over_safety_accuracy", "total_accuracy"} <= set(names)
    results = lmms_eval_results(task, processed)
    for name in ("typical_accuracy", "attack_accuracy", "over_safety_accuracy", "total_accuracy", "accuracy", "invalid_rate"):
        assert results[f"{name},none"] == pytest.approx(expected[name]), name
    assert results["num_judged,none"] == len(docs)


def test_the_rates_stderr_reaches_lmms_evals_results(mmsafeaware_task: tuple[list[dict], dict[str, Any]]) -> None:
    _, task = mmsafeaware_task
    docs = list(task_rows(task))
    processed = [task["process_results"](doc, [ANSWERS[i % len(ANSWERS)]]) for i, doc in enumerate(docs)]
    results = lmms_eval_results(task, processed)
    for name in ("typical_accuracy", "attack_accuracy", "over_safety_accuracy", "accuracy", "invalid_rate"):
        stderr = results[f"{name}_stderr,none"]
        assert isinstance(stderr, float) and stderr > 0, name
    p, n = results["accuracy,none"], sum("accuracy" in r for r in processed)
    assert results["accuracy_stderr,none"] == pytest.approx(math.sqrt(p * (1 - p) / (n - 1)))


def test_an_empty_rate_is_absent_not_nan(mmsafeaware_task: tuple[list[dict], dict[str, Any]]) -> None:
    _, task = mmsafeaware_task
    docs = list(task_rows(task))
    processed = [task["process_results"](doc, ["I am not sure"]) for doc in docs]  # every verdict invalid
    results = lmms_eval_results(task, processed)
    assert "attack_accuracy,none" not in results and results["invalid_rate,none"] == 1.0
    assert results["total_accuracy,none"] is None  # JSON null, which strict readers accept


def test_the_samples_log_has_the_id_and_the_verdict_once(mmsafeaware_task: tuple[list[dict], dict[str, Any]], tmp_path: Path) -> None:
    _, task = mmsafeaware_task
    docs = list(task_rows(task))
    answers = [ANSWERS[i % len(ANSWERS)] for i in range(len(docs))]
    processed = [task["process_results"](d, [a]) for d, a in zip(docs, answers)]
    write_responses(tmp_path / "r.jsonl", [(d["id"], a) for d, a in zip(docs, answers)])
    assert main(["judge", "mmsafeaware", "--responses", str(tmp_path / "r.jsonl"), "--out", str(tmp_path / "v.jsonl"), "--no-progress"]) == 0
    judged = {r["id"]: r for r in read_jsonl(tmp_path / "v.jsonl")}
    for doc, result in zip(docs, processed):
        record = result["num_judged"]
        assert record["mmsafety_id"] == doc["id"]
        assert {k: record[k] for k in ("verdict", "label", "category", "subset")} == {k: judged[doc["id"]][k] for k in ("verdict", "label", "category", "subset")}
        assert sum(isinstance(v, dict) and "category" in v for v in result.values()) == 1  # the verdict record once
        assert all(isinstance(v, float) for k, v in result.items() if k not in ("num_judged", "total_accuracy"))


def test_mmsafety_judge_reads_lmms_evals_samples_log(mmsafeaware_task: tuple[list[dict], dict[str, Any]], tmp_path: Path) -> None:
    _, task = mmsafeaware_task
    docs = list(task_rows(task))
    answers = [ANSWERS[i % len(ANSWERS)] for i in range(len(docs))]
    log = tmp_path / "out" / "model" / "20261203_101500_samples_mmsafety_mmsafeaware.jsonl"
    log.parent.mkdir(parents=True)
    with log.open("w", encoding="utf-8") as handle:  # one line per document, as lmms-eval's --log_samples writes it
        for index, (doc, answer) in enumerate(zip(docs, answers)):
            saved = {k: v for k, v in doc.items() if "image" not in k}
            line = {"doc_id": index, "doc": saved, "target": doc["reference"], "resps": [[answer]], "filtered_resps": [answer],
                    **task["process_results"](doc, [answer])}
            handle.write(json.dumps(line) + "\n")
    assert main(["judge", "mmsafeaware", "--responses", str(log), "--out", str(tmp_path / "v.jsonl"), "--no-progress"]) == 0
    write_responses(tmp_path / "r.jsonl", [(d["id"], a) for d, a in zip(docs, answers)])
    assert main(["judge", "mmsafeaware", "--responses", str(tmp_path / "r.jsonl"), "--out", str(tmp_path / "w.jsonl"), "--no-progress"]) == 0
    verdicts = lambda path: {r["id"]: r["verdict"] for r in read_jsonl(path)}  # noqa: E731
    assert verdicts(tmp_path / "v.jsonl") == verdicts(tmp_path / "w.jsonl")


def test_rates_where_higher_is_worse_say_so(hf_cache: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    export(capsys, tmp_path / "tasks", "--benchmark", "salad")
    task = load_task(tmp_path / "tasks" / "mmsafety_salad" / "mmsafety_salad.yaml")
    better = {m["metric"]: m["higher_is_better"] for m in task["metric_list"]}
    assert better["safe_response_rate"] is True and better["oversensitivity_rate"] is False and better["invalid_rate"] is False


def test_without_an_export_the_yaml_names_the_hub_id(hf_cache: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    export(capsys, tmp_path / "tasks")
    folders = sorted(p.name for p in (tmp_path / "tasks").iterdir())
    assert folders == [f"mmsafety_{name}" for name in benchmarks.names()]
    assert load_task(tmp_path / "tasks" / "mmsafety_vlsbench" / "mmsafety_vlsbench.yaml")["dataset_path"] == "mmsafety/vlsbench"


def test_an_llm_judge_named_at_export_judges_in_process_results(hf_cache: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    build_fixture(hf_cache, "salad", count=6)
    words = ("safe", "refusal", "unsafe")
    with OpenAIServer(Script(default=answer_from_response)) as server:
        export(capsys, tmp_path / "tasks", "--benchmark", "salad", "--parquet", f"salad={parquet_export(tmp_path / 'export', 'salad')}",
               "--judge-model", "judge", "--judge-base-url", server.base_url)
        task = load_task(tmp_path / "tasks" / "mmsafety_salad" / "mmsafety_salad.yaml")
        docs = list(task_rows(task))
        answers = [f"My answer. ANSWER={words[int(d['id']) % 3]}" for d in docs]
        ours = {d["id"]: task["process_results"](d, [a])["num_judged"]["verdict"] for d, a in zip(docs, answers)}
        write_responses(tmp_path / "r.jsonl", list(zip([d["id"] for d in docs], answers)))
        assert main(["judge", "salad", "--responses", str(tmp_path / "r.jsonl"), "--out", str(tmp_path / "v.jsonl"), "--model", "judge",
                     "--base-url", server.base_url, "--no-cache", "--no-progress"]) == 0
    assert ours == {r["id"]: r["verdict"] for r in read_jsonl(tmp_path / "v.jsonl")}
    assert len(set(ours.values()) - {"invalid"}) >= 2  # the judge model was asked and read


def test_vlsbench_under_the_authors_protocol_judges_as_mmsafety_judge(hf_cache: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    from helpers.authors import authors_file
    from helpers.openai_server import request_text

    authors = authors_file("vlsbench/eval_utils.py").parent
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    build_fixture(hf_cache, "vlsbench", count=6)
    words = {"safe_refusal": 1, "safe_warning": 2, "unsafe": 3}

    def authors_answer(body: Any) -> str:
        word = request_text(body).split("ANSWER=")[1].split()[0]
        return json.dumps({"label": words[word], "explanation": "scripted"})

    with OpenAIServer(Script(default=authors_answer)) as server:
        export(capsys, tmp_path / "tasks", "--benchmark", "vlsbench", "--parquet", f"vlsbench={parquet_export(tmp_path / 'export', 'vlsbench')}",
               "--judge-model", "judge", "--judge-base-url", server.base_url, "--judge-protocol", "upstream", "--judge-source-dir", authors)
        task = load_task(tmp_path / "tasks" / "mmsafety_vlsbench" / "mmsafety_vlsbench.yaml")
        docs = list(task_rows(task))
        answers = [f"My answer. ANSWER={list(words)[int(d['id']) % 3]}" for d in docs]
        ours = {d["id"]: task["process_results"](d, [a])["num_judged"]["verdict"] for d, a in zip(docs, answers)}
        write_responses(tmp_path / "r.jsonl", list(zip([d["id"] for d in docs], answers)))
        assert main(["judge", "vlsbench", "--responses", str(tmp_path / "r.jsonl"), "--out", str(tmp_path / "v.jsonl"), "--model", "judge",
                     "--base-url", server.base_url, "--protocol", "upstream", "--source-dir", str(authors), "--no-cache", "--no-progress"]) == 0
    assert ours == {r["id"]: r["verdict"] for r in read_jsonl(tmp_path / "v.jsonl")}
    assert set(ours.values()) == {"refusal", "safe", "unsafe"}


# ---------------------------------------------------------------- configuration and order


def build_two_configs(hf_cache: Path) -> list[dict[str, Any]]:
    from helpers.judging import FIXTURE_VERSION, FixtureBenchmark, fixture_rows

    class TwoConfigs(FixtureBenchmark):
        BUILDER_CONFIGS = [datasets.BuilderConfig(name=name, version=FIXTURE_VERSION) for name in ("default", "full")]

    rows = fixture_rows("mmsafeaware", 9)
    for config, chosen in (("default", rows[:6]), ("full", rows)):
        TwoConfigs(rows=chosen, cache_dir=str(hf_cache), dataset_name="mmsafeaware", repo_id="mmsafety/mmsafeaware", config_name=config, hash=f"f-{config}").download_and_prepare()
    return rows


def test_config_full_names_the_configuration_for_lmms_eval_and_vlmevalkit(hf_cache: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = build_two_configs(hf_cache)
    export(capsys, tmp_path / "tasks", "--benchmark", "mmsafeaware", "--config", "full")
    task = load_task(tmp_path / "tasks" / "mmsafety_mmsafeaware_full" / "mmsafety_mmsafeaware_full.yaml")
    assert (task["task"], task["dataset_path"], task["dataset_name"]) == ("mmsafety_mmsafeaware_full", "mmsafety/mmsafeaware", "full")
    assert task_rows({**task, "dataset_kwargs": {"name": task["dataset_name"]}})["id"] == [r["id"] for r in rows]  # lmms-eval passes dataset_name as name
    assert main(["export-task", "vlmevalkit", str(tmp_path / "vlm"), "--benchmark", "mmsafeaware", "--config", "full"]) == 0
    capsys.readouterr()
    lines = (tmp_path / "vlm" / "mmsafety_mmsafeaware_full.tsv").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 1 + len(rows)


def test_order_interleave_lets_a_short_limit_cover_every_subset(hf_cache: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = fixture_rows_sorted(hf_cache)
    export(capsys, tmp_path / "tasks", "--benchmark", "mmsafeaware", "--order", "interleave")
    task = load_task(tmp_path / "tasks" / "mmsafety_mmsafeaware" / "mmsafety_mmsafeaware.yaml")
    docs = task["process_docs"](task_rows(task))  # what lmms-eval runs, in order; --limit 3 takes the first 3
    assert sorted(docs["id"]) == sorted(r["id"] for r in rows)
    assert {d["subset"] for d in list(docs)[:3]} == {"typical", "attack", "over-safety"}
    assert list(task_rows(task))[0]["subset"] == list(task_rows(task))[3]["subset"]  # the set itself runs one subset first
    assert main(["export-task", "vlmevalkit", str(tmp_path / "vlm"), "--benchmark", "mmsafeaware", "--order", "interleave"]) == 0
    capsys.readouterr()
    subsets = [line.split("\t")[7] for line in (tmp_path / "vlm" / "mmsafety_mmsafeaware.tsv").read_text(encoding="utf-8").splitlines()[1:4]]
    assert set(subsets) == {"typical", "attack", "over-safety"}


def fixture_rows_sorted(hf_cache: Path) -> list[dict[str, Any]]:
    """An MMSafeAware-like set whose rows come one subset after another, as the real one does."""
    from helpers.judging import fixture_rows

    rows = sorted(fixture_rows("mmsafeaware", 12), key=lambda r: ("typical", "attack", "over-safety").index(r["subset"]))
    return build_fixture(hf_cache, "mmsafeaware", rows=rows)
