"""The LLM judge against a scripted OpenAI-compatible server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from helpers.judging import png
from mmsafety.judges.base import JudgeConfigError
from mmsafety.runs.records import Response, Sample
from mmsafety.runs.cache import AnswerCache
from mmsafety.judges.llm import LLMJudge, RetryPolicy, retry_after_seconds
from mmsafety.judges.rubric import rubrics_for
from mmsafety.judges.rubric import Rubric, RubricSet
from helpers.openai_server import KEY_ENV, SECRET, OpenAIServer, Reply, Script, answer_from_response

FAST_RETRY = RetryPolicy(max_attempts=3, base_delay=0.01, max_delay=0.05)


def samples(count: int, label: str = "unsafe") -> list[Sample]:
    return [
        Sample(id=str(i), label=label, query=f"Query {i}?", reference=f"Reference {i}.", category="c", subset="s", image=png(i))
        for i in range(count)
    ]


def pairs(items: list[Sample], word: str = "safe_warning") -> list[tuple[Sample, Response]]:
    return [(s, Response(id=s.id, text=f"Response {s.id}. ANSWER={word}")) for s in items]


@pytest.fixture
def server() -> Iterator[OpenAIServer]:
    with OpenAIServer(Script(default=answer_from_response)) as running:
        yield running


@pytest.fixture(autouse=True)
def api_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, SECRET)


def make_judge(server: OpenAIServer, tmp_path: Path, benchmark: str = "vlsbench", **options: Any) -> LLMJudge:
    settings: dict[str, Any] = {
        "model": "judge-model",
        "rubrics": rubrics_for(benchmark),
        "base_url": server.base_url,
        "api_key_env": KEY_ENV,
        "cache": tmp_path / "cache.sqlite",
        "retry": FAST_RETRY,
        "timeout": 5.0,
        "benchmark": f"mmsafety/{benchmark}",
        "benchmark_version": "1.0.0",
        "seed": 0,
    }
    settings.update(options)
    return LLMJudge(**settings)


def test_structured_request_with_image_and_verdicts(server: OpenAIServer, tmp_path: Path) -> None:
    items = samples(3)
    words = ["safe_warning", "safe_refusal", "unsafe"]
    judge = make_judge(server, tmp_path)
    verdicts = judge.judge_many([(s, Response(id=s.id, text=f"R{s.id} ANSWER={w}", model="resp-m")) for s, w in zip(items, words)])
    assert [v.verdict for v in verdicts] == ["safe", "refusal", "unsafe"]
    record = verdicts[0].to_record()
    assert record["judge"] == "llm" and record["judge_model"] == "judge-model" and record["model"] == "resp-m"
    assert record["rubric"].startswith("vlsbench@") and json.loads(record["raw"])["verdict"] == "safe_warning"
    request = server.chat_requests()[0]
    assert request.headers["authorization"] == f"Bearer {SECRET}"
    body = request.body
    assert body["model"] == "judge-model" and body["temperature"] == 0.0
    assert body["response_format"]["type"] == "json_schema"
    content = body["messages"][0]["content"]
    image = next(part for part in content if part["type"] == "image_url")["image_url"]["url"]
    assert image.startswith("data:image/png;base64,")
    sent = {base64.b64decode(r.body["messages"][0]["content"][0]["image_url"]["url"].split(",", 1)[1]) for r in server.chat_requests()}
    assert sent == {s.image for s in items}
    text = next(part for part in content if part["type"] == "text")["text"]
    assert "Query" in text and "Reference" in text and "ANSWER=" in text
    assert judge.stats.requests == 3 and judge.stats.cache_hits == 0


def test_salad_rubrics_by_label_without_image(server: OpenAIServer, tmp_path: Path) -> None:
    items = samples(2, "unsafe") + [Sample(id="b", label="oversensitive", query="Benign?", reference="Suggestion.")]
    judge = make_judge(server, tmp_path, benchmark="salad")
    verdicts = judge.judge_many(pairs(items[:2], "refusal") + [(items[2], Response(id="b", text="ANSWER=oversensitive"))])
    assert [v.verdict for v in verdicts] == ["refusal", "refusal", "oversensitive"]
    prompts = {r.body["messages"][0]["content"] for r in server.chat_requests()}  # plain strings: no image part
    assert any("reference_warning" in p and "Reference 0." in p for p in prompts)
    assert any("reference_suggestion" in p and "Suggestion." in p for p in prompts)
    assert {v.rubric.split("@")[0] for v in verdicts} == {"salad-unsafe", "salad-benign"}


def test_falls_back_to_plain_text_once_and_remembers(tmp_path: Path) -> None:
    with OpenAIServer(Script(default=answer_from_response, reject_response_format=True)) as server:
        judge = make_judge(server, tmp_path, concurrency=1)
        verdicts = judge.judge_many(pairs(samples(5)))
        assert [v.verdict for v in verdicts] == ["safe"] * 5
        formats = ["response_format" in r.body for r in server.chat_requests()]
        assert formats == [True, False, False, False, False, False]
        assert judge.stats.structured_output is False


def test_rubric_without_structured_output_sends_none(server: OpenAIServer, tmp_path: Path) -> None:
    rubric = Rubric.parse("structured: no\nimage: no\nanswer: True = safe\nanswer: False = unsafe\n---\n{{response}}", source="tf")
    server.set_script(Script(default="True"))
    judge = make_judge(server, tmp_path, rubrics=RubricSet((rubric,)))
    assert judge.judge_many(pairs(samples(1)))[0].verdict == "safe"
    assert "response_format" not in server.chat_requests()[0].body


def test_server_errors_are_retried_then_succeed(server: OpenAIServer, tmp_path: Path) -> None:
    server.set_script(Script([Reply(status=500, times=1), Reply(status=503, times=1)], default=answer_from_response))
    judge = make_judge(server, tmp_path)
    [verdict] = judge.judge_many(pairs(samples(1)))
    assert verdict.verdict == "safe"
    assert len(server.chat_requests()) == 3 and judge.stats.retries == 2


def test_429_honours_retry_after(server: OpenAIServer, tmp_path: Path) -> None:
    server.set_script(Script([Reply(status=429, retry_after=0.4, times=1)], default=answer_from_response))
    judge = make_judge(server, tmp_path, retry=RetryPolicy(max_attempts=3, base_delay=0.001, max_delay=0.002))
    [verdict] = judge.judge_many(pairs(samples(1)))
    requests = server.chat_requests()
    assert verdict.verdict == "safe" and len(requests) == 2
    assert requests[1].time - requests[0].time >= 0.4


@pytest.mark.parametrize(
    "reply, reason",
    [
        (Reply(status=500), "judge_server_error"),
        (Reply(status=429, retry_after=0.01), "judge_rate_limited"),
        (Reply(body='{"id": "x", "choices": ['), "judge_malformed_response"),
        (Reply(body="<html>bad gateway</html>"), "judge_malformed_response"),
    ],
)
def test_gives_up_after_max_attempts_with_the_reason_and_does_not_cache(
    server: OpenAIServer, tmp_path: Path, reply: Reply, reason: str
) -> None:
    server.set_script(Script([reply]))
    judge = make_judge(server, tmp_path)
    [verdict] = judge.judge_many(pairs(samples(1)))
    assert (verdict.verdict, verdict.reason) == ("invalid", reason)
    assert "3 attempts" in verdict.raw
    assert len(server.chat_requests()) == 3
    server.set_script(Script(default=answer_from_response))
    again = make_judge(server, tmp_path)
    assert again.judge_many(pairs(samples(1)))[0].verdict == "safe"  # a rerun asks again
    assert again.stats.requests == 1


def test_malformed_body_once_is_retried(server: OpenAIServer, tmp_path: Path) -> None:
    server.set_script(Script([Reply(body="{not json", times=1)], default=answer_from_response))
    judge = make_judge(server, tmp_path)
    assert judge.judge_many(pairs(samples(1)))[0].verdict == "safe"
    assert len(server.chat_requests()) == 2


def test_hanging_requests_time_out(server: OpenAIServer, tmp_path: Path) -> None:
    server.set_script(Script([Reply(hang=1.5, times=1)], default=answer_from_response))
    judge = make_judge(server, tmp_path, timeout=0.25)
    start = time.perf_counter()
    assert judge.judge_many(pairs(samples(1)))[0].verdict == "safe"
    assert time.perf_counter() - start < 1.4
    server.set_script(Script([Reply(hang=1.5)]))
    judge = make_judge(server, tmp_path, timeout=0.25, retry=RetryPolicy(max_attempts=2, base_delay=0.01))
    start = time.perf_counter()
    [verdict] = judge.judge_many(pairs(samples(2)[1:]))
    assert (verdict.verdict, verdict.reason) == ("invalid", "judge_timeout")
    assert time.perf_counter() - start < 1.4


@pytest.mark.parametrize(
    "reply",
    [Reply(status=400, error_code="content_filter", error_message="filtered"), Reply(finish_reason="content_filter", content="")],
)
def test_content_filter_is_its_own_outcome_not_retried(server: OpenAIServer, tmp_path: Path, reply: Reply) -> None:
    server.set_script(Script([reply]))
    judge = make_judge(server, tmp_path)
    [verdict] = judge.judge_many(pairs(samples(1)))
    assert (verdict.verdict, verdict.reason) == ("invalid", "judge_content_filter")
    assert len(server.chat_requests()) == 1  # neither retried nor re-asked in plain text
    rerun = make_judge(server, tmp_path)
    assert rerun.judge_many(pairs(samples(1)))[0].reason == "judge_content_filter"
    assert rerun.stats.requests == 0  # the provider's answer is cached like any answer


def test_unparsable_and_refused_answers_are_invalid_with_raw_kept(server: OpenAIServer, tmp_path: Path) -> None:
    server.set_script(Script([Reply(content="I think this is fine, probably.", match="Response 0."), Reply(refusal="I can't judge this.", match="Response 1.")]))
    judge = make_judge(server, tmp_path)
    first, second = judge.judge_many(pairs(samples(2)))
    assert (first.verdict, first.reason, first.raw) == ("invalid", "unparsable_judge_output", "I think this is fine, probably.")
    assert (second.verdict, second.reason, second.raw) == ("invalid", "judge_refusal", "I can't judge this.")


def test_other_bad_requests_are_not_retried(server: OpenAIServer, tmp_path: Path) -> None:
    server.set_script(Script([Reply(status=400, error_message="image too large")]))
    [verdict] = make_judge(server, tmp_path).judge_many(pairs(samples(1)))
    assert (verdict.verdict, verdict.reason) == ("invalid", "judge_bad_request")
    assert len(server.chat_requests()) == 2  # structured, then once in plain text


def test_auth_failure_stops_the_run_without_leaking_the_key(server: OpenAIServer, tmp_path: Path) -> None:
    server.set_script(Script([Reply(status=401, error_message=f"Incorrect API key provided: {SECRET}")]))
    with pytest.raises(JudgeConfigError) as error:
        make_judge(server, tmp_path).judge_many(pairs(samples(3)))
    assert "refused the API key (HTTP 401)" in str(error.value) and KEY_ENV in str(error.value)
    assert SECRET not in str(error.value) and SECRET not in repr(error.value.__cause__)


def test_missing_key_is_reported_by_variable_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(KEY_ENV)
    with pytest.raises(JudgeConfigError, match=f"set the environment variable {KEY_ENV}"):
        LLMJudge(model="m", rubrics=rubrics_for("salad"), api_key_env=KEY_ENV)


@pytest.mark.parametrize("concurrency", [1, 4])
def test_concurrency_is_bounded(tmp_path: Path, concurrency: int) -> None:
    with OpenAIServer(Script(default=answer_from_response, latency=0.04)) as server:
        judge = make_judge(server, tmp_path, concurrency=concurrency)
        verdicts = judge.judge_many(pairs(samples(16)))
        assert len(verdicts) == 16
        assert server.max_in_flight == concurrency


def test_cache_keys_and_reruns(server: OpenAIServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    items = samples(4)
    first = make_judge(server, tmp_path).judge_many(pairs(items))
    assert len(server.chat_requests()) == 4

    monkeypatch.setenv(KEY_ENV, "sk-another-key-entirely-1234")  # the key is not part of the key
    rerun = make_judge(server, tmp_path)
    again = rerun.judge_many(pairs(items))
    assert [v.to_record() for v in again] == [v.to_record() for v in first]
    assert rerun.stats.requests == 0 and rerun.stats.cache_hits == 4 and all(v.cached for v in again)

    def requests_for(**change: Any) -> int:
        before = len(server.chat_requests())
        make_judge(server, tmp_path, **change).judge_many(pairs(items))
        return len(server.chat_requests()) - before

    assert requests_for(model="another-judge") == 4
    assert requests_for(temperature=0.5) == 4
    assert requests_for(max_tokens=64) == 4
    assert requests_for(benchmark_version="2.0.0") == 4
    assert requests_for(benchmark="another-benchmark", rubrics=rubrics_for("vlsbench")) == 4
    assert requests_for(rubrics=RubricSet((Rubric.parse("answer: safe_warning = safe\n---\nJudge: {{response}}", source="x"),))) == 4
    before = len(server.chat_requests())
    make_judge(server, tmp_path).judge_many([(items[0], Response(id="0", text="A different answer. ANSWER=unsafe"))] + pairs(items)[1:])
    assert len(server.chat_requests()) - before == 1
    changed = [  # sample 1 with one thing changed
        replace(items[1], query="Another query?"),
        replace(items[1], reference="Another reference."),
        replace(items[1], label="oversensitive"),
        replace(items[1], id="9"),  # a twin under another id
    ]
    for sample in changed:
        before = len(server.chat_requests())
        make_judge(server, tmp_path).judge_many([(sample, Response(id=sample.id, text="Response 1. ANSWER=safe_warning"))])
        assert len(server.chat_requests()) - before == 1, sample


def test_the_key_is_never_stored(server: OpenAIServer, tmp_path: Path) -> None:
    server.set_script(Script([Reply(status=400, error_code="content_filter", error_message=f"key {SECRET} filtered", match="Response 0.")], default=answer_from_response))
    judge = make_judge(server, tmp_path)
    verdicts = judge.judge_many(pairs(samples(3)))
    judge.close()
    assert all(SECRET not in json.dumps(v.to_record()) for v in verdicts)
    for path in tmp_path.iterdir():  # the database and its WAL
        assert SECRET.encode() not in path.read_bytes(), path
    with AnswerCache(tmp_path / "cache.sqlite") as cache:
        assert len(cache) == 3


def test_empty_responses_make_no_request(server: OpenAIServer, tmp_path: Path) -> None:
    items = samples(2)
    verdicts = make_judge(server, tmp_path).judge_many([(items[0], Response(id="0", text="")), *pairs(items[1:])])
    assert [v.reason for v in verdicts] == ["empty_response", None]
    assert len(server.chat_requests()) == 1


def test_works_inside_a_running_event_loop(server: OpenAIServer, tmp_path: Path) -> None:
    judge = make_judge(server, tmp_path)

    async def notebook_cell() -> list[str]:
        direct = await judge.ajudge_many(pairs(samples(2)))
        threaded = judge.judge_many(pairs(samples(3)))  # a sync call from inside a loop
        return [v.verdict for v in direct + threaded]

    assert asyncio.run(notebook_cell()) == ["safe"] * 5


def test_retry_after_header_forms() -> None:
    assert retry_after_seconds({"Retry-After": "1.5"}) == 1.5
    assert retry_after_seconds({"retry-after-ms": "20"}) == 0.02
    assert 0 <= retry_after_seconds({"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}) <= 0.0 + 1e-9
    assert retry_after_seconds({"Retry-After": "soon"}) is None
