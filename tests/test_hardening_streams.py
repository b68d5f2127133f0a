"""Streams that end must close (issue 14).

- Once the client's terminator is written, the response is finished and the upstream is no longer
  read: in process the middleware stops waiting for the app's body, remotely the httpx stream is
  closed, even when the upstream keeps its end open.
- ``idle_timeout`` bounds the silence of an upstream in both modes; the client's stream then ends
  in its failure form (or, before any byte, a 504 in its error envelope).
- A streaming request answered with a whole JSON body reaches the client as a stream.
- A 200 whose body is an error (``{"type": "error"}``, ``{"error": ...}``) is that error.

Incremental delivery and disconnects need a real server: the remote cases run under uvicorn.
"""

from __future__ import annotations

import json
import threading
from typing import Any

import anyio
import httpx
import pytest
from hardening import PAIRS, PATHS, call, failure_form, json_of, request_for, scripted, stream_of, terminator
from servers import serve
from starlette.types import Receive, Scope, Send
from test_errors import assert_envelope
from validators.chat import validate_chat_stream
from validators.messages import validate_messages_stream
from validators.responses import validate_responses_stream

from asgi_translate import TranslateMiddleware

pytestmark = pytest.mark.anyio


def read_stream(client: str, raw: bytes) -> tuple[str, dict[str, Any] | None]:
    """(text, error) of a client stream, after checking its grammar."""
    if client == "chat":
        summary = validate_chat_stream(raw)
        return summary.text, summary.error
    if client == "messages":
        summary = validate_messages_stream(raw)
        return summary.text, summary.error
    events = validate_responses_stream(raw)
    text = "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta")
    last = events[-1]
    return text, (last["response"]["error"] if last["type"] == "response.failed" else None)


def translating(inner: Any, upstream: str, **options: Any) -> TranslateMiddleware:
    return TranslateMiddleware(inner, upstream=upstream, **options)  # type: ignore[arg-type]


# -- a terminator ends the response ----------------------------------------------------------------------


@pytest.mark.parametrize(("client", "upstream"), PAIRS)
async def test_in_process_upstream_holding_its_body_open_after_the_terminator(client: str, upstream: str) -> None:
    cancelled = anyio.Event()
    hanging = scripted(stream_of(upstream), then="hang")

    async def inner(scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await hanging(scope, receive, send)
        finally:
            cancelled.set()

    got = await call(translating(inner, upstream), PATHS[client], request_for(client, stream=True), limit=3)
    assert terminator(client) in got.body
    assert read_stream(client, got.body) == ("ok", None)
    assert cancelled.is_set(), "the inner app is still being waited for"


def hanging_remote(upstream: str, released: threading.Event) -> Any:
    """A remote that sends a whole stream, then keeps the connection open until its client leaves."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/event-stream")]})
        await send({"type": "http.response.body", "body": stream_of(upstream), "more_body": True})
        while (await receive())["type"] != "http.disconnect":
            pass
        released.set()

    return app


@pytest.mark.slow
@pytest.mark.parametrize("client", ["chat", "messages", "responses"])
async def test_remote_holding_its_body_open_after_the_terminator(client: str) -> None:
    upstream = "messages" if client == "chat" else "chat"
    released = threading.Event()
    with serve(hanging_remote(upstream, released), lifespan="off") as remote:
        proxy_app = TranslateMiddleware(upstream=upstream, upstream_url=remote)  # type: ignore[arg-type]
        with serve(proxy_app) as proxy:
            async with httpx.AsyncClient(timeout=10) as http:
                with anyio.fail_after(3):
                    response = await http.post(proxy + PATHS[client], json=request_for(client, stream=True))
            assert read_stream(client, response.content) == ("ok", None)
            # ...and the proxy let go of the remote's stream.
            assert await anyio.to_thread.run_sync(released.wait, 3), "the remote is still being read"


# -- idle upstreams ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("client", "upstream"), PAIRS)
async def test_an_in_process_upstream_that_stalls_mid_stream_is_bounded_by_idle_timeout(
    client: str, upstream: str
) -> None:
    head = stream_of(upstream).split(b"\n\n")
    count = 1 if upstream == "chat" else 3  # the start of the answer, before any terminator
    opening = b"\n\n".join(head[:count]) + b"\n\n"
    app = translating(scripted(opening, then="hang"), upstream, idle_timeout=0.3)
    started = anyio.current_time()
    got = await call(app, PATHS[client], request_for(client, stream=True), limit=3)
    assert anyio.current_time() - started < 2
    assert got.status == 200
    assert failure_form(client) in got.body
    _, error = read_stream(client, got.body)
    assert error is not None


@pytest.mark.parametrize("client", ["chat", "messages", "responses"])
async def test_an_in_process_upstream_that_never_answers_is_a_504(client: str) -> None:
    upstream = "messages" if client == "chat" else "chat"
    app = translating(scripted(then="stall"), upstream, idle_timeout=0.3)
    for stream in (False, True):
        got = await call(app, PATHS[client], request_for(client, stream=stream), limit=3)
        assert got.status == 504, got.body[:300]
        assert_envelope(client, got.json())


async def test_a_slow_but_steady_upstream_is_not_idle() -> None:
    async def steady(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/event-stream")]})
        frames = stream_of("chat").split(b"\n\n")[:-1]
        for frame in frames:
            await anyio.sleep(0.15)
            await send({"type": "http.response.body", "body": frame + b"\n\n", "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    got = await call(translating(steady, "chat", idle_timeout=0.3), PATHS["messages"], request_for("messages", True))
    assert read_stream("messages", got.body) == ("ok", None)


async def test_concurrent_exchanges_each_keep_their_own_idle_bound() -> None:
    """One endpoint watches every running exchange with one timer: a stalled exchange is stopped at
    its own deadline while a steady one beside it, started later, runs to its end."""
    frames = stream_of("chat").split(b"\n\n")[:-1]

    async def upstream(scope: Scope, receive: Receive, send: Send) -> None:
        body = json.loads((await receive())["body"])
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/event-stream")]})
        stall = body["messages"][0]["content"] == "stall"
        for frame in frames[:1] if stall else frames:
            await anyio.sleep(0.15)
            await send({"type": "http.response.body", "body": frame + b"\n\n", "more_body": True})
        if stall:
            await anyio.sleep(30)
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    app = translating(upstream, "chat", idle_timeout=0.3)
    results: dict[str, tuple[float, Any]] = {}
    started = anyio.current_time()

    async def one(content: str, delay: float) -> None:
        await anyio.sleep(delay)
        request = {"model": "m", "max_tokens": 50, "stream": True, "messages": [{"role": "user", "content": content}]}
        got = await call(app, PATHS["messages"], request, limit=5)
        results[content] = (anyio.current_time() - started, got)

    async with anyio.create_task_group() as group:
        group.start_soon(one, "stall", 0.0)
        group.start_soon(one, "steady", 0.1)
    stalled_at, stalled = results["stall"]
    assert 0.4 <= stalled_at < 2  # first frame at 0.15 s, then 0.3 s of silence
    assert read_stream("messages", stalled.body)[1] is not None
    steady_at, steady = results["steady"]
    assert steady_at >= 0.1 + 0.15 * len(frames)
    assert read_stream("messages", steady.body) == ("ok", None)


# -- a JSON answer to a streaming request ----------------------------------------------------------------


@pytest.mark.parametrize(("client", "upstream"), PAIRS)
async def test_a_json_answer_to_a_streaming_request_reaches_the_client_as_a_stream(client: str, upstream: str) -> None:
    inner = scripted(json.dumps(json_of(upstream, "whole")).encode(), content_type=b"application/json")
    got = await call(translating(inner, upstream), PATHS[client], request_for(client, stream=True))
    assert got.status == 200
    assert got.headers[b"content-type"].startswith(b"text/event-stream")
    assert read_stream(client, got.body) == ("whole", None)


# -- an error body under a 200 -----------------------------------------------------------------------------

ERROR_BODIES = {
    "messages": {"type": "error", "error": {"type": "overloaded_error", "message": "busy right now"}},
    "responses": {"error": {"message": "busy right now", "type": "server_error", "param": None, "code": None}},
    "chat": {"error": {"message": "busy right now", "type": "server_error", "param": None, "code": None}},
}


@pytest.mark.parametrize(("client", "upstream"), PAIRS)
@pytest.mark.parametrize("stream", [False, True])
async def test_a_200_carrying_an_error_body_is_that_error(client: str, upstream: str, stream: bool) -> None:
    inner = scripted(json.dumps(ERROR_BODIES[upstream]).encode(), content_type=b"application/json")
    got = await call(translating(inner, upstream), PATHS[client], request_for(client, stream=stream))
    if stream and got.status == 200:  # the stream's own failure form
        _, error = read_stream(client, got.body)
        assert error is not None and "busy right now" in json.dumps(error)
    else:
        assert got.status >= 500, got.body[:300]
        assert "busy right now" in assert_envelope(client, got.json())["message"]
