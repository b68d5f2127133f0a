"""Shared pieces of the hardening tests (issue 14): a client that stays connected until its answer
is complete, checks that every header we send is one an HTTP/1.1 server can write, and scripted
upstreams that misbehave in one precise way each.

Only the package's public surface is imported here, so these helpers survive moves of its
private modules.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

import anyio
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# RFC 9110 section 5.5 as h11 enforces it: a header value is visible characters (and obs-text)
# separated by spaces or tabs, with no leading or trailing whitespace; a name is a token.
_FIELD_VALUE = re.compile(rb"^(?:[\x21-\x7e\x80-\xff](?:[\x20\x09\x21-\x7e\x80-\xff]*[\x21-\x7e\x80-\xff])?)?$")
_TOKEN = re.compile(rb"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")

PATHS = {"chat": "/v1/chat/completions", "messages": "/v1/messages", "responses": "/v1/responses"}


def http_scope(path: str, body: bytes, headers: Sequence[tuple[bytes, bytes]] = (), method: str = "POST") -> Scope:
    base = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    path, _, query = path.partition("?")
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": [*base, *headers] if method == "POST" else list(headers),
        "client": ("127.0.0.1", 1234),
        "server": ("testserver", 80),
    }


def assert_valid_headers(headers: Sequence[tuple[bytes, bytes]]) -> None:
    """Every header is one h11 (uvicorn's default) can write: otherwise it drops the connection."""
    for name, value in headers:
        assert _TOKEN.match(name), f"invalid header name {name!r}"
        assert _FIELD_VALUE.match(value), f"invalid value for header {name!r}: {value!r}"


class Exchange:
    """The server side of one request: hands over the body, then waits (as a real connection
    does) until the answer is complete before reporting ``http.disconnect``."""

    def __init__(self, body: bytes) -> None:
        self.pending: list[Message] = [{"type": "http.request", "body": body, "more_body": False}]
        self.sent: list[Message] = []
        self.complete = anyio.Event()
        #: What the app did wrong, kept rather than raised: the app under test may catch it.
        self.problems: list[str] = []

    async def receive(self) -> Message:
        if self.pending:
            return self.pending.pop()
        await self.complete.wait()
        return {"type": "http.disconnect"}

    async def send(self, message: Message) -> None:
        if self.complete.is_set():
            self.problems.append(f"sent after the response was complete: {message['type']}")
        if message["type"] == "http.response.start" and self.sent:
            self.problems.append("a second http.response.start")
        self.sent.append(message)
        if message["type"] == "http.response.start":
            try:
                assert_valid_headers(message.get("headers", []))
            except AssertionError as exc:
                self.problems.append(str(exc))
        elif message["type"] == "http.response.body" and not message.get("more_body", False):
            self.complete.set()

    @property
    def status(self) -> int:
        assert self.sent and self.sent[0]["type"] == "http.response.start", self.sent[:1]
        status: int = self.sent[0]["status"]
        return status

    @property
    def headers(self) -> dict[bytes, bytes]:
        return dict(self.sent[0]["headers"])

    @property
    def body(self) -> bytes:
        return b"".join(m.get("body", b"") for m in self.sent if m["type"] == "http.response.body")

    def json(self) -> Any:
        return json.loads(self.body)


async def call(
    app: ASGIApp,
    path: str,
    body: Any = None,
    *,
    raw: bytes | None = None,
    headers: Sequence[tuple[bytes, bytes]] = (),
    method: str = "POST",
    limit: float = 10,
) -> Exchange:
    """One request through ``app``; the answer must be complete within ``limit`` seconds."""
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else b"")
    exchange = Exchange(data)
    with anyio.fail_after(limit):
        await app(http_scope(path, data, headers, method), exchange.receive, exchange.send)
    assert exchange.complete.is_set(), "the app returned without completing its answer"
    assert not exchange.problems, exchange.problems
    return exchange


def sse(payload: Any, event: str | None = None) -> bytes:
    data = payload if isinstance(payload, str) else json.dumps(payload)
    return (f"event: {event}\n" if event else "").encode() + f"data: {data}\n\n".encode()


def scripted(
    *chunks: bytes,
    status: int = 200,
    content_type: bytes = b"text/event-stream",
    headers: Sequence[tuple[bytes, bytes]] = (),
    then: str = "end",
) -> ASGIApp:
    """An inner app that answers with ``chunks``, then ends its body (``then="end"``), keeps it
    open without another byte (``"hang"``), or stalls before the first byte (``"stall"``)."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        if then == "stall":
            await anyio.sleep_forever()
        start = [(b"content-type", content_type), *headers]
        await send({"type": "http.response.start", "status": status, "headers": start})
        for chunk in chunks:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        if then == "hang":
            await anyio.sleep_forever()
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    return app


# -- one small, complete answer per schema ----------------------------------------------------------------

CHAT_HEAD = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "up"}


def chat_chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
    return sse({**CHAT_HEAD, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})


def stream_of(schema: str, text: str = "ok") -> bytes:
    """A whole, well-formed stream saying ``text``, terminator included."""
    if schema == "chat":
        return chat_chunk({"role": "assistant", "content": text}) + chat_chunk({}, "stop") + sse("[DONE]")
    if schema == "messages":
        message = {"id": "msg_1", "type": "message", "role": "assistant", "model": "up", "content": []}
        events: list[dict[str, Any]] = [
            {"type": "message_start", "message": {**message, "usage": {"input_tokens": 1, "output_tokens": 0}}},
            {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
            {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": text}},
            {"type": "content_block_stop", "index": 0},
            {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 1}},
            {"type": "message_stop"},
        ]
        return b"".join(sse(e, e["type"]) for e in events)
    done = json_of("responses", text)
    item = done["output"][0]
    where = {"item_id": "msg_1", "output_index": 0, "content_index": 0}
    events = [
        {"type": "response.created", "response": {**done, "status": "in_progress", "output": []}},
        {"type": "response.output_item.added", "output_index": 0, "item": {**item, "content": []}},
        {
            "type": "response.content_part.added",
            **where,
            "part": {"type": "output_text", "text": "", "annotations": []},
        },
        {"type": "response.output_text.delta", **where, "delta": text, "logprobs": []},
        {"type": "response.output_text.done", **where, "text": text, "logprobs": []},
        {"type": "response.content_part.done", **where, "part": item["content"][0]},
        {"type": "response.output_item.done", "output_index": 0, "item": item},
        {"type": "response.completed", "response": done},
    ]
    return b"".join(sse({**e, "sequence_number": n}, e["type"]) for n, e in enumerate(events))


def json_of(schema: str, text: str = "ok") -> dict[str, Any]:
    """A whole JSON answer saying ``text``."""
    if schema == "chat":
        return {
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "created": 1,
            "model": "up",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
        }
    if schema == "messages":
        return {
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "model": "up",
            "content": [{"type": "text", "text": text}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": {"input_tokens": 1, "output_tokens": 1},
        }
    return {
        "id": "resp_1",
        "object": "response",
        "created_at": 1,
        "status": "completed",
        "model": "up",
        "output": [
            {
                "type": "message",
                "id": "msg_1",
                "role": "assistant",
                "status": "completed",
                "content": [{"type": "output_text", "text": text, "annotations": []}],
            }
        ],
        "usage": {
            "input_tokens": 1,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": 1,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": 2,
        },
    }


def request_for(client: str, stream: bool = False, text: str = "hi") -> dict[str, Any]:
    if client == "responses":
        return {"model": "m", "input": text, "stream": stream}
    body: dict[str, Any] = {"model": "m", "messages": [{"role": "user", "content": text}], "stream": stream}
    if client == "messages":
        body["max_tokens"] = 16
    return body


def terminator(client: str) -> bytes:
    return {"chat": b"data: [DONE]", "messages": b"event: message_stop", "responses": b"event: response.completed"}[
        client
    ]


def failure_form(client: str) -> bytes:
    return {"chat": b'"error"', "messages": b"event: error", "responses": b"event: response.failed"}[client]


def answering(upstream: str) -> ASGIApp:
    """An inner app answering any request of ``upstream``'s schema with one small valid answer."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        message = await receive()
        try:
            body = json.loads(message.get("body") or b"{}")
        except ValueError:
            body = None
        if not isinstance(body, dict):  # as a real server would: its own 400
            if upstream == "messages":
                error: dict[str, Any] = {
                    "type": "error",
                    "error": {"type": "invalid_request_error", "message": "bad"},
                    "request_id": "req_1",
                }
            else:
                error = {"error": {"message": "bad", "type": "invalid_request_error", "param": None, "code": None}}
            payload = json.dumps(error).encode()
            await send(
                {"type": "http.response.start", "status": 400, "headers": [(b"content-type", b"application/json")]}
            )
            await send({"type": "http.response.body", "body": payload, "more_body": False})
            return
        if body.get("stream"):
            payload, content_type = stream_of(upstream), b"text/event-stream"
        else:
            payload, content_type = json.dumps(json_of(upstream)).encode(), b"application/json"
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", content_type)]})
        await send({"type": "http.response.body", "body": payload, "more_body": False})

    return app


PAIRS = [(c, u) for c in PATHS for u in PATHS if c != u]
