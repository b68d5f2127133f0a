"""Synthetic upstream streams in each schema's wire form, shaped like the recorded corpus.

Every stream tells the same story so the three schemas are comparable: a reasoning section, an
answer in many 1-4 token text frames, one tool call whose JSON arguments arrive in small pieces,
then the finish and a usage frame. The frame layouts (field order, ``usage: null`` on every chat
chunk, ``obfuscation`` padding, Responses ``sequence_number`` and the full-text ``*.done``
events) copy the recordings in ``shared/corpus``, because the cost per frame depends on those
bytes and not on the story.

This module is stdlib only: the peers' environment (``benchmarks/.venv``) imports it too.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from typing import Any

SCHEMAS = ("chat", "messages", "responses")
DIRECTIONS = (
    ("chat", "messages"),
    ("chat", "responses"),
    ("messages", "chat"),
    ("messages", "responses"),
    ("responses", "chat"),
    ("responses", "messages"),
)

#: Share of the variable frames given to each section (the rest of a stream is fixed overhead).
REASONING_SHARE = 0.15
TOOL_SHARE = 0.10

# Token-sized pieces (1-4 tokens each): words with their leading space, punctuation, digits,
# newlines, and some non-ASCII so the JSON encoders do their UTF-8 work.
_WORDS = (
    " the",
    " a",
    " of",
    " to",
    " and",
    " in",
    " is",
    " that",
    " for",
    " it",
    " with",
    " as",
    " request",
    " model",
    " server",
    " stream",
    " token",
    " latency",
    " function",
    " value",
    " however",
    " because",
    " therefore",
    " example",
    " answer",
    " result",
    " data",
    " cache",
    ",",
    ".",
    ":",
    ";",
    " (",
    ")",
    " -",
    "\n",
    "\n\n",
    " 1",
    " 42",
    " 3.14",
    " 2024",
    " café",
    " naïve",
    " —",
    " ü",
    " 東京",
    " 🙂",
    " ≥",
    "ing",
    "ed",
    "ly",
    "s",
    "'s",
    " Let",
    " me",
    " check",
    " First",
    " Then",
    " Finally",
    " We",
    " need",
    " consider",
)
# Argument text pieces: no quote or backslash, so that joining them inside a JSON string is valid.
_ARG_WORDS = (
    "San",
    " Francisco",
    ",",
    " CA",
    " weather",
    " today",
    " and",
    " tomorrow",
    " in",
    " °C",
    "src",
    "/",
    "main",
    ".py",
    " def",
    " run",
    "()",
    ":",
    " return",
    " 1",
    "0",
    "42",
    " x",
)

CHAT_ID = "chatcmpl-BenchStream0000000000000001"
MESSAGES_ID = "msg_01BenchStream00000000001"
RESPONSES_ID = "resp_0bench0000000000000000000000000000000000000001"
CALL_ID = "call_BenchToolCall00000000001"
TOOLU_ID = "toolu_01BenchToolCall000000001"
FC_ID = "fc_0bench00000000000000000000000000000000000000001"
RS_ID = "rs_0bench00000000000000000000000000000000000000001"
MSG_ITEM_ID = "msg_0bench00000000000000000000000000000000000000001"
TOOL_NAME = "get_weather"
CREATED = 1_758_034_836
SIGNATURE = "EoQDCm0IDhgCKkCDzGs2kL2PgnDCZU/nM2wG2P1VIXCRHVnhDDzBQxNF1fl4QBXEKLxRItNJ2MwFdW9eeZPhsxSQ" * 3
ENCRYPTED = "gAAAAABoyXusnBzv6TRLFFsi09D2XC4A5Jod6AOAtsnxA4Vdp6sHIAr4B0UwlKwAdOwh-Lx6LtdwrxGK9" * 8

#: Frames that are not reasoning, text or argument deltas, per schema (see the generators).
OVERHEAD = {"chat": 5, "messages": 11, "responses": 16}


@dataclass(frozen=True)
class Story:
    """What the model says, independent of the wire form."""

    reasoning: list[str]
    text: list[str]
    args: list[str]  # pieces of the tool call's JSON arguments; "".join(args) is valid JSON

    @property
    def arguments(self) -> str:
        return "".join(self.args)


def story(variable_frames: int, seed: int = 7) -> Story:
    """Split ``variable_frames`` delta frames into reasoning, text and argument pieces."""
    rng = random.Random(seed)
    n_reason = max(1, int(variable_frames * REASONING_SHARE))
    n_args = max(4, int(variable_frames * TOOL_SHARE))
    n_text = max(1, variable_frames - n_reason - n_args)
    reasoning = [_token(rng) for _ in range(n_reason)]
    text = [_token(rng) for _ in range(n_text)]
    middle = ["".join(rng.choice(_ARG_WORDS) for _ in range(rng.randint(1, 3))) for _ in range(n_args - 4)]
    args = ['{"', "query", '":"', *middle, '"}']
    return Story(reasoning, text, args)


def _token(rng: random.Random) -> str:
    return "".join(rng.choice(_WORDS) for _ in range(rng.randint(1, 3)))


def _dump(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _sse(data: str, event: str | None = None) -> bytes:
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {data}\n\n".encode()


def _pad(i: int) -> str:
    """OpenAI's ``obfuscation`` field: random-length padding that hides the token length."""
    return "qfQVOwfh62oUstXk"[: 4 + i % 12]


# ------------------------------------------------------------------------------------------
# Chat Completions (DeepSeek-style reasoning_content, OpenAI-style tool call and usage chunk)


def chat_frames(s: Story) -> list[bytes]:
    """One SSE frame per list item, ``data: [DONE]`` last."""
    frames: list[bytes] = []

    def chunk(delta: dict[str, object], finish: str | None = None, i: int = 0) -> bytes:
        body = {
            "id": CHAT_ID,
            "object": "chat.completion.chunk",
            "created": CREATED,
            "model": "gpt-bench-2025",
            "system_fingerprint": "fp_d0469e1700",
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
            "usage": None,
            "obfuscation": _pad(i),
        }
        return _sse(_dump(body))

    frames.append(chunk({"role": "assistant", "content": None, "reasoning_content": ""}))
    frames += [chunk({"content": None, "reasoning_content": t}, i=i) for i, t in enumerate(s.reasoning)]
    frames += [chunk({"content": t}, i=i) for i, t in enumerate(s.text)]
    start = {"index": 0, "id": CALL_ID, "type": "function", "function": {"name": TOOL_NAME, "arguments": ""}}
    frames.append(chunk({"tool_calls": [start]}))
    frames += [chunk({"tool_calls": [{"index": 0, "function": {"arguments": a}}]}, i=i) for i, a in enumerate(s.args)]
    frames.append(chunk({}, "tool_calls"))
    usage = {
        "id": CHAT_ID,
        "object": "chat.completion.chunk",
        "created": CREATED,
        "model": "gpt-bench-2025",
        "system_fingerprint": "fp_d0469e1700",
        "choices": [],
        "usage": {
            "prompt_tokens": 1200,
            "completion_tokens": len(frames),
            "total_tokens": 1200 + len(frames),
            "prompt_tokens_details": {"cached_tokens": 1024, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": len(s.reasoning), "audio_tokens": 0},
        },
        "obfuscation": "khVgg3RsaN",
    }
    frames.append(_sse(_dump(usage)))
    frames.append(b"data: [DONE]\n\n")
    return frames


# ------------------------------------------------------------------------------------------
# Anthropic Messages (thinking with signature, text, tool_use with input_json_delta)


def messages_frames(s: Story) -> list[bytes]:
    frames: list[bytes] = []

    def ev(kind: str, body: dict[str, object]) -> None:
        frames.append(_sse(_dump({"type": kind, **body}), kind))

    usage0 = {
        "input_tokens": 176,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 1024,
        "output_tokens": 8,
        "service_tier": "standard",
    }
    message: dict[str, object] = {
        "model": "claude-bench-4-5",
        "id": MESSAGES_ID,
        "type": "message",
        "role": "assistant",
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": usage0,
    }
    ev("message_start", {"message": message})
    ev("content_block_start", {"index": 0, "content_block": {"type": "thinking", "thinking": "", "signature": ""}})
    ev("ping", {})
    for t in s.reasoning:
        ev("content_block_delta", {"index": 0, "delta": {"type": "thinking_delta", "thinking": t}})
    ev("content_block_delta", {"index": 0, "delta": {"type": "signature_delta", "signature": SIGNATURE}})
    ev("content_block_stop", {"index": 0})
    ev("content_block_start", {"index": 1, "content_block": {"type": "text", "text": ""}})
    for t in s.text:
        ev("content_block_delta", {"index": 1, "delta": {"type": "text_delta", "text": t}})
    ev("content_block_stop", {"index": 1})
    tool = {"type": "tool_use", "id": TOOLU_ID, "name": TOOL_NAME, "input": {}}
    ev("content_block_start", {"index": 2, "content_block": tool})
    for a in s.args:
        ev("content_block_delta", {"index": 2, "delta": {"type": "input_json_delta", "partial_json": a}})
    ev("content_block_stop", {"index": 2})
    usage1 = {
        "input_tokens": 176,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 1024,
        "output_tokens": len(frames),
    }
    ev("message_delta", {"delta": {"stop_reason": "tool_use", "stop_sequence": None}, "usage": usage1})
    ev("message_stop", {})
    return frames


# ------------------------------------------------------------------------------------------
# OpenAI Responses (reasoning summary with encrypted_content, message, function call)


def _response(status: str, output: list[dict[str, Any]], usage: dict[str, object] | None) -> dict[str, object]:
    return {
        "id": RESPONSES_ID,
        "object": "response",
        "created_at": CREATED,
        "status": status,
        "background": False,
        "error": None,
        "incomplete_details": None,
        "instructions": None,
        "max_output_tokens": None,
        "model": "gpt-bench-2025",
        "output": output,
        "parallel_tool_calls": True,
        "previous_response_id": None,
        "reasoning": {"effort": "low", "summary": "auto"},
        "service_tier": "default",
        "store": False,
        "temperature": 1.0,
        "text": {"format": {"type": "text"}, "verbosity": "medium"},
        "tool_choice": "auto",
        "tools": [
            {
                "type": "function",
                "name": TOOL_NAME,
                "description": "Weather for a place",
                "parameters": {"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]},
                "strict": False,
            }
        ],
        "top_p": 1.0,
        "truncation": "disabled",
        "usage": usage,
        "user": None,
        "metadata": {},
    }


def responses_frames(s: Story) -> list[bytes]:
    frames: list[bytes] = []

    def ev(kind: str, body: dict[str, object]) -> None:
        frames.append(_sse(_dump({"type": kind, "sequence_number": len(frames), **body}), kind))

    summary = "".join(s.reasoning)
    text = "".join(s.text)
    rs_open = {"id": RS_ID, "type": "reasoning", "encrypted_content": ENCRYPTED, "summary": []}
    rs_done = {**rs_open, "summary": [{"type": "summary_text", "text": summary}]}
    msg_open = {"id": MSG_ITEM_ID, "type": "message", "status": "in_progress", "content": [], "role": "assistant"}
    part = {"type": "output_text", "annotations": [], "logprobs": [], "text": text}
    msg_done = {**msg_open, "status": "completed", "content": [part]}
    fc_open = {"id": FC_ID, "type": "function_call", "status": "in_progress", "arguments": "", "call_id": CALL_ID}
    fc_open["name"] = TOOL_NAME
    fc_done = {**fc_open, "status": "completed", "arguments": s.arguments}

    ev("response.created", {"response": _response("in_progress", [], None)})
    ev("response.in_progress", {"response": _response("in_progress", [], None)})
    ev("response.output_item.added", {"output_index": 0, "item": rs_open})
    rs = {"item_id": RS_ID, "output_index": 0, "summary_index": 0}
    ev("response.reasoning_summary_part.added", {**rs, "part": {"type": "summary_text", "text": ""}})
    for i, t in enumerate(s.reasoning):
        ev("response.reasoning_summary_text.delta", {**rs, "delta": t, "obfuscation": _pad(i)})
    ev("response.reasoning_summary_text.done", {**rs, "text": summary})
    ev("response.reasoning_summary_part.done", {**rs, "part": {"type": "summary_text", "text": summary}})
    ev("response.output_item.done", {"output_index": 0, "item": rs_done})
    ev("response.output_item.added", {"output_index": 1, "item": msg_open})
    mi = {"item_id": MSG_ITEM_ID, "output_index": 1, "content_index": 0}
    ev("response.content_part.added", {**mi, "part": {**part, "text": ""}})
    for i, t in enumerate(s.text):
        ev("response.output_text.delta", {**mi, "delta": t, "logprobs": [], "obfuscation": _pad(i)})
    ev("response.output_text.done", {**mi, "text": text, "logprobs": []})
    ev("response.content_part.done", {**mi, "part": part})
    ev("response.output_item.done", {"output_index": 1, "item": msg_done})
    ev("response.output_item.added", {"output_index": 2, "item": fc_open})
    for i, a in enumerate(s.args):
        body = {"item_id": FC_ID, "output_index": 2, "delta": a, "obfuscation": _pad(i)}
        ev("response.function_call_arguments.delta", body)
    ev("response.function_call_arguments.done", {"item_id": FC_ID, "output_index": 2, "arguments": s.arguments})
    ev("response.output_item.done", {"output_index": 2, "item": fc_done})
    usage = {
        "input_tokens": 1200,
        "input_tokens_details": {"cached_tokens": 1024, "cache_write_tokens": 0},
        "output_tokens": len(frames),
        "output_tokens_details": {"reasoning_tokens": len(s.reasoning)},
        "total_tokens": 1200 + len(frames),
    }
    ev("response.completed", {"response": _response("completed", [rs_done, msg_done, fc_done], usage)})
    return frames


_GENERATORS = {"chat": chat_frames, "messages": messages_frames, "responses": responses_frames}


def frames(schema: str, n: int, seed: int = 7) -> list[bytes]:
    """Exactly ``n`` SSE frames (n >= 40) of an upstream stream in ``schema``'s wire form."""
    if n < 40:
        raise ValueError("a stream needs at least 40 frames to hold every section")
    # responses_frames and chat_frames add the overhead frames around the story's deltas
    out = _GENERATORS[schema](story(n - OVERHEAD[schema], seed))
    assert len(out) == n, (schema, n, len(out))
    return out


# ------------------------------------------------------------------------------------------
# Client requests that ask each schema for a stream, and one large request per schema.

_TOOL_PARAMS = {"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]}


def stream_request(schema: str) -> dict[str, object]:
    """The smallest realistic streaming request a client of ``schema`` sends."""
    question = "What is the weather in San Francisco? Think first."
    if schema == "chat":
        tools = [{"type": "function", "function": {"name": TOOL_NAME, "parameters": _TOOL_PARAMS}}]
        return {
            "model": "bench-model",
            "messages": [{"role": "user", "content": question}],
            "tools": tools,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
    if schema == "messages":
        return {
            "model": "bench-model",
            "max_tokens": 4096,
            "messages": [{"role": "user", "content": question}],
            "tools": [{"name": TOOL_NAME, "input_schema": _TOOL_PARAMS}],
            "stream": True,
        }
    return {
        "model": "bench-model",
        "input": question,
        "tools": [{"type": "function", "name": TOOL_NAME, "parameters": _TOOL_PARAMS}],
        "stream": True,
    }


def large_request(schema: str, turns: int = 50, seed: int = 11) -> dict[str, object]:
    """About ``4 * turns`` messages: user text, assistant text + tool call, tool result, reply."""
    rng = random.Random(seed)

    def words(k: int) -> str:
        return "".join(rng.choice(_WORDS) for _ in range(k)).strip() or "ok"

    body = stream_request(schema)
    body["stream"] = False
    body.pop("stream_options", None)
    items: list[dict[str, object]] = []
    for t in range(turns):
        call_id = f"call_{t:04d}"
        args = _dump({"query": words(6)})
        result = words(60)
        items += _turn(schema, words(40), words(30), call_id, args, result, words(50))
    if schema == "chat":
        body["messages"] = [{"role": "system", "content": words(80)}, *items]
    elif schema == "messages":
        body["system"] = words(80)
        body["messages"] = items
    else:
        body["instructions"] = words(80)
        body["input"] = items
    return body


def _turn(
    schema: str, ask: str, lead: str, call_id: str, args: str, result: str, reply: str
) -> list[dict[str, object]]:
    """One user question, a tool round trip and the answer, as four (or five) wire items."""
    if schema == "chat":
        call = {"id": call_id, "type": "function", "function": {"name": TOOL_NAME, "arguments": args}}
        return [
            {"role": "user", "content": ask},
            {"role": "assistant", "content": lead, "tool_calls": [call]},
            {"role": "tool", "tool_call_id": call_id, "content": result},
            {"role": "assistant", "content": reply},
        ]
    if schema == "messages":
        use = {"type": "tool_use", "id": "toolu_" + call_id, "name": TOOL_NAME, "input": json.loads(args)}
        res = {"type": "tool_result", "tool_use_id": "toolu_" + call_id, "content": result}
        return [
            {"role": "user", "content": ask},
            {"role": "assistant", "content": [{"type": "text", "text": lead}, use]},
            {"role": "user", "content": [res]},
            {"role": "assistant", "content": [{"type": "text", "text": reply}]},
        ]
    return [
        {"role": "user", "content": ask},
        {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": lead}]},
        {"type": "function_call", "call_id": call_id, "name": TOOL_NAME, "arguments": args},
        {"type": "function_call_output", "call_id": call_id, "output": result},
        {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": reply}]},
    ]


# ------------------------------------------------------------------------------------------
# Validation against the official SDKs' models (run once, not timed).


def _events(stream: list[bytes]) -> list[tuple[str, str]]:
    """(event, data) pairs; every generated frame is one event with one data line."""
    out = []
    for frame in stream:
        lines = frame.decode().rstrip("\n").split("\n")
        event = lines[0][len("event: ") :] if lines[0].startswith("event: ") else ""
        out.append((event, lines[-1][len("data: ") :]))
    return out


def validate(schema: str, stream: list[bytes]) -> int:
    """Parse every frame with the schema's official SDK model; returns how many were checked.

    Raises on the first frame the SDK rejects, so a malformed generator cannot produce numbers.
    """
    events = _events(stream)
    if schema == "chat":
        from openai.types.chat import ChatCompletionChunk

        assert events[-1][1] == "[DONE]"
        for _, data in events[:-1]:
            ChatCompletionChunk.model_validate_json(data)
        return len(events) - 1
    if schema == "messages":
        from anthropic.types import RawMessageStreamEvent
        from pydantic import TypeAdapter

        adapter: TypeAdapter[object] = TypeAdapter(RawMessageStreamEvent)
        checked = 0
        for event, data in events:
            if event != "ping":
                parsed = adapter.validate_json(data)
                assert getattr(parsed, "type", None) == event, (event, parsed)
                checked += 1
        return checked
    from openai.types.responses import ResponseStreamEvent
    from pydantic import TypeAdapter

    r_adapter: TypeAdapter[object] = TypeAdapter(ResponseStreamEvent)
    for event, data in events:
        parsed = r_adapter.validate_json(data)
        assert getattr(parsed, "type", None) == event, (event, parsed)
    return len(events)
