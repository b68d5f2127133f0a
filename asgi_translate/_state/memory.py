"""Where Responses API state lives, so ``previous_response_id`` works over stateless upstreams.

A store maps a response id to a :class:`StoredResponse` (JSON-able dicts only, so any backend
can serialise it). The in-memory default is bounded in entries and age; a shared backend (Redis)
implements the same three coroutines.
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

    def __len__(self) -> int:
        return len(self._entries)

    async def get(self, response_id: str) -> StoredResponse | None:
        item = self._entries.get(response_id)
        if item is None:
            return None
        expires, entry = item
        if self._clock() >= expires:
            del self._entries[response_id]
            return None
        return entry

    async def put(self, response_id: str, entry: StoredResponse) -> None:
        self._entries.pop(response_id, None)
        self._entries[response_id] = (self._clock() + self.ttl, entry)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    async def delete(self, response_id: str) -> bool:
        return self._entries.pop(response_id, None) is not None
