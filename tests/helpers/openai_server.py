"""A scripted OpenAI-compatible chat-completions server for tests and benchmarks.

It serves ``POST /v1/chat/completions`` (and ``GET /v1/models``) on 127.0.0.1 from a
:class:`Script`: a list of :class:`Reply` rules, each optionally limited to requests
whose text contains ``match`` and to its first ``times`` uses, with latency and faults
(HTTP errors, ``Retry-After``, hanging past the client's timeout, malformed JSON,
content-filter errors). Every request is recorded for assertions.

In a test::

    with OpenAIServer(Script([Reply(status=500, times=1)], default='{"verdict": "safe"}')) as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="k", max_retries=0)
        ...
        assert len(server.requests) == 2

From a shell (the benchmark runs it this way, in its own process)::

    python tests/helpers/openai_server.py --latency 0.1 --default '{"verdict": "safe"}' [--script rules.json]

prints ``READY <base_url>`` once listening; ``GET /_stats`` returns the request count.

As a model under test (``mmsafety respond``), ``default`` may be a function of the request
that reads its query (:func:`request_text`) and images (:func:`request_images`), and
``reject_images`` makes it a text-only model that answers any request carrying an image
with a 400, as vLLM and OpenAI do.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import socket
import sys
import threading
import time

if __name__ == "__main__":  # run as a script, its folder comes first on the path: its http.py is not the standard library's
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != os.path.dirname(os.path.abspath(__file__))]
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Reply:
    """One scripted answer (or fault).

    - ``content``: the assistant's text (``None``: the script's default answer);
    - ``status``: HTTP status; non-200 statuses send an OpenAI-style error body with
      ``error_code`` / ``error_message``;
    - ``latency``: seconds to wait before answering (added to the script's own);
    - ``hang``: seconds to wait and then drop the connection without an answer;
    - ``retry_after``: a ``Retry-After`` header, in seconds;
    - ``body``: a raw body sent as is (e.g. malformed JSON), with status ``status``;
    - ``finish_reason``: of the one choice (``"content_filter"`` for a filtered answer);
    - ``refusal``: a structured-output refusal message instead of content;
    - ``match``: apply only to requests whose message text contains this;
    - ``times``: apply to this many matching requests, then fall through.
    """

    content: str | None = None
    status: int = 200
    latency: float = 0.0
    hang: float | None = None
    retry_after: float | None = None
    body: str | None = None
    error_code: str | None = None
    error_message: str = "scripted error"
    finish_reason: str = "stop"
    refusal: str | None = None
    match: str | None = None
    times: int | None = None


@dataclass
class Script:
    """Rules tried in order (first applicable wins), then ``default``.

    ``default`` is the assistant text when no rule applies (or a rule has no content);
    it may be a function of the request's JSON. ``reject_response_format`` answers 400
    to any request that asks for structured output, as some servers do; ``reject_images``
    answers 400 ("This model does not support image input") to any request with an image.
    """

    replies: list[Reply] = field(default_factory=list)
    default: str | Callable[[dict[str, Any]], str] = '{"verdict": "safe", "explanation": "scripted"}'
    latency: float = 0.0
    reject_response_format: bool = False
    reject_images: bool = False

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Script:
        return cls(
            replies=[Reply(**r) for r in data.get("replies", [])],
            default=data.get("default", cls.default),
            latency=float(data.get("latency", 0.0)),
            reject_response_format=bool(data.get("reject_response_format", False)),
            reject_images=bool(data.get("reject_images", False)),
        )


@dataclass
class RecordedRequest:
    """A request as the server saw it."""

    path: str
    headers: dict[str, str]
    body: Any
    text: str
    time: float


def request_text(body: Any) -> str:
    """All the text of a chat request's messages, concatenated (what ``match`` searches)."""
    parts: list[str] = []
    if isinstance(body, dict):
        for message in body.get("messages", []) or []:
            content = message.get("content") if isinstance(message, dict) else None
            if isinstance(content, str):
                parts.append(content)
            elif isinstance(content, list):
                parts.extend(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")
    return "\n".join(parts)


IMAGE_REJECTED = "This model does not support image input"


def request_images(body: Any) -> list[bytes]:
    """The images of a chat request (``image_url`` parts with base64 data URLs), decoded."""
    images: list[bytes] = []
    if isinstance(body, dict):
        for message in body.get("messages", []) or []:
            content = message.get("content") if isinstance(message, dict) else None
            if isinstance(content, list):
                for part in content:
                    if isinstance(part, dict) and part.get("type") == "image_url":
                        url = str((part.get("image_url") or {}).get("url", ""))
                        images.append(base64.b64decode(url.split(",", 1)[1]) if url.startswith("data:") else url.encode())
    return images


def request_turns(body: Any) -> list[tuple[str, list[str], list[bytes]]]:
    """Each message of a chat request as ``(role, its text parts, its images decoded)``: what a
    guard's conversation holds turn by turn (a string content is one text part)."""
    turns: list[tuple[str, list[str], list[bytes]]] = []
    for message in (body.get("messages", []) if isinstance(body, dict) else []) or []:
        content = message.get("content")
        texts = [content] if isinstance(content, str) else [p.get("text", "") for p in content or [] if p.get("type") == "text"]
        turns.append((str(message.get("role")), texts, request_images({"messages": [message]})))
    return turns


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def setup(self) -> None:
        super().setup()
        # headers and body go out in separate writes: without this, Nagle's algorithm and
        # delayed ACKs add ~40 ms to every keep-alive request
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        return

    def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        if self.path.rstrip("/").endswith("/models"):
            self._send(200, json.dumps({"object": "list", "data": [{"id": "scripted", "object": "model"}]}).encode())
        elif self.path == "/_stats":
            self._send(200, json.dumps({"requests": len(self.server.owner.requests)}).encode())
        else:
            self._send(404, b'{"error": {"message": "not found"}}')

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        try:
            body = json.loads(raw or b"null")
        except ValueError:
            body = None
        owner = self.server.owner
        text = request_text(body)
        owner._record(RecordedRequest(self.path, dict(self.headers.items()), body, text, time.time()))
        if not self.path.rstrip("/").endswith("/chat/completions"):
            self._send(404, b'{"error": {"message": "not found"}}')
            return
        owner._enter()
        try:
            self._answer(owner, body, text)
        finally:
            owner._leave()

    def _answer(self, owner: OpenAIServer, body: Any, text: str) -> None:
        script = owner.script
        reply = owner._choose(text)
        delay = script.latency + reply.latency
        if reply.hang is not None:
            time.sleep(reply.hang)
            self.close_connection = True
            return
        if delay:
            time.sleep(delay)
        headers: dict[str, str] = {}
        if reply.retry_after is not None:
            headers["Retry-After"] = f"{reply.retry_after:g}"
        try:
            if reply.body is not None:
                self._send(reply.status, reply.body.encode(), headers)
            elif script.reject_images and request_images(body):
                error = {"error": {"message": IMAGE_REJECTED, "type": "invalid_request_error", "param": "messages", "code": None}}
                self._send(400, json.dumps(error).encode(), headers)
            elif script.reject_response_format and isinstance(body, dict) and "response_format" in body:
                error = {"error": {"message": "response_format is not supported by this server", "type": "invalid_request_error", "param": "response_format", "code": None}}
                self._send(400, json.dumps(error).encode(), headers)
            elif reply.status != 200:
                error = {"error": {"message": reply.error_message, "type": "scripted_error", "param": None, "code": reply.error_code}}
                self._send(reply.status, json.dumps(error).encode(), headers)
            else:
                self._send(200, json.dumps(owner._completion(body, reply)).encode(), headers)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256
    owner: OpenAIServer


class OpenAIServer:
    """The scripted server; a context manager that serves from a background thread."""

    def __init__(self, script: Script | None = None, host: str = "127.0.0.1", port: int = 0) -> None:
        self.script = script or Script()
        self.requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        self._remaining: dict[int, int] = {}
        self._http = _Server((host, port), _Handler)
        self._http.owner = self
        self._thread: threading.Thread | None = None
        self._counter = 0
        self.in_flight = 0
        self.max_in_flight = 0
        """The most chat requests the server was answering at the same time."""

    @property
    def base_url(self) -> str:
        """The ``base_url`` to give an OpenAI client (ends in ``/v1``)."""
        host, port = self._http.server_address[:2]
        return f"http://{host}:{port}/v1"

    def set_script(self, script: Script) -> None:
        """Swap the script (and reset its ``times`` counters)."""
        with self._lock:
            self.script = script
            self._remaining = {}

    def chat_requests(self) -> list[RecordedRequest]:
        """The chat-completions requests received so far."""
        with self._lock:
            return [r for r in self.requests if r.path.rstrip("/").endswith("/chat/completions")]

    def _enter(self) -> None:
        with self._lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)

    def _leave(self) -> None:
        with self._lock:
            self.in_flight -= 1

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def _choose(self, text: str) -> Reply:
        with self._lock:
            for index, reply in enumerate(self.script.replies):
                if reply.match is not None and reply.match not in text:
                    continue
                if reply.times is not None:
                    left = self._remaining.setdefault(index, reply.times)
                    if left <= 0:
                        continue
                    self._remaining[index] = left - 1
                return reply
        return Reply()

    def _completion(self, body: Any, reply: Reply) -> dict[str, Any]:
        default = self.script.default
        content = reply.content
        if content is None and reply.refusal is None:
            content = default(body) if callable(default) else default
        with self._lock:
            self._counter += 1
            number = self._counter
        message: dict[str, Any] = {"role": "assistant", "content": content}
        if reply.refusal is not None:
            message = {"role": "assistant", "content": None, "refusal": reply.refusal}
        return {
            "id": f"chatcmpl-{number}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", "scripted") if isinstance(body, dict) else "scripted",
            "choices": [{"index": 0, "message": message, "finish_reason": reply.finish_reason, "logprobs": None}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
        }

    def start(self) -> OpenAIServer:
        self._thread = threading.Thread(target=self._http.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._http.shutdown()
        self._http.server_close()

    def __enter__(self) -> OpenAIServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds before every answer")
    parser.add_argument("--default", help="the assistant text when no rule applies")
    parser.add_argument("--reject-images", action="store_true", help="answer 400 to any request with an image (a text-only model)")
    parser.add_argument("--script", help="a JSON file: {replies: [...Reply fields...], default, latency, reject_response_format}")
    args = parser.parse_args(argv)
    script = Script()
    if args.script:
        with open(args.script, encoding="utf-8") as handle:
            script = Script.from_json(json.load(handle))
    if args.default is not None:
        script.default = args.default
    if args.latency:
        script.latency = args.latency
    if args.reject_images:
        script.reject_images = True
    server = OpenAIServer(script, port=args.port)
    print(f"READY {server.base_url}", flush=True)
    try:
        server._http.serve_forever(poll_interval=0.05)
    except KeyboardInterrupt:
        pass
    finally:
        server._http.server_close()
    return 0


__all__ = ["IMAGE_REJECTED", "OpenAIServer", "RecordedRequest", "Reply", "Script", "request_images", "request_text", "request_turns"]

if __name__ == "__main__":
    sys.exit(main())


SECRET = "sk-test-DO-NOT-LEAK-4f9a8b7c6d5e"
"""An API key that must never be written anywhere."""
KEY_ENV = "MMSAFETY_TEST_JUDGE_KEY"


def answer_from_response(body: Any) -> str:
    """The server's judge: answers with the word a test response carries as ANSWER=word."""
    found = re.search(r"ANSWER=(\w+)", request_text(body))
    return json.dumps({"verdict": found.group(1) if found else "unsafe", "explanation": "scripted"})
