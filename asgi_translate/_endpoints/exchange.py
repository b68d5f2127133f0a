"""The translated exchange: one request rewritten into the upstream's schema on ``receive`` and
its answer rewritten back on ``send``, JSON whole and SSE frame by frame.

The shape follows Starlette's GZipMiddleware: :class:`ExchangeEndpoint` is built once per route
and holds only configuration; every request gets a :class:`_Responder` that wraps ``receive``
and ``send`` and owns all per-request state.
"""

from __future__ import annotations

import asyncio
import sys
from dataclasses import replace
from time import monotonic as _monotonic
from typing import Any

from starlette.types import Message, Receive, Scope, Send

from .._hub import json as _json
from .._hub import losses as _losses
from .._hub import overflow
from .._hub.canonical import StreamError, fill_call_ids
from .._hub.context import Context
from .._hub.errors import STATUS_BY_TYPE, ErrorInfo, RequestTranslationError, TranslateError, type_for_status
from .._hub.pipeline import Pieces, StreamTranslator, logger, response_events
from .._hub.routes import Route
from .._hub.tool_names import NamesBack, fit_tool_names, name_response_back
from ..schemas import Codec, get_codec
from . import hooks as _hooks
from . import responses_state as _responses_state
from .body import MAX_RESPONSE_SIZE, read_body
from .exchange_log import CLIENT_DISCONNECTED, ExchangeLog, request_id_for
from .settings import Settings

#: Once the client's answer is complete, how long the upstream may take to end its own body before
#: it is cancelled (an upstream that keeps its stream open after the terminator is not waited for).
END_GRACE = 1.0


class ExchangeEndpoint:
    """``POST`` to a translated route: one :class:`_Responder` per request, observed by the
    ``on_exchange`` hook when there is one."""

    __slots__ = ("settings", "route", "client", "upstream", "_watchdog")

    def __init__(self, settings: Settings, route: Route) -> None:
        self.settings = settings
        self.route = route
        #: Looked up once here rather than by every request.
        self.client: Codec = get_codec(route.client)
        self.upstream: Codec = get_codec(route.upstream)
        self._watchdog: _Watchdog | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        loop = asyncio.get_running_loop()
        watchdog = self._watchdog
        if watchdog is None or watchdog.loop is not loop:  # one per event loop (tests run several)
            watchdog = self._watchdog = _Watchdog(loop)
        responder = _Responder(self.settings, self.route, self.client, self.upstream, watchdog)
        if self.settings.on_exchange is None:
            await responder(scope, receive, send)
        else:
            await _hooks.observe(responder, self.settings.on_exchange, scope, receive, send)


class _Responder:
    """One translated exchange: request rewrite on ``receive``, response rewrite on ``send``."""

    __slots__ = (
        "config",
        "route",
        "client",
        "upstream",
        "send",
        "context",
        "status",
        "headers",
        "mode",
        "buffer",
        "translator",
        "started",
        "finished",
        "state",
        "encoder",
        "log",
        "_task",
        "_watchdog",
        "_grace_at",
        "_stopped",
        "seen",
        "idle_out",
        "_content_type",
        "_betas",
        "_forwarded",
        "_client_named_id",
        "_upstream_named_id",
    )

    def __init__(self, config: Settings, route: Route, client: Codec, upstream: Codec, watchdog: _Watchdog) -> None:
        self.config = config
        self.route = route
        self.client = client
        self.upstream = upstream
        self.status = 200
        #: The upstream's response headers the client gets too (filled by _start).
        self.headers: list[tuple[bytes, bytes]] = []
        self._upstream_named_id = False  # the upstream's headers name an x-request-id
        self.mode = ""  # "stream" | "json" | "error", decided at http.response.start
        self.buffer = bytearray()
        self.translator: StreamTranslator | None = None
        self.started = False  # http.response.start sent to the client
        self.finished = False  # final http.response.body sent to the client
        self.state: _responses_state.PendingResponse | None = None  # Responses clients only
        self.encoder: Any = None
        self._task: asyncio.Task[Any] | None = None  # running the upstream call, while it runs
        self._watchdog = watchdog  # checks the idle bound, then the END_GRACE deadline
        self._grace_at: float | None = None  # when END_GRACE runs out (monotonic), once it runs
        self._stopped = False  # we cancelled the upstream call (idle, or past END_GRACE)
        #: When the upstream last handed us a message (monotonic); None while we are handling one.
        self.seen: float | None = None
        self.idle_out = False  # the upstream said nothing for idle_timeout seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.send = send
        route = self.route
        self.log = ExchangeLog(
            request_id_for(self._read_headers(scope["headers"])), route.path, route.client, route.upstream
        )
        try:
            await self._exchange(scope, receive)
        finally:  # one line per exchange, whatever way it ended
            if self.translator is not None:
                self.log.frames_in = self.translator.frames_in
                # A stream that ended in the client's failure form failed, whoever wrote it.
                if self.translator.error is not None and not self.log.error:
                    self.log.error = self.translator.error.type
            context: Context | None = getattr(self, "context", None)  # unset when the request did not parse
            if context is not None:
                self.log.losses = context.request.losses
            self.log.emit()

    async def _exchange(self, scope: Scope, receive: Receive) -> None:
        try:
            body = await self._translate_request(scope, receive)
        except TranslateError as exc:
            await self._send_error(exc.to_info())
            return
        except Exception:  # a bug of ours on odd input must still answer in the client's envelope
            logger.exception("asgi_translate: failed to translate a request")
            await self._send_error(ErrorInfo(500, "api_error", "asgi_translate could not translate the request"))
            return
        length = len(body)
        pending = [body]  # delivered once, then dropped: a stream may last minutes, the body is done
        del body

        async def receive_translated() -> Message:
            if pending:
                return {"type": "http.request", "body": pending.pop(), "more_body": False}
            # Later calls reach the real receive, so http.disconnect gets to the inner app.
            message = await receive()
            if message["type"] == "http.disconnect" and not self.finished:
                self.log.error = CLIENT_DISCONNECTED
            return message

        failed = await self._call_upstream(self._upstream_scope(scope, length), receive_translated)
        if self.finished:
            return
        if self.idle_out:
            idle = self.config.idle_timeout
            await self._abort(f"the upstream sent nothing for {idle:g} s", status=504)
        elif failed:
            await self._abort("the upstream application failed")
        else:
            await self._abort("the upstream application returned without completing its response")

    async def _call_upstream(self, scope: Scope, receive: Receive) -> bool:
        """Run the upstream (app or remote) until it returns, falls silent for ``idle_timeout``,
        or, once the client's answer is complete, for at most :data:`END_GRACE` more; ``True``
        when it raised.

        Both limits are deadlines that the endpoint's :class:`_Watchdog` checks, cancelling this
        task once, not an anyio task group and cancel scope (those cost more than the rest of the
        exchange's setup, about 400 µs per exchange on the capacity benchmark) nor a timer handle
        of each exchange's own (made, pushed on the loop's heap and cancelled: 2% of a 54-frame
        exchange on asyncio's loop, two per exchange)."""
        idle = self.config.idle_timeout
        task = self._task = asyncio.current_task()
        assert task is not None
        if idle is not None:
            seen = self.seen = _monotonic()
            self._watchdog.watch(self, seen + idle)
        try:
            await self.config.upstream_app(scope, receive, self.send_translated)
        except asyncio.CancelledError:
            if not self._stopped:
                raise  # not ours: the server is shutting down
            if sys.version_info >= (3, 11):
                task.uncancel()
        except Exception:
            logger.exception("asgi_translate: upstream app raised")
            return True
        finally:
            self._task = None
            self._watchdog.exchanges.discard(self)
        return False

    def deadline(self, now: float) -> float | None:
        """The watchdog's check (``now`` is monotonic): stop the upstream when a limit has passed;
        else when to look again, ``None`` when nothing is left to watch.

        Once the client's answer is complete only END_GRACE applies (when it was started); before
        that, ``idle_timeout`` since the upstream last handed us a message. Time spent inside
        ``send_translated`` (a slow client holding our send) does not count: ``seen`` is ``None``
        then, and the check comes back a whole ``idle`` later. Runs about once per ``idle``
        seconds, never per frame."""
        if self._task is None or self._stopped:
            return None
        if self.finished:
            grace = self._grace_at
            if grace is None:
                return None
            if now >= grace:
                self._stop_upstream()
                return None
            return grace
        idle = self.config.idle_timeout
        if idle is None:
            return None
        seen = self.seen
        if seen is None:
            return now + idle
        if seen + idle <= now:
            self.idle_out = True
            self._stop_upstream()
            return None
        return seen + idle

    def _stop_upstream(self) -> None:
        if self._task is not None and not self._stopped:
            self._stopped = True
            self._task.cancel()

    # -- request ------------------------------------------------------------------------------

    def _read_headers(self, headers: list[tuple[bytes, bytes]]) -> bytes | None:
        """One pass over the client's headers for all the exchange reads of them (a client sends
        ten to twenty; this was five passes, each lowering every name): the first content-type,
        the ``anthropic-beta`` values, the headers the upstream gets as they are (named exactly
        as sent: a mixed-case duplicate of one we rewrite is the client's own affair), whether
        one of those is an ``x-request-id`` and, the return value, the first ``x-request-id``."""
        content_type = client_id = None
        named_id = False
        betas: list[bytes] = []
        forwarded: list[tuple[bytes, bytes]] = []
        for header in headers:
            name = header[0]
            if name not in _REWRITTEN_REQUEST_HEADERS:
                forwarded.append(header)
            lowered = name.lower()
            if lowered == b"content-type":
                if content_type is None:
                    content_type = header[1]
            elif lowered == b"x-request-id":
                if client_id is None:
                    client_id = header[1]
                if name == lowered:
                    named_id = True
            elif lowered == b"anthropic-beta":
                betas.append(header[1])
        self._content_type = content_type
        self._betas = betas
        self._forwarded = forwarded
        self._client_named_id = named_id
        return client_id

    async def _translate_request(self, scope: Scope, receive: Receive) -> bytes:
        if self._content_type is not None:
            _check_content_type(self._content_type)
        config, route = self.config, self.route
        raw = await read_body(receive, config.max_body_size)
        try:
            client_body = _json.loads_object(raw)
        except ValueError as exc:
            raise RequestTranslationError(f"Request body is not a valid JSON object: {exc}") from None
        if route.client == "responses":  # replay previous_response_id's chain into input
            store, ids = config.response_store, config.id_factory
            owner = _responses_state.owner_of(scope["headers"]) if config.responses_per_key else None
            client_body, self.state = await _responses_state.prepare(client_body, store, ids, owner)
        request = self.client.parse_request(client_body)
        client_model = self.log.model = request.model
        request.model = config.model_map(request.model)
        default_max_tokens = config.max_tokens_for(request.model)
        cap = config.max_tokens_cap.apply(request, client_model)
        if cap is not None:
            default_max_tokens = min(default_max_tokens, cap)
        if config.on_request is not None:
            request = await _hooks.apply_on_request(config.on_request, request)
        names_back = fit_tool_names(request, route.upstream)
        # Positional, in the order of Context's fields: keyword arguments to a class cost a dict,
        # built and unpacked again, on every request.
        context = self.context = Context(
            request,
            client_model,
            client_body,
            config.id_factory,
            config.clock,
            default_max_tokens,
            _betas(self._betas) if self._betas else _NO_BETAS,
            config.reasoning_fields,
            config.continuous_usage_stats,
            names_back,
        )
        payload = self.upstream.render_request(request, context)
        _losses.note_upstream_losses(request, route.client, route.upstream, payload)
        if config.strict:
            _losses.check_strict(request.losses, route.client)
        self._release_conversation(client_body)
        try:
            if route.client == "responses":  # echoed in every response object: it must dump too
                _json.dumpb(context.client_body)
            return _json.dumpb(payload)
        except (TypeError, ValueError, RecursionError):  # orjson stops at 255 levels, below its parser's 1024
            raise RequestTranslationError("Request JSON is nested too deeply to forward") from None

    def _release_conversation(self, client_body: dict[str, Any]) -> None:
        """Once rendered, the conversation (often most of the request) is not read again: a stream
        that lasts minutes should not hold it. Only a Responses client's settings are (its response
        objects echo them), and the canonical request's other fields; an ``on_exchange`` hook is
        shown the whole request, so with one the request is kept as it is."""
        context = self.context
        if self.route.client == "responses":
            context.client_body = {k: v for k, v in client_body.items() if k != "input"}
        else:
            context.client_body = {}
        request = context.request
        if self.config.on_exchange is not None:
            return
        if self.config.on_request is None:  # nobody else has seen this object: empty it in place
            request.messages, request.system, request.tools = [], [], []
        else:  # an on_request hook may have kept a reference: leave its object whole
            context.request = replace(request, messages=[], system=[], tools=[])

    def _upstream_scope(self, scope: Scope, length: int) -> Scope:
        # A wrapped app mounted with us routes below the same mount point; a remote maps paths itself.
        root = scope.get("root_path", "") if self.config.remote is None else ""
        path = root + self.route.target_path if root else self.route.target_path
        headers = self._forwarded
        headers += (
            (b"content-length", str(length).encode()),
            (b"content-type", b"application/json"),
            # An inner GZipMiddleware would otherwise hand us compressed bytes to parse.
            (b"accept-encoding", b"identity"),
            (b"accept", b"text/event-stream" if self.context.request.stream else b"application/json"),
        )
        if not self._client_named_id:  # so upstream logs share our id
            headers.append((b"x-request-id", self.log.request_id.encode()))
        # The client's query string belongs to its schema (the Anthropic SDK's ?beta=true), not the upstream's.
        return {**scope, "path": path, "raw_path": path.encode(), "query_string": b"", "headers": headers}

    # -- response -----------------------------------------------------------------------------

    async def send_translated(self, message: Message) -> None:
        """The upstream's ``send``. A stream's frames take the first branch, written inline (no
        coroutine of its own, no re-reading of the message): it runs once per upstream frame, and
        each call and attribute it saves is saved for every frame of every stream."""
        if self.finished:
            if not message.get("more_body", True) and self._grace_at is not None:
                self._grace_at = None  # it ended its body: let it return in peace
                self._watchdog.exchanges.discard(self)
            return
        self.seen = None
        translator = self.translator
        if translator is not None and message["type"] == "http.response.body":
            chunk = message.get("body", b"")
            more_body = message.get("more_body", False)
            out = translator.feed(chunk) if chunk else b""
            if more_body and not translator.done and type(out) is bytes:  # nearly every frame
                if out:
                    log = self.log
                    log.bytes_out += len(out)
                    log.lines_out += out.count(b"\n")
                    await self.send({"type": "http.response.body", "body": out, "more_body": True})
            else:
                await self._stream_end(translator, out, more_body)
        elif message["type"] == "http.response.body":
            await self._body(message.get("body", b""), message.get("more_body", False))
        elif message["type"] == "http.response.start":
            await self._start(message)
        self.seen = _monotonic()

    async def _start(self, message: Message) -> None:
        self.status = message["status"]
        # One pass, names lowered once: the first content-type; of each id header the last one;
        # the headers the client gets as they are (those describing the upstream's body are ours
        # to write), which is all _send_start reads of them.
        kept: list[tuple[bytes, bytes]] = []
        self.headers = kept
        content_type: bytes | None = None
        request_id = x_request_id = b""
        for name, value in message.get("headers", ()):
            name = name.lower()
            if name == b"content-type":
                if content_type is None:
                    content_type = value
                continue
            if name == b"request-id":
                request_id = value
            elif name == b"x-request-id":
                x_request_id = value
                self._upstream_named_id = True
            elif name in _REPLACED_HEADERS:
                continue
            kept.append((name, value))
        # Anthropic's request-id first: its envelope carries that one.
        self.log.upstream_request_id = (request_id or x_request_id).decode("latin-1")
        if content_type is None:
            content_type = b""
        if not 200 <= self.status < 300:
            self.mode = "error"
            if self.status < 400:  # a redirect: its location must not reach a client that follows it
                self.headers = []
                self._upstream_named_id = False
        elif content_type.startswith(b"text/event-stream"):
            self.mode = "stream"
            self.encoder = self.client.encoder(self.context)
            self.log.frame_lines = self.client.frame_lines
            decoder = self.upstream.decoder(self.context)
            if self.context.tool_names_back:
                decoder = NamesBack(decoder, self.context.tool_names_back)
            self.translator = StreamTranslator(decoder, self.encoder)
            await self._send_start(self.status, b"text/event-stream", None)
        else:
            self.mode = "json"

    async def _stream_end(self, translator: StreamTranslator, out: bytes | Pieces, more_body: bool) -> None:
        """The frames :meth:`send_translated` does not write inline: a long output's (made as they
        are sent), the client's terminator, and what follows the upstream's last chunk."""
        if not more_body:
            out += translator.finish()
        if self.state is not None and translator.done:  # stored before the client can chain
            await self.state.remember(getattr(self.encoder, "final_response", None))
        if translator.done or not more_body:
            # The client's terminator is written: its answer is complete, whatever the upstream
            # does next (an upstream that keeps its body open gets END_GRACE to end it).
            await self._send_body(out, more_body=False)
            if more_body and self._task is not None:
                grace = self._grace_at = _monotonic() + END_GRACE
                self._watchdog.watch(self, grace)
        elif out:
            await self._send_body(out, more_body=True)

    async def _body(self, chunk: bytes, more_body: bool) -> None:
        self.buffer += chunk
        if len(self.buffer) > MAX_RESPONSE_SIZE:
            await self._abort("the upstream response is too large to translate")
        elif not more_body:
            await (self._finish_json() if self.mode == "json" else self._finish_error())

    async def _finish_json(self) -> None:
        raw = bytes(self.buffer)
        try:
            data = _json.loads_object(raw)
            if _is_error_body(self.route.upstream, data):  # an error, whatever the status said
                await self._send_error(self._error_in_200(raw))
                return
            response = self.upstream.parse_response(data)
            response.model = self.context.client_model
            if self.context.tool_names_back:
                name_response_back(response, self.context.tool_names_back)
            fill_call_ids(response, self.context.new_id)
            if self.context.request.stream:  # the client asked for a stream: it gets one
                await self._json_as_stream(response)
                return
            payload = self.client.render_response(response, self.context)
        except Exception:
            logger.exception("asgi_translate: failed to translate an upstream JSON response")
            error = ErrorInfo(502, "api_error", "asgi_translate could not translate the upstream response")
            if self.mode == "stream" and self.translator is not None:
                await self._send_body(
                    self.translator.fail(StreamError(error.type, error.message, 502)), more_body=False
                )
            elif not self.started:
                await self._send_error(error)
            return
        if self.state is not None:
            await self.state.remember(payload)
        await self._send_json(self.status, payload)

    def _error_in_200(self, raw: bytes) -> ErrorInfo:
        """An error body under a 2xx: its status follows its type (a 502 when it names none)."""
        error = self.upstream.parse_error(502, raw)
        error.status = STATUS_BY_TYPE.get(error.type, 502)
        return error

    async def _json_as_stream(self, response: Any) -> None:
        """A whole JSON answer to a streaming request, sent as the client's stream of it."""
        self.mode = "stream"
        self.encoder = self.client.encoder(self.context)
        self.log.frame_lines = self.client.frame_lines
        translator = self.translator = StreamTranslator(self.upstream.decoder(self.context), self.encoder)
        out = translator.replay(response_events(response))
        await self._send_start(self.status, b"text/event-stream", None)
        if self.state is not None and translator.done:
            await self.state.remember(getattr(self.encoder, "final_response", None))
        await self._send_body(out, more_body=False)

    async def _finish_error(self) -> None:
        if self.status < 400:  # neither an answer nor an error: a 3xx (or 1xx) is not followed
            message = f"the upstream answered HTTP {self.status}, which is not an answer"
            await self._send_error(ErrorInfo(502, "api_error", message))
            return
        try:
            error = self.upstream.parse_error(self.status, bytes(self.buffer))
            # Said in the client's schema's own words, so that the client can recover (retry with
            # a smaller max_tokens, compact): see _hub/overflow.py.
            error.overflow = overflow.detect(error, bytes(self.buffer), self.context.request.max_tokens)
        except Exception:  # still an envelope, whatever the upstream sent
            logger.exception("asgi_translate: failed to parse an upstream error body")
            error = ErrorInfo(self.status, type_for_status(self.status), f"upstream returned HTTP {self.status}")
        await self._send_error(error)

    async def _abort(self, message: str, status: int = 502) -> None:
        """The upstream failed (exception, early return, silence): end the exchange in the
        client's form."""
        if self.finished:
            return
        self.log.error = self.log.error or "upstream_failed"
        kind = "api_error" if status == 502 else type_for_status(status)
        if self.mode == "stream" and self.translator is not None:
            await self._send_body(self.translator.fail(StreamError(kind, message, status)), more_body=False)
        elif not self.started:
            await self._send_error(ErrorInfo(status, kind, message))
        else:  # pragma: no cover - JSON responses are sent whole, so never half-started
            await self._send_body(b"", more_body=False)

    # -- writing to the client ----------------------------------------------------------------

    async def _send_error(self, error: ErrorInfo) -> None:
        self.log.error = error.type
        if error.request_id is None:  # Anthropic's envelope names it: the upstream's id, else ours
            error.request_id = self.log.upstream_request_id or self.log.request_id
        status, payload = self.client.render_error(error)
        await self._send_json(status, payload)

    async def _send_json(self, status: int, payload: dict[str, Any]) -> None:
        body = _json.dumpb(payload)
        await self._send_start(status, b"application/json", len(body))
        await self._send_body(body, more_body=False)

    async def _send_start(self, status: int, content_type: bytes, length: int | None) -> None:
        kept = self.headers  # the upstream's, less those that described its body (see _start)
        self.headers = []  # sent; a response starts once
        named_id = self._upstream_named_id  # the upstream's own id wins when it sent one
        kept.append((b"content-type", content_type))
        context: Context | None = getattr(self, "context", None)  # unset when the request did not parse
        if context is not None and context.request.losses:
            kept.append((_losses.HEADER, _losses.header_value(context.request.losses)))
        if not named_id:
            kept.append((b"x-request-id", self.log.request_id.encode()))
        self.log.status = status
        if length is not None:
            kept.append((b"content-length", str(length).encode()))
        else:
            kept.append((b"cache-control", b"no-cache"))
        self.started = True
        await self.send({"type": "http.response.start", "status": status, "headers": kept})

    async def _send_body(self, body: bytes | Pieces, *, more_body: bool) -> None:
        self.finished = not more_body
        stream = self.mode == "stream"
        if isinstance(body, Pieces):  # each piece made, sent and dropped in turn
            for piece in body:
                self.log.sent(piece, stream=stream)
                await self.send({"type": "http.response.body", "body": piece, "more_body": True})
            if more_body:
                return
            body = b""
        self.log.sent(body, stream=stream)
        await self.send({"type": "http.response.body", "body": body, "more_body": more_body})


class _Watchdog:
    """The deadlines of every running exchange of one endpoint on one event loop, behind one timer
    handle armed for the earliest of them.

    An exchange that starts or enters END_GRACE adds its deadline (the timer is re-armed only when
    that deadline comes first: a new idle deadline never does), one that ends leaves the set; when
    the timer fires, every exchange still watched is asked for its next deadline
    (:meth:`_Responder.deadline`), which stops those whose limit has passed. That is one set
    insertion and removal per exchange where a timer handle of its own cost a heap push and a
    cancellation, and the timer fires about once per END_GRACE or ``idle_timeout``, not per
    exchange."""

    __slots__ = ("loop", "exchanges", "_timer", "_when")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.exchanges: set[_Responder] = set()
        self._timer: asyncio.TimerHandle | None = None
        self._when = _NEVER  # the armed timer's deadline (monotonic)

    def watch(self, responder: _Responder, deadline: float) -> None:
        self.exchanges.add(responder)
        if deadline < self._when:
            self._arm(deadline)

    def _arm(self, deadline: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._when = deadline
        self._timer = self.loop.call_later(max(0.0, deadline - _monotonic()), self._fire)

    def _fire(self) -> None:
        self._timer, self._when = None, _NEVER
        now = _monotonic()
        earliest = _NEVER
        for responder in list(self.exchanges):
            deadline = responder.deadline(now)
            if deadline is None:
                self.exchanges.discard(responder)
            elif deadline < earliest:
                earliest = deadline
        if earliest < _NEVER:
            self._arm(earliest)


_NEVER = float("inf")

# Request headers the upstream gets in our own words: content-encoding described the client's
# body, ours is plain JSON.
_REWRITTEN_REQUEST_HEADERS = frozenset(
    {b"content-length", b"content-type", b"content-encoding", b"accept-encoding", b"accept"}
)

# Headers that describe the upstream's body, not ours.
_REPLACED_HEADERS = frozenset(
    {b"content-type", b"content-length", b"content-encoding", b"transfer-encoding", b"cache-control", b"etag"}
)


def _betas(values: list[bytes]) -> frozenset[str]:
    """The betas the request's ``anthropic-beta`` header values name (they go upstream with it)."""
    names: list[str] = []
    for value in values:
        names += value.decode("latin-1").split(",")
    return frozenset(stripped for stripped in (name.strip() for name in names) if stripped)


_NO_BETAS: frozenset[str] = frozenset()


def _is_error_body(upstream: str, data: dict[str, Any]) -> bool:
    """``{"type": "error", ...}`` from Messages, ``{"error": {...}}`` from the OpenAI schemas (a
    Responses object carries ``"error": null`` unless it failed)."""
    if upstream == "messages":
        return data.get("type") == "error"
    error = data.get("error")
    if upstream == "responses" and data.get("object") == "response":
        return data.get("status") == "failed" and isinstance(error, dict)
    return isinstance(error, dict) or (isinstance(error, str) and "choices" not in data)


def _check_content_type(value: bytes) -> None:
    """Bodies are JSON: a missing content-type is accepted (curl-style clients), a JSON one
    (``application/json``, ``application/*+json``) too, anything else (a form, plain text) is a 400
    that says what to send, rather than a confusing JSON parse error."""
    if value == b"application/json":  # nearly every request
        return
    media = value.split(b";", 1)[0].strip().lower()
    if media and media != b"application/json" and not media.endswith(b"+json"):
        shown = media.decode("latin-1")[:100]
        raise RequestTranslationError(f"Content-Type must be application/json, got {shown!r}")
