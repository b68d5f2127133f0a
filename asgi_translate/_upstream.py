"""A remote LLM server as "just another ASGI app", so remote and in-process upstreams share the
middleware's one response-rewriting path.

:class:`HTTPXUpstream` forwards each HTTP request to ``base_url``, streaming both bodies, and maps
the few things that differ between a client and the remote: the path prefix, the auth header
convention, and which headers may cross.

Its API is httpx's (``client=httpx.AsyncClient(...)``, ``httpx.Timeout``), and a caller's client
is used as it is. The pool it opens itself carries the bytes with aiohttp when that is installed
(``asgi-translate[aiohttp]``): on the capacity benchmark (benchmarks/README.md) an aiohttp
passthrough costs a tenth of the CPU per stream of an httpx one (httpcore's pool and per-chunk
layers) and half of httpx over httpx-aiohttp's transport, so the bytes skip httpx's objects
entirely. ``ASGI_TRANSLATE_HTTP=httpx`` forces httpx. Failures that happen before the remote answered
are answered here, in the upstream schema's own error envelope (502 unreachable, 504 timed out), so
the middleware translates them to the client's envelope like any other upstream error; a failure
mid-stream ends the body early, which the middleware reports as its schema's stream failure.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import sys
from collections.abc import AsyncIterator, Iterable, Sequence
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

import anyio
import httpx
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ._hub.errors import ErrorInfo, UpstreamError
from ._hub.json import dumpb
from ._hub.routes import Route, SchemaName, check_schema

if TYPE_CHECKING:
    import aiohttp

logger = logging.getLogger("asgi_translate")

#: Connect quickly or fail; a model may think for minutes between two frames.
DEFAULT_TIMEOUT = httpx.Timeout(connect=10.0, read=600.0, write=60.0, pool=10.0)
ANTHROPIC_VERSION = "2023-06-01"
# Error bodies are buffered to scrub the configured key; no real error body comes near this.
_MAX_ERROR_BODY = 1024 * 1024

# https://www.rfc-editor.org/rfc/rfc9110#section-7.6.1 plus the pre-RFC "keep-alive" family.
_HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "proxy-connection", "proxy-authenticate", "proxy-authorization", "te"}
    | {"trailer", "trailers", "transfer-encoding", "upgrade"}
)
# httpx hands us decoded bytes (so no content-encoding) and the ASGI server frames the body and
# adds its own date and server headers.
_HOP_BY_HOP_AND_SERVER = _HOP_BY_HOP | {"date", "server"}
_DROPPED_RESPONSE_HEADERS = _HOP_BY_HOP_AND_SERVER | {"content-length", "content-encoding"}
# content-encoding travels with the body it describes (a gzip passthrough body stays gzip).
_FORWARDED_REQUEST_HEADERS = frozenset({"accept", "content-type", "content-length", "content-encoding", "user-agent"})
_FORWARDED_REQUEST_HEADERS |= {"x-request-id", "request-id", "idempotency-key", "traceparent", "tracestate"}
#: The client's credentials, which cross only in the remote's own convention.
_AUTH_HEADERS = frozenset({b"authorization", b"x-api-key"})
# One pool for every concurrent stream: httpx's default (100 connections) would queue the 101st.
_MAX_CONNECTIONS = 1000


def default_transport() -> str:
    """``"aiohttp"`` when it is importable (and not overridden by ``ASGI_TRANSLATE_HTTP=httpx``)."""
    forced = os.environ.get("ASGI_TRANSLATE_HTTP", "").strip().lower()
    if forced in ("httpx", "aiohttp"):
        return forced
    if forced:
        raise ValueError(f"ASGI_TRANSLATE_HTTP={forced!r}: expected 'httpx' or 'aiohttp'")
    try:
        import aiohttp  # noqa: F401
    except ImportError:
        return "httpx"
    return "aiohttp"


class HTTPXUpstream:
    """Forward every HTTP request to ``base_url`` (``https://api.anthropic.com`` or a base that
    ends in ``/v1`` such as ``http://localhost:8000/v1``; a request for ``/v1/x`` reaches
    ``<base>/x`` then, never ``/v1/v1/x``).

    ``upstream`` names the remote's schema, which decides its auth convention (Messages:
    ``x-api-key`` and ``anthropic-version``; the OpenAI schemas: ``Authorization: Bearer``) and
    its error envelope. ``api_key`` (or the environment variable named by ``api_key_env``, read
    per request) replaces whatever key the client sent. Pass ``client`` to share your own
    ``httpx.AsyncClient`` (you close it); otherwise one pool is opened on first use and closed on
    ASGI lifespan shutdown or :meth:`aclose`: aiohttp's when it is installed, else httpx's
    (``transport`` picks one; :func:`default_transport` says which by default). ``total_timeout``
    bounds a whole exchange, streaming included; ``timeout`` is httpx's per-phase timeout.
    """

    def __init__(
        self,
        base_url: str,
        *,
        upstream: SchemaName = "chat",
        client: httpx.AsyncClient | None = None,
        timeout: httpx.Timeout | float | None = DEFAULT_TIMEOUT,
        total_timeout: float | None = None,
        api_key: str | None = None,
        api_key_env: str | None = None,
        forward_headers: Iterable[str] = (),
        transport: str | None = None,
    ) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"upstream_url={base_url!r} must be an http:// or https:// URL")
        self.upstream = check_schema(upstream, "upstream")
        self.origin = f"{parts.scheme}://{parts.netloc}"
        # For messages and logs: never the user:password@ a URL may carry.
        self.display_origin = f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"
        self.prefix = parts.path.rstrip("/")
        self.timeout = timeout if isinstance(timeout, httpx.Timeout) else httpx.Timeout(timeout)
        self.total_timeout = total_timeout
        self._api_key = api_key
        self._api_key_env = api_key_env
        self._forwarded = _FORWARDED_REQUEST_HEADERS | {name.lower() for name in forward_headers}
        #: As headers_for reads them: raw names, less the auth headers it maps itself.
        self._forwarded_raw = frozenset(name.encode("latin-1", "replace") for name in self._forwarded) - _AUTH_HEADERS
        self._own_prefix = b"anthropic-" if self.upstream == "messages" else b"openai-"
        self._client = client
        self._owns_client = client is None
        #: What carries the bytes: a caller's httpx client, else our own pool of this kind.
        self.transport = "httpx" if client is not None else (transport or default_transport())
        if self.transport not in ("httpx", "aiohttp"):
            raise ValueError(f"transport={self.transport!r}: expected 'httpx' or 'aiohttp'")
        self._session: aiohttp.ClientSession | None = None
        self._proxy: str | None = None
        self._aiohttp_timeout: aiohttp.ClientTimeout | None = None
        self._aiohttp_errors: tuple[type[Exception], ...] = ()

    def __repr__(self) -> str:  # never show the key
        return f"HTTPXUpstream({self.display_origin + self.prefix!r}, upstream={self.upstream!r})"

    # -- client lifetime ------------------------------------------------------------------------

    @property
    def client(self) -> httpx.AsyncClient:
        """The pooled client, opened on first use."""
        if self._client is None:
            limits = httpx.Limits(max_connections=_MAX_CONNECTIONS, max_keepalive_connections=100)
            self._client = httpx.AsyncClient(timeout=self.timeout, limits=limits, follow_redirects=False)
        return self._client

    @property
    def session(self) -> aiohttp.ClientSession:
        """The aiohttp pool, opened on first use (inside the event loop, as aiohttp wants)."""
        if self._session is None:
            import aiohttp

            connector = aiohttp.TCPConnector(limit=_MAX_CONNECTIONS, limit_per_host=0)
            self._session = aiohttp.ClientSession(connector=connector, auto_decompress=True)
            self._proxy = _env_proxy(self.origin)
            # Made once with the pool rather than per request (an import and an attrs object each).
            self._aiohttp_timeout = self.aiohttp_timeout()
            # A cut or a stall past the read timeout mid-stream: a ClientError or a TimeoutError.
            self._aiohttp_errors = (aiohttp.ClientError, TimeoutError)
        return self._session

    async def aclose(self) -> None:
        """Close the pool if this upstream opened it (a caller's client stays open)."""
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()
        if self._owns_client and self._client is not None:
            client, self._client = self._client, None
            await client.aclose()

    def aiohttp_timeout(self) -> aiohttp.ClientTimeout:
        """httpx's per-phase timeout in aiohttp's terms (aiohttp has no write timeout)."""
        import aiohttp

        t = self.timeout
        # aiohttp's ``connect`` is the wait for a pooled connection plus connecting, httpx's pool + connect.
        pooled = None if t.pool is None or t.connect is None else t.pool + t.connect
        return aiohttp.ClientTimeout(total=None, connect=pooled, sock_connect=t.connect, sock_read=t.read)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "http":
            await _Exchange(self, scope, receive, send).run()
        # websockets are not forwarded: the ASGI server answers them with a 403

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def lifespan_around(self, app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
        """Run another app's lifespan, closing this upstream's pool when that app has shut down."""

        async def send_then_close(message: Message) -> None:
            if message["type"] == "lifespan.shutdown.complete":
                await self.aclose()
            await send(message)

        await app(scope, receive, send_then_close)

    # -- mapping a request ----------------------------------------------------------------------

    def url_for(self, scope: Scope) -> str:
        """``prefix + path``, dropping the client's ``/v1`` when the prefix already ends in it."""
        raw_path: bytes | None = scope.get("raw_path")
        path = raw_path.decode("latin-1") if raw_path else scope["path"]
        path = path.split("?", 1)[0]
        if not path.startswith("/"):
            # h11 hands over any request target: "http://other/x" (absolute form) or "@other/x"
            # would otherwise name a new host after our origin. Only the path of it is kept.
            path = "/" + (urlsplit(path).path if "://" in path else path).lstrip("/")
        path = _contained_path(path)
        if self.prefix.endswith("/v1") and (path == "/v1" or path.startswith("/v1/")):
            path = path[3:]
        query = scope.get("query_string", b"").decode("latin-1")
        return self.origin + self.prefix + path + (f"?{query}" if query else "")

    def headers_for(self, scope: Scope) -> list[tuple[str, str]]:
        """The allowlisted client headers, plus auth in the remote's convention.

        One pass over the raw names, lowered as bytes, deciding each with a set lookup or a
        comparison; only the headers that cross are decoded. A coding agent sends twenty or so
        headers, most of which stay here."""
        own = self._own_prefix
        forwarded = self._forwarded_raw
        kept: list[tuple[bytes, bytes]] = []
        auth: list[tuple[bytes, bytes]] = []
        hop_by_hop = False
        for raw_name, raw_value in scope["headers"]:
            name = raw_name.lower()
            if name in forwarded:  # (never the two auth headers: see __init__)
                kept.append((name, raw_value))
            elif name == b"authorization" or name == b"x-api-key":
                auth.append((name, raw_value))
            elif name == b"connection":
                hop_by_hop = True
            elif name.startswith(own):
                kept.append((name, raw_value))
        if hop_by_hop:  # the names it lists are meant for the client's own connection to us
            listed = connection_listed(scope["headers"])
            kept = [(name, value) for name, value in kept if name.decode("latin-1") not in listed]
            auth = [(name, value) for name, value in auth if name.decode("latin-1") not in listed]
        token = self._client_token(auth, kept)
        headers = [(name.decode("latin-1"), value.decode("latin-1")) for name, value in kept]
        token = self._configured_key() or token
        if self.upstream == "messages":
            if token:
                headers.append(("x-api-key", token))
            if not any(name == "anthropic-version" for name, _ in headers):
                headers.append(("anthropic-version", ANTHROPIC_VERSION))
        elif token:
            headers.append(("authorization", f"Bearer {token}"))
        return headers

    def _client_token(self, auth: list[tuple[bytes, bytes]], kept: list[tuple[bytes, bytes]]) -> str | None:
        """The client's key, from the last of its ``authorization: Bearer`` and ``x-api-key``
        headers; an ``authorization`` of another scheme joins ``kept`` when it is forwarded by name."""
        token: str | None = None
        for name, raw_value in auth:
            value = raw_value.decode("latin-1")
            if name == b"x-api-key":
                token = value.strip()
            elif value[:7].lower() == "bearer ":
                token = value[7:].strip()
            elif "authorization" in self._forwarded:
                kept.append((name, raw_value))
        return token

    def _configured_key(self) -> str | None:
        if self._api_key:
            return self._api_key
        if self._api_key_env:
            return os.environ.get(self._api_key_env) or None
        return None

    def scrub(self, data: bytes) -> bytes:
        """Remove the configured key from bytes headed for a client (an upstream may echo it)."""
        key = self._configured_key()
        return data.replace(key.encode(), b"***") if key else data

    def error_body(self, error: UpstreamError) -> tuple[int, bytes]:
        """A 502/504 in the remote's own envelope, which the middleware translates like any
        upstream error (and which a client of the same schema reads as is)."""
        from .schemas import get_codec

        info = ErrorInfo(error.status, error.error_type, error.message)
        status, payload = get_codec(self.upstream).render_error(info)
        return status, self.scrub(dumpb(payload))


def _contained_path(path: str) -> str:
    """``path`` with its dot segments resolved (``/v1/./a/../b`` is ``/v1/b``), so that what follows
    the upstream URL's prefix stays below it: ``..`` that would climb above the root, and segments
    that only an upstream decoding ``%2e``, ``%2f`` or ``%5c`` would read as dots or separators
    (``%2e%2e``, ``..%2f..``), raise an :class:`UpstreamError` (400) before anything is sent."""
    if "." not in path and "%" not in path:  # nearly every request: nothing to resolve
        return path
    kept: list[str] = []
    segments = path.split("/")[1:]
    for index, segment in enumerate(segments):
        decoded = unquote(segment)
        if decoded in (".", ".."):
            if decoded == "..":
                if not kept:
                    raise UpstreamError("The request path climbs above the upstream's base path", status=400)
                kept.pop()
            if index == len(segments) - 1:
                kept.append("")  # "/a/b/.." names the directory "/a/"
            continue
        if any(part in (".", "..") for part in re.split(r"[/\\]", decoded)):
            raise UpstreamError("The request path holds encoded dot segments", status=400)
        kept.append(segment)
    return "/" + "/".join(kept)


def _env_proxy(origin: str) -> str | None:
    """The proxy the environment names for ``origin`` (``HTTPS_PROXY``, ``HTTP_PROXY``,
    ``ALL_PROXY``, unless ``NO_PROXY`` covers its host), read once when the pool opens, as httpx
    reads it when a client is made. aiohttp's own ``trust_env`` would read it, and ``.netrc``
    from disk, on every request."""
    from urllib.request import getproxies, proxy_bypass

    parts = urlsplit(origin)
    if proxy_bypass(parts.hostname or ""):
        return None
    proxies = getproxies()
    return proxies.get(parts.scheme) or proxies.get("all")


def connection_listed(headers: Iterable[tuple[bytes, bytes]]) -> frozenset[str]:
    """The header names a ``Connection`` header lists: hop-by-hop for that one connection, so a
    proxy removes them besides the fixed list (RFC 9110 section 7.6.1)."""
    names: set[str] = set()
    for name, value in headers:
        if name.lower() == b"connection":
            names.update(token.strip().lower() for token in value.decode("latin-1").split(","))
    names.discard("")
    return frozenset(names)


def remote_upstream(
    url: str,
    upstream: SchemaName | None,
    routes: Sequence[Route],
    api_key: str | None,
    timeout: httpx.Timeout | float | None,
    client: httpx.AsyncClient | None,
) -> HTTPXUpstream:
    """The HTTPXUpstream behind ``TranslateMiddleware(upstream_url=...)``: one remote speaks one
    schema, so it is ``upstream`` or the one schema every route targets."""
    schemas = {upstream} if upstream else {route.upstream for route in routes}
    if len(schemas) != 1:
        raise ValueError("upstream_url needs upstream='chat'|'messages'|'responses' naming what the remote speaks")
    return HTTPXUpstream(
        url,
        upstream=schemas.pop(),
        client=client,
        timeout=DEFAULT_TIMEOUT if timeout is None else timeout,
        api_key=api_key,
    )


#: A request body: none, whole, or streamed as it arrives.
_Body = bytes | AsyncIterator[bytes] | None


_SCRUBBED = b"***"
#: What a closed httpx response is left holding as its stream (see _Exchange._forward_httpx).
_NO_STREAM = httpx.ByteStream(b"")


async def _scrubbed(chunks: AsyncIterator[bytes], secret: bytes) -> AsyncIterator[bytes]:
    """``chunks`` with every occurrence of ``secret`` replaced, also one cut across two chunks: a
    chunk's tail that could begin the secret waits for the next chunk (for an event stream that
    is never a whole frame, whose end is a blank line)."""
    held = b""
    first = secret[:1]
    for_tail = len(secret) - 1
    async for chunk in chunks:
        data = (held + chunk if held else chunk).replace(secret, _SCRUBBED)
        held = b""
        start = max(0, len(data) - for_tail)
        at = data.rfind(first, start)
        while at != -1:
            if secret.startswith(data[at:]):
                data, held = data[:at], data[at:]
                break
            at = data.rfind(first, start, at)
        if data:
            yield data
    if held:
        yield held


def _without_tracebacks(error: UpstreamError) -> UpstreamError:
    """``error`` and the exceptions it was raised from, less their tracebacks, which nothing reads
    (its message says what failed). Each traceback holds frames that hold the exchange, and
    often the exception again (``error`` itself, in :meth:`_Exchange.run`; the transport's own
    error, in aiohttp's connector): cycles that outlive the exchange until the collector finds
    them, for every refused connection while an upstream is down."""
    cause: BaseException | None = error
    for _ in range(_CHAINED):
        if cause is None:
            break
        cause.__traceback__ = None
        cause = cause.__cause__ or cause.__context__
    return error


#: How far :func:`_without_tracebacks` follows an exception's causes (two or three, in practice).
_CHAINED = 8


class _Exchange:
    """One forwarded request: stream it up, stream the answer down, stop when the client leaves.

    Plain asyncio rather than an anyio task group and ``fail_after``: a watcher task and a timer
    handle cost a tenth of what those did per exchange (about 140 µs on the capacity benchmark),
    and aiohttp, the default transport, is asyncio's anyway. Both stop the exchange the same way:
    they cancel the task running it, once, saying why in ``stopped``.
    """

    __slots__ = ("upstream", "scope", "receive", "send", "started", "stopped", "_task", "_watcher")

    def __init__(self, upstream: HTTPXUpstream, scope: Scope, receive: Receive, send: Send) -> None:
        self.upstream = upstream
        self.scope = scope
        self.receive = receive
        self.send = send
        #: Watches for the client leaving, from when the request body was read whole (receive()
        #: is free then): started there, rather than waiting on an event from the start.
        self._watcher: asyncio.Task[None] | None = None
        self.started = False  # http.response.start was sent
        self.stopped = ""  # "client_left" | "timeout": why this exchange cancelled itself

    async def run(self) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._task = task
        loop = asyncio.get_running_loop()
        total = self.upstream.total_timeout
        timer = loop.call_later(total, self._stop, "timeout") if total is not None else None
        error: UpstreamError | None = None
        try:
            await self._forward()
        except UpstreamError as exc:
            error = _without_tracebacks(exc)
        except asyncio.CancelledError:
            if not self.stopped:
                raise  # not ours: the server is shutting down
            if sys.version_info >= (3, 11):
                task.uncancel()
            if self.stopped == "timeout":
                error = UpstreamError(f"{self._where()} took longer than {total}s", status=504)
        finally:
            if self._watcher is not None:
                # Dropped as well as cancelled: the CancelledError it ends with holds its frame,
                # and so this exchange, which would otherwise hold it back, a cycle that only
                # the collector frees (see tune_gc in cli.py).
                self._watcher.cancel()
                self._watcher = None
            if timer is not None:
                timer.cancel()
        if error is not None:
            await self._fail(error)

    def _stop(self, why: str) -> None:
        if not self.stopped:
            self.stopped = why
            self._task.cancel()

    async def _watch_disconnect(self) -> None:
        """A client that leaves cancels the exchange, which closes the upstream response and with
        it the connection, so the remote stops generating."""
        while (await self.receive())["type"] != "http.disconnect":
            pass
        self._stop("client_left")

    async def _forward(self) -> None:
        upstream = self.upstream
        body = await self._request_body()
        url, headers = upstream.url_for(self.scope), upstream.headers_for(self.scope)
        if upstream.transport == "aiohttp":
            await self._forward_aiohttp(url, headers, body)
        else:
            await self._forward_httpx(url, headers, body)

    async def _forward_httpx(self, url: str, headers: list[tuple[str, str]], body: _Body) -> None:
        client = self.upstream.client
        request = client.build_request(self.scope["method"], url, headers=headers, content=body)
        try:
            response = await client.send(request, stream=True)
        except httpx.TimeoutException as exc:
            raise UpstreamError(f"{self._where()} timed out ({type(exc).__name__})", status=504) from None
        except httpx.HTTPError as exc:
            raise UpstreamError(f"Could not reach {self._where()}: {type(exc).__name__}: {exc}", status=502) from None
        try:
            await self._relay(response.status_code, response.headers.raw, response.aiter_bytes(), httpx.HTTPError)
        finally:
            # Shielded: after a client disconnect this runs cancelled, and an unclosed response
            # would leave the remote generating into a pooled connection.
            with anyio.CancelScope(shield=True):
                await response.aclose()
            # httpx's response and its stream hold each other: let go of the one, so that both
            # are freed now rather than by the collector (tests/upstream/test_no_cycles.py).
            response.stream = _NO_STREAM

    async def _forward_aiohttp(self, url: str, headers: list[tuple[str, str]], body: _Body) -> None:
        upstream = self.upstream
        session = upstream.session
        errors = upstream._aiohttp_errors
        try:
            response = await session.request(
                self.scope["method"],
                url,
                headers=headers,
                data=body,
                allow_redirects=False,
                timeout=upstream._aiohttp_timeout,
                proxy=upstream._proxy,
            )
        except TimeoutError as exc:  # aiohttp's own timeouts are TimeoutErrors too
            raise UpstreamError(f"{self._where()} timed out ({type(exc).__name__})", status=504) from None
        except errors as exc:  # the ClientError left of the two
            raise UpstreamError(f"Could not reach {self._where()}: {type(exc).__name__}: {exc}", status=502) from None
        try:
            await self._relay(response.status, response.raw_headers, response.content.iter_any(), errors)
        finally:
            # A response read to its end goes back to the pool; one cut short (the client left,
            # an error) closes its connection, which is what stops the remote generating.
            if response.content.at_eof():
                response.release()
            else:
                response.close()

    async def _request_body(self) -> _Body:
        """The body whole when it came in one message (nearly always: the middleware hands a
        translated body over at once), else a stream of it; ``None`` for a request without one."""
        if not any(name in (b"content-length", b"transfer-encoding") for name, _ in self.scope["headers"]):
            self._body_read()  # a GET: no chunked empty body; receive() is the watcher's from the start
            return None
        message = await self.receive()
        if message["type"] == "http.disconnect":
            raise UpstreamError("The client disconnected while sending its request")
        body: bytes = message.get("body", b"")
        if not message.get("more_body", False):
            self._body_read()
            return body
        return self._rest_of_body(body)

    async def _rest_of_body(self, first: bytes) -> AsyncIterator[bytes]:
        yield first
        more = True
        while more:
            message = await self.receive()
            if message["type"] == "http.disconnect":
                raise UpstreamError("The client disconnected while sending its request")
            more = message.get("more_body", False)
            yield message.get("body", b"")
        self._body_read()

    async def _relay(
        self,
        status: int,
        raw_headers: Iterable[tuple[bytes, bytes]],
        chunks: AsyncIterator[bytes],
        errors: type[Exception] | tuple[type[Exception], ...],
    ) -> None:
        headers = list(raw_headers)
        # Without content-encoding the bytes we relay are the bytes counted: keep the length.
        encoded = any(name.lower() == b"content-encoding" for name, _ in headers)
        dropped = (_DROPPED_RESPONSE_HEADERS if encoded else _HOP_BY_HOP_AND_SERVER) | connection_listed(headers)
        headers = [(name, value) for name, value in headers if name.decode("latin-1").lower() not in dropped]
        if not (200 <= status < 300 or status >= 400):
            # A redirect is not an answer: a client following its location would re-send the
            # conversation (and its key) wherever it points.
            raise UpstreamError(f"{self._where()} answered HTTP {status}, which is not an answer", status=502)
        key = self.upstream._configured_key()
        if key:  # an upstream may echo the key it was sent: in headers, bodies, stream frames
            secret = key.encode()
            headers = [(name, value.replace(secret, _SCRUBBED)) for name, value in headers]
            chunks = _scrubbed(chunks, secret)
        if status >= 400:
            body = await self._read_error(chunks)
            headers = [(name, value) for name, value in headers if name.lower() != b"content-length"]
            headers.append((b"content-length", str(len(body)).encode()))
            await self._start(status, headers)
            await self.send({"type": "http.response.body", "body": body, "more_body": False})
            return
        await self._start(status, headers)
        send = self.send
        try:
            async for chunk in chunks:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        except errors as exc:
            # Mid-stream: nothing left to answer with but an early end, which the middleware
            # turns into its schema's stream failure.
            logger.warning("asgi_translate: %s failed mid-response: %s", self._where(), type(exc).__name__)
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def _read_error(self, chunks: AsyncIterator[bytes]) -> bytes:
        body = bytearray()
        async for chunk in chunks:
            body += chunk
            if len(body) > _MAX_ERROR_BODY:
                break
        return self.upstream.scrub(bytes(body[:_MAX_ERROR_BODY]))

    async def _start(self, status: int, headers: list[tuple[bytes, bytes]]) -> None:
        self.started = True
        await self.send({"type": "http.response.start", "status": status, "headers": headers})

    async def _fail(self, error: UpstreamError) -> None:
        logger.warning("asgi_translate: %s", error.message)
        if self.started:
            await self.send({"type": "http.response.body", "body": b"", "more_body": False})
            return
        status, body = self.upstream.error_body(error)
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await self._start(status, headers)
        await self.send({"type": "http.response.body", "body": body, "more_body": False})

    def _body_read(self) -> None:
        """The request body is whole: from now on receive() only says whether the client left."""
        self._watcher = asyncio.get_running_loop().create_task(self._watch_disconnect())

    def _where(self) -> str:
        return f"the upstream {self.upstream.display_origin}"
