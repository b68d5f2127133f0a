"""SSEDecoder and format_event against the WHATWG event-stream rules, fed in awkward pieces.

https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from asgi_translate._hub.sse import ServerSentEvent, SSEDecoder, format_event


def decode_chunks(chunks: list[bytes]) -> list[ServerSentEvent]:
    decoder = SSEDecoder()
    events = [event for chunk in chunks for event in decoder.decode(chunk)]
    return events + decoder.flush()


def decode_whole(raw: bytes) -> list[ServerSentEvent]:
    return decode_chunks([raw])


def every_split(raw: bytes) -> list[list[bytes]]:
    """Each way of cutting ``raw`` in two, plus one byte at a time."""
    return [[raw[:i], raw[i:]] for i in range(len(raw) + 1)] + [[raw[i : i + 1] for i in range(len(raw))]]


E = ServerSentEvent

# (id, raw stream, expected events)
CASES: list[tuple[str, bytes, list[ServerSentEvent]]] = [
    ("lf", b"data: a\n\ndata: b\n\n", [E("a"), E("b")]),
    ("crlf", b"data: a\r\n\r\ndata: b\r\n\r\n", [E("a"), E("b")]),
    ("cr", b"data: a\r\rdata: b\r\r", [E("a"), E("b")]),
    ("mixed-line-endings", b"data: a\r\n\rdata: b\n\r\n", [E("a"), E("b")]),
    ("comment-lines", b": keep-alive\n\n: OPENROUTER PROCESSING\ndata: x\n\n", [E("x")]),
    ("multi-line-data", b"data: one\ndata: two\ndata:\ndata: four\n\n", [E("one\ntwo\n\nfour")]),
    ("no-space-after-colon", b"data:x\n\n", [E("x")]),
    ("only-first-space-removed", b"data:  x \n\n", [E(" x ")]),
    ("field-without-colon", b"data\n\n", [E("")]),
    ("empty-data-line-dispatches", b"data:\n\n", [E("")]),
    ("event-name", b"event: message_start\ndata: {}\n\n", [E("{}", "message_start")]),
    ("event-name-resets", b"event: a\ndata: 1\n\ndata: 2\n\n", [E("1", "a"), E("2")]),
    ("event-without-data-not-dispatched", b"event: ping\n\ndata: x\n\n", [E("x")]),
    ("id-and-retry", b"id: 7\nretry: 1500\ndata: x\n\n", [E("x", "", "7", 1500)]),
    (
        "id-persists",
        b"id: 7\ndata: x\n\ndata: y\n\nid\ndata: z\n\n",
        [E("x", "", "7"), E("y", "", "7"), E("z", "", "")],
    ),
    ("id-with-nul-ignored", b"id: 1\ndata: a\n\nid: 2\x003\ndata: b\n\n", [E("a", "", "1"), E("b", "", "1")]),
    ("retry-not-digits-ignored", b"retry: 1.5\ndata: x\n\n", [E("x")]),
    ("retry-unicode-digits-ignored", "retry: ²\ndata: x\n\n".encode(), [E("x")]),
    ("unknown-field-ignored", b"foo: bar\ndata: x\n\n", [E("x")]),
    ("final-frame-without-blank-line", b"data: a\n\ndata: b\n", [E("a"), E("b")]),
    ("final-line-without-newline", b"data: a\n\ndata: b", [E("a"), E("b")]),
    ("final-cr-only", b"data: a\r", [E("a")]),
    ("done-sentinel", b'data: {"x":1}\n\ndata: [DONE]\n\n', [E('{"x":1}'), E("[DONE]")]),
    ("non-ascii", "data: héllo → 世界 🦜\n\n".encode(), [E("héllo → 世界 🦜")]),
    ("bom-at-start", b"\xef\xbb\xbfdata: a\n\n", [E("a")]),
    ("vertical-tab-is-not-a-line-break", b"data: a\x0bb\xe2\x80\xa8c\n\n", [E("a\x0bb\u2028c")]),
    ("blank-lines-only", b"\n\n\r\n\r", []),
    ("empty", b"", []),
]


@pytest.mark.parametrize(("raw", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_decode_whole(raw: bytes, expected: list[ServerSentEvent]) -> None:
    assert decode_whole(raw) == expected


@pytest.mark.parametrize(("raw", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_decode_any_split(raw: bytes, expected: list[ServerSentEvent]) -> None:
    """Every two-piece split and 1-byte chunks: between \\r and \\n, inside a UTF-8 character."""
    for chunks in every_split(raw):
        assert decode_chunks(chunks) == expected, chunks


def test_split_between_cr_and_lf_is_one_line_break() -> None:
    decoder = SSEDecoder()
    assert decoder.decode(b"data: a\r") == []
    # The "\n" completes "\r\n"; only the next "\r\n" is the blank line that dispatches.
    assert decoder.decode(b"\n") == []
    assert decoder.decode(b"\r\n") == [E("a")]


def test_cr_then_empty_chunk_then_lf() -> None:
    decoder = SSEDecoder()
    assert decoder.decode(b"data: a\r") == []
    assert decoder.decode(b"") == []
    assert decoder.decode(b"\n") == []
    assert decoder.decode(b"\n") == [E("a")]


def test_cr_then_partial_utf8_then_lf() -> None:
    """A chunk holding only half a character decodes to nothing and must not forget the \\r."""
    decoder = SSEDecoder()
    assert decoder.decode(b"data: a\r") == []
    assert decoder.decode(b"\ndata: \xc3") == []
    assert decoder.decode(b"\xa9\r") == []
    assert decoder.decode(b"\n\r\n") == [E("a\n\u00e9")]


def test_mid_utf8_split_is_not_replaced() -> None:
    raw = "data: 🦜\n\n".encode()
    cut = raw.index(b"\xf0") + 2
    decoder = SSEDecoder()
    assert decoder.decode(raw[:cut]) == []
    assert decoder.decode(raw[cut:]) == [E("🦜")]


def test_invalid_utf8_is_replaced_not_raised() -> None:
    assert decode_whole(b"data: a\xffb\n\n") == [E("a\ufffdb")]


def test_truncated_utf8_at_end_of_stream_is_replaced() -> None:
    assert decode_whole(b"data: a\xe2\x82") == [E("a\ufffd")]


def test_events_dispatch_as_soon_as_their_blank_line_arrives() -> None:
    decoder = SSEDecoder()
    assert decoder.decode(b"data: a\n") == []
    assert decoder.decode(b"\ndata: b") == [E("a")]
    assert decoder.flush() == [E("b")]


def test_flush_twice_yields_nothing_more() -> None:
    decoder = SSEDecoder()
    decoder.decode(b"data: a")
    assert decoder.flush() == [E("a")]
    assert decoder.flush() == []


def test_bom_only_stripped_at_stream_start() -> None:
    decoder = SSEDecoder()
    assert decoder.decode(b"\xef\xbb") == []
    assert decoder.decode(b"\xbfdata: a\n\n") == [E("a")]
    # Later, U+FEFF is an ordinary character that spoils the field name.
    assert decoder.decode(b"\xef\xbb\xbfdata: b\n\ndata: c\n\n") == [E("c")]


def test_long_stream_in_one_byte_chunks() -> None:
    raw = b"".join(format_event(f'{{"n":{i},"t":"\u00e9\u4e16"}}', "delta") for i in range(200))
    events = decode_chunks([raw[i : i + 1] for i in range(len(raw))])
    assert [e.data for e in events] == [f'{{"n":{i},"t":"\u00e9\u4e16"}}' for i in range(200)]
    assert {e.event for e in events} == {"delta"}


# -- format_event ------------------------------------------------------------------------------

FORMAT_CASES: list[tuple[str, str, str | None, bytes]] = [
    ("plain", '{"a":1}', None, b'data: {"a":1}\n\n'),
    ("with-event", "{}", "message_stop", b"event: message_stop\ndata: {}\n\n"),
    ("empty-event-name-omitted", "x", "", b"data: x\n\n"),
    ("empty-data", "", None, b"data: \n\n"),
    ("multi-line-lf", "a\nb", None, b"data: a\ndata: b\n\n"),
    ("multi-line-crlf", "a\r\nb", "e", b"event: e\ndata: a\ndata: b\n\n"),
    ("multi-line-cr", "a\rb", None, b"data: a\ndata: b\n\n"),
    ("trailing-newline", "a\n", None, b"data: a\ndata: \n\n"),
    ("non-ascii", "é世", None, "data: é世\n\n".encode()),
    ("done", "[DONE]", None, b"data: [DONE]\n\n"),
]


@pytest.mark.parametrize(("data", "event", "expected"), [c[1:] for c in FORMAT_CASES], ids=[c[0] for c in FORMAT_CASES])
def test_format_event(data: str, event: str | None, expected: bytes) -> None:
    assert format_event(data, event) == expected


@pytest.mark.parametrize("data", ["a\nb", "a\r\nb\rc", "\n", "x\n\ny", "é\n世"])
def test_format_then_decode_round_trips(data: str) -> None:
    normalized = data.replace("\r\n", "\n").replace("\r", "\n")
    assert decode_whole(format_event(data, "e")) == [E(normalized, "e")]


# Whole events as servers send them, and pieces that stress the rules: line ends of every kind,
# fields without a space, comments, ids, partial and invalid UTF-8, a byte order mark.
FRAMES = [
    b'data: {"a":1}\n\n',
    b"event: delta\ndata: z \xc3\xa9\n\n",
    b"data: x\n\ndata: y\n\n",
    b"event: e:f\ndata: \n\n",
    b"event: only\n\n",
    b"id: 7\ndata: with id\n\n",
    b"data: two\ndata: lines\n\n",
    b"data:nospace\n\n",
    b": ping\n\n",
    b"\n\n",
    b"event: m\ndata: one\ndata: two\n\n",
    b"event: held\n",  # state carried into the next chunk
    b"data: held\n",
    b"data: a\r\r",
]
PIECES = [b"data: ", b"event: ", b"retry: 9", b"x", b" ", b":", b"\n", b"\r", b"\r\n"]
PIECES += [b"\xc3", b"\xa9", b"\xff", b"\xef\xbb\xbf"]  # partial, invalid, byte order mark
FRAGMENTS = st.one_of(st.sampled_from(FRAMES), st.lists(st.sampled_from(PIECES), max_size=4).map(b"".join))


@given(
    parts=st.lists(st.tuples(FRAGMENTS, st.booleans()), max_size=25),
    cuts=st.lists(st.integers(min_value=0, max_value=300), max_size=4),
)
@settings(max_examples=500, deadline=None)
def test_any_chunking_gives_the_events_of_one_byte_at_a_time(parts: list[tuple[bytes, bool]], cuts: list[int]) -> None:
    """Chunks that end on an event boundary take a fast path; one-byte chunks never do (they
    always go through the line rules), so they are the reference. Chunks end after a fragment
    when its flag says so, and at a few arbitrary offsets."""
    raw = b"".join(fragment for fragment, _ in parts)
    ends = [sum(len(f) for f, _ in parts[: i + 1]) for i, (_, cut) in enumerate(parts) if cut]
    points = sorted({min(point, len(raw)) for point in [*ends, *cuts]})
    chunks = [raw[a:b] for a, b in zip([0, *points], [*points, len(raw)], strict=True)]
    assert decode_chunks(chunks) == decode_chunks([raw[i : i + 1] for i in range(len(raw))])


@pytest.mark.parametrize(
    ("chunks", "expected"),
    [
        ([b"data: held\n", b"data: x\n\n"], [E("held\nx")]),
        ([b"event: held\n", b"data: x\n\n"], [E("x", "held")]),
        ([b"", b"\xef\xbb\xbfdata: x\n\n"], [E("x")]),
        ([b"data: a\n\n", b"data: \xc3", b"\xa9\n\ndata: b\n\n"], [E("a"), E("é"), E("b")]),
        ([b"data: a\n\n", b"event: m\ndata: one\ndata: two\n\n"], [E("a"), E("one\ntwo", "m")]),
        ([b"data: a\n\n", b"id: 3\ndata: b\n\ndata: c\n\n"], [E("a"), E("b", id="3"), E("c", id="3")]),
    ],
    ids=["held-data", "held-event", "bom-after-empty-chunk", "split-utf8", "event-two-data-lines", "id-persists"],
)
def test_whole_event_chunks_after_carried_state(chunks: list[bytes], expected: list[ServerSentEvent]) -> None:
    assert decode_chunks(chunks) == expected
