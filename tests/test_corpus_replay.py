"""Every recorded chat and messages response, replayed through TranslateMiddleware into the other schema.

A tiny inner app answers the upstream path with the recorded bytes; the client's output must pass
its schema's grammar validator and say what the upstream said: the same text, reasoning,
signatures, tool call ids, names and arguments, the mapped stop reason and the mapped usage
(cache tokens included). Driven at the ASGI message level; ids and clock are deterministic.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import pytest
from conftest import FIXED_TIME, corpus_files, counting_ids
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from validators import StreamSummary, ToolCall
from validators.chat import validate_chat_json, validate_chat_stream
from validators.messages import validate_messages_json, validate_messages_stream

from asgi_translate import TranslateMiddleware
from asgi_translate._hub.sse import SSEDecoder

CHAT_PATH = "/v1/chat/completions"
MESSAGES_PATH = "/v1/messages"
USER = [{"role": "user", "content": "hi"}]


def chat_request(stream: bool = True) -> dict[str, Any]:
    body: dict[str, Any] = {"model": "client-model", "messages": USER, "stream": stream}
    if stream:
        body["stream_options"] = {"include_usage": True}
    return body


def messages_request(stream: bool = True) -> dict[str, Any]:
    return {"model": "client-model", "max_tokens": 256, "messages": USER, "stream": stream}


# -- ASGI harness -------------------------------------------------------------------------------


def recorded_app(
    chunks: list[bytes],
    *,
    path: str,
    status: int = 200,
    content_type: bytes = b"text/event-stream",
    seen: list[tuple[Scope, Message]] | None = None,
) -> ASGIApp:
    """An inner app that answers ``POST path`` with ``chunks``, one body message each."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        assert scope["type"] == "http" and scope["path"] == path, scope.get("path")
        request = await receive()
        if seen is not None:
            seen.append((scope, request))
        await send({"type": "http.response.start", "status": status, "headers": [(b"content-type", content_type)]})
        for i, chunk in enumerate(chunks):
            await send({"type": "http.response.body", "body": chunk, "more_body": i < len(chunks) - 1})

    return app


def middleware(app: ASGIApp, upstream: str) -> TranslateMiddleware:
    return TranslateMiddleware(app, upstream=upstream, id_factory=counting_ids(), clock=lambda: FIXED_TIME)  # type: ignore[arg-type]


def http_scope(path: str, body: bytes) -> Scope:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        "client": ("127.0.0.1", 1234),
        "server": ("testserver", 80),
    }


async def call_async(app: ASGIApp, path: str, body: bytes) -> list[Message]:
    sent: list[Message] = []
    pending = [{"type": "http.request", "body": body, "more_body": False}]

    async def receive() -> Message:
        return pending.pop(0) if pending else {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    await app(http_scope(path, body), receive, send)
    return sent


def call(app: ASGIApp, path: str, request: dict[str, Any]) -> list[Message]:
    """Run one request through ``app`` and collect every message it sent."""
    body = json.dumps(request).encode()
    return anyio.run(call_async, app, path, body)


@dataclass
class Reply:
    status: int
    headers: dict[bytes, bytes]
    body: bytes
    bodies: list[Message]


def reply(sent: list[Message]) -> Reply:
    """The client's view of ``sent``, checking the ASGI message order on the way."""
    assert sent and sent[0]["type"] == "http.response.start", sent[:1]
    bodies = sent[1:]
    assert bodies and all(m["type"] == "http.response.body" for m in bodies)
    assert [m.get("more_body", False) for m in bodies] == [True] * (len(bodies) - 1) + [False]
    headers = dict(sent[0]["headers"])
    return Reply(sent[0]["status"], headers, b"".join(m.get("body", b"") for m in bodies), bodies)


def translate_stream(path: Path, chunks: list[bytes] | None = None) -> Reply:
    """Replay a recorded stream of one schema to a client of the other."""
    raw = path.read_bytes()
    if path.parent.name == "chat":
        app = middleware(recorded_app(chunks or [raw], path=CHAT_PATH), "chat")
        return reply(call(app, MESSAGES_PATH, messages_request()))
    app = middleware(recorded_app(chunks or [raw], path=MESSAGES_PATH), "messages")
    return reply(call(app, CHAT_PATH, chat_request()))


# -- what the upstream said (lenient readers: real recordings bend the grammar) -------------------


def frames(raw: bytes) -> list[Any]:
    decoder = SSEDecoder()
    events = decoder.decode(raw) + decoder.flush()
    return [(e.event, json.loads(e.data)) for e in events if e.data != "[DONE]"]


def _chat_delta(summary: StreamSummary, calls: dict[int, ToolCall], delta: dict[str, Any]) -> None:
    summary.text += delta.get("content") or ""
    summary.refusal += delta.get("refusal") or ""
    details = delta.get("reasoning_details") or []
    if delta.get("reasoning_content") is not None:
        summary.reasoning += delta["reasoning_content"]
    elif delta.get("reasoning") is not None:
        summary.reasoning += delta["reasoning"]
    else:
        summary.reasoning += "".join(d.get("text") or "" for d in details if d.get("type") == "reasoning.text")
    summary.signatures += [d["signature"] for d in details if d.get("signature")]
    summary.redacted += [d["data"] for d in details if d.get("type") == "reasoning.encrypted"]
    for call in delta.get("tool_calls") or ():
        entry = calls.setdefault(call.get("index", len(calls)), ToolCall("", "", ""))
        function = call.get("function") or {}
        entry.id = entry.id or call.get("id") or ""
        entry.name = entry.name or function.get("name") or ""
        entry.arguments += function.get("arguments") or ""


def chat_upstream(raw: bytes) -> StreamSummary:
    summary = StreamSummary()
    calls: dict[int, ToolCall] = {}
    for event, chunk in frames(raw):
        if event == "error" or "error" in chunk:
            summary.error = chunk["error"]
            continue
        summary.usage = chunk.get("usage") or summary.usage
        summary.id = summary.id or chunk.get("id") or ""
        for choice in chunk.get("choices") or ():
            if choice.get("index", 0) == 0:
                _chat_delta(summary, calls, choice.get("delta") or {})
                summary.stop_reason = choice.get("finish_reason") or summary.stop_reason
    summary.tool_calls = [calls[i] for i in sorted(calls)]
    return summary


def messages_upstream(raw: bytes) -> StreamSummary:
    summary = StreamSummary()
    blocks: dict[int, dict[str, Any]] = {}
    for _, data in frames(raw):
        kind = data["type"]
        if kind == "message_start":
            summary.usage.update(data["message"]["usage"])
            summary.id = data["message"]["id"]
        elif kind == "content_block_start":
            blocks[data["index"]] = {**data["content_block"], "json": "", "sig": ""}
        elif kind == "content_block_delta":
            block, delta = blocks[data["index"]], data["delta"]
            block["text" if "text" in delta else "thinking"] = block.get("text", block.get("thinking", "")) + (
                delta.get("text") or delta.get("thinking") or ""
            )
            block["json"] += delta.get("partial_json") or ""
            block["sig"] += delta.get("signature") or ""
        elif kind == "message_delta":
            summary.stop_reason = data["delta"]["stop_reason"]
            summary.usage.update({k: v for k, v in data["usage"].items() if v is not None})
        elif kind == "error":
            summary.error = data["error"]
    for _, block in sorted(blocks.items()):
        _collect_block(summary, block)
    return summary


def _collect_block(summary: StreamSummary, block: dict[str, Any]) -> None:
    if block["type"] == "text":
        summary.text += block.get("text", "")
    elif block["type"] == "thinking":
        summary.reasoning += block.get("thinking", "")
        summary.signatures += [block["sig"]] if block["sig"] else []
    elif block["type"] == "redacted_thinking":
        summary.redacted.append(block["data"])
    elif block["type"] == "tool_use":
        summary.tool_calls.append(ToolCall(block["id"], block["name"], block["json"]))
    else:
        summary.other_blocks.append(block["type"])


# -- mappings the translation must apply ---------------------------------------------------------

CHAT_TO_MESSAGES_STOP = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "refusal",
    None: "end_turn",
}
MESSAGES_TO_CHAT_STOP = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}


def arguments(call: ToolCall) -> Any:
    """Arguments as a value: an Anthropic tool with no input streams ``""``, which means ``{}``."""
    try:
        return json.loads(call.arguments or "{}")
    except ValueError:
        return call.arguments  # a call cut by max_tokens: the raw text must still match


def calls(summary: StreamSummary) -> list[tuple[str, str, Any]]:
    return [(c.id, c.name, arguments(c)) for c in summary.tool_calls]


def cached(usage: dict[str, Any]) -> int:
    """Cache reads: OpenAI's ``cached_tokens``, or DeepSeek's ``prompt_cache_hit_tokens``."""
    details = usage.get("prompt_tokens_details") or {}
    return int(details.get("cached_tokens") or usage.get("prompt_cache_hit_tokens") or 0)


def assert_messages_usage(got: dict[str, Any], chat: dict[str, Any]) -> None:
    """Anthropic input_tokens excludes cache reads and writes; OpenAI prompt_tokens includes them.
    xAI leaves reasoning out of completion_tokens but not out of total_tokens: the total wins."""
    writes = int((chat.get("prompt_tokens_details") or {}).get("cache_write_tokens") or 0)
    output = max(chat["completion_tokens"], chat.get("total_tokens", 0) - chat["prompt_tokens"])
    assert got["output_tokens"] == output
    assert got["input_tokens"] == chat["prompt_tokens"] - cached(chat) - writes
    assert got.get("cache_read_input_tokens", 0) == cached(chat)
    assert got.get("cache_creation_input_tokens", 0) == writes


def assert_chat_usage(got: dict[str, Any], messages: dict[str, Any]) -> None:
    reads = messages.get("cache_read_input_tokens") or 0
    writes = messages.get("cache_creation_input_tokens") or 0
    assert got["prompt_tokens"] == messages["input_tokens"] + reads + writes
    assert got["completion_tokens"] == messages["output_tokens"]
    assert cached(got) == reads


def assert_same_content(got: StreamSummary, expected: StreamSummary) -> None:
    assert got.text == expected.text
    assert got.reasoning == expected.reasoning
    assert got.signatures == expected.signatures
    assert got.redacted == expected.redacted
    assert calls(got) == calls(expected)


# -- streams ------------------------------------------------------------------------------------

CHAT_STREAMS = corpus_files("chat", ".sse")
MESSAGES_STREAMS = corpus_files("messages", ".sse")


@pytest.mark.parametrize("path", CHAT_STREAMS, ids=lambda p: p.name)
def test_chat_stream_to_messages_client(path: Path) -> None:
    out = translate_stream(path)
    assert out.status == 200
    assert out.headers[b"content-type"] == b"text/event-stream"
    assert b"content-length" not in out.headers
    got = validate_messages_stream(out.body)
    # chat_upstream reads choice 0 only: n=3 is never asked by a translated client.
    expected = chat_upstream(path.read_bytes())
    assert got.id == (expected.id or "chatcmpl-test0001")  # upstream id kept; a fresh one when it was ""
    assert got.model == "client-model"
    if expected.error is not None:
        assert got.error is not None and got.error["message"] == expected.error["message"]
        assert got.stop_reason is None
    else:
        assert got.error is None
        assert got.stop_reason == CHAT_TO_MESSAGES_STOP[expected.stop_reason]
    # Messages has no refusal block: a chat refusal reaches the client as text.
    assert_same_content(got, StreamSummary(**{**expected.__dict__, "text": expected.text + expected.refusal}))
    if expected.usage:
        assert_messages_usage(got.usage, expected.usage)


# A tool_use whose input is empty (parallel-tool-use, thinking-tool-use, tool-use) streams no
# partial_json or only ""; the chat client must still get "arguments": "{}", never "".
@pytest.mark.parametrize("path", MESSAGES_STREAMS, ids=lambda p: p.name)
def test_messages_stream_to_chat_client(path: Path) -> None:
    out = translate_stream(path)
    assert out.status == 200
    assert out.headers[b"content-type"] == b"text/event-stream"
    assert b"content-length" not in out.headers
    got = validate_chat_stream(out.body)
    expected = messages_upstream(path.read_bytes())
    if expected.id:
        assert got.id == expected.id
        assert got.model == "client-model"
    if expected.error is not None:
        assert got.error is not None and got.error["message"] == expected.error["message"]
        return
    assert got.error is None
    assert got.stop_reason == MESSAGES_TO_CHAT_STOP[expected.stop_reason or ""]
    assert_same_content(got, expected)
    assert_chat_usage(got.usage, expected.usage)


# -- JSON responses -----------------------------------------------------------------------------


def _is_error(path: Path) -> bool:
    return "error" in path.name


CHAT_JSON = [p for p in corpus_files("chat", ".json") if not p.name.endswith(".request.json") and not _is_error(p)]
MESSAGES_JSON = [
    p for p in corpus_files("messages", ".json") if not p.name.endswith(".request.json") and not _is_error(p)
]


def translate_json(path: Path, *, status: int = 200) -> Reply:
    raw = path.read_bytes()
    if path.parent.name == "chat":
        app = recorded_app([raw], path=CHAT_PATH, status=status, content_type=b"application/json")
        return reply(call(middleware(app, "chat"), MESSAGES_PATH, messages_request(stream=False)))
    app = recorded_app([raw], path=MESSAGES_PATH, status=status, content_type=b"application/json")
    return reply(call(middleware(app, "messages"), CHAT_PATH, chat_request(stream=False)))


def _json_reply(out: Reply) -> dict[str, Any]:
    assert out.headers[b"content-type"] == b"application/json"
    assert int(out.headers[b"content-length"]) == len(out.body)
    assert len(out.bodies) == 1
    body: dict[str, Any] = json.loads(out.body)
    return body


@pytest.mark.parametrize("path", CHAT_JSON, ids=lambda p: p.name)
def test_chat_json_to_messages_client(path: Path) -> None:
    out = translate_json(path)
    assert out.status == 200
    body = _json_reply(out)
    got = validate_messages_json(body)
    upstream = json.loads(path.read_bytes())
    expected = validate_chat_json(upstream)
    assert body["model"] == "client-model"
    assert got.stop_reason == CHAT_TO_MESSAGES_STOP[expected.stop_reason]
    assert_same_content(got, StreamSummary(**{**expected.__dict__, "text": expected.text + expected.refusal}))
    assert_messages_usage(got.usage, upstream["usage"])


@pytest.mark.parametrize("path", MESSAGES_JSON, ids=lambda p: p.name)
def test_messages_json_to_chat_client(path: Path) -> None:
    out = translate_json(path)
    assert out.status == 200
    body = _json_reply(out)
    got = validate_chat_json(body)
    upstream = json.loads(path.read_bytes())
    expected = validate_messages_json(upstream)
    assert body["model"] == "client-model"
    assert got.stop_reason == MESSAGES_TO_CHAT_STOP[expected.stop_reason or ""]
    assert_same_content(got, expected)
    assert_chat_usage(got.usage, upstream["usage"])


# -- error bodies -------------------------------------------------------------------------------

CHAT_ERRORS = [p for p in corpus_files("chat", ".json") if _is_error(p) and not p.name.endswith(".request.json")]
MESSAGES_ERRORS = [
    p for p in corpus_files("messages", ".json") if _is_error(p) and not p.name.endswith(".request.json")
]


def recorded_status(path: Path) -> int:
    """The HTTP status the MANIFEST gives each error recording is also in its file name."""
    match = re.search(r"error-(\d{3})", path.name)
    assert match, path.name
    return int(match.group(1))


# Anthropic error type the client must see for each chat error recording.
CHAT_ERROR_TYPES = {
    "error-400-invalid-request.json": "invalid_request_error",
    "error-400-model-not-supported.json": "invalid_request_error",
    "error-400-unsupported-parameter.json": "invalid_request_error",
    "groq-error-400-tool-use-failed.json": "invalid_request_error",
    "groq-error-404-model.json": "not_found_error",
    "openrouter-error-429.json": "rate_limit_error",
}
# OpenAI error type the client must see for each messages error recording.
MESSAGES_ERROR_TYPES = {
    "error-400-invalid-request.json": "invalid_request_error",
    "error-400-tool-result-validation.json": "invalid_request_error",
    "error-404-not-found.json": "not_found_error",
    "error-429-rate-limit.json": "rate_limit_error",
}


@pytest.mark.parametrize("path", CHAT_ERRORS, ids=lambda p: p.name)
def test_chat_error_to_messages_envelope(path: Path) -> None:
    status = recorded_status(path)
    out = translate_json(path, status=status)
    assert out.status == status
    body = _json_reply(out)
    upstream = json.loads(path.read_bytes())
    assert body["type"] == "error"
    assert body["error"]["type"] == CHAT_ERROR_TYPES[path.name]
    # OpenRouter hides the provider's words in error.metadata.raw; they may be appended.
    assert body["error"]["message"].startswith(upstream["error"]["message"])


@pytest.mark.parametrize("path", MESSAGES_ERRORS, ids=lambda p: p.name)
def test_messages_error_to_chat_envelope(path: Path) -> None:
    status = recorded_status(path)
    out = translate_json(path, status=status)
    assert out.status == status
    body = _json_reply(out)
    upstream = json.loads(path.read_bytes())
    assert body["error"]["type"] == MESSAGES_ERROR_TYPES[path.name]
    assert body["error"]["message"] == upstream["error"]["message"]


def test_every_error_recording_has_an_expected_type() -> None:
    assert sorted(p.name for p in CHAT_ERRORS) == sorted(CHAT_ERROR_TYPES)
    assert sorted(p.name for p in MESSAGES_ERRORS) == sorted(MESSAGES_ERROR_TYPES)


# -- body message boundaries ---------------------------------------------------------------------


def split_frames(raw: bytes) -> list[bytes]:
    """The recording cut after every blank line: one upstream body message per frame."""
    pieces = re.split(rb"(?<=\n\n)", raw)
    return [p for p in pieces if p]


@pytest.mark.parametrize(
    "path",
    [
        p
        for p in CHAT_STREAMS + MESSAGES_STREAMS
        if p.name in ("openai-parallel-tool-calls-stream.sse", "text-stream.sse")
    ],
    ids=lambda p: p.name,
)
def test_frame_per_body_message_gives_same_bytes(path: Path) -> None:
    whole = translate_stream(path)
    pieces = split_frames(path.read_bytes())
    assert len(pieces) > 5
    framed = translate_stream(path, pieces)
    assert framed.body == whole.body
    # One output message per upstream message at most (empty outputs skipped), plus the final one.
    assert len(framed.bodies) <= len(pieces) + 1
    assert len(framed.bodies) > 2
