"""Where Responses API state lives, so ``previous_response_id`` works over stateless upstreams.

A store maps a response id to a :class:`StoredResponse` (JSON-able dicts only, so any backend
can serialise it). The in-memory default is bounded in entries and age; a shared backend (Redis)
implements the same coroutines. Output items are indexed by id too, so an ``item_reference`` finds
the item of any stored response.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(slots=True)
class StoredResponse:
    """One stored exchange: the full Responses object returned to the client, and the input items
    that led to it (earlier turns included, so a chain replays from its last link alone)."""

    response: dict[str, Any]
    input_items: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"response": self.response, "input_items": self.input_items}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> StoredResponse:
        return cls(response=data["response"], input_items=list(data.get("input_items", [])))


class ResponseStore(Protocol):
    """Async key-value store of responses with expiry. Implementations raise
    :class:`StoreUnavailableError` when the backend cannot answer in time."""

    async def get(self, response_id: str) -> StoredResponse | None: ...

    async def put(self, response_id: str, entry: StoredResponse) -> None: ...

    async def delete(self, response_id: str) -> bool:
        """Remove an entry; ``False`` when there was none."""
        ...

    async def get_item(self, item_id: str) -> dict[str, Any] | None:
        """The output item ``item_id`` of any stored response (an ``item_reference`` outside a
        ``previous_response_id`` chain), for as long as its response is kept."""
        ...


class StoreUnavailableError(Exception):
    """The shared store did not answer (down, or slower than its timeout): a 503 for requests
    that need state."""


class MemoryStore:
    """The embedded default: least recently stored entries go first once ``max_entries`` is
    reached, and entries older than ``ttl`` seconds are gone. One process only."""

    def __init__(
        self, *, max_entries: int = 10_000, ttl: float = 3600.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self.max_entries = max_entries
        self.ttl = ttl
        self._clock = clock
        self._entries: OrderedDict[str, tuple[float, StoredResponse]] = OrderedDict()
        self._items: dict[str, str] = {}  # output item id -> the response holding it

    def __len__(self) -> int:
        return len(self._entries)

    async def get(self, response_id: str) -> StoredResponse | None:
        item = self._entries.get(response_id)
        if item is None:
            return None
        expires, entry = item
        if self._clock() >= expires:
            self._drop(response_id)
            return None
        return entry

    async def put(self, response_id: str, entry: StoredResponse) -> None:
        self._drop(response_id)
        self._entries[response_id] = (self._clock() + self.ttl, entry)
        for item_id in output_ids(entry):
            self._items[item_id] = response_id
        while len(self._entries) > self.max_entries:
            self._drop(next(iter(self._entries)))

    async def delete(self, response_id: str) -> bool:
        return self._drop(response_id)

    async def get_item(self, item_id: str) -> dict[str, Any] | None:
        response_id = self._items.get(item_id)
        entry = None if response_id is None else await self.get(response_id)
        return None if entry is None else find_output_item(entry, item_id)

    def _drop(self, response_id: str) -> bool:
        """Remove an entry and its items from the index; ``False`` when there was none."""
        removed = self._entries.pop(response_id, None)
        if removed is None:
            return False
        for item_id in output_ids(removed[1]):
            if self._items.get(item_id) == response_id:
                del self._items[item_id]
        return True


def output_ids(entry: StoredResponse) -> list[str]:
    output = entry.response.get("output")
    if not isinstance(output, list):
        return []
    return [item["id"] for item in output if isinstance(item, dict) and isinstance(item.get("id"), str)]


def find_output_item(entry: StoredResponse, item_id: str) -> dict[str, Any] | None:
    """The output item ``item_id`` of a stored response, if it has one."""
    for item in entry.response.get("output") or []:
        if isinstance(item, dict) and item.get("id") == item_id:
            return item
    return None
