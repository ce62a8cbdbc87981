"""The one concurrent ask loop of a run: cache → semaphore → ask → store.

Both the model under test (:meth:`mmsafety.runs.respond.Responder.arespond_many`) and the
LLM judge (:meth:`mmsafety.judges.llm.LLMJudge.ajudge_many`) hand :func:`ask_all` a list of
:class:`Job` (an item, its place in the run and its cache key) and two functions: ``ask``
(one item to one :class:`Asked`, through :meth:`ChatEndpoint.post`) and ``done`` (what the
caller makes of an :class:`Asked`). The loop:

1. reads every key the cache holds in one query and hands those answers to ``done``
   (``cached=True``) without a request;
2. asks about the rest, at most ``concurrency`` at a time;
3. masks the API key in what came back (every spelling: an answer that echoes the key is
   kept, and cached, masked), commits each cacheable answer as it arrives (a run killed at
   any moment keeps what it had), and hands it to ``done``;
4. stops the run (:class:`FailFast`) when the endpoint does not answer at all, or gives up
   ``RetryPolicy.stop_after_failures`` items in a row, with the endpoint's
   ``config_error`` naming its URL; what was answered before is in the cache.

It knows nothing of samples, rubrics or verdicts: what to ask and what an answer means stay
with the caller.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from typing import Generic, TypeVar

import openai

from mmsafety.transport.cache import AnswerCache, CachedAnswer
from mmsafety.transport.endpoint import UNREACHABLE, ChatEndpoint, Reply, gather_or_cancel
from mmsafety.runs.records import RunStats

T = TypeVar("T")

INVALID_IMAGE = "invalid_image"
"""The reason of an item whose image could not be read as one: nothing was sent."""


@dataclass(frozen=True)
class Asked:
    """What asking about one item came to: a cacheable ``answer``, or a ``failure`` reason
    (``bad_request``, a :data:`~mmsafety.transport.endpoint.FAILURE_REASONS` entry, or
    ``invalid_image`` when nothing was sent) with a human ``detail``.

    >>> Asked.from_reply(Reply("failed", reason="timeout", detail="no answer within 30 s"))
    Asked(answer=None, failure='timeout', detail='no answer within 30 s')
    """

    answer: CachedAnswer | None = None
    failure: str | None = None
    detail: str = ""

    @classmethod
    def from_reply(cls, reply: Reply) -> Asked:
        """The failure a ``rejected`` or ``failed`` reply stands for (``bad_request`` for a rejection)."""
        return cls(failure=reply.reason if reply.kind == "failed" else "bad_request", detail=reply.detail)

    @property
    def answered(self) -> bool:
        """Whether the endpoint answered (with an answer or a rejection)."""
        return self.answer is not None or self.failure == "bad_request"

    @property
    def given_up(self) -> bool:
        """Whether the endpoint was asked and failed to answer, retries exhausted."""
        return self.failure is not None and self.failure not in ("bad_request", INVALID_IMAGE)


@dataclass(frozen=True)
class Job(Generic[T]):
    """One item of a run: its ``index`` in the caller's order, the ``item`` and its cache ``key``."""

    index: int
    item: T
    key: str


class FailFast:
    """Stops a run whose endpoint does not answer: the first item given up for a timeout or a
    connection error before anything was answered, or ``limit`` items in a row given up for
    any reason. Raises the endpoint's ``config_error`` (an ``InputError``) naming its URL.
    """

    def __init__(self, endpoint: ChatEndpoint, limit: int) -> None:
        self.endpoint = endpoint
        self.limit = max(1, limit)
        self.answered = False
        self.in_a_row = 0
        self.stopped = False

    def record(self, asked: Asked) -> None:
        if asked.answered:
            self.answered, self.in_a_row = True, 0
            return
        if not asked.given_up:
            return
        self.in_a_row += 1
        where, role = self.endpoint.where, self.endpoint.role
        self.stopped = (not self.answered and asked.failure in UNREACHABLE) or self.in_a_row >= self.limit
        if not self.answered and asked.failure in UNREACHABLE:
            raise self.endpoint.config_error(
                f"no answer from the {role} {where}: {asked.detail}; check --base-url "
                "(and that the server is up and serving the model) or give a longer --timeout"
            )
        if self.in_a_row >= self.limit:
            raise self.endpoint.config_error(
                f"the {role} {where} failed {self.in_a_row} requests in a row (last: {asked.detail}); "
                "stopped: the answers so far are cached, rerun to resume once it answers"
            )


async def ask_all(
    jobs: Sequence[Job[T]],
    *,
    endpoint: ChatEndpoint,
    cache: AnswerCache | None,
    concurrency: int,
    ask: Callable[[openai.AsyncOpenAI, T], Awaitable[Asked]],
    done: Callable[[Job[T], Asked, bool], None],
    stats: RunStats,
    model: str = "",
    sample_id: Callable[[T], str] = lambda item: "",
) -> None:
    """Answer every job from the cache or the endpoint; ``done(job, asked, cached)`` once each.

    ``stats`` has its ``cache_hits`` (and, through the endpoint, ``requests`` and
    ``retries``) counters increased; ``model`` and ``sample_id`` label cache entries.
    """
    hits = cache.get_many([job.key for job in jobs]) if cache is not None else {}
    missing: list[Job[T]] = []
    for job in jobs:
        hit = hits.get(job.key)
        if hit is None:
            missing.append(job)
            continue
        stats.cache_hits += 1
        done(job, Asked(answer=hit), True)
    if not missing:
        return
    semaphore = asyncio.Semaphore(concurrency)
    guard = FailFast(endpoint, endpoint.retry.stop_after_failures)

    async def one(client: openai.AsyncOpenAI, job: Job[T]) -> None:
        async with semaphore:
            if guard.stopped:  # woken as the run stops: ask nothing more
                return
            asked = masked(endpoint, await ask(client, job.item))
            guard.record(asked)  # before the next item may start
        if asked.answer is not None and cache is not None:
            cache.put(job.key, asked.answer, model=model, sample_id=sample_id(job.item))
        done(job, asked, False)

    async with endpoint.connect() as client:
        await gather_or_cancel(one(client, job) for job in missing)


def masked(endpoint: ChatEndpoint, asked: Asked) -> Asked:
    """``asked`` with the API key masked in its answer (every spelling) and its detail."""
    answer = asked.answer
    if answer is not None and answer.raw:
        clean = endpoint.redact_key(answer.raw)
        if clean != answer.raw:
            answer = CachedAnswer(answer.outcome, clean)
    detail = endpoint.redact(asked.detail) if asked.detail else asked.detail
    if answer is asked.answer and detail == asked.detail:
        return asked
    return replace(asked, answer=answer, detail=detail)
