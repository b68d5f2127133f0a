"""Chat completion chunks (upstream SSE) -> canonical stream events.

Chat deltas are implicit: nothing says a text run started or ended. The decoder opens a block
when a new kind of content shows up and closes the previous text/reasoning/refusal block then;
tool calls are routed by ``tool_calls[].index`` (one dict, vendor index -> canonical index) and
stay open until the end, because servers interleave parallel calls.

``Finish`` waits for ``data: [DONE]`` (or the end of the body): the usage chunk comes after the
``finish_reason`` chunk. https://platform.openai.com/docs/api-reference/chat-streaming
"""

from __future__ import annotations

from typing import Any

from ..._hub import json as _json
from ..._hub.canonical import (
    BlockDelta,
    BlockKind,
    BlockStart,
    BlockStop,
    Finish,
    MessageStart,
    StreamError,
    StreamEvent,
    Usage,
    UsageUpdate,
)
from ..._hub.context import Context
from ..._hub.errors import type_from_openai
from ..._hub.frame_template import FrameTemplate, learn
from ..._hub.pipeline import DataEvents
from ..._hub.sse import ServerSentEvent
from ._fields import stop_reason, usage_from_chat

_loads = _json.loads  # bound once: the backend is chosen when _hub.json is imported

#: Frames given as bytes (the bytes lane): parsed as they came, chosen once per backend.
_loads_bytes = _json.loads_bytes


_NO_RUN: tuple[int, list[str]] = (0, [])
_FAILED_RUN: tuple[int, list[str]] = (-1, [])

#: See ChatStreamDecoder._probes.
_PROBES = 4


class _PendingCall:
    """A tool call seen before its name (a few servers send the id first): held until named."""

    __slots__ = ("call_id", "name", "arguments")

    def __init__(self, call_id: str | None) -> None:
        self.call_id = call_id
        self.name: str | None = None
        self.arguments: list[str] = []


class ChatStreamDecoder:
    """One upstream chat stream -> canonical events (choice 0 only)."""

    __slots__ = (
        "_ctx",
        "_started",
        "_done",
        "_next",
        "_kind",
        "_index",
        "_signature",
        "_tools",
        "_pending",
        "_ids",
        "_last_vendor",
        "_finish",
        "_templates",
        "_template",
        "_probes",
        "_call_vendor",
        "_call_index",
    )

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self._started = False
        self._done = False
        self._next = 0  # next canonical block index
        self._kind: BlockKind | None = None  # the open text/reasoning/refusal block, if any
        self._index = 0
        self._signature: str | None = None  # for the open reasoning block
        self._tools: dict[int, int] = {}  # vendor tool index -> canonical block index (open calls)
        self._pending: dict[int, _PendingCall] = {}
        self._ids: dict[str, int] = {}  # tool call id -> vendor index, for servers that omit index
        self._last_vendor = 0
        self._finish: str | None = None
        #: The open block kind's repeated text frame (see _hub/frame_template.py), once learned;
        #: under ``None`` (no text block open), the arguments frame of the call last streamed,
        #: whose vendor and block indexes are ``_call_vendor`` and ``_call_index``.
        self._templates: dict[BlockKind | None, FrameTemplate] = {}
        #: ``_templates.get(_kind)``, kept as each changes: read for nearly every frame, and an
        #: attribute costs a quarter of the lookup.
        self._template: FrameTemplate | None = None
        self._call_vendor = 0
        self._call_index = 0
        #: Probes a stream may still spend learning one: a server whose frames never repeat
        #: (a new ``created`` on every chunk) pays a few parses more, not one per frame.
        self._probes = _PROBES

    # -- entry points -------------------------------------------------------------------------

    def decode(self, event: ServerSentEvent) -> list[StreamEvent]:
        if self._done:
            return []
        data = event.data
        if data == "[DONE]":
            return self._end()
        try:
            chunk = _loads(data)
        except ValueError:
            return self._fail(StreamError("api_error", f"upstream sent a chunk that is not JSON: {data[:200]!r}", 502))
        if self._started and type(chunk) is dict and event.event != "error":
            text = self._more_text(chunk)
            if text is not None:
                return [BlockDelta(self._index, text)]
        return self._chunk(chunk, event.event)

    def decode_data(self, data: bytes, event: str) -> DataEvents:
        """:meth:`decode` for an event given as its raw data bytes (the translator's lane for
        one-line frames): orjson parses the bytes as they came, with no text decode first.
        Bytes it refuses (not JSON, or not UTF-8, which ``decode`` sees with U+FFFD in place)
        go through :meth:`decode`, so the answer and any error message are the same. A text
        delta is answered as ``(index, text)`` (see :class:`~asgi_translate._hub.pipeline.StreamDecoder`)."""
        if self._done:
            return []
        kind = self._kind
        template = self._template
        if template is not None and event == "":
            text = template.text_of(data)
            if text is not None:
                if kind is not None:
                    return (self._index, text)  # what _more_text would have read
                self._last_vendor = self._call_vendor  # as _tool_call would have
                return (self._call_index, text)
        if data == b"[DONE]":
            return self._end()
        try:
            chunk = _loads_bytes(data)
        except ValueError:
            return self.decode(ServerSentEvent(data.decode("utf-8", "replace"), event))
        if self._started and type(chunk) is dict and event == "":
            plain = self._plain(data, chunk)
            if plain is not None:
                return plain
        out = self._chunk(chunk, event)
        if self._probes and out and type(out[-1]) is BlockDelta and event == "":
            self._learn_parsed(data, out, chunk)
        return out

    def _plain(self, data: bytes, chunk: dict[str, Any]) -> DataEvents | None:
        """A parsed frame that only carries text (:meth:`_plain_delta`, :func:`_text_of`): the
        open block's ``(index, text)``, or the events that open the block of another kind (the
        frame that opens each text and reasoning block: the walk's events, without the walk),
        learned either way as its template; None for the general path."""
        delta = self._plain_delta(chunk)
        found = _text_of(delta) if delta is not None else None
        if found is None:
            return None
        kind, text = found
        out: DataEvents
        if kind == self._kind:
            out = (self._index, text)  # BlockDelta(self._index, text), unbuilt
        else:
            out = []
            self._open(kind, out)
            out.append(BlockDelta(self._index, text))
        if self._probes:  # after _open: a template is kept for the open block's kind
            self._learn(data, text, chunk)
        return out

    def _learn_parsed(self, data: bytes, out: list[StreamEvent], chunk: Any) -> None:
        """Learn from a parsed frame whose events end in a delta: the arguments of the call it
        streamed to alone, or the text of the block it opened (the next frames usually repeat
        it, and learned now, with the block open as it will be for them, the second is not
        parsed either)."""
        delta = out[-1]
        assert type(delta) is BlockDelta
        if self._kind is None:
            if len(out) == 1:
                self._learn_call(data, delta, chunk)
        elif delta.index == self._index:
            self._learn(data, delta.text, chunk)

    def decode_run(self, frames: list[bytes], start: int) -> tuple[int, list[str]]:
        """:meth:`decode_data` for the frames ``frames[start:]`` opens with that the open block's
        template reads (see :meth:`FrameTemplate.texts_of_run`): ``(index, texts)``, each text
        what ``decode_data`` answers as ``(index, text)`` for its frame, in order; no texts when
        the first frame is not read that way (decode it alone), with index -1 when the run
        failed (do not try this chunk's later frames either: the same frames would fail)."""
        kind = self._kind
        template = self._template
        if template is None or self._done:
            return _NO_RUN
        texts = template.texts_of_run(frames, start)
        if texts is None:
            return _NO_RUN
        if not texts:
            return _FAILED_RUN
        if kind is not None:
            return self._index, texts
        self._last_vendor = self._call_vendor  # as each frame's decode_data would have
        return self._call_index, texts

    def _learn_call(self, data: bytes, delta: BlockDelta, chunk: Any) -> None:
        """:meth:`_learn` for a frame that streamed an open call's arguments."""
        known = self._templates.get(None)
        if known is not None and data.startswith(known.head):
            return
        self._probes -= 1
        vendor = self._call_vendor = self._last_vendor  # the call _tool_call routed it to
        template = learn(data, delta.text, self._read_arguments, "obfuscation", chunk)
        if template is not None:  # the probe found vendor's call open: its block is in _tools
            self._templates[None] = template
            self._call_index = self._tools[vendor]
        elif known is not None:  # _call_vendor now names another call: the old template is no use
            del self._templates[None]
        self._template = self._templates.get(self._kind)

    def _read_arguments(self, chunk: Any) -> str | None:
        """The arguments a parsed chunk adds to the open call ``_call_vendor``, when that is all it
        does: the general path answers it with that one ``BlockDelta`` (and routes it to that call)."""
        if type(chunk) is not dict or chunk.get("usage") is not None or chunk.get("error") or "x_groq" in chunk:
            return None
        choices = chunk.get("choices")
        if type(choices) is not list or len(choices) != 1:
            return None
        choice = choices[0]
        if type(choice) is not dict or choice.get("index", 0) != 0 or choice.get("finish_reason"):
            return None
        delta = choice.get("delta")
        calls = delta.get("tool_calls") if type(delta) is dict and len(delta) == 1 else None
        if type(calls) is not list or len(calls) != 1 or type(calls[0]) is not dict:
            return None
        call = calls[0]
        function = call.get("function")
        if type(call.get("index")) is not int or call["index"] != self._call_vendor or type(function) is not dict:
            return None
        arguments = function.get("arguments")
        return arguments if type(arguments) is str and arguments and self._call_vendor in self._tools else None

    def _learn(self, data: bytes, text: str, chunk: Any) -> None:
        """Keep ``data``'s template for the open block's kind, when it has one that can be proved.
        A frame that opens as the kind's template does but missed it (another field after the
        text) would only teach the same head again: only a frame that opens another way (a new
        ``created``, a new id) is worth a probe."""
        known = self._templates.get(self._kind)
        if known is not None and data.startswith(known.head):
            return
        self._probes -= 1
        template = learn(data, text, self._read, "obfuscation", chunk)
        if template is not None:
            self._templates[self._kind] = self._template = template

    def _read(self, chunk: Any) -> str | None:
        """:meth:`_more_text` for any parsed value: the template's probe is read by it."""
        return self._more_text(chunk) if type(chunk) is dict else None

    def _chunk(self, chunk: Any, event: str) -> list[StreamEvent]:
        """One parsed chunk (``event``: its SSE event type) that missed :meth:`_more_text`."""
        if not isinstance(chunk, dict):
            return self._fail(StreamError("api_error", "upstream sent a chunk that is not a JSON object", 502))
        error = chunk.get("error")
        if error or event == "error":
            return self._fail(_stream_error(error if isinstance(error, dict) else chunk))
        choices = chunk.get("choices")
        out: list[StreamEvent] = []
        if not self._started:
            # The first chunk's usage (vLLM's continuous_usage_stats: the prompt count) goes in the
            # start event, so a Messages client's message_start says how long the input was.
            first = chunk.get("usage")
            out.append(self._start(chunk, usage_from_chat(first) if isinstance(first, dict) else None))
        if choices:
            self._first_choice(choices, out)
        self._usage(chunk, out)
        return out

    def _first_choice(self, choices: list[Any], out: list[StreamEvent]) -> None:
        """Choice 0 (``n`` > 1 streams interleave the others, which are not translated)."""
        choice = choices[0]
        if not isinstance(choice, dict) or choice.get("index", 0) != 0:
            choice = next((c for c in choices if isinstance(c, dict) and c.get("index") == 0), None)
        if choice is not None:
            self._choice(choice, out)

    def _usage(self, chunk: dict[str, Any], out: list[StreamEvent]) -> None:
        usage = chunk.get("usage")
        if not isinstance(usage, dict) and "x_groq" in chunk:  # Groq has sent usage only inside x_groq
            extra = chunk["x_groq"]
            usage = extra.get("usage") if isinstance(extra, dict) else None
        if isinstance(usage, dict):
            out.append(UsageUpdate(usage_from_chat(usage)))

    def flush(self) -> list[StreamEvent]:
        """End of the upstream body: a stream that reported a finish_reason ended cleanly even
        without ``[DONE]`` (several servers omit it); one cut before that failed."""
        if self._done:
            return []
        if self._finish is not None:
            return self._end()
        cut = "before a finish_reason" if self._started else "before its first chunk"
        return self._fail(StreamError("api_error", f"the upstream chat stream ended {cut}", 502))

    # -- chunk content ------------------------------------------------------------------------

    def _start(self, chunk: dict[str, Any], usage: Usage | None) -> MessageStart:
        self._started = True
        chunk_id = chunk.get("id")
        model = chunk.get("model")
        return MessageStart(
            id=chunk_id if isinstance(chunk_id, str) and chunk_id else self._ctx.new_id("chatcmpl-"),
            model=model if isinstance(model, str) and model else self._ctx.request.model,
            usage=usage,
        )

    def _choice(self, choice: dict[str, Any], out: list[StreamEvent]) -> None:
        delta = choice.get("delta")
        if type(delta) is dict and not choice.get("finish_reason"):
            # The chunk missed _more_text (usage on every chunk, several choices): its delta may not.
            text = self._delta_text(delta)
            if text is not None:
                out.append(BlockDelta(self._index, text))
                return
        if isinstance(delta, dict):
            self._walk(delta, out)
        finish = choice.get("finish_reason")
        if finish and isinstance(finish, str):
            self._finish = finish

    def _walk(self, delta: dict[str, Any], out: list[StreamEvent]) -> None:
        """Every field of a delta the decoder reads, in order: the reference that the shortcuts
        (:func:`_text_of`, frame templates) answer as."""
        self._reasoning(delta, out)
        text = delta.get("content")
        if text and isinstance(text, str):
            self._text("text", text, out)
        refusal = delta.get("refusal")
        if refusal and isinstance(refusal, str):
            self._text("refusal", refusal, out)
        calls = delta.get("tool_calls")
        if calls and isinstance(calls, list):
            for call in calls:
                if isinstance(call, dict):
                    self._tool_call(call, out)

    def _more_text(self, chunk: dict[str, Any]) -> str | None:
        """The text a parsed chunk adds to the open block, when that is all it does (nine chunks
        in ten, once the stream has started); None for the general path, which gives the same
        events for such a chunk, slower. The reader a frame template is proved by."""
        delta = self._plain_delta(chunk)
        return None if delta is None else self._delta_text(delta)

    def _plain_delta(self, chunk: dict[str, Any]) -> dict[str, Any] | None:
        """The delta of a chunk that says nothing else: one choice (index 0), no error, no usage
        (nor Groq's ``x_groq``), no finish_reason. None otherwise."""
        choices = chunk.get("choices")
        if type(choices) is not list or len(choices) != 1 or chunk.get("usage") is not None or chunk.get("error"):
            return None
        choice = choices[0]
        if type(choice) is not dict or choice.get("index", 0) != 0 or choice.get("finish_reason"):
            return None
        delta = choice.get("delta")
        if type(delta) is not dict or "x_groq" in chunk:
            return None
        return delta

    def _delta_text(self, delta: dict[str, Any]) -> str | None:
        """The text of a delta that only adds to the open block, else None (see :func:`_text_of`)."""
        found = _text_of(delta)
        return found[1] if found is not None and found[0] == self._kind else None

    def _reasoning(self, delta: dict[str, Any], out: list[StreamEvent]) -> None:
        """``reasoning_content`` (DeepSeek, Qwen, xAI), ``reasoning`` (vLLM, Groq, Ollama) and
        ``reasoning_details`` (OpenRouter). OpenRouter repeats the text in both ``reasoning``
        and the details, so detail text counts only when the plain fields are empty."""
        text = delta.get("reasoning_content") or delta.get("reasoning")
        has_text = isinstance(text, str) and text != ""
        if isinstance(text, str) and text:
            self._text("reasoning", text, out)
        details = delta.get("reasoning_details")
        if details and isinstance(details, list):
            for detail in details:
                if isinstance(detail, dict):
                    self._detail(detail, not has_text, out)

    def _detail(self, detail: dict[str, Any], use_text: bool, out: list[StreamEvent]) -> None:
        kind = detail.get("type")
        if kind == "reasoning.encrypted":
            data = detail.get("data")
            if isinstance(data, str) and data:
                self._close(out)
                index = self._allocate()
                out.append(BlockStart(index, "redacted_reasoning"))
                out.append(BlockStop(index, data))
            return
        if kind != "reasoning.text" and kind != "reasoning.summary":
            return
        piece = detail.get("text" if kind == "reasoning.text" else "summary")
        if use_text and isinstance(piece, str) and piece:
            self._text("reasoning", piece, out)
        signature = detail.get("signature")
        if isinstance(signature, str) and signature:
            if self._kind != "reasoning":
                self._open("reasoning", out)
            self._signature = signature

    def _text(self, kind: BlockKind, text: str, out: list[StreamEvent]) -> None:
        if self._kind != kind:
            self._open(kind, out)
        out.append(BlockDelta(self._index, text))

    def _open(self, kind: BlockKind, out: list[StreamEvent]) -> None:
        self._close(out)
        self._kind = kind
        self._template = self._templates.get(kind)
        self._index = self._allocate()
        out.append(BlockStart(self._index, kind))

    def _close(self, out: list[StreamEvent]) -> None:
        """Close the open text/reasoning/refusal block (tool calls stay open)."""
        if self._kind is not None:
            out.append(BlockStop(self._index, self._signature))
            self._kind = None
            self._template = self._templates.get(None)
            self._signature = None

    def _allocate(self) -> int:
        index = self._next
        self._next += 1
        return index

    # -- tool calls ---------------------------------------------------------------------------

    def _vendor_index(self, call: dict[str, Any], call_id: str | None) -> int:
        """``tool_calls[].index``; servers that omit it are routed by id, then to the last call."""
        vendor = call.get("index")
        if isinstance(vendor, int) and not isinstance(vendor, bool):
            return vendor
        if call_id is None:
            return self._last_vendor
        if call_id not in self._ids:
            self._ids[call_id] = len(self._ids) + len(self._tools) + len(self._pending)
        return self._ids[call_id]

    def _tool_call(self, call: dict[str, Any], out: list[StreamEvent]) -> None:
        call_id = call.get("id") if isinstance(call.get("id"), str) and call.get("id") else None
        vendor = self._vendor_index(call, call_id)
        self._last_vendor = vendor
        function = call.get("function")
        if not isinstance(function, dict):
            function = {}
        arguments = function.get("arguments")
        index = self._tools.get(vendor)
        if index is not None:  # the common case: more arguments for an open call
            if isinstance(arguments, str) and arguments:
                out.append(BlockDelta(index, arguments))
            return
        pending = self._pending.get(vendor)
        if pending is None:
            pending = self._pending[vendor] = _PendingCall(call_id)
        pending.call_id = pending.call_id or call_id
        name = function.get("name")
        if isinstance(name, str) and name:
            pending.name = name
        if isinstance(arguments, str) and arguments:
            pending.arguments.append(arguments)
        if pending.name is not None:
            self._open_call(vendor, pending, out)

    def _open_call(self, vendor: int, pending: _PendingCall, out: list[StreamEvent]) -> None:
        self._close(out)
        del self._pending[vendor]
        index = self._allocate()
        self._tools[vendor] = index
        call_id = pending.call_id or self._ctx.new_id("call_")
        out.append(BlockStart(index, "tool_call", call_id=call_id, name=pending.name or ""))
        if pending.arguments:
            out.append(BlockDelta(index, "".join(pending.arguments)))

    # -- the end ------------------------------------------------------------------------------

    def _end(self) -> list[StreamEvent]:
        if not self._started:
            return self._fail(StreamError("api_error", "the upstream chat stream ended before its first chunk", 502))
        out: list[StreamEvent] = []
        self._close(out)
        for vendor, pending in list(self._pending.items()):  # calls that never got a name
            self._open_call(vendor, pending, out)
        out += [BlockStop(index) for index in self._tools.values()]
        # [DONE] without any finish_reason (Snowflake) is a normal end; tool calls make a tool turn.
        out.append(Finish(stop_reason(self._finish, tool_calls=bool(self._tools)) or "end_turn"))
        self._done = True
        return out

    def _fail(self, error: StreamError) -> list[StreamEvent]:
        self._done = True
        return [error]


def _text_of(delta: dict[str, Any]) -> tuple[BlockKind, str] | None:
    """The one text a delta carries and the kind of block it goes to, when that is all that
    :meth:`ChatStreamDecoder._walk` reads in it; None otherwise (the walk then reads it, and
    answering None is always right). The walk reads the reasoning text (``reasoning_content``,
    DeepSeek's, else ``reasoning``, vLLM's and Groq's), ``reasoning_details``, ``content``,
    ``refusal`` and ``tool_calls``, and nothing else: ``role``, Groq's ``channel`` and unknown
    keys beside the text are ignored there as here, and so are nulls and empty strings.

    Every vendor's text and reasoning frames are read this way, so each learns a frame template
    (the reader it is proved by): xAI's ``{"reasoning_content": ...}``, Groq's ``{"reasoning":
    ..., "channel": "analysis"}`` and GLM's ``{"role": "assistant", "reasoning_content": ...}``
    as much as OpenAI's ``{"content": ...}``."""
    content = delta.get("content")
    if len(delta) == 1 and type(content) is str and content:  # {"content": "..."}: most frames
        return ("text", content)
    if delta.get("tool_calls") or delta.get("reasoning_details"):
        return None
    reasoning = delta.get("reasoning_content") or delta.get("reasoning")
    refusal = delta.get("refusal")
    text: str | None = content if type(content) is str and content else None
    refused: str | None = refusal if type(refusal) is str and refusal else None
    if type(reasoning) is str and reasoning:
        return None if text or refused else ("reasoning", reasoning)
    if text:
        return None if refused else ("text", text)
    return ("refusal", refused) if refused else None


def _stream_error(error: dict[str, Any]) -> StreamError:
    """A mid-stream ``{"error": {...}}`` chunk (OpenAI, OpenRouter) or ``event: error`` (Groq)."""
    status = error.get("status_code", error.get("status"))
    code = error.get("code")
    if not isinstance(status, int) or isinstance(status, bool):
        status = code if isinstance(code, int) and not isinstance(code, bool) and 400 <= code < 600 else 500
    openai_type = error.get("type") if isinstance(error.get("type"), str) else None
    if openai_type is None and isinstance(code, str):
        openai_type = code
    message = error.get("message")
    if not isinstance(message, str) or not message:
        message = "the upstream reported an error mid-stream"
    return StreamError(type_from_openai(openai_type, status), message, status)
