"""Server-sent events: an incremental decoder for upstream bytes and the encoder for client frames.

The decoder follows the WHATWG event-stream parsing rules
(https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation),
fed with byte chunks split anywhere: mid-line, between ``\\r`` and ``\\n``, mid-UTF-8 character.
Schema modules never see bytes or ``data:`` prefixes, only :class:`ServerSentEvent`.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass

_UTF8 = codecs.getincrementaldecoder("utf-8")  # looked up once: the registry's search is not free


@dataclass(slots=True)
class ServerSentEvent:
    """One dispatched event. ``event`` is ``""`` when the frame had no ``event:`` line."""

    data: str
    event: str = ""
    id: str | None = None
    retry: int | None = None


class SSEDecoder:
    """Bytes in, events out, with the ``decode()``/``flush()`` protocol of httpx's decoders.

    Memory is bounded by the longest single event: complete lines are consumed at once and only
    the unfinished tail of the last line is carried to the next chunk.
    """

    __slots__ = (
        "_utf8",
        "_tail",
        "_skip_lf",
        "_data",
        "_event",
        "_last_id",
        "_retry",
        "_at_start",
        "_boundary",
        "lane",
    )

    def __init__(self) -> None:
        #: Made by the first chunk that needs it: most streams take the translator's bytes lane
        #: throughout, and making one costs more than a frame's whole translation.
        self._utf8: codecs.IncrementalDecoder | None = None
        self._tail = ""
        # A chunk that ended in "\r" already ended its line; a "\n" opening the next chunk is
        # the second half of that "\r\n", not an empty line.
        self._skip_lf = False
        self._data: list[str] = []
        self._event = ""
        # NOTE: per the spec, the last event id persists across events until a new id: line.
        self._last_id: str | None = None
        self._retry: int | None = None
        # NOTE: per the spec, one U+FEFF (byte order mark) at the very start of the stream is skipped.
        self._at_start = True
        #: True when the bytes so far ended exactly at an event boundary: nothing carried over
        #: (no partial line, UTF-8 character, data lines or event type); so at the start too.
        self._boundary = True
        #: At a boundary and past the stream's start: a chunk of whole events needs no state
        #: from before it (the condition of :meth:`data_only` and of the fast paths here).
        self.lane = False

    def decode(self, chunk: bytes) -> list[ServerSentEvent]:
        if self._boundary and chunk[-2:] == b"\n\n" and 13 not in chunk:  # 13: see data_only
            # Whole events, as servers send them nearly always: no line state to carry.
            if not self._at_start:
                if chunk[:6] == b"data: " and chunk.find(b"\n") == len(chunk) - 2:  # one data line
                    return [ServerSentEvent(chunk[6:-2].decode("utf-8", "replace"), "", self._last_id, self._retry)]
                return self._whole_events(chunk.decode("utf-8", "replace"))
            if chunk[:3] != b"\xef\xbb\xbf":  # the first chunk too, unless it opens with a BOM
                self._at_start = False
                self.lane = True
                return self._whole_events(chunk.decode("utf-8", "replace"))
        utf8 = self._utf8
        if utf8 is None:
            utf8 = self._utf8 = _UTF8(errors="replace")
        events = self._consume(self._complete_lines(utf8.decode(chunk)))
        self._boundary = (
            not self._tail and not self._data and not self._event and not self._skip_lf and not utf8.getstate()[0]
        )
        self.lane = self._boundary and not self._at_start
        return events

    def open_lane(self) -> bool:
        """:attr:`lane`, set first when nothing has been read yet: asked only of a chunk that opens
        with ``data: `` or ``event: `` (so no byte order mark to skip), for which the stream's
        start is a boundary like any other. A remote upstream's first read under load often holds
        the whole stream, which would otherwise miss the lane entirely."""
        if self._at_start:
            self._at_start = False
            self.lane = True
        return self.lane

    def data_only(self, chunk: bytes) -> bytes | None:
        """The data of ``chunk`` as raw bytes when the chunk is exactly one ``data: ...`` line and
        its blank line, arriving when :attr:`lane` is set; else ``None``, and nothing is consumed
        (the caller then gives the chunk to :meth:`decode`).

        This is the shape of nearly every chat frame; it lets the translator skip the text
        decode, the event object and the list :meth:`decode` would make, and hand the bytes
        straight to a decoder's JSON parser. Such a chunk leaves the decoder's state as it found
        it (at a boundary, same last id and retry), so skipping :meth:`decode` changes nothing.
        :class:`~asgi_translate._hub.pipeline.StreamTranslator` inlines these same checks.
        """
        # NOTE: ``13 not in data``, never ``b"\r" not in data``: bytes.__contains__ tries an int
        # first, and a bytes argument costs it a raised and cleared TypeError (5x slower).
        if chunk[:6] == b"data: " and chunk[-1] == 10 and chunk[-2] == 10 and (self.lane or self.open_lane()):
            data = chunk[6:-2]
            if 10 not in data and 13 not in data:
                return data
        return None

    def _whole_events(self, text: str) -> list[ServerSentEvent]:
        """``text`` ends with a blank line and holds no ``\\r``. The usual shapes of one event
        (``data: ...`` and ``event: ...`` + ``data: ...``) are read directly; any other goes
        through the line rules. Each event starts from a clean state, so either way gives the
        same events as :meth:`_consume` over all the lines."""
        events: list[ServerSentEvent] = []
        for block in text[:-2].split("\n\n"):
            if block[:6] == "data: " and "\n" not in block:
                events.append(ServerSentEvent(block[6:], "", self._last_id, self._retry))
                continue
            if block[:7] == "event: ":
                head, _, data = block.partition("\n")
                if data[:6] == "data: " and "\n" not in data:
                    events.append(ServerSentEvent(data[6:], head[7:], self._last_id, self._retry))
                    continue
            lines = block.split("\n")
            lines.append("")
            events += self._consume(lines)
        return events

    def flush(self) -> list[ServerSentEvent]:
        """End of input: an unfinished last line counts, and so does a last event that lacks its
        blank line (servers that close the connection right after the final ``data:`` line)."""
        self.lane = False  # nothing follows the end (and _consume below may leave state)
        lines = self._complete_lines(self._utf8.decode(b"", final=True) if self._utf8 is not None else "")
        if self._tail:
            lines.append(self._tail)
            self._tail = ""
        lines.append("")
        return self._consume(lines)

    def _complete_lines(self, text: str) -> list[str]:
        if not text:
            return []
        if self._at_start:
            self._at_start = False
            if text[0] == "\ufeff":
                text = text[1:]
                if not text:
                    return []
        if self._skip_lf and text[0] == "\n":
            text = text[1:]
        self._skip_lf = text[-1:] == "\r"
        text = self._tail + text
        # NOTE: never str.splitlines(): it also splits on \x0b, \x1c, \u2028 and friends.
        if "\r" in text:
            text = text.replace("\r\n", "\n").replace("\r", "\n")
        lines = text.split("\n")
        self._tail = lines.pop()
        return lines

    def _consume(self, lines: list[str]) -> list[ServerSentEvent]:
        events: list[ServerSentEvent] = []
        for line in lines:
            if not line:
                if self._data:
                    events.append(ServerSentEvent("\n".join(self._data), self._event, self._last_id, self._retry))
                    self._data = []
                # NOTE: per the spec, an event with no data is not dispatched but still resets its type.
                self._event = ""
                continue
            if line[0] == ":":
                continue  # comment line (keep-alive pings such as ": OPENROUTER PROCESSING")
            name, sep, value = line.partition(":")
            if sep and value[:1] == " ":
                value = value[1:]
            if name == "data":
                self._data.append(value)
            elif name == "event":
                self._event = value
            elif name == "id":
                if "\0" not in value:
                    self._last_id = value
            elif name == "retry" and value.isascii() and value.isdigit():  # not "²": int() rejects it
                self._retry = int(value)
        return events


def format_event(data: str, event: str | None = None) -> bytes:
    """Frame one event. Multi-line data becomes several ``data:`` lines, as the spec requires."""
    if "\n" in data or "\r" in data:
        body = "".join(f"data: {line}\n" for line in data.replace("\r\n", "\n").replace("\r", "\n").split("\n"))
    else:
        body = f"data: {data}\n"
    if event:
        return f"event: {event}\n{body}\n".encode()
    return f"{body}\n".encode()
