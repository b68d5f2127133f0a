"""Load and memory: many concurrent streams through one middleware instance never mix, and one
very long stream costs the same memory as a short one.

Measured on the 2-core dev box: 500 concurrent streams take about 2 s; 100 MB through the
translator about 2 s plain and 7 s under tracemalloc, with a peak growth under 2 MB.

A Responses client is left out of the memory test on purpose: its terminal
``response.completed`` event repeats the whole output, so that encoder keeps the text it sent.
"""

from __future__ import annotations

import json
import tracemalloc
from typing import Any

import anyio
import pytest
from starlette.types import Message, Receive, Scope, Send
from test_corpus_replay import http_scope
from validators.messages import validate_messages_stream
from validators.responses import validate_responses_stream

from asgi_translate import TranslateMiddleware
from asgi_translate._hub.sse import format_event
from asgi_translate.testing import FakeModel

pytestmark = pytest.mark.anyio

CONCURRENCY = 500


class Exchange:
    """One in-process client: sends its body, then holds ``receive`` open until its response
    is complete (as a server does), so the upstream never mistakes it for a disconnect."""

    def __init__(self, body: dict[str, Any]) -> None:
        self.raw = json.dumps(body).encode()
        self.sent_body = False
        self.done = anyio.Event()
        self.status = 0
        self.chunks: list[bytes] = []

    async def receive(self) -> Message:
        if not self.sent_body:
            self.sent_body = True
            return {"type": "http.request", "body": self.raw, "more_body": False}
        await self.done.wait()
        return {"type": "http.disconnect"}

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
        else:
            self.chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                self.done.set()


def request_for(client: str, token: str) -> tuple[str, dict[str, Any]]:
    if client == "messages":
        messages = [{"role": "user", "content": f"echo {token} please"}]
        return "/v1/messages", {"model": "m", "max_tokens": 64, "stream": True, "messages": messages}
    return "/v1/responses", {"model": "m", "stream": True, "input": f"echo {token} please"}


def text_of(client: str, raw: bytes) -> str:
    if client == "messages":
        return validate_messages_stream(raw).text
    events = validate_responses_stream(raw)
    assert events[-1]["type"] == "response.completed"
    return "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta")


async def test_500_concurrent_streams_through_one_instance_never_mix() -> None:
    middleware = TranslateMiddleware(FakeModel(delay=0.005), upstream="chat")
    in_flight = peak = 0
    results: dict[int, tuple[str, Exchange]] = {}

    async def one(number: int) -> None:
        nonlocal in_flight, peak
        client = "messages" if number % 2 else "responses"
        path, body = request_for(client, f"token-{number:04d}-{'xyz'[number % 3] * (number % 7)}")
        exchange = Exchange(body)
        results[number] = (client, exchange)
        in_flight += 1
        peak = max(peak, in_flight)
        await middleware(http_scope(path, exchange.raw), exchange.receive, exchange.send)
        in_flight -= 1

    with anyio.fail_after(60):
        async with anyio.create_task_group() as group:
            for number in range(CONCURRENCY):
                group.start_soon(one, number)
    assert peak == CONCURRENCY  # they really were all open at once
    for number, (client, exchange) in results.items():
        assert exchange.status == 200
        token = f"token-{number:04d}-{'xyz'[number % 3] * (number % 7)}"
        assert text_of(client, b"".join(exchange.chunks)) == f"You said: echo {token} please"


# -- memory per stream ----------------------------------------------------------------------------------

STREAM_BYTES = 100 * 1024 * 1024
HEAD: dict[str, Any] = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "up"}
PIECE = "0123456789" * 100


def chat_frame(delta: dict[str, Any], finish: str | None = None) -> bytes:
    return format_event(json.dumps({**HEAD, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}))


def messages_frame(payload: dict[str, Any]) -> bytes:
    return format_event(json.dumps(payload), payload["type"])


def long_stream(upstream: str) -> tuple[bytes, bytes, bytes, int]:
    """(head, one repeated batch of frames, tail, number of batches) for ~100 MB of upstream bytes."""
    if upstream == "chat":
        head = chat_frame({"role": "assistant", "content": ""})
        frame = chat_frame({"content": PIECE})
        tail = chat_frame({}, "stop") + b"data: [DONE]\n\n"
    else:
        message = {"id": "msg_1", "type": "message", "role": "assistant", "model": "up", "content": []}
        head = messages_frame({"type": "message_start", "message": {**message, "usage": {"input_tokens": 1}}})
        head += messages_frame(
            {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}
        )
        frame = messages_frame(
            {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": PIECE}}
        )
        tail = messages_frame({"type": "content_block_stop", "index": 0})
        tail += messages_frame(
            {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 9}}
        )
        tail += messages_frame({"type": "message_stop"})
    batch = frame * 32
    return head, batch, tail, STREAM_BYTES // len(batch) + 1


class CountingClient:
    """Keeps only counts and the last bytes: the test must not hold the stream it measures."""

    def __init__(self, body: dict[str, Any]) -> None:
        self.raw = json.dumps(body).encode()
        self.pending = True
        self.bytes = 0
        self.text_frames = 0
        self.tail = b""

    async def receive(self) -> Message:
        if self.pending:
            self.pending = False
            return {"type": "http.request", "body": self.raw, "more_body": False}
        await anyio.sleep_forever()
        raise AssertionError  # pragma: no cover

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.body":
            body = message.get("body", b"")
            self.bytes += len(body)
            self.text_frames += body.count(PIECE.encode())
            if body:
                self.tail = body[-300:]


@pytest.mark.slow
@pytest.mark.spec_unchecked  # it measures peak memory: the check's own buffers and schemas would count
@pytest.mark.parametrize(("client", "upstream"), [("messages", "chat"), ("chat", "messages")])
async def test_a_100_mb_stream_keeps_memory_flat(client: str, upstream: str) -> None:
    head, batch, tail, batches = long_stream(upstream)

    async def inner(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/event-stream")]})
        await send({"type": "http.response.body", "body": head, "more_body": True})
        for _ in range(batches):  # frames made lazily: the same batch object, sent again and again
            await send({"type": "http.response.body", "body": batch, "more_body": True})
        await send({"type": "http.response.body", "body": tail, "more_body": False})

    if client == "messages":
        path, body = (
            "/v1/messages",
            {"model": "m", "max_tokens": 5, "stream": True, "messages": [{"role": "user", "content": "hi"}]},
        )
    else:
        path, body = (
            "/v1/chat/completions",
            {"model": "m", "stream": True, "messages": [{"role": "user", "content": "hi"}]},
        )
    middleware = TranslateMiddleware(inner, upstream=upstream)  # type: ignore[arg-type]
    exchange = CountingClient(body)
    tracemalloc.start()
    try:
        baseline = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        with anyio.fail_after(60):
            await middleware(http_scope(path, exchange.raw), exchange.receive, exchange.send)
        growth = tracemalloc.get_traced_memory()[1] - baseline
    finally:
        tracemalloc.stop()
    assert batches * len(batch) >= STREAM_BYTES
    assert exchange.text_frames == batches * 32  # every piece of text arrived, once
    assert exchange.bytes > batches * 32 * len(PIECE)  # ~95 MB of text alone
    end = b"event: message_stop" if client == "messages" else b"data: [DONE]"
    assert end in exchange.tail
    assert growth < 5 * 1024 * 1024, f"peak memory grew by {growth / 1e6:.1f} MB"
