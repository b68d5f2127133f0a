"""StreamTranslator: the loop from upstream bytes to client bytes, chunk by chunk."""

from __future__ import annotations

import json
import logging

import pytest
from conftest import make_context
from validators.chat import validate_chat_stream
from validators.responses import validate_responses_stream

from asgi_translate._hub.canonical import Message, Request, TextPart
from asgi_translate._hub.pipeline import StreamTranslator, as_bytes
from asgi_translate._hub.routes import SchemaName
from asgi_translate.schemas import get_codec

# One upstream body chunk holding several Messages frames, the last one broken.
GOOD = (
    b'event: message_start\ndata: {"type":"message_start","message":{"id":"msg_1","model":"m",'
    b'"usage":{"input_tokens":3,"output_tokens":0}}}\n\n'
    b'event: content_block_start\ndata: {"type":"content_block_start","index":0,'
    b'"content_block":{"type":"text","text":""}}\n\n'
    b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,'
    b'"delta":{"type":"text_delta","text":"Hi"}}\n\n'
)
BROKEN = b"event: content_block_delta\ndata: {oops\n\n"


def translator(client: SchemaName) -> StreamTranslator:
    request = Request(model="m", messages=[Message(role="user", content=[TextPart("hello")])], stream=True)
    ctx = make_context(request)
    return StreamTranslator(get_codec("messages").decoder(ctx), get_codec(client).encoder(ctx))


def test_frames_before_a_broken_one_in_the_same_chunk_go_out_before_the_failure() -> None:
    """The encoder has already seen the good frames, so the client must see them too: its
    failure form (a response.failed listing the started message) refers to them."""
    t = translator("responses")
    out = as_bytes(t.feed(GOOD + BROKEN))
    assert t.done and t.frames_in == 4
    assert t.feed(GOOD) == b"" and t.finish() == b""
    events = validate_responses_stream(out)
    types = [e["type"] for e in events]
    assert types[-2:] == ["error", "response.failed"]
    assert [e["delta"] for e in events if e["type"] == "response.output_text.delta"] == ["Hi"]
    [message] = events[-1]["response"]["output"]
    assert message["status"] == "incomplete" and message["content"][0]["text"] == ""


def test_a_chat_client_sees_the_text_then_the_error_chunk_and_done() -> None:
    out = as_bytes(translator("chat").feed(GOOD + BROKEN))
    summary = validate_chat_stream(out)
    assert summary.text == "Hi"
    frames = out.split(b"\n\n")
    assert frames[-3:] == [frames[-3], b"data: [DONE]", b""]
    error = json.loads(frames[-3].removeprefix(b"data: "))["error"]
    assert error["message"] == "upstream sent a frame that is not JSON: '{oops'"  # what was wrong, said


def test_a_bad_upstream_frame_is_the_upstreams_fault_and_logged_as_such(caplog: pytest.LogCaptureFixture) -> None:
    """Not our bug: a warning naming the frame, no traceback at ERROR; a translation bug of ours
    still gets the generic message and the traceback."""
    t = translator("messages")
    with caplog.at_level(logging.WARNING, logger="asgi_translate"):
        out = as_bytes(t.feed(GOOD + BROKEN))
    assert t.done and t.error is not None
    assert (t.error.type, t.error.status) == ("api_error", 502)
    assert [(r.levelname, r.getMessage(), r.exc_info) for r in caplog.records] == [
        ("WARNING", "asgi_translate: upstream sent a frame that is not JSON: '{oops'", None)
    ]
    assert out.endswith(
        b'event: error\ndata: {"type":"error","error":{"type":"api_error",'
        b'"message":"upstream sent a frame that is not JSON: \'{oops\'"}}\n\n'
    )


def test_nothing_is_decoded_after_the_terminator_in_the_same_chunk() -> None:
    stop = (
        b'event: content_block_stop\ndata: {"type":"content_block_stop","index":0}\n\n'
        b'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"end_turn"},'
        b'"usage":{"output_tokens":1}}\n\n'
        b'event: message_stop\ndata: {"type":"message_stop"}\n\n'
    )
    t = translator("chat")
    out = as_bytes(t.feed(GOOD + stop + BROKEN))  # the broken frame after message_stop is never parsed
    assert t.done
    assert out.endswith(b"data: [DONE]\n\n") and out.count(b"[DONE]") == 1
    assert validate_chat_stream(out).text == "Hi"
