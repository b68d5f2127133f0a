"""Anthropic Messages request JSON -> canonical :class:`~asgi_translate._hub.canonical.Request`.

Field reference: https://docs.anthropic.com/en/api/messages (and ``CreateMessageParams`` in the
OpenAPI spec). Anything the canonical form cannot hold is either dropped with a note in
``request.losses`` (when the answer stays the same in substance) or rejected with
:class:`UnsupportedFeatureError` (server tools, MCP servers: only Anthropic can run them).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..._hub import json as _json
from ..._hub.canonical import (
    FilePart,
    ImagePart,
    Message,
    Part,
    Reasoning,
    ReasoningPart,
    Request,
    ResponseFormat,
    Role,
    TextPart,
    Tool,
    ToolCallPart,
    ToolChoice,
    ToolResultPart,
)
from ..._hub.errors import RequestTranslationError, UnsupportedFeatureError
from ..._hub.reasoning import effort_for_budget
from ..._hub.tool_names import fits

# Content blocks produced and consumed by Anthropic's own server tools. A non-Anthropic upstream
# cannot replay them, and silently dropping them would hide what the model did earlier.
SERVER_BLOCKS = frozenset(
    {
        "server_tool_use",
        "web_search_tool_result",
        "web_fetch_tool_result",
        "code_execution_tool_result",
        "bash_code_execution_tool_result",
        "text_editor_code_execution_tool_result",
        "tool_search_tool_result",
        "container_upload",
        "mcp_tool_use",
        "mcp_tool_result",
    }
)

# Top-level fields with no counterpart whose absence leaves the answer the same in substance.
_DROPPED_FIELDS = frozenset(
    {"service_tier", "inference_geo", "container", "context_management", "speed", "user_profile_id", "cache_control"}
)
_KNOWN_FIELDS = frozenset(
    {
        "model",
        "messages",
        "max_tokens",
        "system",
        "tools",
        "tool_choice",
        "temperature",
        "top_p",
        "top_k",
        "stop_sequences",
        "metadata",
        "stream",
        "thinking",
        "output_config",
        "output_format",
    }
)
# Custom-tool fields that only steer Anthropic's own tool machinery.
_DROPPED_TOOL_FIELDS = ("cache_control", "eager_input_streaming", "defer_loading", "allowed_callers", "input_examples")
_DROPPED_TOOL_FIELD_SET = frozenset(_DROPPED_TOOL_FIELDS)
_TOOL_CHOICES: dict[str, Any] = {"auto": "auto", "any": "required", "none": "none", "tool": "tool"}
# Anthropic's effort scale and OpenAI's share these names (OpenAI's also has none and minimal).
_EFFORTS = {"low": "low", "medium": "medium", "high": "high", "xhigh": "xhigh", "max": "max"}


def parse_request(body: dict[str, Any]) -> Request:
    """Validate a Messages request and convert it; raises RequestTranslationError naming the field."""
    losses: list[str] = []
    # Fields of their usual type are checked in place; the helpers only for the others (their
    # errors name the field), in the order the fields were always checked.
    stream = body.get("stream")
    if type(stream) is not bool:
        stream = _optional(body, "stream", bool, "stream") or False
    model = body.get("model")
    if type(model) is not str:
        model = _required(body, "model", str, "model")
    # The first three fields positionally and the others set after: keyword arguments to a class
    # cost a dict, built and unpacked again, on every request.
    request = Request(model, _parse_messages(body.get("messages"), losses), _parse_system(body.get("system"), losses))
    request.max_tokens = _parse_max_tokens(body.get("max_tokens"))
    request.stop = _parse_stop(body.get("stop_sequences"))
    request.stream = stream
    # Messages streams always report usage, so the canonical request always asks for it.
    request.include_usage = stream
    request.losses = losses
    _parse_sampling(body, request)
    _parse_tools(body, request)
    if (
        body.get("output_config") is not None
        or body.get("thinking") is not None
        or body.get("output_format") is not None
    ):
        _parse_output(body, request)  # else no reasoning and no format: most requests
    metadata = body.get("metadata")
    if metadata is not None:
        if type(metadata) is not dict:
            metadata = _optional(body, "metadata", dict, "metadata")
        request.user = _optional(metadata, "user_id", str, "metadata.user_id")
    _check_fields(body, losses)
    return request


#: Claude Code's first system block: ``x-anthropic-billing-header: cc_version=2.1.332.3f6;
#: cc_entrypoint=sdk-cli;``. Anthropic's API reads it as a header and strips it; its version suffix
#: changes from prompt to prompt, so sent on as text it would open every prompt with bytes that
#: differ and defeat the upstream's prefix cache of the ~27 KB preamble after it.
BILLING_HEADER = "x-anthropic-billing-header:"

#: What an Anthropic SDK does on this error code: the JS SDK's toolRunner (1.14+) stops threading
#: and resends the whole history. ``thread`` asks the server to hold the conversation between turns
#: and send only the new messages; nothing here holds it, and dropping the field would send the
#: upstream a lone tool result.
THREAD_UNSUPPORTED = {"error_code": "thread_unsupported_request", "unsupported": ["thread"]}


def note(losses: list[str], text: str) -> None:
    """Record a loss once, however many blocks caused it."""
    if text not in losses:
        losses.append(text)


# -- field helpers ----------------------------------------------------------------------------


def _type_name(kind: type | tuple[type, ...]) -> str:
    names = {bool: "a boolean", str: "a string", dict: "an object", list: "an array", int: "an integer"}
    if isinstance(kind, tuple):
        return "a number"
    return names.get(kind, kind.__name__)


def _optional(obj: dict[str, Any], key: str, kind: type | tuple[type, ...], param: str) -> Any:
    """``obj[key]`` checked against ``kind`` (None when absent or null)."""
    value = obj.get(key)
    if value is None or type(value) is kind:  # nearly every field: exactly the type asked for
        return value
    # bool is an int subclass: a true/false where a number belongs is a client bug.
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise RequestTranslationError(f"{param} must be {_type_name(kind)}, got {type(value).__name__}", param=param)
    return value


def _nonempty(value: str, param: str) -> str:
    """Ids name a call: an empty one names none (Anthropic's pattern needs a character; so does every upstream)."""
    if not value:
        raise RequestTranslationError(f"{param} must not be empty", param=param)
    return value


def _required(obj: dict[str, Any], key: str, kind: type | tuple[type, ...], param: str) -> Any:
    value = _optional(obj, key, kind, param)
    if value is None:
        raise RequestTranslationError(f"{param} is required", param=param)
    return value


def _check_fields(body: dict[str, Any], losses: list[str]) -> None:
    if body.get("thread") is not None:
        raise UnsupportedFeatureError(
            "thread: this server does not keep message threads; send the whole conversation in messages",
            param="thread",
            details=THREAD_UNSUPPORTED,
        )
    if "mcp_servers" in body:
        raise UnsupportedFeatureError(
            "mcp_servers are connected by Anthropic's API itself; the upstream cannot reach them. "
            "Remove mcp_servers and pass the tools as custom tools.",
            param="mcp_servers",
        )
    if _KNOWN_FIELDS.issuperset(body):  # nearly every request: one test in C, no loop
        return
    for key in body:
        if key not in _KNOWN_FIELDS:
            note(losses, f"{key} dropped" if key in _DROPPED_FIELDS else f"unknown field {key} dropped")


# -- top-level scalars ------------------------------------------------------------------------


def _parse_max_tokens(value: Any) -> int:
    if value is None:
        raise RequestTranslationError("max_tokens is required", param="max_tokens")
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise RequestTranslationError(f"max_tokens must be a positive integer, got {value!r}", param="max_tokens")
    return value


def _parse_stop(value: Any) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise RequestTranslationError("stop_sequences must be an array of strings", param="stop_sequences")
    return value


def _parse_sampling(body: dict[str, Any], request: Request) -> None:
    if "temperature" not in body and "top_p" not in body and "top_k" not in body:  # most requests
        return
    request.temperature = _optional(body, "temperature", (int, float), "temperature")
    request.top_p = _optional(body, "top_p", (int, float), "top_p")
    for key in ("temperature", "top_p"):  # Anthropic's range for both: 0 to 1
        value = getattr(request, key)
        if value is not None and not 0 <= value <= 1:
            raise RequestTranslationError(f"{key} must be between 0 and 1", param=key)
    if _optional(body, "top_k", int, "top_k") is not None:
        note(request.losses, "top_k dropped")


def _parse_system(value: Any, losses: list[str]) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value] if value else []
    if not isinstance(value, list):
        raise RequestTranslationError("system must be a string or an array of text blocks", param="system")
    texts = _text_blocks(value, "system", losses)
    if texts and texts[0].startswith(BILLING_HEADER):
        note(losses, "system x-anthropic-billing-header block dropped")
        del texts[0]
    return texts


def _text_blocks(value: list[Any], where: str, losses: list[str]) -> list[str]:
    texts: list[str] = []
    for i, block in enumerate(value):
        param = f"{where}[{i}]"
        if not isinstance(block, dict) or block.get("type") != "text":
            raise RequestTranslationError(f"{param} must be a text block", param=f"{param}.type")
        _note_block_extras(block, losses)
        texts.append(_required(block, "text", str, f"{param}.text"))
    return texts


# -- messages ---------------------------------------------------------------------------------


def _parse_messages(value: Any, losses: list[str]) -> list[Message]:
    if not isinstance(value, list):
        raise RequestTranslationError("messages must be an array", param="messages")
    if not value:  # as Anthropic's API answers: there is nothing to reply to
        raise RequestTranslationError("messages: at least one message is required", param="messages")
    messages: list[Message] = []
    for i, raw in enumerate(value):
        # A user or assistant turn of one string, checked in place; any other, and anything
        # malformed, by _parse_message, with the parameter name its errors show.
        if type(raw) is dict:
            role, content = raw.get("role"), raw.get("content")
            if type(content) is str and (role == "user" or role == "assistant"):
                messages.append(Message(role, [TextPart(content)]))
                continue
        messages.append(_parse_message(raw, f"messages[{i}]", losses))
    return [message for message in messages if message.content or message.role != "system"]


def _parse_message(raw: Any, where: str, losses: list[str]) -> Message:
    if not isinstance(raw, dict):
        raise RequestTranslationError(f"{where} must be an object", param=where)
    role = raw.get("role")
    content = raw.get("content")
    if role == "system":  # the mid-conversation-system beta: kept in place, text only
        if isinstance(content, str):
            return Message("system", [TextPart(content)] if content else [])
        if not isinstance(content, list):
            raise RequestTranslationError(f"{where}.content must be a string or an array", param=f"{where}.content")
        return Message("system", [TextPart(text) for text in _text_blocks(content, f"{where}.content", losses) if text])
    if role not in ("user", "assistant"):
        raise RequestTranslationError(
            f"{where}.role must be 'user', 'assistant' or 'system', got {role!r}", param=f"{where}.role"
        )
    if isinstance(content, str):
        return Message(role, [TextPart(content)])
    if not isinstance(content, list):
        raise RequestTranslationError(f"{where}.content must be a string or an array", param=f"{where}.content")
    parts: list[Part] = []
    for j, block in enumerate(content):
        # A plain text block checked in place (no parameter name made for it): a conversation
        # holds hundreds; the others by _parse_block.
        if type(block) is dict and block.get("type") == "text" and "cache_control" not in block:
            text = block.get("text")
            if type(text) is str and not block.get("citations"):
                parts.append(TextPart(text))
                continue
        parts.append(_parse_block(block, role, f"{where}.content[{j}]", losses))
    return Message(role, parts)


def _parse_block(block: Any, role: Role, where: str, losses: list[str]) -> Part:
    if not isinstance(block, dict):
        raise RequestTranslationError(f"{where} must be an object", param=where)
    kind = block.get("type")
    parser = _BLOCK_PARSERS.get(kind) if isinstance(kind, str) else None
    if parser is None:
        raise _unknown_block(kind, f"{where}.type")
    if kind in _ROLE_OF_BLOCK and _ROLE_OF_BLOCK[kind] != role:
        raise RequestTranslationError(
            f"{where}: a {kind} block belongs in a {_ROLE_OF_BLOCK[kind]} message", param=f"{where}.type"
        )
    _note_block_extras(block, losses)
    return parser(block, where, losses)


def _unknown_block(kind: Any, param: str) -> RequestTranslationError:
    if isinstance(kind, str) and kind in SERVER_BLOCKS:  # a list or dict type is not hashable
        return UnsupportedFeatureError(
            f"{param}: {kind} blocks come from Anthropic's server tools, which the upstream cannot run or replay; "
            "remove them from the history",
            param=param,
        )
    if kind == "search_result":
        return UnsupportedFeatureError(f"{param}: search_result blocks have no counterpart upstream", param=param)
    return RequestTranslationError(f"{param}: unknown content block type {kind!r}", param=param)


def _note_block_extras(block: dict[str, Any], losses: list[str]) -> None:
    if "cache_control" in block:
        note(losses, "cache_control dropped")
    if block.get("citations"):
        note(losses, "citations dropped")


def _parse_text(block: dict[str, Any], where: str, losses: list[str]) -> Part:
    return TextPart(_required(block, "text", str, f"{where}.text"))


def _source(block: dict[str, Any], where: str) -> tuple[dict[str, Any], str]:
    source = _required(block, "source", dict, f"{where}.source")
    kind = source.get("type")
    if kind == "file":
        raise UnsupportedFeatureError(
            f"{where}.source: Files API references cannot be sent upstream; send the content as base64",
            param=f"{where}.source.type",
        )
    return source, kind if isinstance(kind, str) else ""


def _parse_image(block: dict[str, Any], where: str, losses: list[str]) -> Part:
    source, kind = _source(block, where)
    if kind == "base64":
        data = _required(source, "data", str, f"{where}.source.data")
        return ImagePart(data=data, media_type=_optional(source, "media_type", str, f"{where}.source.media_type"))
    if kind == "url":
        return ImagePart(url=_required(source, "url", str, f"{where}.source.url"))
    raise RequestTranslationError(f"{where}.source.type {kind!r} is not an image source", param=f"{where}.source.type")


def _parse_document(block: dict[str, Any], where: str, losses: list[str]) -> Part:
    source, kind = _source(block, where)
    title = _optional(block, "title", str, f"{where}.title")
    if kind == "base64":
        data = _required(source, "data", str, f"{where}.source.data")
        media_type = _optional(source, "media_type", str, f"{where}.source.media_type")
        return FilePart(data=data, media_type=media_type or "application/pdf", filename=title)
    if kind == "url":
        return FilePart(url=_required(source, "url", str, f"{where}.source.url"), filename=title)
    if kind == "text":
        # Other schemas take only binary files (PDF); a plain-text document reads the same as text.
        note(losses, "plain-text document sent as text")
        return TextPart(_required(source, "data", str, f"{where}.source.data"))
    raise UnsupportedFeatureError(
        f"{where}.source.type {kind!r} has no counterpart upstream; use a base64, url or text source",
        param=f"{where}.source.type",
    )


def _parse_tool_use(block: dict[str, Any], where: str, losses: list[str]) -> Part:
    call_input = _optional(block, "input", dict, f"{where}.input") or {}
    return ToolCallPart(
        id=_nonempty(_required(block, "id", str, f"{where}.id"), f"{where}.id"),
        name=_required(block, "name", str, f"{where}.name"),
        arguments=_json.dumps(call_input),
    )


def _parse_tool_result(block: dict[str, Any], where: str, losses: list[str]) -> Part:
    content = block.get("content")
    parts: list[TextPart | ImagePart | FilePart] = []
    if isinstance(content, str):
        parts.append(TextPart(content))
    elif isinstance(content, list):
        for j, item in enumerate(content):
            inner = f"{where}.content[{j}]"
            kind = item.get("type") if isinstance(item, dict) else None
            if kind not in ("text", "image", "document"):
                raise _unknown_block(kind, f"{inner}.type")
            _note_block_extras(item, losses)
            part = _BLOCK_PARSERS[kind](item, inner, losses)
            assert isinstance(part, (TextPart, ImagePart, FilePart))
            parts.append(part)
    elif content is not None:
        raise RequestTranslationError(f"{where}.content must be a string or an array", param=f"{where}.content")
    return ToolResultPart(
        call_id=_nonempty(_required(block, "tool_use_id", str, f"{where}.tool_use_id"), f"{where}.tool_use_id"),
        content=parts,
        is_error=_optional(block, "is_error", bool, f"{where}.is_error") or False,
    )


def _parse_thinking(block: dict[str, Any], where: str, losses: list[str]) -> Part:
    text = _optional(block, "thinking", str, f"{where}.thinking") or ""
    # An empty signature is what our own responses carry for unsigned reasoning: not a signature.
    signature = _optional(block, "signature", str, f"{where}.signature") or None
    return ReasoningPart(text=text, signature=signature)


def _parse_redacted(block: dict[str, Any], where: str, losses: list[str]) -> Part:
    return ReasoningPart(redacted=True, signature=_required(block, "data", str, f"{where}.data"))


_BLOCK_PARSERS: dict[str, Callable[[dict[str, Any], str, list[str]], Part]] = {
    "text": _parse_text,
    "image": _parse_image,
    "document": _parse_document,
    "tool_use": _parse_tool_use,
    "tool_result": _parse_tool_result,
    "thinking": _parse_thinking,
    "redacted_thinking": _parse_redacted,
}
_ROLE_OF_BLOCK: dict[str, Role] = {
    "tool_result": "user",
    "tool_use": "assistant",
    "thinking": "assistant",
    "redacted_thinking": "assistant",
}


# -- tools ------------------------------------------------------------------------------------


def _parse_tools(body: dict[str, Any], request: Request) -> None:
    tools = body.get("tools")
    if tools is not None:
        if type(tools) is not list:
            tools = _optional(body, "tools", list, "tools")
        request.tools = [_parse_tool(raw, i, request.losses) for i, raw in enumerate(tools)]
    choice = body.get("tool_choice")
    if choice is None:
        return
    if type(choice) is not dict:
        choice = _optional(body, "tool_choice", dict, "tool_choice")
    kind = choice.get("type")
    if not isinstance(kind, str) or kind not in _TOOL_CHOICES:  # a list or dict is not hashable
        raise RequestTranslationError(
            f"tool_choice.type {kind!r} is not auto, any, tool or none", param="tool_choice.type"
        )
    name = _required(choice, "name", str, "tool_choice.name") if kind == "tool" else None
    request.tool_choice = ToolChoice(_TOOL_CHOICES[kind], name)
    if _optional(choice, "disable_parallel_tool_use", bool, "tool_choice.disable_parallel_tool_use"):
        request.parallel_tool_calls = False


def _parse_tool(raw: Any, i: int, losses: list[str]) -> Tool:
    """``tools[i]``; the parameter name (``where``) is made only for an error."""
    if not isinstance(raw, dict):
        where = f"tools[{i}]"
        raise RequestTranslationError(f"{where} must be an object", param=where)
    kind = raw.get("type")
    if kind not in (None, "custom"):
        where = f"tools[{i}]"
        raise UnsupportedFeatureError(
            f"{where} is Anthropic's server tool {kind!r} (name {raw.get('name')!r}), which only Anthropic's API "
            "can run; remove it or define a custom tool with an input_schema",
            param=f"{where}.type",
        )
    if not _DROPPED_TOOL_FIELD_SET.isdisjoint(raw):  # a tool has three or four keys: one test in C
        for key in _DROPPED_TOOL_FIELDS:
            if key in raw:
                note(losses, f"tools[].{key} dropped")
    # Each field is checked in place when it has its usual type; the helpers (and the parameter
    # names their errors show) only for the others: a request may define a hundred tools.
    name = raw.get("name")
    if type(name) is not str:
        name = _required(raw, "name", str, f"tools[{i}].name")
    if not fits(name, 128):  # Anthropic's own rule (and every other upstream's)
        where = f"tools[{i}]"
        raise RequestTranslationError(f"{where}.name must be 1-128 letters, digits, '_' or '-'", param=f"{where}.name")
    description = raw.get("description")
    if description is not None and type(description) is not str:
        description = _optional(raw, "description", str, f"tools[{i}].description")
    parameters = raw.get("input_schema")
    if type(parameters) is not dict:
        parameters = _required(raw, "input_schema", dict, f"tools[{i}].input_schema")
    strict = raw.get("strict")
    if strict is not None and type(strict) is not bool:
        strict = _optional(raw, "strict", bool, f"tools[{i}].strict")
    return Tool(name, description, parameters, strict)  # positional: keywords to a class cost a dict per tool


# -- thinking and output format ---------------------------------------------------------------


def _parse_output(body: dict[str, Any], request: Request) -> None:
    config = _optional(body, "output_config", dict, "output_config") or {}
    for key in config:
        if key not in ("effort", "format"):  # task_budget: the model is told a budget it cannot see here
            note(request.losses, f"output_config.{key} dropped")
    effort = _optional(config, "effort", str, "output_config.effort")
    if effort is not None and effort not in _EFFORTS:
        raise RequestTranslationError(
            f"output_config.effort {effort!r} is not a known effort", param="output_config.effort"
        )
    request.reasoning = _parse_reasoning(body, _EFFORTS.get(effort or ""), request.losses)
    # ``output_format`` is the beta spelling that output_config.format replaced.
    if config.get("format") is not None:
        request.response_format = _parse_format(config["format"], "output_config.format")
    elif body.get("output_format") is not None:
        request.response_format = _parse_format(body["output_format"], "output_format")


def _parse_reasoning(body: dict[str, Any], effort: str | None, losses: list[str]) -> Reasoning | None:
    thinking = _optional(body, "thinking", dict, "thinking")
    if thinking is None:
        # Effort alone (no thinking block) still asks the model to spend more or less.
        return Reasoning(effort=effort) if effort else None
    if thinking.get("display") is not None:
        note(losses, "thinking.display dropped")
    kind = thinking.get("type")
    if kind == "enabled":
        budget = _required(thinking, "budget_tokens", int, "thinking.budget_tokens")
        return Reasoning(effort=effort or effort_for_budget(budget), budget_tokens=budget)
    if kind == "adaptive":
        return Reasoning(effort=effort or "medium")
    if kind == "disabled":
        if effort:
            note(losses, "output_config.effort dropped (thinking disabled)")
        return None
    raise RequestTranslationError(f"thinking.type {kind!r} is not enabled, adaptive or disabled", param="thinking.type")


def _parse_format(raw: Any, param: str) -> ResponseFormat:
    if not isinstance(raw, dict) or raw.get("type") != "json_schema":
        raise RequestTranslationError(f"{param} must be {{'type': 'json_schema', 'schema': {{...}}}}", param=param)
    schema = _required(raw, "schema", dict, f"{param}.schema")
    # Anthropic always decodes structured output against the schema: it is strict by nature.
    return ResponseFormat(type="json_schema", schema=schema, strict=True)
