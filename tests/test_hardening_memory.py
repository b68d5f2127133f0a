"""Memory that stays bounded (issue 14).

- The in-memory response store is bounded in bytes as well as entries, and frees expired entries
  without waiting for someone to read them.
- A ``previous_response_id`` chain stores each response's own items once: stored bytes grow with
  the conversation, not with its square.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hardening import PATHS, call
from redis_server import RedisServer, running_redis

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
