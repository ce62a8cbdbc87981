"""Running the model under test: every sample of a built benchmark, asked of a vision model
behind an OpenAI-compatible chat endpoint (vLLM, SGLang, Ollama, OpenAI...).

Each request is what the papers send: the sample's image as a base64 data URL and its
``query`` verbatim, in one user message (after an optional system prompt), at
temperature 0. Around that, the LLM judge's machinery (:mod:`mmsafety.runs.endpoint`):

- at most ``concurrency`` requests in flight; back-off with jitter on 429 (honouring
  ``Retry-After``), 408/409, 5xx, timeouts, connection errors and malformed bodies;
- an answer cache (:class:`~mmsafety.runs.cache.AnswerCache`, SQLite, one commit per
  answer) keyed by :meth:`Responder.cache_key_for` — model, sample id, hashes of the query,
  the image bytes and the system prompt, and the generation settings; never the endpoint's
  address, never the key — so an interrupted run resumes where it stopped;
- a sample the endpoint will not answer (a 400 such as "this model does not support image
  input", a provider's content filter, retries exhausted) becomes a record with
  ``"response": null`` and an ``error`` reason (:data:`ERROR_REASONS`) and the run goes on;
  ``mmsafety judge`` then counts it ``invalid`` with that reason. Failures that may pass
  (timeouts, 5xx) are not cached: a rerun asks again;
- an endpoint that never answers (nothing listening, every request timing out before any
  reply) stops the run with :class:`~mmsafety.runs.endpoint.EndpointError` naming the URL, as do
  401/403/404 (bad key, no access, unknown model).

>>> responder = Responder(model="Qwen/Qwen2.5-VL-7B-Instruct", base_url="http://localhost:8000/v1")  # doctest: +SKIP
>>> answers = responder.respond_many(load_samples("vlsbench").samples.values())  # doctest: +SKIP
>>> answers[0].to_record()  # doctest: +SKIP
{'id': '1', 'model': 'Qwen/Qwen2.5-VL-7B-Instruct', 'response': '...', 'finish_reason': 'stop'}
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import openai

from mmsafety.runs.endpoint import (
    DEFAULT_API_KEY_ENV,
    ChatEndpoint,
    EndpointError,
    Reply,
    RetryPolicy,
    data_url,
    first_choice,
    gather_or_cancel,
    run_sync,
)
from mmsafety.errors import InputError
from mmsafety.runs.records import Sample
from mmsafety.runs.cache import AnswerCache, CachedAnswer, cache_key, sha256_text

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
)
"""Why a sample has no response: the endpoint rejected the request (``model_bad_request``,
e.g. an image it does not accept), a provider's content filter, or retries exhausted."""

UNREACHABLE = ("connection_error", "timeout")
"""Failures that, before the endpoint has answered anything, mean it does not answer at all."""


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

    def to_record(self) -> dict[str, Any]:
        """The JSON object written for this answer (``error``/``error_detail`` only on failure).

        >>> Answer("3", "m", None, error="model_bad_request", error_detail="HTTP 400: no images").to_record()
        {'id': '3', 'model': 'm', 'response': None, 'error': 'model_bad_request', 'error_detail': 'HTTP 400: no images'}
        """
        record: dict[str, Any] = {"id": self.id, "model": self.model, "response": self.response}
        if self.finish_reason is not None:
            record["finish_reason"] = self.finish_reason
        if self.error is not None:
            record["error"] = self.error
            record["error_detail"] = self.error_detail
        return record


@dataclass
class RespondStats:
    """What a run did: answers, errors by reason, requests, cache hits, retries, time."""

    samples: int = 0
    requests: int = 0
    cache_hits: int = 0
    retries: int = 0
    seconds: float = 0.0

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
            lines.append("errors: " + ", ".join(f"{r} {n}" for r, n in sorted(errors.items(), key=lambda x: (-x[1], x[0]))))
        lines.append(f"requests made {self.requests}, cache hits {self.cache_hits}, retries {self.retries}")
        return "\n".join(lines)


ProgressCallback = Callable[[Answer], None]


class Responder:
    """Ask a model behind an OpenAI-compatible endpoint about each sample (image + query)."""

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
        self.stats = RespondStats()
        self._endpoint_answered = False

    # -- identity of an answer -------------------------------------------------------

    def settings(self) -> dict[str, Any]:
        """The generation settings that decide an answer (part of the cache key)."""
        return {"temperature": self.temperature, "max_tokens": self.max_tokens}

    def cache_key_for(self, sample: Sample, image: bytes | None) -> str:
        """Everything that decides the model's answer: the model, the sample id, hashes of the
        query, the image bytes and the system prompt, and the generation settings. Never the
        API key or the endpoint's address (the same model served elsewhere answers the same)."""
        return cache_key(
            {
                "respond": self.version,
                "model": self.model,
                "sample_id": sample.id,
                "query": sha256_text(sample.query),
                "image": None if image is None else hashlib.sha256(image).hexdigest(),
                "system_prompt": None if self.system_prompt is None else sha256_text(self.system_prompt),
                "settings": self.settings(),
            }
        )

    # -- building a request ---------------------------------------------------------

    def messages(self, sample: Sample, image: bytes | None) -> list[dict[str, Any]]:
        """The chat messages for one sample: the system prompt if any, then the image and the query."""
        content: list[dict[str, Any]] = []
        if image is not None:
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

    @staticmethod
    def _read_completion(completion: Any) -> CachedAnswer:
        """A chat-completion body as a cacheable outcome; ``ValueError`` when it is not one."""
        choice = first_choice(completion)
        if choice.finish_reason == "content_filter" and not choice.content:
            return CachedAnswer("content_filter", "the provider's content filter withheld the answer (finish_reason content_filter)")
        text = choice.content or choice.refusal or ""
        return CachedAnswer("answer", json.dumps({"response": text, "finish_reason": choice.finish_reason}, ensure_ascii=False))

    def _answer_from(self, sample: Sample, outcome: CachedAnswer, *, cached: bool) -> Answer:
        if outcome.outcome == "content_filter":
            return Answer(sample.id, self.model, None, error="model_content_filter", error_detail=outcome.raw, cached=cached)
        try:
            data = json.loads(outcome.raw or "")
            return Answer(sample.id, self.model, str(data["response"]), data.get("finish_reason"), cached=cached)
        except (ValueError, KeyError, TypeError):  # an entry this version did not write
            return Answer(sample.id, self.model, None, error="model_malformed_response", error_detail="unreadable cache entry")

    # -- running ---------------------------------------------------------------------

    async def _ask(self, client: openai.AsyncOpenAI, sample: Sample, image: bytes | None) -> tuple[CachedAnswer | None, Reply]:
        reply = await self.endpoint.post(client, self.payload(sample, image), self._read_completion, self.stats)
        if reply.kind == "ok":
            self._endpoint_answered = True
            return reply.value, reply
        if reply.kind == "rejected":
            self._endpoint_answered = True
            if reply.content_filter:
                return CachedAnswer("content_filter", reply.detail), reply
            return None, reply
        if reply.reason in UNREACHABLE and not self._endpoint_answered:
            raise EndpointError(
                f"no answer from the model endpoint {self.endpoint.where}: {reply.detail}; check --base-url "
                "(and that the server is up and serving the model) or give a longer --timeout"
            )
        return None, reply

    async def arespond_many(self, samples: Iterable[Sample], *, on_answer: ProgressCallback | None = None) -> list[Answer]:
        """:meth:`respond_many` for code already inside an event loop (``await`` it)."""
        start = time.perf_counter()
        samples = list(samples)
        results: list[Answer | None] = [None] * len(samples)
        semaphore = asyncio.Semaphore(self.concurrency)

        def done(index: int, answer: Answer) -> None:
            results[index] = answer
            if on_answer is not None:
                on_answer(answer)

        async def one(client: openai.AsyncOpenAI, index: int, sample: Sample) -> None:
            async with semaphore:
                image = sample.load_image()
                key = self.cache_key_for(sample, image)
                hit = self.cache.get(key) if self.cache is not None else None
                if hit is not None:
                    self.stats.cache_hits += 1
                    done(index, self._answer_from(sample, hit, cached=True))
                    return
                outcome, reply = await self._ask(client, sample, image)
            if outcome is None:
                reason = f"model_{reply.reason}" if reply.kind == "failed" else "model_bad_request"
                done(index, Answer(sample.id, self.model, None, error=reason, error_detail=reply.detail))
                return
            if self.cache is not None:
                self.cache.put(key, outcome, model=self.model, sample_id=sample.id)
            done(index, self._answer_from(sample, outcome, cached=False))

        async with self.endpoint.connect() as client:
            await gather_or_cancel(one(client, index, sample) for index, sample in enumerate(samples))
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
