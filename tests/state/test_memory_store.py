"""The in-memory response store: bounded entries and age, and output items found by id for exactly
as long as their response is kept."""

from __future__ import annotations

from typing import Any

import pytest

from asgi_translate._state.memory import MemoryStore, StoredResponse

pytestmark = pytest.mark.anyio


def response(response_id: str, *item_ids: str) -> StoredResponse:
    output: list[dict[str, Any]] = [{"id": item_id, "type": "message", "content": []} for item_id in item_ids]
    return StoredResponse(response={"id": response_id, "output": output})


async def test_items_are_found_by_id() -> None:
    store = MemoryStore()
    await store.put("resp_1", response("resp_1", "msg_1", "rs_1"))
    assert await store.get_item("rs_1") == {"id": "rs_1", "type": "message", "content": []}
    assert await store.get_item("msg_2") is None


async def test_items_leave_with_their_response() -> None:
    now = [0.0]
    store = MemoryStore(max_entries=2, ttl=10, clock=lambda: now[0])
    await store.put("resp_1", response("resp_1", "msg_1"))
    await store.put("resp_2", response("resp_2", "msg_2"))
    await store.put("resp_3", response("resp_3", "msg_3"))  # evicts resp_1
    assert await store.get_item("msg_1") is None and await store.get_item("msg_2") is not None
    assert await store.delete("resp_2") is True
    assert await store.get_item("msg_2") is None
    now[0] = 11.0  # resp_3 expired
    assert await store.get_item("msg_3") is None
    assert store._items == {}


async def test_a_replaced_response_keeps_only_its_new_items() -> None:
    store = MemoryStore()
    await store.put("resp_1", response("resp_1", "msg_old"))
    await store.put("resp_1", response("resp_1", "msg_new"))
    assert await store.get_item("msg_old") is None
    assert await store.get_item("msg_new") is not None
