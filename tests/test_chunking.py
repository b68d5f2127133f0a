"""Property: however the upstream's bytes are cut into body messages, the client gets the same bytes.

The cut may fall mid-line, between ``\\r`` and ``\\n``, or inside a multi-byte UTF-8 character; the
concatenated client output must equal the single-chunk run byte for byte (ids and clock are
deterministic, so any difference is a real state bug in the SSE decoder, a stream decoder or an
encoder).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import corpus_root
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_corpus_replay import translate_stream
from validators.chat import validate_chat_stream
from validators.messages import validate_messages_stream

from asgi_translate._hub.sse import format_event

RECORDINGS = [
    "chat/openai-parallel-tool-calls-stream.sse",
    "chat/openrouter-reasoning-details-stream.sse",
    "chat/snowflake-reasoning-details-stream.sse",
    "chat/deepseek-reasoning-tool-call-stream.sse",
    "messages/thinking-tool-use-stream.sse",
    "messages/parallel-tool-use-stream.sse",
    "messages/redacted-thinking-stream.sse",
]

UNICODE_TEXT = ["h\u00e9", "llo \u4e16", "\u754c \U0001f99c", " caf\u00e9\u2014fin"]


def synthetic_messages(tmp: Path) -> Path:
    """CRLF line endings and 2-, 3- and 4-byte characters, in a Messages stream."""
    frames: list[dict[str, Any]] = [
        {
            "type": "message_start",
            "message": {
                "id": "msg_synthetic",
                "type": "message",
                "role": "assistant",
                "model": "claude",
                "content": [],
                "usage": {"input_tokens": 5, "output_tokens": 1},
            },
        },
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        *(
            {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": t}}
            for t in UNICODE_TEXT
        ),
        {"type": "content_block_stop", "index": 0},
        {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 9}},
        {"type": "message_stop"},
    ]
    raw = b"".join(format_event(json.dumps(f, ensure_ascii=False), f["type"]) for f in frames)
    path = tmp / "messages" / "synthetic-unicode-crlf.sse"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(raw.replace(b"\n", b"\r\n"))
    return path


def synthetic_chat(tmp: Path) -> Path:
    """CRLF line endings and 2-, 3- and 4-byte characters, in a chat stream."""
    head = {"id": "chatcmpl-synthetic", "object": "chat.completion.chunk", "created": 1, "model": "gpt"}
    deltas = [{"role": "assistant", "content": ""}, *({"content": t} for t in UNICODE_TEXT)]
    chunks = [{**head, "choices": [{"index": 0, "delta": d, "finish_reason": None}]} for d in deltas]
    chunks.append({**head, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    usage = {"prompt_tokens": 5, "completion_tokens": 9, "total_tokens": 14}
    chunks.append({**head, "choices": [], "usage": usage})
    raw = b"".join(format_event(json.dumps(c, ensure_ascii=False)) for c in chunks) + format_event("[DONE]")
    path = tmp / "chat" / "synthetic-unicode-crlf.sse"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(raw.replace(b"\n", b"\r\n"))
    return path


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    tmp = tmp_path_factory.mktemp("synthetic")
    return [synthetic_messages(tmp), synthetic_chat(tmp)]


def all_paths(synthetic: list[Path]) -> list[Path]:
    return [corpus_root() / name for name in RECORDINGS] + synthetic


def cut(raw: bytes, cuts: list[int]) -> list[bytes]:
    bounds = [0, *sorted(set(cuts)), len(raw)]
    return [raw[a:b] for a, b in zip(bounds, bounds[1:], strict=False) if b > a]


def validate(path: Path, body: bytes) -> None:
    """The single-chunk output itself must be a valid stream of the client's schema."""
    if path.parent.name == "chat":
        validate_messages_stream(body)
    else:
        validate_chat_stream(body)


def test_synthetic_streams_hold_what_they_claim(synthetic: list[Path]) -> None:
    for path in synthetic:
        raw = path.read_bytes()
        assert b"\r\n" in raw and "\U0001f99c".encode() in raw
        out = translate_stream(path).body
        validate(path, out)
        assert "".join(UNICODE_TEXT).encode() not in raw  # split over several frames...
        assert all(t.encode() in out or json.dumps(t).encode() in out for t in UNICODE_TEXT)  # ...and carried


@pytest.mark.parametrize("index", range(len(RECORDINGS) + 2))
@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_split_gives_identical_output(index: int, data: st.DataObject, synthetic: list[Path]) -> None:
    path = all_paths(synthetic)[index]
    raw = path.read_bytes()
    whole = translate_stream(path).body
    cuts = data.draw(st.lists(st.integers(0, len(raw)), max_size=60), label="cuts")
    assert translate_stream(path, cut(raw, cuts)).body == whole


@pytest.mark.parametrize("index", range(len(RECORDINGS) + 2))
def test_one_byte_chunks_give_identical_output(index: int, synthetic: list[Path]) -> None:
    path = all_paths(synthetic)[index]
    raw = path.read_bytes()
    whole = translate_stream(path).body
    assert translate_stream(path, [raw[i : i + 1] for i in range(len(raw))]).body == whole


@pytest.mark.parametrize("index", [len(RECORDINGS), len(RECORDINGS) + 1])
def test_cuts_between_cr_and_lf_and_inside_characters(index: int, synthetic: list[Path]) -> None:
    path = all_paths(synthetic)[index]
    raw = path.read_bytes()
    whole = translate_stream(path).body
    crlf = [i + 1 for i in range(len(raw) - 1) if raw[i : i + 2] == b"\r\n"]
    inside = [i for i in range(1, len(raw)) if 0x80 <= raw[i] < 0xC0]  # continuation bytes
    assert crlf and inside
    assert translate_stream(path, cut(raw, crlf)).body == whole
    assert translate_stream(path, cut(raw, inside)).body == whole
