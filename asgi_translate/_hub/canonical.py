"""The hub: one request form, one response form and one stream-event form.

Every schema module converts its wire format to and from these types and knows nothing of the
other schemas. The shapes follow Anthropic Messages, the most explicit of the three formats:
content is a list of typed parts, tool results are parts of a user turn, and a stream is made of
blocks that are opened, fed and closed.

Classes are ``slots`` dataclasses rather than frozen ones: stream events are built once per
upstream frame on the hot path, and frozen dataclasses pay for ``object.__setattr__`` on every
field. Treat every instance as immutable all the same.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

#: ``system`` is a system message inside the conversation (Claude Code's mid-conversation system
#: messages, chat and Responses system/developer messages after the first turn): it stays where it
#: was, and holds only text parts. The system prompt before the conversation is ``Request.system``.
Role = Literal["user", "assistant", "system"]

StopReason = Literal[
    "end_turn",  # natural end (chat "stop", Responses "completed")
    "max_tokens",  # output budget exhausted (chat "length", Responses incomplete/max_output_tokens)
    "stop_sequence",  # a caller-given stop sequence matched (chat reports this as "stop")
    "tool_use",  # the model wants tool results (chat "tool_calls")
    "content_filter",  # output was cut by a safety filter (Responses incomplete/content_filter)
    "refusal",  # the model declined (Anthropic "refusal")
    "pause_turn",  # Anthropic server tools paused a long turn
]

BlockKind = Literal["text", "reasoning", "redacted_reasoning", "tool_call", "refusal"]


# --------------------------------------------------------------------------------------------
# Content parts, shared by requests and non-streamed responses.


@dataclass(slots=True)
class TextPart:
    """Plain text (chat string content and ``text`` parts, Messages ``text``, Responses ``*_text``)."""

    text: str
    type: Literal["text"] = "text"


@dataclass(slots=True)
class ImagePart:
    """An image by URL or inline base64 data (``data`` set means ``url`` is unused)."""

    url: str | None = None
    data: str | None = None
    media_type: str | None = None
    detail: str | None = None
    type: Literal["image"] = "image"


@dataclass(slots=True)
class FilePart:
    """A document (PDF, ...) given inline, by id or by URL; only some upstreams accept it."""

    data: str | None = None
    media_type: str | None = None
    file_id: str | None = None
    url: str | None = None
    filename: str | None = None
    type: Literal["file"] = "file"


@dataclass(slots=True)
class ReasoningPart:
    """Model reasoning. ``signature`` is the provider's opaque proof (Anthropic ``signature``,
    Responses ``encrypted_content``), replayed verbatim and never invented. ``redacted`` carries an
    Anthropic ``redacted_thinking`` block, whose ``signature`` holds the opaque ``data``."""

    text: str = ""
    signature: str | None = None
    redacted: bool = False
    summary: list[str] = field(default_factory=list)
    id: str | None = None
    type: Literal["reasoning"] = "reasoning"


@dataclass(slots=True)
class ToolCallPart:
    """A call the model made. ``arguments`` is the JSON text exactly as the model produced it;
    for a custom (freeform) tool it is the raw input string."""

    id: str
    name: str
    arguments: str
    custom: bool = False
    item_id: str | None = None
    type: Literal["tool_call"] = "tool_call"


@dataclass(slots=True)
class ToolResultPart:
    """A tool's result sent back by the caller (chat ``tool`` message, Messages ``tool_result``,
    Responses ``function_call_output``)."""

    call_id: str
    content: list[TextPart | ImagePart | FilePart]
    is_error: bool = False
    custom: bool = False
    type: Literal["tool_result"] = "tool_result"


@dataclass(slots=True)
class RefusalPart:
    """A refusal message (chat ``refusal``, Responses ``refusal`` content)."""

    text: str
    type: Literal["refusal"] = "refusal"


Part = TextPart | ImagePart | FilePart | ReasoningPart | ToolCallPart | ToolResultPart | RefusalPart


@dataclass(slots=True)
class Message:
    """One turn. The leading system prompt lives in ``Request.system``; a ``system`` message here is
    one that came later in the conversation, kept at its position (text parts only)."""

    role: Role
    content: list[Part]


@dataclass(slots=True)
class Tool:
    """A tool the model may call. ``custom`` marks a Responses freeform tool, which other schemas
    see as a function taking a single string argument named ``input``."""

    name: str
    description: str | None = None
    parameters: dict[str, Any] = field(default_factory=lambda: {"type": "object", "properties": {}})
    strict: bool | None = None
    custom: bool = False
    format: dict[str, Any] | None = None


@dataclass(slots=True)
class ClientTool:
    """How a client knows a tool that the upstream knows by another name or kind: the client's own
    ``name``, its ``namespace`` (Responses ``namespace`` tools), and which kind of call goes back to
    the client (``function``; ``custom`` for a freeform tool; ``tool_search`` for a client-run tool
    search). Keyed in :attr:`Request.client_tools` by the name the upstream sees."""

    name: str
    namespace: str | None = None
    kind: Literal["function", "custom", "tool_search"] = "function"


@dataclass(slots=True)
class ToolChoice:
    """``auto`` | ``none`` | ``required`` (Messages ``any``) | ``tool`` (one named tool)."""

    type: Literal["auto", "none", "required", "tool"]
    name: str | None = None


@dataclass(slots=True)
class Reasoning:
    """How much the model should think. ``effort`` is OpenAI's scale, ``budget_tokens`` is
    Anthropic's; renderers convert with :mod:`asgi_translate._hub.reasoning`."""

    effort: str | None = None
    budget_tokens: int | None = None
    summary: str | None = None
    enabled: bool = True


@dataclass(slots=True)
class ResponseFormat:
    """Structured output: ``json_schema`` (with ``schema``) or ``json_object``."""

    type: Literal["json_schema", "json_object", "text"]
    name: str | None = None
    schema: dict[str, Any] | None = None
    strict: bool | None = None
    description: str | None = None


@dataclass(slots=True)
class Request:
    """A model request in canonical form."""

    model: str
    messages: list[Message]
    system: list[str] = field(default_factory=list)
    tools: list[Tool] = field(default_factory=list)
    tool_choice: ToolChoice | None = None
    parallel_tool_calls: bool | None = None
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    stop: list[str] = field(default_factory=list)
    user: str | None = None
    stream: bool = False
    include_usage: bool = False
    reasoning: Reasoning | None = None
    response_format: ResponseFormat | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    #: Upstream tool name -> how the client named it, for tools whose calls must go back to the
    #: client under another name or kind (filled by the Responses parser; read by its encoders).
    client_tools: dict[str, ClientTool] = field(default_factory=dict)
    #: Client fields that were dropped or coerced on the way in, for loss reporting.
    losses: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Usage:
    """Token counts. ``input_tokens`` is the OpenAI-style total, cache reads and writes included;
    Anthropic's renderer subtracts them (its ``input_tokens`` excludes cached tokens)."""

    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens


@dataclass(slots=True)
class Response:
    """A complete (non-streamed) model answer in canonical form."""

    id: str
    model: str
    content: list[Part]
    stop_reason: StopReason | None
    usage: Usage | None = None
    created: int | None = None
    stop_sequence: str | None = None


def fill_call_ids(response: Response, new_id: Callable[[str], str]) -> None:
    """Give every tool call an id: clients echo it back with the result, and some servers leave it
    out (the stream decoders mint one the same way)."""
    for part in response.content:
        if type(part) is ToolCallPart and not part.id:
            part.id = new_id("call_")


# --------------------------------------------------------------------------------------------
# Stream events. A block is identified by ``index``, allocated by the decoder in opening order
# (0, 1, 2, ...); encoders allocate their own wire indexes when a block opens.


@dataclass(slots=True)
class MessageStart:
    """Stream opened (Messages ``message_start``, Responses ``response.created``, first chat chunk)."""

    id: str
    model: str
    usage: Usage | None = None


@dataclass(slots=True)
class BlockStart:
    """A content block opens. Tool calls carry ``call_id`` and ``name``; ``custom`` marks a
    freeform tool; ``item_id`` keeps an upstream item id (Responses ``fc_``/``rs_``)."""

    index: int
    kind: BlockKind
    call_id: str | None = None
    name: str | None = None
    custom: bool = False
    item_id: str | None = None


@dataclass(slots=True)
class BlockDelta:
    """More text for an open block: text, reasoning text, refusal text or tool arguments."""

    index: int
    text: str


@dataclass(slots=True)
class BlockStop:
    """A block closes. ``signature`` carries a reasoning block's opaque proof (Anthropic
    ``signature_delta``, Responses ``encrypted_content``) or a redacted block's data."""

    index: int
    signature: str | None = None


@dataclass(slots=True)
class UsageUpdate:
    """Token counts so far; later updates replace earlier ones field by field when non-zero."""

    usage: Usage


def merge_usage(old: Usage | None, new: Usage) -> Usage:
    """``old`` updated by a later :class:`UsageUpdate`: each field of ``new`` replaces the earlier
    one when non-zero, so a final report that omits a count does not erase it."""
    if old is None:
        return new
    return Usage(
        new.input_tokens or old.input_tokens,
        new.output_tokens or old.output_tokens,
        new.cache_read_tokens or old.cache_read_tokens,
        new.cache_write_tokens or old.cache_write_tokens,
        new.reasoning_tokens or old.reasoning_tokens,
    )


@dataclass(slots=True)
class Finish:
    """The model finished; encoders emit their schema's terminator. Always the last event of a
    clean stream, after every block was stopped."""

    reason: StopReason | None
    stop_sequence: str | None = None


@dataclass(slots=True)
class StreamError:
    """The stream failed (upstream error event, exception, cut connection). Terminal: encoders
    close what is open and emit their schema's failure form."""

    type: str
    message: str
    status: int = 500


StreamEvent = MessageStart | BlockStart | BlockDelta | BlockStop | UsageUpdate | Finish | StreamError
