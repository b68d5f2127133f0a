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
    """One stored exchange: the full Responses object returned to the client and the input items
    this turn added. ``chain`` names the earlier responses of its ``previous_response_id`` chain,
    oldest first, so a chain replays from them (each turn's items are stored once, in its own
    entry); an entry without one holds its whole history in ``input_items``. ``owner`` is a hash
    of the credential that created it (see ``responses_per_key``); ``None`` when unscoped."""

    response: dict[str, Any]
    input_items: list[dict[str, Any]] = field(default_factory=list)
    chain: list[str] = field(default_factory=list)
    owner: str | None = None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"response": self.response, "input_items": self.input_items}
        if self.chain:
            data["chain"] = self.chain
        if self.owner is not None:
            data["owner"] = self.owner
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> StoredResponse:
        chain = data.get("chain") or []
        owner = data.get("owner")
        if not isinstance(chain, list) or not all(isinstance(link, str) for link in chain):
            raise ValueError("chain must be a list of response ids")
        return cls(
            response=data["response"],
            input_items=list(data.get("input_items", [])),
            chain=chain,
            owner=owner if isinstance(owner, str) else None,
        )


class ResponseStore(Protocol):
    """Async key-value store of responses with expiry. Implementations raise
    :class:`StoreUnavailableError` when the backend cannot answer in time."""

    async def get(self, response_id: str) -> StoredResponse | None: ...

    async def put(self, response_id: str, entry: StoredResponse) -> None: ...

    async def delete(self, response_id: str) -> bool:
        """Remove an entry; ``False`` when there was none."""
        ...

    async def get_item(self, item_id: str, owner: str | None = None) -> dict[str, Any] | None:
        """The output item ``item_id`` of any stored response (an ``item_reference`` outside a
        ``previous_response_id`` chain), for as long as its response is kept; with ``owner``, only
        of a response that owner stored."""
        ...


class StoreUnavailableError(Exception):
    """The shared store did not answer (down, or slower than its timeout): a 503 for requests
    that need state."""


#: The memory store's default byte budget: entries (measured as their JSON) beyond it go, oldest first.
DEFAULT_MAX_BYTES = 256 * 1024 * 1024


class MemoryStore:
    """The embedded default, one process only. Bounded three ways: once ``max_entries`` or
    ``max_bytes`` (each entry measured as about its JSON length) is reached the least recently stored entries
    go first, and entries older than ``ttl`` seconds are gone, freed by the next call of any kind
    (they are kept in expiry order, so each call frees only what has expired). Storing a response
    renews the entries of its chain, so a conversation lives as long as its newest turn."""

    def __init__(
        self,
        *,
        max_entries: int = 10_000,
        max_bytes: int = DEFAULT_MAX_BYTES,
        ttl: float = 3600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        if max_bytes < 1:
            raise ValueError("max_bytes must be at least 1")
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.ttl = ttl
        self._clock = clock
        #: id -> (expiry, size in bytes, entry), oldest expiry first
        self._entries: OrderedDict[str, tuple[float, int, StoredResponse]] = OrderedDict()
        self._items: dict[str, str] = {}  # output item id -> the response holding it
        #: What the kept entries weigh, as JSON.
        self.bytes = 0

    def __len__(self) -> int:
        return len(self._entries)

    async def get(self, response_id: str) -> StoredResponse | None:
        self._expire()
        item = self._entries.get(response_id)
        return None if item is None else item[2]

    async def get_many(self, response_ids: list[str]) -> list[StoredResponse | None]:
        self._expire()
        found = [self._entries.get(response_id) for response_id in response_ids]
        return [None if item is None else item[2] for item in found]

    async def put(self, response_id: str, entry: StoredResponse) -> None:
        self._expire()
        self._drop(response_id)
        size = json_size(entry.to_json())
        if size > self.max_bytes:
            return  # larger than the whole budget: keeping it would evict everything else
        expires = self._clock() + self.ttl
        for link in entry.chain:  # its conversation lives as long as its newest turn
            kept = self._entries.get(link)
            if kept is not None:
                self._entries[link] = (expires, kept[1], kept[2])
                self._entries.move_to_end(link)
        self._entries[response_id] = (expires, size, entry)
        self.bytes += size
        for item_id in output_ids(entry):
            self._items[item_id] = response_id
        while len(self._entries) > self.max_entries or self.bytes > self.max_bytes:
            self._drop(next(iter(self._entries)))

    async def delete(self, response_id: str) -> bool:
        self._expire()
        return self._drop(response_id)

    async def get_item(self, item_id: str, owner: str | None = None) -> dict[str, Any] | None:
        response_id = self._items.get(item_id)
        entry = None if response_id is None else await self.get(response_id)
        if entry is None or (owner is not None and entry.owner != owner):
            return None
        return find_output_item(entry, item_id)

    def _expire(self) -> None:
        """Free what has expired: the entries are in expiry order, so from the front only."""
        now = self._clock()
        entries = self._entries
        while entries:
            oldest = next(iter(entries))
            if entries[oldest][0] > now:
                return
            self._drop(oldest)

    def _drop(self, response_id: str) -> bool:
        """Remove an entry and its items from the index; ``False`` when there was none."""
        removed = self._entries.pop(response_id, None)
        if removed is None:
            return False
        self.bytes -= removed[1]
        for item_id in output_ids(removed[2]):
            if self._items.get(item_id) == response_id:
                del self._items[item_id]
        return True


def json_size(value: Any) -> int:
    """About the length of ``value`` as JSON (strings counted as their characters, unescaped),
    without writing it: a 100 MB answer is measured, not copied."""
    if isinstance(value, str):
        return len(value) + 2
    if isinstance(value, dict):
        return 2 + sum(len(key) + 4 + json_size(inner) for key, inner in value.items())
    if isinstance(value, list):
        return 2 + sum(1 + json_size(inner) for inner in value)
    return 5 if value is None or isinstance(value, bool) else len(str(value))


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
