"""Messages server-sent events <-> canonical stream events.

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
    merge_usage,
)
from ..._hub.context import Context
from ..._hub.errors import ANTHROPIC_TYPES, STATUS_BY_TYPE, StreamTranslationError
from ..._hub.sse import ServerSentEvent, format_event
from ._response import stop_reason_in, stop_reason_out, usage_in, usage_out

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
        if self._done:
            return []
        try:
            data = _json.loads(event.data)
        except ValueError:
            raise StreamTranslationError(f"upstream sent a frame that is not JSON: {event.data[:100]!r}") from None
        if not isinstance(data, dict):
            raise StreamTranslationError(f"upstream sent a frame that is not a JSON object: {event.data[:100]!r}")
        kind = data.get("type") or event.event
        if kind == "content_block_delta":  # nine frames in ten
            return self._delta(data)
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


# -- encoder ----------------------------------------------------------------------------------

_MESSAGE_STOP = format_event('{"type":"message_stop"}', "message_stop")
# Wire forms of an open block: how its deltas are written.
_TEXT, _THINKING, _TOOL, _CUSTOM, _REDACTED = "text_delta", "thinking_delta", "input_json_delta", "custom", "redacted"
_DELTA_KEYS = {_TEXT: "text", _THINKING: "thinking", _TOOL: "partial_json", _CUSTOM: "partial_json"}


# Frames are built as bytes: dumped JSON never holds a raw line break, so a frame is
# prefix + JSON + suffix, with no newline scan and no text-to-bytes round trip.
def _frame(event: str, data: dict[str, Any]) -> bytes:
    return b"event: " + event.encode() + b"\ndata: " + _json.dumpb(data) + b"\n\n"


_DELTA_EVENT = b"event: content_block_delta\ndata: "
_DELTA_END = b"}}\n\n"


class MessagesStreamEncoder:
    """Canonical events -> Messages SSE, always with ``event:`` lines (the SDK dispatches on them).

    Messages shows one open block at a time. A block that starts while another is open (an
    interleaved parallel tool call from a chat upstream) is held, deltas and stop included, and
    replayed when the open one closes; a redacted block is held until its stop brings the data.
    """

    __slots__ = ("_ctx", "_started", "_done", "_current", "_form", "_prefix", "_wire", "_held", "_usage")

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self._started = False
        self._done = False
        self._current: int | None = None  # canonical index of the block open on the wire
        self._form = _TEXT
        self._prefix = b""  # the open block's content_block_delta frame up to its text value
        self._wire = 0  # wire index for the next block to open
        self._held: dict[int, list[BlockDelta | BlockStop | BlockStart]] = {}
        self._usage: Usage | None = None

    def encode(self, event: StreamEvent) -> bytes:
        if self._done:
            return b""
        kind = type(event)
        if kind is BlockDelta:
            return self._block_delta(event)  # type: ignore[arg-type]
        if isinstance(event, BlockStart):
            return self._block_start(event)
        if isinstance(event, BlockStop):
            return self._block_stop(event)
        if isinstance(event, UsageUpdate):
            self._usage = merge_usage(self._usage, event.usage)
            return b""
        if isinstance(event, MessageStart):
            return b"" if self._started else self._message_start(event)
        if isinstance(event, Finish):
            return self._finish(event)
        assert isinstance(event, StreamError)
        return self._error(event)

    def _message_start(self, event: MessageStart | None) -> bytes:
        self._started = True
        usage = event.usage if event is not None else None
        if usage is not None:
            self._usage = merge_usage(self._usage, usage)
        message: dict[str, Any] = {
            "id": (event.id if event is not None else "") or self._ctx.new_id("msg_"),
            "type": "message",
            "role": "assistant",
            "model": self._ctx.client_model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": usage_out(usage),
        }
        return _frame("message_start", {"type": "message_start", "message": message})

    # -- blocks -------------------------------------------------------------------------------

    def _block_start(self, event: BlockStart) -> bytes:
        out = b"" if self._started else self._message_start(None)
        if self._current is None:
            return out + self._open(event)
        self._held[event.index] = [event]
        return out

    def _block_delta(self, event: BlockDelta) -> bytes:
        if event.index == self._current:
            return self._delta_frame(event.text)
        held = self._held.get(event.index)
        if held is not None:
            held.append(event)
        return b""

    def _block_stop(self, event: BlockStop) -> bytes:
        if event.index == self._current:
            return self._close(event) + self._replay()
        held = self._held.get(event.index)
        if held is not None:
            held.append(event)
        return b""

    def _open(self, event: BlockStart) -> bytes:
        wire = self._wire
        self._wire += 1
        self._current = event.index
        if event.kind == "redacted_reasoning":
            self._form = _REDACTED  # its start carries the data, which only BlockStop brings
            return b""
        if event.kind == "tool_call":
            self._form = _CUSTOM if event.custom else _TOOL
            call_id = event.call_id or self._ctx.new_id("toolu_")
            block: dict[str, Any] = {"type": "tool_use", "id": call_id, "name": event.name or "", "input": {}}
        elif event.kind == "reasoning":
            self._form = _THINKING
            block = {"type": "thinking", "thinking": "", "signature": ""}
        else:  # text and refusal: Messages shows a refusal as text
            self._form = _TEXT
            block = {"type": "text", "text": ""}
        delta_type = _TOOL if self._form == _CUSTOM else self._form
        self._prefix = (
            f'{_DELTA_EVENT.decode()}{{"type":"content_block_delta","index":{wire},"delta":{{"type":"{delta_type}",'
            f'"{_DELTA_KEYS[self._form]}":'
        ).encode()
        out = _frame("content_block_start", {"type": "content_block_start", "index": wire, "content_block": block})
        if self._form == _CUSTOM:
            # A freeform call's raw text becomes {"input": "<raw>"}, streamed as JSON pieces.
            out += self._json_frame('{"input":"')
        return out

    def _delta_frame(self, text: str) -> bytes:
        if self._form == _CUSTOM:
            return self._json_frame(_json.dumps(text)[1:-1])
        if self._form == _REDACTED:
            return b""
        return self._prefix + _json.dumpb(text) + _DELTA_END

    def _json_frame(self, partial: str) -> bytes:
        return self._prefix + _json.dumpb(partial) + _DELTA_END

    def _close(self, event: BlockStop) -> bytes:
        wire = self._wire - 1
        out = b""
        if self._form == _REDACTED:
            block = {"type": "redacted_thinking", "data": event.signature or ""}
            out = _frame("content_block_start", {"type": "content_block_start", "index": wire, "content_block": block})
        elif self._form == _THINKING and event.signature:
            delta = {"type": "signature_delta", "signature": event.signature}
            out = _frame("content_block_delta", {"type": "content_block_delta", "index": wire, "delta": delta})
        elif self._form == _CUSTOM:
            out = self._json_frame('"}')
        self._current = None
        return out + _frame("content_block_stop", {"type": "content_block_stop", "index": wire})

    def _replay(self) -> bytes:
        """Open held blocks in the order they started, until one of them is still unfinished."""
        out = b""
        while self._current is None and self._held:
            events = self._held.pop(next(iter(self._held)))
            for event in events:
                if isinstance(event, BlockStart):
                    out += self._open(event)
                elif isinstance(event, BlockDelta):
                    out += self._delta_frame(event.text)
                else:
                    out += self._close(event)
        return out

    # -- terminators --------------------------------------------------------------------------

    def _finish(self, event: Finish) -> bytes:
        self._done = True
        out = b"" if self._started else self._message_start(None)
        while self._current is not None or self._held:  # a well-behaved decoder left nothing open
            if self._current is not None:
                out += self._close(BlockStop(self._current))
            out += self._replay()
        reason = stop_reason_out(event.reason)
        # Input counts are repeated here because a chat upstream reports them only at the end.
        usage = usage_out(self._usage) if self._usage is not None else {"output_tokens": 0}
        delta = {"stop_reason": reason, "stop_sequence": event.stop_sequence if reason == "stop_sequence" else None}
        out += _frame("message_delta", {"type": "message_delta", "delta": delta, "usage": usage})
        return out + _MESSAGE_STOP

    def _error(self, event: StreamError) -> bytes:
        self._done = True
        out = b""
        # A held redacted block never opened. A tool call cut mid-arguments stays open too: its
        # content_block_stop would announce a complete call with truncated input (the API itself
        # sends its error event with blocks open).
        if self._current is not None and self._form not in (_REDACTED, _TOOL, _CUSTOM):
            out = _frame("content_block_stop", {"type": "content_block_stop", "index": self._wire - 1})
        self._held.clear()
        kind = event.type if event.type in ANTHROPIC_TYPES else "api_error"
        return out + _frame("error", {"type": "error", "error": {"type": kind, "message": event.message}})
