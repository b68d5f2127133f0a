"""The stream-grammar validators, validated.

Every recorded upstream stream either passes or fails for the reason asserted here (real servers
bend the grammar in known ways: n=3 choices, usage on the finish chunk, role on every delta, no
[DONE]); and hand-made broken streams are each rejected with the right message.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from conftest import corpus_files
from validators.chat import validate_chat_stream
from validators.messages import validate_messages_stream

from asgi_translate._hub.sse import format_event

# None: the recording passes. A string: a regex the AssertionError must match.
CHAT_EXPECTED: dict[str, str | None] = {
    "deepseek-reasoning-content-stream.sse": r"frame #210 .*usage belongs in its own chunk",
    "deepseek-reasoning-tool-call-stream.sse": r"usage belongs in its own chunk",
    "groq-midstream-error-stream.sse": r"frame #94 .*no event: lines, got 'error'",
    "groq-reasoning-tool-call-stream.sse": r"usage belongs in its own chunk",
    "groq-tool-call-stream.sse": r"usage belongs in its own chunk",
    "openai-length-finish-stream.sse": None,
    "openai-logprobs-stream.sse": None,
    "openai-multiturn-tool-results-stream.sse": None,
    "openai-n3-choices-stream.sse": r"choice index must be 0 \(n=1\)",
    "openai-parallel-tool-calls-stream.sse": None,
    "openai-parallel-tool-calls-usage-stream.sse": None,
    "openai-refusal-logprobs-stream.sse": None,
    "openai-refusal-stream.sse": None,
    "openai-text-stream.sse": None,
    "openai-text-usage-stream.sse": None,
    "openai-tool-call-include-usage-stream.sse": None,
    "openai-tool-call-strict-stream.sse": None,
    "openai-tool-call-usage-stream.sse": None,
    "openai-tool-followup-include-usage-stream.sse": None,
    "openrouter-cached-tokens-stream.sse": r"role repeated after the first delta",
    "openrouter-reasoning-details-stream.sse": r"role repeated after the first delta",
    "qwen-reasoning-content-stream.sse": r"end of stream: stream ended without data: \[DONE\]",
    "qwen-tool-call-stream.sse": r"choice without a finish_reason key",
    "snowflake-reasoning-details-stream.sse": r"id must be a non-empty string",
    "vllm-text-usage-stream.sse": None,
    "xai-grok-reasoning-tool-call-stream.sse": r"choice without a finish_reason key",
    "zai-glm-reasoning-content-stream.sse": r"choice without a finish_reason key",
}

MESSAGES_EXPECTED: dict[str, str | None] = {
    "max-tokens-truncated-tool-use-stream.sse": r"last frame is not terminated by a blank line",
    "tool-use-text-first-stream.sse": r"last frame is not terminated by a blank line",
}


def _outcome(validate: Any, raw: bytes) -> str | None:
    try:
        validate(raw)
    except AssertionError as exc:
        return str(exc)
    return None


def test_every_recording_is_listed() -> None:
    """A new recording must get an expectation here, not slip through unvalidated."""
    assert sorted(p.name for p in corpus_files("chat", ".sse")) == sorted(CHAT_EXPECTED)
    assert len(corpus_files("messages", ".sse")) == 22


@pytest.mark.parametrize("path", corpus_files("chat", ".sse"), ids=lambda p: p.name)
def test_chat_recording(path: Path) -> None:
    expected = CHAT_EXPECTED[path.name]
    outcome = _outcome(validate_chat_stream, path.read_bytes())
    if expected is None:
        assert outcome is None
    else:
        assert outcome is not None and re.search(expected, outcome), outcome


@pytest.mark.parametrize("path", corpus_files("messages", ".sse"), ids=lambda p: p.name)
def test_messages_recording(path: Path) -> None:
    expected = MESSAGES_EXPECTED.get(path.name)
    outcome = _outcome(validate_messages_stream, path.read_bytes())
    if expected is None:
        assert outcome is None
    else:
        assert outcome is not None and re.search(expected, outcome), outcome


def _corpus(schema: str, name: str) -> bytes:
    return next(p for p in corpus_files(schema, ".sse") if p.name == name).read_bytes()


def test_truncated_tool_use_recording_also_leaves_its_block_open() -> None:
    """Past its missing blank line, the max_tokens recording never closes its tool_use block."""
    raw = _corpus("messages", "max-tokens-truncated-tool-use-stream.sse") + b"\n\n"
    with pytest.raises(AssertionError, match="message_delta while block 1 is open"):
        validate_messages_stream(raw)


def test_text_first_recording_passes_once_terminated() -> None:
    summary = validate_messages_stream(_corpus("messages", "tool-use-text-first-stream.sse") + b"\n\n")
    assert summary.stop_reason == "tool_use"
    assert [c.name for c in summary.tool_calls] == ["get_weather"]
    assert json.loads(summary.tool_calls[0].arguments) == {"location": "Paris"}


def test_messages_summary_of_text_stream() -> None:
    summary = validate_messages_stream(_corpus("messages", "text-stream.sse"))
    assert summary.id == "msg_017A4s3HAsrqf5d2WvBmrpLr"
    assert summary.text == "- Captain\n- Scoop"
    assert summary.stop_reason == "end_turn"
    assert summary.usage["output_tokens"] == 10
    assert summary.usage["input_tokens"] == 17


def test_messages_summary_of_parallel_tool_use() -> None:
    summary = validate_messages_stream(_corpus("messages", "parallel-tool-use-stream.sse"))
    assert [c.id for c in summary.tool_calls] == ["toolu_01LtHJmixrs9NcWQkK8hu8hj", "toolu_01N8a4jWyf116qKTMqKKmjyt"]
    assert {c.name for c in summary.tool_calls} == {"pelican_name_generator"}


def test_messages_summary_of_thinking_and_redacted() -> None:
    thinking = validate_messages_stream(_corpus("messages", "thinking-signature-stream.sse"))
    assert len(thinking.signatures) == 1 and thinking.signatures[0].startswith("EvMCCkYICxgCKkCHP2cS")
    assert thinking.reasoning.startswith("This is a straightforward question about") and len(thinking.reasoning) == 202
    redacted = validate_messages_stream(_corpus("messages", "redacted-thinking-stream.sse"))
    assert len(redacted.redacted) == 2 and redacted.reasoning == ""


def test_messages_summary_of_error_fragment() -> None:
    summary = validate_messages_stream(_corpus("messages", "overloaded-error-event-fragment.sse"))
    assert summary.error is not None and summary.error["type"] == "overloaded_error"
    assert summary.stop_reason is None


def test_chat_summary_of_parallel_tool_calls() -> None:
    summary = validate_chat_stream(_corpus("chat", "openai-parallel-tool-calls-usage-stream.sse"))
    assert [(c.id, c.name) for c in summary.tool_calls] == [
        ("call_q2UyBRP7eXNTzAoR8lEhjc9Z", "get_country"),
        ("call_b51ijcpFkDiTQG1bQzsrmtW5", "get_product_name"),
    ]
    assert [c.arguments for c in summary.tool_calls] == ["{}", "{}"]
    assert summary.stop_reason == "tool_calls"
    assert summary.usage["total_tokens"] == summary.usage["prompt_tokens"] + summary.usage["completion_tokens"]


def test_chat_summary_of_refusal() -> None:
    summary = validate_chat_stream(_corpus("chat", "openai-refusal-stream.sse"))
    assert summary.text == ""
    assert summary.refusal.startswith("I'm sorry")


# -- hand-made streams -------------------------------------------------------------------------


def _m(data: dict[str, Any], event: str | None = None) -> bytes:
    return format_event(json.dumps(data), data["type"] if event is None else event)


START = _m(
    {
        "type": "message_start",
        "message": {
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "model": "claude",
            "content": [],
            "usage": {"input_tokens": 3, "output_tokens": 1},
        },
    }
)


def _block(index: int, block: dict[str, Any]) -> bytes:
    return _m({"type": "content_block_start", "index": index, "content_block": block})


def _delta(index: int, delta: dict[str, Any]) -> bytes:
    return _m({"type": "content_block_delta", "index": index, "delta": delta})


def _stop(index: int) -> bytes:
    return _m({"type": "content_block_stop", "index": index})


def _end(reason: str = "end_turn", output_tokens: int = 5) -> bytes:
    delta = {"type": "message_delta", "delta": {"stop_reason": reason}, "usage": {"output_tokens": output_tokens}}
    return _m(delta) + _m({"type": "message_stop"})


TEXT = _block(0, {"type": "text", "text": ""}) + _delta(0, {"type": "text_delta", "text": "hi"}) + _stop(0)
TOOL = (
    _block(1, {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {}})
    + _delta(1, {"type": "input_json_delta", "partial_json": '{"a"'})
    + _delta(1, {"type": "input_json_delta", "partial_json": ": 1}"})
    + _stop(1)
)


def test_handmade_messages_stream_passes() -> None:
    ping = _m({"type": "ping"})
    summary = validate_messages_stream(ping + START + ping + TEXT + TOOL + ping + _end("tool_use"))
    assert summary.text == "hi"
    assert [(c.id, c.name, c.arguments) for c in summary.tool_calls] == [("toolu_1", "f", '{"a": 1}')]
    assert summary.stop_reason == "tool_use"
    assert summary.usage == {"input_tokens": 3, "output_tokens": 5}


def test_messages_error_event_ends_a_stream() -> None:
    error = _m({"type": "error", "error": {"type": "api_error", "message": "boom"}})
    summary = validate_messages_stream(START + _block(0, {"type": "text", "text": ""}) + error)
    assert summary.error == {"type": "api_error", "message": "boom"}


BAD_MESSAGES: dict[str, tuple[bytes, str]] = {
    "two-open-blocks": (
        START + _block(0, {"type": "text", "text": ""}) + _block(1, {"type": "text", "text": ""}),
        "content_block_start while block 0 is open",
    ),
    "missing-message-stop": (
        START
        + TEXT
        + _m({"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 2}}),
        "stream ended without message_stop",
    ),
    "no-terminator": (START + TEXT, "stream ended without message_stop or an error event"),
    "missing-event-line": (START + format_event(json.dumps({"type": "ping"})), "frame has no event: line"),
    "event-line-mismatch": (START + _m({"type": "ping"}, event="message_stop"), "differs from data.type"),
    "message-start-twice": (START + START, "second message_start"),
    "block-before-message-start": (TEXT, "message_start must come first"),
    "index-skips": (START + _block(1, {"type": "text", "text": ""}), "block index 1 != 0"),
    "delta-wrong-index": (
        START + _block(0, {"type": "text", "text": ""}) + _delta(1, {"type": "text_delta", "text": "x"}),
        "delta index 1 != open block 0",
    ),
    "delta-type-mismatch": (
        START + _block(0, {"type": "text", "text": ""}) + _delta(0, {"type": "input_json_delta", "partial_json": ""}),
        "'input_json_delta' inside a 'text' block",
    ),
    "thinking-text-delta": (
        START + _block(0, {"type": "thinking", "thinking": ""}) + _delta(0, {"type": "text_delta", "text": "x"}),
        "'text_delta' inside a 'thinking' block",
    ),
    "bad-tool-json": (
        START
        + _block(0, {"type": "tool_use", "id": "t", "name": "f", "input": {}})
        + _delta(0, {"type": "input_json_delta", "partial_json": '{"a":'})
        + _stop(0),
        "tool_use input JSON does not parse",
    ),
    "tool-without-id": (START + _block(0, {"type": "tool_use", "name": "f", "input": {}}), "tool_use without an id"),
    "stop-reason-unknown": (START + TEXT + _end("stop"), "stop_reason 'stop' is not one of"),
    "message-delta-open-block": (
        START + _block(0, {"type": "text", "text": ""}) + _end(),
        "message_delta while block 0",
    ),
    "output-tokens-decrease": (START + TEXT + _end(output_tokens=0), "output_tokens went down: 1 -> 0"),
    "frame-after-stop": (START + TEXT + _end() + _m({"type": "ping"}), "frame after the terminal event"),
    "frame-after-error": (
        START + _m({"type": "error", "error": {"type": "api_error", "message": "x"}}) + TEXT,
        "frame after the terminal event",
    ),
    "stop-without-delta": (START + TEXT + _m({"type": "message_stop"}), "message_stop before message_delta"),
    "unterminated-last-frame": ((START + TEXT + _end())[:-1], "last frame is not terminated by a blank line"),
    "not-json": (START + b"event: ping\ndata: {oops\n\n", "data is not JSON"),
}


@pytest.mark.parametrize("name", sorted(BAD_MESSAGES))
def test_messages_validator_rejects(name: str) -> None:
    raw, message = BAD_MESSAGES[name]
    with pytest.raises(AssertionError, match=re.escape(message)):
        validate_messages_stream(raw)


def _chunk(delta: dict[str, Any] | None = None, finish: str | None = None, **extra: Any) -> dict[str, Any]:
    chunk: dict[str, Any] = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "gpt"}
    chunk["choices"] = [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}]
    chunk.update(extra)
    return chunk


def _c(*chunks: dict[str, Any] | str) -> bytes:
    return b"".join(format_event(c if isinstance(c, str) else json.dumps(c)) for c in chunks)


ROLE = _chunk({"role": "assistant", "content": ""})
CALL0 = _chunk(
    {"tool_calls": [{"index": 0, "id": "call_a", "type": "function", "function": {"name": "f", "arguments": ""}}]}
)
ARGS0 = _chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"x": 1}'}}]})
USAGE = _chunk(usage={"prompt_tokens": 2, "completion_tokens": 3, "total_tokens": 5})


def test_handmade_chat_stream_passes() -> None:
    summary = validate_chat_stream(
        _c(ROLE, _chunk({"content": "hi"}), CALL0, ARGS0, _chunk({}, "tool_calls"), USAGE, "[DONE]")
    )
    assert summary.text == "hi"
    assert [(c.id, c.name, c.arguments) for c in summary.tool_calls] == [("call_a", "f", '{"x": 1}')]
    assert summary.stop_reason == "tool_calls"
    assert summary.usage == {"prompt_tokens": 2, "completion_tokens": 3, "total_tokens": 5}


def test_chat_error_chunk_then_done_is_a_valid_end() -> None:
    error = {"error": {"message": "boom", "type": "server_error", "code": None}}
    summary = validate_chat_stream(_c(ROLE, _chunk({"content": "h"}), error, "[DONE]"))
    assert summary.error == {"message": "boom", "type": "server_error", "code": None}
    assert summary.text == "h"


def test_chat_length_finish_allows_cut_arguments() -> None:
    cut = _chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"x": '}}]})
    summary = validate_chat_stream(_c(ROLE, CALL0, cut, _chunk({}, "length"), "[DONE]"))
    assert summary.tool_calls[0].arguments == '{"x": '


BAD_CHAT: dict[str, tuple[bytes, str]] = {
    "duplicate-done": (_c(ROLE, _chunk({}, "stop"), "[DONE]", "[DONE]"), "frame after data: [DONE]"),
    "missing-done": (_c(ROLE, _chunk({}, "stop")), "stream ended without data: [DONE]"),
    "done-before-finish": (_c(ROLE, "[DONE]"), "[DONE] before any finish_reason or error chunk"),
    "two-finish-reasons": (
        _c(ROLE, _chunk({}, "stop"), _chunk({}, "stop"), "[DONE]"),
        "content chunk after the finish",
    ),
    "unknown-finish": (_c(ROLE, _chunk({}, "end_turn"), "[DONE]"), "finish_reason 'end_turn' is not one of"),
    "no-role-first": (_c(_chunk({"content": "x"}), _chunk({}, "stop"), "[DONE]"), "first delta must carry role"),
    "role-repeated": (_c(ROLE, _chunk({"role": "assistant"}), "[DONE]"), "role repeated after the first delta"),
    "id-changes": (_c(ROLE, {**_chunk({}, "stop"), "id": "other"}, "[DONE]"), "id changed from 'chatcmpl-1'"),
    "model-changes": (_c(ROLE, {**_chunk({}, "stop"), "model": "x"}, "[DONE]"), "model changed"),
    "wrong-object": (_c({**ROLE, "object": "chat.completion"}), "object 'chat.completion'"),
    "event-line": (format_event(json.dumps(ROLE), "message"), "carry no event: lines"),
    "not-json": (b"data: {nope\n\n", "data is neither JSON nor [DONE]"),
    "usage-before-finish": (_c(ROLE, USAGE, _chunk({}, "stop"), "[DONE]"), "usage chunk (choices: []) before"),
    "usage-twice": (_c(ROLE, _chunk({}, "stop"), USAGE, USAGE, "[DONE]"), "second usage chunk"),
    "usage-bad-total": (
        _c(ROLE, _chunk({}, "stop"), _chunk(usage={"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 5})),
        "usage.total_tokens 5 != 2",
    ),
    "usage-on-content-chunk": (_c({**ROLE, "usage": {"prompt_tokens": 1}}), "usage belongs in its own chunk"),
    "two-choices": (_c({**ROLE, "choices": [ROLE["choices"][0], ROLE["choices"][0]]}), "2 choices in one chunk"),
    "tool-call-without-id": (
        _c(ROLE, _chunk({"tool_calls": [{"index": 0, "type": "function", "function": {"name": "f"}}]})),
        "tool call 0 opens without an id",
    ),
    "tool-call-without-name": (
        _c(ROLE, _chunk({"tool_calls": [{"index": 0, "id": "c", "type": "function", "function": {}}]})),
        "tool call 0 opens without a name",
    ),
    "tool-call-id-repeated": (
        _c(ROLE, CALL0, _chunk({"tool_calls": [{"index": 0, "id": "call_a", "function": {"arguments": "{}"}}]})),
        "id repeated on a later delta",
    ),
    "tool-call-name-repeated": (
        _c(ROLE, CALL0, _chunk({"tool_calls": [{"index": 0, "function": {"name": "f"}}]})),
        "name repeated on a later delta",
    ),
    "tool-call-index-skips": (
        _c(ROLE, _chunk({"tool_calls": [{"index": 1, "id": "c", "type": "function", "function": {"name": "f"}}]})),
        "tool call index 1 skips ahead of 0",
    ),
    "tool-args-not-json": (
        _c(
            ROLE,
            CALL0,
            _chunk({"tool_calls": [{"index": 0, "function": {"arguments": "{"}}]}),
            _chunk({}, "tool_calls"),
        ),
        "arguments do not parse as JSON",
    ),
    "chunk-after-error": (
        _c(ROLE, {"error": {"message": "m", "type": "t"}}, _chunk({}, "stop"), "[DONE]"),
        "only [DONE] may follow an error chunk",
    ),
    "error-without-message": (_c(ROLE, {"error": {"type": "t"}}, "[DONE]"), "error.message must be a string"),
}


@pytest.mark.parametrize("name", sorted(BAD_CHAT))
def test_chat_validator_rejects(name: str) -> None:
    raw, message = BAD_CHAT[name]
    with pytest.raises(AssertionError, match=re.escape(message)):
        validate_chat_stream(raw)
