"""Canonical stream events -> the Messages server-sent events a client reads.

The events of https://docs.anthropic.com/en/docs/build-with-claude/streaming, always with
``event:`` lines: ``message_start``, one content block at a time, ``message_delta`` with the stop
reason and usage, ``message_stop``; ``error`` ends a failed stream.
"""

from __future__ import annotations

from typing import Any

from ..._hub import json as _json
from ..._hub.canonical import (
    BlockDelta,
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
from ..._hub.errors import ANTHROPIC_TYPES
from ..._hub.sse import format_event
from ._fields import message_usage, stop_reason_out, usage_out

_MESSAGE_STOP = format_event('{"type":"message_stop"}', "message_stop")
# Wire forms of an open block: how its deltas are written.
_TEXT, _THINKING, _TOOL, _CUSTOM, _REDACTED = "text_delta", "thinking_delta", "input_json_delta", "custom", "redacted"
_DELTA_KEYS = {_TEXT: "text", _THINKING: "thinking", _TOOL: "partial_json", _CUSTOM: "partial_json"}


# Frames are built as bytes: dumped JSON never holds a raw line break, so a frame is
# prefix + JSON + suffix, with no newline scan and no text-to-bytes round trip.
def _frame(event: str, data: dict[str, Any]) -> bytes:
    return b"event: " + event.encode() + b"\ndata: " + _json.dumpb(data) + b"\n\n"


_dumpb = _json.dumpb
_DELTA_EVENT = b"event: content_block_delta\ndata: "
_DELTA_END = b"}}\n\n"
# message_start's frame up to its id, between its id and model, and between its model and usage.
_START_ID = b'event: message_start\ndata: {"type":"message_start","message":{"id":'
_START_MODEL = b',"type":"message","role":"assistant","model":'
_START_USAGE = b',"content":[],"stop_reason":null,"stop_sequence":null,"usage":'
_NO_USAGE = _dumpb(message_usage(None))
# A block's frames with its wire index put in (``%d``): the bytes _frame writes for their dicts,
# without a dict built and dumped for each block of every stream. content_block_start is followed
# by its content block and ``}\n\n``; a delta frame by its text and _DELTA_END.
_BLOCK_START = b'event: content_block_start\ndata: {"type":"content_block_start","index":%d,"content_block":'
_BLOCK_STOP = b'event: content_block_stop\ndata: {"type":"content_block_stop","index":%d}\n\n'
_DELTA_PREFIXES = {
    form: _DELTA_EVENT
    + b'{"type":"content_block_delta","index":%d,"delta":{"type":"'
    + (_TOOL if form == _CUSTOM else form).encode()
    + b'","'
    + key.encode()
    + b'":'
    for form, key in _DELTA_KEYS.items()
}
_TEXT_BLOCK = b'{"type":"text","text":""}}\n\n'
# message_delta up to its stop reason, between the reason and the stop sequence, between that and
# the usage, and its end followed by message_stop.
_MESSAGE_DELTA = b'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":'
_DELTA_SEQUENCE = b',"stop_sequence":'
_DELTA_USAGE = b'},"usage":'
_END = b"}\n\n" + _MESSAGE_STOP
_THINKING_BLOCK = b'{"type":"thinking","thinking":"","signature":""}}\n\n'


class MessagesStreamEncoder:
    """Canonical events -> Messages SSE, always with ``event:`` lines (the SDK dispatches on them).

    Messages shows one open block at a time. A block that starts while another is open (an
    interleaved parallel tool call from a chat upstream) is held, deltas and stop included, and
    replayed when the open one closes; a redacted block is held until its stop brings the data.
    """

    __slots__ = ("_ctx", "_started", "_done", "_current", "_plain", "_form", "_prefix", "_wire", "_held", "_usage")

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self._started = False
        self._done = False
        self._current: int | None = None  # canonical index of the block open on the wire
        # The canonical index of the open block when its deltas are written plainly (text,
        # thinking, tool JSON: prefix + JSON string + suffix), else None: what encode checks
        # first, one comparison for nine events in ten. None once the stream is done.
        self._plain: int | None = None
        self._form = _TEXT
        self._prefix = b""  # the open block's content_block_delta frame up to its text value
        self._wire = 0  # wire index for the next block to open
        self._held: dict[int, list[BlockDelta | BlockStop | BlockStart]] = {}
        self._usage: Usage | None = None

    def encode(self, event: StreamEvent) -> bytes:
        kind = type(event)
        if kind is BlockDelta and event.index == self._plain:  # type: ignore[union-attr]
            return self._prefix + _dumpb(event.text) + _DELTA_END  # type: ignore[union-attr]
        if self._done:
            return b""
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

    def encode_delta(self, index: int, text: str) -> bytes:
        """``encode(BlockDelta(index, text))`` without the object (the translator's lane)."""
        if index == self._plain:
            return self._prefix + _dumpb(text) + _DELTA_END
        return self.encode(BlockDelta(index, text))

    def encode_deltas(self, index: int, texts: list[str]) -> bytes | None:
        """``encode_delta`` for each of ``texts`` of the open plain block, the frames joined,
        with one dump for all of them; ``None`` (each on its own) for another block, whose
        deltas change state. The texts are joined by U+0000 and dumped as one string, in which
        each ``\\u0000`` becomes a frame's end and the next frame's prefix. A dumped string
        writes U+0000 as ``\\u0000`` and a text's own backslash as ``\\\\``, so a ``\\u0000``
        that is no separator (a text's U+0000, or its ``\\u0000`` spelled out) only adds one:
        with as many as there are separators, each is one, else ``None``."""
        if index != self._plain:
            return None
        dumped = _dumpb("\x00".join(texts))
        if dumped.count(b"\\u0000") != len(texts) - 1:
            return None
        prefix = self._prefix
        return prefix + dumped.replace(b"\\u0000", b'"' + _DELTA_END + prefix + b'"') + _DELTA_END

    def _message_start(self, event: MessageStart | None) -> bytes:
        """The ``message_start`` frame: the bytes of :func:`_frame` for ``{"type": "message_start",
        "message": {"id", "type": "message", "role": "assistant", "model", "content": [],
        "stop_reason": null, "stop_sequence": null, "usage"}}``, written around its three values
        (dumping the whole message, and the usage of a start that has none, cost 17,000
        instructions, before every stream's first byte)."""
        self._started = True
        usage = event.usage if event is not None else None
        if usage is not None:
            self._usage = merge_usage(self._usage, usage)
        message_id = (event.id if event is not None else "") or self._ctx.new_id("msg_")
        return b"".join(
            (
                _START_ID,
                _dumpb(message_id),
                _START_MODEL,
                _dumpb(self._ctx.client_model),
                _START_USAGE,
                _NO_USAGE if usage is None else _dumpb(message_usage(usage)),
                b"}}\n\n",
            )
        )

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
            self._plain = None
            return b""
        if event.kind == "tool_call":
            self._form = _CUSTOM if event.custom else _TOOL
            call_id = event.call_id or self._ctx.new_id("toolu_")
            block = _dumpb({"type": "tool_use", "id": call_id, "name": event.name or "", "input": {}}) + b"}\n\n"
        elif event.kind == "reasoning":
            self._form = _THINKING
            block = _THINKING_BLOCK
        else:  # text and refusal: Messages shows a refusal as text
            self._form = _TEXT
            block = _TEXT_BLOCK
        self._plain = event.index if self._form != _CUSTOM else None
        self._prefix = _DELTA_PREFIXES[self._form] % wire
        out = _BLOCK_START % wire + block
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
        self._current = self._plain = None
        return out + _BLOCK_STOP % wire

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
        self._done = True  # every block is closed below, which clears _plain
        out = b"" if self._started else self._message_start(None)
        while self._current is not None or self._held:  # a well-behaved decoder left nothing open
            if self._current is not None:
                out += self._close(BlockStop(self._current))
            out += self._replay()
        reason = stop_reason_out(event.reason)
        # Input counts are repeated here because a chat upstream reports them only at the end.
        usage = _dumpb(usage_out(self._usage)) if self._usage is not None else b'{"output_tokens":0}'
        sequence = _dumpb(event.stop_sequence) if reason == "stop_sequence" else b"null"
        # The bytes of _frame("message_delta", {"type": "message_delta", "delta": {"stop_reason",
        # "stop_sequence"}, "usage"}), written around its values (once per stream, as the block
        # frames are), then message_stop.
        return b"".join((out, _MESSAGE_DELTA, _dumpb(reason), _DELTA_SEQUENCE, sequence, _DELTA_USAGE, usage, _END))

    def _error(self, event: StreamError) -> bytes:
        self._done = True
        self._plain = None
        out = b""
        # A held redacted block never opened. A tool call cut mid-arguments stays open too: its
        # content_block_stop would announce a complete call with truncated input (the API itself
        # sends its error event with blocks open).
        if self._current is not None and self._form not in (_REDACTED, _TOOL, _CUSTOM):
            out = _BLOCK_STOP % (self._wire - 1)
        self._held.clear()
        kind = event.type if event.type in ANTHROPIC_TYPES else "api_error"
        return out + _frame("error", {"type": "error", "error": {"type": kind, "message": event.message}})
