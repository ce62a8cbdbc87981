"""`mmsafety respond` and `mmsafety evaluate` against the scripted OpenAI-compatible server on 127.0.0.1."""

from __future__ import annotations

import functools
import json
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from helpers.judging import build_fixture, read_jsonl, write_responses
from mmsafety.cli import main
from mmsafety.runs.endpoint import RetryPolicy
from mmsafety.errors import InputError
from mmsafety.runs.records import Sample
from mmsafety.runs.files import read_responses
from mmsafety.judges.rules import RuleJudge
from mmsafety.judges.yesno import YesNoJudge
from mmsafety.runs.respond import Responder
from helpers.openai_server import IMAGE_REJECTED, OpenAIServer, Reply, Script, request_images, request_text
from helpers.openai_server import answer_from_response

SECRET = "sk-test-RESPOND-DO-NOT-LEAK-77aa11"
KEY_ENV = "MMSAFETY_TEST_MODEL_KEY"
WORDS = ("safe_warning", "safe_refusal", "unsafe")


def model_answer(body: Any) -> str:
    """The model under test: answers each query with a word the judge server reads back
    (``ANSWER=<word>``, cycling by question number) and says how many images it saw."""
    number = int(re.search(r"Question (\d+)", request_text(body)).group(1))
    return f"I see {len(request_images(body))} image(s). ANSWER={WORDS[number % 3]}"


@pytest.fixture(autouse=True)
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test writes the user's own answer caches; a key is in the environment; the
    command line's retries wait milliseconds, not seconds."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    monkeypatch.setenv(KEY_ENV, SECRET)
    fast = functools.partial(RetryPolicy, base_delay=0.01, max_delay=0.05)
    monkeypatch.setattr("mmsafety.runs.endpoint.RetryPolicy", fast)
    monkeypatch.setattr("mmsafety.judges.llm.RetryPolicy", fast)


@pytest.fixture
def model() -> Iterator[OpenAIServer]:
    with OpenAIServer(Script(default=model_answer)) as running:
        yield running


def run(capsys: pytest.CaptureFixture[str], *argv: object) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def respond(capsys: pytest.CaptureFixture[str], server: OpenAIServer, out: Path, *extra: object, benchmark: str = "vlsbench") -> tuple[int, str, str]:
    return run(
        capsys, "respond", benchmark, "--base-url", server.base_url, "--model", "vlm-under-test", "--out", out,
        "--api-key-env", KEY_ENV, "--cache", out.parent / "respond.sqlite", "--no-progress", *extra,
    )


def test_sends_the_image_and_the_query_and_writes_responses(hf_cache: Path, tmp_path: Path, model: OpenAIServer, capsys: pytest.CaptureFixture[str]) -> None:
    rows = build_fixture(hf_cache, "vlsbench", count=6)
    capsys.readouterr()
    system = tmp_path / "system.txt"
    system.write_text("You are a helpful assistant.\n", encoding="utf-8")
    out = tmp_path / "responses.jsonl"
    model.set_script(Script(default=model_answer, latency=0.05))  # slow enough for 3 requests to overlap
    code, stdout, _ = respond(capsys, model, out, "--system-prompt", system, "--concurrency", "3")
    assert code == 0
    records = read_jsonl(out)
    assert [r["id"] for r in records] == [r["id"] for r in rows]  # the benchmark's order
    assert all(r["model"] == "vlm-under-test" and r["finish_reason"] == "stop" and "error" not in r for r in records)
    assert records[0]["response"] == "I see 1 image(s). ANSWER=safe_refusal"
    assert "wrote 6 responses of vlm-under-test" in stdout and "answered 6 of 6 samples" in stdout

    requests = {request_text(r.body).split("\n")[-1]: r for r in model.chat_requests()}
    assert len(requests) == 6
    for row in rows:
        request = requests[row["query"]]
        body = request.body
        assert request.headers["authorization"] == f"Bearer {SECRET}"
        assert (body["model"], body["temperature"], body["max_tokens"]) == ("vlm-under-test", 0.0, 1024)
        system_message, user = body["messages"]
        assert system_message == {"role": "system", "content": "You are a helpful assistant."}
        image, text = user["content"]
        assert image["type"] == "image_url" and image["image_url"]["url"].startswith("data:image/png;base64,")
        assert request_images(body) == [row["image"]["bytes"]]  # the original bytes, not re-encoded
        assert text == {"type": "text", "text": row["query"]}
    assert model.max_in_flight == 3  # --concurrency 3: three at a time, never more
    for path in tmp_path.rglob("*"):  # the responses, the cache and its WAL
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path


def test_a_rerun_is_answered_from_the_cache_and_the_key_covers_the_settings(hf_cache: Path, tmp_path: Path, model: OpenAIServer, capsys: pytest.CaptureFixture[str]) -> None:
    build_fixture(hf_cache, "vlsbench", count=4)
    out = tmp_path / "r.jsonl"
    assert respond(capsys, model, out)[0] == 0
    first = out.read_text()
    assert len(model.chat_requests()) == 4

    code, stdout, _ = respond(capsys, model, out)
    assert code == 0 and out.read_text() == first
    assert len(model.chat_requests()) == 4 and "requests made 0, cache hits 4" in stdout

    def requests_for(*extra: object, model_name: str = "vlm-under-test") -> int:
        before = len(model.chat_requests())
        assert run(capsys, "respond", "vlsbench", "--base-url", model.base_url, "--model", model_name, "--out", out,
                   "--cache", tmp_path / "respond.sqlite", "--no-progress", *extra)[0] == 0
        return len(model.chat_requests()) - before

    assert requests_for("--max-tokens", "64") == 4
    assert model.chat_requests()[-1].body["max_tokens"] == 64
    assert requests_for("--temperature", "0.7") == 4
    assert model.chat_requests()[-1].body["temperature"] == 0.7
    assert requests_for(model_name="another-model") == 4
    system = tmp_path / "s.txt"
    system.write_text("Be brief.", encoding="utf-8")
    assert requests_for("--system-prompt", system) == 4
    assert requests_for("--limit", "2") == 0  # answered already
    assert [r["id"] for r in read_jsonl(out)] == ["1", "2"]
    assert requests_for("--no-cache") == 4


def test_faults_are_retried_and_refused_images_recorded_then_judged_invalid(hf_cache: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = build_fixture(hf_cache, "vlsbench", count=6)
    script = Script(
        [
            Reply(status=500, times=2),
            Reply(status=429, retry_after=0.05, times=1),
            Reply(body="{not json", times=1),
            Reply(status=400, error_message=IMAGE_REJECTED, match="Question 4:"),
        ],
        default=model_answer,
    )
    out = tmp_path / "r.jsonl"
    with OpenAIServer(script) as server:
        code, stdout, _ = respond(capsys, server, out, "--concurrency", "2")
    assert code == 0
    records = {r["id"]: r for r in read_jsonl(out)}
    assert len(records) == 6
    refused = records["4"]
    assert refused["response"] is None and refused["error"] == "model_bad_request"
    assert IMAGE_REJECTED in refused["error_detail"] and "HTTP 400" in refused["error_detail"]
    assert all(records[r["id"]]["response"].startswith("I see 1 image") for r in rows if r["id"] != "4")
    assert "errors: model_bad_request 1" in stdout and "retries 4" in stdout

    verdicts_path = tmp_path / "v.jsonl"
    assert run(capsys, "judge", "vlsbench", "--responses", out, "--out", verdicts_path)[0] == 0
    verdicts = {v["id"]: v for v in read_jsonl(verdicts_path)}
    assert (verdicts["4"]["verdict"], verdicts["4"]["reason"]) == ("invalid", "model_bad_request")
    assert IMAGE_REJECTED in verdicts["4"]["raw"]
    assert verdicts["1"]["benchmark"] == "mmsafety/vlsbench"


def test_an_endpoint_refusing_every_image_records_each_sample_and_goes_on(hf_cache: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    build_fixture(hf_cache, "salad", count=4)
    out = tmp_path / "r.jsonl"
    with OpenAIServer(Script(reject_images=True)) as server:
        code, stdout, _ = respond(capsys, server, out, benchmark="salad")
        assert len(server.chat_requests()) == 4  # a rejection is not retried
    assert code == 0
    records = read_jsonl(out)
    assert [(r["response"], r["error"]) for r in records] == [(None, "model_bad_request")] * 4
    assert "answered 0 of 4 samples" in stdout and "errors: model_bad_request 4" in stdout

    report = tmp_path / "report"
    code, stdout, _ = run(capsys, "evaluate", "salad", "--responses", out, "--out", report, "--no-progress")
    assert code == 0
    assert "invalid by reason: model_bad_request 4" in stdout
    markdown = (report / "report.md").read_text(encoding="utf-8")
    assert "| vlm-under-test | model_bad_request | 4 |" in markdown


def test_evaluate_with_the_llm_judge_against_a_faulty_judge_server(hf_cache: Path, tmp_path: Path, model: OpenAIServer, capsys: pytest.CaptureFixture[str]) -> None:
    build_fixture(hf_cache, "vlsbench", count=9)
    responses = tmp_path / "r.jsonl"
    assert respond(capsys, model, responses)[0] == 0
    script = Script([Reply(status=503, times=2), Reply(hang=1.0, times=1)], default=answer_from_response)
    out = tmp_path / "eval"
    with OpenAIServer(script) as judge_server:
        code, stdout, _ = run(
            capsys, "evaluate", "vlsbench", "--protocol", "mmsafety", "--responses", responses, "--out", out, "--model", "judge-model",
            "--base-url", judge_server.base_url, "--timeout", "0.3", "--cache", tmp_path / "judge.sqlite", "--no-progress",
        )
    assert code == 0
    verdicts = read_jsonl(out / "verdicts.jsonl")
    # questions 1..9 answer ANSWER=<WORDS[n % 3]>: 3 refusals, 3 warnings (safe), 3 unsafe
    assert sorted(v["verdict"] for v in verdicts) == ["refusal"] * 3 + ["safe"] * 3 + ["unsafe"] * 3
    assert all(v["judge"] == "llm" and v["model"] == "vlm-under-test" for v in verdicts)
    assert "retries 3" in stdout and "refusal rate 33.33" in stdout and "safe-response rate 66.67" in stdout
    for name in ("report.md", "report.html", "results.tex", "vlsbench-headline.png", "vlsbench-by-category.png", "scores.json"):
        assert (out / name).is_file(), name
    scores = json.loads((out / "scores.json").read_text())
    assert scores["benchmarks"]["mmsafety/vlsbench"]["models"]["vlm-under-test"]["warning_rate_numerator"] == 3
    markdown = (out / "report.md").read_text(encoding="utf-8")
    assert "| vlm-under-test | ours | 33.33 | 33.33 | 66.67 |" in markdown  # beside the paper's columns


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_base_url_that_does_not_answer_is_one_line_without_traceback(hf_cache: Path, tmp_path: Path) -> None:
    build_fixture(hf_cache, "vlsbench", count=3)
    url = f"http://127.0.0.1:{_free_port()}/v1"
    out = tmp_path / "r.jsonl"
    start = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "mmsafety.cli", "respond", "vlsbench", "--base-url", url, "--model", "m", "--out", str(out),
         "--timeout", "1", "--max-attempts", "2", "--cache", str(tmp_path / "c.sqlite")],
        capture_output=True, text=True, timeout=60,
    )
    assert time.perf_counter() - start < 20
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("mmsafety respond: error: no answer from the model endpoint " + url)
    assert "connection error" in line and "gave up after 2 attempts" in line and "--base-url" in line
    assert not out.exists()


def test_an_endpoint_that_hangs_stops_after_the_timeout(hf_cache: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    build_fixture(hf_cache, "vlsbench", count=2)
    with OpenAIServer(Script([Reply(hang=3.0)])) as server:
        start = time.perf_counter()
        code, _, err = respond(capsys, server, tmp_path / "r.jsonl", "--timeout", "0.3", "--max-attempts", "2")
        assert time.perf_counter() - start < 2.5
    assert code == 2 and "no answer within 0.3 s" in err and server.base_url in err


def test_a_refused_key_stops_the_run_without_leaking_it(hf_cache: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    build_fixture(hf_cache, "vlsbench", count=2)
    with OpenAIServer(Script([Reply(status=401, error_message=f"Incorrect API key provided: {SECRET}")])) as server:
        code, out, err = respond(capsys, server, tmp_path / "r.jsonl")
    assert code == 2
    assert "the model endpoint" in err and "refused the API key (HTTP 401)" in err and KEY_ENV in err
    assert SECRET not in err + out


def test_bad_options_are_one_line_errors(hf_cache: Path, tmp_path: Path, model: OpenAIServer, capsys: pytest.CaptureFixture[str]) -> None:
    build_fixture(hf_cache, "vlsbench", count=2)
    out = tmp_path / "r.jsonl"
    for extra, message in (
        (("--concurrency", "0"), "expected --concurrency of at least 1"),
        (("--limit", "0"), "expected --limit of at least 1"),
        (("--system-prompt", tmp_path / "missing.txt"), "cannot read the system prompt"),
    ):
        code, _, err = respond(capsys, model, out, *extra)
        assert code == 2 and message in err, err
    code, _, err = run(capsys, "respond", "mmsafety/not-built", "--base-url", model.base_url, "--model", "m", "--out", out)
    assert code == 2 and "is not built" in err


def test_responder_in_code_keeps_order_and_bounds_concurrency(tmp_path: Path) -> None:
    from helpers.judging import png

    samples = [Sample(id=str(i), label="unsafe", query=f"Question {i}: what now?", image=png(i)) for i in range(12)]
    with OpenAIServer(Script(default=model_answer, latency=0.03)) as server:
        with Responder(model="m", base_url=server.base_url, concurrency=4, cache=tmp_path / "c.sqlite",
                       retry=RetryPolicy(max_attempts=2, base_delay=0.01)) as responder:
            answers = responder.respond_many(samples)
        assert server.max_in_flight == 4
    assert [a.id for a in answers] == [s.id for s in samples]
    assert answers[3].response == "I see 1 image(s). ANSWER=safe_warning"


def test_the_responders_cache_key_covers_the_image_and_the_query(tmp_path: Path) -> None:
    from helpers.judging import png

    samples = [Sample(id=str(i), label="unsafe", query=f"Question {i}: what now?", image=png(i)) for i in range(3)]
    changed = [
        Sample(id="1", label="unsafe", query="Question 1: what now?", image=png(7)),  # another picture
        Sample(id="1", label="unsafe", query="Question 1: and now?", image=png(1)),  # another query
    ]
    with OpenAIServer(Script(default=model_answer)) as server:
        def requests_for(batch: list[Sample]) -> int:
            before = len(server.chat_requests())
            with Responder(model="m", base_url=server.base_url, cache=tmp_path / "c.sqlite") as responder:
                responder.respond_many(batch)
            return len(server.chat_requests()) - before

        assert requests_for(samples) == 3
        assert requests_for(samples) == 0  # answered from the cache
        assert requests_for(changed) == 2


def test_responses_with_an_error_read_back_and_are_checked(tmp_path: Path) -> None:
    path = write_responses(tmp_path / "r.jsonl", [
        {"id": "1", "response": None, "error": "model_timeout", "error_detail": "no answer within 120 s"},
        {"id": "2", "response": "Fine."},
    ])
    first, second = read_responses(path)
    assert (first.text, first.error, first.error_detail) == ("", "model_timeout", "no answer within 120 s")
    assert second.error is None
    both = write_responses(tmp_path / "both.jsonl", [{"id": "1", "response": "text", "error": "model_timeout"}])
    with pytest.raises(InputError, match='line 1: expected either a "response" or an "error", found both'):
        read_responses(both)
    sample = Sample(id="1", label="unsafe")
    for judge in (YesNoJudge(), YesNoJudge(compat=True), RuleJudge()):
        verdict = judge.judge(sample, first)
        assert (verdict.verdict, verdict.reason, verdict.raw) == ("invalid", "model_timeout", "no answer within 120 s")
    bad = write_responses(tmp_path / "bad.jsonl", [{"id": "1", "response": None, "error": 3}])
    with pytest.raises(InputError, match='expected "error" to be a non-empty string'):
        read_responses(bad)
