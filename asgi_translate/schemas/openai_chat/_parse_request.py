"""Chat Completions request JSON -> canonical :class:`Request`.

Validation is by hand on plain dicts (no pydantic on the request path); every error names the
offending field in ``param`` the way OpenAI does (``messages[3].content[0].type``).
https://platform.openai.com/docs/api-reference/chat/create
"""

from __future__ import annotations

from typing import Any

from ..._hub import json as _json
from ..._hub.canonical import (
    FilePart,
    ImagePart,
    Message,
    Part,
    Reasoning,
    RefusalPart,
    Request,
    ResponseFormat,
    TextPart,
    Tool,
    ToolCallPart,
    ToolChoice,
    ToolResultPart,
)
from ..._hub.errors import UnsupportedFeatureError
from ..._hub.reasoning import budget_for_effort, effort_for_budget
from ..._hub.tool_names import fits
from .._openai_common import expect_object as _object
from .._openai_common import expect_range, split_data_url
from .._openai_common import expect_string as _string
from .._openai_common import field_error as _fail
from ._fields import reasoning_parts

ToolContent = TextPart | ImagePart | FilePart

EFFORTS = frozenset({"none", "minimal", "low", "medium", "high", "xhigh", "max"})  # the spec's ReasoningEffort

# Fields read by parse_request itself; everything else is either rejected below or dropped with
# a note in Request.losses.
_HANDLED = frozenset(
    {
        "model", "messages", "tools", "tool_choice", "parallel_tool_calls", "max_tokens",
        "max_completion_tokens", "temperature", "top_p", "stop", "user", "safety_identifier", "stream",
        "stream_options", "reasoning_effort", "reasoning", "response_format", "metadata", "n", "modalities",
    }
)  # fmt: skip

# Fields whose loss would change the answer rather than its fine print.
_REJECTED = {
    "audio": "audio output has no counterpart upstream",
    "web_search_options": "web search has no counterpart in a translated request",
    "functions": "the legacy 'functions' field is not supported; declare them in 'tools'",
    "function_call": "the legacy 'function_call' field is not supported; use 'tool_choice'",
}


def _number(value: Any, param: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _fail(f"'{param}' must be a number", param)
    return float(value)


def _integer(value: Any, param: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise _fail(f"'{param}' must be a positive integer", param)
    return value


def _boolean(value: Any, param: str) -> bool:
    if not isinstance(value, bool):
        raise _fail(f"'{param}' must be a boolean", param)
    return value


def _array(value: Any, param: str) -> list[Any]:
    if not isinstance(value, list):
        raise _fail(f"'{param}' must be an array", param)
    return value


# --------------------------------------------------------------------------------------------
# Content parts


def _image(part: dict[str, Any], param: str) -> ImagePart:
    image = part.get("image_url")
    if isinstance(image, str):  # some clients send the URL bare
        image = {"url": image}
    image = _object(image, f"{param}.image_url")
    url = _string(image.get("url"), f"{param}.image_url.url")
    detail = image.get("detail") if isinstance(image.get("detail"), str) else None
    inline = split_data_url(url)
    if inline is not None:
        return ImagePart(data=inline[1], media_type=inline[0], detail=detail)
    return ImagePart(url=url, detail=detail)


def _file(part: dict[str, Any], param: str) -> FilePart:
    file = _object(part.get("file"), f"{param}.file")
    filename = file.get("filename") if isinstance(file.get("filename"), str) else None
    file_id = file.get("file_id") if isinstance(file.get("file_id"), str) else None
    file_data = file.get("file_data")
    if isinstance(file_data, str):
        inline = split_data_url(file_data)
        if inline is not None:
            return FilePart(data=inline[1], media_type=inline[0], filename=filename, file_id=file_id)
        # A bare base64 string: OpenAI documents only the data URL form, but clients send both.
        return FilePart(data=file_data, media_type="application/pdf", filename=filename, file_id=file_id)
    if file_id is None:
        raise _fail(f"'{param}.file' needs 'file_data' or 'file_id'", f"{param}.file")
    return FilePart(file_id=file_id, filename=filename)


def _content_part(part: Any, param: str, allowed: frozenset[str]) -> Part | None:
    part = _object(part, param)
    kind = part.get("type")
    if not isinstance(kind, str) or kind not in allowed:  # a list or dict is not hashable
        if kind == "input_audio":
            raise UnsupportedFeatureError(
                f"'{param}' is an input_audio part; audio input has no counterpart upstream", param=f"{param}.type"
            )
        raise _fail(f"'{param}.type' {kind!r} is not one of {', '.join(sorted(allowed))}", f"{param}.type")
    if kind == "text":
        text = _string(part.get("text"), f"{param}.text")
        return TextPart(text) if text else None
    if kind == "refusal":
        refusal = _string(part.get("refusal"), f"{param}.refusal")
        return RefusalPart(refusal) if refusal else None
    if kind == "image_url":
        return _image(part, param)
    return _file(part, param)


_USER_PARTS = frozenset({"text", "image_url", "file"})
_TOOL_PARTS = frozenset({"text", "image_url", "file"})
_ASSISTANT_PARTS = frozenset({"text", "refusal"})
_SYSTEM_PARTS = frozenset({"text"})


def _content(content: Any, param: str, allowed: frozenset[str]) -> list[Part]:
    """String or array content -> parts; empty strings are dropped (Messages rejects empty text)."""
    if content is None:
        return []
    if isinstance(content, str):
        return [TextPart(content)] if content else []
    parts: list[Part] = []
    for number, raw in enumerate(_array(content, param)):
        # A text part (every ``allowed`` takes them) checked in place; the others, and anything
        # malformed, by _content_part, with the parameter name its errors show.
        if type(raw) is dict and raw.get("type") == "text":
            text = raw.get("text")
            if type(text) is str:
                if text:
                    parts.append(TextPart(text))
                continue
        part = _content_part(raw, f"{param}[{number}]", allowed)
        if part is not None:
            parts.append(part)
    return parts


# --------------------------------------------------------------------------------------------
# Messages


def _system(message: dict[str, Any], param: str) -> list[str]:
    parts = _content(message.get("content"), f"{param}.content", _SYSTEM_PARTS)
    return [part.text for part in parts if isinstance(part, TextPart)]


def _tool_call(call: Any, param: str, answer: bool = False) -> ToolCallPart:
    """One ``tool_calls[]`` entry. In an upstream's ``answer`` the id, name and arguments may be
    missing (servers omit them, as the stream decoder tolerates): they stay empty, and an empty id
    is minted later; a client's history must name them."""
    if type(call) is not dict:
        call = _object(call, param)
    kind = call.get("type", "function")
    if kind != "function":
        raise UnsupportedFeatureError(f"'{param}.type' {kind!r} is not supported; only function calls", param=param)
    function = call.get("function")
    if type(function) is not dict:
        function = _object(function, f"{param}.function")
    arguments = function.get("arguments", "")
    if isinstance(arguments, dict):  # a few clients send parsed arguments
        arguments = _json.dumps(arguments)
    if answer:
        call_id, name = call.get("id"), function.get("name")
        return ToolCallPart(
            id=call_id if isinstance(call_id, str) else "",
            name=name if isinstance(name, str) else "",
            arguments=arguments if isinstance(arguments, str) else "",
        )
    # Each field is checked in place when it has its usual type; the helpers (and the parameter
    # names their errors show) only for the others: a history may hold hundreds of calls.
    call_id = call.get("id")
    if type(call_id) is not str:
        call_id = _string(call_id, f"{param}.id")
    if not call_id:  # the tool message that answers it names this id
        raise _fail(f"'{param}.id' must not be empty", f"{param}.id")
    name = function.get("name")
    if type(name) is not str:
        name = _string(name, f"{param}.function.name")
    if type(arguments) is not str:
        arguments = _string(arguments, f"{param}.function.arguments")
    return ToolCallPart(id=call_id, name=name, arguments=arguments)


def parse_assistant(message: dict[str, Any], param: str, *, answer: bool = False) -> list[Part]:
    """Assistant turn: reasoning first, then text and refusal, then tool calls (the order a
    Messages or Responses upstream expects them in). ``answer``: an upstream's response message,
    read as leniently as the stream path reads its deltas."""
    for key in ("audio", "function_call"):
        if message.get(key) is not None:
            raise UnsupportedFeatureError(f"'{param}.{key}' is not supported in history", param=f"{param}.{key}")
    text = message.get("reasoning_content")
    if not isinstance(text, str):
        text = message.get("reasoning")
    details = message.get("reasoning_details")
    parts: list[Part] = list(
        reasoning_parts(text if isinstance(text, str) else "", details if isinstance(details, list) else [])
    )
    parts += _content(message.get("content"), f"{param}.content", _ASSISTANT_PARTS)
    refusal = message.get("refusal")
    if isinstance(refusal, str) and refusal:
        parts.append(RefusalPart(refusal))
    calls = message.get("tool_calls")
    if calls is not None:
        parts += [
            _tool_call(call, f"{param}.tool_calls[{n}]", answer)
            for n, call in enumerate(_array(calls, f"{param}.tool_calls"))
        ]
    return parts


def _tool_result(message: dict[str, Any], param: str) -> ToolResultPart:
    call_id = message.get("tool_call_id")
    if type(call_id) is not str:
        call_id = _string(call_id, f"{param}.tool_call_id")
    if not call_id:  # it names the call it answers: an empty one answers none (every upstream refuses it)
        raise _fail(f"'{param}.tool_call_id' must not be empty", f"{param}.tool_call_id")
    content: list[ToolContent] = [
        part
        for part in _content(message.get("content"), f"{param}.content", _TOOL_PARTS)
        if isinstance(part, TextPart | ImagePart | FilePart)
    ]
    return ToolResultPart(call_id=call_id, content=content)


class _Conversation:
    """Collects turns. Tool results open (or extend) a user turn, and a user message straight
    after tool results joins that turn: Messages wants every result of one assistant turn in the
    next user turn, before any new text. System and developer messages before the first turn are
    the system prompt; later ones stay where they are, as system messages of the conversation,
    except that one among a turn's tool results follows them (every schema wants the results right
    after their calls)."""

    __slots__ = ("system", "messages", "after_tool", "pending_system")

    def __init__(self) -> None:
        self.system: list[str] = []
        self.messages: list[Message] = []
        self.after_tool = False
        self.pending_system: list[Part] = []

    def add_system(self, texts: list[str]) -> None:
        if not self.messages:
            self.system += texts
        else:
            self.pending_system += [TextPart(text) for text in texts]
            if not self.after_tool:
                self.flush()

    def add(self, role: str, parts: list[Part], *, tool: bool = False) -> None:
        if not tool:
            self.flush()
        if self.after_tool and role == "user":
            self.messages[-1].content.extend(parts)
        elif parts:
            self.messages.append(Message(role, parts))  # type: ignore[arg-type]
        self.after_tool = tool and role == "user"

    def flush(self) -> None:
        """Place the system text held back while tool results were coming in."""
        if self.pending_system:
            self.messages.append(Message("system", self.pending_system))
            self.pending_system = []
            self.after_tool = False


def _messages(raw: Any, losses: list[str]) -> _Conversation:
    conversation = _Conversation()
    messages = _array(raw, "messages")
    if not messages:
        raise _fail("'messages' must contain at least one message", "messages")
    named = False
    for number, message in enumerate(messages):
        if type(message) is not dict:
            message = _object(message, f"messages[{number}]")
        role = message.get("role")
        named = named or message.get("name") is not None
        if role == "user":
            content = message.get("content")
            if type(content) is str:  # the usual user turn: one string, no parameter name to make
                conversation.add("user", [TextPart(content)] if content else [])
            else:
                conversation.add("user", _content(content, f"messages[{number}].content", _USER_PARTS))
        elif role == "assistant":
            conversation.add("assistant", parse_assistant(message, f"messages[{number}]"))
        elif role == "tool":
            conversation.add("user", [_tool_result(message, f"messages[{number}]")], tool=True)
        elif role in ("system", "developer"):
            conversation.add_system(_system(message, f"messages[{number}]"))
        elif role == "function":
            raise UnsupportedFeatureError(
                "legacy 'function' messages are not supported; use 'tool'", param=f"messages[{number}].role"
            )
        else:
            param = f"messages[{number}]"
            raise _fail(
                f"'{param}.role' {role!r} is not one of system, developer, user, assistant, tool", f"{param}.role"
            )
    conversation.flush()
    if named:
        losses.append("messages[].name dropped")
    return conversation


# --------------------------------------------------------------------------------------------
# Tools and options


def _tools(raw: Any) -> list[Tool]:
    tools: list[Tool] = []
    for number, tool in enumerate(_array(raw, "tools")):
        # Fields of their usual type are checked in place, and the parameter name made only for an
        # error: a request may define a hundred tools.
        if type(tool) is not dict:
            tool = _object(tool, f"tools[{number}]")
        if tool.get("type") != "function":
            raise UnsupportedFeatureError(
                f"'tools[{number}].type' {tool.get('type')!r} is not supported; only function tools translate",
                param=f"tools[{number}].type",
            )
        function = tool.get("function")
        if type(function) is not dict:
            function = _object(function, f"tools[{number}].function")
        parameters = function.get("parameters")
        strict = function.get("strict")
        description = function.get("description")
        name = function.get("name")
        if type(name) is not str:
            name = _string(name, f"tools[{number}].function.name")
        if not fits(name, 128):  # OpenAI's rule (up to 64; Anthropic's 128 admitted): no upstream takes others
            param = f"tools[{number}].function.name"
            raise _fail(f"'{param}' must be letters, digits, '_' or '-'", param)
        tools.append(
            Tool(  # positional (name, description, parameters, strict): keywords to a class cost a dict per tool
                name,
                description if isinstance(description, str) and description else None,
                parameters if isinstance(parameters, dict) else {"type": "object", "properties": {}},
                strict if isinstance(strict, bool) else None,
            )
        )
    return tools


def _tool_choice(raw: Any, request: Request) -> ToolChoice:
    if raw in ("auto", "none", "required"):
        return ToolChoice(raw)
    choice = _object(raw, "tool_choice")
    if choice.get("type") == "function":
        function = _object(choice.get("function"), "tool_choice.function")
        return ToolChoice("tool", _string(function.get("name"), "tool_choice.function.name"))
    if choice.get("type") == "allowed_tools":
        # Narrowing the tool list is what "allowed_tools" means to the model.
        allowed = _object(choice.get("allowed_tools"), "tool_choice.allowed_tools")
        names = {
            (tool.get("function") or {}).get("name")
            for tool in _array(allowed.get("tools"), "tool_choice.allowed_tools.tools")
            if isinstance(tool, dict)
        }
        request.tools = [tool for tool in request.tools if tool.name in names]
        mode = allowed.get("mode", "auto")
        if mode not in ("auto", "required"):
            raise _fail(
                "'tool_choice.allowed_tools.mode' must be 'auto' or 'required'", "tool_choice.allowed_tools.mode"
            )
        return ToolChoice(mode)
    raise _fail(f"'tool_choice' {raw!r} is not auto, none, required or a function", "tool_choice")


def _effort(effort: Any, param: str) -> Reasoning:
    if not isinstance(effort, str) or effort not in EFFORTS:  # a list is unhashable: check the type first
        raise _fail(f"'{param}' must be one of {', '.join(sorted(EFFORTS))}", param)
    return Reasoning(effort=effort, budget_tokens=budget_for_effort(effort), enabled=effort != "none")


def _reasoning(body: dict[str, Any]) -> Reasoning | None:
    """``reasoning_effort`` (OpenAI), or OpenRouter's ``reasoning`` object (effort, max_tokens,
    enabled), which several OpenAI-compatible gateways accept."""
    if body.get("reasoning_effort") is not None:
        return _effort(body["reasoning_effort"], "reasoning_effort")
    if body.get("reasoning") is None:
        return None
    config = _object(body["reasoning"], "reasoning")
    if config.get("enabled") is False:
        return Reasoning(enabled=False)
    if config.get("effort") is not None:
        return _effort(config["effort"], "reasoning.effort")
    if config.get("max_tokens") is not None:
        budget = _integer(config["max_tokens"], "reasoning.max_tokens")
        return Reasoning(effort=effort_for_budget(budget), budget_tokens=budget)
    return Reasoning(effort="medium", budget_tokens=budget_for_effort("medium"))


def _response_format(raw: Any) -> ResponseFormat | None:
    spec = _object(raw, "response_format")
    kind = spec.get("type")
    if kind == "text":
        return None
    if kind == "json_object":
        return ResponseFormat("json_object")
    if kind != "json_schema":
        raise _fail(f"'response_format.type' {kind!r} is not text, json_object or json_schema", "response_format.type")
    schema = _object(spec.get("json_schema"), "response_format.json_schema")
    strict = schema.get("strict")
    description = schema.get("description")
    return ResponseFormat(
        "json_schema",
        name=_string(schema.get("name"), "response_format.json_schema.name"),
        schema=_object(schema.get("schema", {"type": "object"}), "response_format.json_schema.schema"),
        strict=strict if isinstance(strict, bool) else None,
        description=description if isinstance(description, str) else None,
    )


def _stop(raw: Any) -> list[str]:
    if isinstance(raw, str):
        return [raw]
    return [_string(item, f"stop[{n}]") for n, item in enumerate(_array(raw, "stop"))]


def _check_rejected(body: dict[str, Any]) -> None:
    for key, reason in _REJECTED.items():
        if body.get(key) is not None:
            raise UnsupportedFeatureError(f"'{key}': {reason}", param=key)
    n = body.get("n")
    if n is not None and _integer(n, "n") > 1:
        raise UnsupportedFeatureError("'n' > 1 is not supported: the upstream returns one choice", param="n")
    modalities = body.get("modalities")
    if modalities is not None and any(item != "text" for item in _array(modalities, "modalities")):
        raise UnsupportedFeatureError("'modalities': only text output is supported", param="modalities")


def _options(body: dict[str, Any], request: Request) -> None:
    """The scalar sampling and output options."""
    if body.get("max_completion_tokens") is not None:
        request.max_tokens = _integer(body["max_completion_tokens"], "max_completion_tokens")
    elif body.get("max_tokens") is not None:
        request.max_tokens = _integer(body["max_tokens"], "max_tokens")
    if body.get("temperature") is not None:
        request.temperature = expect_range(_number(body["temperature"], "temperature"), 0, 2, "temperature")
    if body.get("top_p") is not None:
        request.top_p = expect_range(_number(body["top_p"], "top_p"), 0, 1, "top_p")
    if body.get("stop") is not None:
        request.stop = _stop(body["stop"])
    for key in ("user", "safety_identifier"):
        if body.get(key) is not None and request.user is None:
            request.user = _string(body[key], key)
    if body.get("metadata") is not None:
        request.metadata = dict(_object(body["metadata"], "metadata"))
    if body.get("response_format") is not None:
        request.response_format = _response_format(body["response_format"])
    request.reasoning = _reasoning(body)


def _tooling(body: dict[str, Any], request: Request) -> None:
    if body.get("tools") is not None:
        request.tools = _tools(body["tools"])
    if body.get("tool_choice") is not None:
        request.tool_choice = _tool_choice(body["tool_choice"], request)
    if body.get("parallel_tool_calls") is not None:
        request.parallel_tool_calls = _boolean(body["parallel_tool_calls"], "parallel_tool_calls")


def _streaming(body: dict[str, Any], request: Request) -> None:
    if body.get("stream") is not None:
        request.stream = _boolean(body["stream"], "stream")
    options = body.get("stream_options")
    if options is not None and request.stream:
        include = _object(options, "stream_options").get("include_usage")
        request.include_usage = include is True


def parse_request(body: dict[str, Any]) -> Request:
    """Chat request JSON -> canonical request. Raises :class:`RequestTranslationError` naming the
    field for malformed input and :class:`UnsupportedFeatureError` for fields that cannot be
    dropped without changing the answer (``n`` > 1, audio, web search)."""
    _check_rejected(body)
    losses: list[str] = []
    conversation = _messages(body.get("messages"), losses)
    # The first three fields positionally and the losses set after: keyword arguments to a class
    # cost a dict, built and unpacked again, on every request.
    request = Request(_string(body.get("model"), "model"), conversation.messages, conversation.system)
    request.losses = losses
    _options(body, request)
    _tooling(body, request)
    _streaming(body, request)
    if not _HANDLED.issuperset(body):  # nearly every request has only handled fields: one test in C
        for key, value in body.items():
            if key not in _HANDLED and value is not None and value is not False:
                losses.append(f"{key} dropped")
    return request
