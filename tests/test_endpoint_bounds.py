"""An endpoint that answers too much, too slowly, or asks to wait for ever; a password in its URL
(issue 21, findings 8, 10, 11). Each test talks to a real loopback HTTP server through the real
OpenAI client."""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from helpers.env import subprocess_env
from helpers.judging import build_fixture

from mmsafety.transport.endpoint import ChatEndpoint, RetryPolicy, first_choice, run_sync

COMPLETION = json.dumps({"choices": [{"message": {"content": "ok"}, "finish_reason": "stop"}]}).encode()


def serve(answer: Callable[[BaseHTTPRequestHandler], None]) -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("content-length", "0")))
            try:
                answer(self)
            except (BrokenPipeError, ConnectionResetError):
                pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()


def endless(handler: BaseHTTPRequestHandler) -> None:
    """A chunked body that never ends."""
    handler.send_response(200)
    handler.send_header("content-type", "application/json")
    handler.send_header("transfer-encoding", "chunked")
    handler.end_headers()
    chunk = b" " * 65536
    while True:
        handler.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))


def huge(handler: BaseHTTPRequestHandler) -> None:
    """A 1 GiB body, said in Content-Length."""
    size = 1 << 30
    handler.send_response(200)
    handler.send_header("content-type", "application/json")
    handler.send_header("content-length", str(size))
    handler.end_headers()
    chunk = b" " * 65536
    for _ in range(size // len(chunk)):
        handler.wfile.write(chunk)


def drip(handler: BaseHTTPRequestHandler) -> None:
    """A complete body, one byte every 0.4 s (each read is quick; the whole is not)."""
    handler.send_response(200)
    handler.send_header("content-type", "application/json")
    handler.send_header("content-length", str(len(COMPLETION)))
    handler.end_headers()
    for byte in COMPLETION:
        handler.wfile.write(bytes([byte]))
        handler.wfile.flush()
        time.sleep(0.4)


def retry_later(handler: BaseHTTPRequestHandler) -> None:
    handler.send_response(429)
    handler.send_header("retry-after", "100000")
    handler.send_header("content-type", "application/json")
    body = b'{"error": {"message": "slow down"}}'
    handler.send_header("content-length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


@pytest.fixture
def server(request: pytest.FixtureRequest) -> Iterator[str]:
    yield from serve(request.param)


def post(base_url: str, **options: Any) -> Any:
    endpoint = ChatEndpoint(base_url=base_url, seed=0, **{"retry": RetryPolicy(base_delay=0.01), **options})

    async def once() -> Any:
        async with endpoint.connect() as client:
            return await endpoint.post(client, {"model": "m", "messages": [{"role": "user", "content": "hi"}]}, first_choice)

    return run_sync(once())


ENDLESS_CHILD = """
import json, resource, sys
from mmsafety.transport.endpoint import ChatEndpoint, RetryPolicy, first_choice, run_sync
endpoint = ChatEndpoint(base_url=sys.argv[1], timeout=20, retry=RetryPolicy(base_delay=0.01))
async def once():
    async with endpoint.connect() as client:
        return await endpoint.post(client, {"model": "m", "messages": []}, first_choice)
reply = run_sync(once())
print(json.dumps({"kind": reply.kind, "reason": reply.reason, "peak_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""


def answer(handler: BaseHTTPRequestHandler) -> None:
    """A chat completion, as an endpoint answers."""
    handler.send_response(200)
    handler.send_header("content-type", "application/json")
    handler.send_header("content-length", str(len(COMPLETION)))
    handler.end_headers()
    handler.wfile.write(COMPLETION)


def child_reply(base_url: str) -> dict[str, Any]:
    done = subprocess.run([sys.executable, "-c", ENDLESS_CHILD, base_url], capture_output=True, text=True, env=subprocess_env(), timeout=120)
    assert done.stdout.strip(), done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("server", [endless], indirect=True)
def test_an_endless_stream_is_given_up_as_too_large_with_memory_flat(server: str) -> None:
    """Measured in child processes: the peak RSS against an endless stream stays within 64 MiB of
    the peak of one ordinary answer in the same run (20 s of loopback stream would be gigabytes)."""
    for baseline_url in serve(answer):
        baseline = child_reply(baseline_url)
    reply = child_reply(server)
    assert baseline["kind"] == "ok"
    assert reply["kind"] == "failed" and reply["reason"] == "response_too_large"
    assert reply["peak_kib"] < baseline["peak_kib"] + 64 * 1024, (reply, baseline)


@pytest.mark.parametrize("server", [huge], indirect=True)
def test_a_body_longer_than_the_limit_is_given_up_as_too_large(server: str) -> None:
    reply = post(server, max_body_bytes=1 << 20)
    assert (reply.kind, reply.reason) == ("failed", "response_too_large") and str(1 << 30) in reply.detail


@pytest.mark.parametrize("server", [drip], indirect=True)
def test_a_slow_drip_is_held_to_one_timeout_per_attempt(server: str) -> None:
    """The body takes ~17 s; each read takes 0.4 s, under the 2 s timeout: only one deadline per attempt stops it."""
    started = time.monotonic()
    reply = post(server, timeout=2.0, retry=RetryPolicy(base_delay=0.01, transport_attempts=1, max_attempts=1))
    assert reply.reason == "timeout" and time.monotonic() - started < 4.0


@pytest.mark.parametrize("server", [retry_later], indirect=True)
def test_a_long_retry_after_is_capped_and_said(server: str) -> None:
    started = time.monotonic()
    reply = post(server)
    assert reply.reason == "rate_limited" and "100000" in reply.detail and time.monotonic() - started < 10


def test_a_password_in_the_base_url_is_not_printed(hf_cache: Path, tmp_path: Path) -> None:
    """A dead endpoint (a port nothing listens on) named with a password: the error masks it."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    build_fixture(hf_cache, "vlsbench", count=2)
    done = subprocess.run([sys.executable, "-m", "mmsafety.cli", "respond", "vlsbench", "--base-url", f"http://alice:SECRET@127.0.0.1:{port}/v1",
                           "--model", "m", "--out", str(tmp_path / "out.jsonl"), "--timeout", "2", "--no-progress"],
                          capture_output=True, text=True, env=subprocess_env(), timeout=300)
    assert done.returncode == 2 and "SECRET" not in done.stdout + done.stderr and "127.0.0.1" in done.stderr, done.stderr
