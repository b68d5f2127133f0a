"""Upstream bytes to client bytes for one streamed response.

``bytes --SSEDecoder--> ServerSentEvent --StreamDecoder--> StreamEvent --StreamEncoder--> bytes``

One :class:`StreamTranslator` per request holds the whole per-stream state (the three stages);
the middleware feeds it each upstream body message as it arrives, and benchmarks drive it
directly.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from typing import Protocol

from .canonical import (
    BlockDelta,
    BlockKind,
    BlockStart,
    BlockStop,
    Finish,
    MessageStart,
    ReasoningPart,
    RefusalPart,
    Response,
    StreamError,
    StreamEvent,
    TextPart,
    ToolCallPart,
    UsageUpdate,
)
from .errors import StreamTranslationError
from .json import dumpb
from .sse import ServerSentEvent, SSEDecoder

logger = logging.getLogger("asgi_translate")


#: A string longer than this in a frame is written on its own (see :class:`Pieces`).
LARGE_TEXT = 1024 * 1024


class Pieces:
    """Client bytes made as they are sent, for the few frames that carry a whole long output (a
    Responses client's ``output_text.done``, ``output_item.done`` and ``response.completed`` each
    repeat all of it): built and held at once they cost many copies of it, sent piece by piece
    about one. Joins with bytes by ``+`` either way; iterating yields the bytes in order, each
    long string dumped only when its turn comes. Encoders return one only past
    :data:`LARGE_TEXT`, so every other frame stays plain bytes."""

    __slots__ = ("items",)

    def __init__(self, items: list[bytes | Pieces | Iterable[bytes]]) -> None:
        self.items = items

    def __add__(self, other: bytes | Pieces) -> Pieces:
        return Pieces([self, other])

    def __radd__(self, other: bytes) -> Pieces:
        return Pieces([other, self])

    def __bool__(self) -> bool:
        return True

    def __iter__(self) -> Iterator[bytes]:
        items, self.items = self.items, []  # once: each long piece is dropped as soon as it is sent
        for item in items:
            if isinstance(item, bytes):
                if item:
                    yield item
            else:
                yield from item


def as_bytes(out: bytes | Pieces) -> bytes:
    """Encoder or translator output as one bytes object (tests and tools; the middleware sends
    :class:`Pieces` piece by piece instead)."""
    return out if isinstance(out, bytes) else b"".join(out)


def join(parts: list[bytes | Pieces]) -> bytes | Pieces:
    """``b"".join(parts)``, or :class:`Pieces` when one of them is."""
    try:
        return b"".join(parts)  # type: ignore[arg-type]
    except TypeError:
        return Pieces(list(parts))


def lazy_frame(event_type: str, payload: dict[str, object]) -> Pieces:
    """One SSE frame whose JSON is written piece by piece, each long string when its turn comes.
    Everything else is dumped now, so the frame shows the payload as it is at this call."""
    segments: list[bytes | str] = [b"event: " + event_type.encode() + b"\ndata: "]
    _segments(payload, segments)
    segments.append(b"\n\n")
    return Pieces([_pieces(segments)])


def _segments(value: object, out: list[bytes | str]) -> None:
    """``value`` as JSON bytes, except each long string, kept as the string itself (no copy)."""
    if isinstance(value, dict):
        out.append(b"{")
        for index, (key, inner) in enumerate(value.items()):
            out.append((b"," if index else b"") + dumpb(key) + b":")
            _segments(inner, out)
        out.append(b"}")
    elif isinstance(value, list):
        out.append(b"[")
        for index, inner in enumerate(value):
            if index:
                out.append(b",")
            _segments(inner, out)
        out.append(b"]")
    elif isinstance(value, str) and len(value) > LARGE_TEXT:
        out.append(value)
    else:
        out.append(dumpb(value))


def _pieces(segments: list[bytes | str]) -> Iterator[bytes]:
    buffer = bytearray()
    for segment in segments:
        if isinstance(segment, bytes):
            buffer += segment
            continue
        if buffer:
            yield bytes(buffer)
            buffer = bytearray()
        # A slice at a time: each is a few MB at most, where one dump of the whole string would
        # reserve its worst case (every character escaped) at once.
        yield b'"'
        for start in range(0, len(segment), _SLICE):
            yield dumpb(segment[start : start + _SLICE])[1:-1]
        yield b'"'
    if buffer:
        yield bytes(buffer)


_SLICE = 256 * 1024


#: What a decoder's optional ``decode_data`` answers (see :class:`StreamDecoder`).
DataEvents = list[StreamEvent] | tuple[int, str]
#: A decoder's optional ``decode_run(frames, start) -> (index, texts)`` (see :class:`StreamDecoder`).
DecodeRun = Callable[[list[bytes], int], tuple[int, list[str]]]
#: A chunk's frames from this many on may be read as runs (a run costs about what two frames do).
_MIN_RUN = 3


class StreamDecoder(Protocol):
    """Upstream SSE events in, canonical events out; one instance per request.

    A decoder may also offer ``decode_data(data: bytes, event: str) -> DataEvents``: the
    same as ``decode`` for an event whose data is ``data`` (raw UTF-8 bytes, possibly invalid,
    which ``decode`` would have seen decoded with errors replaced) and whose type is ``event``;
    it may answer ``(index, text)`` for ``[BlockDelta(index, text)]``, the event of nine frames
    in ten, which then costs neither the object nor the list (an encoder's optional
    ``encode_delta(index, text)`` writes it, else it is built for ``encode``).
    :class:`StreamTranslator` prefers it for chunks of whole events that are each one ``data:``
    line (see :meth:`SSEDecoder.data_only`) or an ``event:`` line and a ``data:`` line (every
    Messages and Responses frame), so the JSON parser reads the bytes as they came. It is looked
    up once per stream with ``getattr`` and may be ``None``; it is not part of this protocol, so
    wrappers and decoders without it keep working unchanged.

    Likewise an optional ``decode_run(frames, start) -> (index, texts)``: for a chunk's several
    one-line events (their data, ``frames``), the text deltas that ``decode_data`` would answer
    for ``frames[start]`` and those after it, read at once, up to the first frame it would
    answer otherwise (no texts: decode ``frames[start]`` alone; with a negative index, the run
    failed and the chunk's later frames go alone too). An encoder's optional
    ``encode_deltas(index, texts)`` writes them all, or answers ``None`` (it may raise only
    before it changed its state); else, and then, ``encode_delta`` writes each.
    """

    def decode(self, event: ServerSentEvent) -> list[StreamEvent]: ...

    def flush(self) -> list[StreamEvent]:
        """The upstream stream ended. Emit what is still owed: block stops and a ``Finish`` when
        the stream ended cleanly, a ``StreamError`` when it was cut before its terminator."""
        ...


class StreamEncoder(Protocol):
    """Canonical events in, client SSE bytes out; one instance per request. After a ``Finish``
    or ``StreamError`` it has written its terminator and ignores anything further."""

    def encode(self, event: StreamEvent) -> bytes | Pieces:
        """The client bytes for one event: plain bytes, or :class:`Pieces` for a frame that
        carries a long output whole."""
        ...


#: Below this many bytes, the lane tests and cuts a chunk with ``removeprefix`` and
#: ``removesuffix``, which answer the chunk itself when they remove nothing: a test and a cut
#: in one call each, with no argument parsing, where slicing and indexing cost twice as much.
#: But each copies the chunk, and a long one (many frames of a remote upstream's read) is
#: tested by slicing, which copies it once.
_SHORT = 2048


def _rejoined(payloads: list[bytes], at: int) -> bytes:
    """The chunk :meth:`StreamTranslator._data_lines` split into ``payloads``, from
    ``payloads[at]`` on, as it came: what the SSE decoder reads when the lane stops there."""
    return b"data: " + b"\n\ndata: ".join(payloads[at:]) + b"\n\n"


class StreamTranslator:
    """Translate a stream chunk by chunk. Never raises: a translation bug ends the client's
    stream with its schema's failure event instead of a hung or truncated stream."""

    __slots__ = (
        "_sse",
        "_decoder",
        "_encoder",
        "_decode_data",
        "_decode_run",
        "_encode_delta",
        "_encode_deltas",
        "done",
        "frames_in",
        "error",
    )

    def __init__(self, decoder: StreamDecoder, encoder: StreamEncoder) -> None:
        self._sse = SSEDecoder()
        self._decoder = decoder
        self._encoder = encoder
        #: The decoder's optional bytes lane (see :class:`StreamDecoder`), or None.
        self._decode_data: Callable[[bytes, str], DataEvents] | None = getattr(decoder, "decode_data", None)
        self._encode_delta: Callable[[int, str], bytes | Pieces] = getattr(encoder, "encode_delta", self._delta)
        #: Runs of text deltas read and written at once (see :class:`StreamDecoder`), or None.
        self._decode_run: DecodeRun | None = getattr(decoder, "decode_run", None)
        self._encode_deltas: Callable[[int, list[str]], bytes | Pieces | None] | None = getattr(
            encoder, "encode_deltas", None
        )
        #: True once the client's terminator (or failure event) was written.
        self.done = False
        self.frames_in = 0
        #: The failure the client's stream ended with (upstream error, cut stream, our bug), if any.
        self.error: StreamError | None = None

    def feed(self, chunk: bytes) -> bytes | Pieces:  # noqa: C901 - the lanes are inlined: once per frame
        """One loop per chunk: each canonical event is encoded as soon as it is decoded.

        A chunk that is one ``data:`` line goes to the decoder's bytes lane when it has one
        (:meth:`SSEDecoder.data_only`'s checks, inlined: this runs for every frame, and a call
        costs more than they do); the one canonical event most frames make is encoded and
        returned as it is, with no list to join. A chunk that is one ``event:`` line and one
        ``data:`` line takes the lane too, with its type; it is tested only after the ``data:``
        shape misses, so a chat frame pays nothing for it."""
        if self.done:
            return b""
        # Made where it is used: most frames return before any list is needed.
        parts: list[bytes | Pieces] | None = None
        try:
            decode_data = self._decode_data
            sse = self._sse
            if decode_data is not None:
                if len(chunk) < _SHORT:  # one frame, nearly always: see _SHORT
                    lined = chunk.removeprefix(b"data: ")
                    data = lined.removesuffix(b"\n\n")
                else:  # sliced, so copied once; lined and data tell what they tell above
                    ends = chunk[-1] == 10 == chunk[-2]
                    if chunk[:6] == b"data: ":
                        lined = b""
                        data = chunk[6:-2] if ends else lined
                    else:
                        lined = chunk
                        data = b"" if ends else chunk
                if lined is not chunk and data is not lined and (sse.lane or sse.open_lane()):
                    if 10 not in data and 13 not in data:
                        self.frames_in += 1
                        canonicals = decode_data(data, "")
                        if type(canonicals) is tuple:  # a BlockDelta not built: never a terminator
                            return self._encode_delta(canonicals[0], canonicals[1])
                        assert type(canonicals) is list
                        if len(canonicals) == 1:
                            canonical = canonicals[0]
                            out = self._encoder.encode(canonical)
                            kind = type(canonical)
                            if kind is Finish or kind is StreamError:
                                self.done = True
                                self.error = canonical if type(canonical) is StreamError else None
                            return out
                        parts = []
                        self._encode_into(canonicals, parts)
                        return join(parts)
                    if 13 not in data:  # several events: what a proxied upstream's reads carry
                        parts = []
                        return self._data_lines(data, parts)
                elif (
                    data is not lined and chunk[:7] == b"event: " and 13 not in chunk and (sse.lane or sse.open_lane())
                ):  # every Messages and Responses frame: "event: X\ndata: Y\n\n"
                    end = chunk.find(10)
                    if chunk[end + 1 : end + 7] == b"data: " and chunk.find(10, end + 7) == len(chunk) - 2:
                        self.frames_in += 1
                        canonicals = decode_data(chunk[end + 7 : -2], chunk[7:end].decode("utf-8", "replace"))
                        if type(canonicals) is tuple:  # a BlockDelta not built: never a terminator
                            return self._encode_delta(canonicals[0], canonicals[1])
                        assert type(canonicals) is list
                        parts = []
                        self._encode_into(canonicals, parts)
                        return join(parts)
                    parts = []
                    lines = self._event_lines(chunk, parts)
                    if lines is not None:
                        return lines
            events = self._sse.decode(chunk)
            parts = []  # (a lane that declined the chunk wrote nothing to its list)
            self.frames_in += len(events)
            decode = self._decoder.decode
            for event in events:
                if self._encode_into(decode(event), parts):
                    return join(parts)
        except StreamTranslationError as exc:  # the upstream's frame is bad, not our code: say how
            logger.warning("asgi_translate: %s", exc.message)
            parts = parts or []
            parts.append(self.fail(StreamError(exc.error_type, exc.message, exc.status)))
        except Exception:  # a bug of ours must not leave the client hanging
            logger.exception("asgi_translate: failed to translate a stream frame")
            # What the encoder already wrote goes out first, so the failure follows what it closes.
            parts = parts or []
            parts.append(self.fail(StreamError("api_error", "asgi_translate could not translate the upstream stream")))
        try:  # inline: this is once per chunk
            return b"".join(parts)  # type: ignore[arg-type]
        except TypeError:  # one of them is Pieces
            return Pieces(list(parts))

    def _data_lines(self, data: bytes, parts: list[bytes | Pieces]) -> bytes | Pieces:
        """The lane for a chunk of whole events (``data``: the chunk less its first ``data: ``
        and last blank line): a remote upstream's reads carry a few frames each, nearly always
        each one ``data:`` line.

        Split at each ``\n\ndata: `` (the caller saw the chunk open with ``data: `` and end with
        a blank line), the pieces are those events exactly up to the first that holds a line
        ending of its own. A run's frames hold none (each is a learned template's bytes, from a
        frame read here or alone, around a JSON string and a value of letters and digits), so
        only the frames read one by one are looked at: ``in`` finds one at memchr's speed, where
        counting the chunk's would read every byte. From a frame that holds one, the rest of
        the chunk is the SSE decoder's (:meth:`_rest_as_events`)."""
        payloads = data.split(b"\n\ndata: ")
        decode_data = self._decode_data
        assert decode_data is not None
        encode_delta = self._encode_delta
        count = len(payloads)
        self.frames_in += count  # as the SSE decoder counts: the events after a terminator too
        decode_run = self._decode_run
        at = 0
        try:
            while at < count:
                if decode_run is not None and count - at >= _MIN_RUN:
                    index, texts = decode_run(payloads, at)
                    if texts:  # text deltas only: never a terminator
                        self._write_run(index, texts, parts)
                        at += len(texts)
                        continue
                    if index < 0:  # a run that failed would fail again from its next frame
                        decode_run = None
                payload = payloads[at]
                if 10 in payload:
                    break
                canonicals = decode_data(payload, "")
                at += 1
                if type(canonicals) is tuple:  # a text delta: never a terminator
                    parts.append(encode_delta(canonicals[0], canonicals[1]))
                    continue
                assert type(canonicals) is list
                if self._encode_into(canonicals, parts):
                    self._count_after_end(payloads, at)
                    return join(parts)
        except Exception:  # the failure ends the stream: what follows is counted as the decoder counts it
            self._count_after_end(payloads, at)
            raise
        if at < count:  # payloads[at] holds a line ending
            return self._rest_as_events(payloads, at, parts)
        return join(parts)

    def _count_after_end(self, payloads: list[bytes], at: int) -> None:
        """``frames_in`` counted ``payloads[at:]`` (from the frame that failed, or after the
        terminator) as frames: as the SSE decoder's events, when one holds a line ending (once
        per stream, and seldom more than ``[DONE]`` is left)."""
        rest = payloads[at:]
        for payload in rest:
            if 10 in payload:
                events = self._sse.decode(_rejoined(payloads, at))
                self.frames_in += len(events) - len(rest)
                return

    def _rest_as_events(self, payloads: list[bytes], at: int, parts: list[bytes | Pieces]) -> bytes | Pieces:
        """:meth:`_data_lines` from ``payloads[at]``, which holds a line ending: the chunk from
        there, given to the SSE decoder. The frames before it were whole events, which left the
        decoder at a boundary, so it reads the rest as it would have read them after those."""
        self.frames_in -= len(payloads) - at  # counted as frames: the SSE decoder counts its events
        events = self._sse.decode(_rejoined(payloads, at))
        self.frames_in += len(events)
        decode = self._decoder.decode
        for event in events:
            if self._encode_into(decode(event), parts):
                break
        return join(parts)

    def _write_run(self, index: int, texts: list[str], parts: list[bytes | Pieces]) -> None:
        """A run's frames, written at once by the encoder's ``encode_deltas``; else one by one:
        when it has none, declines, or fails (a string it cannot write, which it finds before
        changing its state), so that each text is encoded once and what precedes a failing one
        goes out before its failure, as it would have frame by frame."""
        encode_deltas = self._encode_deltas
        if encode_deltas is not None:
            try:
                out = encode_deltas(index, texts)
            except (TypeError, ValueError):
                out = None
            if out is not None:
                parts.append(out)
                return
        encode_delta = self._encode_delta
        for text in texts:
            parts.append(encode_delta(index, text))

    def _event_lines(self, chunk: bytes, parts: list[bytes | Pieces]) -> bytes | Pieces | None:
        """:meth:`_data_lines` for a chunk of several whole events, each an ``event:`` line and a
        ``data:`` line, or a ``data:`` line alone (a Messages or Responses upstream's reads; the
        caller checked that the chunk opens with ``event: `` and holds no ``\\r``). ``None``
        (nothing consumed) when any event has another shape; the caller then gives the whole
        chunk to the SSE decoder."""
        events: list[tuple[bytes, bytes]] = []
        for piece in chunk[:-2].split(b"\n\n"):
            end = piece.find(10)
            if piece[:7] == b"event: " and piece[end + 1 : end + 7] == b"data: " and piece.find(10, end + 7) == -1:
                events.append((piece[7:end], piece[end + 7 :]))
            elif piece[:6] == b"data: " and end == -1:  # a data-only event among them ("data: [DONE]")
                events.append((b"", piece[6:]))
            else:
                return None
        decode_data = self._decode_data
        assert decode_data is not None
        encode_delta = self._encode_delta
        self.frames_in += len(events)  # as the SSE decoder counts: the events after a terminator too
        for event, data in events:
            canonicals = decode_data(data, event.decode("utf-8", "replace"))
            if type(canonicals) is tuple:  # a text delta: never a terminator
                parts.append(encode_delta(canonicals[0], canonicals[1]))
                continue
            assert type(canonicals) is list
            if self._encode_into(canonicals, parts):
                break
        return join(parts)

    def _delta(self, index: int, text: str) -> bytes | Pieces:
        """``encode_delta`` for an encoder without one."""
        return self._encoder.encode(BlockDelta(index, text))

    def _encode_into(self, events: list[StreamEvent], parts: list[bytes | Pieces]) -> bool:
        """Encode ``events`` into ``parts`` (the caller's, so that what was encoded before a
        failure still goes out before it) up to a terminator; True once it is written, and the
        stream is done. Every path but the one-event lane (inlined in :meth:`feed`) ends here."""
        encode = self._encoder.encode
        for canonical in events:
            parts.append(encode(canonical))
            kind = type(canonical)
            if kind is Finish or kind is StreamError:
                self.done = True
                self.error = canonical if type(canonical) is StreamError else None
                return True
        return False

    def finish(self) -> bytes | Pieces:
        """The upstream body ended: flush every stage and make sure a terminator was written."""
        if self.done:
            return b""
        try:
            events = [out for event in self._sse.flush() for out in self._decoder.decode(event)]
            events.extend(self._decoder.flush())
            out = self._encode_all(events)
        except StreamTranslationError as exc:
            logger.warning("asgi_translate: %s", exc.message)
            return self.fail(StreamError(exc.error_type, exc.message, exc.status))
        except Exception:
            logger.exception("asgi_translate: failed to finish a translated stream")
            return self.fail(StreamError("api_error", "asgi_translate could not translate the upstream stream"))
        if not self.done:  # a decoder that forgot its terminator: never leave the client waiting
            out += self.fail(StreamError("api_error", "upstream stream ended without a terminator", 502))
        return out

    def fail(self, error: StreamError) -> bytes | Pieces:
        """End the client's stream with its failure form (exception, cut connection, timeout)."""
        if self.done:
            return b""
        self.done = True
        self.error = error
        try:
            return self._encoder.encode(error)
        except Exception:  # pragma: no cover - the encoder's own failure path failed
            logger.exception("asgi_translate: failed to encode a stream error")
            return b""

    def replay(self, events: list[StreamEvent]) -> bytes | Pieces:
        """Encode canonical events made elsewhere (a whole answer, see :func:`response_events`),
        ending in the failure form when they do not reach a terminator."""
        try:
            out = self._encode_all(events)
        except Exception:
            logger.exception("asgi_translate: failed to encode a whole answer as a stream")
            return self.fail(StreamError("api_error", "asgi_translate could not translate the upstream response"))
        return out if self.done else out + self.fail(StreamError("api_error", "the answer has no end", 502))

    def _encode_all(self, events: list[StreamEvent]) -> bytes | Pieces:
        parts: list[bytes | Pieces] = []
        self._encode_into(events, parts)
        return join(parts)


def response_events(response: Response) -> list[StreamEvent]:
    """A whole answer as the stream that would have carried it: for an upstream that answers a
    streaming request with one JSON body."""
    events: list[StreamEvent] = [MessageStart(response.id, response.model, response.usage)]
    index = 0
    for part in response.content:
        if isinstance(part, TextPart | RefusalPart):
            kind: BlockKind = "text" if isinstance(part, TextPart) else "refusal"
            events += [BlockStart(index, kind), BlockDelta(index, part.text), BlockStop(index)]
        elif isinstance(part, ReasoningPart):
            kind = "redacted_reasoning" if part.redacted else "reasoning"
            events += [BlockStart(index, kind, item_id=part.id), BlockDelta(index, part.text)]
            events.append(BlockStop(index, part.signature))
        elif isinstance(part, ToolCallPart):
            events.append(BlockStart(index, "tool_call", part.id, part.name, part.custom, part.item_id))
            events += [BlockDelta(index, part.arguments), BlockStop(index)]
        else:  # images, files: no stream form
            continue
        index += 1
    if response.usage is not None:
        events.append(UsageUpdate(response.usage))
    events.append(Finish(response.stop_reason, response.stop_sequence))
    return events
