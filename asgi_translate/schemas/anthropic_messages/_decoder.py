"""Messages server-sent events from an upstream -> canonical stream events.

https://docs.anthropic.com/en/docs/build-with-claude/streaming: ``message_start``; per content
block ``content_block_start``, ``content_block_delta`` (text, thinking, signature, tool input
JSON), ``content_block_stop``; ``message_delta`` with the stop reason and cumulative usage;
``message_stop``. ``ping`` may come anywhere and ``error`` may end the stream instead.
"""

from __future__ import annotations

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
    Usage,
    UsageUpdate,
)
from ..._hub.context import Context
from ..._hub.errors import STATUS_BY_TYPE, StreamTranslationError
from ..._hub.pipeline import DataEvents
from ..._hub.sse import ServerSentEvent
from ._fields import stop_reason_in, usage_in

# Upstream block types we translate; every other type (server_tool_use, web_search_tool_result,
# *_code_execution_tool_result, ...) belongs to Anthropic's server tools and is skipped whole.
_KINDS: dict[str, BlockKind] = {
    "text": "text",
    "thinking": "reasoning",
    "redacted_thinking": "redacted_reasoning",
    "tool_use": "tool_call",
}
_DELTA_FIELDS = {"text_delta": "text", "thinking_delta": "thinking", "input_json_delta": "partial_json"}
_SKIPPED = -1
_loads = _json.loads  # bound once: the backend is chosen when _hub.json is imported

#: Frames given as bytes (the bytes lane): parsed as they came, chosen once per backend.
_loads_bytes = _json.loads_bytes


class MessagesStreamDecoder:
    """Upstream Messages events -> canonical events.

    Canonical indexes come from their own counter: a skipped server-tool block leaves a gap in the
    upstream numbering that the canonical stream must not have. Signatures arrive as
    ``signature_delta`` (and a redacted block's data with its start); both travel on BlockStop.
    """

    __slots__ = (
        "_ctx",
        "_indexes",
        "_signatures",
        "_no_input",
        "_next",
        "_started",
        "_done",
        "_stop",
        "_stop_sequence",
        "_usage",
    )

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        #: Upstream index -> canonical index (``_SKIPPED`` for server-tool blocks), open blocks only.
        self._indexes: dict[int, int] = {}
        self._signatures: dict[int, str] = {}
        #: Tool calls that have had no argument text yet (see :meth:`_stop_block`). A dict used as
        #: a set: an empty one costs 64 bytes per stream, an empty set 216.
        self._no_input: dict[int, None] = {}
        self._next = 0
        self._started = False
        self._done = False
        self._stop: str | None = None  # the upstream stop reason, once message_delta said it
        self._stop_sequence: str | None = None
        self._usage = Usage()

    def decode(self, event: ServerSentEvent) -> list[StreamEvent]:
        """One upstream event."""
        if self._done:
            return []
        try:
            data = _loads(event.data)
        except ValueError:
            raise StreamTranslationError(f"upstream sent a frame that is not JSON: {event.data[:100]!r}") from None
        if type(data) is not dict:  # both parsers make exact dicts
            raise StreamTranslationError(f"upstream sent a frame that is not a JSON object: {event.data[:100]!r}")
        out = self._parsed(data, data.get("type") or event.event)
        return [BlockDelta(out[0], out[1])] if isinstance(out, tuple) else out

    def decode_data(self, data: bytes, event: str) -> DataEvents:
        """:meth:`decode` for an event given as its raw data bytes and its type (the translator's
        lane for ``event:`` + ``data:`` frames): orjson parses the bytes as they came, with no
        text decode first. Bytes it refuses (not JSON, or not UTF-8, which ``decode`` sees with
        U+FFFD in place) and values that are not objects go through :meth:`decode`, so the
        answer and any error are the same. A text, thinking or tool-input delta is answered as
        ``(index, text)`` (see :class:`~asgi_translate._hub.pipeline.StreamDecoder`)."""
        if self._done:
            return []
        try:
            payload = _loads_bytes(data)
            kind = payload.get("type") or event  # AttributeError: a value that is no object
        except (ValueError, AttributeError):
            return self.decode(ServerSentEvent(data.decode("utf-8", "replace"), event))
        return self._parsed(payload, kind)

    def _parsed(self, payload: dict[str, Any], kind: str) -> DataEvents:
        """One parsed event of type ``kind``, for both entry points. A text, thinking or
        tool-input delta (nine frames in ten) is handled right here rather than in
        :meth:`_delta`: a method call and a table lookup cost more than the few comparisons that
        replace them. It is answered as ``(index, text)`` when the text is a string."""
        if kind == "content_block_delta":
            delta = payload.get("delta")
            if type(delta) is dict:
                index = self._indexes.get(payload.get("index"))  # type: ignore[arg-type]
                if index is None or index == _SKIPPED:
                    return []
                delta_type = delta.get("type")
                if delta_type == "text_delta":
                    text = delta.get("text")
                elif delta_type == "thinking_delta":
                    text = delta.get("thinking")
                elif delta_type == "input_json_delta":
                    text = delta.get("partial_json")
                    if text:
                        self._no_input.pop(index, None)
                else:
                    return self._delta(payload)
                if type(text) is str:
                    return (index, text) if text else []  # BlockDelta(index, text), unbuilt
                return [BlockDelta(index, text)] if text else []
            return self._delta(payload)
        return self._event(kind, payload)

    def _event(self, kind: Any, data: dict[str, Any]) -> list[StreamEvent]:
        """Every event but a delta, by its type."""
        handler = _DECODERS.get(kind)
        if handler is None:
            return []  # ping, and event types newer than this module
        if not self._started and kind != "message_start" and kind != "error":
            return [self._synthetic_start(), *handler(self, data)]
        return handler(self, data)

    def flush(self) -> list[StreamEvent]:
        if self._done:
            return []
        if self._stop is not None:
            return self._finish()
        self._done = True
        return [StreamError("api_error", "upstream Messages stream ended before message_stop", 502)]

    def _synthetic_start(self) -> MessageStart:
        """A stream that skipped message_start still owes the canonical MessageStart first."""
        self._started = True
        return MessageStart(self._ctx.new_id("msg_"), self._ctx.request.model)

    def _message_start(self, data: dict[str, Any]) -> list[StreamEvent]:
        if self._started:
            return []
        self._started = True
        message = data.get("message") or {}
        self._usage = usage = usage_in(message.get("usage"))
        start = MessageStart(str(message.get("id") or self._ctx.new_id("msg_")), str(message.get("model") or ""), usage)
        return [start, UsageUpdate(usage)]

    def _block_start(self, data: dict[str, Any]) -> list[StreamEvent]:
        block = data.get("content_block") or {}
        kind = _KINDS.get(str(block.get("type")))
        if kind is None:
            self._indexes[data.get("index")] = _SKIPPED  # type: ignore[index]
            return []
        index = self._next
        self._next += 1
        self._indexes[data.get("index")] = index  # type: ignore[index]
        if kind == "tool_call":
            out: list[StreamEvent] = [BlockStart(index, kind, call_id=block.get("id"), name=block.get("name"))]
            initial = _json.dumps(block["input"]) if block.get("input") else ""
            if not initial:
                self._no_input[index] = None
        else:
            out = [BlockStart(index, kind)]
            initial = block.get("text") or block.get("thinking") or ""
        signature = block.get("signature") or block.get("data")
        if signature:
            self._signatures[index] = signature
        if initial:
            out.append(BlockDelta(index, initial))
        return out

    def _delta(self, data: dict[str, Any]) -> list[StreamEvent]:
        """Every delta :meth:`decode` does not handle itself: signatures, citations, newer types."""
        index = self._indexes.get(data.get("index"))  # type: ignore[arg-type]
        if index is None or index == _SKIPPED:
            return []
        delta = data.get("delta") or {}
        kind = delta.get("type")
        field = _DELTA_FIELDS.get(str(kind))
        if field is not None:
            text = delta.get(field)
            if not text:
                return []
            if kind == "input_json_delta":
                self._no_input.pop(index, None)
            return [BlockDelta(index, text)]
        if kind == "signature_delta":
            self._signatures[index] = self._signatures.get(index, "") + (delta.get("signature") or "")
        # citations_delta and newer delta types carry nothing the other schemas can show.
        return []

    def _block_stop(self, data: dict[str, Any]) -> list[StreamEvent]:
        index = self._indexes.pop(data.get("index"), None)  # type: ignore[arg-type]
        if index is None or index == _SKIPPED:
            return []
        return self._stop_block(index)

    def _stop_block(self, index: int) -> list[StreamEvent]:
        """BlockStop with the block's signature. A tool call that streamed no input at all (a tool
        without parameters: input {} and at most an empty partial_json) gets the argument text
        ``{}``, as in a non-streamed response; an empty string is not JSON to a chat client."""
        if index in self._no_input:
            del self._no_input[index]
            return [BlockDelta(index, "{}"), BlockStop(index, None)]
        return [BlockStop(index, self._signatures.pop(index, None))]

    def _message_delta(self, data: dict[str, Any]) -> list[StreamEvent]:
        delta = data.get("delta") or {}
        if delta.get("stop_reason") is not None:
            self._stop = delta["stop_reason"]
            self._stop_sequence = delta.get("stop_sequence")
        raw = data.get("usage")
        if not isinstance(raw, dict):
            return []
        # Counts are cumulative; input and cache counts are only repeated by newer API versions.
        old = self._usage
        read = raw.get("cache_read_input_tokens")
        write = raw.get("cache_creation_input_tokens")
        read = old.cache_read_tokens if read is None else read
        write = old.cache_write_tokens if write is None else write
        plain = raw.get("input_tokens")
        if plain is None:
            plain = old.input_tokens - old.cache_read_tokens - old.cache_write_tokens
        output = raw.get("output_tokens") or old.output_tokens
        self._usage = usage = Usage(plain + read + write, output, read, write, old.reasoning_tokens)
        return [UsageUpdate(usage)]

    def _message_stop(self, data: dict[str, Any]) -> list[StreamEvent]:
        return self._finish()

    def _finish(self) -> list[StreamEvent]:
        """Close what the upstream left open (a max_tokens cut skips content_block_stop), then Finish."""
        self._done = True
        out: list[StreamEvent] = [
            event for index in sorted(self._indexes.values()) if index != _SKIPPED for event in self._stop_block(index)
        ]
        self._indexes.clear()
        reason = stop_reason_in(self._stop) or "end_turn"  # message_stop alone still ends the turn
        out.append(Finish(reason, self._stop_sequence if reason == "stop_sequence" else None))
        return out

    def _error(self, data: dict[str, Any]) -> list[StreamEvent]:
        self._done = True
        error = data.get("error")
        error = error if isinstance(error, dict) else {}
        kind = error.get("type")
        if kind not in STATUS_BY_TYPE:
            kind = "api_error"
        message = error.get("message") or "the upstream stream failed"
        return [StreamError(kind, str(message), STATUS_BY_TYPE[kind])]


_DECODERS = {
    "message_start": MessagesStreamDecoder._message_start,
    "content_block_start": MessagesStreamDecoder._block_start,
    "content_block_stop": MessagesStreamDecoder._block_stop,
    "message_delta": MessagesStreamDecoder._message_delta,
    "message_stop": MessagesStreamDecoder._message_stop,
    "error": MessagesStreamDecoder._error,
}
