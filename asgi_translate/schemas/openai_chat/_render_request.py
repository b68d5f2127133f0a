"""Canonical :class:`Request` -> Chat Completions request JSON for a chat upstream.

Choices made for the widest set of OpenAI-compatible servers (vLLM, llama.cpp, Ollama, SGLang,
DeepSeek, Groq, OpenRouter):

- ``max_tokens`` rather than ``max_completion_tokens``: every server reads the former; OpenAI's
  reasoning models are the exception that wants the latter.
- Tool results with images: many servers accept only text in ``tool`` messages, so the tool
  message carries the text and the images (and files) follow in one ``user`` message right after
  the tool messages of that turn.
- Reasoning in assistant history goes out as ``reasoning_content`` (DeepSeek, vLLM, Qwen need it
  back during tool loops), plus OpenRouter-style ``reasoning_details`` only when a signature or
  redacted data must survive the round trip.
- ``metadata`` is not sent: OpenAI only accepts it together with ``store``.
- Custom (freeform) tools become function tools taking one string, ``input``; their grammar
  (``Tool.format``) is not enforced. A tool result's ``is_error`` has no chat field and is lost.
"""

from __future__ import annotations

from typing import Any

from ..._hub import json as _json
from ..._hub.canonical import (
    FilePart,
    ImagePart,
    Message,
    Part,
    ReasoningPart,
    RefusalPart,
    Request,
    ResponseFormat,
    TextPart,
    Tool,
    ToolCallPart,
    ToolChoice,
    ToolResultPart,
)
from ..._hub.context import Context
from ..._hub.errors import RequestTranslationError, UnsupportedFeatureError
from ..._hub.reasoning import effort_for_budget
from .._openai_common import data_url, user_identifier
from ._fields import details_from_reasoning, reasoning_text

#: OpenAI's spec takes up to 4 stop sequences (Anthropic's ``stop_sequences`` has no such limit).
MAX_STOP = 4
#: What a tool message says when its result was only images or files, moved to a user message.
ATTACHMENT_NOTE = "(the tool returned attachments; they follow in the next message)"

_CUSTOM_PARAMETERS: dict[str, Any] = {
    "type": "object",
    "properties": {"input": {"type": "string"}},
    "required": ["input"],
    "additionalProperties": False,
}


def custom_arguments(raw: str) -> str:
    """A custom (freeform) tool's raw input as the JSON arguments of its function stand-in."""
    return _json.dumps({"input": raw})


def _part(part: TextPart | ImagePart | FilePart) -> dict[str, Any]:
    if isinstance(part, TextPart):
        return {"type": "text", "text": part.text}
    if isinstance(part, ImagePart):
        url = data_url(part.media_type, part.data) if part.data is not None else part.url
        image: dict[str, Any] = {"url": url}
        if part.detail:
            image["detail"] = part.detail
        return {"type": "image_url", "image_url": image}
    if part.data is None and part.file_id is None:
        raise UnsupportedFeatureError("a file given by URL cannot be sent to a chat upstream; send it inline")
    file: dict[str, Any] = {}
    if part.data is not None:
        file["file_data"] = data_url(part.media_type, part.data)
    if part.file_id is not None:
        file["file_id"] = part.file_id
    if part.filename:
        file["filename"] = part.filename
    return {"type": "file", "file": file}


def _user_content(parts: list[TextPart | ImagePart | FilePart]) -> str | list[dict[str, Any]]:
    """A lone text part stays a plain string, which every server accepts."""
    if len(parts) == 1 and isinstance(parts[0], TextPart):
        return parts[0].text
    return [_part(part) for part in parts]


def _tool_message(result: ToolResultPart, attachments: list[TextPart | ImagePart | FilePart]) -> dict[str, Any]:
    """One ``tool`` message with the result's text; its images and files go to ``attachments``."""
    texts = [part.text for part in result.content if isinstance(part, TextPart)]
    attachments += [part for part in result.content if not isinstance(part, TextPart)]
    content = "\n".join(texts)
    if not content and len(texts) < len(result.content):
        content = ATTACHMENT_NOTE
    return {"role": "tool", "tool_call_id": result.call_id, "content": content}


def _user(message: Message) -> list[dict[str, Any]]:
    """A user turn: each run of tool results becomes ``tool`` messages, followed by one user
    message holding the results' attachments and the turn's own content that comes next."""
    out: list[dict[str, Any]] = []
    pending: list[TextPart | ImagePart | FilePart] = []
    for part in message.content:
        if isinstance(part, ToolResultPart):
            if pending and (not out or out[-1]["role"] != "tool"):
                out.append({"role": "user", "content": _user_content(pending)})
                pending = []
            out.append(_tool_message(part, pending))
        elif isinstance(part, TextPart | ImagePart | FilePart):
            pending.append(part)
    if pending:
        out.append({"role": "user", "content": _user_content(pending)})
    return out


def _tool_call(part: ToolCallPart) -> dict[str, Any]:
    arguments = custom_arguments(part.arguments) if part.custom else part.arguments
    return {"id": part.id, "type": "function", "function": {"name": part.name, "arguments": arguments}}


def assistant_message(
    content: list[Part], *, always_details: bool, fields: tuple[str, ...] = ("reasoning_content", "reasoning")
) -> dict[str, Any]:
    """The chat form of an assistant turn (shared with the JSON response renderer); reasoning text
    goes in each of ``fields`` (see :attr:`~asgi_translate._hub.context.Context.reasoning_fields`)."""
    reasoning = [part for part in content if isinstance(part, ReasoningPart)]
    text = "".join(part.text for part in content if isinstance(part, TextPart))
    refusal = "".join(part.text for part in content if isinstance(part, RefusalPart))
    calls = [_tool_call(part) for part in content if isinstance(part, ToolCallPart)]
    # null content is only valid beside tool calls or a refusal; otherwise send "".
    message: dict[str, Any] = {"role": "assistant", "content": text or (None if calls or refusal else "")}
    if reasoning:
        text_of_reasoning = reasoning_text(reasoning)
        for name in fields:
            message[name] = text_of_reasoning
        if always_details or any(part.signature or part.redacted for part in reasoning):
            message["reasoning_details"] = details_from_reasoning(reasoning)
    if refusal or always_details:
        message["refusal"] = refusal or None
    if calls:
        message["tool_calls"] = calls
    return message


def _tool(tool: Tool) -> dict[str, Any]:
    function: dict[str, Any] = {"name": tool.name}
    if tool.description:
        function["description"] = tool.description
    function["parameters"] = _CUSTOM_PARAMETERS if tool.custom else tool.parameters
    if tool.strict is not None and not tool.custom:
        function["strict"] = tool.strict
    return {"type": "function", "function": function}


def _tool_choice(choice: ToolChoice) -> str | dict[str, Any]:
    if choice.type == "tool":
        return {"type": "function", "function": {"name": choice.name}}
    return choice.type


def _response_format(spec: ResponseFormat) -> dict[str, Any] | None:
    if spec.type == "json_object":
        return {"type": "json_object"}
    if spec.type != "json_schema":
        return None
    schema: dict[str, Any] = {"name": spec.name or "response", "schema": spec.schema or {"type": "object"}}
    if spec.strict is not None:
        schema["strict"] = spec.strict
    if spec.description:
        schema["description"] = spec.description
    return {"type": "json_schema", "json_schema": schema}


def _messages(req: Request, fields: tuple[str, ...]) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = [{"role": "system", "content": text} for text in req.system]
    for message in req.messages:
        if message.role == "user":
            content = message.content
            if len(content) == 1 and type(content[0]) is TextPart:  # the usual user turn, as _user writes it
                messages.append({"role": "user", "content": content[0].text})
            else:
                messages += _user(message)
        elif message.role == "system":  # chat takes system messages anywhere: in place
            messages += [
                {"role": "system", "content": part.text} for part in message.content if isinstance(part, TextPart)
            ]
        else:
            messages.append(assistant_message(message.content, always_details=False, fields=fields))
    return messages


def _options(req: Request, body: dict[str, Any]) -> None:
    if req.max_tokens is not None:
        body["max_tokens"] = req.max_tokens
    if req.temperature is not None:
        body["temperature"] = req.temperature
    if req.top_p is not None:
        body["top_p"] = req.top_p
    if req.stop:
        body["stop"] = req.stop[:MAX_STOP]
        if len(req.stop) > MAX_STOP:
            req.losses.append(f"stop sequences beyond {MAX_STOP} dropped")
    if req.user is not None:
        # ``user``, which every OpenAI-compatible server reads (``safety_identifier`` is OpenAI's
        # alone), held to the 64 characters OpenAI takes for either.
        body["user"] = user_identifier(req.user, req.losses)
    reasoning = req.reasoning
    if reasoning is not None and reasoning.enabled:
        effort = reasoning.effort
        if effort is None and reasoning.budget_tokens is not None:
            effort = effort_for_budget(reasoning.budget_tokens)
        if effort is not None:
            body["reasoning_effort"] = effort
    if req.response_format is not None:
        response_format = _response_format(req.response_format)
        if response_format is not None:
            body["response_format"] = response_format


def render_request(req: Request, ctx: Context) -> dict[str, Any]:
    """Canonical request -> chat request JSON. Streams always ask for usage
    (``stream_options.include_usage``): Messages and Responses clients need it, and the chat
    encoder decides whether a chat client sees it."""
    messages = _messages(req, ctx.reasoning_fields)
    if not messages:  # a Responses client's empty input without instructions: a chat server needs one
        raise RequestTranslationError("The request has no message to send to the chat upstream", param="input")
    body: dict[str, Any] = {"model": req.model, "messages": messages}
    # tool_choice and parallel_tool_calls only beside tools: servers refuse them alone (vLLM: "When
    # using `tool_choice`, `tools` must be set"), and without tools there is nothing to choose.
    # Codex's compaction requests send both with ``tools: []``.
    if req.tools:
        body["tools"] = [_tool(tool) for tool in req.tools]
        if req.tool_choice is not None:
            body["tool_choice"] = _tool_choice(req.tool_choice)
        if req.parallel_tool_calls is not None:
            body["parallel_tool_calls"] = req.parallel_tool_calls
    _options(req, body)
    body["stream"] = req.stream
    if req.stream:
        body["stream_options"] = {"include_usage": True}
        if ctx.continuous_usage_stats:  # vLLM's extension: only where the upstream is known to take it
            body["stream_options"]["continuous_usage_stats"] = True
    return body
