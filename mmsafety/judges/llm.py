"""The LLM judge: any OpenAI-compatible chat endpoint (OpenAI, vLLM, SGLang, Ollama...).

For each (sample, response) it renders the benchmark's rubric (chosen by the sample's
label), attaches the sample's image as a base64 data URL when the rubric says so, asks
the judge model, and maps its answer to a verdict. What it does around that:

- **structured output**: it asks for ``{"verdict": ..., "explanation": ...}`` with a JSON
  schema (``response_format``); an endpoint that rejects that with a 400 is asked again
  in plain text, and the run remembers to send plain text from then on. The verdict is
  read from one place by one rule (:meth:`Rubric.read`, :mod:`mmsafety.judges.reading`: the
  ``verdict`` field of a JSON answer, else the ``Verdict:`` lines outside reasoning blocks);
  what cannot be read is ``invalid`` (``unparsable_judge_output``, ``ambiguous_judge_output``,
  ``reversed_judge_output``), never guessed;
- **asking** (:func:`mmsafety.transport.ask.ask_all`): at most ``concurrency`` requests in flight;
  429 (honouring ``Retry-After``), 408/409, 5xx and malformed bodies retried with back-off
  up to ``max_attempts`` requests, timeouts (``timeout``, default 30 s) and connection errors
  up to 3; then ``invalid`` with the reason (``judge_timeout``, ``judge_server_error``...).
  An endpoint that does not answer, or gives up 8 in a row, stops the run; an image path
  that is not a readable image is ``invalid_image`` and nothing of it is sent;
- **content filter**: a provider's content-filter refusal (a 400 with error code
  ``content_filter``, or ``finish_reason == "content_filter"``) is ``invalid`` with reason
  ``judge_content_filter`` and is not retried; a structured-output refusal by the judge
  model is ``invalid`` with reason ``judge_refusal``;
- **fatal errors**: 401, 403 and 404 stop the run with :class:`~mmsafety.judges.base.JudgeConfigError`;
- **cache**: every answer is committed as it arrives (:meth:`LLMJudge.cache_key_for`); a rerun,
  or a run stopped by the errors above, asks only for what is missing;
- **the API key** is sent only in the request header and masked, in every spelling, in every
  error text and in answers that echo it, so it is never stored.

The requests, their retries and the key's redaction are :class:`mmsafety.transport.endpoint.ChatEndpoint`'s,
shared with the model under test (:mod:`mmsafety.runs.respond`), as is the loop around them
(:func:`mmsafety.transport.ask.ask_all`); this module decides what to ask and what an answer means.

>>> from mmsafety.judges.rubric import rubrics_for
>>> judge = LLMJudge(model="gpt-4o", rubrics=rubrics_for("vlsbench"), benchmark="vlsbench",
...                  cache="judge-cache.sqlite")  # doctest: +SKIP
>>> verdicts = judge.judge_many((bench.samples[r.id], r) for r in responses)  # doctest: +SKIP
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import openai

from mmsafety.transport.ask import INVALID_IMAGE, Asked, Job, ask_all
from mmsafety.transport.endpoint import (
    DEFAULT_API_KEY_ENV,
    FATAL_STATUS,
    PLACEHOLDER_API_KEY,
    RETRYABLE_STATUS,
    ChatEndpoint,
    RetryPolicy,
    data_url,
    first_choice,
    image_mime,
    is_content_filter,
    retry_after_seconds,
    run_sync,
)
from mmsafety.judges.base import Judge, JudgeConfigError, ProgressCallback
from mmsafety.runs.records import InvalidImage, Response, Sample, Verdict
from mmsafety.transport.cache import AnswerCache, CachedAnswer, cache_key, sha256_text
from mmsafety.judges.protocols import JUDGE_MAX_TOKENS
from mmsafety.judges.reading import READING_REASONS
from mmsafety.judges.rubric import Rubric, RubricSet, rubric_fields

__all__ = [
    "DEFAULT_API_KEY_ENV",
    "FATAL_STATUS",
    "INVALID_REASONS",
    "PLACEHOLDER_API_KEY",
    "RETRYABLE_STATUS",
    "LLMJudge",
    "RetryPolicy",
    "data_url",
    "image_mime",
    "is_content_filter",
    "retry_after_seconds",
]

INVALID_REASONS = (
    *READING_REASONS,
    "judge_content_filter",
    "judge_refusal",
    "judge_bad_request",
    "judge_rate_limited",
    "judge_server_error",
    "judge_timeout",
    "judge_connection_error",
    "judge_malformed_response",
    "judge_response_too_large",
    INVALID_IMAGE,
)
"""Reasons an LLM verdict can be ``invalid`` (besides ``empty_response``)."""

DEFAULT_TIMEOUT = 30.0
"""Seconds the judge waits for one answer by default (a judge's answer is short)."""


class LLMJudge(Judge):
    """Judge responses with a model behind an OpenAI-compatible chat endpoint."""

    name = "llm"
    version = "1"

    def __init__(
        self,
        *,
        model: str,
        rubrics: RubricSet,
        base_url: str | None = None,
        api_key_env: str = DEFAULT_API_KEY_ENV,
        concurrency: int = 16,
        timeout: float = DEFAULT_TIMEOUT,
        cache: AnswerCache | str | Path | None = None,
        temperature: float = 0.0,
        max_tokens: int = JUDGE_MAX_TOKENS,
        retry: RetryPolicy | None = None,
        benchmark: str = "",
        benchmark_version: str = "",
        seed: int | None = None,
    ) -> None:
        super().__init__()
        if concurrency < 1:
            raise JudgeConfigError(f"expected --concurrency of at least 1, found {concurrency}")
        if not model:
            raise JudgeConfigError("expected a judge model name (--model)")
        self.endpoint = ChatEndpoint(
            base_url=base_url,
            api_key_env=api_key_env,
            timeout=timeout,
            retry=retry,
            seed=seed,
            role="judge endpoint",
            config_error=JudgeConfigError,
        )
        self.model = model
        self.rubrics = rubrics
        self.concurrency = concurrency
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.benchmark = benchmark
        self.benchmark_version = benchmark_version
        self._owns_cache = cache is not None and not isinstance(cache, AnswerCache)
        self.cache = AnswerCache(cache) if isinstance(cache, (str, Path)) else cache
        self._structured_ok = True

    @property
    def judge_model(self) -> str | None:
        return self.model

    # -- identity of an answer -------------------------------------------------------

    def settings(self) -> dict[str, Any]:
        """The generation settings that decide an answer (part of the cache key)."""
        return {"temperature": self.temperature, "max_tokens": self.max_tokens}

    def cache_key_for(self, sample: Sample, response: Response, rubric: Rubric) -> str:
        """The cache key of judging ``response`` to ``sample`` with ``rubric``.

        Everything that decides the answer: the endpoint's address (the same model name at
        two endpoints may be two models), judge model, rubric hash, benchmark and its
        version, sample id and a hash of the sample's text, the response's hash, and the
        generation settings. Never the API key.
        """
        sample_text = json.dumps(
            [sample.query, sample.reference, sample.label, sample.category, sample.subcategory, sample.subset,
             sorted(sample.extras.items())],
            ensure_ascii=False,
        )
        return cache_key(
            {
                "judge": f"{self.name}/{self.version}",
                "endpoint": self.endpoint.address,
                "model": self.model,
                "rubric": rubric.sha256,
                "benchmark": self.benchmark,
                "benchmark_version": self.benchmark_version,
                "sample_id": sample.id,
                "sample": sha256_text(sample_text),
                "image": rubric.image,
                "response": sha256_text(response.text),
                "settings": self.settings(),
            }
        )

    # -- building a request ---------------------------------------------------------

    def messages(self, sample: Sample, response: Response, rubric: Rubric) -> list[dict[str, Any]]:
        """The chat messages for one pair, as the rubric builds them (the rendered template and
        the image; the authors' own request for their VLSBench protocol)."""
        return rubric.request_messages(sample, response)

    def payload(self, messages: list[dict[str, Any]], rubric: Rubric, *, structured: bool) -> dict[str, Any]:
        """The chat-completions request body (structured output asked for when ``structured``)."""
        body: dict[str, Any] = {
            "model": self.model,
            "messages": messages,
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
        }
        if structured:
            body["response_format"] = rubric.json_schema()
        return body

    # -- asking ----------------------------------------------------------------------

    async def _ask(
        self, client: openai.AsyncOpenAI, messages: list[dict[str, Any]], rubric: Rubric
    ) -> Asked:
        tried_plain = False
        while True:
            structured = rubric.structured and self._structured_ok and not tried_plain
            payload = self.payload(messages, rubric, structured=structured)
            reply = await self.endpoint.post(client, payload, self._read_completion, self.stats)
            if reply.kind == "ok":
                if tried_plain and self._structured_ok:
                    self._structured_ok = False  # remembered for the rest of the run
                return Asked(answer=reply.value)
            if reply.kind == "failed":
                return Asked.from_reply(reply)
            if reply.status in (400, 422):
                if reply.content_filter:
                    return Asked(answer=CachedAnswer("content_filter", reply.detail))
                if structured:
                    tried_plain = True  # the endpoint may not support response_format: ask in plain text
                    continue
            return Asked.from_reply(reply)

    async def _ask_pair(self, client: openai.AsyncOpenAI, item: tuple[Sample, Response, Rubric]) -> Asked:
        sample, response, rubric = item
        try:
            messages = self.messages(sample, response, rubric)
        except InvalidImage as error:  # nothing of the file is sent
            return Asked(failure=INVALID_IMAGE, detail=str(error))
        return await self._ask(client, messages, rubric)

    def _read_completion(self, completion: Any) -> CachedAnswer:
        """The cacheable outcome of a chat-completion body (``answer``, ``content_filter`` or
        ``judge_refusal``, with the raw text); ``ValueError`` when it is not one."""
        choice = first_choice(completion)
        if choice.finish_reason == "content_filter":
            return CachedAnswer("content_filter", choice.content)
        if choice.refusal and not choice.content:
            return CachedAnswer("judge_refusal", choice.refusal)
        return CachedAnswer("answer", choice.content or "")

    def _verdict_from(self, sample: Sample, response: Response, rubric: Rubric, asked: Asked, *, cached: bool) -> Verdict:
        tag = f"{rubric.name}@{rubric.sha256[:12]}"
        answer = asked.answer
        if answer is None:  # asking failed (or the image was not one): nothing cached
            reason = INVALID_IMAGE if asked.failure == INVALID_IMAGE else f"judge_{asked.failure}"
            return self.verdict(sample, response, "invalid", raw=asked.detail, reason=reason, rubric=tag, cached=cached)
        if answer.outcome != "answer":
            reason = "judge_content_filter" if answer.outcome == "content_filter" else "judge_refusal"
            return self.verdict(sample, response, "invalid", raw=answer.raw, reason=reason, rubric=tag, cached=cached)
        reading = rubric.read(answer.raw)
        if reading.verdict is None:
            return self.verdict(sample, response, "invalid", raw=answer.raw, reason=reading.reason, rubric=tag, cached=cached)
        return self.verdict(
            sample, response, reading.verdict, raw=answer.raw, rubric=tag, cached=cached,
            label_str_disagrees=reading.label_str_disagrees,
        )

    # -- running ---------------------------------------------------------------------

    def check(self, samples: Iterable[Sample]) -> None:
        """Fail before any request when a sample has no rubric or a template a field it lacks."""
        samples = list(samples)
        self.rubrics.check_covers(s.label for s in samples)
        seen: set[str] = set()
        for sample in samples:
            rubric = self.rubrics.for_label(sample.label)
            if rubric is not None and rubric.sha256 not in seen:
                seen.add(rubric.sha256)
                rubric.render(rubric_fields(sample, Response(id=sample.id, text="")))

    async def ajudge_many(
        self,
        pairs: Iterable[tuple[Sample, Response]],
        *,
        on_verdict: ProgressCallback | None = None,
    ) -> list[Verdict]:
        """:meth:`judge_many` for code already inside an event loop (``await`` it)."""
        start = time.perf_counter()
        pairs = list(pairs)
        self.check(sample for sample, _ in pairs)
        results: list[Verdict | None] = [None] * len(pairs)

        def done(index: int, verdict: Verdict) -> None:
            results[index] = verdict
            if on_verdict is not None:
                on_verdict(verdict)

        jobs: list[Job[tuple[Sample, Response, Rubric]]] = []
        for index, (sample, response) in enumerate(pairs):
            if sample.id != response.id:
                raise ValueError(f"response id {response.id!r} does not belong to sample {sample.id!r}")
            rubric = self.rubrics.for_label(sample.label)
            assert rubric is not None  # checked above
            empty = self.empty_verdict(sample, response)
            if empty is not None and (response.error or not rubric.sends_empty):
                done(index, empty)
                continue
            jobs.append(Job(index, (sample, response, rubric), self.cache_key_for(sample, response, rubric)))

        def answered(job: Job[tuple[Sample, Response, Rubric]], asked: Asked, cached: bool) -> None:
            sample, response, rubric = job.item
            done(job.index, self._verdict_from(sample, response, rubric, asked, cached=cached))

        await ask_all(
            jobs,
            endpoint=self.endpoint,
            cache=self.cache,
            concurrency=self.concurrency,
            ask=self._ask_pair,
            done=answered,
            stats=self.stats,
            model=self.model,
            sample_id=lambda item: item[0].id,
        )
        self.stats.judged += len(pairs)
        self.stats.seconds += time.perf_counter() - start
        self.stats.structured_output = self._structured_ok
        return [v for v in results if v is not None]

    def judge_many(
        self,
        pairs: Iterable[tuple[Sample, Response]],
        *,
        on_verdict: ProgressCallback | None = None,
    ) -> list[Verdict]:
        """Judge every pair concurrently; verdicts come back in the order of ``pairs``.

        Works from plain code and from inside a running event loop (a notebook), where it
        runs its own loop in a worker thread.
        """
        return run_sync(self.ajudge_many(pairs, on_verdict=on_verdict))

    def judge(self, sample: Sample, response: Response) -> Verdict:
        """Judge one response (an empty one is sent too where the protocol sends it)."""
        return run_sync(self.ajudge_many([(sample, response)]))[0]

    def _judge(self, sample: Sample, response: Response) -> Verdict:
        return self.judge(sample, response)

    def close(self) -> None:
        """Close the cache if this judge opened it."""
        if self._owns_cache and self.cache is not None:
            self.cache.close()

