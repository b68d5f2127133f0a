"""The Chat Completions stream grammar, as the official ``openai`` SDK's stream helpers rely on it.

Every frame is a bare ``data:`` line (no ``event:``) holding a ``chat.completion.chunk`` or the
literal ``[DONE]``, which comes once and last. The SDK merges deltas by concatenating strings
(``openai/lib/streaming/_deltas.py``), so a tool call's ``id`` and ``name`` belong on the first
delta of its index only, and ``role`` on the first delta only: a repeated value would be glued
onto itself. One choice (n=1); exactly one ``finish_reason``; then an optional usage chunk with
``choices: []``. The failure form is a chunk ``{"error": {...}}`` followed by ``[DONE]``.
"""

from __future__ import annotations

import json
from typing import Any

from asgi_translate._hub.sse import ServerSentEvent

from . import FrameChecker, StreamSummary, ToolCall, parse_frames, where

FINISH_REASONS = frozenset({"stop", "length", "tool_calls", "content_filter", "function_call"})


class _ChatState(FrameChecker):
    """Walks the frames once; every rule is checked at the frame that could break it."""

    def __init__(self) -> None:
        self.summary = StreamSummary()
        self.chunks = 0
        self.created: Any = None
        self.role_seen = False
        self.finished = False
        self.usage_seen = False
        self.failed = False
        self.done = False
        self.at = ""

    def frame(self, number: int, event: ServerSentEvent) -> None:
        self.at = where(number, event)
        self.check(not self.done, "frame after data: [DONE]")
        self.check(event.event == "", f"chat streams carry no event: lines, got {event.event!r}")
        if event.data == "[DONE]":
            self.check(self.finished or self.failed, "[DONE] before any finish_reason or error chunk")
            self.done = True
            return
        self.check(not self.failed, "only [DONE] may follow an error chunk")
        try:
            chunk = json.loads(event.data)
        except ValueError:
            self.fail("data is neither JSON nor [DONE]")
        self.check(isinstance(chunk, dict), "chunk is not a JSON object")
        if "error" in chunk:
            self.error(chunk["error"])
            return
        self.header(chunk)
        choices = chunk.get("choices")
        self.check(isinstance(choices, list), "chunk without a choices list")
        if not choices:
            self.usage_chunk(chunk)
            return
        self.check(not self.usage_seen, "choices after the usage chunk")
        self.check(chunk.get("usage") is None, "usage belongs in its own chunk with choices: []")
        self.check(len(choices) == 1, f"{len(choices)} choices in one chunk (n>1 is not supported)")
        self.choice(choices[0])

    def error(self, error: Any) -> None:
        self.check(isinstance(error, dict), "error chunk without an error object")
        self.check(isinstance(error.get("message"), str), "error.message must be a string")
        self.check(isinstance(error.get("type"), str), "error.type must be a string")
        self.summary.error = error
        self.failed = True

    def header(self, chunk: dict[str, Any]) -> None:
        self.check(chunk.get("object") == "chat.completion.chunk", f"object {chunk.get('object')!r}")
        self.check(isinstance(chunk.get("id"), str) and chunk["id"] != "", "id must be a non-empty string")
        self.check(isinstance(chunk.get("model"), str), "model must be a string")
        self.check(isinstance(chunk.get("created"), int), "created must be an int")
        if self.chunks == 0:
            self.summary.id, self.summary.model, self.created = chunk["id"], chunk["model"], chunk["created"]
        self.check(chunk["id"] == self.summary.id, f"id changed from {self.summary.id!r} to {chunk['id']!r}")
        self.check(chunk["model"] == self.summary.model, f"model changed from {self.summary.model!r}")
        self.check(chunk["created"] == self.created, f"created changed from {self.created!r}")
        self.chunks += 1

    def usage_chunk(self, chunk: dict[str, Any]) -> None:
        self.check(self.finished, "usage chunk (choices: []) before the finish_reason chunk")
        self.check(not self.usage_seen, "second usage chunk")
        usage: Any = chunk.get("usage")
        self.check(isinstance(usage, dict), "chunk with choices: [] but no usage")
        for key in ("prompt_tokens", "completion_tokens", "total_tokens"):
            self.check(isinstance(usage.get(key), int), f"usage.{key} must be an int")
        total = usage["prompt_tokens"] + usage["completion_tokens"]
        self.check(usage["total_tokens"] == total, f"usage.total_tokens {usage['total_tokens']} != {total}")
        self.usage_seen = True
        self.summary.usage = usage

    def choice(self, choice: Any) -> None:
        self.check(isinstance(choice, dict) and choice.get("index") == 0, "choice index must be 0 (n=1)")
        self.check(not self.finished, "content chunk after the finish_reason chunk")
        delta: Any = choice.get("delta")
        self.check(isinstance(delta, dict), "choice without a delta object")
        self.check("finish_reason" in choice, "choice without a finish_reason key")
        if not self.role_seen:
            self.check(delta.get("role") == "assistant", "first delta must carry role 'assistant'")
            self.role_seen = True
        else:
            self.check(delta.get("role") is None, "role repeated after the first delta (the SDK concatenates it)")
        self.content(delta)
        for call in delta.get("tool_calls") or ():
            self.tool_call(call)
        reason = choice["finish_reason"]
        if reason is not None:
            self.check(reason in FINISH_REASONS, f"finish_reason {reason!r} is not one of {sorted(FINISH_REASONS)}")
            self.finish(reason)

    def content(self, delta: dict[str, Any]) -> None:
        summary = self.summary
        for key in ("content", "reasoning_content", "reasoning", "refusal"):
            self.check(delta.get(key) is None or isinstance(delta[key], str), f"delta.{key} must be a string")
        summary.text += delta.get("content") or ""
        summary.refusal += delta.get("refusal") or ""
        details = delta.get("reasoning_details") or []
        self.check(isinstance(details, list), "reasoning_details must be a list")
        if isinstance(delta.get("reasoning_content"), str):
            summary.reasoning += delta["reasoning_content"]
        elif isinstance(delta.get("reasoning"), str):
            summary.reasoning += delta["reasoning"]
        else:
            summary.reasoning += "".join(d.get("text") or "" for d in details if d.get("type") == "reasoning.text")
        for detail in details:
            self.check(isinstance(detail, dict) and isinstance(detail.get("type"), str), "reasoning_details entry")
            if detail.get("signature"):
                summary.signatures.append(detail["signature"])
            if detail["type"] == "reasoning.encrypted":
                self.check(isinstance(detail.get("data"), str), "reasoning.encrypted without data")
                summary.redacted.append(detail["data"])

    def tool_call(self, call: Any) -> None:
        self.check(isinstance(call, dict) and isinstance(call.get("index"), int), "tool_calls entry without an index")
        index = call["index"]
        calls = self.summary.tool_calls
        function = call.get("function") or {}
        self.check(isinstance(function, dict), "tool_calls[].function must be an object")
        if index == len(calls):  # first delta of a new call
            self.check(isinstance(call.get("id"), str) and call["id"] != "", f"tool call {index} opens without an id")
            self.check(call.get("type") == "function", f"tool call {index} opens without type 'function'")
            name: Any = function.get("name")
            self.check(isinstance(name, str) and name != "", f"tool call {index} opens without a name")
            calls.append(ToolCall(call["id"], name, ""))
        else:
            self.check(0 <= index < len(calls), f"tool call index {index} skips ahead of {len(calls)}")
            self.check(not call.get("id"), f"tool call {index}: id repeated on a later delta (the SDK concatenates it)")
            self.check(not function.get("name"), f"tool call {index}: name repeated on a later delta")
        arguments = function.get("arguments")
        self.check(arguments is None or isinstance(arguments, str), "function.arguments must be a string")
        calls[index].arguments += arguments or ""

    def finish(self, reason: str) -> None:
        self.finished = True
        self.summary.stop_reason = reason
        if reason == "length":  # a call cut by the token budget may hold half its JSON
            return
        for call in self.summary.tool_calls:
            try:
                json.loads(call.arguments)
            except ValueError:
                self.fail(f"tool call {call.id}: arguments do not parse as JSON: {call.arguments[:200]!r}")


def validate_chat_stream(raw: bytes) -> StreamSummary:
    """Check ``raw`` against the Chat Completions stream grammar; return what it said."""
    state = _ChatState()
    frames = parse_frames(raw)
    for number, event in enumerate(frames):
        state.frame(number, event)
    state.at = "end of stream"
    state.check(state.done, "stream ended without data: [DONE]")
    state.summary.frames = len(frames)
    return state.summary


def validate_chat_json(body: dict[str, Any]) -> StreamSummary:
    """Check a non-streamed ``chat.completion`` body (one choice) and return what it said."""
    assert body.get("object") == "chat.completion", f"object {body.get('object')!r}"
    assert isinstance(body.get("id"), str) and body["id"], "id must be a non-empty string"
    assert isinstance(body.get("created"), int), "created must be an int"
    choices: Any = body.get("choices")
    assert isinstance(choices, list) and len(choices) == 1, "exactly one choice expected"
    choice = choices[0]
    assert choice.get("index") == 0, "choice index must be 0"
    assert choice.get("finish_reason") in FINISH_REASONS, f"finish_reason {choice.get('finish_reason')!r}"
    message: Any = choice.get("message")
    assert isinstance(message, dict) and message.get("role") == "assistant", "message.role must be 'assistant'"
    summary = StreamSummary(id=body["id"], model=body.get("model", ""), stop_reason=choice["finish_reason"])
    state = _ChatState()
    state.summary = summary
    state.content(message)
    for index, call in enumerate(message.get("tool_calls") or ()):
        function = call.get("function") or {}
        assert isinstance(call.get("id"), str) and call["id"], f"tool_calls[{index}] without an id"
        assert call.get("type") == "function", f"tool_calls[{index}].type must be 'function'"
        assert isinstance(function.get("name"), str) and function["name"], f"tool_calls[{index}] without a name"
        assert isinstance(function.get("arguments"), str), f"tool_calls[{index}].arguments must be a string"
        summary.tool_calls.append(ToolCall(call["id"], function["name"], function["arguments"]))
    if summary.stop_reason != "length":
        state.finish(summary.stop_reason or "stop")
    usage: Any = body.get("usage")
    if usage is not None:
        assert isinstance(usage, dict), "usage must be an object"
        total = usage.get("prompt_tokens", 0) + usage.get("completion_tokens", 0)
        assert usage.get("total_tokens") == total, f"usage.total_tokens {usage.get('total_tokens')} != {total}"
        summary.usage = usage
    return summary
