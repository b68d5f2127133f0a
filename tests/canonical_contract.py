"""The canonical stream contract (COMMON.md), checked once for every schema's decoder tests.

Each codec's tests used to carry their own checker, each missing a rule or two the others had;
this one holds all of them, so every decoder is held to the same contract.
"""

from __future__ import annotations

from asgi_translate._hub.canonical import (
    BlockDelta,
    BlockStart,
    BlockStop,
    Finish,
    MessageStart,
    StreamError,
    StreamEvent,
)
from asgi_translate._hub.sse import SSEDecoder
from asgi_translate.schemas import StreamDecoder


def decode_stream(decoder: StreamDecoder, *chunks: bytes) -> list[StreamEvent]:
    """Upstream bytes, cut into ``chunks`` as they arrived, through SSE framing and ``decoder``,
    ending with both flushes as the pipeline does at end of input."""
    sse = SSEDecoder()
    frames = [frame for chunk in chunks for frame in sse.decode(chunk)] + sse.flush()
    events = [out for frame in frames for out in decoder.decode(frame)]
    return events + decoder.flush()


def check_contract(events: list[StreamEvent]) -> None:
    """MessageStart first and once, blocks numbered in opening order, a text-like block closed
    before any other block opens, tool calls named with an id, non-empty deltas only for open
    blocks, stops only for open blocks, exactly one terminator and it last, nothing open at Finish."""
    assert events, "no events"
    terminal = events[-1]
    assert isinstance(terminal, Finish | StreamError), f"last event is {terminal!r}"
    assert not any(isinstance(e, Finish | StreamError) for e in events[:-1]), "terminator before the end"
    if isinstance(terminal, StreamError) and len(events) == 1:
        return
    assert isinstance(events[0], MessageStart), f"first event is {events[0]!r}"
    assert sum(isinstance(e, MessageStart) for e in events) == 1, "MessageStart more than once"
    open_blocks: dict[int, str] = {}
    next_index = 0
    for event in events[1:-1]:
        if isinstance(event, BlockStart):
            assert event.index == next_index, f"block {event.index} opened, expected {next_index}"
            next_index += 1
            assert all(kind == "tool_call" for kind in open_blocks.values()), "text-like block left open"
            if event.kind == "tool_call":
                assert event.call_id and event.name is not None, f"tool call without id or name: {event!r}"
            open_blocks[event.index] = event.kind
        elif isinstance(event, BlockDelta):
            assert event.index in open_blocks, f"delta for closed block {event.index}"
            assert event.text, f"empty delta for block {event.index}"
        elif isinstance(event, BlockStop):
            assert open_blocks.pop(event.index, None) is not None, f"stop for closed block {event.index}"
    if isinstance(terminal, Finish):
        assert not open_blocks, f"blocks still open at Finish: {open_blocks}"
