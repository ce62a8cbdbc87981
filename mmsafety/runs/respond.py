"""Running the model under test: every sample of a built benchmark, asked of a vision model
behind an OpenAI-compatible chat endpoint (vLLM, SGLang, Ollama, OpenAI...).

Each request is what the papers send: the sample's image as a base64 data URL and its
``query`` verbatim, in one user message (after an optional system prompt), at
temperature 0. Around that, the LLM judge's machinery (:mod:`mmsafety.transport.endpoint`):

- at most ``concurrency`` requests in flight; back-off with jitter on 429 (honouring
  ``Retry-After``), 408/409, 5xx, timeouts, connection errors and malformed bodies;
- an answer cache (:class:`~mmsafety.transport.cache.AnswerCache`, SQLite, one commit per
  answer) keyed by :meth:`Responder.cache_key_for` — the endpoint's address, the model,
  the sample id, hashes of the query, the image bytes and the system prompt, whether the run
  is blind, and the generation settings; never the key — so an interrupted run resumes where
  it stopped, and the same model name at another endpoint is asked again;
- the image: its embedded bytes, or a file path only when it is a regular file, an image by
  its header and within Pillow's decompression-bomb limit
  (:func:`mmsafety.runs.samples.read_image_path`); otherwise the sample is recorded with
  error ``invalid_image`` and nothing of it is sent. A blind run (``blind=True``) sends the
  same request without the image, to measure how much the answers depend on it, and marks
  each record ``"blind": true``;
- a sample the endpoint will not answer (a 400 such as "this model does not support image
  input", a provider's content filter, retries exhausted) becomes a record with
  ``"response": null`` and an ``error`` reason (:data:`ERROR_REASONS`) and the run goes on;
  ``mmsafety judge`` then counts it ``invalid`` with that reason. Failures that may pass
  (timeouts, 5xx) are not cached: a rerun asks again;
- an endpoint that never answers (nothing listening, every request timing out before any
  reply) or that gives up ``RetryPolicy.stop_after_failures`` samples in a row stops the run
  with :class:`~mmsafety.transport.endpoint.EndpointError` naming the URL
  (:class:`mmsafety.transport.ask.FailFast`), as do 401/403/404 (bad key, no access, unknown model).
  The loop itself is :func:`mmsafety.transport.ask.ask_all`, shared with the LLM judge.

>>> responder = Responder(model="Qwen/Qwen2.5-VL-7B-Instruct", base_url="http://localhost:8000/v1")  # doctest: +SKIP
>>> answers = responder.respond_many(load_samples("vlsbench").samples.values())  # doctest: +SKIP
>>> answers[0].to_record()  # doctest: +SKIP
{'id': '1', 'model': 'Qwen/Qwen2.5-VL-7B-Instruct', 'response': '...', 'finish_reason': 'stop'}
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import openai

from mmsafety.errors import InputError
from mmsafety.transport.ask import INVALID_IMAGE, Asked, Job, ask_all
from mmsafety.transport.cache import AnswerCache, CachedAnswer, cache_key, sha256_text
from mmsafety.transport.endpoint import (
    DEFAULT_API_KEY_ENV,
    ChatEndpoint,
    RetryPolicy,
    data_url,
    first_choice,
    run_sync,
)
from mmsafety.runs.records import InvalidImage, RunStats, Sample, by_count

DEFAULT_MAX_TOKENS = 1024
DEFAULT_TIMEOUT = 120.0
DEFAULT_CONCURRENCY = 16

ERROR_REASONS = (
    "model_bad_request",
    "model_content_filter",
    "model_rate_limited",
    "model_server_error",
    "model_timeout",
    "model_connection_error",
    "model_malformed_response",
    "model_response_too_large",
    INVALID_IMAGE,
)
"""Why a sample has no response: the endpoint rejected the request (``model_bad_request``,
e.g. an image it does not accept), a provider's content filter, retries exhausted, or an
image that could not be read as one (``invalid_image``: nothing was sent)."""


@dataclass(frozen=True)
class Answer:
    """The model's answer to one sample, as one line of the responses JSONL."""

    id: str
    model: str
    response: str | None
    finish_reason: str | None = None
    error: str | None = None
    error_detail: str | None = None
    cached: bool = False
    blind: bool = False

    def to_record(self) -> dict[str, Any]:
        """The JSON object written for this answer (``error``/``error_detail`` only on failure,
        ``blind`` only in a blind run).

        >>> Answer("3", "m", None, error="model_bad_request", error_detail="HTTP 400: no images").to_record()
        {'id': '3', 'model': 'm', 'response': None, 'error': 'model_bad_request', 'error_detail': 'HTTP 400: no images'}
        """
        record: dict[str, Any] = {"id": self.id, "model": self.model, "response": self.response}
        if self.finish_reason is not None:
            record["finish_reason"] = self.finish_reason
        if self.error is not None:
            record["error"] = self.error
            record["error_detail"] = self.error_detail
        if self.blind:
            record["blind"] = True
        return record


@dataclass
class RespondStats(RunStats):
    """What a run did: answers, errors by reason, requests, cache hits, retries, time."""

    samples: int = 0

    def summary(self, answers: Iterable[Answer]) -> str:
        """A few human lines.

        >>> print(RespondStats(samples=2, requests=3, retries=1, seconds=1.5).summary(
        ...     [Answer("1", "m", "Sure."), Answer("2", "m", None, error="model_bad_request")]))
        answered 1 of 2 samples in 1.50 s
        errors: model_bad_request 1
        requests made 3, cache hits 0, retries 1
        """
        answers = list(answers)
        errors = Counter(a.error for a in answers if a.error)
        lines = [f"answered {len(answers) - sum(errors.values())} of {len(answers)} samples in {self.seconds:.2f} s"]
        if errors:
            lines.append("errors: " + by_count(errors))
        lines.append(self.requests_line())
        return "\n".join(lines)


ProgressCallback = Callable[[Answer], None]


class Responder:
    """Ask a model behind an OpenAI-compatible endpoint about each sample (image + query;
    the query alone when ``blind``)."""

    version = "1"

    def __init__(
        self,
        *,
        model: str,
        base_url: str | None,
        api_key_env: str = DEFAULT_API_KEY_ENV,
        concurrency: int = DEFAULT_CONCURRENCY,
        timeout: float = DEFAULT_TIMEOUT,
        cache: AnswerCache | str | Path | None = None,
        temperature: float = 0.0,
        max_tokens: int = DEFAULT_MAX_TOKENS,
        system_prompt: str | None = None,
        retry: RetryPolicy | None = None,
        seed: int | None = None,
        blind: bool = False,
    ) -> None:
        if not model:
            raise InputError("expected the name of the model under test (--model)")
        if concurrency < 1:
            raise InputError(f"expected --concurrency of at least 1, found {concurrency}")
        if max_tokens < 1:
            raise InputError(f"expected --max-tokens of at least 1, found {max_tokens}")
        self.endpoint = ChatEndpoint(
            base_url=base_url, api_key_env=api_key_env, timeout=timeout, retry=retry, seed=seed, role="model endpoint"
        )
        self.model = model
        self.concurrency = concurrency
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.system_prompt = system_prompt or None
        self._owns_cache = cache is not None and not isinstance(cache, AnswerCache)
        self.cache = AnswerCache(cache) if isinstance(cache, (str, Path)) else cache
        self.blind = bool(blind)
        self.stats = RespondStats()

    # -- identity of an answer -------------------------------------------------------

    def settings(self) -> dict[str, Any]:
        """The generation settings that decide an answer (part of the cache key)."""
        return {"temperature": self.temperature, "max_tokens": self.max_tokens}

    def cache_key_for(self, sample: Sample, image: bytes | None) -> str:
        """Everything that decides the model's answer: the endpoint's address (the same model
        name at two endpoints may be two models), the model, the sample id, hashes of the
        query, the image bytes (none in a blind run) and the system prompt, whether the run
        is blind, and the generation settings. Never the API key."""
        return cache_key(
            {
                "respond": self.version,
                "endpoint": self.endpoint.address,
                "blind": self.blind,
                "model": self.model,
                "sample_id": sample.id,
                "query": sha256_text(sample.query),
                "image": None if image is None or self.blind else hashlib.sha256(image).hexdigest(),
                "system_prompt": None if self.system_prompt is None else sha256_text(self.system_prompt),
                "settings": self.settings(),
            }
        )

    # -- building a request ---------------------------------------------------------

    def messages(self, sample: Sample, image: bytes | None) -> list[dict[str, Any]]:
        """The chat messages for one sample: the system prompt if any, then the image (never
        in a blind run) and the query."""
        content: list[dict[str, Any]] = []
        if image is not None and not self.blind:
            content.append({"type": "image_url", "image_url": {"url": data_url(image)}})
        content.append({"type": "text", "text": sample.query})
        messages: list[dict[str, Any]] = []
        if self.system_prompt is not None:
            messages.append({"role": "system", "content": self.system_prompt})
        messages.append({"role": "user", "content": content})
        return messages

    def payload(self, sample: Sample, image: bytes | None) -> dict[str, Any]:
        """The chat-completions request body for one sample."""
        return {
            "model": self.model,
            "messages": self.messages(sample, image),
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
        }

    # -- reading answers -------------------------------------------------------------

    def _read_completion(self, completion: Any) -> CachedAnswer:
        """A chat-completion body as a cacheable outcome (the key masked in the answer, should
        it echo it); ``ValueError`` when it is not one."""
        choice = first_choice(completion)
        if choice.finish_reason == "content_filter" and not choice.content:
            return CachedAnswer("content_filter", "the provider's content filter withheld the answer (finish_reason content_filter)")
        text = self.endpoint.redact_key(choice.content or choice.refusal or "")
        return CachedAnswer("answer", json.dumps({"response": text, "finish_reason": choice.finish_reason}, ensure_ascii=False))

    def _answer_from(self, sample: Sample, outcome: CachedAnswer, *, cached: bool) -> Answer:
        if outcome.outcome == "content_filter":
            return Answer(sample.id, self.model, None, error="model_content_filter", error_detail=outcome.raw, cached=cached, blind=self.blind)
        try:
            data = json.loads(outcome.raw or "")
            return Answer(sample.id, self.model, str(data["response"]), data.get("finish_reason"), cached=cached, blind=self.blind)
        except (ValueError, KeyError, TypeError):  # an entry this version did not write
            return Answer(sample.id, self.model, None, error="model_malformed_response", error_detail="unreadable cache entry", blind=self.blind)

    # -- running ---------------------------------------------------------------------

    async def _ask(self, client: openai.AsyncOpenAI, sample: Sample) -> Asked:
        try:
            image = None if self.blind else sample.load_image()
        except InvalidImage as error:  # replaced between the key and the request
            return Asked(failure=INVALID_IMAGE, detail=str(error))
        reply = await self.endpoint.post(client, self.payload(sample, image), self._read_completion, self.stats)
        if reply.kind == "ok":
            return Asked(answer=reply.value)
        if reply.kind == "rejected" and reply.content_filter:
            return Asked(answer=CachedAnswer("content_filter", reply.detail))
        return Asked.from_reply(reply)

    def _answer_to(self, sample: Sample, asked: Asked, *, cached: bool) -> Answer:
        if asked.answer is not None:
            return self._answer_from(sample, asked.answer, cached=cached)
        reason = asked.failure if asked.failure == INVALID_IMAGE else f"model_{asked.failure}"
        return Answer(sample.id, self.model, None, error=reason, error_detail=asked.detail, blind=self.blind)

    def jobs(self, samples: Sequence[Sample], done: Callable[[int, Answer], None]) -> list[Job[Sample]]:
        """The cache key of each sample, reading its image (one at a time, not kept) unless
        the run is blind; a sample whose image cannot be read is answered ``invalid_image``
        at once, and nothing of it is sent."""
        jobs: list[Job[Sample]] = []
        for index, sample in enumerate(samples):
            try:
                image = None if self.blind else sample.load_image()
            except InvalidImage as error:
                done(index, Answer(sample.id, self.model, None, error=INVALID_IMAGE, error_detail=self.endpoint.redact(str(error)), blind=self.blind))
                continue
            jobs.append(Job(index, sample, self.cache_key_for(sample, image)))
        return jobs

    async def arespond_many(self, samples: Iterable[Sample], *, on_answer: ProgressCallback | None = None) -> list[Answer]:
        """:meth:`respond_many` for code already inside an event loop (``await`` it)."""
        start = time.perf_counter()
        samples = list(samples)
        results: list[Answer | None] = [None] * len(samples)

        def done(index: int, answer: Answer) -> None:
            results[index] = answer
            if on_answer is not None:
                on_answer(answer)

        await ask_all(
            self.jobs(samples, done),
            endpoint=self.endpoint,
            cache=self.cache,
            concurrency=self.concurrency,
            ask=self._ask,
            done=lambda job, asked, cached: done(job.index, self._answer_to(job.item, asked, cached=cached)),
            stats=self.stats,
            model=self.model,
            sample_id=lambda sample: sample.id,
        )
        self.stats.samples += len(samples)
        self.stats.seconds += time.perf_counter() - start
        return [a for a in results if a is not None]

    def respond_many(self, samples: Iterable[Sample], *, on_answer: ProgressCallback | None = None) -> list[Answer]:
        """Ask about every sample concurrently; answers come back in the order of ``samples``.

        Works from plain code and from inside a running event loop (a notebook).
        """
        return run_sync(self.arespond_many(samples, on_answer=on_answer))

    def close(self) -> None:
        """Close the cache if this responder opened it."""
        if self._owns_cache and self.cache is not None:
            self.cache.close()

    def __enter__(self) -> Responder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
