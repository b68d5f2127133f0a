"""Every way an upstream stream can fail ends the client's stream in the client schema's own
failure form, with whatever blocks or items were open closed as that schema requires.

Forms: Anthropic ``event: error``; an OpenAI chat ``{"error": ...}`` chunk and Groq's
``event: error``; Responses ``error`` + ``response.failed`` and ``response.failed`` alone; an
exception in the inner app; an inner app that returns mid-body; a body that ends without any
terminator; a remote server that closes its socket mid-stream; a remote that stalls. Each is
tried with a text block, a tool call and a reasoning block open, against all three clients, and
the client's bytes go through that schema's grammar validator. Every exchange is bounded by
``anyio.fail_after`` so a hang fails instead of blocking the suite.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import anyio
import httpx
import pytest
from servers import serve
from starlette.types import ASGIApp, Receive, Scope, Send
from test_corpus_replay import http_scope
from test_errors import BODIES
from test_middleware import Client, make
from validators import StreamSummary
from validators.chat import validate_chat_stream
from validators.messages import validate_messages_stream
from validators.responses import validate_responses_stream

from asgi_translate import TranslateMiddleware
from asgi_translate._hub.routes import DEFAULT_PATHS, SCHEMAS
from asgi_translate._hub.sse import format_event

pytestmark = pytest.mark.anyio

LIMIT = 5.0  # seconds: far above any of these exchanges, far below a hang


# -- upstream partial streams: something open, then the failure ----------------------------------------


def chat_chunk(delta: dict[str, Any]) -> bytes:
    choice = {"index": 0, "delta": delta, "finish_reason": None}
    chunk = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "up", "choices": [choice]}
    return format_event(json.dumps(chunk))


def messages_event(payload: dict[str, Any]) -> bytes:
    return format_event(json.dumps(payload), payload["type"])


class _Seq:
    """Responses events carry increasing sequence numbers."""

    def __init__(self) -> None:
        self.n = 0

    def __call__(self, payload: dict[str, Any]) -> bytes:
        payload = {**payload, "sequence_number": self.n}
        self.n += 1
        return format_event(json.dumps(payload), payload["type"])


RESPONSE = {"id": "resp_up", "object": "response", "status": "in_progress", "model": "up", "output": []}


def chat_partial(open_kind: str) -> bytes:
    head = chat_chunk({"role": "assistant", "content": ""})
    if open_kind == "text":
        return head + chat_chunk({"content": "Hello"})
    if open_kind == "tool":
        call = {"index": 0, "id": "call_1", "type": "function", "function": {"name": "get", "arguments": '{"ci'}}
        return head + chat_chunk({"tool_calls": [call]})
    return head + chat_chunk({"reasoning_content": "Thinking"})


def messages_partial(open_kind: str) -> bytes:
    message = {"id": "msg_1", "type": "message", "role": "assistant", "model": "up", "content": []}
    out = messages_event({"type": "message_start", "message": {**message, "usage": {"input_tokens": 1}}})
    if open_kind == "text":
        block: dict[str, Any] = {"type": "text", "text": ""}
        delta = {"type": "text_delta", "text": "Hello"}
    elif open_kind == "tool":
        block = {"type": "tool_use", "id": "toolu_1", "name": "get", "input": {}}
        delta = {"type": "input_json_delta", "partial_json": '{"ci'}
    else:
        block, delta = {"type": "thinking", "thinking": ""}, {"type": "thinking_delta", "thinking": "Thinking"}
    out += messages_event({"type": "content_block_start", "index": 0, "content_block": block})
    return out + messages_event({"type": "content_block_delta", "index": 0, "delta": delta})


def responses_partial(open_kind: str, seq: _Seq) -> bytes:
    out = seq({"type": "response.created", "response": RESPONSE}) + seq(
        {"type": "response.in_progress", "response": RESPONSE}
    )
    if open_kind == "text":
        item = {"type": "message", "id": "msg_up", "role": "assistant", "status": "in_progress", "content": []}
        out += seq({"type": "response.output_item.added", "output_index": 0, "item": item})
        part = {"type": "output_text", "text": "", "annotations": []}
        out += seq(
            {
                "type": "response.content_part.added",
                "item_id": "msg_up",
                "output_index": 0,
                "content_index": 0,
                "part": part,
            }
        )
        return out + seq(
            {
                "type": "response.output_text.delta",
                "item_id": "msg_up",
                "output_index": 0,
                "content_index": 0,
                "delta": "Hello",
            }
        )
    if open_kind == "tool":
        item = {
            "type": "function_call",
            "id": "fc_up",
            "call_id": "call_1",
            "name": "get",
            "arguments": "",
            "status": "in_progress",
        }
        out += seq({"type": "response.output_item.added", "output_index": 0, "item": item})
        return out + seq(
            {"type": "response.function_call_arguments.delta", "item_id": "fc_up", "output_index": 0, "delta": '{"ci'}
        )
    item = {"type": "reasoning", "id": "rs_up", "summary": []}
    out += seq({"type": "response.output_item.added", "output_index": 0, "item": item})
    part = {"type": "summary_text", "text": ""}
    out += seq(
        {
            "type": "response.reasoning_summary_part.added",
            "item_id": "rs_up",
            "output_index": 0,
            "summary_index": 0,
            "part": part,
        }
    )
    return out + seq(
        {
            "type": "response.reasoning_summary_text.delta",
            "item_id": "rs_up",
            "output_index": 0,
            "summary_index": 0,
            "delta": "Thinking",
        }
    )


def partial(upstream: str, open_kind: str) -> tuple[bytes, _Seq]:
    seq = _Seq()
    if upstream == "chat":
        return chat_partial(open_kind), seq
    if upstream == "messages":
        return messages_partial(open_kind), seq
    return responses_partial(open_kind, seq), seq


MESSAGE = "Overloaded, try again"


def failure_frames(form: str, seq: _Seq) -> bytes:
    """The upstream's own failure form (each real: see the corpus's *error* streams)."""
    if form == "anthropic-error-event":
        return messages_event({"type": "error", "error": {"type": "overloaded_error", "message": MESSAGE}})
    if form == "chat-error-chunk":
        return format_event(json.dumps({"error": {"message": MESSAGE, "type": "server_error", "code": None}}))
    if form == "chat-event-error":
        return format_event(json.dumps({"error": {"message": MESSAGE, "type": "server_error"}}), "error")
    failed = {**RESPONSE, "status": "failed", "error": {"code": "server_error", "message": MESSAGE}}
    if form == "responses-error-then-failed":
        error = {"type": "error", "code": "server_error", "message": MESSAGE, "param": None}
        return seq(error) + seq({"type": "response.failed", "response": failed})
    assert form == "responses-failed"
    return seq({"type": "response.failed", "response": failed})


FORMS_BY_UPSTREAM = {
    "messages": ["anthropic-error-event"],
    "chat": ["chat-error-chunk", "chat-event-error"],
    "responses": ["responses-error-then-failed", "responses-failed"],
}
OPEN_KINDS = ["text", "tool", "reasoning"]


# -- the client side ---------------------------------------------------------------------------------------


def validate(client: str, raw: bytes) -> StreamSummary:
    """Grammar-check the client's stream and return what it said, failure included."""
    if client == "chat":
        return validate_chat_stream(raw)
    if client == "messages":
        return validate_messages_stream(raw)
    events = validate_responses_stream(raw)
    summary = StreamSummary()
    assert events[-1]["type"] == "response.failed", events[-1]["type"]
    summary.error = events[-1]["response"]["error"]
    for event in events:
        if event["type"] == "response.output_text.delta":
            summary.text += event["delta"]
    return summary


def streaming_body(client: str) -> dict[str, Any]:
    return {**BODIES[client], "stream": True}


async def run(app: ASGIApp, client: str, upstream: str) -> Client:
    """One exchange through a fresh middleware, bounded in time."""
    body = json.dumps(streaming_body(client)).encode()
    exchange = Client({"type": "http.request", "body": body, "more_body": False})
    with anyio.fail_after(LIMIT):
        await make(app, upstream)(http_scope(DEFAULT_PATHS[client], body), exchange.receive, exchange.send)  # type: ignore[index]
    assert exchange.start["status"] == 200
    assert exchange.bodies[-1]["more_body"] is False, "the client's stream was never ended"
    assert sum(not m.get("more_body", False) for m in exchange.bodies) == 1
    return exchange


def script_app(*pieces: bytes, then: Callable[[], None] | None = None, end: bool = True) -> ASGIApp:
    """An inner app that streams ``pieces`` then raises (``then``), returns without ending the
    body (``end=False``), or ends the body normally."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/event-stream")]})
        for piece in pieces:
            await send({"type": "http.response.body", "body": piece, "more_body": True})
        if then is not None:
            then()
        if end:
            await send({"type": "http.response.body", "body": b"", "more_body": False})

    return app


def error_forms() -> Iterator[Any]:
    for upstream, forms in FORMS_BY_UPSTREAM.items():
        for form in forms:
            for client in SCHEMAS:
                if client != upstream:
                    yield pytest.param(client, upstream, form, id=f"{form}-to-{client}")


@pytest.mark.parametrize("open_kind", OPEN_KINDS)
@pytest.mark.parametrize(("client", "upstream", "form"), list(error_forms()))
async def test_upstream_error_forms_become_the_clients_failure_form(
    client: str, upstream: str, form: str, open_kind: str
) -> None:
    head, seq = partial(upstream, open_kind)
    # The error frame comes in its own body message and split across two, as sockets do.
    tail = failure_frames(form, seq)
    got = await run(script_app(head, tail[:7], tail[7:]), client, upstream)
    summary = validate(client, got.body)
    assert summary.error is not None and summary.error["message"] == MESSAGE
    if open_kind == "text":
        assert summary.text == "Hello"  # what came before the failure still reached the client


def pairs() -> list[Any]:
    return [pytest.param(c, u, id=f"{c}-over-{u}") for c in SCHEMAS for u in SCHEMAS if c != u]


def _boom() -> None:
    raise RuntimeError("connection reset by peer")


@pytest.mark.parametrize("open_kind", OPEN_KINDS)
@pytest.mark.parametrize(("client", "upstream"), pairs())
async def test_inner_app_exception_mid_stream(client: str, upstream: str, open_kind: str) -> None:
    got = await run(script_app(partial(upstream, open_kind)[0], then=_boom, end=False), client, upstream)
    summary = validate(client, got.body)
    assert summary.error is not None and "failed" in summary.error["message"]


@pytest.mark.parametrize("open_kind", OPEN_KINDS)
@pytest.mark.parametrize(("client", "upstream"), pairs())
async def test_inner_app_returning_mid_body(client: str, upstream: str, open_kind: str) -> None:
    got = await run(script_app(partial(upstream, open_kind)[0], end=False), client, upstream)
    summary = validate(client, got.body)
    assert summary.error is not None and "without completing" in summary.error["message"]


@pytest.mark.parametrize("open_kind", OPEN_KINDS)
@pytest.mark.parametrize(("client", "upstream"), pairs())
async def test_body_ending_without_any_terminator(client: str, upstream: str, open_kind: str) -> None:
    got = await run(script_app(partial(upstream, open_kind)[0]), client, upstream)
    summary = validate(client, got.body)
    assert summary.error is not None and "ended" in summary.error["message"]


@pytest.mark.parametrize(("client", "upstream"), pairs())
async def test_empty_stream_and_garbage_stream(client: str, upstream: str) -> None:
    """A 200 text/event-stream with no events at all, or with bytes that are not SSE JSON."""
    for pieces in [(), (b"data: {not json\n\n",), (b"\xff\xfe\x00garbage\n\n",)]:
        got = await run(script_app(*pieces), client, upstream)
        summary = validate(client, got.body)
        assert summary.error is not None


@pytest.mark.parametrize(("client", "upstream"), [p for p in pairs() if p.values[1] != "responses"])
async def test_a_failure_after_the_terminator_is_ignored(client: str, upstream: str) -> None:
    """Once the client's stream ended cleanly, a later upstream exception adds nothing."""
    complete = {
        "chat": chat_partial("text")
        + format_event(
            json.dumps(
                {
                    "id": "c",
                    "object": "chat.completion.chunk",
                    "created": 1,
                    "model": "up",
                    "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
                }
            )
        )
        + format_event("[DONE]"),
        "messages": messages_partial("text")
        + messages_event({"type": "content_block_stop", "index": 0})
        + messages_event({"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 1}})
        + messages_event({"type": "message_stop"}),
    }
    got = await run(script_app(complete[upstream], then=_boom, end=False), client, upstream)
    if client == "responses":
        assert validate_responses_stream(got.body)[-1]["type"] == "response.completed"
    else:
        summary = validate_chat_stream(got.body) if client == "chat" else validate_messages_stream(got.body)
        assert summary.error is None and summary.text == "Hello"


# -- remote upstreams over real sockets -------------------------------------------------------------------


@contextmanager
def cutting_server(head: bytes) -> Iterator[str]:
    """A raw HTTP/1.1 server that answers one request with a chunked event stream, sends ``head``,
    then closes its socket: no final chunk, no terminator."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(LIMIT)

    def serve_one() -> None:
        try:
            conn, _ = listener.accept()
        except OSError:
            return
        with conn:
            conn.settimeout(LIMIT)
            data = b""
            while b"\r\n\r\n" not in data:
                data += conn.recv(65536)
            headers, _, body = data.partition(b"\r\n\r\n")
            length = next(
                int(v)
                for k, _, v in (ln.partition(b":") for ln in headers.split(b"\r\n"))
                if k.lower() == b"content-length"
            )
            while len(body) < length:
                body += conn.recv(65536)
            conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n")
            conn.sendall(b"%x\r\n%s\r\n" % (len(head), head))

    thread = threading.Thread(target=serve_one, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        listener.close()
        thread.join(LIMIT)


async def stream_through(proxy_app: ASGIApp, client: str) -> httpx.Response:
    with serve(proxy_app) as proxy:
        async with httpx.AsyncClient(timeout=LIMIT) as http:
            with anyio.fail_after(LIMIT):
                return await http.post(proxy + DEFAULT_PATHS[client], json=streaming_body(client))  # type: ignore[index]


@pytest.mark.slow
@pytest.mark.parametrize(("client", "upstream"), pairs())
async def test_remote_closing_its_socket_mid_stream(client: str, upstream: str) -> None:
    with cutting_server(partial(upstream, "text")[0]) as url:
        response = await stream_through(TranslateMiddleware(upstream=upstream, upstream_url=url), client)  # type: ignore[arg-type]
    assert response.status_code == 200
    summary = validate(client, response.content)
    assert summary.text == "Hello"
    assert summary.error is not None and "ended" in summary.error["message"]


def stalling_app(head: bytes) -> ASGIApp:
    """A remote that sends ``head`` then says nothing more until its client goes away."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        await receive()
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/event-stream")]})
        await send({"type": "http.response.body", "body": head, "more_body": True})
        while (await receive())["type"] != "http.disconnect":
            pass

    return app


@pytest.mark.slow
@pytest.mark.parametrize("client", ["messages", "responses"])
async def test_a_stalled_remote_is_bounded_by_the_read_timeout(client: str) -> None:
    timeout = httpx.Timeout(5.0, read=0.5)
    with serve(stalling_app(chat_partial("text")), lifespan="off") as url:
        started = anyio.current_time()
        response = await stream_through(TranslateMiddleware(upstream="chat", upstream_url=url, timeout=timeout), client)
        elapsed = anyio.current_time() - started
    assert 0.5 <= elapsed < 3.0
    summary = validate(client, response.content)
    assert summary.text == "Hello"
    assert summary.error is not None
