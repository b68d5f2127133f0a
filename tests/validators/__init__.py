"""Stream-grammar validators: pure functions over the raw SSE bytes a client receives.

Each validator parses with the library's own :class:`~asgi_translate._hub.sse.SSEDecoder`, raises
``AssertionError`` naming the frame and the broken rule, and returns a :class:`StreamSummary` of
the content, so a test can compare what a client saw with what the upstream said.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NoReturn

from asgi_translate._hub.sse import ServerSentEvent, SSEDecoder


@dataclass
class ToolCall:
    """One tool call as the client assembles it (``arguments`` is the raw concatenated JSON text)."""

    id: str
    name: str
    arguments: str


@dataclass
class StreamSummary:
    """What a stream said, in its own schema's words (stop reason and usage are not mapped)."""

    id: str = ""
    model: str = ""
    text: str = ""
    reasoning: str = ""
    refusal: str = ""
    #: Reasoning signatures (Anthropic ``signature_delta``, chat ``reasoning_details[].signature``).
    signatures: list[str] = field(default_factory=list)
    #: Redacted reasoning payloads (Anthropic ``redacted_thinking.data``, chat ``reasoning.encrypted``).
    redacted: list[str] = field(default_factory=list)
    tool_calls: list[ToolCall] = field(default_factory=list)
    #: Block types other than text/thinking/tool_use seen in a Messages stream (server tools).
    other_blocks: list[str] = field(default_factory=list)
    stop_reason: str | None = None
    stop_sequence: str | None = None
    usage: dict[str, Any] = field(default_factory=dict)
    #: The failure form's error object when the stream ended with one.
    error: dict[str, Any] | None = None
    frames: int = 0


def parse_frames(raw: bytes) -> list[ServerSentEvent]:
    """Decode a whole stream; a last frame that lacks its blank line is a grammar error for us
    (every encoder of ours terminates its frames), even though the SSE spec dispatches it."""
    decoder = SSEDecoder()
    events = decoder.decode(raw)
    tail = decoder.flush()
    assert not tail, f"last frame is not terminated by a blank line: {tail[0].data[:80]!r}"
    return events


def where(number: int, event: ServerSentEvent) -> str:
    """A frame's position and a short excerpt, for assertion messages."""
    name = f"event {event.event!r} " if event.event else ""
    return f"frame #{number} ({name}data {event.data[:100]!r})"


class FrameChecker:
    """Base of the per-stream validator states: assertion messages name the frame being read."""

    at = ""

    def fail(self, message: str) -> NoReturn:
        raise AssertionError(f"{self.at}: {message}")

    def check(self, condition: bool, message: str) -> None:
        if not condition:
            self.fail(message)
