"""`mmsafety respond` and `mmsafety evaluate` against the scripted OpenAI-compatible server on 127.0.0.1."""

from __future__ import annotations

import functools
import json
import os
import re
import socket
import stat
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from helpers.judging import build_fixture, fixture_rows, png, read_jsonl, write_responses
from mmsafety.cli import main
from mmsafety.transport.endpoint import RetryPolicy
from mmsafety.errors import InputError
from mmsafety.runs.files import read_responses, read_verdicts, write_jsonl_atomic, write_verdicts
from mmsafety.runs.records import InvalidImage, Sample, Verdict
from mmsafety.runs.samples import read_image_path
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
    monkeypatch.setattr("mmsafety.transport.endpoint.RetryPolicy", fast)
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


def test_each_request_carries_the_original_image_then_the_query(hf_cache: Path, tmp_path: Path, model: OpenAIServer, capsys: pytest.CaptureFixture[str]) -> None:
    rows = build_fixture(hf_cache, "vlsbench", count=4)
    assert respond(capsys, model, tmp_path / "r.jsonl")[0] == 0
    requests = {request_text(r.body).split("\n")[-1]: r.body for r in model.chat_requests()}
    for row in rows:
        body = requests[row["query"]]
        assert (body["model"], body["temperature"], body["max_tokens"]) == ("vlm-under-test", 0.0, 1024)
        [user] = body["messages"]
        image, text = user["content"]
        assert image["type"] == "image_url" and image["image_url"]["url"].startswith("data:image/png;base64,")
        assert request_images(body) == [row["image"]["bytes"]]  # the original bytes, not re-encoded
        assert text == {"type": "text", "text": row["query"]}


def test_the_system_prompt_is_sent_as_the_system_message(hf_cache: Path, tmp_path: Path, model: OpenAIServer, capsys: pytest.CaptureFixture[str]) -> None:
    build_fixture(hf_cache, "vlsbench", count=2)
    system = tmp_path / "system.txt"
    system.write_text("You are a helpful assistant.\n", encoding="utf-8")
    assert respond(capsys, model, tmp_path / "r.jsonl", "--system-prompt", system)[0] == 0
    assert all(r.body["messages"][0] == {"role": "system", "content": "You are a helpful assistant."} for r in model.chat_requests())


def test_responses_are_written_in_the_benchmarks_order(hf_cache: Path, tmp_path: Path, model: OpenAIServer, capsys: pytest.CaptureFixture[str]) -> None:
    rows = build_fixture(hf_cache, "vlsbench", count=6)
    out = tmp_path / "responses.jsonl"
    code, stdout, _ = respond(capsys, model, out, "--concurrency", "3")
    assert code == 0
    records = read_jsonl(out)
    assert [r["id"] for r in records] == [r["id"] for r in rows]
    assert all(r["model"] == "vlm-under-test" and r["finish_reason"] == "stop" and "error" not in r for r in records)
    assert records[0]["response"] == "I see 1 image(s). ANSWER=safe_refusal"
    assert "wrote 6 responses of vlm-under-test" in stdout and "answered 6 of 6 samples" in stdout


def test_concurrency_bounds_the_requests_in_flight(hf_cache: Path, tmp_path: Path, model: OpenAIServer, capsys: pytest.CaptureFixture[str]) -> None:
    build_fixture(hf_cache, "vlsbench", count=6)
    model.set_script(Script(default=model_answer, latency=0.05))  # slow enough for 3 requests to overlap
    assert respond(capsys, model, tmp_path / "r.jsonl", "--concurrency", "3")[0] == 0
    assert model.max_in_flight == 3


def test_the_key_is_sent_in_the_authorization_header_only(hf_cache: Path, tmp_path: Path, model: OpenAIServer, capsys: pytest.CaptureFixture[str]) -> None:
    build_fixture(hf_cache, "vlsbench", count=3)
    assert respond(capsys, model, tmp_path / "r.jsonl")[0] == 0
    assert all(r.headers["authorization"] == f"Bearer {SECRET}" for r in model.chat_requests())
    assert files_holding(tmp_path, SECRET) == []  # the responses, the cache and its WAL


def files_holding(folder: Path, *texts: str) -> list[str]:
    """The files under ``folder`` that hold any of ``texts``."""
    return [str(p) for p in folder.rglob("*") if p.is_file() and any(t.encode() in p.read_bytes() for t in texts)]


def test_a_rerun_is_answered_from_the_cache(hf_cache: Path, tmp_path: Path, model: OpenAIServer, capsys: pytest.CaptureFixture[str]) -> None:
    build_fixture(hf_cache, "vlsbench", count=4)
    out = tmp_path / "r.jsonl"
    assert respond(capsys, model, out)[0] == 0
    first = out.read_text()
    code, stdout, _ = respond(capsys, model, out)
    assert code == 0 and out.read_text() == first
    assert len(model.chat_requests()) == 4 and "requests made 0, cache hits 4" in stdout


def respond_requests(capsys: pytest.CaptureFixture[str], server: OpenAIServer, tmp_path: Path, *extra: object, model_name: str = "vlm-under-test") -> int:
    """The requests one `mmsafety respond` run makes (sharing tmp_path's cache)."""
    before = len(server.chat_requests())
    code = run(capsys, "respond", "vlsbench", "--base-url", server.base_url, "--model", model_name, "--out", tmp_path / "r.jsonl",
               "--cache", tmp_path / "respond.sqlite", "--no-progress", *extra)[0]
    assert code == 0
    return len(server.chat_requests()) - before


@pytest.mark.parametrize("extra", [("--max-tokens", "64"), ("--temperature", "0.7"), ("--blind",)], ids=["max-tokens", "temperature", "blind"])
def test_the_cache_key_covers_the_settings(hf_cache: Path, tmp_path: Path, model: OpenAIServer, capsys: pytest.CaptureFixture[str], extra: tuple[str, ...]) -> None:
    build_fixture(hf_cache, "vlsbench", count=4)
    respond_requests(capsys, model, tmp_path)
    assert respond_requests(capsys, model, tmp_path, *extra) == 4


def test_the_cache_key_covers_the_model(hf_cache: Path, tmp_path: Path, model: OpenAIServer, capsys: pytest.CaptureFixture[str]) -> None:
    build_fixture(hf_cache, "vlsbench", count=4)
    respond_requests(capsys, model, tmp_path)
    assert respond_requests(capsys, model, tmp_path, model_name="another-model") == 4


def test_the_cache_key_covers_the_system_prompt(hf_cache: Path, tmp_path: Path, model: OpenAIServer, capsys: pytest.CaptureFixture[str]) -> None:
    build_fixture(hf_cache, "vlsbench", count=4)
    respond_requests(capsys, model, tmp_path)
    system = tmp_path / "s.txt"
    system.write_text("Be brief.", encoding="utf-8")
    assert respond_requests(capsys, model, tmp_path, "--system-prompt", system) == 4


def test_a_limited_rerun_is_answered_from_the_cache(hf_cache: Path, tmp_path: Path, model: OpenAIServer, capsys: pytest.CaptureFixture[str]) -> None:
    build_fixture(hf_cache, "vlsbench", count=4)
    respond_requests(capsys, model, tmp_path)
    assert respond_requests(capsys, model, tmp_path, "--limit", "2") == 0
    assert [r["id"] for r in read_jsonl(tmp_path / "r.jsonl")] == ["1", "2"]


def test_no_cache_asks_again(hf_cache: Path, tmp_path: Path, model: OpenAIServer, capsys: pytest.CaptureFixture[str]) -> None:
    build_fixture(hf_cache, "vlsbench", count=4)
    respond_requests(capsys, model, tmp_path)
    assert respond_requests(capsys, model, tmp_path, "--no-cache") == 4


def test_the_same_model_name_at_another_endpoint_is_asked_again(hf_cache: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    build_fixture(hf_cache, "vlsbench", count=4)
    with OpenAIServer(Script(default="first endpoint")) as first, OpenAIServer(Script(default="second endpoint")) as second:
        respond_requests(capsys, first, tmp_path)
        assert respond_requests(capsys, second, tmp_path) == 4
    assert {r["response"] for r in read_jsonl(tmp_path / "r.jsonl")} == {"second endpoint"}


def faulty_script() -> Script:
    return Script(
        [
            Reply(status=500, times=2),
            Reply(status=429, retry_after=0.05, times=1),
            Reply(body="{not json", times=1),
            Reply(status=400, error_message=IMAGE_REJECTED, match="Question 4:"),
        ],
        default=model_answer,
    )


def test_faults_are_retried(hf_cache: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = build_fixture(hf_cache, "vlsbench", count=6)
    out = tmp_path / "r.jsonl"
    with OpenAIServer(faulty_script()) as server:
        code, stdout, _ = respond(capsys, server, out, "--concurrency", "2")
    assert code == 0 and "retries 4" in stdout
    records = {r["id"]: r for r in read_jsonl(out)}
    assert all(records[r["id"]]["response"].startswith("I see 1 image") for r in rows if r["id"] != "4")


def test_a_refused_image_is_recorded_with_its_error(hf_cache: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    build_fixture(hf_cache, "vlsbench", count=6)
    out = tmp_path / "r.jsonl"
    with OpenAIServer(faulty_script()) as server:
        code, stdout, _ = respond(capsys, server, out, "--concurrency", "2")
    assert code == 0 and "errors: model_bad_request 1" in stdout
    refused = {r["id"]: r for r in read_jsonl(out)}["4"]
    assert refused["response"] is None and refused["error"] == "model_bad_request"
    assert IMAGE_REJECTED in refused["error_detail"] and "HTTP 400" in refused["error_detail"]


def test_a_recorded_error_is_judged_invalid_with_its_reason(hf_cache: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    build_fixture(hf_cache, "vlsbench", count=6)
    out = tmp_path / "r.jsonl"
    with OpenAIServer(faulty_script()) as server:
        respond(capsys, server, out, "--concurrency", "2")
    verdicts_path = tmp_path / "v.jsonl"
    assert run(capsys, "judge", "vlsbench", "--responses", out, "--out", verdicts_path)[0] == 0
    verdicts = {v["id"]: v for v in read_jsonl(verdicts_path)}
    assert (verdicts["4"]["verdict"], verdicts["4"]["reason"]) == ("invalid", "model_bad_request")
    assert IMAGE_REJECTED in verdicts["4"]["raw"]


def test_an_endpoint_refusing_every_image_records_each_sample(hf_cache: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    build_fixture(hf_cache, "salad", count=4)
    out = tmp_path / "r.jsonl"
    with OpenAIServer(Script(reject_images=True)) as server:
        code, stdout, _ = respond(capsys, server, out, benchmark="salad")
        assert len(server.chat_requests()) == 4  # a rejection is not retried
    assert code == 0
    assert [(r["response"], r["error"]) for r in read_jsonl(out)] == [(None, "model_bad_request")] * 4
    assert "answered 0 of 4 samples" in stdout and "errors: model_bad_request 4" in stdout


def test_evaluate_reports_samples_the_endpoint_refused(hf_cache: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    build_fixture(hf_cache, "salad", count=4)
    out = tmp_path / "r.jsonl"
    with OpenAIServer(Script(reject_images=True)) as server:
        respond(capsys, server, out, benchmark="salad")
    report = tmp_path / "report"
    code, stdout, _ = run(capsys, "evaluate", "salad", "--responses", out, "--out", report, "--no-progress")
    assert code == 0
    assert "invalid by reason: model_bad_request 4" in stdout
    assert "| vlm-under-test | model_bad_request | 4 |" in (report / "report.md").read_text(encoding="utf-8")


def test_evaluate_with_the_llm_judge_against_a_faulty_judge_server(hf_cache: Path, tmp_path: Path, model: OpenAIServer, capsys: pytest.CaptureFixture[str]) -> None:
    build_fixture(hf_cache, "vlsbench", count=9)
    responses = tmp_path / "r.jsonl"
    assert respond(capsys, model, responses)[0] == 0
    script = Script([Reply(status=503, times=2), Reply(hang=2.0, times=1)], default=answer_from_response)
    out = tmp_path / "eval"
    with OpenAIServer(script) as judge_server:
        code, stdout, _ = run(
            capsys, "evaluate", "vlsbench", "--protocol", "mmsafety", "--responses", responses, "--out", out, "--model", "judge-model",
            "--base-url", judge_server.base_url, "--timeout", "0.8", "--cache", tmp_path / "judge.sqlite", "--no-progress",
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


def twelve_samples() -> list[Sample]:
    return [Sample(id=str(i), label="unsafe", query=f"Question {i}: what now?", image=png(i)) for i in range(12)]


def test_responder_in_code_keeps_the_order_of_the_samples(tmp_path: Path) -> None:
    samples = twelve_samples()
    with OpenAIServer(Script(default=model_answer, latency=0.03)) as server:
        with Responder(model="m", base_url=server.base_url, concurrency=4, cache=tmp_path / "c.sqlite") as responder:
            answers = responder.respond_many(samples)
    assert [a.id for a in answers] == [s.id for s in samples]
    assert answers[3].response == "I see 1 image(s). ANSWER=safe_warning"


def test_responder_in_code_bounds_concurrency(tmp_path: Path) -> None:
    with OpenAIServer(Script(default=model_answer, latency=0.03)) as server:
        with Responder(model="m", base_url=server.base_url, concurrency=4, cache=tmp_path / "c.sqlite") as responder:
            responder.respond_many(twelve_samples())
        assert server.max_in_flight == 4


def responder_requests(server: OpenAIServer, tmp_path: Path, batch: list[Sample], **options: Any) -> int:
    before = len(server.chat_requests())
    with Responder(model="m", base_url=server.base_url, cache=tmp_path / "c.sqlite", **options) as responder:
        responder.respond_many(batch)
    return len(server.chat_requests()) - before


@pytest.mark.parametrize(
    "changed",
    [
        Sample(id="1", label="unsafe", query="Question 1: what now?", image=png(7)),
        Sample(id="1", label="unsafe", query="Question 1: and now?", image=png(1)),
    ],
    ids=["image", "query"],
)
def test_the_responders_cache_key_covers_the_sample(tmp_path: Path, model: OpenAIServer, changed: Sample) -> None:
    samples = [Sample(id=str(i), label="unsafe", query=f"Question {i}: what now?", image=png(i)) for i in range(3)]
    assert responder_requests(model, tmp_path, samples) == 3
    assert responder_requests(model, tmp_path, samples) == 0
    assert responder_requests(model, tmp_path, [changed]) == 1


def error_responses(tmp_path: Path) -> Path:
    return write_responses(tmp_path / "r.jsonl", [
        {"id": "1", "response": None, "error": "model_timeout", "error_detail": "no answer within 120 s"},
        {"id": "2", "response": "Fine."},
    ])


def test_responses_with_an_error_read_back(tmp_path: Path) -> None:
    first, second = read_responses(error_responses(tmp_path))
    assert (first.text, first.error, first.error_detail) == ("", "model_timeout", "no answer within 120 s")
    assert second.error is None


def test_a_response_with_text_besides_an_error_is_refused(tmp_path: Path) -> None:
    both = write_responses(tmp_path / "both.jsonl", [{"id": "1", "response": "text", "error": "model_timeout"}])
    with pytest.raises(InputError, match='line 1: expected either a "response" or an "error", found both'):
        read_responses(both)


def test_an_error_that_is_not_a_string_is_refused(tmp_path: Path) -> None:
    bad = write_responses(tmp_path / "bad.jsonl", [{"id": "1", "response": None, "error": 3}])
    with pytest.raises(InputError, match='expected "error" to be a non-empty string'):
        read_responses(bad)


@pytest.mark.parametrize("judge", [YesNoJudge(), YesNoJudge(compat=True), RuleJudge()], ids=["yesno", "yesno-compat", "rules"])
def test_every_offline_judge_counts_a_recorded_error_invalid(tmp_path: Path, judge: Any) -> None:
    first, _ = read_responses(error_responses(tmp_path))
    verdict = judge.judge(Sample(id="1", label="unsafe"), first)
    assert (verdict.verdict, verdict.reason, verdict.raw) == ("invalid", "model_timeout", "no answer within 120 s")


# -- image paths that are not images ------------------------------------------------------


def path_rows(paths: list[str]) -> list[dict[str, Any]]:
    """Benchmark rows whose image column holds only a path (as a dataset built elsewhere may)."""
    rows = fixture_rows("vlsbench", len(paths))
    for row, path in zip(rows, paths):
        row["image"] = {"bytes": None, "path": path}
    return rows


def hostile_paths(tmp_path: Path) -> dict[str, str]:
    token = tmp_path / "token.txt"
    token.write_text("hf_DO-NOT-SEND-token-0123456789\n", encoding="utf-8")
    disguised = tmp_path / "disguised.bmp"  # begins like a BMP, holds a secret
    disguised.write_bytes(b"BM" + b"DO-NOT-SEND-secret-0123456789" * 4)
    fifo = tmp_path / "fifo.png"
    os.mkfifo(fifo)
    return {"hostname": "/etc/hostname", "token": str(token), "zero": "/dev/zero", "fifo": str(fifo), "disguised": str(disguised)}


def test_image_paths_that_are_not_images_send_nothing(hf_cache: Path, tmp_path: Path, model: OpenAIServer, capsys: pytest.CaptureFixture[str]) -> None:
    build_fixture(hf_cache, "vlsbench", rows=path_rows(list(hostile_paths(tmp_path).values())))
    code, stdout, _ = respond(capsys, model, tmp_path / "r.jsonl")
    assert code == 0 and "errors: invalid_image 5" in stdout
    assert model.requests == []


def test_image_paths_that_are_not_images_are_recorded_invalid_image(hf_cache: Path, tmp_path: Path, model: OpenAIServer, capsys: pytest.CaptureFixture[str]) -> None:
    paths = hostile_paths(tmp_path)
    build_fixture(hf_cache, "vlsbench", rows=path_rows(list(paths.values())))
    out = tmp_path / "r.jsonl"
    respond(capsys, model, out)
    records = read_jsonl(out)
    assert [(r["response"], r["error"]) for r in records] == [(None, "invalid_image")] * 5
    assert "not a regular file" in records[2]["error_detail"] and "not an image by its header" in records[1]["error_detail"]
    assert files_holding(tmp_path / "r.jsonl", "DO-NOT-SEND", Path("/etc/hostname").read_text().strip() + "\n") == []


def test_an_image_path_that_is_an_image_is_sent(hf_cache: Path, tmp_path: Path, model: OpenAIServer, capsys: pytest.CaptureFixture[str]) -> None:
    image = tmp_path / "picture.png"
    image.write_bytes(png(3))
    build_fixture(hf_cache, "vlsbench", rows=path_rows([str(image)]))
    respond(capsys, model, tmp_path / "r.jsonl")
    assert [request_images(r.body) for r in model.chat_requests()] == [[png(3)]]


def test_the_judge_counts_an_image_path_that_is_not_an_image_invalid(hf_cache: Path, tmp_path: Path, model: OpenAIServer, capsys: pytest.CaptureFixture[str]) -> None:
    build_fixture(hf_cache, "vlsbench", rows=path_rows(list(hostile_paths(tmp_path).values())))
    responses = write_responses(tmp_path / "r.jsonl", [(str(i), f"Answer {i}.") for i in range(1, 6)])
    out = tmp_path / "v.jsonl"
    code = run(capsys, "judge", "vlsbench", "--protocol", "mmsafety", "--responses", responses, "--out", out, "--base-url", model.base_url,
               "--model", "judge-model", "--api-key-env", KEY_ENV, "--cache", tmp_path / "j.sqlite", "--no-progress")[0]
    assert code == 0
    assert [(v["verdict"], v["reason"]) for v in read_jsonl(out)] == [("invalid", "invalid_image")] * 5
    assert model.requests == []


def test_reading_dev_zero_as_an_image_keeps_memory_bounded() -> None:
    tracemalloc.start()
    try:
        with pytest.raises(InvalidImage, match="not a regular file"):
            read_image_path("/dev/zero")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1_000_000


# -- the key in other spellings --------------------------------------------------------------


def key_spellings() -> dict[str, str]:
    return {
        "plain": SECRET,
        "percent-2D": SECRET.replace("-", "%2D"),
        "percent-2d": SECRET.replace("-", "%2d"),
        "every-character-encoded": "".join(f"%{ord(c):02x}" for c in SECRET),
        "in-a-header": f"Authorization: Bearer {SECRET}",
    }


SPELLINGS = key_spellings()


@pytest.mark.parametrize("spelling", SPELLINGS.values(), ids=SPELLINGS.keys())
def test_an_answer_echoing_the_key_is_written_masked(hf_cache: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], spelling: str) -> None:
    build_fixture(hf_cache, "vlsbench", count=2)
    out = tmp_path / "r.jsonl"
    with OpenAIServer(Script(default=f"Your request came with {spelling}.")) as server:
        assert respond(capsys, server, out)[0] == 0
    assert all("[redacted]" in r["response"] for r in read_jsonl(out))
    assert files_holding(tmp_path, *SPELLINGS.values()) == []  # responses, cache, WAL


@pytest.mark.parametrize("spelling", SPELLINGS.values(), ids=SPELLINGS.keys())
def test_an_error_echoing_the_key_is_written_masked(hf_cache: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], spelling: str) -> None:
    build_fixture(hf_cache, "vlsbench", count=2)
    out = tmp_path / "r.jsonl"
    with OpenAIServer(Script([Reply(status=400, error_message=f"cannot serve {spelling}")])) as server:
        code, stdout, err = respond(capsys, server, out)
    assert code == 0 and all("[redacted]" in r["error_detail"] for r in read_jsonl(out))
    assert files_holding(tmp_path, *SPELLINGS.values()) == []
    assert not any(v in stdout + err for v in SPELLINGS.values())


# -- blind runs --------------------------------------------------------------------------------


def test_a_blind_run_sends_no_image(hf_cache: Path, tmp_path: Path, model: OpenAIServer, capsys: pytest.CaptureFixture[str]) -> None:
    rows = build_fixture(hf_cache, "vlsbench", count=4)
    assert respond(capsys, model, tmp_path / "r.jsonl", "--blind")[0] == 0
    bodies = [r.body for r in model.chat_requests()]
    assert len(bodies) == 4 and all(request_images(b) == [] for b in bodies)
    assert all("image" not in json.dumps(b["messages"]) for b in bodies)
    assert sorted(b["messages"][-1]["content"][-1]["text"] for b in bodies) == sorted(r["query"] for r in rows)


def test_a_blind_run_keeps_the_system_prompt(hf_cache: Path, tmp_path: Path, model: OpenAIServer, capsys: pytest.CaptureFixture[str]) -> None:
    build_fixture(hf_cache, "vlsbench", count=2)
    system = tmp_path / "s.txt"
    system.write_text("Be careful.", encoding="utf-8")
    assert respond(capsys, model, tmp_path / "r.jsonl", "--blind", "--system-prompt", system)[0] == 0
    assert all(r.body["messages"][0] == {"role": "system", "content": "Be careful."} for r in model.chat_requests())


def test_a_blind_run_keeps_the_generation_settings(hf_cache: Path, tmp_path: Path, model: OpenAIServer, capsys: pytest.CaptureFixture[str]) -> None:
    build_fixture(hf_cache, "vlsbench", count=2)
    assert respond(capsys, model, tmp_path / "r.jsonl", "--blind", "--max-tokens", "77", "--temperature", "0.3")[0] == 0
    assert all((r.body["temperature"], r.body["max_tokens"]) == (0.3, 77) for r in model.chat_requests())


def test_a_blind_run_marks_each_record_blind(hf_cache: Path, tmp_path: Path, model: OpenAIServer, capsys: pytest.CaptureFixture[str]) -> None:
    build_fixture(hf_cache, "vlsbench", count=3)
    out = tmp_path / "r.jsonl"
    code, stdout, _ = respond(capsys, model, out, "--blind")
    assert code == 0 and "without the images (blind)" in stdout
    records = read_jsonl(out)
    assert [r["blind"] for r in records] == [True] * 3
    assert all(r["response"].startswith("I see 0 image(s)") for r in records)


def test_a_sighted_run_writes_no_blind_field(hf_cache: Path, tmp_path: Path, model: OpenAIServer, capsys: pytest.CaptureFixture[str]) -> None:
    build_fixture(hf_cache, "vlsbench", count=2)
    respond(capsys, model, tmp_path / "r.jsonl")
    assert all("blind" not in r for r in read_jsonl(tmp_path / "r.jsonl"))


def test_a_blind_run_is_cached_apart_from_the_sighted_run(hf_cache: Path, tmp_path: Path, model: OpenAIServer, capsys: pytest.CaptureFixture[str]) -> None:
    build_fixture(hf_cache, "vlsbench", count=3)
    respond_requests(capsys, model, tmp_path, "--blind")
    assert respond_requests(capsys, model, tmp_path) == 3
    assert respond_requests(capsys, model, tmp_path, "--blind") == 0
    assert all(r["blind"] for r in read_jsonl(tmp_path / "r.jsonl"))


def test_a_blind_run_reads_no_image(tmp_path: Path, model: OpenAIServer) -> None:
    def unreadable() -> bytes:
        raise AssertionError("a blind run read an image")

    sample = Sample(id="1", label="unsafe", query="Question 1: what now?", image_loader=unreadable)
    with Responder(model="m", base_url=model.base_url, blind=True) as responder:
        [answer] = responder.respond_many([sample])
    assert answer.response == "I see 0 image(s). ANSWER=safe_refusal"


def test_reading_responses_keeps_the_blind_flag(tmp_path: Path) -> None:
    path = write_responses(tmp_path / "r.jsonl", [{"id": "1", "response": "No.", "blind": True}, {"id": "2", "response": "No."}])
    assert [r.blind for r in read_responses(path)] == [True, False]


def test_a_blind_flag_that_is_not_a_boolean_is_refused(tmp_path: Path) -> None:
    path = write_responses(tmp_path / "r.jsonl", [{"id": "1", "response": "No.", "blind": "yes"}])
    with pytest.raises(InputError, match='line 1: expected "blind" to be true or false, found a JSON string'):
        read_responses(path)


def test_verdicts_of_a_blind_run_are_marked_blind(hf_cache: Path, tmp_path: Path, model: OpenAIServer, capsys: pytest.CaptureFixture[str]) -> None:
    build_fixture(hf_cache, "vlsbench", count=3)
    responses = tmp_path / "r.jsonl"
    respond(capsys, model, responses, "--blind")
    verdicts = tmp_path / "v.jsonl"
    assert run(capsys, "judge", "vlsbench", "--responses", responses, "--out", verdicts)[0] == 0
    assert [v["blind"] for v in read_verdicts(verdicts)] == [True] * 3


# -- permissions of the files written ------------------------------------------------------------


@pytest.fixture
def umask_022() -> Iterator[None]:
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def test_a_responses_file_gets_the_umasks_permissions(hf_cache: Path, tmp_path: Path, model: OpenAIServer, capsys: pytest.CaptureFixture[str], umask_022: None) -> None:
    build_fixture(hf_cache, "vlsbench", count=2)
    respond(capsys, model, tmp_path / "r.jsonl")
    assert stat.S_IMODE((tmp_path / "r.jsonl").stat().st_mode) == 0o644


def test_a_verdicts_file_gets_the_umasks_permissions(tmp_path: Path, umask_022: None) -> None:
    write_verdicts(tmp_path / "v.jsonl", [Verdict("1", "safe", "unsafe", "", "", "rules", "1")])
    assert stat.S_IMODE((tmp_path / "v.jsonl").stat().st_mode) == 0o644


def test_a_tighter_umask_is_respected(tmp_path: Path) -> None:
    old = os.umask(0o077)
    try:
        write_jsonl_atomic(tmp_path / "r.jsonl", [{"id": "1"}])
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "r.jsonl").stat().st_mode) == 0o600


def test_a_rewritten_file_keeps_its_own_permissions(tmp_path: Path, umask_022: None) -> None:
    target = tmp_path / "v.jsonl"
    target.write_text("old\n")
    target.chmod(0o640)
    write_jsonl_atomic(target, [{"id": "1"}])
    assert stat.S_IMODE(target.stat().st_mode) == 0o640 and target.read_text() == '{"id": "1"}\n'


def test_a_write_leaves_no_temporary_file(tmp_path: Path, umask_022: None) -> None:
    write_jsonl_atomic(tmp_path / "v.jsonl", [{"id": "1"}])
    assert [p.name for p in tmp_path.iterdir()] == ["v.jsonl"]


# -- a judge endpoint that does not answer -------------------------------------------------------


def judge_cli(capsys: pytest.CaptureFixture[str], command: str, responses: Path, out: Path, url: str, *extra: object) -> tuple[int, str, str]:
    return run(capsys, command, "vlsbench", "--protocol", "mmsafety", "--responses", responses, "--out", out, "--model", "judge-model", "--base-url", url,
               "--api-key-env", KEY_ENV, "--cache", out.parent / "judge.sqlite", "--no-progress", *extra)


def answered_responses(tmp_path: Path, count: int) -> Path:
    return write_responses(tmp_path / "r.jsonl", [(str(i), f"Response {i}. ANSWER=unsafe") for i in range(1, count + 1)])


@pytest.mark.parametrize("command", ["judge", "evaluate"])
def test_a_dead_judge_port_ends_the_run_with_one_line(hf_cache: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str) -> None:
    build_fixture(hf_cache, "vlsbench", count=12)
    capsys.readouterr()
    url = f"http://127.0.0.1:{_free_port()}/v1"
    out = tmp_path / ("v.jsonl" if command == "judge" else "eval")
    start = time.perf_counter()
    code, _, err = judge_cli(capsys, command, answered_responses(tmp_path, 12), out, url)
    assert time.perf_counter() - start < 10
    assert code == 2
    (line,) = err.strip().splitlines()
    assert line.startswith(f"mmsafety {command}: error: no answer from the judge endpoint {url}") and "connection error" in line
    assert not out.exists()


def test_a_hanging_judge_endpoint_ends_the_run_within_seconds(hf_cache: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    build_fixture(hf_cache, "vlsbench", count=12)
    with OpenAIServer(Script([Reply(hang=5.0)])) as server:
        start = time.perf_counter()
        code, _, err = judge_cli(capsys, "judge", answered_responses(tmp_path, 12), tmp_path / "v.jsonl", server.base_url, "--timeout", "0.3")
        assert time.perf_counter() - start < 4
    assert code == 2 and "no answer within 0.3 s" in err and server.base_url in err


def test_a_judge_endpoint_that_stops_answering_keeps_the_answers_cached(hf_cache: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    build_fixture(hf_cache, "vlsbench", count=12)
    responses = answered_responses(tmp_path, 12)
    with OpenAIServer(Script([Reply(times=3), Reply(hang=5.0)], default=answer_from_response)) as server:
        code, _, err = judge_cli(capsys, "judge", responses, tmp_path / "v.jsonl", server.base_url, "--timeout", "0.3", "--concurrency", "1", "--max-attempts", "1")
        port = int(server.base_url.rsplit(":", 1)[1].split("/")[0])
    assert code == 2 and "requests in a row" in err and "rerun to resume" in err
    with OpenAIServer(Script(default=answer_from_response), port=port) as server:  # the same endpoint, answering again
        code, stdout, _ = judge_cli(capsys, "judge", responses, tmp_path / "v.jsonl", server.base_url)
        assert len(server.chat_requests()) == 9
    assert code == 0 and "cache hits 3" in stdout
