"""``model_map`` for clients that already speak the upstream's schema, which need no translation.

A ``POST`` to the upstream schema's own endpoint gets the ``model`` of its JSON body mapped on the
way up, and the answer shows the client's name again on the way down: the top-level ``model`` of a
JSON body; in a stream, the ``model`` of chat chunks, of Messages' ``message_start.message`` and of
the ``response`` object that Responses lifecycle events carry. Everything else is left as it was:
a body that is not a JSON object, a name the map keeps, an error answer or a compressed one pass
through byte for byte (the upstream answers what it makes of them), and stream frames that carry
no model are relayed in their original bytes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .._hub import json as _json
from .._hub.errors import ErrorInfo, RequestTranslationError
from .._hub.routes import DEFAULT_PATHS, Route, SchemaName
from .._hub.sse import SSEDecoder, format_event
from .._model_map import ModelMap
from .body import MAX_RESPONSE_SIZE, ClientDisconnected, read_body

# The end of an SSE event: a line ending (CRLF, LF or CR) followed by an empty line. CRLF is tried
# first so that its LF is never read as a second line ending.
_EVENT_END = re.compile(rb"\r\n(?:\r\n|\r|\n)|\n(?:\r\n|\r|\n)|\r(?:\r\n|\r)")
# Where a stream event carries the model: the chunk itself (chat), or the object it wraps.
_STREAM_HOLDER: dict[SchemaName, str | None] = {"chat": None, "messages": "message", "responses": "response"}
_REQUEST_HEADERS_REPLACED = (b"content-length", b"transfer-encoding", b"accept-encoding")


def rename_paths(upstream: SchemaName | None, routes: Mapping[str, Route]) -> dict[str, SchemaName]:
    """The paths whose requests need no translation, with the schema they speak: the upstream's own
    endpoint (unless a route translates there) and any route from a schema to itself."""
    paths: dict[str, SchemaName] = {
        path: route.client for path, route in routes.items() if route.client == route.upstream
    }
    if upstream is not None and DEFAULT_PATHS[upstream] not in routes:
        paths[DEFAULT_PATHS[upstream]] = upstream
    return paths


class RenameEndpoint:
    """``POST`` in the upstream's own schema: a :class:`ModelRename` per request."""

    __slots__ = ("app", "schema", "model_map", "max_body_size")

    def __init__(self, app: ASGIApp, schema: SchemaName, model_map: ModelMap, max_body_size: int) -> None:
        self.app = app
        self.schema = schema
        self.model_map = model_map
        self.max_body_size = max_body_size

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await ModelRename(self.schema, self.model_map, self.max_body_size)(self.app, scope, receive, send)


class ModelRename:
    """One same-schema exchange: the model renamed on ``receive``, named back on ``send``."""

    __slots__ = ("schema", "model_map", "max_body_size", "client_model", "send", "mode", "start", "buffer")

    def __init__(self, schema: SchemaName, model_map: ModelMap, max_body_size: int) -> None:
        self.schema = schema
        self.model_map = model_map
        self.max_body_size = max_body_size
        self.client_model = ""
        self.mode = "raw"  # "raw" | "json" | "stream", decided at http.response.start
        self.start: Message | None = None  # held back while a JSON body is buffered
        self.buffer = b""

    async def __call__(self, app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            body = await read_body(receive, self.max_body_size)
        except ClientDisconnected:  # the client left before its body was whole: nobody to answer
            return
        except RequestTranslationError as exc:
            await self._refuse(exc.to_info(), send)
            return
        renamed = self._rename_request(scope, body)
        delivered = False

        async def receive_once() -> Message:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": renamed or body, "more_body": False}
            return await receive()  # so http.disconnect reaches the app

        if renamed is None:
            await app(scope, receive_once, send)
            return
        self.send = send
        headers = [(k, v) for k, v in scope["headers"] if k.lower() not in _REQUEST_HEADERS_REPLACED]
        # Identity: an inner GZipMiddleware would otherwise hand us compressed bytes to rewrite.
        headers += [(b"content-length", str(len(renamed)).encode()), (b"accept-encoding", b"identity")]
        await app({**scope, "headers": headers}, receive_once, self.send_renamed)

    def _rename_request(self, scope: Scope, body: bytes) -> bytes | None:
        """The body with the model mapped, or ``None`` when it goes up unchanged."""
        if any(name.lower() == b"content-encoding" for name, _ in scope["headers"]):
            return None  # a compressed request body: not ours to read
        try:
            payload = _json.loads_object(body)
        except ValueError:
            return None
        model = payload.get("model")
        if not isinstance(model, str) or self.model_map(model) == model:
            return None
        self.client_model, payload["model"] = model, self.model_map(model)
        try:
            return _json.dumpb(payload)
        except (TypeError, ValueError, RecursionError):  # orjson stops at 255 levels, below its parser's 1024
            return None

    async def _refuse(self, error: ErrorInfo, send: Send) -> None:
        from ..schemas import get_codec

        status, payload = get_codec(self.schema).render_error(error)
        data = _json.dumpb(payload)
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": data, "more_body": False})

    # -- response -----------------------------------------------------------------------------

    async def send_renamed(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self._choose_mode(message)
            if self.mode != "json":
                await self.send(message)
        elif message["type"] == "http.response.body" and self.mode != "raw":
            await self._body(message.get("body", b""), message.get("more_body", False))
        else:
            await self.send(message)

    def _choose_mode(self, message: Message) -> None:
        headers = [(k.lower(), v) for k, v in message.get("headers", [])]
        named = dict(headers)
        content_type = named.get(b"content-type", b"")
        if not 200 <= message["status"] < 300 or b"content-encoding" in named:
            return  # errors name no model of the client's; compressed bodies are not ours to read
        if content_type.startswith(b"text/event-stream"):
            self.mode = "stream"
        elif b"json" in content_type:
            self.mode = "json"
        else:
            return
        # The rewritten body has another length: a stream has none, a JSON body gets its own.
        message["headers"] = [(k, v) for k, v in headers if k != b"content-length"]
        self.start = message

    async def _body(self, chunk: bytes, more_body: bool) -> None:
        self.buffer += chunk
        if self.mode == "stream":
            out = self._frames(end=not more_body)
            if out or not more_body:
                await self.send({"type": "http.response.body", "body": out, "more_body": more_body})
        elif len(self.buffer) > MAX_RESPONSE_SIZE:  # too big to be an answer: relay it as it is
            await self._send_json_start(None)
            self.mode, body, self.buffer = "raw", self.buffer, b""
            await self.send({"type": "http.response.body", "body": body, "more_body": more_body})
        elif not more_body:
            body = self._renamed_json(self.buffer)
            await self._send_json_start(len(body))
            await self.send({"type": "http.response.body", "body": body, "more_body": False})

    async def _send_json_start(self, length: int | None) -> None:
        assert self.start is not None
        if length is not None:
            self.start["headers"].append((b"content-length", str(length).encode()))
        await self.send(self.start)

    def _renamed_json(self, body: bytes) -> bytes:
        try:
            payload = _json.loads_object(body)
        except ValueError:
            return body
        return _json.dumpb(payload) if _name_back(payload, self.client_model) else body

    def _frames(self, end: bool) -> bytes:
        """The complete events in the buffer, each renamed or as received; at ``end``, the rest too."""
        out: list[bytes] = []
        start = 0
        last = len(self.buffer)
        for match in _EVENT_END.finditer(self.buffer):
            if match.end() == last and self.buffer[-1:] == b"\r" and not end:
                break  # the next chunk may open with the LF of this CRLF: keep the event whole
            out.append(self._frame(self.buffer[start : match.end()], final=False))
            start = match.end()
        self.buffer = self.buffer[start:]
        if len(self.buffer) > MAX_RESPONSE_SIZE:  # no event is this long: stop holding it back
            out.append(self.buffer)
            self.buffer = b""
        if end and self.buffer:
            out.append(self._frame(self.buffer, final=True))
            self.buffer = b""
        return b"".join(out)

    def _frame(self, raw: bytes, *, final: bool) -> bytes:
        if b'"model"' not in raw:
            return raw
        decoder = SSEDecoder()
        events = decoder.decode(raw) + (decoder.flush() if final else [])
        if len(events) != 1:
            return raw
        event = events[0]
        try:
            payload = _json.loads_object(event.data)
        except ValueError:
            return raw
        holder_key = _STREAM_HOLDER[self.schema]
        holder = payload if holder_key is None else payload.get(holder_key)
        if not isinstance(holder, dict) or not _name_back(holder, self.client_model):
            return raw
        prefix = b"" if event.id is None else f"id: {event.id}\n".encode()
        if event.retry is not None:
            prefix += f"retry: {event.retry}\n".encode()
        return prefix + format_event(_json.dumps(payload), event.event or None)


def _name_back(holder: dict[str, Any], client_model: str) -> bool:
    """Show the client's name where the upstream put its own; ``True`` when that changed anything."""
    if not isinstance(holder.get("model"), str) or holder["model"] == client_model:
        return False
    holder["model"] = client_model
    return True
