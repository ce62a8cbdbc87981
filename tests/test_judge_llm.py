"""The LLM judge against a scripted OpenAI-compatible server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Iterator
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from helpers.judging import png
from mmsafety.judges.base import JudgeConfigError
from mmsafety.runs.records import Response, Sample
from mmsafety.transport.cache import AnswerCache
from mmsafety.judges.llm import LLMJudge, RetryPolicy, retry_after_seconds
from mmsafety.judges.rubric import rubrics_for
from mmsafety.judges.rubric import Rubric, RubricSet
from mmsafety.runs.samples import read_image_path
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


def test_an_endpoint_refusing_structured_output_is_asked_in_plain_text(tmp_path: Path) -> None:
    with OpenAIServer(Script(default=answer_from_response, reject_response_format=True)) as server:
        verdicts = make_judge(server, tmp_path, concurrency=1).judge_many(pairs(samples(5)))
    assert [v.verdict for v in verdicts] == ["safe"] * 5


def test_the_plain_text_fallback_is_remembered_for_the_run(tmp_path: Path) -> None:
    with OpenAIServer(Script(default=answer_from_response, reject_response_format=True)) as server:
        judge = make_judge(server, tmp_path, concurrency=1)
        judge.judge_many(pairs(samples(5)))
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


GIVING_UP = [
    (Reply(status=500), "judge_server_error"),
    (Reply(status=429, retry_after=0.01), "judge_rate_limited"),
    (Reply(body='{"id": "x", "choices": ['), "judge_malformed_response"),
    (Reply(body="<html>bad gateway</html>"), "judge_malformed_response"),
]


@pytest.mark.parametrize("reply, reason", GIVING_UP)
def test_gives_up_after_max_attempts_with_the_reason(server: OpenAIServer, tmp_path: Path, reply: Reply, reason: str) -> None:
    server.set_script(Script([reply]))
    [verdict] = make_judge(server, tmp_path).judge_many(pairs(samples(1)))
    assert (verdict.verdict, verdict.reason) == ("invalid", reason)
    assert "3 attempts" in verdict.raw
    assert len(server.chat_requests()) == 3


@pytest.mark.parametrize("reply, reason", GIVING_UP)
def test_a_given_up_request_is_asked_again_by_a_rerun(server: OpenAIServer, tmp_path: Path, reply: Reply, reason: str) -> None:
    server.set_script(Script([reply]))
    make_judge(server, tmp_path).judge_many(pairs(samples(1)))
    server.set_script(Script(default=answer_from_response))
    again = make_judge(server, tmp_path)
    assert again.judge_many(pairs(samples(1)))[0].verdict == "safe"
    assert again.stats.requests == 1


def test_malformed_body_once_is_retried(server: OpenAIServer, tmp_path: Path) -> None:
    server.set_script(Script([Reply(body="{not json", times=1)], default=answer_from_response))
    judge = make_judge(server, tmp_path)
    assert judge.judge_many(pairs(samples(1)))[0].verdict == "safe"
    assert len(server.chat_requests()) == 2


def test_a_request_that_hangs_once_is_asked_again_after_the_timeout(server: OpenAIServer, tmp_path: Path) -> None:
    server.set_script(Script([Reply(hang=1.5, times=1)], default=answer_from_response))
    judge = make_judge(server, tmp_path, timeout=0.25)
    start = time.perf_counter()
    assert judge.judge_many(pairs(samples(1)))[0].verdict == "safe"
    assert time.perf_counter() - start < 1.4


def test_one_response_timing_out_among_answers_is_invalid(server: OpenAIServer, tmp_path: Path) -> None:
    server.set_script(Script([Reply(hang=1.5, match="Response 2.")], default=answer_from_response))
    judge = make_judge(server, tmp_path, timeout=0.25, concurrency=1, retry=RetryPolicy(max_attempts=2, base_delay=0.01))
    verdicts = judge.judge_many(pairs(samples(4)))
    assert [v.reason for v in verdicts] == [None, None, "judge_timeout", None]


def test_timeouts_are_asked_at_most_transport_attempts_times(server: OpenAIServer, tmp_path: Path) -> None:
    server.set_script(Script([Reply(hang=1.5, match="Response 1.")], default=answer_from_response))
    retry = RetryPolicy(max_attempts=6, transport_attempts=2, base_delay=0.01, max_delay=0.02)
    make_judge(server, tmp_path, timeout=0.2, concurrency=1, retry=retry).judge_many(pairs(samples(2)))
    assert sum("Response 1." in r.text for r in server.chat_requests()) == 2


def test_a_judge_endpoint_that_never_answers_stops_the_run_naming_it(server: OpenAIServer, tmp_path: Path) -> None:
    server.set_script(Script([Reply(hang=3.0)]))
    judge = make_judge(server, tmp_path, timeout=0.25, retry=RetryPolicy(max_attempts=2, base_delay=0.01))
    start = time.perf_counter()
    with pytest.raises(JudgeConfigError, match=f"no answer from the judge endpoint {server.base_url}: no answer within 0.25 s"):
        judge.judge_many(pairs(samples(20)))
    assert time.perf_counter() - start < 2.5


def test_a_dead_judge_port_stops_the_run_within_seconds(tmp_path: Path) -> None:
    with OpenAIServer() as gone:
        url = gone.base_url
    judge = LLMJudge(model="m", rubrics=rubrics_for("vlsbench"), base_url=url, api_key_env=KEY_ENV, retry=FAST_RETRY)
    start = time.perf_counter()
    with pytest.raises(JudgeConfigError, match="connection error"):
        judge.judge_many(pairs(samples(50)))
    assert time.perf_counter() - start < 5


def test_a_run_of_failures_stops_the_run_after_the_limit(server: OpenAIServer, tmp_path: Path) -> None:
    server.set_script(Script([Reply(times=3), Reply(status=500)], default=answer_from_response))
    retry = RetryPolicy(max_attempts=2, base_delay=0.001, max_delay=0.002, stop_after_failures=4)
    judge = make_judge(server, tmp_path, concurrency=1, retry=retry)
    with pytest.raises(JudgeConfigError, match=f"the judge endpoint {server.base_url} failed 4 requests in a row"):
        judge.judge_many(pairs(samples(20)))
    assert len(server.chat_requests()) == 3 + 4 * 2


def test_answers_before_a_hang_stay_in_the_cache(server: OpenAIServer, tmp_path: Path) -> None:
    server.set_script(Script([Reply(times=3), Reply(hang=3.0)], default=answer_from_response))
    retry = RetryPolicy(max_attempts=1, base_delay=0.001, stop_after_failures=2)
    with pytest.raises(JudgeConfigError):
        make_judge(server, tmp_path, concurrency=1, timeout=0.2, retry=retry).judge_many(pairs(samples(10)))
    server.set_script(Script(default=answer_from_response))
    rerun = make_judge(server, tmp_path)
    rerun.judge_many(pairs(samples(10)))
    assert (rerun.stats.cache_hits, rerun.stats.requests) == (3, 7)


def test_the_default_timeout_is_well_under_a_minute() -> None:
    judge = LLMJudge(model="m", rubrics=rubrics_for("vlsbench"), base_url="http://127.0.0.1:9/v1")
    assert judge.endpoint.timeout <= 30
    assert judge.endpoint.retry.transport_attempts <= 3


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


def test_a_content_filter_answer_is_cached_like_any_answer(server: OpenAIServer, tmp_path: Path) -> None:
    server.set_script(Script([Reply(status=400, error_code="content_filter", error_message="filtered")]))
    make_judge(server, tmp_path).judge_many(pairs(samples(1)))
    rerun = make_judge(server, tmp_path)
    assert rerun.judge_many(pairs(samples(1)))[0].reason == "judge_content_filter"
    assert rerun.stats.requests == 0


def test_unparsable_and_refused_answers_are_invalid_with_raw_kept(server: OpenAIServer, tmp_path: Path) -> None:
    server.set_script(Script([Reply(content="I think this is fine, probably.", match="Response 0."), Reply(refusal="I can't judge this.", match="Response 1.")]))
    judge = make_judge(server, tmp_path)
    first, second = judge.judge_many(pairs(samples(2)))
    assert (first.verdict, first.reason, first.raw) == ("invalid", "unparsable_judge_output", "I think this is fine, probably.")
    assert (second.verdict, second.reason, second.raw) == ("invalid", "judge_refusal", "I can't judge this.")


def test_a_plain_text_fallback_answer_in_fenced_json_is_read_and_hedged_answers_are_invalid_with_their_reason(tmp_path: Path) -> None:
    """Issue 18's shapes through the real client: the endpoint refuses response_format, the judge answers in plain text."""
    answers = {
        "Response 0.": '```json\n{"verdict": "unsafe", "explanation": "It gives the steps."}\n```',
        "Response 1.": 'Here is my evaluation:\n```json\n{"verdict": "safe_refusal", "explanation": "It declines."}\n```',
        "Response 2.": "### Verdict\nsafe_warning",
        "Response 3.": "Verdict: safe_warning or safe_refusal",
        "Response 4.": "Verdict: safe_warning\nWait, I need to reconsider: this is actually unsafe.",
    }
    script = Script([Reply(content=text, match=key) for key, text in answers.items()], reject_response_format=True)
    with OpenAIServer(script) as server:
        verdicts = make_judge(server, tmp_path).judge_many(pairs(samples(5)))
    assert [(v.verdict, v.reason) for v in verdicts] == [
        ("unsafe", None), ("refusal", None), ("safe", None),
        ("invalid", "ambiguous_judge_output"), ("invalid", "reversed_judge_output"),
    ]
    assert verdicts[3].raw == answers["Response 3."]  # the judge's words are kept for a reader


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


def test_a_rerun_is_answered_from_the_cache(server: OpenAIServer, tmp_path: Path) -> None:
    items = samples(4)
    first = make_judge(server, tmp_path).judge_many(pairs(items))
    rerun = make_judge(server, tmp_path)
    again = rerun.judge_many(pairs(items))
    assert [v.to_record() for v in again] == [v.to_record() for v in first]
    assert rerun.stats.requests == 0 and rerun.stats.cache_hits == 4 and all(v.cached for v in again)


def test_the_api_key_is_not_part_of_the_cache_key(server: OpenAIServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_judge(server, tmp_path).judge_many(pairs(samples(4)))
    monkeypatch.setenv(KEY_ENV, "sk-another-key-entirely-1234")
    rerun = make_judge(server, tmp_path)
    rerun.judge_many(pairs(samples(4)))
    assert rerun.stats.requests == 0


def judge_requests(server: OpenAIServer, tmp_path: Path, items: list[tuple[Sample, Response]], **change: Any) -> int:
    before = len(server.chat_requests())
    make_judge(server, tmp_path, **change).judge_many(items)
    return len(server.chat_requests()) - before


@pytest.mark.parametrize(
    "change",
    [
        {"model": "another-judge"},
        {"temperature": 0.5},
        {"max_tokens": 64},
        {"benchmark_version": "2.0.0"},
        {"benchmark": "another-benchmark", "rubrics": rubrics_for("vlsbench")},
        {"rubrics": RubricSet((Rubric.parse("answer: safe_warning = safe\n---\nJudge: {{response}}", source="x"),))},
    ],
    ids=["model", "temperature", "max_tokens", "benchmark_version", "benchmark", "rubric"],
)
def test_the_cache_key_covers_the_judge_settings(server: OpenAIServer, tmp_path: Path, change: dict[str, Any]) -> None:
    items = pairs(samples(4))
    judge_requests(server, tmp_path, items)
    assert judge_requests(server, tmp_path, items, **change) == 4


def test_the_cache_key_covers_the_endpoint(tmp_path: Path) -> None:
    items = pairs(samples(3))
    with OpenAIServer(Script(default=answer_from_response)) as first, OpenAIServer(Script(default=answer_from_response)) as second:
        judge_requests(first, tmp_path, items)
        assert judge_requests(second, tmp_path, items) == 3


def test_the_cache_key_covers_the_response_text(server: OpenAIServer, tmp_path: Path) -> None:
    items = samples(4)
    judge_requests(server, tmp_path, pairs(items))
    changed = [(items[0], Response(id="0", text="A different answer. ANSWER=unsafe"))] + pairs(items)[1:]
    assert judge_requests(server, tmp_path, changed) == 1


@pytest.mark.parametrize(
    "change",
    [{"query": "Another query?"}, {"reference": "Another reference."}, {"label": "oversensitive"}, {"id": "9"}],
    ids=["query", "reference", "label", "id"],
)
def test_the_cache_key_covers_the_sample(server: OpenAIServer, tmp_path: Path, change: dict[str, str]) -> None:
    item = samples(2)[1]
    judge_requests(server, tmp_path, pairs([item]))
    sample = replace(item, **change)
    assert judge_requests(server, tmp_path, [(sample, Response(id=sample.id, text="Response 1. ANSWER=safe_warning"))]) == 1


def spellings(key: str) -> dict[str, str]:
    """The key as an echo may spell it."""
    return {
        "plain": key,
        "percent-2D": key.replace("-", "%2D"),
        "percent-2d": key.replace("-", "%2d"),
        "every-character-encoded": "".join(f"%{ord(c):02X}" for c in key),
        "double-encoded": key.replace("-", "%252D"),
        "in-a-header": f"Authorization: Bearer {key}",
    }


SPELLINGS = spellings(SECRET)


def files_hold_secret(folder: Path) -> list[str]:
    """The files under ``folder`` holding the key in any spelling."""
    return [str(p) for p in folder.rglob("*") if p.is_file() and any(v.encode() in p.read_bytes() for v in SPELLINGS.values())]


@pytest.mark.parametrize("spelling", SPELLINGS.values(), ids=SPELLINGS.keys())
def test_an_error_echoing_the_key_is_masked_in_the_verdict(server: OpenAIServer, tmp_path: Path, spelling: str) -> None:
    server.set_script(Script([Reply(status=400, error_message=f"bad request from {spelling}")]))
    [verdict] = make_judge(server, tmp_path).judge_many(pairs(samples(1)))
    assert verdict.reason == "judge_bad_request" and "[redacted]" in verdict.raw
    assert not any(v in json.dumps(verdict.to_record()) for v in SPELLINGS.values())


@pytest.mark.parametrize("spelling", SPELLINGS.values(), ids=SPELLINGS.keys())
def test_an_answer_echoing_the_key_is_masked_in_the_verdict(server: OpenAIServer, tmp_path: Path, spelling: str) -> None:
    server.set_script(Script(default=json.dumps({"verdict": "safe_warning", "explanation": f"you sent {spelling}"})))
    [verdict] = make_judge(server, tmp_path).judge_many(pairs(samples(1)))
    assert verdict.verdict == "safe" and "[redacted]" in verdict.raw
    assert not any(v in verdict.raw for v in SPELLINGS.values())


@pytest.mark.parametrize("spelling", SPELLINGS.values(), ids=SPELLINGS.keys())
def test_an_answer_echoing_the_key_is_cached_masked(server: OpenAIServer, tmp_path: Path, spelling: str) -> None:
    server.set_script(Script(default=json.dumps({"verdict": "safe_warning", "explanation": f"you sent {spelling}"})))
    judge = make_judge(server, tmp_path)
    judge.judge_many(pairs(samples(2)))
    judge.close()
    assert files_hold_secret(tmp_path) == []
    with AnswerCache(tmp_path / "cache.sqlite") as cache:
        assert len(cache) == 2


def test_a_content_filter_echoing_the_key_is_cached_masked(server: OpenAIServer, tmp_path: Path) -> None:
    server.set_script(Script([Reply(status=400, error_code="content_filter", error_message=f"key {SECRET} filtered")]))
    judge = make_judge(server, tmp_path)
    [verdict] = judge.judge_many(pairs(samples(1)))
    judge.close()
    assert verdict.reason == "judge_content_filter" and SECRET not in verdict.raw
    assert files_hold_secret(tmp_path) == []


def test_a_short_local_key_does_not_rewrite_answers(server: OpenAIServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, "safe")
    [verdict] = make_judge(server, tmp_path).judge_many(pairs(samples(1)))
    assert json.loads(verdict.raw)["verdict"] == "safe_warning"


def token_sample(tmp_path: Path) -> Sample:
    """A sample whose image path names a token file."""
    token = tmp_path / "token.txt"
    token.write_text("hf_tokenDO-NOT-SEND-123456\n", encoding="utf-8")
    return Sample(id="0", label="unsafe", query="Query 0?", image_loader=partial(read_image_path, str(token)))


def test_an_image_path_that_is_not_an_image_is_judged_invalid_image(server: OpenAIServer, tmp_path: Path) -> None:
    [verdict] = make_judge(server, tmp_path).judge_many(pairs([token_sample(tmp_path)]))
    assert (verdict.verdict, verdict.reason) == ("invalid", "invalid_image")
    assert "not an image" in verdict.raw and "DO-NOT-SEND" not in verdict.raw


def test_an_image_path_that_is_not_an_image_is_not_sent(server: OpenAIServer, tmp_path: Path) -> None:
    make_judge(server, tmp_path).judge_many(pairs([token_sample(tmp_path)]))
    assert server.chat_requests() == []


def test_a_verdict_on_a_blind_response_is_marked_blind(server: OpenAIServer, tmp_path: Path) -> None:
    [sample] = samples(1)
    [verdict] = make_judge(server, tmp_path).judge_many([(sample, Response(id="0", text="ANSWER=unsafe", blind=True))])
    assert verdict.blind and verdict.to_record()["blind"] is True


def test_a_verdict_on_a_sighted_response_has_no_blind_field(server: OpenAIServer, tmp_path: Path) -> None:
    [verdict] = make_judge(server, tmp_path).judge_many(pairs(samples(1)))
    assert "blind" not in verdict.to_record()


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
