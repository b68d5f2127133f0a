"""The Anthropic Messages stream grammar, as the official SDK's ``MessageStream`` relies on it.

https://docs.anthropic.com/en/docs/build-with-claude/streaming: ``message_start`` once and
first; content blocks opened, fed and closed one at a time with indexes 0, 1, 2, ...;
``message_delta`` (stop reason, cumulative usage) after the last block; ``message_stop`` last.
An ``error`` event may end the stream instead, at any point. ``ping`` may appear anywhere.
"""

from __future__ import annotations

import json
from typing import Any

from asgi_translate._hub.sse import ServerSentEvent

from . import FrameChecker, StreamSummary, ToolCall, parse_frames, where

STOP_REASONS = frozenset({"end_turn", "max_tokens", "stop_sequence", "tool_use", "pause_turn", "refusal"})

# Which delta types each block type accepts (server tools stream their input like tool_use).
DELTAS_BY_BLOCK: dict[str, frozenset[str]] = {
    "text": frozenset({"text_delta", "citations_delta"}),
    "thinking": frozenset({"thinking_delta", "signature_delta"}),
    "redacted_thinking": frozenset(),
    "tool_use": frozenset({"input_json_delta"}),
    "server_tool_use": frozenset({"input_json_delta"}),
}


class _Block:
    __slots__ = ("index", "type", "start", "text", "json", "signature")

    def __init__(self, index: int, block: dict[str, Any]) -> None:
        self.index = index
        self.type: str = block["type"]
        self.start = block
        self.text = ""
        self.json = ""
        self.signature = ""


class _MessagesState(FrameChecker):
    """Walks the frames once; every rule is checked at the frame that could break it."""

    def __init__(self) -> None:
        self.summary = StreamSummary()
        self.started = False
        self.delta_seen = False
        self.stopped = False
        self.failed = False
        self.next_index = 0
        self.open: _Block | None = None
        self.output_tokens = -1
        self.at = ""

    def frame(self, number: int, event: ServerSentEvent) -> None:
        self.at = where(number, event)
        self.check(not self.stopped and not self.failed, "frame after the terminal event")
        try:
            data = json.loads(event.data)
        except ValueError:
            self.fail("data is not JSON")
        self.check(isinstance(data, dict), "data is not a JSON object")
        kind = data.get("type")
        self.check(event.event != "", "frame has no event: line")
        self.check(event.event == kind, f"event: line {event.event!r} differs from data.type {kind!r}")
        if kind == "ping":
            return
        if kind == "error":
            self.error(data)
            return
        handler = _HANDLERS.get(kind)
        self.check(handler is not None, f"unknown event type {kind!r}")
        assert handler is not None
        if kind != "message_start":
            self.check(self.started, "message_start must come first")
        handler(self, data)

    def error(self, data: dict[str, Any]) -> None:
        error: Any = data.get("error")
        self.check(isinstance(error, dict), "error event without an error object")
        self.check(isinstance(error.get("type"), str), "error.type must be a string")
        self.check(isinstance(error.get("message"), str), "error.message must be a string")
        self.summary.error = error
        self.failed = True

    def message_start(self, data: dict[str, Any]) -> None:
        self.check(not self.started, "second message_start")
        self.started = True
        message: Any = data.get("message")
        self.check(isinstance(message, dict), "message_start without a message")
        self.check(message.get("type") == "message", "message.type must be 'message'")
        self.check(message.get("role") == "assistant", "message.role must be 'assistant'")
        self.check(isinstance(message.get("id"), str) and message["id"] != "", "message.id must be a non-empty string")
        self.check(isinstance(message.get("model"), str), "message.model must be a string")
        self.check(message.get("content") == [], "message.content must start empty")
        usage: Any = message.get("usage")
        self.check(isinstance(usage, dict), "message.usage must be an object")
        self.check(isinstance(usage.get("input_tokens"), int), "message.usage.input_tokens must be an int")
        self.usage(usage)
        self.summary.id = message["id"]
        self.summary.model = message["model"]

    def usage(self, usage: dict[str, Any]) -> None:
        tokens: Any = usage.get("output_tokens")
        self.check(isinstance(tokens, int), "usage.output_tokens must be an int")
        self.check(tokens >= self.output_tokens, f"output_tokens went down: {self.output_tokens} -> {tokens}")
        self.output_tokens = tokens
        # message_delta usage is cumulative and replaces the fields it names.
        self.summary.usage.update({k: v for k, v in usage.items() if v is not None})

    def block_start(self, data: dict[str, Any]) -> None:
        self.check(not self.delta_seen, "content block after message_delta")
        self.check(self.open is None, f"content_block_start while block {self.open and self.open.index} is open")
        self.check(data.get("index") == self.next_index, f"block index {data.get('index')} != {self.next_index}")
        block: Any = data.get("content_block")
        self.check(isinstance(block, dict) and isinstance(block.get("type"), str), "content_block without a type")
        kind = block["type"]
        self.check(kind in DELTAS_BY_BLOCK or kind.endswith("_tool_result"), f"unknown block type {kind!r}")
        if kind == "tool_use":
            self.check(isinstance(block.get("id"), str) and block["id"] != "", "tool_use without an id")
            self.check(isinstance(block.get("name"), str) and block["name"] != "", "tool_use without a name")
            self.check(block.get("input") == {}, "tool_use input must start as {} (arguments come as deltas)")
        if kind == "redacted_thinking":
            self.check(isinstance(block.get("data"), str), "redacted_thinking without data")
        self.open = _Block(self.next_index, block)
        self.open.text = block.get("text", "") or block.get("thinking", "") or ""
        self.next_index += 1

    def block_delta(self, data: dict[str, Any]) -> None:
        block = self.open
        self.check(block is not None, "content_block_delta with no open block")
        assert block is not None
        self.check(data.get("index") == block.index, f"delta index {data.get('index')} != open block {block.index}")
        delta: Any = data.get("delta")
        self.check(isinstance(delta, dict), "content_block_delta without a delta")
        kind = delta.get("type")
        allowed = DELTAS_BY_BLOCK.get(block.type, frozenset())
        self.check(kind in allowed, f"{kind!r} inside a {block.type!r} block")
        field = _DELTA_FIELD.get(kind)
        if field is None:  # citations_delta carries no text
            return
        value: Any = delta.get(field)
        self.check(isinstance(value, str), f"{kind}.{field} must be a string")
        if kind == "input_json_delta":
            block.json += value
        elif kind == "signature_delta":
            block.signature += value
        else:
            block.text += value

    def block_stop(self, data: dict[str, Any]) -> None:
        block = self.open
        self.check(block is not None, "content_block_stop with no open block")
        assert block is not None
        self.check(data.get("index") == block.index, f"stop index {data.get('index')} != open block {block.index}")
        self.open = None
        self.collect(block)

    def collect(self, block: _Block) -> None:
        summary = self.summary
        if block.type == "text":
            summary.text += block.text
        elif block.type == "thinking":
            summary.reasoning += block.text
            if block.signature:
                summary.signatures.append(block.signature)
        elif block.type == "redacted_thinking":
            summary.redacted.append(block.start["data"])
        elif block.type == "tool_use":
            try:
                json.loads(block.json or "{}")
            except ValueError:
                self.fail(f"tool_use input JSON does not parse: {block.json[:200]!r}")
            summary.tool_calls.append(ToolCall(block.start["id"], block.start["name"], block.json))
        else:
            summary.other_blocks.append(block.type)

    def message_delta(self, data: dict[str, Any]) -> None:
        self.check(not self.delta_seen, "second message_delta")
        self.check(self.open is None, f"message_delta while block {self.open and self.open.index} is open")
        self.delta_seen = True
        delta: Any = data.get("delta")
        self.check(isinstance(delta, dict), "message_delta without a delta")
        reason = delta.get("stop_reason")
        self.check(reason in STOP_REASONS, f"stop_reason {reason!r} is not one of {sorted(STOP_REASONS)}")
        self.summary.stop_reason = reason
        self.summary.stop_sequence = delta.get("stop_sequence")
        if reason == "stop_sequence":
            self.check(isinstance(delta.get("stop_sequence"), str), "stop_sequence reason without the sequence")
        usage: Any = data.get("usage")
        self.check(isinstance(usage, dict), "message_delta without usage")
        self.usage(usage)

    def message_stop(self, data: dict[str, Any]) -> None:
        self.check(self.delta_seen, "message_stop before message_delta")
        self.stopped = True


_DELTA_FIELD = {
    "text_delta": "text",
    "thinking_delta": "thinking",
    "signature_delta": "signature",
    "input_json_delta": "partial_json",
}

_HANDLERS = {
    "message_start": _MessagesState.message_start,
    "content_block_start": _MessagesState.block_start,
    "content_block_delta": _MessagesState.block_delta,
    "content_block_stop": _MessagesState.block_stop,
    "message_delta": _MessagesState.message_delta,
    "message_stop": _MessagesState.message_stop,
}


def validate_messages_stream(raw: bytes) -> StreamSummary:
    """Check ``raw`` against the Messages stream grammar; return what it said."""
    state = _MessagesState()
    frames = parse_frames(raw)
    for number, event in enumerate(frames):
        state.frame(number, event)
    state.at = "end of stream"
    state.check(state.stopped or state.failed, "stream ended without message_stop or an error event")
    state.summary.frames = len(frames)
    return state.summary


def validate_messages_json(body: dict[str, Any]) -> StreamSummary:
    """Check a non-streamed Messages body and return what it said."""
    assert body.get("type") == "message", f"type {body.get('type')!r}"
    assert body.get("role") == "assistant", "role must be 'assistant'"
    assert isinstance(body.get("id"), str) and body["id"], "id must be a non-empty string"
    assert body.get("stop_reason") in STOP_REASONS, f"stop_reason {body.get('stop_reason')!r}"
    usage: Any = body.get("usage")
    assert isinstance(usage, dict) and isinstance(usage.get("input_tokens"), int), "usage.input_tokens"
    assert isinstance(usage.get("output_tokens"), int), "usage.output_tokens must be an int"
    content: Any = body.get("content")
    assert isinstance(content, list), "content must be a list"
    state = _MessagesState()
    summary = state.summary
    summary.id, summary.model, summary.usage = body["id"], body.get("model", ""), usage
    summary.stop_reason, summary.stop_sequence = body["stop_reason"], body.get("stop_sequence")
    for index, raw in enumerate(content):
        assert isinstance(raw, dict) and isinstance(raw.get("type"), str), f"content[{index}] without a type"
        block = _Block(index, raw)
        block.text = raw.get("text") or raw.get("thinking") or ""
        block.signature = raw.get("signature") or ""
        if raw["type"] == "tool_use":
            assert isinstance(raw.get("id"), str) and raw["id"], f"content[{index}] tool_use without an id"
            assert isinstance(raw.get("name"), str) and raw["name"], f"content[{index}] tool_use without a name"
            assert isinstance(raw.get("input"), dict), f"content[{index}] tool_use input must be an object"
            block.json = json.dumps(raw["input"])
        state.collect(block)
    return summary
