"""User hooks around each translated exchange: ``on_request`` adjusts the canonical request before
it is rendered for the upstream; ``on_exchange`` observes each finished exchange.

Both may be plain functions or coroutine functions. A failing ``on_request`` is the server's
fault, not the client's: the client gets a 500 in its own envelope naming the hook, and the
traceback goes to the log (the exception text is not shown to the client, as it may hold
anything). A hook may refuse a request on purpose by raising a
:class:`~asgi_translate.RequestTranslationError` (any status), which reaches the client as is. A
failing ``on_exchange`` is logged and never affects the response, which was already sent.
"""

from __future__ import annotations

import dataclasses
import inspect
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from starlette.types import Message, Receive, Scope, Send

from .._hub.canonical import MessageStart, Request, Response, StreamError, StreamEvent, Usage, UsageUpdate
from .._hub.context import Context
from .._hub.errors import TranslateError
from .._hub.pipeline import DataEvents, DecodeRun
from .._hub.routes import SchemaName
from .._hub.sse import ServerSentEvent

if TYPE_CHECKING:
    from ..schemas import StreamDecoder

logger = logging.getLogger("asgi_translate")

RequestHook = Callable[[Request], "Request | None | Awaitable[Request | None]"]
ExchangeHook = Callable[["Exchange"], "None | Awaitable[None]"]


@dataclass(slots=True)
class Exchange:
    """One finished translated exchange, as ``on_exchange`` sees it."""

    path: str
    client: SchemaName
    upstream: SchemaName
    #: The canonical request as sent up (after model mapping and ``on_request``); ``None`` when
    #: the client's request could not be parsed.
    request: Request | None
    #: The model name the client asked for.
    client_model: str | None
    #: The status the client received (200 for a stream, even one that failed midway: see ``error``).
    status: int
    #: Token counts when the upstream reported them.
    usage: Usage | None
    #: Seconds from the request's arrival to the end of the response.
    duration: float
    #: What the translation dropped or coerced (see :mod:`asgi_translate._hub.losses`).
    losses: list[str] = field(default_factory=list)
    stream: bool = False
    #: The failure that ended a stream early (``"type: message"``), if any.
    error: str | None = None


class HookError(TranslateError):
    """An ``on_request`` hook raised or returned something other than a Request."""

    status = 500
    error_type = "api_error"


def hook_name(hook: Callable[..., Any]) -> str:
    return getattr(hook, "__qualname__", None) or type(hook).__name__


async def apply_on_request(hook: RequestHook | None, request: Request) -> Request:
    """Run ``on_request``: its Request replaces ``request``; ``None`` keeps it (edited in place or not)."""
    if hook is None:
        return request
    try:
        result = hook(request)
        if inspect.isawaitable(result):
            result = await result
    except TranslateError:
        raise  # a deliberate refusal, in the hook's own words
    except Exception as exc:
        logger.exception("asgi_translate: the on_request hook %s raised", hook_name(hook))
        raise HookError(
            f"The server's on_request hook {hook_name(hook)!r} failed ({type(exc).__name__}); see the server log"
        ) from None
    if result is None:
        return request
    if not isinstance(result, Request):
        raise HookError(
            f"The server's on_request hook {hook_name(hook)!r} returned {type(result).__name__}, not a Request or None"
        )
    return result


async def notify(hook: ExchangeHook, exchange: Exchange) -> None:
    """Run ``on_exchange``; its failures are logged, never raised."""
    try:
        result = hook(exchange)
        if inspect.isawaitable(result):
            await result
    except Exception:
        logger.exception("asgi_translate: the on_exchange hook %s raised", hook_name(hook))


class _UsageTap:
    """A stream decoder wrapper that remembers usage and failures on their way to the encoder."""

    __slots__ = ("_decoder", "_record", "_decode_data", "decode_run")

    def __init__(self, decoder: StreamDecoder, record: _Record) -> None:
        self._decoder = decoder
        self._record = record
        self._decode_data: Callable[[bytes, str], DataEvents] | None = getattr(decoder, "decode_data", None)
        #: The wrapped decoder's runs as they are: text deltas carry neither names nor usage.
        self.decode_run: DecodeRun | None = getattr(decoder, "decode_run", None)

    def decode(self, event: ServerSentEvent) -> list[StreamEvent]:
        return self._record.see(self._decoder.decode(event))

    @property
    def decode_data(self) -> Callable[[bytes, str], DataEvents] | None:
        """The wrapped decoder's bytes lane, observed too, when it has one (see
        :class:`~asgi_translate._hub.pipeline.StreamDecoder`): a stream with an ``on_exchange``
        hook stays as fast as one without."""
        return None if self._decode_data is None else self._seen_data

    def _seen_data(self, data: bytes, event: str) -> DataEvents:
        assert self._decode_data is not None
        events = self._decode_data(data, event)
        # A text delta carries no usage and no failure: only lists are looked at.
        return events if type(events) is tuple else self._record.see(events)  # type: ignore[arg-type]

    def flush(self) -> list[StreamEvent]:
        return self._record.see(self._decoder.flush())


class _Record:
    """What the observer learns while the exchange runs."""

    __slots__ = ("status", "usage", "error")

    def __init__(self) -> None:
        self.status = 0
        self.usage: Usage | None = None
        self.error: str | None = None

    def see(self, events: list[StreamEvent]) -> list[StreamEvent]:
        for event in events:
            if type(event) is UsageUpdate:
                self.merge(event.usage)
            elif type(event) is MessageStart and event.usage is not None:
                self.merge(event.usage)
            elif type(event) is StreamError:
                self.error = f"{event.type}: {event.message}"
        return events

    def merge(self, usage: Usage) -> None:
        """Later counts replace earlier ones field by field when non-zero (the stream contract)."""
        if self.usage is None:
            self.usage = dataclasses.replace(usage)
            return
        for name in ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens", "reasoning_tokens"):
            value = getattr(usage, name)
            if value:
                setattr(self.usage, name, value)


async def observe(responder: Any, hook: ExchangeHook, scope: Scope, receive: Receive, send: Send) -> None:
    """Run one translated exchange (a ``_Responder``) and report it to ``on_exchange``.

    The responder's upstream codec is swapped for a copy whose response parser and stream decoder
    note usage on the way, so the hot path of exchanges without a hook is untouched."""
    record = _Record()
    codec = responder.upstream

    def parse_response(body: dict[str, Any]) -> Response:
        response: Response = codec.parse_response(body)
        record.usage = response.usage
        return response

    def decoder(ctx: Context) -> StreamDecoder:
        return _UsageTap(codec.decoder(ctx), record)

    responder.upstream = dataclasses.replace(codec, parse_response=parse_response, decoder=decoder)

    async def send_observed(message: Message) -> None:
        if message["type"] == "http.response.start":
            record.status = message["status"]
        await send(message)

    started = time.perf_counter()
    await responder(scope, receive, send_observed)
    context: Context | None = getattr(responder, "context", None)
    request = context.request if context is not None else None
    exchange = Exchange(
        path=scope["path"],
        client=responder.route.client,
        upstream=responder.route.upstream,
        request=request,
        client_model=context.client_model if context is not None else None,
        status=record.status,
        usage=record.usage,
        duration=time.perf_counter() - started,
        losses=list(request.losses) if request is not None else [],
        stream=request.stream if request is not None else False,
        error=record.error,
    )
    await notify(hook, exchange)
