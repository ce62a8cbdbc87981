"""The Inspect tasks: `inspect eval mmsafety/...` gives the verdicts and rates of
`mmsafety respond` + `judge` + `score` on the same answers (offline: a loopback
OpenAI-compatible server, and Inspect's `mockllm/model`)."""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import datasets
import pytest

pytest.importorskip("inspect_ai", reason="Inspect is not installed: pip install 'mmsafety[inspect]' (or '.[test]')")

from helpers.judging import build_fixture, read_jsonl, write_responses  # noqa: E402
from helpers.openai_server import OpenAIServer, Script, request_images, request_text  # noqa: E402
from inspect_ai import eval as inspect_eval  # noqa: E402
from inspect_ai.log import read_eval_log  # noqa: E402
from inspect_ai.model import ModelOutput, ModelUsage, get_model  # noqa: E402

from mmsafety.cli import main  # noqa: E402
from mmsafety.errors import InputError  # noqa: E402
from mmsafety.integrations import inspect_tasks  # noqa: E402

ANSWERS = ("Yes, it is safe.", "No, it is not safe.", "**No**.", "I cannot tell.", "")
GRADER_WORDS = ("safe", "refusal", "unsafe", "oversensitive")


def model_answer(body: Any) -> str:
    """The model under test: an answer chosen by the question's number."""
    number = int(re.search(r"Question (\d+)", request_text(body)).group(1))
    return ANSWERS[number % len(ANSWERS)]


def run_cli(capsys: pytest.CaptureFixture[str], *argv: object) -> str:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert code == 0, err
    return out


def isolate(monkeypatch: pytest.MonkeyPatch, root: Path) -> Path:
    """An empty datasets cache and answer caches under ``root``, offline; returns the datasets cache."""
    cache = root / "hf-home" / "datasets"
    cache.mkdir(parents=True)
    monkeypatch.setenv("HF_HOME", str(root / "hf-home"))
    monkeypatch.setenv("HF_DATASETS_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("XDG_CACHE_HOME", str(root / "xdg-cache"))
    monkeypatch.setenv("XDG_DATA_HOME", str(root / "xdg-data"))
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", cache)
    return cache


# ---------------------------------------------------------------- the command line, MMSafeAware


@pytest.fixture(scope="module")
def mmsafeaware_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """One MMSafeAware-like set, answered once through `inspect eval` and once through
    `mmsafety respond` by the same scripted model, then judged and scored both ways."""
    root = tmp_path_factory.mktemp("inspect-cli")
    with pytest.MonkeyPatch.context() as monkeypatch, OpenAIServer(Script(default=model_answer)) as server:
        cache = isolate(monkeypatch, root)
        rows = build_fixture(cache, "mmsafeaware", count=15)
        env = {
            **os.environ,
            "LOCAL_BASE_URL": server.base_url,
            "LOCAL_API_KEY": "local-key",
            "INSPECT_LOG_DIR": str(root / "logs"),
        }
        inspect = Path(sys.executable).with_name("inspect")
        completed = subprocess.run(
            [str(inspect), "eval", "mmsafety/mmsafeaware", "--model", "openai-api/local/vlm-under-test", "--display", "none"],
            env=env, capture_output=True, text=True, timeout=300,
        )
        assert completed.returncode == 0, completed.stderr[-2000:]
        inspect_requests = list(server.chat_requests())
        (log_file,) = (root / "logs").glob("*.eval")
        log = read_eval_log(str(log_file))
        assert log.status == "success", log.error  # `inspect eval` exits 0 on a failed task too

        responses, verdicts = root / "responses.jsonl", root / "verdicts.jsonl"
        assert main(["respond", "mmsafeaware", "--base-url", server.base_url, "--model", "vlm-under-test", "--out", str(responses), "--no-cache", "--no-progress"]) == 0
        assert main(["judge", "mmsafeaware", "--responses", str(responses), "--out", str(verdicts), "--no-progress"]) == 0
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            assert main(["score", "mmsafeaware", str(verdicts), "--json"]) == 0
        records = read_jsonl(verdicts)
        yield {"rows": rows, "log": log, "requests": inspect_requests, "verdicts": records, "score": json.loads(printed.getvalue())}


def test_inspect_eval_gives_the_verdicts_of_mmsafety_judge(mmsafeaware_run: dict[str, Any]) -> None:
    log = mmsafeaware_run["log"]
    inspect_verdicts = {str(s.id): s.scores["safety_judge"].metadata["verdict"] for s in log.samples}
    assert inspect_verdicts == {r["id"]: r["verdict"] for r in mmsafeaware_run["verdicts"]}
    assert set(inspect_verdicts.values()) >= {"safe", "unsafe", "oversensitive", "invalid"}  # every kind was exercised


def test_inspect_eval_headline_equals_mmsafety_score(mmsafeaware_run: dict[str, Any]) -> None:
    (result,) = mmsafeaware_run["log"].results.scores
    metrics = {name: metric.value for name, metric in result.metrics.items()}
    expected = mmsafeaware_run["score"]
    for name in ("typical_accuracy", "attack_accuracy", "over_safety_accuracy", "total_accuracy", "accuracy", "invalid_rate"):
        assert metrics[name] == pytest.approx(expected[name]), name



def test_inspect_eval_puts_the_policy_headline_first(mmsafeaware_run: dict[str, Any]) -> None:
    (result,) = mmsafeaware_run["log"].results.scores
    assert list(result.metrics)[:4] == ["typical_accuracy", "attack_accuracy", "over_safety_accuracy", "total_accuracy"]



def test_inspect_eval_headline_is_the_papers_total(mmsafeaware_run: dict[str, Any]) -> None:
    results = mmsafeaware_run["log"].results
    assert results.headline.metric == "total_accuracy"
    assert results.scores[0].metrics["total_accuracy"].value == pytest.approx(mmsafeaware_run["score"]["total_accuracy"])


def test_inspect_eval_breaks_the_rates_down_by_category(mmsafeaware_run: dict[str, Any]) -> None:
    (result,) = mmsafeaware_run["log"].results.scores
    by_category = mmsafeaware_run["score"]["by_category"]
    assert set(by_category) == {"kitchen", "outdoors", "electricity"}
    for category, group in by_category.items():
        assert result.metrics[f"{category}/accuracy"].value == pytest.approx(group["accuracy"]), category


def test_inspect_samples_carry_the_image_then_the_query(mmsafeaware_run: dict[str, Any]) -> None:
    rows = {r["query"]: r for r in mmsafeaware_run["rows"]}
    requests = mmsafeaware_run["requests"]
    assert len(requests) == len(rows)
    for request in requests:
        (message,) = request.body["messages"]
        image, text = message["content"]
        assert image["type"] == "image_url" and text["type"] == "text"
        assert request_images(request.body) == [rows[text["text"]]["image"]["bytes"]]  # the original bytes


def test_inspect_samples_carry_id_label_category_and_subset_in_metadata(mmsafeaware_run: dict[str, Any]) -> None:
    rows = {r["id"]: r for r in mmsafeaware_run["rows"]}
    for sample in mmsafeaware_run["log"].samples:
        row = rows[str(sample.id)]
        assert {k: sample.metadata[k] for k in ("label", "category", "subset")} == {k: row[k] for k in ("label", "category", "subset")}


def test_inspect_score_values_are_numbers_only(mmsafeaware_run: dict[str, Any]) -> None:
    for sample in mmsafeaware_run["log"].samples:
        value = sample.scores["safety_judge"].value
        assert isinstance(value, dict) and all(type(v) is float for v in value.values())
        assert sum(value.values()) == 1.0


# ---------------------------------------------------------------- the Python API, mockllm, LLM judge


def mock_output(text: str) -> ModelOutput:
    """A mockllm output with its usage given (without it Inspect counts tokens with tiktoken,
    which downloads its encodings)."""
    output = ModelOutput.from_content(model="mockllm/model", content=text)
    output.usage = ModelUsage(input_tokens=10, output_tokens=5, total_tokens=15)
    return output


def mock_model_answer(messages: list[Any], *_: Any) -> ModelOutput:
    number = int(re.search(r"Question (\d+)", messages[-1].text).group(1))
    return mock_output(f"My answer. ANSWER={GRADER_WORDS[number % len(GRADER_WORDS)]}")


def grader_answer_text(text: str) -> str:
    found = re.search(r"ANSWER=(\w+)", text)
    return json.dumps({"verdict": found.group(1) if found else "unsafe", "explanation": "scripted"})


def mock_grader(messages: list[Any], *_: Any) -> ModelOutput:
    return mock_output(grader_answer_text(messages[-1].text))


def test_mockllm_with_the_grader_role_gives_the_verdicts_and_rates_of_the_llm_judge(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    cache = isolate(monkeypatch, tmp_path)
    rows = build_fixture(cache, "salad", count=8)
    (log,) = inspect_eval(
        inspect_tasks.salad(),
        model=get_model("mockllm/model", custom_outputs=mock_model_answer),
        model_roles={"grader": get_model("mockllm/model", custom_outputs=mock_grader, memoize=False)},
        log_dir=str(tmp_path / "logs"),
        display="none",
    )
    assert log.status == "success"

    responses = write_responses(tmp_path / "r.jsonl", [(s.id, s.output.completion) for s in log.samples])
    with OpenAIServer(Script(default=lambda body: grader_answer_text(request_text(body)))) as server:
        run_cli(capsys, "judge", "salad", "--responses", responses, "--out", tmp_path / "v.jsonl", "--model", "judge",
                "--base-url", server.base_url, "--no-cache", "--no-progress")
    expected = json.loads(run_cli(capsys, "score", "salad", tmp_path / "v.jsonl", "--json"))

    verdicts = {r["id"]: r["verdict"] for r in read_jsonl(tmp_path / "v.jsonl")}
    assert {str(s.id): s.scores["safety_judge"].metadata["verdict"] for s in log.samples} == verdicts
    assert len(set(verdicts.values())) >= 3 and len(verdicts) == len(rows)  # several kinds exercised
    metrics = {name: m.value for name, m in log.results.scores[0].metrics.items()}
    for name in ("safe_response_rate", "oversensitivity_rate", "invalid_rate"):
        assert metrics[name] == pytest.approx(expected[name]), name


def test_without_a_grader_salad_is_judged_by_the_rule_judge(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = isolate(monkeypatch, tmp_path)
    build_fixture(cache, "salad", count=2)
    (log,) = inspect_eval(
        inspect_tasks.salad(),
        model=get_model("mockllm/model", custom_outputs=lambda *_: mock_output("I cannot help with that.")),
        log_dir=str(tmp_path / "logs"),
        display="none",
    )
    assert {s.scores["safety_judge"].metadata["judge"] for s in log.samples} == {"rules"}


def test_compat_judges_with_the_authors_script(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = isolate(monkeypatch, tmp_path)
    build_fixture(cache, "mmsafeaware", count=3)
    (log,) = inspect_eval(
        inspect_tasks.mmsafeaware(compat=True),
        model=get_model("mockllm/model", custom_outputs=lambda *_: mock_output("Yes, but it is not safe")),
        log_dir=str(tmp_path / "logs"),
        display="none",
    )
    assert {s.scores["safety_judge"].metadata["judge"] for s in log.samples} == {"yesno-compat"}


def test_an_unknown_judge_is_refused() -> None:
    with pytest.raises(InputError, match="unknown judge 'gpt'"):
        inspect_tasks.choose_judge("salad", "gpt")


def test_a_custom_set_runs_as_mmsafety_custom_with_the_default_policy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from helpers.judging import FixtureBenchmark, fixture_rows

    isolate(monkeypatch, tmp_path)
    rows = fixture_rows("salad", 4)
    FixtureBenchmark(rows=rows, cache_dir=str(datasets.config.HF_DATASETS_CACHE), dataset_name="my-set", repo_id="me/my-set", hash="fixture").download_and_prepare()
    (log,) = inspect_eval(
        inspect_tasks.custom(dataset="me/my-set"),
        model=get_model("mockllm/model", custom_outputs=lambda *_: mock_output("I cannot help with that.")),
        log_dir=str(tmp_path / "logs"),
        display="none",
    )
    assert sorted(str(s.id) for s in log.samples) == sorted(r["id"] for r in rows)
    (result,) = log.results.scores
    assert result.metrics["safe_response_rate"].params == {"policy": "default"}


VLSBENCH_WORDS = ("safe_refusal", "safe_warning", "unsafe")
AUTHORS_LABEL = {"safe_refusal": 1, "safe_warning": 2, "unsafe": 3}


@pytest.mark.parametrize("protocol", ["mmsafety", "upstream"])
def test_inspect_eval_with_a_grader_role_judges_as_mmsafety_judge_llm(
    protocol: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    options: list[str] = ["--protocol", protocol]
    task_options = ["-T", f"protocol={protocol}"]
    if protocol == "upstream":
        from helpers.authors import authors_file

        folder = str(authors_file("vlsbench/eval_utils.py").parent)
        options += ["--source-dir", folder]
        task_options += ["-T", f"source_dir={folder}"]
    cache = isolate(monkeypatch, tmp_path)
    build_fixture(cache, "vlsbench", count=6)

    def model_or_grader(body: Any) -> str:
        text = request_text(body)
        if body["model"] == "judge":  # the grader: its request holds the model's answer (an empty one is a refusal to it)
            found = re.search(r"ANSWER=(\w+)", text)
            word = found.group(1) if found else "safe_refusal"
            return json.dumps({"label": AUTHORS_LABEL[word]} if protocol == "upstream" else {"verdict": word, "explanation": "scripted"})
        number = int(re.search(r"Question (\d+)", text).group(1))
        return "" if number % 6 == 4 else f"My answer. ANSWER={VLSBENCH_WORDS[number % 3]}"  # one empty answer

    with OpenAIServer(Script(default=model_or_grader)) as server:
        env = {**os.environ, "LOCAL_BASE_URL": server.base_url, "LOCAL_API_KEY": "local-key", "INSPECT_LOG_DIR": str(tmp_path / "logs")}
        completed = subprocess.run(
            [str(Path(sys.executable).with_name("inspect")), "eval", "mmsafety/vlsbench", "--model", "openai-api/local/vlm",
             "--model-role", "grader=openai-api/local/judge", *task_options, "--display", "none"],
            env=env, capture_output=True, text=True, timeout=300,
        )
        assert completed.returncode == 0, completed.stderr[-2000:]
        inspect_grader_requests = [r.body for r in server.chat_requests() if r.body["model"] == "judge"]
        (log_file,) = (tmp_path / "logs").glob("*.eval")
        log = read_eval_log(str(log_file))
        assert log.status == "success", log.error
        responses = write_responses(tmp_path / "r.jsonl", [(str(s.id), s.output.completion) for s in log.samples])
        run_cli(capsys, "judge", "vlsbench", "--responses", responses, "--out", tmp_path / "v.jsonl", "--model", "judge",
                "--base-url", server.base_url, "--no-cache", "--no-progress", *options)
        cli_grader_requests = [r.body for r in server.chat_requests() if r.body["model"] == "judge"][len(inspect_grader_requests):]
    verdicts = {r["id"]: r["verdict"] for r in read_jsonl(tmp_path / "v.jsonl")}
    assert {str(s.id): s.scores["safety_judge"].metadata["verdict"] for s in log.samples} == verdicts
    assert {"refusal", "safe", "unsafe"} <= set(verdicts.values())
    # the authors' request is sent for the empty answer too; mmsafety's rubric leaves it invalid, unsent
    assert len(inspect_grader_requests) == len(cli_grader_requests) == (6 if protocol == "upstream" else 5)
    assert list(verdicts.values()).count("invalid") == (0 if protocol == "upstream" else 1)
    key = lambda body: request_text(body)  # noqa: E731
    assert sorted(map(key, inspect_grader_requests)) == sorted(map(key, cli_grader_requests))  # the same judge prompts
    roles = lambda body: [m["role"] for m in body["messages"]]  # noqa: E731
    assert sorted(map(roles, inspect_grader_requests)) == sorted(map(roles, cli_grader_requests))
    settings = lambda body: (body["temperature"], body["max_tokens"], body["response_format"]["json_schema"]["name"])  # noqa: E731
    assert {settings(b) for b in inspect_grader_requests} == {settings(b) for b in cli_grader_requests}  # the protocol's settings


def test_the_dataset_reads_a_parquet_export(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from mmsafety.data.catalog import load_benchmark

    cache = isolate(monkeypatch, tmp_path)
    rows = build_fixture(cache, "salad", count=3)
    (tmp_path / "export" / "data").mkdir(parents=True)
    load_benchmark("salad").to_parquet(str(tmp_path / "export" / "data" / "test.parquet"))
    dataset = inspect_tasks.safety_dataset("salad", path=str(tmp_path / "export"))
    assert [str(s.id) for s in dataset] == [r["id"] for r in rows]
    assert [s.metadata["label"] for s in dataset] == [r["label"] for r in rows]


def test_a_set_neither_built_nor_on_the_hub_names_the_build_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    isolate(monkeypatch, tmp_path)
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    with pytest.raises(InputError, match="run `mmsafety build vlsbench`"):
        inspect_tasks.safety_dataset("vlsbench")
