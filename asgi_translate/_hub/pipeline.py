"""Upstream bytes to client bytes for one streamed response.

``bytes --SSEDecoder--> ServerSentEvent --StreamDecoder--> StreamEvent --StreamEncoder--> bytes``

One :class:`StreamTranslator` per request holds the whole per-stream state (the three stages);
the middleware feeds it each upstream body message as it arrives, and benchmarks drive it
directly.
"""

from __future__ import annotations

import logging
from typing import Protocol

from .canonical import Finish, StreamError, StreamEvent
from .sse import ServerSentEvent, SSEDecoder

logger = logging.getLogger("asgi_translate")


class StreamDecoder(Protocol):
    """Upstream SSE events in, canonical events out; one instance per request."""

    def decode(self, event: ServerSentEvent) -> list[StreamEvent]: ...

    def flush(self) -> list[StreamEvent]:
        """The upstream stream ended. Emit what is still owed: block stops and a ``Finish`` when
        the stream ended cleanly, a ``StreamError`` when it was cut before its terminator."""
        ...


class StreamEncoder(Protocol):
    """Canonical events in, client SSE bytes out; one instance per request. After a ``Finish``
    or ``StreamError`` it has written its terminator and ignores anything further."""

    def encode(self, event: StreamEvent) -> bytes: ...


class StreamTranslator:
    """Translate a stream chunk by chunk. Never raises: a translation bug ends the client's
    stream with its schema's failure event instead of a hung or truncated stream."""

    __slots__ = ("_sse", "_decoder", "_encoder", "done", "frames_in")

    def __init__(self, decoder: StreamDecoder, encoder: StreamEncoder) -> None:
        self._sse = SSEDecoder()
        self._decoder = decoder
        self._encoder = encoder
        #: True once the client's terminator (or failure event) was written.
        self.done = False
        self.frames_in = 0

    def feed(self, chunk: bytes) -> bytes:
        """One loop per chunk: each canonical event is encoded as soon as it is decoded."""
        if self.done:
            return b""
        parts: list[bytes] = []
        try:
            events = self._sse.decode(chunk)
            self.frames_in += len(events)
            decode = self._decoder.decode
            encode = self._encoder.encode
            for event in events:
                for canonical in decode(event):
                    parts.append(encode(canonical))
                    if type(canonical) is Finish or type(canonical) is StreamError:
                        self.done = True
                        return b"".join(parts)
        except Exception:  # a bug of ours must not leave the client hanging
            logger.exception("asgi_translate: failed to translate a stream frame")
            # What the encoder already wrote goes out first, so the failure follows what it closes.
            parts.append(self.fail(StreamError("api_error", "asgi_translate could not translate the upstream stream")))
        return b"".join(parts)

    def finish(self) -> bytes:
        """The upstream body ended: flush every stage and make sure a terminator was written."""
        if self.done:
            return b""
        try:
            events = [out for event in self._sse.flush() for out in self._decoder.decode(event)]
            events.extend(self._decoder.flush())
            out = self._encode_all(events)
        except Exception:
            logger.exception("asgi_translate: failed to finish a translated stream")
            return self.fail(StreamError("api_error", "asgi_translate could not translate the upstream stream"))
        if not self.done:  # a decoder that forgot its terminator: never leave the client waiting
            out += self.fail(StreamError("api_error", "upstream stream ended without a terminator", 502))
        return out

    def fail(self, error: StreamError) -> bytes:
        """End the client's stream with its failure form (exception, cut connection, timeout)."""
        if self.done:
            return b""
        self.done = True
        try:
            return self._encoder.encode(error)
        except Exception:  # pragma: no cover - the encoder's own failure path failed
            logger.exception("asgi_translate: failed to encode a stream error")
            return b""

    def _encode_all(self, events: list[StreamEvent]) -> bytes:
        encode = self._encoder.encode
        parts: list[bytes] = []
        for event in events:
            parts.append(encode(event))
            if type(event) is Finish or type(event) is StreamError:
                self.done = True
                break
        return b"".join(parts)
