"""Canonical stream events -> the Responses event stream a Responses client reads.

The grammar is the one the official SDK's ``responses.stream()`` accumulator checks:
``response.created`` and ``response.in_progress``, then for each output item an
``output_item.added`` ... ``output_item.done`` pair (with ``content_part.added/done`` around
each message part), and exactly one terminal event: ``response.completed``,
``response.incomplete`` or ``response.failed`` (after an ``error`` event, as OpenAI itself
sends), carrying the complete response object. ``output_index`` is the item's position in that
final ``output`` array and ``sequence_number`` comes from one counter.

Reasoning goes out as a reasoning *summary* (``reasoning_summary_part.*`` and
``reasoning_summary_text.*``), not as raw ``reasoning_text``: the summary is what the SDK
accumulates, what Codex CLI and the Agents SDK display, and what clients replay, so the text of an
Anthropic thinking block comes back with its signature (carried in ``encrypted_content``).

Consecutive text and refusal blocks share one message item, as OpenAI's own output does. A call
to a client's custom (freeform) tool went upstream as a function with one ``input`` argument; its
JSON arguments are held until the block ends and sent as the raw input in one delta.
"""

from __future__ import annotations

from typing import Any

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
)
from ..._hub.context import Context
from ..._hub.errors import OPENAI_TYPE_BY_TYPE
from ..._hub.json import dumpb, dumps
from ..._hub.pipeline import LARGE_TEXT, Pieces, join, lazy_frame
from ._fields import keep_id, merge_usage, status_for
from ._response import (
    client_tool,
    custom_call_item,
    encrypted_content,
    function_call_item,
    message_item,
    reasoning_item,
    response_object,
    search_arguments,
    text_content,
    tool_search_call_item,
    unwrap_custom_input,
)

Out = bytes | Pieces

#: A delta frame's end, ``,"sequence_number":N}`` and its blank line, made at import for the first
#: numbers: a lookup costs a fraction of formatting the number for each of nine frames in ten.
#: Made now rather than as streams reach them, so no stream is charged for the table.
#: (A length check, not ``except IndexError``: a raised exception costs more than the format.)
_TAIL = b',"sequence_number":%d}\n\n'
_TAILS_MADE = 2048
_TAILS = [_TAIL % number for number in range(_TAILS_MADE)]


def _tail(sequence: int) -> bytes:
    return _TAILS[sequence] if sequence < _TAILS_MADE else _TAIL % sequence


class _Block:
    """Where one canonical block lives in the output: its item, indexes and text so far."""

    __slots__ = ("kind", "item", "output_index", "content_index", "text", "prefix", "part", "mode", "direct")

    def __init__(self, kind: str, item: dict[str, Any], output_index: int, content_index: int = 0) -> None:
        self.kind = kind
        self.item = item
        self.output_index = output_index
        self.content_index = content_index
        #: The text so far as UTF-8 (surrogates passed through, so decoding gives it back exactly):
        #: a byte per ASCII character, where a list of fragments costs some 60 bytes per delta.
        self.text = bytearray()
        self.prefix = b""  # pre-built start of this block's delta frame, up to the delta value
        self.part: dict[str, Any] | None = None  # the message content part, or the open summary part
        self.mode = ""  # tool calls: "function" | "custom" (raw input) | "unwrap" (held JSON) | "search" (held)
        #: A delta goes out as ``prefix`` + its text and nothing else: not held (``unwrap``,
        #: ``search``) and not a reasoning block still waiting for its summary part.
        self.direct = False


class ResponsesStreamEncoder:
    """One per request. After the terminal event, ``final_response`` holds the response object
    the client saw (the state layer stores it for ``previous_response_id``)."""

    __slots__ = ("_ctx", "_seq", "_id", "_created", "_output", "_blocks", "_message", "_message_index", "_usage",
                 "_done", "_long", "_plain", "_prefix", "_text", "final_response")  # fmt: skip

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self._seq = 0
        self._id = ""
        self._created = 0
        self._output: list[dict[str, Any]] = []
        self._blocks: dict[int, _Block] = {}
        self._message: dict[str, Any] | None = None  # the open message item, if any
        self._message_index = 0
        self._usage: Usage | None = None
        self._done = False
        #: A block's text outgrew LARGE_TEXT: from then on frames are Pieces, each long string
        #: dumped when sent (done events and the final response each repeat the whole output).
        self._long = False
        # The canonical index of the block whose deltas are written directly (the last direct
        # block opened, see _Block.direct), with its frame head and its text so far (the block's
        # own bytearray): what a delta checks first, one comparison for nine frames in ten.
        # None when no such block is open, and once the stream is done.
        self._plain: int | None = None
        self._prefix = b""
        self._text = bytearray()
        self.final_response: dict[str, Any] | None = None

    def encode(self, event: StreamEvent) -> Out:
        kind = type(event)
        if kind is BlockDelta:  # most frames; the bytes lane calls encode_delta directly
            return self.encode_delta(event.index, event.text)  # type: ignore[union-attr]
        if self._done:
            return b""
        if kind is BlockStart:
            return self._ensure_started() + self._block_start(event)  # type: ignore[arg-type]
        if kind is BlockStop:
            return self._block_stop(event)  # type: ignore[arg-type]
        if kind is UsageUpdate:
            self._usage = merge_usage(self._usage, event.usage)  # type: ignore[union-attr,arg-type]
            return b""
        if kind is MessageStart:
            return self._start(event.id)  # type: ignore[union-attr]
        if kind is Finish:
            return self._ensure_started() + self._finish(event)  # type: ignore[arg-type]
        if kind is StreamError:
            return self._ensure_started() + self._fail(event)  # type: ignore[arg-type]
        return b""

    def encode_delta(self, index: int, text: str) -> Out:
        """``encode(BlockDelta(index, text))`` without the object (the translator's lane): the
        same bytes and the same state, the shortcut only for the :attr:`_plain` block."""
        if index == self._plain and text:
            try:
                self._text += text.encode()
            except UnicodeEncodeError:  # a lone surrogate (the stdlib parser lets "\ud800" through)
                self._text += text.encode("utf-8", "surrogatepass")
            sequence = self._seq
            self._seq = sequence + 1
            # _tail inline (a call costs more)
            return self._prefix + dumpb(text) + (_TAILS[sequence] if sequence < _TAILS_MADE else _TAIL % sequence)
        return self._other_delta(index, text)

    def _other_delta(self, index: int, text: str) -> Out:
        """A delta the shortcut does not write: after the end, for a block not open, empty, held,
        the first of a reasoning summary, or for a direct block other than the last one opened
        (parallel tool calls)."""
        if self._done:
            return b""
        block = self._blocks.get(index)
        if block is None or not text:
            return b""
        return self._delta(index, block, text)

    def _make_plain(self, index: int, block: _Block) -> None:
        """Send ``block``'s deltas the short way from now on (it is direct)."""
        self._plain = index
        self._prefix = block.prefix
        self._text = block.text

    # -- framing ------------------------------------------------------------------------------

    def _next_sequence_number(self) -> int:
        number = self._seq
        self._seq += 1
        return number

    def _emit(self, payload: dict[str, Any]) -> Out:
        """One event frame, built as bytes: dumped JSON never holds a raw line break, so the frame
        needs no newline scan and no text-to-bytes round trip."""
        payload["sequence_number"] = self._next_sequence_number()
        event_type: str = payload["type"]
        if self._long:
            return lazy_frame(event_type, payload)
        return b"event: " + event_type.encode() + b"\ndata: " + dumpb(payload) + b"\n\n"

    def _delta_prefix(self, event_type: str, fields: dict[str, Any]) -> bytes:
        """``event: ...\\ndata: {...,"delta":`` for one block, built once: each delta then costs one
        dump of its text and no dict."""
        head = dumps({"type": event_type, **fields})
        return f'event: {event_type}\ndata: {head[:-1]},"delta":'.encode()

    # -- lifecycle ----------------------------------------------------------------------------

    def _start(self, upstream_id: str) -> Out:
        if self._id:
            return b""
        self._id = upstream_id if upstream_id.startswith("resp_") else self._ctx.new_id("resp_")
        self._created = self._ctx.now()
        # Both events carry the same snapshot: built and dumped once, before the first byte.
        response = dumpb(self._snapshot("in_progress"))
        out: Out = b""
        for event_type in (b"response.created", b"response.in_progress"):
            out += b'event: %b\ndata: {"type":"%b","response":%b,"sequence_number":%d}\n\n' % (
                event_type,
                event_type,
                response,
                self._next_sequence_number(),
            )
        return out

    def _ensure_started(self) -> Out:
        return b"" if self._id else self._start("")

    def _snapshot(self, status: str, **extra: Any) -> dict[str, Any]:
        return response_object(self._ctx, self._id, self._created, status, list(self._output), self._usage, **extra)

    def _finish(self, event: Finish) -> Out:
        out = self._close_everything()
        status, incomplete = status_for(event.reason)
        response = self._snapshot(status, incomplete_details=incomplete)
        self.final_response = response
        self._done = True
        event_type = "response.completed" if status == "completed" else "response.incomplete"
        return out + self._emit({"type": event_type, "response": response})

    def _fail(self, event: StreamError) -> Out:
        """OpenAI's own failure form: an ``error`` event, then ``response.failed`` with the items
        so far (unfinished ones marked incomplete). The SDK then raises instead of returning."""
        for block in self._blocks.values():
            if "status" in block.item:
                block.item["status"] = "incomplete"
        if self._message is not None:
            self._message["status"] = "incomplete"
        self._plain = None  # the blocks stay open in the failed response; no delta follows
        limited = event.type == "rate_limit_error"
        code = "rate_limit_exceeded" if limited else OPENAI_TYPE_BY_TYPE.get(event.type) or "server_error"
        out = self._emit({"type": "error", "code": code, "message": event.message, "param": None})
        # ``Response.error.code`` is one of a fixed list (ResponseErrorCode); the error event's is free.
        failed = "rate_limit_exceeded" if limited else "server_error"
        response = self._snapshot("failed", error={"code": failed, "message": event.message})
        self.final_response = response
        self._done = True
        return out + self._emit({"type": "response.failed", "response": response})

    def _close_everything(self) -> Out:
        """Defensive: a well-formed canonical stream stopped every block before Finish."""
        out = join([self._block_stop(BlockStop(index)) for index in sorted(self._blocks)])
        return out + self._close_message()

    # -- items --------------------------------------------------------------------------------

    def _item_added(self, item: dict[str, Any], output_index: int) -> Out:
        return self._emit({"type": "response.output_item.added", "output_index": output_index, "item": item})

    def _item_done(self, item: dict[str, Any], output_index: int) -> Out:
        return self._emit({"type": "response.output_item.done", "output_index": output_index, "item": item})

    def _close_message(self) -> Out:
        message = self._message
        if message is None:
            return b""
        self._message = None
        message["status"] = "completed"
        return self._item_done(message, self._message_index)

    def _block_start(self, event: BlockStart) -> Out:
        if event.index == self._plain:  # opened again over an open block: it replaces that one
            self._plain = None
        if event.kind in ("text", "refusal"):
            return self._open_part(event)
        out = self._close_message()
        if event.kind == "tool_call":
            return out + self._open_tool_call(event)
        return out + self._open_reasoning(event)

    def _open_part(self, event: BlockStart) -> Out:
        out: Out = b""
        message = self._message
        if message is None:
            message = self._message = message_item(self._ctx.new_id("msg_"), "in_progress")
            self._message_index = len(self._output)
            self._output.append(message)
            out += self._item_added(message, self._message_index)
        output_index = self._message_index
        block = _Block(event.kind, message, output_index, len(message["content"]))
        block.part = text_content(event.kind, "")
        block.direct = True
        message["content"].append(block.part)
        fields = {"item_id": message["id"], "output_index": output_index, "content_index": block.content_index}
        if event.kind == "text":
            block.prefix = self._delta_prefix("response.output_text.delta", {**fields, "logprobs": []})
        else:
            block.prefix = self._delta_prefix("response.refusal.delta", fields)
        self._blocks[event.index] = block
        self._make_plain(event.index, block)
        return out + self._emit({"type": "response.content_part.added", **fields, "part": dict(block.part)})

    def _open_reasoning(self, event: BlockStart) -> Out:
        item = reasoning_item(keep_id(event.item_id, "rs_", self._ctx), [], None)
        output_index = len(self._output)
        self._output.append(item)
        block = _Block(event.kind, item, output_index)
        block.prefix = self._delta_prefix(
            "response.reasoning_summary_text.delta",
            {"item_id": item["id"], "output_index": output_index, "summary_index": 0},
        )
        self._blocks[event.index] = block
        return self._item_added(item, output_index)

    def _open_tool_call(self, event: BlockStart) -> Out:
        call_id = event.call_id or self._ctx.new_id("call_")
        name = event.name or ""
        output_index = len(self._output)
        client = client_tool(self._ctx, name)
        if event.custom or client.kind == "custom":
            item = custom_call_item(keep_id(event.item_id, "ctc_", self._ctx), call_id, client, "", "in_progress")
            event_type = "response.custom_tool_call_input.delta"
            mode = "custom" if event.custom else "unwrap"
        elif client.kind == "tool_search":
            item = tool_search_call_item(keep_id(event.item_id, "ts_", self._ctx), call_id, {}, "in_progress")
            event_type, mode = "", "search"  # the spec has no delta events for it: the item comes whole
        else:
            item = function_call_item(keep_id(event.item_id, "fc_", self._ctx), call_id, client, "", "in_progress")
            event_type, mode = "response.function_call_arguments.delta", "function"
        self._output.append(item)
        block = _Block("tool_call", item, output_index)
        block.mode = mode
        block.direct = mode == "function" or mode == "custom"
        block.prefix = self._delta_prefix(event_type, {"item_id": item["id"], "output_index": output_index})
        self._blocks[event.index] = block
        if block.direct:
            self._make_plain(event.index, block)
        return self._item_added(dict(item), output_index)

    # -- deltas -------------------------------------------------------------------------------

    def _delta(self, index: int, block: _Block, text: str) -> Out:
        """A non-empty delta for an open block that is not :attr:`_plain`: held, the first of a
        summary (which makes the block plain), or a direct block opened before the plain one."""
        block.text += text.encode("utf-8", "surrogatepass")
        if block.mode == "unwrap" or block.mode == "search":
            return b""  # sent whole at the end, once the JSON wrapper can be removed (or parsed)
        out: Out = b""
        if block.kind == "reasoning" and block.part is None:
            out = self._open_summary(index, block)
        sequence = self._next_sequence_number()  # taken before the dump, which may raise
        return out + (block.prefix + dumpb(text) + _tail(sequence))

    def _open_summary(self, index: int, block: _Block) -> Out:
        block.part = {"type": "summary_text", "text": ""}
        block.direct = True
        self._make_plain(index, block)
        return self._emit(
            {
                "type": "response.reasoning_summary_part.added",
                "item_id": block.item["id"],
                "output_index": block.output_index,
                "summary_index": 0,
                "part": dict(block.part),
            }
        )

    # -- stops --------------------------------------------------------------------------------

    def _block_stop(self, event: BlockStop) -> Out:
        block = self._blocks.pop(event.index, None)
        if block is None:
            return b""
        if event.index == self._plain:
            self._plain = None
            self._text = bytearray()  # its text is dropped below, and must not live on here
        if len(block.text) > LARGE_TEXT:
            self._long = True
        text = block.text.decode("utf-8", "surrogatepass")
        block.text = bytearray()  # one copy of a long text is enough
        if block.kind in ("text", "refusal"):
            return self._stop_part(block, text)
        if block.kind == "tool_call":
            return self._stop_tool_call(block, text)
        return self._stop_reasoning(block, text, encrypted_content(event.signature, block.kind == "redacted_reasoning"))

    def _stop_part(self, block: _Block, text: str) -> Out:
        assert block.part is not None
        fields = {"item_id": block.item["id"], "output_index": block.output_index, "content_index": block.content_index}
        if block.kind == "text":
            block.part["text"] = text
            out = self._emit({"type": "response.output_text.done", **fields, "text": text, "logprobs": []})
        else:
            block.part["refusal"] = text
            out = self._emit({"type": "response.refusal.done", **fields, "refusal": text})
        return out + self._emit({"type": "response.content_part.done", **fields, "part": block.part})

    def _stop_reasoning(self, block: _Block, text: str, encrypted: str | None) -> Out:
        item = block.item
        out: Out = b""
        if block.part is not None:
            fields = {"item_id": item["id"], "output_index": block.output_index, "summary_index": 0}
            block.part["text"] = text
            out += self._emit({"type": "response.reasoning_summary_text.done", **fields, "text": text})
            out += self._emit({"type": "response.reasoning_summary_part.done", **fields, "part": block.part})
            item["summary"] = [block.part]
        if encrypted is not None:
            item["encrypted_content"] = encrypted
        return out + self._item_done(item, block.output_index)

    def _stop_tool_call(self, block: _Block, text: str) -> Out:
        item = block.item
        fields = {"item_id": item["id"], "output_index": block.output_index}
        out: Out = b""
        if block.mode == "function":
            if not text:  # a call without arguments: "" is not JSON, and clients json.loads it
                text = "{}"
                out += b'%b"{}","sequence_number":%d}\n\n' % (block.prefix, self._next_sequence_number())
            item["arguments"] = text
            out += self._emit({"type": "response.function_call_arguments.done", **fields, "arguments": text})
        elif block.mode == "search":
            item["arguments"] = search_arguments(text)
        else:
            raw = unwrap_custom_input(text) if block.mode == "unwrap" else text
            if block.mode == "unwrap" and raw:
                out += self._emit({"type": "response.custom_tool_call_input.delta", **fields, "delta": raw})
            item["input"] = raw
            out += self._emit({"type": "response.custom_tool_call_input.done", **fields, "input": raw})
        item["status"] = "completed"
        return out + self._item_done(item, block.output_index)
