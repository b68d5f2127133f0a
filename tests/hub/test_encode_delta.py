"""Every client encoder's ``encode_delta(index, text)`` writes what ``encode(BlockDelta(index, text))`` writes.

``StreamTranslator`` calls ``encode_delta`` for the text delta the decoders' bytes lane answers as
``(index, text)``, nine frames in ten, and each encoder writes it by a shortcut for the block it
remembers as plain (``_plain``). Three encoders are compared event by event here: one given
``encode_delta``, one given ``encode(BlockDelta)``, and a reference with the shortcut switched
off after every event (``_plain = None``), so every delta takes the general path the shortcut
must agree with: for every block kind, for blocks not open, closed or never opened, after the
terminator, past the Responses encoder's table of sequence numbers and past ``LARGE_TEXT``.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import corpus_files, make_context
from hypothesis import given, settings
from hypothesis import strategies as st

from asgi_translate._hub import pipeline
from asgi_translate._hub.canonical import (
    BlockDelta,
    BlockStart,
    BlockStop,
    ClientTool,
    Finish,
    MessageStart,
    Request,
    StreamError,
    StreamEvent,
    Usage,
    UsageUpdate,
)
from asgi_translate._hub.pipeline import LARGE_TEXT, Pieces, StreamTranslator, as_bytes
from asgi_translate._hub.routes import SchemaName
from asgi_translate.schemas import get_codec

CLIENTS: list[SchemaName] = ["chat", "responses", "messages"]
REASONING_FIELDS = [("reasoning_content", "reasoning"), ("reasoning_content",), ("reasoning",)]


def request() -> Request:
    """A request whose tools give the Responses encoder every way of writing a call: ``u`` is a
    client's freeform tool (held JSON, unwrapped at the end), ``s`` its tool search (held whole)."""
    req = Request(model="m", messages=[], stream=True, include_usage=True)
    req.client_tools = {"u": ClientTool("u", kind="custom"), "s": ClientTool("s", kind="tool_search")}
    return req


def encoder(client: SchemaName, fields: tuple[str, ...] = REASONING_FIELDS[0]) -> Any:
    return get_codec(client).encoder(make_context(request(), reasoning_fields=fields))


class Three:
    """The same events into three encoders made alike (same ids, same clock)."""

    def __init__(self, client: SchemaName, fields: tuple[str, ...] = REASONING_FIELDS[0]) -> None:
        self.lane, self.plain, self.reference = (encoder(client, fields) for _ in range(3))
        #: Whether each output so far was Pieces (``send`` returns it joined: Pieces are read once).
        self.pieces: list[bool] = []

    def send(self, event: StreamEvent) -> bytes:
        """``event`` to all three; the lane's output, after checking the other two agree."""
        if type(event) is BlockDelta:
            lane = self.lane.encode_delta(event.index, event.text)
        else:
            lane = self.lane.encode(event)
        plain = self.plain.encode(event)
        reference = self.reference.encode(event)
        self.reference._plain = None  # the shortcut never taken: every delta the general way
        assert type(lane) is type(plain) is type(reference), event
        self.pieces.append(isinstance(lane, Pieces))
        out = as_bytes(lane)
        assert out == as_bytes(plain) == as_bytes(reference), event
        return out

    def final(self) -> None:
        """The state each kept agrees too (the response object the Responses state layer stores)."""
        finals = [getattr(e, "final_response", None) for e in (self.lane, self.plain, self.reference)]
        assert finals[0] == finals[1] == finals[2]


STARTS = [
    BlockStart(0, "text"),
    BlockStart(0, "refusal"),
    BlockStart(0, "reasoning", item_id="rs_1"),
    BlockStart(0, "redacted_reasoning"),
    BlockStart(0, "tool_call", "call_f", "f"),
    BlockStart(0, "tool_call", "call_c", "c", custom=True),
    BlockStart(0, "tool_call", "call_u", "u"),
    BlockStart(0, "tool_call", "call_s", "s"),
]
TEXTS = st.one_of(
    st.sampled_from(["", " the", "a\n", '"q"', "caf\u00e9 \U0001f642", "\\", '{"a":', "\u2028", "\x00\x1f"]),
    st.text(max_size=6),
)
INDEX = st.integers(min_value=0, max_value=3)
EVENTS = st.one_of(
    st.tuples(st.sampled_from(STARTS), INDEX).map(
        lambda s: BlockStart(s[1], s[0].kind, s[0].call_id, s[0].name, s[0].custom, s[0].item_id)
    ),  # fmt: skip
    st.builds(BlockDelta, INDEX, TEXTS),
    st.builds(BlockDelta, INDEX, TEXTS),
    st.builds(BlockDelta, INDEX, TEXTS),
    st.builds(BlockStop, INDEX, st.sampled_from([None, "", "sig"])),
    st.builds(lambda n: UsageUpdate(Usage(3, n)), st.integers(min_value=0, max_value=9)),
    st.just(MessageStart("up_1", "m")),
    st.just(Finish("end_turn")),
    st.just(StreamError("overloaded_error", "busy", 529)),
)


@pytest.mark.parametrize("client", CLIENTS)
@given(events=st.lists(EVENTS, max_size=40), fields=st.sampled_from(REASONING_FIELDS))
@settings(max_examples=300, deadline=None)
def test_encode_delta_writes_what_encode_writes(
    client: SchemaName, events: list[StreamEvent], fields: tuple[str, ...]
) -> None:
    """Any order of events, well formed or not: starts of every kind over open indexes, deltas
    for open, closed and unknown blocks, stops, terminators and what comes after them."""
    three = Three(client, fields)
    for event in events:
        three.send(event)
    three.final()


@pytest.mark.parametrize("start", STARTS, ids=lambda s: f"{s.kind}-{s.name}")
@pytest.mark.parametrize("client", CLIENTS)
@pytest.mark.parametrize("end", [Finish("end_turn"), StreamError("api_error", "cut")], ids=["finish", "error"])
def test_every_block_kind_through_its_stream(client: SchemaName, start: BlockStart, end: StreamEvent) -> None:
    """One block of each kind, its deltas, another block opened over it, the end, and deltas
    after the terminator, which write nothing."""
    three = Three(client)
    three.send(MessageStart("up_1", "m"))
    three.send(start)
    for text in ["{", '"a": ', "1}"]:
        three.send(BlockDelta(0, text))
    three.send(BlockStart(1, "text"))
    three.send(BlockDelta(1, "x"))
    three.send(BlockDelta(0, "after"))  # the first block, no longer the last one opened
    three.send(BlockStop(1))
    three.send(BlockDelta(1, "closed"))
    three.send(BlockDelta(0, "again"))
    three.send(BlockStop(0, "sig"))
    three.send(end)
    for index in (0, 1, 2):
        assert three.send(BlockDelta(index, "late")) == b""
    three.final()


@pytest.mark.parametrize("client", CLIENTS)
def test_a_block_opened_again_over_an_open_one_takes_its_deltas(client: SchemaName) -> None:
    """A decoder that opens an index twice: the second block replaces the first in the chat and
    Responses encoders (Messages holds it), and the shortcut must not write the first one's frame."""
    three = Three(client)
    three.send(BlockStart(0, "text"))
    assert b'"a"' in three.send(BlockDelta(0, "a"))
    three.send(BlockStart(0, "redacted_reasoning"))
    hidden = three.send(BlockDelta(0, "hidden"))
    three.send(BlockStart(0, "tool_call", "call_c", "c", custom=True))
    held = three.send(BlockDelta(0, "raw"))
    if client == "chat":  # redacted reasoning shows no text; a freeform call's input is held to its end
        assert hidden == held == b""
    else:
        assert b'"hidden"' in hidden
    three.send(Finish("tool_use"))
    three.final()


def test_the_chat_encoders_shortcut_writes_the_chunk() -> None:
    for fields, delta in [
        (("reasoning_content", "reasoning"), b'{"reasoning_content":"hm\\n","reasoning":"hm\\n"}'),
        (("reasoning",), b'{"reasoning":"hm\\n"}'),
    ]:
        chat = encoder("chat", fields)
        chat.encode(MessageStart("c1", "m"))
        chat.encode(BlockStart(0, "reasoning"))
        head = (
            b'data: {"id":"c1","object":"chat.completion.chunk","created":1700000000,"model":"m","choices":[{"index":0,'
        )
        tail = b',"logprobs":null,"finish_reason":null}]}\n\n'
        assert chat.encode_delta(0, "hm\n") == head + b'"delta":' + delta + tail
        assert chat.encode_delta(0, "") == b""
        chat.encode(BlockStop(0))
        assert chat.encode_delta(0, "closed") == b""
        chat.encode(BlockStart(1, "tool_call", "call_1", "f"))
        assert chat.encode_delta(1, '{"a"') == (
            head + b'"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\\"a\\""}}]}' + tail
        )
        chat.encode(Finish("tool_use"))
        assert chat.encode_delta(1, "after the end") == b""


def test_the_responses_sequence_numbers_run_on_past_the_table() -> None:
    """Deltas 2046 to 2050 straddle the table of frame ends made at import: the numbers go on
    by one and the text kept for the done events is every delta's."""
    three = Three("responses")
    three.send(MessageStart("resp_1", "m"))
    three.send(BlockStart(0, "text"))  # sequence numbers 0-3: created, in_progress, item, part
    frames = [three.send(BlockDelta(0, "ab")) for _ in range(2051)]
    assert frames[0] == (
        b'event: response.output_text.delta\ndata: {"type":"response.output_text.delta","item_id":"msg_test0001",'
        b'"output_index":0,"content_index":0,"logprobs":[],"delta":"ab","sequence_number":4}\n\n'
    )
    for number in (2046, 2047, 2048, 2049, 2050):
        assert as_bytes(frames[number - 4]).endswith(b'"delta":"ab","sequence_number":%d}\n\n' % number)
    done = as_bytes(three.send(BlockStop(0)))
    assert b'"text":"' + b"ab" * 2051 + b'","logprobs":[],"sequence_number":2055}' in done
    three.send(Finish("end_turn"))
    assert three.lane.final_response["output"][0]["content"][0]["text"] == "ab" * 2051
    three.final()


def test_the_responses_shortcut_after_a_failure_writes_nothing() -> None:
    """The failed response leaves its blocks open (marked incomplete): their deltas stop all the
    same, and the failure took the next sequence number."""
    three = Three("responses")
    three.send(BlockStart(0, "tool_call", "call_f", "f"))
    assert as_bytes(three.send(BlockDelta(0, '{"a":'))).endswith(b'"delta":"{\\"a\\":","sequence_number":3}\n\n')
    failed = as_bytes(three.send(StreamError("api_error", "cut")))
    assert b'"sequence_number":4}' in failed and b'"sequence_number":5}' in failed
    assert three.send(BlockDelta(0, "1}")) == b""
    assert three.lane.final_response["output"][0]["status"] == "incomplete"
    three.final()


@pytest.mark.parametrize("client", CLIENTS)
def test_a_delta_past_large_text_and_the_frames_after_it(client: SchemaName) -> None:
    """A long delta goes out whole as it came, the same either way; once a block longer than
    ``LARGE_TEXT`` has ended, the Responses encoder writes its frames as Pieces, the first delta
    of a reasoning summary included (its ``part.added`` comes with it)."""
    three = Three(client)
    long = "x" * LARGE_TEXT + "\u00e9"
    three.send(BlockStart(0, "text"))
    assert long.encode() in three.send(BlockDelta(0, long))
    assert (long.encode() in three.send(BlockStop(0))) is (client == "responses")  # its done events repeat it
    three.send(BlockStart(1, "reasoning"))
    first = three.send(BlockDelta(1, "hm"))
    three.send(BlockDelta(1, " more"))
    three.send(BlockStop(1))
    three.send(Finish("end_turn"))
    if client == "responses":
        assert three.pieces == [False, False, True, True, True, False, True, True]
        assert first.startswith(b"event: response.reasoning_summary_part.added\n")
        assert first.endswith(b'"delta":"hm","sequence_number":10}\n\n')
    else:
        assert three.pieces == [False] * 8
    three.final()


# -- whole streams through the translator -----------------------------------------------------


def _workload() -> Any:
    path = Path(__file__).resolve().parents[2] / "benchmarks" / "workload.py"
    spec = importlib.util.spec_from_file_location("_workload_for_encode_delta", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


WORKLOAD = _workload()
CORPUS = [
    (path.parent.name, path, client)
    for schema in ("chat", "messages", "responses")
    for path in corpus_files(schema, ".sse")
    for client in CLIENTS
    if client != schema
]


def translate(
    upstream: SchemaName, client: SchemaName, chunks: list[bytes], *, shortcut: bool
) -> tuple[list[bytes], int]:
    """The translator's output chunk by chunk, and how many deltas went to ``encode_delta`` or,
    a run at a time, to ``encode_deltas`` (without the shortcut, neither: each is encoded from
    its ``BlockDelta``)."""
    ctx = make_context(request())
    t = StreamTranslator(get_codec(upstream).decoder(ctx), get_codec(client).encoder(ctx))
    calls = 0
    encode_delta: Callable[[int, str], bytes | Pieces] = t._encode_delta if shortcut else t._delta
    encode_deltas = t._encode_deltas

    def counting(index: int, text: str) -> bytes | Pieces:
        nonlocal calls
        calls += 1
        return encode_delta(index, text)

    def counting_run(index: int, texts: list[str]) -> bytes | Pieces | None:
        nonlocal calls
        assert encode_deltas is not None
        out = encode_deltas(index, texts)
        if out is not None:  # else each goes through encode_delta, counted there
            calls += len(texts)
        return out

    t._encode_delta = counting
    if encode_deltas is not None:  # else runs go through encode_delta, counted there
        t._encode_deltas = counting_run
    if not shortcut:
        t._decode_run = None
    outs = [as_bytes(t.feed(chunk)) for chunk in chunks]
    outs.append(as_bytes(t.finish()))
    return outs, calls


def frames_of(raw: bytes) -> list[bytes]:
    return [frame + b"\n\n" for frame in raw.replace(b"\r\n", b"\n").split(b"\n\n") if frame]


PAIRS = [(up, client) for up in ("chat", "messages", "responses") for client in CLIENTS if client != up]


@pytest.mark.parametrize(("upstream", "client"), PAIRS)
@pytest.mark.parametrize("per_chunk", [1, 3])
def test_workload_streams_are_the_same_bytes_with_the_shortcut(
    upstream: SchemaName, client: SchemaName, per_chunk: int
) -> None:
    """The benchmark's streams (reasoning, many small text frames, a tool call's arguments),
    frame by frame and three frames to a chunk: every decoder's lane answers most of them as
    ``(index, text)``."""
    frames = WORKLOAD.frames(upstream, 254)
    chunks = [b"".join(frames[i : i + per_chunk]) for i in range(0, len(frames), per_chunk)]
    fast, calls = translate(upstream, client, chunks, shortcut=True)
    slow, slow_calls = translate(upstream, client, chunks, shortcut=False)
    assert fast == slow and calls == slow_calls
    assert calls > 200
    assert b"".join(fast).count(b"\n\n") > 200


@pytest.mark.parametrize(("schema", "path", "client"), CORPUS, ids=[f"{s}/{p.name}->{c}" for s, p, c in CORPUS])
def test_recorded_streams_are_the_same_bytes_with_the_shortcut(
    schema: SchemaName, path: Path, client: SchemaName
) -> None:
    """Every recorded stream of the corpus, frame by frame, into each other schema; and whole,
    in one chunk, as a remote upstream's read under load holds it (its text frames then read
    and written as runs), the same bytes as frame by frame without any shortcut."""
    chunks = frames_of(path.read_bytes())
    fast, calls = translate(schema, client, chunks, shortcut=True)
    slow, slow_calls = translate(schema, client, chunks, shortcut=False)
    assert fast == slow and calls == slow_calls
    assert any(fast)  # the stream's bytes came out (a terminator at least)
    whole, whole_calls = translate(schema, client, [b"".join(chunks)], shortcut=True)
    assert b"".join(whole) == b"".join(slow)
    # Read whole, a chunk takes the lane up to its first frame of another shape (OpenRouter's
    # comments, Groq's "event: error"), and the SSE decoder reads it from there: in those
    # streams no more deltas take the shortcut than frame by frame, in every other one as many.
    if all(_lane_shaped(schema, chunk) for chunk in chunks):
        assert whole_calls == slow_calls
    else:
        assert whole_calls <= slow_calls


def _lane_shaped(schema: SchemaName, frame: bytes) -> bool:
    """Whether a whole frame is one the lane reads inside a chunk: one ``data:`` line (chat), or
    an ``event:`` line and a ``data:`` line (Messages, Responses)."""
    lines = frame.split(b"\n")
    if schema == "chat":
        return len(lines) == 3 and lines[0].startswith(b"data: ")
    return len(lines) == 4 and lines[0].startswith(b"event: ") and lines[1].startswith(b"data: ")


RUN_TEXTS = st.one_of(
    st.sampled_from([",", '","', '"', '",', ",,", "\\", "\\,", '\\"', "a,b", "\x00", "\\u0000", "\\\x00"]), TEXTS
)


@pytest.mark.parametrize("start", STARTS, ids=lambda s: f"{s.kind}-{s.name}")
@given(texts=st.lists(RUN_TEXTS, min_size=1, max_size=8), index=st.sampled_from([0, 1]))
@settings(max_examples=200, deadline=None)
def test_the_messages_encoders_run_writes_its_frames_one_by_one(
    start: BlockStart, texts: list[str], index: int
) -> None:
    """``encode_deltas`` writes the bytes of ``encode_delta`` for each text in turn, for any
    texts (U+0000 and its escape spelled out, which look like its separator, among them), for
    the open plain block, and declines (``None``, each then on its own) exactly for another block
    and for texts whose dump holds a ``\\u0000`` of their own."""
    run, single = encoder("messages"), encoder("messages")
    assert run.encode(start) == single.encode(start)
    expected = b"".join(single.encode_delta(index, text) for text in texts)
    out = run.encode_deltas(index, texts)
    spelled = any("\x00" in text or "\\u0000" in text for text in texts)
    assert (out is None) == (index != run._plain or spelled)
    if out is None:
        out = b"".join(run.encode_delta(index, text) for text in texts)
    assert out == expected
    assert run.encode(Finish("end_turn")) == single.encode(Finish("end_turn"))


@pytest.mark.parametrize(("upstream", "client"), [("chat", client) for client in CLIENTS if client != "chat"])
def test_a_whole_stream_in_one_chunk_is_read_in_runs_with_the_same_bytes(upstream: SchemaName, client: str) -> None:
    """What a remote upstream's read holds under load, the whole stream: its text frames are
    read as a few runs, not one by one, and the bytes are those frame by frame."""
    frames = WORKLOAD.frames(upstream, 254)
    ctx = make_context(request())
    t = StreamTranslator(get_codec(upstream).decoder(ctx), get_codec(client).encoder(ctx))  # type: ignore[arg-type]
    decode_run = t._decode_run
    assert decode_run is not None
    runs: list[int] = []

    def counted(frames: list[bytes], start: int) -> tuple[int, list[str]]:
        index, texts = decode_run(frames, start)
        runs.append(len(texts))
        return index, texts

    t._decode_run = counted
    whole = as_bytes(t.feed(b"".join(frames))) + as_bytes(t.finish())
    by_frame, _ = translate(upstream, client, frames, shortcut=False)  # type: ignore[arg-type]
    assert whole == b"".join(by_frame)
    assert sum(runs) > 200 and len([n for n in runs if n]) < 12


class _Recording:
    """An encoder whose ``encode_delta`` keeps state (as Responses' sequence numbers do) and
    fails on one text, after changing its state, as a dump of a lone surrogate would."""

    def __init__(self, runs: bool) -> None:
        self.seen: list[str] = []
        if runs:
            self.encode_deltas = lambda index, texts: None  # declines: each text on its own

    def encode(self, event: StreamEvent) -> bytes:
        return b""

    def encode_delta(self, index: int, text: str) -> bytes:
        self.seen.append(text)
        if text == "bad":
            raise ValueError("cannot write it")
        return text.encode()


@pytest.mark.parametrize("runs", [False, True], ids=["no encode_deltas", "encode_deltas declines"])
def test_a_run_that_fails_midway_encodes_each_text_once(runs: bool) -> None:
    """What precedes the failing text is written once and its state changed once, as frame by
    frame: a run is never encoded a second time after a failure."""
    encoder = _Recording(runs)
    t = StreamTranslator(get_codec("chat").decoder(make_context(request())), encoder)
    parts: list[bytes | Pieces] = []
    with pytest.raises(ValueError, match="cannot write it"):
        t._write_run(0, ["a", "b", "bad", "c"], parts)
    assert encoder.seen == ["a", "b", "bad"]
    assert parts == [b"a", b"b"]


@pytest.mark.parametrize("upstream", CLIENTS)
def test_long_chunks_cut_inside_a_frame_give_the_frame_by_frame_bytes(upstream: SchemaName) -> None:
    """Chunks past the lane's short size (sliced, not peeled) that open or end inside a frame:
    they go to the SSE decoder, and the bytes are those frame by frame."""
    frames = WORKLOAD.frames(upstream, 254)
    raw = b"".join(frames)
    cut = len(raw) // 2 + 7  # inside a frame, both halves far longer than _SHORT
    assert raw[cut - 2 : cut] != b"\n\n" and min(cut, len(raw) - cut) > 4 * pipeline._SHORT
    client: SchemaName = "messages" if upstream != "messages" else "chat"
    halves, _ = translate(upstream, client, [raw[:cut], raw[cut:]], shortcut=True)
    by_frame, _ = translate(upstream, client, frames, shortcut=False)
    assert b"".join(halves) == b"".join(by_frame)
