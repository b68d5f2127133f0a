"""The translator's bytes lane for whole-event chunks gives the bytes the general path gives.

``StreamTranslator`` hands a chunk of whole events, each one ``data:`` line (chat) or one
``event:`` line and one ``data:`` line (Messages, Responses), straight to a decoder's
``decode_data`` (no text decode, no ``ServerSentEvent``). The reference here is the same
translator with the lane switched off: every output byte, frame count and failure must match,
however the upstream bytes are cut, for each upstream schema.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest
from conftest import make_context
from hypothesis import given, settings
from hypothesis import strategies as st

from asgi_translate._endpoints.hooks import _Record, _UsageTap
from asgi_translate._hub import json as json_backend
from asgi_translate._hub.canonical import (
    BlockDelta,
    BlockStart,
    BlockStop,
    Finish,
    Message,
    MessageStart,
    Request,
    TextPart,
    Tool,
    Usage,
    UsageUpdate,
)
from asgi_translate._hub.errors import StreamTranslationError
from asgi_translate._hub.pipeline import StreamTranslator, as_bytes
from asgi_translate._hub.routes import SchemaName
from asgi_translate._hub.sse import ServerSentEvent, SSEDecoder
from asgi_translate._hub.tool_names import NamesBack
from asgi_translate.schemas import get_codec
from asgi_translate.schemas.anthropic_messages._decoder import MessagesStreamDecoder
from asgi_translate.schemas.openai_chat._decoder import ChatStreamDecoder
from asgi_translate.schemas.openai_responses._decoder import ResponsesStreamDecoder


def chunk(delta: dict[str, object], finish: str | None = None, **extra: object) -> bytes:
    body = {"id": "c1", "model": "m", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}], **extra}
    return b"data: " + json.dumps(body, ensure_ascii=False).encode() + b"\n\n"


# Frames of chat streams, well and badly formed, each a whole event; the lane takes some of them.
CHAT_FRAMES = [
    chunk({"role": "assistant", "content": ""}),
    chunk({"content": None, "reasoning_content": "think"}),
    chunk({"content": None, "reasoning_content": " more"}),
    chunk({"content": "Hi"}),
    chunk({"content": " caf\u00e9 \U0001f642\n"}),
    chunk({"content": "a"}, usage=None),
    chunk({"content": "late"}, error={"message": "late failure", "type": "server_error"}),
    chunk({"refusal": "no"}),
    chunk({"tool_calls": [{"index": 0, "id": "call_1", "function": {"name": "f", "arguments": ""}}]}),
    chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"a":'}}]}),
    chunk({"tool_calls": [{"index": 1, "id": "call_2", "function": {"name": "g", "arguments": "{}"}}]}),
    chunk({}, "stop"),
    chunk({}, "tool_calls"),
    b'data: {"id":"c1","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":2}}\n\n',
    b'data: {"id":"c1","choices":[{"index":0,"delta":{"content":"x"}}],"x_groq":{"usage":{"prompt_tokens":1}}}\n\n',
    b'data: {"error":{"message":"overloaded","type":"server_error","code":503}}\n\n',
    b'event: error\ndata: {"message":"groq says no"}\n\n',
    b'data: {"id":"c1","choices":[{"index":0,"delta":{"content":"bad \xff utf-8"}}]}\n\n',
    b'data: {"id":"c1","choices":[{"index":0,"delta":{"content":"\xc3',  # cut mid-character...
    b'\xa9"}}]}\n\n',  # ...and its end
    b"data: \xef\xbb\xbf{}\n\n",
    b"data: {oops\n\n",
    b"data: [1, 2]\n\n",
    b"data: \n\n",
    b": keep-alive\n\n",
    # Frames that repeat the bytes around their text, as OpenAI's do: the decoder's frame template reads them.
    chunk({"content": "x"}, obfuscation="ab12"),
    chunk({"content": " caf\u00e9\n"}, obfuscation=""),
    chunk({"content": 'q"uote'}, obfuscation="Z"),
    chunk({"content": "back\\"}, obfuscation="Z9"),
    chunk({"content": "ok"}, obfuscation="a-b"),
    chunk({"content": "ok"}, obfuscation="ab", finish_reason=None),
    b"id: 7\nretry: 10\n\n",
    b'data: {"id":"c1","choices":[{"index":0,"delta":{"content":"crlf"}}]}\r\n\r\n',
    b'data: {"id":"c1",\ndata: "choices":[]}\n\n',
    b"data: [DONE]\n\n",
]
FRAMES = CHAT_FRAMES  # the chat tests below predate the other upstreams


def event(kind: str, body: dict[str, object], **extra: object) -> bytes:
    """One two-line frame as Messages and Responses servers send every event (recorded shape)."""
    data = json.dumps({"type": kind, **body, **extra}, ensure_ascii=False, separators=(",", ":"))
    return f"event: {kind}\ndata: {data}\n\n".encode()


def text_delta(index: int, text: object) -> bytes:
    return event("content_block_delta", {"index": index, "delta": {"type": "text_delta", "text": text}})


def json_delta(index: int, partial: str) -> bytes:
    return event(
        "content_block_delta", {"index": index, "delta": {"type": "input_json_delta", "partial_json": partial}}
    )


_USAGE = {"input_tokens": 176, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 1024, "output_tokens": 8}
_MESSAGE = {"model": "claude-x", "id": "msg_1", "type": "message", "role": "assistant", "content": [], "usage": _USAGE}
_TOOL = {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {}}
_SERVER_TOOL = {"type": "server_tool_use", "id": "srvtoolu_1", "name": "code_execution", "input": {}}
_TEXT_BLOCK = {"type": "text", "text": ""}

# Frames of Messages streams (the shapes of shared/corpus/messages), well and badly formed.
MESSAGES_FRAMES = [
    event("message_start", {"message": _MESSAGE}),
    event("content_block_start", {"index": 0, "content_block": {"type": "thinking", "thinking": "", "signature": ""}}),
    b'event: ping\ndata: {"type": "ping"}\n\n',
    event("content_block_delta", {"index": 0, "delta": {"type": "thinking_delta", "thinking": "Let me"}}),
    event("content_block_delta", {"index": 0, "delta": {"type": "signature_delta", "signature": "EusB"}}),
    event("content_block_stop", {"index": 0}),
    event("content_block_start", {"index": 1, "content_block": _TEXT_BLOCK}),
    text_delta(1, "Hi"),
    text_delta(1, " caf\u00e9 \U0001f642\n"),
    text_delta(1, ""),
    text_delta(1, 5),  # not a string: the general path's event, whatever the encoder makes of it
    event("content_block_delta", {"index": 1, "delta": {"type": "citations_delta", "citation": {"cited_text": "c"}}}),
    text_delta(9, "a block never started"),
    event("content_block_stop", {"index": 1}),
    event("content_block_start", {"index": 2, "content_block": _SERVER_TOOL}),
    json_delta(2, '{"code":"1+1"}'),  # a server tool's block: skipped
    event("content_block_stop", {"index": 2}),
    event("content_block_start", {"index": 3, "content_block": _TOOL}),
    json_delta(3, ""),
    json_delta(3, '{"a":'),
    json_delta(3, "1}"),
    event("content_block_stop", {"index": 3}),
    event("content_block_start", {"index": 4, "content_block": {**_TOOL, "id": "toolu_2", "name": "g"}}),
    event("content_block_stop", {"index": 4}),  # no input at all: "{}"
    b'event: content_block_delta\ndata: {"index":1,"delta":{"type":"text_delta","text":"typed by its event"}}\n\n',
    b'data: {"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":"no event line"}}\n\n',
    event(
        "message_delta", {"delta": {"stop_reason": "tool_use", "stop_sequence": None}, "usage": {"output_tokens": 42}}
    ),
    event("message_stop", {}),
    event("error", {"error": {"type": "overloaded_error", "message": "Overloaded"}}),
    text_delta(1, "\x00").replace(b"\\u0000", b"\xff"),  # invalid UTF-8
    text_delta(1, "\x00").split(b"\\u0000")[0] + b"\xc3",  # cut in a character...
    b'\xa9"}}\n\n',  # ...and its end
    b"event: content_block_delta\ndata: {oops\n\n",
    b"event: content_block_delta\ndata: [1, 2]\n\n",
    b"event: ping\ndata: \n\n",
    b"event: ping\ndata: \xef\xbb\xbf{}\n\n",
    b"event: caf\xc3\xa9\ndata: {}\n\n",
    b'event: \xff\ndata: {"index":1,"delta":{"type":"text_delta","text":"bad type"}}\n\n',
    b'event: content_block_delta\ndata: {"type":"content_block_delta",\ndata: "index":1}\n\n',
    b'event: ping\nevent: content_block_delta\ndata: {"index":1,"delta":{"type":"text_delta","text":"2nd"}}\n\n',
    b'event: content_block_delta\ndata: {"type":"ping"}\nid: 3\n\n',
    b"event: content_block_delta\n\n",
    b": keep-alive\n\n",
    b"id: 7\nretry: 10\n\n",
    b'event: content_block_delta\r\ndata: {"index":1,"delta":{"type":"text_delta","text":"crlf"}}\r\n\r\n',
]
_RESPONSE: dict[str, object] = {
    "id": "resp_1",
    "object": "response",
    "status": "in_progress",
    "model": "gpt-x",
    "output": [],
    "usage": None,
}
_RS = {"item_id": "rs_1", "output_index": 0, "summary_index": 0}
_MI = {"item_id": "msg_1", "output_index": 1, "content_index": 0}
_FC = {
    "id": "fc_1",
    "type": "function_call",
    "status": "in_progress",
    "arguments": "",
    "call_id": "call_1",
    "name": "f",
}
_PART = {"type": "output_text", "annotations": [], "logprobs": [], "text": ""}
_RS_ITEM = {"id": "rs_1", "type": "reasoning", "summary": []}
_MSG_ITEM = {"id": "msg_1", "type": "message", "status": "in_progress", "content": [], "role": "assistant"}
_DONE_USAGE = {"input_tokens": 1200, "output_tokens": 30, "total_tokens": 1230}

# Frames of Responses streams (the shapes of shared/corpus/responses), well and badly formed.
RESPONSES_FRAMES = [
    event("response.created", {"response": _RESPONSE}, sequence_number=0),
    event("response.in_progress", {"response": _RESPONSE}, sequence_number=1),
    event("response.output_item.added", {"output_index": 0, "item": _RS_ITEM}),
    event("response.reasoning_summary_part.added", {**_RS, "part": {"type": "summary_text", "text": ""}}),
    event("response.reasoning_summary_text.delta", {**_RS, "delta": "Think", "obfuscation": "qfQV"}),
    event("response.reasoning_summary_text.delta", {**_RS, "delta": " more"}),
    event("response.reasoning_summary_text.done", {**_RS, "text": "Think more"}),
    event("response.reasoning_summary_part.added", {**_RS, "summary_index": 1, "part": {"type": "summary_text"}}),
    event("response.output_item.done", {"output_index": 0, "item": {**_RS_ITEM, "encrypted_content": "gAAA"}}),
    event("response.output_item.added", {"output_index": 1, "item": _MSG_ITEM}),
    event("response.content_part.added", {**_MI, "part": _PART}),
    event("response.output_text.delta", {**_MI, "delta": "Hi", "logprobs": [], "obfuscation": "qfQVOw"}),
    event("response.output_text.delta", {**_MI, "delta": " caf\u00e9 \U0001f642\n", "logprobs": []}),
    event("response.output_text.delta", {**_MI, "delta": ""}),
    event("response.output_text.delta", {**_MI, "delta": 5}),
    event("response.output_text.delta", {**_MI, "content_index": 3, "delta": "a part never added"}),
    event("response.output_text.done", {**_MI, "text": "Hi caf\u00e9", "logprobs": []}),
    event("response.content_part.done", {**_MI, "part": {**_PART, "text": "Hi caf\u00e9"}}),
    event(
        "response.output_item.done", {"output_index": 1, "item": {**_MSG_ITEM, "content": [{**_PART, "text": "Hi"}]}}
    ),
    event("response.output_item.added", {"output_index": 2, "item": _FC}),
    event("response.function_call_arguments.delta", {"item_id": "fc_1", "output_index": 2, "delta": '{"a":'}),
    event("response.function_call_arguments.delta", {"item_id": "fc_1", "output_index": 2, "delta": "1}"}),
    event("response.function_call_arguments.delta", {"item_id": "rs_1", "output_index": 0, "delta": "not a call"}),
    event("response.function_call_arguments.done", {"item_id": "fc_1", "output_index": 2, "arguments": '{"a":1}'}),
    event("response.output_item.done", {"output_index": 2, "item": {**_FC, "status": "completed"}}),
    event("response.refusal.delta", {"output_index": 3, "content_index": 0, "delta": "no"}),
    event("response.output_text.annotation.added", {**_MI, "annotation": {"type": "url_citation"}}),
    b'event: response.output_text.delta\ndata: {"output_index":1,"content_index":0,"delta":"typed by its event"}\n\n',
    b'data: {"type":"response.output_text.delta","output_index":1,"content_index":0,"delta":"no event line"}\n\n',
    event("response.completed", {"response": {**_RESPONSE, "status": "completed", "usage": _DONE_USAGE}}),
    event("response.incomplete", {"response": {**_RESPONSE, "incomplete_details": {"reason": "max_output_tokens"}}}),
    event("response.failed", {"response": {**_RESPONSE, "error": {"code": "server_error", "message": "boom"}}}),
    event("error", {"code": "rate_limit_exceeded", "message": "slow down"}),
    b"data: [DONE]\n\n",
    b"event: response.output_text.delta\ndata: [DONE]\n\n",
    event("response.output_text.delta", {**_MI, "delta": "\x00"}).replace(b"\\u0000", b"\xff"),  # invalid UTF-8
    event("response.output_text.delta", {**_MI, "delta": "\x00"}).split(b"\\u0000")[0] + b"\xc3",  # cut...
    b'\xa9"}\n\n',  # ...and its end
    b"event: response.output_text.delta\ndata: {oops\n\n",
    b"event: response.output_text.delta\ndata: [1, 2]\n\n",
    b"event: response.output_text.delta\ndata: \n\n",
    b"event: response.created\ndata: \xef\xbb\xbf{}\n\n",
    b'event: \xff\ndata: {"output_index":1,"content_index":0,"delta":"bad type"}\n\n',
    b'event: response.output_text.delta\ndata: {"output_index":1,\ndata: "content_index":0,"delta":"2 lines"}\n\n',
    b": keep-alive\n\n",
    b"id: 7\nretry: 10\n\n",
    b'event: response.output_text.delta\r\ndata: {"output_index":1,"content_index":0,"delta":"crlf"}\r\n\r\n',
]
UPSTREAM_FRAMES: dict[SchemaName, list[bytes]] = {
    "chat": CHAT_FRAMES,
    "messages": MESSAGES_FRAMES,
    "responses": RESPONSES_FRAMES,
}
PIECES = [b"data: ", b"\n", b"\r", b"\n\n", b"\xef\xbb\xbf", b'{"choices":[]}', b"[DONE]"]
EVENT_PIECES = [b"event: ", b"data: ", b"ping", b"\n", b"\r", b"\n\n", b"\xef\xbb\xbf", b'{"type":"ping"}', b"{}"]
FRAGMENTS = st.one_of(st.sampled_from(FRAMES), st.lists(st.sampled_from(PIECES), max_size=3).map(b"".join))
EVENT_BITS = st.lists(st.sampled_from(EVENT_PIECES), max_size=3).map(b"".join)
UPSTREAM_FRAGMENTS = {
    "chat": FRAGMENTS,
    "messages": st.one_of(st.sampled_from(MESSAGES_FRAMES), EVENT_BITS),
    "responses": st.one_of(st.sampled_from(RESPONSES_FRAMES), EVENT_BITS),
}
DIRECTIONS = [(up, client) for up in ("chat", "messages", "responses") for client in ("messages", "responses", "chat")]


def translator(
    client: SchemaName, *, lane: bool, rename: bool = False, upstream: SchemaName = "chat"
) -> StreamTranslator:
    request = Request(model="m", messages=[Message(role="user", content=[TextPart("hello")])], stream=True)
    request.tools = [Tool("f"), Tool("g")]
    ctx = make_context(request)
    decoder = get_codec(upstream).decoder(ctx)
    if rename:
        decoder = NamesBack(decoder, {"f": "client f"})
    t = StreamTranslator(decoder, get_codec(client).encoder(ctx))
    if not lane:
        t._decode_data = None
    return t


def run(t: StreamTranslator, chunks: list[bytes]) -> tuple[list[bytes], int, bool, object]:
    outs = [as_bytes(t.feed(c)) for c in chunks]
    outs.append(as_bytes(t.finish()))
    return outs, t.frames_in, t.done, t.error


@pytest.mark.parametrize(("upstream", "client"), DIRECTIONS)
@given(
    data=st.data(),
    cuts=st.lists(st.integers(min_value=0, max_value=2000), max_size=3),
    rename=st.booleans(),
)
@settings(max_examples=150, deadline=None)
def test_the_lane_gives_the_bytes_of_the_general_path(
    upstream: SchemaName, client: SchemaName, data: st.DataObject, cuts: list[int], rename: bool
) -> None:
    """Chunks end after a fragment when its flag says so, and at a few arbitrary offsets: most
    chunks are whole frames (the lane's case), some are not (split lines, several events)."""
    fragments = st.tuples(UPSTREAM_FRAGMENTS[upstream], st.booleans())
    parts = data.draw(st.lists(fragments, min_size=1, max_size=20), label="parts")
    raw = b"".join(fragment for fragment, _ in parts)
    ends = [sum(len(f) for f, _ in parts[: i + 1]) for i, (_, cut) in enumerate(parts) if cut]
    points = sorted({min(point, len(raw)) for point in [*ends, *cuts]})
    chunks = [raw[a:b] for a, b in zip([0, *points], [*points, len(raw)], strict=True)]
    lane = translator(client, lane=True, rename=rename, upstream=upstream)
    assert lane._decode_data is not None
    slow = translator(client, lane=False, rename=rename, upstream=upstream)
    assert run(lane, chunks) == run(slow, chunks)


@pytest.mark.parametrize("client", ["messages", "responses", "chat"])
def test_a_whole_stream_frame_by_frame_takes_the_lane_and_matches(client: SchemaName) -> None:
    frames = [FRAMES[i] for i in (0, 1, 2, 3, 4, 5, 7, 8, 9, 11, 12)] + [b"data: [DONE]\n\n"]
    fast, slow = translator(client, lane=True), translator(client, lane=False)
    calls: list[bytes] = []
    decode_data = fast._decode_data
    assert decode_data is not None

    def spy(data: bytes, event: str) -> object:
        calls.append(data)
        return decode_data(data, event)

    fast._decode_data = spy  # type: ignore[assignment]
    assert run(fast, frames) == run(slow, frames)
    assert len(calls) == len(frames)  # the stream's start too: a chunk opening "data: " has no BOM
    assert fast.done and fast.error is None


class _Spy(SSEDecoder):
    """An SSE decoder that records the chunks given to it (the ones that missed the lane)."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[bytes] = []

    def decode(self, chunk: bytes) -> list[ServerSentEvent]:
        self.seen.append(chunk)
        return super().decode(chunk)


@pytest.mark.parametrize("client", ["messages", "responses", "chat"])
def test_a_whole_stream_in_its_first_read_takes_the_lane(client: SchemaName) -> None:
    """What a remote upstream's first read holds under load: every frame at once. It goes through
    the lane like any later chunk; one that opens with a BOM goes the long way (which skips it)."""
    frames = [FRAMES[i] for i in (0, 1, 2, 3, 4, 5, 7, 8, 9, 11, 12)] + [b"data: [DONE]\n\n"]
    for first, lane_taken in [(b"".join(frames), True), (b"\xef\xbb\xbf" + b"".join(frames), False)]:
        fast, slow = translator(client, lane=True), translator(client, lane=False)
        spy = _Spy()
        fast._sse = spy
        assert run(fast, [first]) == run(slow, [first])
        frame_by_frame = run(translator(client, lane=False), frames)[0]
        assert b"".join(run(translator(client, lane=True), [first])[0]) == b"".join(frame_by_frame)
        assert spy.seen == ([] if lane_taken else [first])
        assert fast.frames_in == len(frames) and fast.done and fast.error is None


@pytest.mark.parametrize("client", ["messages", "responses", "chat"])
def test_chunks_of_several_whole_frames_take_the_lane_and_match(client: SchemaName) -> None:
    """A remote upstream's reads carry a few frames each: chunks of three one-line events go
    through the lane (the SSE decoder is never asked), with the same bytes,
    count and end as the general path; a chunk with another shape among them falls back whole."""
    frames = [FRAMES[i] for i in (0, 1, 2, 3, 4, 5, 7, 8, 9, 11, 12)] + [b"data: [DONE]\n\n"]
    chunks = [frames[0]] + [b"".join(frames[i : i + 3]) for i in range(1, len(frames), 3)]
    chunks.insert(2, b": keep-alive\n\n" + FRAMES[3])  # a comment: the general path
    fast, slow = translator(client, lane=True), translator(client, lane=False)
    seen: list[bytes] = []

    class Spy(SSEDecoder):
        def decode(self, chunk: bytes) -> list[ServerSentEvent]:
            seen.append(chunk)
            return super().decode(chunk)

    fast._sse = Spy()  # before the first chunk: a fresh decoder, as the translator made
    assert run(fast, chunks) == run(slow, chunks)
    assert seen == [chunks[2]]
    assert fast.frames_in == len(frames) + 1 and fast.done and fast.error is None  # a comment is no event


@pytest.mark.parametrize("client", ["messages", "responses", "chat"])
@pytest.mark.parametrize("fails", [False, True])
def test_a_frame_of_several_lines_after_a_run_hands_the_rest_to_the_sse_decoder(
    client: SchemaName, fails: bool
) -> None:
    """Only the frames read one by one are looked at for a line ending: a run's frames cannot
    hold one. From the first that does (a ``data:`` event of two lines), the rest of the chunk
    is the SSE decoder's, with the general path's bytes, count and end; so too when a frame
    before it fails the stream and the rest is only counted."""
    texts = [chunk({"content": f" t{n}"}) for n in range(6)]
    two_lines = b'data: {"id":"c1","model":"m",\ndata: "choices":[{"index":0,"delta":{"content":" two"}}]}\n\n'
    bad = [b"data: {not json\n\n"] if fails else []
    tail = [*bad, texts[0], two_lines, texts[1], b"data: [DONE]\n\n"]
    chunks = [FRAMES[0] + FRAMES[3], b"".join([*texts, *tail])]
    fast, slow = translator(client, lane=True), translator(client, lane=False)
    spy = _Spy()
    fast._sse = spy
    assert run(fast, chunks) == run(slow, chunks)
    assert fast.frames_in == 2 + len(texts) + len(tail)
    assert fast.done and (fast.error is not None) == fails
    # The SSE decoder saw the chunk from the two-line frame on (after the failure, from the
    # frame that follows it: only counted), never the run before it.
    assert spy.seen == [b"".join(tail[1:])]


def test_data_only_takes_exactly_one_data_line_at_a_boundary() -> None:
    sse = SSEDecoder()
    assert sse.data_only(b'data: {"a":1}\n\n') == b'{"a":1}'  # the stream's start: "data: " is no BOM
    assert sse.decode(b'data: {"a":1}\n\n') == [ServerSentEvent('{"a":1}')]
    assert sse.data_only(b'data: {"a":1}\n\n') == b'{"a":1}'
    assert sse.data_only(b"data: \n\n") == b""
    for not_one_line in [
        b"data: a\n",
        b"data: a\r\n\r\n",
        b"data: a\n\ndata: b\n\n",
        b"data: a\ndata: b\n\n",
        b"event: x\ndata: a\n\n",
        b"data:a\n\n",
        b"data: a\rb\n\n",
        b"data: a\n\n\n",
    ]:
        assert sse.data_only(not_one_line) is None, not_one_line
    sse.decode(b"data: held")  # a partial line is carried: the next chunk needs it
    assert sse.data_only(b'data: {"a":1}\n\n') is None
    assert sse.decode(b"\n\n") == [ServerSentEvent("held")]
    assert sse.data_only(b"data: x\n\n") == b"x"
    sse.flush()
    assert sse.data_only(b"data: x\n\n") is None


def test_decode_data_answers_as_decode_does_for_bytes_json_refuses() -> None:
    """Invalid UTF-8 and non-JSON go through ``decode``: the same events and error messages."""
    for data in [b'{"choices":[{"index":0,"delta":{"content":"\xff"}}]}', b"{oops \xff", b"\xef\xbb\xbf{}"]:
        request = Request(model="m", messages=[])
        fast, slow = ChatStreamDecoder(make_context(request)), ChatStreamDecoder(make_context(request))
        text = data.decode("utf-8", "replace")
        assert fast.decode_data(data, "") == slow.decode(ServerSentEvent(text))


def test_names_back_offers_the_lane_only_when_its_decoder_does() -> None:
    class Plain:
        def decode(self, event: ServerSentEvent) -> list[object]:
            return [BlockStart(0, "tool_call", "c", "f")]

        def flush(self) -> list[object]:
            return []

    assert NamesBack(Plain(), {"f": "g"}).decode_data is None  # type: ignore[arg-type]
    chat = ChatStreamDecoder(make_context(Request(model="m", messages=[])))
    wrapped = NamesBack(chat, {"f": "client f"})
    assert wrapped.decode_data is not None
    data = b'{"id":"c","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"k","function":{"name":"f"}}]}}]}'
    events = wrapped.decode_data(data, "")
    starts = [e for e in events if isinstance(e, BlockStart)]
    assert [(s.kind, s.name) for s in starts] == [("tool_call", "client f")]
    more = b'{"id":"c","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{}"}}]}}]}'
    assert wrapped.decode_data(more, "") == [BlockDelta(0, "{}")]
    text = b'{"id":"c","choices":[{"index":0,"delta":{"content":"%s"}}]}'
    assert wrapped.decode_data(text % b"a", "") == [BlockStart(1, "text"), BlockDelta(1, "a")]
    assert wrapped.decode_data(text % b"b", "") == (1, "b")  # BlockDelta(1, "b"), not built


def test_the_messages_encoders_delta_shortcut_stops_with_the_stream() -> None:
    """Deltas for the open text block are written by a shortcut that must close with the block
    and with the stream (after an error the block is still open on the wire)."""
    from asgi_translate._hub.canonical import MessageStart, StreamError

    encoder = get_codec("messages").encoder(make_context(Request(model="m", messages=[])))
    encoder.encode(MessageStart("msg_1", "m"))
    encoder.encode(BlockStart(0, "text"))
    assert encoder.encode(BlockDelta(0, "a\n")) == (
        b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,'
        b'"delta":{"type":"text_delta","text":"a\\n"}}\n\n'
    )
    assert as_bytes(encoder.encode(BlockStop(0))).startswith(b"event: content_block_stop\n")
    assert encoder.encode(BlockDelta(0, "late")) == b""  # closed: not the open block any more
    encoder.encode(BlockStart(1, "text"))
    assert as_bytes(encoder.encode(StreamError("api_error", "cut"))).startswith(b"event: content_block_stop\n")
    assert encoder.encode(BlockDelta(1, "after the end")) == b""


# -- Messages and Responses upstreams: two-line events ---------------------------------------------


def _workload() -> ModuleType:
    """benchmarks/workload.py, the streams the benchmarks measure (recorded shapes, stdlib only)."""
    path = Path(__file__).resolve().parents[2] / "benchmarks" / "workload.py"
    spec = importlib.util.spec_from_file_location("_lane_workload", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up while it runs
    spec.loader.exec_module(module)
    return module


WORKLOAD = _workload()


def chat_text(out: bytes) -> str:
    """The answer text a chat client reads from its stream."""
    text = []
    for line in out.split(b"\n"):
        if line.startswith(b"data: {"):
            for choice in json.loads(line[6:])["choices"]:
                text.append(choice["delta"].get("content") or "")
    return "".join(text)


@pytest.mark.parametrize("upstream", ["messages", "responses"])
@pytest.mark.parametrize("client", ["messages", "responses", "chat"])
@pytest.mark.parametrize("per_chunk", [1, 3, 1000])
def test_benchmark_streams_take_the_lane_whole(upstream: SchemaName, client: SchemaName, per_chunk: int) -> None:
    """The benchmark's 54-frame streams, a frame per chunk, three per chunk (a remote upstream's
    reads) and all in the first read: the SSE decoder is never asked, every frame goes through
    ``decode_data`` with its event type, and the client gets the bytes of the general path."""
    frames = WORKLOAD.frames(upstream, 54)
    chunks = [b"".join(frames[i : i + per_chunk]) for i in range(0, len(frames), per_chunk)]
    fast, slow = translator(client, lane=True, upstream=upstream), translator(client, lane=False, upstream=upstream)
    spy = _Spy()
    fast._sse = spy
    types: list[str] = []
    decode_data = fast._decode_data
    assert decode_data is not None

    def seen(data: bytes, event: str) -> object:
        types.append(event)
        return decode_data(data, event)

    fast._decode_data = seen  # type: ignore[assignment]
    result = run(fast, chunks)
    assert result == run(slow, chunks)
    assert spy.seen == []
    assert types == [frame[7 : frame.index(b"\n")].decode() for frame in frames]
    assert types[0] == ("message_start" if upstream == "messages" else "response.created")
    assert fast.frames_in == 54 and fast.done and fast.error is None
    if client == "chat":
        story = WORKLOAD.story(54 - WORKLOAD.OVERHEAD[upstream])
        assert chat_text(b"".join(result[0])) == "".join(story.text)


@pytest.mark.parametrize(
    "odd",
    [
        b"event: content_block_delta\ndata: a\ndata: b\n\n",  # two data lines
        b"event: content_block_delta\r\ndata: {}\r\n\r\n",
        b"event: content_block_delta\n\n",  # no data line
        b"event: content_block_delta\ndata: {}\nid: 3\n\n",
        b"event: content_block_delta\ndata:{}\n\n",  # no space after the colon
        b"event: a\nevent: content_block_delta\ndata: {}\n\n",
        b"event: content_block_delta\ndata: {}\n\n: keep-alive\n\n",  # a comment among whole events
        b"event: content_block_delta\ndata: {}\n\nevent: x\n\n",
        b"event: content_block_delta\ndata: {}\n\n\n\n",
        b"event: content_block_delta\ndata: {}\n",  # not at a boundary
    ],
)
def test_other_event_shapes_go_to_the_sse_decoder_whole(odd: bytes) -> None:
    """Anything but whole ``event:`` + ``data:`` (or lone ``data:``) events is the SSE decoder's,
    the whole chunk and nothing consumed: the output is the general path's."""
    start = MESSAGES_FRAMES[0] + MESSAGES_FRAMES[6]  # message_start, a text block at index 1 -> 0
    for chunks in ([start, odd], [start, odd, text_delta(1, "after")]):
        fast, slow = (
            translator("chat", lane=True, upstream="messages"),
            translator("chat", lane=False, upstream="messages"),
        )
        spy = _Spy()
        fast._sse = spy
        assert run(fast, chunks) == run(slow, chunks)
        # A chunk cut inside an event leaves it open: the SSE decoder reads on until a boundary.
        assert spy.seen == ([odd] if odd.endswith((b"\n\n", b"\r\n\r\n")) else chunks[1:])


def test_a_lone_data_event_among_two_line_events_takes_the_lane() -> None:
    """Some servers end a Responses stream with ``data: [DONE]``; it may share the last read."""
    frames = WORKLOAD.frames("responses", 54)
    chunks = [b"".join(frames[:50]), b"".join(frames[50:]) + b"data: [DONE]\n\n"]
    fast, slow = (
        translator("chat", lane=True, upstream="responses"),
        translator("chat", lane=False, upstream="responses"),
    )
    spy = _Spy()
    fast._sse = spy
    assert run(fast, chunks) == run(slow, chunks)
    assert spy.seen == [] and fast.frames_in == 55 and fast.done and fast.error is None


def _messages_decoder() -> MessagesStreamDecoder:
    request = Request(model="m", messages=[], stream=True)
    return MessagesStreamDecoder(make_context(request))


def _data(frame: bytes) -> bytes:
    return frame.split(b"\ndata: ", 1)[1][:-2]


def test_messages_decode_data_answers_deltas_as_pairs() -> None:
    decoder = _messages_decoder()
    start = decoder.decode_data(_data(MESSAGES_FRAMES[0]), "message_start")
    usage = Usage(1200, 8, 1024, 0)
    assert start == [MessageStart("msg_1", "claude-x", usage), UsageUpdate(usage)]
    assert decoder.decode_data(_data(MESSAGES_FRAMES[1]), "content_block_start") == [BlockStart(0, "reasoning")]
    assert decoder.decode_data(b'{"type": "ping"}', "ping") == []
    assert decoder.decode_data(_data(MESSAGES_FRAMES[3]), "content_block_delta") == (0, "Let me")
    assert decoder.decode_data(_data(MESSAGES_FRAMES[4]), "content_block_delta") == []  # a signature: kept
    assert decoder.decode_data(_data(MESSAGES_FRAMES[5]), "content_block_stop") == [BlockStop(0, "EusB")]
    assert decoder.decode_data(_data(MESSAGES_FRAMES[6]), "content_block_start") == [BlockStart(1, "text")]
    assert decoder.decode_data(_data(text_delta(1, "Hi \U0001f642")), "content_block_delta") == (1, "Hi \U0001f642")
    assert decoder.decode_data(_data(text_delta(1, "")), "content_block_delta") == []
    assert decoder.decode_data(_data(text_delta(1, 5)), "content_block_delta") == [BlockDelta(1, 5)]  # type: ignore[arg-type]
    assert decoder.decode_data(b'{"index":1,"delta":{"type":"text_delta","text":"x"}}', "content_block_delta") == (
        1,
        "x",
    )
    assert decoder.decode_data(_data(text_delta(7, "x")), "content_block_delta") == []  # no such block
    decoder.decode_data(_data(MESSAGES_FRAMES[14]), "content_block_start")  # a server tool: skipped
    assert decoder.decode_data(_data(json_delta(2, '{"code":1}')), "content_block_delta") == []
    tool = _data(MESSAGES_FRAMES[17])
    assert decoder.decode_data(tool, "content_block_start") == [BlockStart(2, "tool_call", "toolu_1", "f")]
    assert decoder.decode_data(_data(json_delta(3, "")), "content_block_delta") == []
    assert decoder.decode_data(_data(json_delta(3, '{"a":1}')), "content_block_delta") == (2, '{"a":1}')
    assert decoder.decode_data(_data(MESSAGES_FRAMES[21]), "content_block_stop") == [BlockStop(2)]  # had input


@pytest.mark.parametrize(
    "data",
    [b"{oops \xff", b"[1, 2]", b"", b"\xef\xbb\xbf{}", b'"text"', b'{"type":"content_block_delta","index":1\xff}'],
)
def test_messages_decode_data_fails_as_decode_does(data: bytes) -> None:
    """Bytes the parser refuses or values that are no object raise ``decode``'s own error."""
    fast, slow = _messages_decoder(), _messages_decoder()
    with pytest.raises(StreamTranslationError) as lane_error:
        fast.decode_data(data, "content_block_delta")
    with pytest.raises(StreamTranslationError) as general_error:
        slow.decode(ServerSentEvent(data.decode("utf-8", "replace"), "content_block_delta"))
    assert str(lane_error.value) == str(general_error.value)
    assert str(lane_error.value).startswith("upstream sent a frame that is not")


def test_messages_decode_data_reads_invalid_utf8_as_decode_does() -> None:
    data = _data(MESSAGES_FRAMES[29])
    assert b"\xff" in data
    fast, slow = _messages_decoder(), _messages_decoder()
    for decoder in (fast, slow):
        decoder.decode(ServerSentEvent(_data(MESSAGES_FRAMES[0]).decode(), "message_start"))
        decoder.decode(ServerSentEvent(_data(MESSAGES_FRAMES[6]).decode(), "content_block_start"))
    assert slow.decode(ServerSentEvent(data.decode("utf-8", "replace"), "content_block_delta")) == [
        BlockDelta(0, "\ufffd")
    ]
    # orjson refuses the bytes, so decode reads them; the stdlib parses the text decode reads.
    expected = [BlockDelta(0, "\ufffd")] if json_backend.BACKEND == "orjson" else (0, "\ufffd")
    assert fast.decode_data(data, "content_block_delta") == expected


def _responses_decoder() -> ResponsesStreamDecoder:
    return ResponsesStreamDecoder(make_context(Request(model="m", messages=[], stream=True)))


def test_responses_decode_data_answers_later_deltas_as_pairs() -> None:
    decoder = _responses_decoder()
    frames = {i: _data(RESPONSES_FRAMES[i]) for i in range(len(RESPONSES_FRAMES)) if b"\ndata: " in RESPONSES_FRAMES[i]}
    assert decoder.decode_data(frames[0], "response.created") == [MessageStart("resp_1", "gpt-x")]
    assert decoder.decode_data(frames[1], "response.in_progress") == []
    assert decoder.decode_data(frames[2], "response.output_item.added") == [BlockStart(0, "reasoning", item_id="rs_1")]
    assert decoder.decode_data(frames[3], "response.reasoning_summary_part.added") == []
    kind = "response.reasoning_summary_text.delta"
    assert decoder.decode_data(frames[4], kind) == [BlockDelta(0, "Think")]  # a part's first delta: the handler
    assert decoder.decode_data(frames[5], kind) == (0, " more")
    assert decoder.decode_data(frames[9], "response.output_item.added") == []
    assert decoder.decode_data(frames[10], "response.content_part.added") == [BlockStop(0), BlockStart(1, "text")]
    assert decoder.decode_data(frames[11], "response.output_text.delta") == [BlockDelta(1, "Hi")]
    assert decoder.decode_data(frames[12], "response.output_text.delta") == (1, " caf\u00e9 \U0001f642\n")
    assert decoder.decode_data(frames[13], "response.output_text.delta") == []
    typed_by_event = b'{"output_index":1,"content_index":0,"delta":"typed"}'
    assert decoder.decode_data(typed_by_event, "response.output_text.delta") == (1, "typed")
    assert decoder.decode_data(typed_by_event, "") == []  # no type at all: nothing canonical
    assert decoder.decode_data(b"[DONE]", "") == []
    assert decoder.decode_data(b"[1, 2]", "response.output_text.delta") == []
    with pytest.raises(StreamTranslationError, match="not JSON: '{oops \ufffd'"):
        decoder.decode_data(b"{oops \xff", "response.output_text.delta")
    done = decoder.decode_data(frames[29], "response.completed")
    assert done == [BlockStop(1), UsageUpdate(Usage(1200, 30)), Finish("end_turn")]
    assert decoder.decode_data(frames[12], "response.output_text.delta") == []  # after the end


def test_usage_tap_keeps_the_lane_and_sees_what_it_carries() -> None:
    """An ``on_exchange`` hook wraps the decoder: the lane stays, and usage and failures that
    come through it are still recorded; text pairs pass as they are."""
    record = _Record()
    tap = _UsageTap(_messages_decoder(), record)
    decode_data = tap.decode_data
    assert decode_data is not None
    assert decode_data(_data(MESSAGES_FRAMES[0]), "message_start")[0] == MessageStart(
        "msg_1", "claude-x", Usage(1200, 8, 1024, 0)
    )
    assert record.usage == Usage(1200, 8, 1024, 0)
    decode_data(_data(MESSAGES_FRAMES[6]), "content_block_start")
    assert decode_data(_data(text_delta(1, "Hi")), "content_block_delta") == (0, "Hi")
    decode_data(_data(MESSAGES_FRAMES[26]), "message_delta")
    assert record.usage == Usage(1200, 42, 1024, 0)
    assert record.error is None
    decode_data(_data(MESSAGES_FRAMES[28]), "error")
    assert record.error == "overloaded_error: Overloaded"

    class Plain:
        def decode(self, event: ServerSentEvent) -> list[object]:
            return []

        def flush(self) -> list[object]:
            return []

    assert _UsageTap(Plain(), _Record()).decode_data is None  # type: ignore[arg-type]


def test_a_tapped_stream_takes_the_lane() -> None:
    frames = WORKLOAD.frames("messages", 54)
    ctx = make_context(Request(model="m", messages=[], stream=True))
    record = _Record()
    fast = StreamTranslator(_UsageTap(MessagesStreamDecoder(ctx), record), get_codec("chat").encoder(ctx))
    spy = _Spy()
    fast._sse = spy
    slow = translator("chat", lane=False, upstream="messages")
    assert run(fast, frames) == run(slow, frames)
    assert spy.seen == [] and record.usage is not None and record.usage.output_tokens == 52
