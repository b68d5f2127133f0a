"""An exchange leaves nothing for the garbage collector: what it allocated is freed as it ends.

Objects in a reference cycle outlive their exchange until the collector finds them, and a busy
proxy then collects every few hundred streams, traversing everything the streams in flight hold:
at a hundred concurrent streams, one cancelled watcher task per exchange (its ``CancelledError``
held its frame, which held the exchange, which held the task) cost a tenth of the proxy's CPU
in collections, and its p99 time to first byte the collections' pauses.

Each test runs a few exchanges (warming caches, pools and connections), turns the collector off,
runs more, and asks :func:`gc.collect` how many unreachable objects it found: none. The remote is
the CLI's demo model (or, for the paths that cancel, a slow chat server) in its own process, so
that its garbage is not counted; the proxy runs in this process on a private event loop, driven
by a minimal ASGI client that makes no cycles either.
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from servers import closed_port_url, free_port, run_command, wait_until_up
from test_corpus_replay import http_scope

from asgi_translate import TranslateMiddleware

# The suite's spec check (tests/spec) is off here: jsonschema's errors for anyOf branches form
# cycles of their own, which would be counted as the exchange's.
pytestmark = [pytest.mark.slow, pytest.mark.spec_unchecked]

QUESTION = [{"role": "user", "content": "hello there"}]
REQUESTS: dict[str, dict[str, Any]] = {
    "/v1/messages": {"model": "demo", "max_tokens": 64, "messages": QUESTION},
    "/v1/chat/completions": {"model": "demo", "messages": QUESTION},
    "/v1/responses": {"model": "demo", "input": "hello there", "store": False},
}
EXCHANGES = 8


@pytest.fixture(scope="module")
def remote() -> Iterator[str]:
    """The demo model (a chat upstream) served by the CLI in a child process."""
    port = free_port()
    with run_command(["--port", str(port), "--log-level", "warning"], port):
        yield f"http://127.0.0.1:{port}"


async def exchange(app: Any, path: str, body: bytes, *, leave: bool = False) -> tuple[int, bytes]:
    """One request through ``app``: its status and body. ``receive`` answers the body, then
    waits (as a server's does) until the app has sent its last message, or, with ``leave``, its
    first frame: the client goes away mid-stream."""
    out: list[bytes] = []
    status = [0]
    ended = asyncio.Event()
    scope = http_scope(path, body)
    sent = [False]

    async def receive() -> dict[str, Any]:
        if not sent[0]:
            sent[0] = True
            return {"type": "http.request", "body": body, "more_body": False}
        await ended.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            status[0] = message["status"]
        else:
            out.append(message.get("body", b""))
            if not message.get("more_body", False) or (leave and message.get("body")):
                ended.set()

    await asyncio.wait_for(app(scope, receive, send), 10)  # a hung exchange fails the test
    return status[0], b"".join(out)


def cycles_left(
    app: TranslateMiddleware, path: str, stream: bool, body: bytes | None = None, status: int = 200
) -> tuple[Counter[str], bytes]:
    """The kinds of unreachable objects the collector finds after :data:`EXCHANGES` exchanges,
    each answered with ``status``, and the last body."""
    if body is None:
        body = json.dumps({**REQUESTS[path], "stream": stream}).encode()
    answers: list[bytes] = []

    async def run() -> None:
        answered, answer = await exchange(app, path, body)
        assert answered == status, answer
        answers.append(answer)

    loop = asyncio.new_event_loop()
    try:
        return garbage_of(loop, run), answers[-1]
    finally:
        if app.remote is not None:
            loop.run_until_complete(app.remote.aclose())
        loop.close()


@pytest.mark.parametrize("transport", ["aiohttp", "httpx"])
@pytest.mark.parametrize("stream", [True, False], ids=["stream", "json"])
@pytest.mark.parametrize("path", list(REQUESTS))
def test_a_proxied_exchange_leaves_no_cycles(
    remote: str, path: str, stream: bool, transport: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ASGI_TRANSLATE_HTTP", transport)
    app = TranslateMiddleware(upstream_url=remote + "/v1", upstream="chat")
    found, answer = cycles_left(app, path, stream)
    assert b"there" in answer  # the demo's "You said: hello there", whole or a word per frame
    if transport == "httpx":
        # httpcore now and then drops the upstream connection of an exchange that ended well (about
        # one run in four here: when the response is closed before the chunked body's last chunk
        # has been read, the connection cannot go back to the pool), and asyncio's transport leaves
        # its cycle for that socket. Those cycles are asyncio's; nothing else may be left.
        closed = found["_SelectorSocketTransport"]
        sockets = transport_cycles(closed)
        assert closed <= EXCHANGES and sockets <= found
        found -= sockets
    assert found == Counter()


@pytest.mark.parametrize("transport", ["aiohttp", "httpx"])
def test_failed_exchanges_leave_no_cycles(remote: str, transport: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The unhappy paths, which raise and catch on the way: a request refused before it goes
    up, an error the remote answers, a remote that cannot be reached."""
    monkeypatch.setenv("ASGI_TRANSLATE_HTTP", transport)
    refused = json.dumps({"model": "demo", "messages": "not a list"}).encode()
    chat = TranslateMiddleware(upstream_url=remote, upstream="chat")
    found, answer = cycles_left(chat, "/v1/messages", False, refused, 400)
    assert json.loads(answer)["type"] == "error"
    assert found == Counter()
    # The demo answers /v1/responses itself (translated); under another prefix it is its model's 404.
    elsewhere = TranslateMiddleware(upstream_url=remote + "/elsewhere/v1", upstream="responses")
    found, answer = cycles_left(elsewhere, "/v1/messages", True, status=404)
    assert json.loads(answer)["error"]["type"] == "not_found_error"
    assert found == Counter()
    unreachable = TranslateMiddleware(upstream_url=closed_port_url(), upstream="chat")
    found, answer = cycles_left(unreachable, "/v1/messages", True, status=502)
    assert "Could not reach" in json.loads(answer)["error"]["message"]
    assert found == Counter()


def chat_app(frames: list[dict[str, Any]], completion: dict[str, Any]) -> Any:
    """A chat upstream in this process that makes no cycles of its own (the demo model's anyio
    task group does): ``frames`` as a stream, or ``completion`` whole."""

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        stream = json.loads((await receive())["body"]).get("stream")
        kind = b"text/event-stream" if stream else b"application/json"
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", kind)]})
        if not stream:
            await send({"type": "http.response.body", "body": json.dumps(completion).encode()})
            return
        for frame in frames:
            data = b"data: " + json.dumps(frame).encode() + b"\n\n"
            await send({"type": "http.response.body", "body": data, "more_body": True})
        await send({"type": "http.response.body", "body": b"data: [DONE]\n\n"})

    return app


@pytest.mark.parametrize("stream", [True, False], ids=["stream", "json"])
@pytest.mark.parametrize("path", list(REQUESTS))
def test_an_exchange_in_process_leaves_no_cycles(path: str, stream: bool) -> None:
    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        choice = {"index": 0, "delta": delta, "finish_reason": finish}
        return {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "m", "choices": [choice]}

    words = ["You", " said:", " hello", " there"]
    frames = [chunk({"role": "assistant", "content": ""}), *(chunk({"content": w}) for w in words), chunk({}, "stop")]
    message = {"role": "assistant", "content": "".join(words)}
    completion = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": "m",
        "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7},
    }
    found, answer = cycles_left(TranslateMiddleware(chat_app(frames, completion), upstream="chat"), path, stream)
    assert b"there" in answer
    assert found == Counter()


# The remote for the paths that cancel: a chat upstream in its own process that streams slowly
# (a frame every 5 ms, 400 of them), or, for the model "stall", sends one frame and falls silent.
SLOW_UPSTREAM = """
import asyncio, json, sys
import uvicorn

def frame(delta, finish=None):
    choice = {"index": 0, "delta": delta, "finish_reason": finish}
    body = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "m", "choices": [choice]}
    return b"data: " + json.dumps(body).encode() + b"\\n\\n"

async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    if scope["method"] != "POST":  # the readiness probe
        await send({"type": "http.response.start", "status": 404, "headers": []})
        await send({"type": "http.response.body", "body": b""})
        return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    model = json.loads(body or b"{}").get("model")
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/event-stream")]})
    await send({"type": "http.response.body", "body": frame({"role": "assistant", "content": ""}), "more_body": True})
    if model == "stall":
        await asyncio.sleep(30)
    for _ in range(400):
        await asyncio.sleep(0.005)
        await send({"type": "http.response.body", "body": frame({"content": " word"}), "more_body": True})
    await send({"type": "http.response.body", "body": frame({}, "stop") + b"data: [DONE]\\n\\n"})

uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", lifespan="off")
"""


@pytest.fixture(scope="module")
def slow_remote() -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen([sys.executable, "-c", SLOW_UPSTREAM, str(port)], stderr=subprocess.PIPE, text=True)
    try:
        wait_until_up(f"http://127.0.0.1:{port}", process)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.kill()
        process.communicate(timeout=10)


#: The cycle asyncio's own selector transport leaves for each socket it closes (the transport,
#: its socket and their references; uvloop's transports leave none): an exchange cancelled
#: mid-response closes its upstream connection, whose response was not read to its end.
TRANSPORT_CYCLE = {"_SelectorSocketTransport": 1, "TransportSocket": 1, "socket": 1, "method": 1, "dict": 1, "tuple": 2}


def transport_cycles(sockets: int) -> Counter[str]:
    """What :data:`TRANSPORT_CYCLE` leaves for ``sockets`` closed sockets."""
    return Counter({kind: count * sockets for kind, count in TRANSPORT_CYCLE.items()})


def garbage_of(loop: asyncio.AbstractEventLoop, run: Any) -> Counter[str]:
    """The kinds of unreachable objects that :data:`EXCHANGES` runs of ``run()`` leave, after
    three to warm up."""
    for _ in range(3):
        loop.run_until_complete(run())
    gc.collect()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        for _ in range(EXCHANGES):
            loop.run_until_complete(run())
        gc.collect()
        return Counter(type(value).__name__ for value in gc.garbage)
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()


@pytest.mark.parametrize("transport", ["aiohttp", "httpx"])
def test_exchanges_that_are_cancelled_leave_no_cycles_of_their_own(
    slow_remote: str, transport: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The paths that end an exchange by cancelling it: the client leaving mid-stream (the
    disconnect watcher cancels the upstream read) and the upstream falling silent for longer
    than ``idle_timeout`` (the watchdog cancels it). Each leaves only the cycle of the upstream
    socket it closed, which is asyncio's."""
    monkeypatch.setenv("ASGI_TRANSLATE_HTTP", transport)
    caplog.set_level(logging.INFO, logger="asgi_translate")
    left = TranslateMiddleware(upstream_url=slow_remote + "/v1", upstream="chat")
    # 0.25 s: long enough for the stalled answer's first frame to arrive on a busy machine (at
    # 0.05 s it now and then did not, and the exchange ended as a 504 before its stream began).
    stalled = TranslateMiddleware(upstream_url=slow_remote + "/v1", upstream="chat", idle_timeout=0.25)
    question = {"max_tokens": 64, "messages": QUESTION, "stream": True}
    body = json.dumps({"model": "m", **question}).encode()
    stall = json.dumps({"model": "stall", **question}).encode()
    answers: list[bytes] = []

    async def leave() -> None:
        status, answer = await exchange(left, "/v1/messages", body, leave=True)
        assert status == 200 and b"message_stop" not in answer  # left before the end
        answers.append(answer)

    async def time_out() -> None:
        status, answer = await exchange(stalled, "/v1/messages", stall)
        assert status == 200 and b"event: error" in answer and b"sent nothing" in answer
        answers.append(answer)

    per_exchange = transport_cycles(EXCHANGES)
    loop = asyncio.new_event_loop()
    try:
        assert garbage_of(loop, leave) == per_exchange
        lines = [r.getMessage() for r in caplog.records if "request_id=" in r.getMessage()]
        assert len(lines) == 3 + EXCHANGES and all("error=client_disconnected" in line for line in lines)
        assert garbage_of(loop, time_out) == per_exchange
        assert len(answers) == 2 * (3 + EXCHANGES)
        for app in (left, stalled):
            loop.run_until_complete(app.remote.aclose())  # type: ignore[union-attr]
    finally:
        loop.close()
