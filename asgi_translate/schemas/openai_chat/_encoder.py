"""Canonical stream events -> Chat Completions chunks for a chat client.

Every frame is ``data: {chunk}``; the part of a chunk before its ``delta`` never changes within a
stream, so it is built once at ``MessageStart`` and each delta costs one small ``dumps``. The
grammar the official SDK relies on (``openai/lib/streaming/chat``): ``role`` on the first delta
only; a tool call's ``id``, ``type`` and ``name`` on its first delta only (the SDK concatenates
repeated strings); one ``finish_reason``; the usage chunk (``choices: []``) after it; ``[DONE]``.

Conventions of ours, documented in the README:

- Reasoning text goes out in ``reasoning_content`` and ``reasoning`` deltas (the middleware's
  ``chat_reasoning_field`` picks one or both: clients read either). A signature (Anthropic thinking,
  Responses ``encrypted_content``) goes out when its block ends, as a delta carrying
  ``reasoning_details: [{"type": "reasoning.text", "text": "", "signature": ..., "index": n}]``;
  redacted reasoning as ``{"type": "reasoning.encrypted", "data": ..., "index": n}``.
- A custom (freeform) tool call becomes a function call whose arguments are ``{"input": raw}``.
  The raw text is held until the call ends and sent as one arguments delta, because a JSON
  string cannot be streamed piecewise without escaping across delta boundaries.
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
from ..._hub.errors import OPENAI_TYPE_BY_TYPE
from ..._hub.sse import format_event
from ._fields import finish_reason, merge_usage, usage_to_chat
from ._render_request import custom_arguments

# Frames are built as bytes: dumped JSON never holds a raw line break, so a frame is
# ``data: `` + JSON + blank line, with no newline scan and no text-to-bytes round trip.
_OPEN_TAIL = b',"logprobs":null,"finish_reason":null}]}\n\n'
_DONE = format_event("[DONE]")
_dumpb = _json.dumpb  # bound once: the backend is chosen when _hub.json is imported
# What a delta's text goes between, after the chunk head, per kind of open block.
_KEYS = {"text": b'{"content":', "refusal": b'{"refusal":'}
_TEXT_END = b"}" + _OPEN_TAIL
_ARGUMENTS_END = b"}}]}" + _OPEN_TAIL


class _Block:
    """What the encoder remembers about one open canonical block."""

    __slots__ = ("kind", "prefix", "suffix", "raw", "detail", "again", "direct")

    def __init__(self, kind: BlockKind, prefix: bytes = b"", suffix: bytes = b"", detail: int = 0) -> None:
        self.kind = kind
        #: Reasoning written to two fields: what goes between the text's first copy and its second.
        self.again = b""
        #: The frame up to a delta's JSON string and after it (empty: the block shows no text).
        #: Tool calls: the prefix holds this call's chat index.
        self.prefix = prefix
        self.suffix = suffix
        #: Custom tool calls: the raw input, held until the call ends.
        self.raw: list[str] | None = None
        #: Reasoning blocks: this block's ``reasoning_details`` index.
        self.detail = detail
        #: A delta is ``prefix`` + its JSON text + ``suffix``: shown, once, and not held.
        self.direct = bool(prefix)


class ChatStreamEncoder:
    """Canonical events -> chat SSE bytes for one client stream."""

    __slots__ = ("_ctx", "_base", "_head", "_done", "_blocks", "_tools", "_details", "_usage", "_plain", "_prefix",
                 "_again", "_suffix")  # fmt: skip

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self._base = b""  # '{"id":..,"object":..,"created":..,"model":..' (no closing brace)
        self._head = b""  # 'data: ' + _base + ',"choices":[{"index":0,"delta":'
        self._done = False
        self._blocks: dict[int, _Block] = {}
        self._tools = 0  # next chat tool_calls index
        self._details = 0  # next reasoning_details index
        self._usage: Usage | None = None
        # The canonical index of the block whose deltas take the shortcut (the last one opened
        # that shows its text as it comes: text, refusal, reasoning, function arguments), and its
        # frame around the delta's JSON text (``_again``: between the two copies of reasoning
        # written to two fields, else empty). What a delta checks first, one comparison for nine
        # frames in ten; None when no such block is open, and once the stream is done.
        self._plain: int | None = None
        self._prefix = self._again = self._suffix = b""

    def encode(self, event: StreamEvent) -> bytes:
        # Exact type checks, most frequent first: this runs once per frame.
        if type(event) is BlockDelta:  # most frames; the bytes lane calls encode_delta directly
            return self.encode_delta(event.index, event.text)
        if self._done:
            return b""
        if type(event) is BlockStart:
            return self._block_start(event)
        if type(event) is BlockStop:
            return self._block_stop(event)
        if type(event) is UsageUpdate:
            self._usage = merge_usage(self._usage, event.usage)
            return b""
        if type(event) is MessageStart:
            return self._message_start(event)
        if type(event) is Finish:
            return self._finish(event)
        assert type(event) is StreamError
        return self._error(event)

    def encode_delta(self, index: int, text: str) -> bytes:
        """``encode(BlockDelta(index, text))`` without the object (the translator's lane): the
        same bytes and the same state, the shortcut only for the :attr:`_plain` block."""
        if index == self._plain and text:
            dumped = _dumpb(text)
            if self._again:
                return self._prefix + dumped + self._again + dumped + self._suffix
            return self._prefix + dumped + self._suffix
        return self._other_delta(index, text)

    def _other_delta(self, index: int, text: str) -> bytes:
        """A delta the shortcut does not write: after the end, for a block not open, empty, held
        or hidden, or for a block opened before the plain one (parallel tool calls)."""
        if self._done:
            return b""
        block = self._blocks.get(index)
        if block is None or not text:
            return b""
        if block.direct:
            return block.prefix + _dumpb(text) + block.suffix
        return self._delta(block, text)

    # -- framing ------------------------------------------------------------------------------

    def _prepare(self, chunk_id: str | None) -> None:
        if self._head:
            return
        ctx = self._ctx
        self._base = (
            f'{{"id":{_json.dumps(chunk_id or ctx.new_id("chatcmpl-"))},"object":"chat.completion.chunk",'
            f'"created":{ctx.now()},"model":{_json.dumps(ctx.client_model)}'
        ).encode()
        self._head = b"data: " + self._base + b',"choices":[{"index":0,"delta":'

    def _frame(self, delta: bytes) -> bytes:
        return self._head + delta + _OPEN_TAIL

    # -- events -------------------------------------------------------------------------------

    def _message_start(self, event: MessageStart) -> bytes:
        self._prepare(event.id)
        if event.usage is not None:
            self._usage = event.usage
        return self._frame(b'{"role":"assistant","content":""}')

    def _block_start(self, event: BlockStart) -> bytes:
        self._prepare(None)
        if event.index == self._plain:  # opened again over an open block: it replaces that one
            self._plain = None
        if event.kind != "tool_call":
            detail = 0
            if event.kind == "reasoning" or event.kind == "redacted_reasoning":
                detail = self._details
                self._details += 1
            fields = self._ctx.reasoning_fields if event.kind == "reasoning" else ()
            key = b'{"%s":' % fields[0].encode() if fields else _KEYS.get(event.kind)
            prefix = self._head + key if key is not None else b""
            block = self._blocks[event.index] = _Block(event.kind, prefix, _TEXT_END, detail)
            if len(fields) > 1:
                block.again = b',"%s":' % fields[1].encode()
                block.direct = False
            if prefix:
                self._plain, self._prefix, self._again, self._suffix = event.index, prefix, block.again, _TEXT_END
            return b""
        tool = self._tools
        self._tools += 1
        prefix = self._head + b'{"tool_calls":[{"index":%d,"function":{"arguments":' % tool
        block = _Block("tool_call", prefix, _ARGUMENTS_END)
        if event.custom:
            block.raw = []
            block.direct = False
        else:
            self._plain, self._prefix, self._again, self._suffix = event.index, prefix, b"", _ARGUMENTS_END
        self._blocks[event.index] = block
        call = {
            "index": tool,
            "id": event.call_id or self._ctx.new_id("call_"),
            "type": "function",
            "function": {"name": event.name or "", "arguments": ""},
        }
        return self._frame(_json.dumpb({"tool_calls": [call]}))

    def _delta(self, block: _Block, piece: str) -> bytes:
        """A delta that is not :attr:`_Block.direct`: held, hidden, or written twice."""
        if block.raw is not None:
            block.raw.append(piece)
            return b""
        if not block.prefix:
            return b""  # redacted reasoning has no text
        text = _dumpb(piece)
        if block.again:
            return block.prefix + text + block.again + text + block.suffix
        return block.prefix + text + block.suffix

    def _block_stop(self, event: BlockStop) -> bytes:
        block = self._blocks.pop(event.index, None)
        if block is None:
            return b""
        if event.index == self._plain:
            self._plain = None
        if block.raw is not None:
            return block.prefix + _json.dumpb(custom_arguments("".join(block.raw))) + block.suffix
        if not event.signature:
            return b""
        detail: dict[str, Any]
        if block.kind == "reasoning":
            detail = {"type": "reasoning.text", "text": "", "signature": event.signature, "index": block.detail}
        elif block.kind == "redacted_reasoning":
            detail = {"type": "reasoning.encrypted", "data": event.signature, "index": block.detail}
        else:
            return b""
        return self._frame(_json.dumpb({"reasoning_details": [detail]}))

    def _finish(self, event: Finish) -> bytes:
        self._prepare(None)
        self._done = True
        self._plain = None
        reason = _json.dumpb(finish_reason(event.reason))
        out = self._head + b'{},"logprobs":null,"finish_reason":' + reason + b"}]}\n\n"
        if self._ctx.request.include_usage:
            usage = usage_to_chat(self._usage or Usage())
            out += b"data: " + self._base + b',"choices":[],"usage":' + _json.dumpb(usage) + b"}\n\n"
        return out + _DONE

    def _error(self, event: StreamError) -> bytes:
        self._done = True
        self._plain = None
        default = "invalid_request_error" if 400 <= event.status < 500 else "server_error"
        error = {
            "message": event.message,
            "type": OPENAI_TYPE_BY_TYPE.get(event.type, default),
            "code": None,
            "param": None,
        }
        return b"data: " + _json.dumpb({"error": error}) + b"\n\n" + _DONE
