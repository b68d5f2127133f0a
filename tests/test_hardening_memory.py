"""Memory that stays bounded (issue 14).

- The in-memory response store is bounded in bytes as well as entries, and frees expired entries
  without waiting for someone to read them.
- A ``previous_response_id`` chain stores each response's own items once: stored bytes grow with
  the conversation, not with its square.
- A 100 MB stream into a Responses client (whose final ``response.completed`` repeats the whole
  output, as the API defines it) peaks at about twice the output, not twenty times.
"""

from __future__ import annotations

import json
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from conftest import counting_ids
from hardening import PATHS, call, chat_chunk, http_scope, scripted, sse
from redis_server import RedisServer, running_redis
from starlette.types import Message, Receive, Scope, Send
from validators.responses import validate_responses_stream

from asgi_translate import MemoryStore, RedisStore, StoredResponse, TranslateMiddleware
from asgi_translate.testing import FakeModel

pytestmark = pytest.mark.anyio


def entry(size: int, tag: str = "x") -> StoredResponse:
    text = tag * size
    response = {"id": f"resp_{tag}", "object": "response", "status": "completed", "output": []}
    return StoredResponse(response=response, input_items=[{"type": "message", "role": "user", "content": text}])


# -- the memory store ------------------------------------------------------------------------------------------


async def test_the_memory_store_is_bounded_in_bytes() -> None:
    store = MemoryStore(max_entries=1000, max_bytes=5_000_000)
    for n in range(20):
        await store.put(f"resp_{n}", entry(1_000_000, str(n % 10)))
        assert store.bytes <= 5_000_000
    assert 3 <= len(store) <= 5
    assert await store.get("resp_19") is not None  # the newest stay
    assert await store.get("resp_0") is None  # the oldest went first


async def test_an_entry_larger_than_the_whole_budget_is_not_kept() -> None:
    store = MemoryStore(max_bytes=1_000)
    await store.put("resp_big", entry(10_000))
    assert len(store) == 0 and store.bytes == 0


def test_the_default_memory_store_has_a_byte_bound() -> None:
    store = MemoryStore()
    assert store.max_bytes == 256 * 1024 * 1024
    app = TranslateMiddleware(FakeModel(), upstream="chat")
    assert isinstance(app.response_store, MemoryStore) and app.response_store.max_bytes == store.max_bytes


async def test_expired_entries_are_freed_without_being_read() -> None:
    now = [0.0]
    store = MemoryStore(ttl=10, clock=lambda: now[0])
    for n in range(5):
        await store.put(f"resp_{n}", entry(1_000))
    now[0] = 11.0
    await store.put("resp_new", entry(1_000))  # any write sweeps what has expired
    assert len(store) == 1
    assert store.bytes < 2_000
    now[0] = 30.0
    assert await store.get("resp_missing") is None  # and so does any read, of any id
    assert len(store) == 0 and store.bytes == 0


# -- chains: each response's own items, once ---------------------------------------------------------------------


async def run_chain(app: Any, turns: int, size: int) -> list[str]:
    ids: list[str] = []
    for turn in range(turns):
        body: dict[str, Any] = {"model": "m", "input": f"{turn:04d}" + "y" * size}
        if ids:
            body["previous_response_id"] = ids[-1]
        got = await call(app, PATHS["responses"], body)
        assert got.status == 200, got.body[:300]
        ids.append(got.json()["id"])
    return ids


@pytest.fixture
def redis(tmp_path: Path) -> Iterator[RedisServer]:
    yield from running_redis(tmp_path)


@pytest.mark.slow
async def test_a_redis_chain_stores_each_turn_once(redis: RedisServer) -> None:
    import redis.asyncio as aioredis

    model = FakeModel()
    store = RedisStore(redis.url)
    app = TranslateMiddleware(model, upstream="chat", response_store=store)
    turns, size = 60, 10_000
    ids = await run_chain(app, turns, size)
    # The last turn still replays the whole conversation...
    sent = model.requests[-1].body["messages"]
    assert sum(1 for m in sent if m["role"] == "user") == turns
    # ...and the input_items endpoint lists it all.
    listed = await call(app, f"/v1/responses/{ids[-1]}/input_items?limit=100&order=asc", method="GET")
    assert listed.status == 200
    client = aioredis.Redis.from_url(redis.url)
    try:
        stored = 0
        async for name in client.scan_iter(match="asgi_translate:*"):
            stored += await client.strlen(name) if await client.type(name) == b"string" else 0
    finally:
        await client.aclose()
        await store.aclose()
    conversation = 2 * turns * size  # FakeModel's answer repeats each input
    assert stored < 2 * conversation, f"{stored / conversation:.1f}x the conversation"


async def test_a_memory_chain_counts_each_turn_once() -> None:
    app = TranslateMiddleware(FakeModel(), upstream="chat")
    turns, size = 30, 10_000
    await run_chain(app, turns, size)
    store = app.response_store
    assert isinstance(store, MemoryStore)
    conversation = 2 * turns * size  # FakeModel's answer repeats each input
    assert store.bytes < 2 * conversation, f"{store.bytes / conversation:.1f}x the conversation"


# -- a long stream into a Responses client -----------------------------------------------------------------------

STREAM_BYTES = 100 * 1024 * 1024
PIECE = "0123456789" * 100


class CountingClient:
    """Keeps counts and the tail only: the test must not hold the stream it measures."""

    def __init__(self, body: dict[str, Any]) -> None:
        self.raw = json.dumps(body).encode()
        self.pending = True
        self.bytes = 0
        self.tail = b""
        self.completed = False
        self.done = anyio.Event()

    async def receive(self) -> Message:
        if self.pending:
            self.pending = False
            return {"type": "http.request", "body": self.raw, "more_body": False}
        await self.done.wait()
        return {"type": "http.disconnect"}

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.body":
            body = message.get("body", b"")
            self.bytes += len(body)
            if body:
                self.tail = body[-300:]
                self.completed |= b"event: response.completed" in body
            if not message.get("more_body"):
                self.done.set()


def long_stream(upstream: str) -> tuple[bytes, bytes, bytes, int]:
    """(head, one batch of frames, tail, number of batches) for ~100 MB of text."""
    if upstream == "chat":
        head = chat_chunk({"role": "assistant", "content": ""})
        frame = chat_chunk({"content": PIECE})
        tail = chat_chunk({}, "stop") + sse("[DONE]")
    else:
        message = {"id": "msg_1", "type": "message", "role": "assistant", "model": "up", "content": []}
        head = sse({"type": "message_start", "message": {**message, "usage": {"input_tokens": 1}}}, "message_start")
        head += sse(
            {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
            "content_block_start",
        )
        frame = sse(
            {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": PIECE}},
            "content_block_delta",
        )
        tail = sse({"type": "content_block_stop", "index": 0}, "content_block_stop")
        tail += sse({"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {}}, "message_delta")
        tail += sse({"type": "message_stop"}, "message_stop")
    batch = frame * 32
    return head, batch, tail, STREAM_BYTES // (32 * len(PIECE)) + 1


@pytest.mark.slow
# Stored (the default: the store keeps the final response) over chat, not stored over messages:
# two runs of ~10 s each cover both decoders and both ends of remember().
@pytest.mark.parametrize(("upstream", "store"), [("chat", True), ("messages", False)])
async def test_a_100_mb_stream_into_a_responses_client_peaks_near_twice_its_output(upstream: str, store: bool) -> None:
    head, batch, tail, batches = long_stream(upstream)

    async def inner(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/event-stream")]})
        await send({"type": "http.response.body", "body": head, "more_body": True})
        for _ in range(batches):
            await send({"type": "http.response.body", "body": batch, "more_body": True})
        await send({"type": "http.response.body", "body": tail, "more_body": False})

    output = batches * 32 * len(PIECE)
    app = TranslateMiddleware(inner, upstream=upstream, response_store=MemoryStore(max_bytes=10 * STREAM_BYTES))  # type: ignore[arg-type]
    exchange = CountingClient({"model": "m", "input": "hi", "stream": True, "store": store})
    tracemalloc.start()
    try:
        baseline = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        with anyio.fail_after(120):
            await app(http_scope(PATHS["responses"], exchange.raw), exchange.receive, exchange.send)
        growth = tracemalloc.get_traced_memory()[1] - baseline
    finally:
        tracemalloc.stop()
    assert exchange.completed
    assert exchange.bytes > 4 * output  # deltas, the done events and the completed response
    assert growth < 2.3 * output, f"peak grew by {growth / output:.2f}x the output ({growth / 1e6:.0f} MB)"


@pytest.mark.parametrize("upstream", ["chat", "messages"])
async def test_frames_written_in_pieces_are_the_same_bytes(upstream: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Past the threshold the done events and the final response are written piece by piece;
    joined, they are exactly what one dump writes."""
    from asgi_translate._hub import pipeline
    from asgi_translate.schemas.openai_responses import _encoder

    head, batch, tail, _ = long_stream(upstream)
    stream = head + batch * 2 + tail

    async def answer() -> bytes:
        app = TranslateMiddleware(scripted(stream), upstream=upstream, id_factory=counting_ids(), clock=lambda: 1.0)  # type: ignore[arg-type]
        got = await call(app, PATHS["responses"], {"model": "m", "input": "hi", "stream": True})
        return got.body

    whole = await answer()
    monkeypatch.setattr(pipeline, "LARGE_TEXT", 100)
    monkeypatch.setattr(_encoder, "LARGE_TEXT", 100)
    monkeypatch.setattr(pipeline, "_SLICE", 7)
    pieced = await answer()
    assert pieced == whole
    events = validate_responses_stream(pieced)
    assert events[-1]["response"]["output_text"] == PIECE * 64
