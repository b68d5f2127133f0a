"""Responses state shared by every worker and replica: a :class:`ResponseStore` on Redis.

One process's memory is enough for one uvicorn worker; as soon as two processes answer the same
clients, ``previous_response_id`` must resolve whichever process stored it. Each response is one
Redis string (``SET key json PX ttl``), so a write is atomic, visible to every process at once, and
expires by itself. Every call is bounded by ``timeout`` as a whole (connect, retry and read), and
any failure becomes :class:`StoreUnavailableError`, which the middleware answers with a 503 only
for requests that need state.

redis-py is an optional dependency (``pip install 'asgi-translate[redis]'``), imported only when a
Redis store is built, so the package works without it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

import anyio

from .._hub import json as _json
from .memory import MemoryStore, ResponseStore, StoredResponse, StoreUnavailableError, find_output_item, output_ids

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = ["RedisStore", "open_store"]

logger = logging.getLogger("asgi_translate")

T = TypeVar("T")

DEFAULT_KEY_PREFIX = "asgi_translate:resp:"
_REDIS_SCHEMES = ("redis", "rediss", "unix")
_INSTALL_HINT = "the Redis response store needs redis-py: pip install 'asgi-translate[redis]'"


def redact_url(url: str) -> str:
    """The URL as it may appear in logs and errors: password and query string (which may hold
    ``password=``) replaced, so a misconfigured store never leaks its credentials."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:  # an IPv6 literal lost its brackets in .hostname
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    netloc = f"{host}:{port}" if port is not None else host
    if parts.username or parts.password:
        user = parts.username or ""
        netloc = f"{user}:***@{netloc}" if parts.password else f"{user}@{netloc}"
    query = "?..." if parts.query else ""
    return f"{parts.scheme}://{netloc}{parts.path}{query}"


def _describe_client(client: Redis) -> str:
    """Where a caller-provided client points, for error messages (no credentials)."""
    kwargs = getattr(getattr(client, "connection_pool", None), "connection_kwargs", {})
    if "path" in kwargs:
        return f"unix://{kwargs['path']}"
    return f"redis://{kwargs.get('host', '?')}:{kwargs.get('port', '?')}/{kwargs.get('db', 0)}"


class RedisStore:
    """A :class:`ResponseStore` on Redis, shared by every process that points at the same server.

    ``RedisStore("redis://localhost:6379/0")`` owns its client: it connects lazily on first use and
    :meth:`aclose` closes it. ``RedisStore(redis.asyncio.Redis(...))`` uses a caller-owned client
    and leaves closing it to the caller. ``ttl`` is how long a response stays retrievable (seconds),
    ``timeout`` bounds every call as a whole (so a down or stalled Redis costs a request at most
    that long), and ``key_prefix`` namespaces the keys in a shared database.
    """

    def __init__(
        self,
        url_or_client: str | Redis,
        *,
        ttl: float = 3600.0,
        timeout: float = 0.5,
        key_prefix: str = DEFAULT_KEY_PREFIX,
    ) -> None:
        if ttl <= 0:
            raise ValueError("ttl must be a positive number of seconds")
        if timeout <= 0:
            raise ValueError("timeout must be a positive number of seconds")
        self.ttl = ttl
        self.timeout = timeout
        self.key_prefix = key_prefix
        self._client: Redis | None
        self._loop: asyncio.AbstractEventLoop | None = None
        if isinstance(url_or_client, str):
            self._url: str | None = url_or_client
            self._owned = True
            self._client = None
            self.location = redact_url(url_or_client)
            _check_url(url_or_client)
        else:
            self._url = None
            self._owned = False
            self._client = url_or_client
            self.location = _describe_client(url_or_client)

    def __repr__(self) -> str:
        return f"RedisStore({self.location!r}, ttl={self.ttl}, timeout={self.timeout})"

    async def get(self, response_id: str) -> StoredResponse | None:
        raw = await self._call("read", lambda client: client.get(self._key(response_id)))
        return self._entry(response_id, raw)

    async def get_many(self, response_ids: list[str]) -> list[StoredResponse | None]:
        """Several entries in one round trip (``MGET``): a chain's earlier turns."""
        if not response_ids:
            return []
        keys = [self._key(response_id) for response_id in response_ids]
        raws = await self._call("read", lambda client: client.mget(keys))
        return [self._entry(response_id, raw) for response_id, raw in zip(response_ids, raws, strict=True)]

    def _entry(self, response_id: str, raw: Any) -> StoredResponse | None:
        if raw is None:
            return None
        try:
            return StoredResponse.from_json(_json.loads_object(raw))
        except (ValueError, KeyError, TypeError):
            # Another program's key under our prefix, or a format from a future version: treat it
            # as absent (a 404 for the client) rather than failing every request that names it.
            logger.warning("asgi_translate: ignoring an unreadable entry for %s in %s", response_id, self.location)
            return None

    async def put(self, response_id: str, entry: StoredResponse) -> None:
        """The response, and for each output item a key naming the response, written in one
        transaction with the same expiry: an ``item_reference`` resolves while the response lives."""
        data = _json.dumpb(entry.to_json())
        ttl_ms = max(1, round(self.ttl * 1000))
        item_ids = output_ids(entry)

        async def write(client: Redis) -> None:
            async with client.pipeline(transaction=True) as pipe:
                pipe.set(self._key(response_id), data, px=ttl_ms)
                for item_id in item_ids:
                    pipe.set(self._item_key(item_id), response_id, px=ttl_ms)
                for link in entry.chain:  # the conversation lives as long as its newest turn
                    pipe.pexpire(self._key(link), ttl_ms)
                await pipe.execute()

        await self._call("write", write)

    async def get_item(self, item_id: str, owner: str | None = None) -> dict[str, Any] | None:
        raw = await self._call("read", lambda client: client.get(self._item_key(item_id)))
        if raw is None:
            return None
        entry = await self.get(raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw))
        if entry is None or (owner is not None and entry.owner != owner):
            return None
        return find_output_item(entry, item_id)

    async def delete(self, response_id: str) -> bool:
        removed = await self._call("delete", lambda client: client.delete(self._key(response_id)))
        return int(removed) > 0

    async def aclose(self) -> None:
        """Close the connections this store opened; a later call reconnects. A caller-provided
        client is left open for its owner."""
        client, self._client = self._client, (None if self._owned else self._client)
        if self._owned and client is not None:
            await client.aclose()

    # -- internals ----------------------------------------------------------------------------

    def _key(self, response_id: str) -> str:
        return self.key_prefix + response_id

    def _item_key(self, item_id: str) -> str:
        """``asgi_translate:resp:item:<id>``: response ids start ``resp_``, so never this."""
        return f"{self.key_prefix}item:{item_id}"

    async def _connect(self) -> Redis:
        """The client, built on first use so that importing and configuring an app never touches
        the network, and connections belong to the event loop that serves requests. An owned
        client is rebuilt when the loop changes (one ``TestClient`` after another): pooled
        connections cannot outlive the loop they were opened in."""
        loop = asyncio.get_running_loop()
        if self._owned and self._client is not None and self._loop is not loop:
            stale, self._client = self._client, None
            with contextlib.suppress(Exception):
                await stale.aclose()
        if self._client is None:
            assert self._url is not None
            self._client = _client_from_url(self._url, self.timeout)
        self._loop = loop
        return self._client

    async def _call(self, operation: str, command: Callable[[Redis], Awaitable[T]]) -> T:
        from redis.exceptions import RedisError

        try:
            with anyio.fail_after(self.timeout):
                return await command(await self._connect())
        except TimeoutError:
            reason = f"no answer within {self.timeout:g} s"
        except (RedisError, OSError) as exc:
            reason = _scrub(f"{type(exc).__name__}: {exc}", self._url)
        raise StoreUnavailableError(
            f"The response store at {self.location} is unavailable ({operation} failed: {reason}); "
            "requests that need stored responses fail until it answers again"
        ) from None


def _check_url(url: str) -> None:
    scheme = urlsplit(url).scheme
    if scheme not in _REDIS_SCHEMES:
        raise ValueError(f"RedisStore needs a redis://, rediss:// or unix:// URL, got scheme {scheme!r}")
    try:
        import redis.asyncio  # noqa: F401
    except ImportError:  # pragma: no cover - the test environment has redis-py
        raise ImportError(_INSTALL_HINT) from None


def _client_from_url(url: str, timeout: float) -> Redis:
    from redis.asyncio import Redis
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff

    # One immediate retry replaces a pooled connection that died with a restarted server; the
    # overall deadline in _call still bounds the call, so retries never stretch it.
    return Redis.from_url(
        url,
        socket_connect_timeout=timeout,
        socket_timeout=timeout,
        retry=Retry(NoBackoff(), 1),
    )


def _scrub(text: str, url: str | None) -> str:
    password = urlsplit(url).password if url else None
    return text.replace(password, "***") if password else text


def open_store(spec: ResponseStore | str | None) -> ResponseStore:
    """The store behind ``response_store=``/``--response-store``: ``None`` or ``"memory"`` for the
    in-process default, a ``redis://``/``rediss://``/``unix://`` URL for a shared Redis, or any
    object implementing :class:`ResponseStore`, returned as is."""
    if spec is None or spec == "memory":
        return MemoryStore()
    if not isinstance(spec, str):
        return spec
    if urlsplit(spec).scheme in _REDIS_SCHEMES:
        return RedisStore(spec)
    # The value is not echoed: a mistyped URL may still carry a password.
    raise ValueError("response_store must be 'memory', a redis://, rediss:// or unix:// URL, or a ResponseStore object")
