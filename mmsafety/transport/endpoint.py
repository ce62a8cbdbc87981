"""Asking an OpenAI-compatible chat endpoint (OpenAI, vLLM, SGLang, Ollama...): one request,
retried as it should be, and classified.

The machinery shared by the LLM judge (:mod:`mmsafety.judges.llm`) and by the model
under test (:mod:`mmsafety.runs.respond`); what to ask and what an answer means stays with
them. :meth:`ChatEndpoint.post` sends one chat-completions body and comes back with a
:class:`Reply`:

- ``ok``: a chat completion, read by the caller's ``read`` function (a ``ValueError`` from
  it means a malformed body, retried like a server error);
- ``rejected``: a 4xx the endpoint will answer again the same way (400, 422, 413...), not
  retried; ``content_filter`` says whether it is a provider's content filter;
- ``failed``: 429 (honouring ``Retry-After``), 408/409, 5xx, timeouts, connection errors
  and malformed bodies, retried with exponential back-off and full jitter up to
  ``RetryPolicy.max_attempts`` requests, then given up with a ``reason``
  (``rate_limited``, ``server_error``, ``timeout``, ``connection_error``,
  ``malformed_response``);
- 401, 403 and 404 (bad key, no access, unknown model or path) raise the endpoint's
  ``config_error`` at once: nothing would be answered, so the run stops.

Timeouts and connection errors are retried at most ``RetryPolicy.transport_attempts`` times
(an endpoint that does not answer is not asked six times over). Each attempt has one deadline,
``timeout`` seconds from sending to the whole body read (a slow drip does not stretch it). A body
is read to at most ``max_body_bytes`` (:data:`DEFAULT_MAX_BODY_BYTES`): a longer one, or an endless
stream, is given up at once as ``response_too_large`` with memory flat. A ``Retry-After`` longer
than ``RetryPolicy.max_retry_after`` is not waited for: the item is given up as ``rate_limited``,
its detail saying what the endpoint asked. The user and password of a URL (``http://alice:secret@host``)
are masked wherever an endpoint is named. The API key is read from an
environment variable and sent only in the request header; :meth:`ChatEndpoint.redact` masks
it, in every spelling (plain, percent-encoded with ``%2D`` or ``%2d``, double-encoded), in
every text a :class:`Reply` or an error carries, and :meth:`ChatEndpoint.redact_key` in an
answer that echoes it. Requests go through
``openai.AsyncOpenAI`` (``max_retries=0``: the back-off here is the only one) and its
documented low-level ``post``, which raises the same typed errors as
``chat.completions.create`` but skips its per-request parameter transforms.
"""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import contextlib
import email.utils
import functools
import json
import os
import random
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx2
import openai

from mmsafety.errors import InputError

DEFAULT_API_KEY_ENV = "OPENAI_API_KEY"
PLACEHOLDER_API_KEY = "EMPTY"
"""Sent when the key variable is unset but a ``base_url`` is given (local servers need none)."""

RETRYABLE_STATUS = frozenset({408, 409, 429})
FATAL_STATUS = {401: "refused the API key", 403: "denied access", 404: "does not know this model or path"}
UNREACHABLE = ("connection_error", "timeout")
"""Failures that say nothing answered (retried at most ``RetryPolicy.transport_attempts`` times)."""
FAILURE_REASONS = ("rate_limited", "server_error", "timeout", "connection_error", "malformed_response", "response_too_large")
"""Why a request was given up after its retries (a :class:`Reply` of kind ``failed``)."""

REDACTED = "[redacted]"
MIN_REDACTED_KEY = 8
"""Keys shorter than this (``EMPTY``, a local server's ``token``) are not masked in answers:
masking them would rewrite ordinary words; every real provider's key is far longer."""
SECRET_SHAPE = re.compile(r"\b(sk|key|token)-[A-Za-z0-9_\-*]{4,}")
URL_USERINFO = re.compile(r"(?<=://)[^/?#@\s]+@")
"""The ``user:password@`` of a URL."""
DEFAULT_MAX_BODY_BYTES = 4 * 1024 * 1024
"""The longest response body read (4 MiB: a chat completion is a few KiB; a longer one is given up)."""


def redact_url(text: str) -> str:
    """``text`` with the user and password of every URL in it masked.

    >>> redact_url("no answer from http://alice:SECRET@host:8000/v1")
    'no answer from http://[redacted]@host:8000/v1'
    """
    return URL_USERINFO.sub(REDACTED + "@", text)


class ResponseTooLarge(Exception):
    """A response body longer than the endpoint's ``max_body_bytes``."""


class _CappedStream(httpx2.AsyncByteStream):
    def __init__(self, stream: Any, limit: int) -> None:
        self._stream, self._limit = stream, limit

    async def __aiter__(self) -> AsyncIterator[bytes]:
        read = 0
        async for chunk in self._stream:
            read += len(chunk)
            if read > self._limit:
                raise ResponseTooLarge(f"the response body is longer than {self._limit} bytes")
            yield chunk

    async def aclose(self) -> None:
        await self._stream.aclose()


class _CappedTransport(httpx2.AsyncHTTPTransport):
    """The HTTP transport, each response body read to at most ``limit`` bytes (then :class:`ResponseTooLarge`)."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self._limit = limit

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        response = await super().handle_async_request(request)
        length = response.headers.get("content-length", "")
        if length.isdigit() and int(length) > self._limit:
            await response.aclose()
            raise ResponseTooLarge(f"the response body is {int(length)} bytes, longer than {self._limit}")
        response.stream = _CappedStream(response.stream, self._limit)
        return response

T = TypeVar("T")


def key_pattern(key: str) -> re.Pattern[str]:
    """A pattern matching ``key`` however an echo spells it: each character as itself, or
    percent-encoded (``%2D`` or ``%2d``, also double-encoded ``%252D``), in any mix.

    >>> pattern = key_pattern("sk-ab")
    >>> [bool(pattern.fullmatch(s)) for s in ("sk-ab", "sk%2Dab", "%73k%2dab", "sk%252Dab", "sk-AB")]
    [True, True, True, True, False]
    """
    parts = []
    for char in key:
        encoded = "".join(f"%(?:25)?(?i:{byte:02x})" for byte in char.encode("utf-8"))
        parts.append(f"(?:{re.escape(char)}|{encoded})")
    return re.compile("".join(parts))


class EndpointError(InputError):
    """An endpoint that cannot be used as configured or does not answer: the run stops."""


@dataclass(frozen=True)
class RetryPolicy:
    """How failed requests are retried: at most ``max_attempts`` requests per item (at most
    ``transport_attempts`` when they time out or cannot connect), waiting
    ``uniform(0, min(max_delay, base_delay * 2**n))`` after the n-th failure, or at least
    the server's ``Retry-After`` (capped at ``max_retry_after``) plus a little jitter.
    A run stops after ``stop_after_failures`` items in a row were given up
    (:class:`mmsafety.transport.ask.FailFast`).

    >>> policy = RetryPolicy(base_delay=1.0, max_delay=8.0)
    >>> 0 <= policy.delay(3, random.Random(0)) <= 8.0
    True
    >>> 2.0 <= policy.delay(1, random.Random(0), retry_after=2.0) <= 2.2
    True
    """

    max_attempts: int = 6
    base_delay: float = 0.5
    max_delay: float = 30.0
    max_retry_after: float = 120.0
    transport_attempts: int = 3
    stop_after_failures: int = 8

    def delay(self, failures: int, rng: random.Random, retry_after: float | None = None) -> float:
        if retry_after is not None:
            wait = min(max(retry_after, 0.0), self.max_retry_after)
            return wait + rng.uniform(0, 0.1 * wait + 0.01)
        return rng.uniform(0, min(self.max_delay, self.base_delay * 2 ** (failures - 1)))


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    """Seconds a ``Retry-After`` (or ``retry-after-ms``) header asks to wait, if any.

    >>> retry_after_seconds({"retry-after": "3"}), retry_after_seconds({"retry-after-ms": "250"})
    (3.0, 0.25)
    >>> retry_after_seconds({}) is None
    True
    """
    lowered = {k.lower(): v for k, v in headers.items()}
    if "retry-after-ms" in lowered:
        try:
            return float(lowered["retry-after-ms"]) / 1000
        except ValueError:
            pass
    value = lowered.get("retry-after")
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        try:
            parsed = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        return max(0.0, parsed.timestamp() - time.time())


def image_mime(data: bytes) -> str:
    """The MIME type of image bytes, from their magic number (``image/png`` when unknown).

    >>> image_mime(b"\\xff\\xd8\\xff\\xe0..."), image_mime(b"RIFF....WEBPVP8 ")
    ('image/jpeg', 'image/webp')
    """
    if data.startswith(b"\x89PNG"):
        return "image/png"
    if data.startswith(b"\xff\xd8"):
        return "image/jpeg"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data.startswith(b"BM"):
        return "image/bmp"
    return "image/png"


def data_url(image: bytes) -> str:
    """``data:<mime>;base64,...`` for image bytes.

    >>> data_url(b"\\x89PNG")
    'data:image/png;base64,iVBORw=='
    """
    return f"data:{image_mime(image)};base64,{base64.b64encode(image).decode('ascii')}"


def is_content_filter(error: openai.APIStatusError) -> bool:
    """Whether an error response is a provider's content filter (OpenAI, Azure spellings)."""
    codes = {str(error.code or "").lower()}
    body = error.body
    if isinstance(body, dict):
        inner = body.get("innererror")
        if isinstance(inner, dict):
            codes.add(str(inner.get("code", "")).lower())
    return any(code in ("content_filter", "content_policy_violation", "responsibleaipolicyviolation") for code in codes)


@dataclass(frozen=True)
class Choice:
    """The first choice of a chat-completion body: its text, why it stopped, any refusal."""

    content: str | None
    finish_reason: str | None
    refusal: str | None


def first_choice(completion: Any) -> Choice:
    """Read the first choice of a chat-completion body; ``ValueError`` when it is not one.

    >>> first_choice({"choices": [{"message": {"content": "Yes."}, "finish_reason": "stop"}]})
    Choice(content='Yes.', finish_reason='stop', refusal=None)
    """
    choices = completion.get("choices") if isinstance(completion, dict) else None
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise ValueError("the body is not a chat completion: no choices")
    choice = choices[0]
    message = choice.get("message")
    if not isinstance(message, dict):
        raise ValueError("the body is not a chat completion: no message")
    content = message.get("content")
    if content is not None and not isinstance(content, str):
        raise ValueError("the body is not a chat completion: content is not text")
    refusal = message.get("refusal")
    return Choice(content, choice.get("finish_reason"), str(refusal) if refusal else None)


@dataclass(frozen=True)
class Reply:
    """What one :meth:`ChatEndpoint.post` came to.

    ``kind`` is ``ok`` (``value`` holds what the caller's ``read`` made of the body),
    ``rejected`` (``status``, and ``content_filter`` when a provider filtered it) or
    ``failed`` (``reason`` from :data:`FAILURE_REASONS`). ``detail`` is a redacted,
    human-readable account of a rejection or failure.
    """

    kind: str
    value: Any = None
    status: int | None = None
    content_filter: bool = False
    reason: str | None = None
    detail: str = ""


class ChatEndpoint:
    """One OpenAI-compatible endpoint: its address, key, timeout and retry policy.

    ``role`` names it in fatal errors (``"the judge endpoint ... refused the API key"``);
    ``config_error`` is the :class:`~mmsafety.errors.InputError` subclass those are raised as.
    """

    def __init__(
        self,
        *,
        base_url: str | None,
        api_key_env: str = DEFAULT_API_KEY_ENV,
        timeout: float = 60.0,
        retry: RetryPolicy | None = None,
        seed: int | None = None,
        role: str = "endpoint",
        config_error: type[InputError] = EndpointError,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    ) -> None:
        self.config_error = config_error
        self.max_body_bytes = max_body_bytes
        self.role = role
        if timeout <= 0:
            raise config_error(f"expected a positive --timeout, found {timeout}")
        key = os.environ.get(api_key_env, "")
        if not key:
            if base_url is None:
                raise config_error(
                    f"the {role} needs an API key: set the environment variable {api_key_env} "
                    "(or name another with --api-key-env), or give --base-url for a local server"
                )
            key = PLACEHOLDER_API_KEY
        self._api_key = key
        self._key_pattern = key_pattern(key) if key != PLACEHOLDER_API_KEY and len(key) >= MIN_REDACTED_KEY else None
        self.api_key_env = api_key_env
        self.base_url = base_url
        self.timeout = timeout
        self.retry = retry or RetryPolicy()
        self._rng = random.Random(seed)

    def redact_key(self, text: str) -> str:
        """``text`` with the API key masked in every spelling (see :func:`key_pattern`);
        used on answers, so nothing else in them changes."""
        if self._key_pattern is None or not text:
            return text
        return self._key_pattern.sub(REDACTED, text)

    def redact(self, text: str) -> str:
        """``text`` with the API key (every spelling) and anything shaped like a secret key
        masked (a key too short for :meth:`redact_key`, as written); used on error texts."""
        if self._key_pattern is None and self._api_key != PLACEHOLDER_API_KEY:
            text = text.replace(self._api_key, REDACTED)
        return redact_url(SECRET_SHAPE.sub(r"\1-" + REDACTED, self.redact_key(text)))

    @property
    def where(self) -> str:
        """The endpoint as errors name it (its base URL, the key masked should it hold it)."""
        return redact_url(self.redact_key(self.base_url)) if self.base_url else "the OpenAI API"

    @functools.cached_property
    def address(self) -> str:
        """The endpoint's identity in a cache key: its base URL, without a trailing slash,
        scheme and host in lower case (the OpenAI API's own when none is given).

        >>> ChatEndpoint(base_url="HTTP://LocalHost:8000/v1/").address
        'http://localhost:8000/v1'
        """
        url = (self.base_url or "https://api.openai.com/v1").strip().rstrip("/")
        scheme, sep, rest = url.partition("://")
        if not sep:
            return url
        host, slash, path = rest.partition("/")
        return f"{scheme.lower()}://{host.lower()}{slash}{path}"

    @contextlib.asynccontextmanager
    async def connect(self) -> AsyncIterator[openai.AsyncOpenAI]:
        """An async client for this endpoint (no retries of its own), closed on exit."""
        client = openai.AsyncOpenAI(api_key=self._api_key, base_url=self.base_url, max_retries=0, timeout=self.timeout,
                                    http_client=openai.DefaultAsyncHttpxClient(transport=_CappedTransport(self.max_body_bytes)))
        try:
            yield client
        finally:
            await client.close()

    async def post(
        self,
        client: openai.AsyncOpenAI,
        payload: Mapping[str, Any],
        read: Callable[[Any], T],
        stats: Any = None,
    ) -> Reply:
        """Send one chat-completions body, retrying what is worth retrying; see the module doc.

        ``stats``, when given, has its ``requests`` and ``retries`` counters increased.
        """
        failures = transport_failures = 0
        last_reason, last_detail = "server_error", ""
        while True:
            retry_after: float | None = None
            if stats is not None:
                stats.requests += 1
            try:
                # The client's low-level post with the raw text back: the same errors, timeouts
                # and headers as `chat.completions.create`, without its per-request type
                # transforms (half the client's CPU time per request).
                text = await asyncio.wait_for(
                    client.post("/chat/completions", body=dict(payload), cast_to=str),
                    timeout=self.timeout,  # one deadline per attempt, the body read included
                )
                return Reply("ok", value=read(json.loads(text)))
            except openai.APIStatusError as error:
                status = error.status_code
                if status in FATAL_STATUS:
                    raise self.fatal(status, str(payload.get("model", ""))) from None
                if status in RETRYABLE_STATUS or status >= 500:
                    last_reason = "rate_limited" if status == 429 else "server_error"
                    last_detail = f"HTTP {status}: {error.message}"
                    retry_after = retry_after_seconds(error.response.headers)
                    if retry_after is not None and retry_after > self.retry.max_retry_after:
                        return Reply("failed", reason=last_reason, detail=self.redact(
                            f"{last_detail}; the endpoint asked to retry after {retry_after:g} s, longer than the "
                            f"{self.retry.max_retry_after:g} s mmsafety waits: given up (attempt {failures + 1})"))
                else:
                    return Reply(
                        "rejected",
                        status=status,
                        content_filter=is_content_filter(error),
                        detail=self.redact(f"HTTP {status}: {error.message}"),
                    )
            except ResponseTooLarge as error:
                return Reply("failed", reason="response_too_large", detail=self.redact(str(error)))
            except (openai.APITimeoutError, asyncio.TimeoutError):
                last_reason, last_detail = "timeout", f"no answer within {self.timeout:g} s"
            except openai.APIConnectionError as error:
                if isinstance(error.__cause__, ResponseTooLarge):
                    return Reply("failed", reason="response_too_large", detail=self.redact(str(error.__cause__)))
                cause = f" ({error.__cause__})" if error.__cause__ is not None and str(error.__cause__) else ""
                last_reason, last_detail = "connection_error", f"connection error: {error.message}{cause}"
            except (ValueError, openai.APIResponseValidationError) as error:
                last_reason, last_detail = "malformed_response", f"malformed response body: {error}"
            failures += 1
            if last_reason in UNREACHABLE:
                transport_failures += 1
            if failures >= self.retry.max_attempts or transport_failures >= self.retry.transport_attempts:
                return Reply("failed", reason=last_reason, detail=self.redact(f"{last_detail} (gave up after {failures} attempts)"))
            if stats is not None:
                stats.retries += 1
            await asyncio.sleep(self.retry.delay(failures, self._rng, retry_after))

    def fatal(self, status: int, model: str) -> InputError:
        """The error that stops a run on a 401, 403 or 404."""
        hint = f": check {self.api_key_env}" if status in (401, 403) else f": check --model {model!r} and --base-url"
        return self.config_error(f"the {self.role} {self.where} {FATAL_STATUS[status]} (HTTP {status}){hint}")


async def gather_or_cancel(coroutines: Iterable[Awaitable[Any]]) -> None:
    """Run every coroutine concurrently; on the first exception cancel the rest and re-raise it."""
    tasks = [asyncio.ensure_future(c) for c in coroutines]
    try:
        await asyncio.gather(*tasks)
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


def run_sync(coroutine: Awaitable[T]) -> T:
    """Run ``coroutine`` to completion from plain code or from inside a running event loop
    (a notebook), where it runs its own loop in a worker thread."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)  # type: ignore[arg-type]
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()  # type: ignore[arg-type]
