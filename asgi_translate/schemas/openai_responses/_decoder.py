"""A Responses upstream's event stream -> canonical stream events.

Every output item becomes one canonical block, except messages, whose content parts (output
text, refusal) each become one. Reasoning summaries and raw ``reasoning_text`` parts of one item
share its single reasoning block, joined by a blank line. Servers differ in what they send
(OpenRouter interleaves items, DeepSeek skips nothing, some send ``.done`` events without deltas),
so blocks also open lazily on a first delta and text arrives from a ``.done`` event when no delta
carried it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..._hub import json as _json
from ..._hub.canonical import (
    BlockDelta,
    BlockKind,
    BlockStart,
    BlockStop,
    Finish,
    MessageStart,
    StreamError,
    StreamEvent,
    UsageUpdate,
)
from ..._hub.context import Context
from ..._hub.errors import StreamTranslationError
from ..._hub.pipeline import DataEvents
from ..._hub.sse import ServerSentEvent
from ._fields import stop_reason_for, stream_error_fields, sub, usage_from_json

_Events = list[StreamEvent]
_loads = _json.loads  # bound once: the backend is chosen when _hub.json is imported

#: Frames given as bytes (the bytes lane): parsed as they came, chosen once per backend.
_loads_bytes = _json.loads_bytes


class _Block:
    """One open canonical block and what its ``.done`` events still need to know."""

    __slots__ = ("index", "kind", "has_text", "new_part", "part_text")

    def __init__(self, index: int, kind: BlockKind) -> None:
        self.index = index
        self.kind = kind
        self.has_text = False  # any text sent (separators go between parts, not before the first)
        self.new_part = False  # a new summary/content part started: prefix its first delta
        self.part_text = False  # the current part has had a delta


class ResponsesStreamDecoder:
    """One per request. ``decode`` takes one SSE event; ``flush`` the end of the upstream body."""

    __slots__ = ("_ctx", "_started", "_done", "_next_index", "_items", "_parts", "_open", "_exclusive", "_called")

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self._started = False
        self._done = False
        self._next_index = 0
        self._items: dict[int, _Block] = {}  # output_index -> reasoning / tool call block
        self._parts: dict[tuple[int, int], _Block] = {}  # (output_index, content_index) -> text/refusal
        self._open: dict[int, _Block] = {}  # canonical index -> open block, in opening order
        self._exclusive: _Block | None = None  # the open text / reasoning / refusal block, if any
        self._called = False

    # -- entry points -------------------------------------------------------------------------

    def decode(self, event: ServerSentEvent) -> list[StreamEvent]:
        """One upstream event."""
        if self._done:
            return []
        data = event.data
        if data == "[DONE]":
            return []
        try:
            payload = _loads(data)
        except ValueError:
            raise StreamTranslationError(f"upstream sent a frame that is not JSON: {data[:200]!r}") from None
        if type(payload) is not dict:  # both parsers make exact dicts
            return []
        out = self._parsed(payload, payload.get("type") or event.event)
        return [BlockDelta(out[0], out[1])] if isinstance(out, tuple) else out

    def decode_data(self, data: bytes, event: str) -> DataEvents:
        """:meth:`decode` for an event given as its raw data bytes and its type (the translator's
        lane for ``event:`` + ``data:`` frames): orjson parses the bytes as they came, with no
        text decode first. Bytes it refuses (not JSON, or not UTF-8, which ``decode`` sees with
        U+FFFD in place) go through :meth:`decode`, so the answer and any error are the same. A
        text, reasoning or arguments delta past its part's first is answered as ``(index, text)``
        (see :class:`~asgi_translate._hub.pipeline.StreamDecoder`)."""
        if self._done:
            return []
        if data == b"[DONE]":
            return []
        try:
            payload = _loads_bytes(data)
            kind = payload.get("type") or event  # AttributeError: a value that is no object
        except (ValueError, AttributeError):
            return self.decode(ServerSentEvent(data.decode("utf-8", "replace"), event))
        return self._parsed(payload, kind)

    def _parsed(self, payload: dict[str, Any], kind: str) -> DataEvents:
        """One parsed event of type ``kind``, for both entry points. A text or arguments delta
        for a part or item already open, past its first delta (nearly every frame), is answered
        right here, as ``(index, text)``: the handler chain it skips costs several calls and
        lists. Everything else, and every first delta, goes through the handlers."""
        if kind == "response.output_text.delta":
            block = self._parts.get((payload.get("output_index", -1), payload.get("content_index", 0)))
        elif kind == "response.reasoning_summary_text.delta":
            block = self._items.get(payload.get("output_index", -1))
        elif kind == "response.function_call_arguments.delta":
            block = self._items.get(payload.get("output_index", -1))
            if block is not None and block.kind != "tool_call":
                block = None
        else:
            block = None
        # part_text: this block's current part has had a delta, so no separator is owed (see _text).
        if block is not None and block.part_text and block.index in self._open:
            text = payload.get("delta")
            if text and type(text) is str:
                return (block.index, text)  # BlockDelta(block.index, text), unbuilt
        handler = _HANDLERS.get(kind)
        if handler is None:
            return []  # annotations, hosted-tool progress, keep-alives: nothing canonical
        return handler(self, payload)

    def flush(self) -> list[StreamEvent]:
        if self._done:
            return []
        self._done = True
        return [StreamError("api_error", "the upstream stream ended before response.completed", 502)]

    # -- lifecycle ----------------------------------------------------------------------------

    def _start(self, payload: dict[str, Any]) -> _Events:
        if self._started:
            return []
        self._started = True
        response = sub(payload, "response")
        return [MessageStart(str(response.get("id") or self._ctx.new_id("resp_")), str(response.get("model") or ""))]

    def _ensure_started(self, out: _Events) -> None:
        if not self._started:
            out.extend(self._start({}))

    def _terminal(self, payload: dict[str, Any]) -> _Events:
        out: _Events = []
        self._ensure_started(out)
        out.extend(self._close_all())
        response = sub(payload, "response")
        usage = usage_from_json(response.get("usage"))
        if usage is not None:
            out.append(UsageUpdate(usage))
        status = payload["type"].removeprefix("response.")
        out.append(Finish(stop_reason_for(status, response.get("incomplete_details"), self._called)))
        self._done = True
        return out

    def _failed(self, payload: dict[str, Any]) -> _Events:
        response = sub(payload, "response")
        return self._error(response.get("error"))

    def _error_event(self, payload: dict[str, Any]) -> _Events:
        # The API sends the error's fields at the top level; some servers nest them in "error".
        return self._error(sub(payload, "error") or payload)

    def _error(self, error: Any) -> _Events:
        self._done = True
        return [StreamError(*stream_error_fields(error))]

    # -- blocks -------------------------------------------------------------------------------

    def _open_block(self, out: _Events, kind: BlockKind, **fields: Any) -> _Block:
        self._ensure_started(out)
        if self._exclusive is not None:  # one text-like block at a time (stream contract 2)
            out.extend(self._close(self._exclusive))
        block = _Block(self._next_index, kind)
        self._next_index += 1
        self._open[block.index] = block
        if kind != "tool_call":
            self._exclusive = block
        out.append(BlockStart(block.index, kind, **fields))
        return block

    def _close(self, block: _Block, signature: str | None = None) -> _Events:
        if self._open.pop(block.index, None) is None:
            return []
        if self._exclusive is block:
            self._exclusive = None
        return [BlockStop(block.index, signature)]

    def _close_all(self) -> _Events:
        return [stop for block in list(self._open.values()) for stop in self._close(block)]

    @staticmethod
    def _text(block: _Block, text: str) -> _Events:
        """A delta for ``block``, prefixed by a blank line when it starts a further part."""
        if not text:
            return []
        if block.new_part and block.has_text:
            text = "\n\n" + text
        block.new_part = False
        block.has_text = block.part_text = True
        return [BlockDelta(block.index, text)]

    # -- output items -------------------------------------------------------------------------

    def _item_added(self, payload: dict[str, Any]) -> _Events:
        item = sub(payload, "item")
        out: _Events = []
        index = payload.get("output_index", -1)
        kind = item.get("type")
        if kind in ("function_call", "custom_tool_call"):
            custom = kind == "custom_tool_call"
            self._called = True
            block = self._open_block(out, "tool_call", call_id=item.get("call_id"), name=item.get("name"),
                                     custom=custom, item_id=item.get("id"))  # fmt: skip
            self._items[index] = block
            out.extend(self._text(block, item.get("input" if custom else "arguments") or ""))
        elif kind == "reasoning":
            self._items[index] = self._open_block(out, "reasoning", item_id=item.get("id"))
        return out

    def _item_done(self, payload: dict[str, Any]) -> _Events:
        item = sub(payload, "item")
        index = payload.get("output_index", -1)
        kind = item.get("type")
        if kind == "message":
            return self._message_done(index, item)
        if kind not in ("function_call", "custom_tool_call", "reasoning"):
            return []
        out: _Events = []
        block = self._items.get(index)
        if block is None:  # an item that was never announced: replay it whole
            out.extend(self._item_added(payload))
            block = self._items.get(index)
            if block is None:
                return out
        if kind == "reasoning":
            if not block.has_text:
                out.extend(self._text(block, _reasoning_text(item)))
            signature = item.get("encrypted_content")
            out.extend(self._close(block, signature if isinstance(signature, str) else None))
        else:
            if not block.has_text:
                out.extend(self._text(block, item.get("input" if kind == "custom_tool_call" else "arguments") or ""))
            out.extend(self._close(block))
        return out

    def _message_done(self, index: int, item: dict[str, Any]) -> _Events:
        out: _Events = []
        for content_index, part in enumerate(item.get("content") or []):
            block = self._parts.get((index, content_index))
            if block is None and isinstance(part, dict):  # never streamed: send it now
                block = self._part_block(out, index, content_index, part.get("type"))
                if block is not None:
                    out.extend(self._text(block, _part_text(part)))
            if block is not None:
                out.extend(self._close(block))
        return out

    # -- message content parts ----------------------------------------------------------------

    def _part_block(self, out: _Events, index: int, content_index: int, part_type: Any) -> _Block | None:
        block = self._parts.get((index, content_index))
        if block is not None:
            return block
        if part_type == "output_text":
            block = self._open_block(out, "text")
        elif part_type == "refusal":
            block = self._open_block(out, "refusal")
        else:
            return None
        self._parts[(index, content_index)] = block
        return block

    def _part_added(self, payload: dict[str, Any]) -> _Events:
        part = sub(payload, "part")
        index = payload.get("output_index", -1)
        if part.get("type") == "reasoning_text":
            return self._reasoning_part_added(payload)
        out: _Events = []
        block = self._part_block(out, index, payload.get("content_index", 0), part.get("type"))
        if block is not None:
            out.extend(self._text(block, _part_text(part)))
        return out

    def _part_delta(self, payload: dict[str, Any], part_type: str) -> _Events:
        out: _Events = []
        block = self._part_block(out, payload.get("output_index", -1), payload.get("content_index", 0), part_type)
        if block is not None and block.index in self._open:
            out.extend(self._text(block, payload.get("delta") or ""))
        return out

    def _text_delta(self, payload: dict[str, Any]) -> _Events:
        return self._part_delta(payload, "output_text")

    def _refusal_delta(self, payload: dict[str, Any]) -> _Events:
        return self._part_delta(payload, "refusal")

    def _part_done(self, payload: dict[str, Any]) -> _Events:
        """``output_text.done`` / ``refusal.done`` / ``content_part.done``: text not yet streamed
        arrives here, and the part's block closes."""
        part = sub(payload, "part")
        if part.get("type") == "reasoning_text":
            return self._reasoning_done(payload)
        block = self._parts.get((payload.get("output_index", -1), payload.get("content_index", 0)))
        if block is None or block.index not in self._open:
            return []
        out: _Events = []
        if not block.part_text:
            text = _part_text(part) or _part_text(payload)
            out.extend(self._text(block, text))
        if payload["type"] == "response.content_part.done":
            out.extend(self._close(block))
        return out

    # -- tool call arguments -------------------------------------------------------------------

    def _arguments_delta(self, payload: dict[str, Any]) -> _Events:
        block = self._items.get(payload.get("output_index", -1))
        if block is None or block.kind != "tool_call" or block.index not in self._open:
            return []  # arguments for a call never announced: no call id to give them
        return self._text(block, payload.get("delta") or "")

    def _arguments_done(self, payload: dict[str, Any]) -> _Events:
        """Some servers send the arguments only here, with no delta before."""
        block = self._items.get(payload.get("output_index", -1))
        if block is None or block.kind != "tool_call" or block.index not in self._open or block.has_text:
            return []
        return self._text(block, payload.get("arguments") or payload.get("input") or "")

    # -- reasoning ----------------------------------------------------------------------------

    def _reasoning_block(self, out: _Events, payload: dict[str, Any]) -> _Block:
        index = payload.get("output_index", -1)
        block = self._items.get(index)
        if block is None:
            block = self._items[index] = self._open_block(out, "reasoning", item_id=payload.get("item_id"))
        return block

    def _reasoning_part_added(self, payload: dict[str, Any]) -> _Events:
        out: _Events = []
        block = self._reasoning_block(out, payload)
        block.new_part = True
        block.part_text = False
        return out

    def _reasoning_delta(self, payload: dict[str, Any]) -> _Events:
        out: _Events = []
        block = self._reasoning_block(out, payload)
        if block.index in self._open:
            out.extend(self._text(block, payload.get("delta") or ""))
        return out

    def _reasoning_done(self, payload: dict[str, Any]) -> _Events:
        block = self._items.get(payload.get("output_index", -1))
        if block is None or block.index not in self._open or block.part_text:
            return []
        part = sub(payload, "part")
        return self._text(block, payload.get("text") or part.get("text") or "")


def _part_text(part: dict[str, Any]) -> str:
    return str(part.get("text") or part.get("refusal") or "")


def _reasoning_text(item: dict[str, Any]) -> str:
    content = [str(c.get("text") or "") for c in item.get("content") or [] if isinstance(c, dict)]
    if content:
        return "".join(content)
    return "\n\n".join(str(s.get("text") or "") for s in item.get("summary") or [] if isinstance(s, dict))


_Handler = Callable[[ResponsesStreamDecoder, dict[str, Any]], _Events]
_D = ResponsesStreamDecoder
_HANDLERS: dict[str, _Handler] = {
    "response.created": _D._start,
    "response.in_progress": _D._start,
    "response.queued": _D._start,
    "response.output_item.added": _D._item_added,
    "response.output_item.done": _D._item_done,
    "response.content_part.added": _D._part_added,
    "response.content_part.done": _D._part_done,
    "response.output_text.delta": _D._text_delta,
    "response.refusal.delta": _D._refusal_delta,
    "response.output_text.done": _D._part_done,
    "response.refusal.done": _D._part_done,
    "response.function_call_arguments.delta": _D._arguments_delta,
    "response.function_call_arguments.done": _D._arguments_done,
    "response.custom_tool_call_input.delta": _D._arguments_delta,
    "response.custom_tool_call_input.done": _D._arguments_done,
    "response.reasoning_summary_part.added": _D._reasoning_part_added,
    "response.reasoning_summary_text.delta": _D._reasoning_delta,
    "response.reasoning_summary_text.done": _D._reasoning_done,
    "response.reasoning_text.delta": _D._reasoning_delta,
    "response.reasoning_text.done": _D._reasoning_done,
    "response.completed": _D._terminal,
    "response.incomplete": _D._terminal,
    "response.failed": _D._failed,
    "error": _D._error_event,
}
