"""Upstream bytes to client bytes for one streamed response.

``bytes --SSEDecoder--> ServerSentEvent --StreamDecoder--> StreamEvent --StreamEncoder--> bytes``

One :class:`StreamTranslator` per request holds the whole per-stream state (the three stages);
the middleware feeds it each upstream body message as it arrives, and benchmarks drive it
directly.
"""

from __future__ import annotations

import logging
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

    __slots__ = ("_sse", "_decoder", "_encoder", "done", "frames_in", "error")

    def __init__(self, decoder: StreamDecoder, encoder: StreamEncoder) -> None:
        self._sse = SSEDecoder()
        self._decoder = decoder
        self._encoder = encoder
        #: True once the client's terminator (or failure event) was written.
        self.done = False
        self.frames_in = 0
        #: The failure the client's stream ended with (upstream error, cut stream, our bug), if any.
        self.error: StreamError | None = None

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
            append = parts.append
            for event in events:
                for canonical in decode(event):
                    append(encode(canonical))
                    kind = type(canonical)
                    if kind is Finish or kind is StreamError:
                        self.done = True
                        self.error = canonical if type(canonical) is StreamError else None
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
        self.error = error
        try:
            return self._encoder.encode(error)
        except Exception:  # pragma: no cover - the encoder's own failure path failed
            logger.exception("asgi_translate: failed to encode a stream error")
            return b""

    def replay(self, events: list[StreamEvent]) -> bytes:
        """Encode canonical events made elsewhere (a whole answer, see :func:`response_events`),
        ending in the failure form when they do not reach a terminator."""
        try:
            out = self._encode_all(events)
        except Exception:
            logger.exception("asgi_translate: failed to encode a whole answer as a stream")
            return self.fail(StreamError("api_error", "asgi_translate could not translate the upstream response"))
        return out if self.done else out + self.fail(StreamError("api_error", "the answer has no end", 502))

    def _encode_all(self, events: list[StreamEvent]) -> bytes:
        encode = self._encoder.encode
        parts: list[bytes] = []
        for event in events:
            parts.append(encode(event))
            if type(event) is Finish or type(event) is StreamError:
                self.done = True
                self.error = event if type(event) is StreamError else None
                break
        return b"".join(parts)


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
