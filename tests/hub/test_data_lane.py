"""The translator's bytes lane for one-line ``data:`` chunks gives the bytes the general path gives.

``StreamTranslator`` hands a chunk that is exactly one ``data:`` line straight to a decoder's
``decode_data`` (no text decode, no ``ServerSentEvent``). The reference here is the same
translator with the lane switched off: every output byte, frame count and failure must match,
however the upstream bytes are cut.
"""

from __future__ import annotations

import json

import pytest
from conftest import make_context
from hypothesis import given, settings
from hypothesis import strategies as st

from asgi_translate._hub.canonical import BlockDelta, BlockStart, BlockStop, Message, Request, TextPart, Tool
from asgi_translate._hub.pipeline import StreamTranslator, as_bytes
from asgi_translate._hub.routes import SchemaName
from asgi_translate._hub.sse import ServerSentEvent, SSEDecoder
from asgi_translate._hub.tool_names import NamesBack
from asgi_translate.schemas import get_codec
from asgi_translate.schemas.openai_chat._decoder import ChatStreamDecoder


def chunk(delta: dict[str, object], finish: str | None = None, **extra: object) -> bytes:
    body = {"id": "c1", "model": "m", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}], **extra}
    return b"data: " + json.dumps(body, ensure_ascii=False).encode() + b"\n\n"


# Frames of chat streams, well and badly formed, each a whole event; the lane takes some of them.
FRAMES = [
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
    b"id: 7\nretry: 10\n\n",
    b'data: {"id":"c1","choices":[{"index":0,"delta":{"content":"crlf"}}]}\r\n\r\n',
    b'data: {"id":"c1",\ndata: "choices":[]}\n\n',
    b"data: [DONE]\n\n",
]
PIECES = [b"data: ", b"\n", b"\r", b"\n\n", b"\xef\xbb\xbf", b'{"choices":[]}', b"[DONE]"]
FRAGMENTS = st.one_of(st.sampled_from(FRAMES), st.lists(st.sampled_from(PIECES), max_size=3).map(b"".join))


def translator(client: SchemaName, *, lane: bool, rename: bool = False) -> StreamTranslator:
    request = Request(model="m", messages=[Message(role="user", content=[TextPart("hello")])], stream=True)
    request.tools = [Tool("f"), Tool("g")]
    ctx = make_context(request)
    decoder = get_codec("chat").decoder(ctx)
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


@pytest.mark.parametrize("client", ["messages", "responses", "chat"])
@given(
    parts=st.lists(st.tuples(FRAGMENTS, st.booleans()), min_size=1, max_size=20),
    cuts=st.lists(st.integers(min_value=0, max_value=2000), max_size=3),
    rename=st.booleans(),
)
@settings(max_examples=150, deadline=None)
def test_the_lane_gives_the_bytes_of_the_general_path(
    client: SchemaName, parts: list[tuple[bytes, bool]], cuts: list[int], rename: bool
) -> None:
    """Chunks end after a fragment when its flag says so, and at a few arbitrary offsets: most
    chunks are whole frames (the lane's case), some are not (split lines, several events)."""
    raw = b"".join(fragment for fragment, _ in parts)
    ends = [sum(len(f) for f, _ in parts[: i + 1]) for i, (_, cut) in enumerate(parts) if cut]
    points = sorted({min(point, len(raw)) for point in [*ends, *cuts]})
    chunks = [raw[a:b] for a, b in zip([0, *points], [*points, len(raw)], strict=True)]
    lane = translator(client, lane=True, rename=rename)
    assert lane._decode_data is not None
    assert run(lane, chunks) == run(translator(client, lane=False, rename=rename), chunks)


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
