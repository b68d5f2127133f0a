"""A Responses client's request JSON -> canonical request.

``parse_request`` reads what a Responses client (Codex CLI, the Agents SDK, the ``openai`` SDK)
sends; :mod:`._render_request` writes requests for a Responses upstream. The state fields
(``store``, ``previous_response_id``) are not canonical: :mod:`asgi_translate._endpoints.responses_state`
expands them before this module sees the body.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..._hub import json as _json
from ..._hub.canonical import (
    ClientTool,
    FilePart,
    ImagePart,
    Message,
    Part,
    Reasoning,
    ReasoningPart,
    RefusalPart,
    Request,
    ResponseFormat,
    Role,
    TextPart,
    Tool,
    ToolCallPart,
    ToolChoice,
    ToolResultPart,
)
from ..._hub.errors import UnsupportedFeatureError
from ..._hub.tool_names import portable_name
from .._openai_common import expect_object as _obj
from .._openai_common import expect_range, split_data_url
from .._openai_common import expect_string as _str
from .._openai_common import field_error as _fail
from ._fields import CUSTOM_TOOL_PARAMETERS, REDACTED_PREFIX

# Fields read by the parser, or handled by the state layer before it.
_HANDLED = frozenset(
    {
        "model", "input", "instructions", "tools", "tool_choice", "parallel_tool_calls", "max_output_tokens",
        "temperature", "top_p", "reasoning", "text", "metadata", "user", "safety_identifier", "stream",
        "include", "truncation", "store", "previous_response_id", "stream_options", "background",
        "conversation", "prompt",
    }
)  # fmt: skip

# What becomes of each ``Tool`` type and input item type of the Responses spec toward an upstream
# that is not OpenAI's Responses API (the README's table is generated from these, and a test
# checks that they name every type in ../shared/specs/openai-openapi.yaml). "mapped" types are
# translated; "dropped" ones are left out and reported (``strict`` refuses them); "refused" ones
# are a 400, only where carrying on would make the answer silently wrong. A type not listed here
# (a newer client's) is dropped and reported like the hosted ones.
TOOL_TYPES: dict[str, tuple[str, str]] = {
    "function": ("mapped", "a function tool"),
    "custom": ("mapped", "a function with one string argument, input; calls go back as custom_tool_call"),
    "namespace": ("mapped", "each function or custom tool inside becomes a tool named namespace__name, its "
                            "description headed by the namespace's; calls go back with their namespace"),
    "tool_search": ("mapped", "execution client: a function tool; calls go back as tool_search_call, and the tools "
                              "of a tool_search_output join the request (execution server: dropped, hosted)"),
    **{kind: ("dropped", "a hosted tool: only OpenAI's Responses API runs it")
       for kind in ("web_search", "web_search_2025_08_26", "web_search_preview", "web_search_preview_2025_03_11",
                    "file_search",
                    "code_interpreter", "image_generation", "mcp", "computer", "computer_use_preview",
                    "programmatic_tool_calling")},
    **{kind: ("dropped", "a built-in tool whose calls only OpenAI's models make")
       for kind in ("local_shell", "shell", "apply_patch")},
}  # fmt: skip

ITEM_TYPES: dict[str, tuple[str, str]] = {
    "message": (
        "mapped",
        "user and assistant turns; system and developer messages before the first turn join the system prompt, "
        "later ones stay in place",
    ),
    "function_call": ("mapped", "a tool call (with its namespace, if any)"),
    "function_call_output": ("mapped", "a tool result"),
    "custom_tool_call": ("mapped", "a tool call whose input is the raw text"),
    "custom_tool_call_output": ("mapped", "a tool result"),
    "reasoning": ("mapped", "reasoning, replayed where the upstream can take it"),
    "item_reference": ("mapped", "the stored item it names (any stored response, not only a previous_response_id "
                                 "chain); an unknown id is a 404"),
    "additional_tools": ("mapped", "its tools join the request's tools"),
    "tool_search_call": ("mapped", "execution client: a call of the tool_search function (server: dropped)"),
    "tool_search_output": ("mapped", "execution client: a tool result listing the loaded tools, which join the "
                                     "request's tools (server: dropped)"),
    "compaction": ("refused", "OpenAI's encrypted summary of the earlier conversation: no other model can read it, "
                              "so the answer would ignore that context"),
    **{kind: ("dropped", "a hosted or built-in tool's item: only OpenAI's Responses API has them")
       for kind in ("web_search_call", "file_search_call", "computer_call", "computer_call_output",
                    "code_interpreter_call", "image_generation_call", "local_shell_call", "local_shell_call_output",
                    "shell_call", "shell_call_output", "apply_patch_call", "apply_patch_call_output", "mcp_call",
                    "mcp_list_tools", "mcp_approval_request", "mcp_approval_response", "program", "program_output")},
    "compaction_trigger": ("dropped", "asks OpenAI's server to compact; other upstreams see the whole input"),
}  # fmt: skip

#: Every upstream accepts these tool names (OpenAI: 64 characters of [a-zA-Z0-9_-]; Anthropic 128).

ENCRYPTED_INCLUDE = "reasoning.encrypted_content"
_EFFORTS = ("none", "minimal", "low", "medium", "high", "xhigh", "max")


def _call_id(value: Any, param: str) -> str:
    """A call id: an empty one names no call (the spec's minimum length is 1; every upstream refuses it)."""
    text = _str(value, param)
    if not text:
        raise _fail(f"'{param}' must not be empty", param)
    return text


def _opt_number(body: dict[str, Any], key: str) -> float | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _fail(f"'{key}' must be a number", key)
    return float(value)


# =============================================================================================
# parse: client JSON -> canonical


def parse_request(body: dict[str, Any]) -> Request:
    """Validate a Responses request and convert it; errors name the offending field."""
    req = Request(_str(body.get("model"), "model"), [])  # positional: keywords to a class cost a dict
    _reject_unsupported(body)
    _parse_instructions(body.get("instructions"), req)
    _parse_input(body.get("input"), req)
    _parse_tools(body, req)
    _parse_sampling(body, req)
    _parse_output_options(body, req)
    if not _HANDLED.issuperset(body):  # nearly every request has only handled fields: one test in C
        req.losses.extend(f"{key} ignored" for key in body if key not in _HANDLED)
    return req


def _reject_unsupported(body: dict[str, Any]) -> None:
    if body.get("background"):
        raise UnsupportedFeatureError("background responses need OpenAI's Responses API", param="background")
    if body.get("conversation") is not None:
        raise UnsupportedFeatureError(
            "conversation objects are not supported here; use previous_response_id or send the history",
            param="conversation",
        )
    if body.get("prompt") is not None:
        raise UnsupportedFeatureError("stored prompt templates need OpenAI's Responses API", param="prompt")


def _parse_sampling(body: dict[str, Any], req: Request) -> None:
    req.temperature = expect_range(_opt_number(body, "temperature"), 0, 2, "temperature")
    req.top_p = expect_range(_opt_number(body, "top_p"), 0, 1, "top_p")
    max_output = body.get("max_output_tokens")
    if max_output is not None:
        if isinstance(max_output, bool) or not isinstance(max_output, int) or max_output < 1:
            raise _fail("'max_output_tokens' must be a positive integer", "max_output_tokens")
        req.max_tokens = max_output
    reasoning = body.get("reasoning")
    if reasoning is not None:
        reasoning = _obj(reasoning, "reasoning")
        effort = reasoning.get("effort")
        summary = reasoning.get("summary", reasoning.get("generate_summary"))
        effort = None if effort is None else _str(effort, "reasoning.effort")
        if effort is not None and effort not in _EFFORTS:  # the spec's ReasoningEffort (echoed back, too)
            raise _fail(f"'reasoning.effort' must be one of {', '.join(_EFFORTS)}", "reasoning.effort")
        summary = None if summary is None else _str(summary, "reasoning.summary")
        if summary is not None and summary not in ("auto", "concise", "detailed"):
            raise _fail("'reasoning.summary' must be auto, concise or detailed", "reasoning.summary")
        if effort is not None or summary is not None:
            req.reasoning = Reasoning(effort=effort, summary=summary, enabled=effort != "none")
    req.stream = bool(body.get("stream", False))
    # The Responses stream always ends with usage, so a chat upstream must be asked for it.
    req.include_usage = req.stream


def _parse_output_options(body: dict[str, Any], req: Request) -> None:
    text = body.get("text")
    if text is not None:
        text = _obj(text, "text")
        if text.get("format") is not None:
            req.response_format = _parse_format(_obj(text["format"], "text.format"))
        if text.get("verbosity") not in (None, "medium"):
            req.losses.append("text.verbosity dropped")
    metadata = body.get("metadata")
    if metadata is not None:
        req.metadata = dict(_obj(metadata, "metadata"))
        if not all(isinstance(value, str) for value in req.metadata.values()):  # echoed back: strings only
            raise _fail("'metadata' values must be strings", "metadata")
    user = body.get("user") or body.get("safety_identifier")
    if user is not None:
        req.user = _str(user, "user")
    include = body.get("include")
    if include is not None and (not isinstance(include, list) or not all(isinstance(e, str) for e in include)):
        raise _fail("'include' must be an array of strings", "include")
    for entry in include or []:
        if entry != ENCRYPTED_INCLUDE:  # encrypted reasoning is always returned when there is some
            req.losses.append(f"include {entry!r} dropped")
    _parse_echoed(body, req)


def _parse_echoed(body: dict[str, Any], req: Request) -> None:
    """Settings the Response object echoes back: only values OpenAI's API takes (it answers 400)."""
    truncation = body.get("truncation")
    if truncation not in (None, "auto", "disabled"):
        raise _fail("'truncation' must be 'auto' or 'disabled'", "truncation")
    if truncation == "auto":
        req.losses.append("truncation 'auto' not applied (the upstream sees the whole input)")
    for flag in ("parallel_tool_calls", "store"):
        if body.get(flag) is not None and not isinstance(body[flag], bool):
            raise _fail(f"'{flag}' must be a boolean", flag)
    if body.get("parallel_tool_calls") is not None:
        req.parallel_tool_calls = body["parallel_tool_calls"]


def _parse_format(fmt: dict[str, Any]) -> ResponseFormat | None:
    kind = fmt.get("type")
    if kind == "json_schema":
        schema = _obj(fmt.get("schema"), "text.format.schema")
        name = fmt.get("name")
        return ResponseFormat(
            "json_schema", name=name, schema=schema, strict=fmt.get("strict"), description=fmt.get("description")
        )
    if kind == "json_object":
        return ResponseFormat("json_object")
    if kind == "text":
        return None
    raise _fail(f"text.format.type {kind!r} is not one of 'text', 'json_schema', 'json_object'", "text.format.type")


# -- tools ------------------------------------------------------------------------------------


def upstream_tool_name(name: str, namespace: str | None = None) -> str:
    """The name a tool has upstream: the client's own when every upstream accepts it (64 of
    ``[a-zA-Z0-9_-]``), ``namespace__name`` for a tool in a namespace, and for a longer or odd name
    a cut, cleaned form with a hash of the whole, so distinct names stay distinct. A pure function
    of the two, so a history's calls get the same names turn after turn; ``Request.client_tools``
    maps them back."""
    full = f"{namespace}__{name}" if namespace else name
    return portable_name(full, 64)


def _type_label(kind: Any) -> str:
    """A type for a loss note: the client's string (cut), or what it was instead of one."""
    return kind[:40] if isinstance(kind, str) else f"non-string {type(kind).__name__}"


def _parse_tools(body: dict[str, Any], req: Request) -> None:
    """The request's tools come first; the input's ``additional_tools`` and loaded tool-search
    results (parsed already, in ``req.tools``) follow."""
    tools = body.get("tools") or []
    if not isinstance(tools, list):
        raise _fail("'tools' must be an array", "tools")
    from_input, req.tools = req.tools, []
    for i, tool in enumerate(tools):
        if type(tool) is dict and tool.get("type") == "function":  # nearly every tool: checked in place
            _add_function_tool(tool, i, req)
        else:
            _add_tool(_obj(tool, f"tools[{i}]"), f"tools[{i}]", req)
    known = {tool.name for tool in req.tools}
    req.tools.extend(tool for tool in from_input if tool.name not in known)
    choice = body.get("tool_choice")
    if choice is not None:
        req.tool_choice = _parse_tool_choice(choice, req)


def _add_tool(tool: dict[str, Any], param: str, req: Request, namespace: str | None = None) -> None:
    """One tool definition into ``req.tools`` (a name already there keeps its first definition)."""
    kind = tool.get("type")
    if kind == "namespace" and namespace is None:
        name = _str(tool.get("name"), f"{param}.name")
        members = tool.get("tools")
        if not isinstance(members, list):
            raise _fail(f"'{param}.tools' must be an array", f"{param}.tools")
        about = _description(tool, param)
        before = len(req.tools)
        for j, member in enumerate(members):
            _add_tool(_obj(member, f"{param}.tools[{j}]"), f"{param}.tools[{j}]", req, name)
        if about:  # no upstream groups tools: each member says what its group is for
            for added in req.tools[before:]:
                added.description = f"{about}\n\n{added.description}" if added.description else about
        return
    if kind == "tool_search" and tool.get("execution") == "client" and namespace is None:
        parsed = _parse_tool_search(tool, param)
        client = ClientTool("tool_search", None, "tool_search")
    elif kind == "function":
        parsed = _parse_function_tool(tool, param)
        client = ClientTool(parsed.name, namespace)
    elif kind == "custom":
        parsed = _parse_custom_tool(tool, param)
        client = ClientTool(parsed.name, namespace, "custom")
    else:
        req.losses.append(f"{param} ({_type_label(kind)} tool) dropped")
        return
    parsed.name = upstream_tool_name(parsed.name, namespace)
    for existing in req.tools:
        if existing.name == parsed.name:
            return
    req.tools.append(parsed)
    if client.kind != "function" or client.namespace is not None or client.name != parsed.name:
        req.client_tools[parsed.name] = client


def _add_function_tool(tool: dict[str, Any], i: int, req: Request) -> None:
    """``tools[i]``, a function tool outside a namespace, as :func:`_add_tool` adds it, with each
    field of its usual type checked in place and the parameter name made only for an error (Codex
    sends dozens of tools with every request)."""
    name = tool.get("name")
    description = tool.get("description")
    parameters = tool.get("parameters")
    if (
        type(name) is not str
        or (description is not None and type(description) is not str)
        or (parameters is not None and type(parameters) is not dict)
    ):
        _add_tool(tool, f"tools[{i}]", req)  # its errors name the field
        return
    parsed = Tool(
        name=upstream_tool_name(name),
        description=description,
        parameters=parameters if parameters is not None else Tool("").parameters,
        strict=tool.get("strict"),
    )
    for existing in req.tools:  # a name already there keeps its first definition
        if existing.name == parsed.name:
            return
    req.tools.append(parsed)
    if parsed.name != name:
        req.client_tools[parsed.name] = ClientTool(name, None)


def _parse_function_tool(tool: dict[str, Any], param: str) -> Tool:
    parameters = tool.get("parameters")
    return Tool(
        name=_str(tool.get("name"), f"{param}.name"),
        description=_description(tool, param),
        parameters=_obj(parameters, f"{param}.parameters") if parameters is not None else Tool("").parameters,
        strict=tool.get("strict"),
    )


#: The arguments of a client-run tool search that gives no schema of its own.
_TOOL_SEARCH_PARAMETERS: dict[str, Any] = {
    "type": "object",
    "properties": {"query": {"type": "string", "description": "What to search the available tools for."}},
    "required": ["query"],
}


def _parse_tool_search(tool: dict[str, Any], param: str) -> Tool:
    """A client-run tool search (Codex's deferred tools): a function the model calls; the client
    runs the search and answers with ``tool_search_output``, whose tools join the next request."""
    parameters = tool.get("parameters")
    return Tool(
        name="tool_search",
        description=_description(tool, param) or "Search for more tools; the ones found can be called next.",
        parameters=_obj(parameters, f"{param}.parameters") if parameters is not None else dict(_TOOL_SEARCH_PARAMETERS),
    )


def _description(tool: dict[str, Any], param: str) -> str | None:
    """A tool's description, which every upstream requires to be a string when present."""
    value = tool.get("description")
    return None if value is None else _str(value, f"{param}.description")


def _parse_custom_tool(tool: dict[str, Any], param: str) -> Tool:
    """A freeform tool becomes a function with one string argument ``input``. A grammar cannot be
    enforced by other upstreams, so the model is told it in the description instead."""
    description = _description(tool, param) or ""
    fmt = tool.get("format")
    if isinstance(fmt, dict) and fmt.get("type") == "grammar" and isinstance(fmt.get("definition"), str):
        syntax = fmt.get("syntax", "lark")
        description += f"\n\nThe input must match this {syntax} grammar:\n{fmt['definition']}"
    return Tool(
        name=_str(tool.get("name"), f"{param}.name"),
        description=description.strip() or None,
        parameters=dict(CUSTOM_TOOL_PARAMETERS),
        custom=True,
        format=fmt if isinstance(fmt, dict) else None,
    )


def _parse_tool_choice(choice: Any, req: Request) -> ToolChoice:
    if choice in ("auto", "none", "required"):
        return ToolChoice(choice)
    choice = _obj(choice, "tool_choice")
    kind = choice.get("type")
    if kind in ("function", "custom"):
        name = _str(choice.get("name"), "tool_choice.name")
        namespace = choice.get("namespace") if isinstance(choice.get("namespace"), str) else None
        return ToolChoice("tool", upstream_tool_name(name, namespace))
    if kind == "allowed_tools":
        allowed = {
            upstream_tool_name(tool["name"], tool.get("namespace") if isinstance(tool.get("namespace"), str) else None)
            for tool in choice.get("tools") or []
            if isinstance(tool, dict) and isinstance(tool.get("name"), str)
        }
        req.tools = [tool for tool in req.tools if tool.name in allowed]
        mode = choice.get("mode", "auto")
        return ToolChoice("required" if mode == "required" else "auto")
    raise UnsupportedFeatureError(
        f"tool_choice {kind!r} names a hosted tool, which only OpenAI's Responses API runs", param="tool_choice"
    )


# -- input items ------------------------------------------------------------------------------


class _Turns:
    """Collects parts into alternating turns: consecutive items of one role share a Message.
    System and developer messages before the first turn join the system prompt (after
    ``instructions``); later ones stay where they are, as system messages of the conversation,
    except that one among a turn's tool results follows them (every schema wants the results right
    after their calls)."""

    __slots__ = ("messages", "pending_system")

    def __init__(self, messages: list[Message]) -> None:
        self.messages = messages
        self.pending_system: list[Part] = []

    def add_system(self, text: str, req: Request) -> None:
        if not self.messages:
            req.system.append(text)
            return
        if text:
            self.pending_system.append(TextPart(text))
        last = self.messages[-1]
        if not (last.role == "user" and last.content and isinstance(last.content[-1], ToolResultPart)):
            self.flush()

    def add(self, role: Role, part: Part) -> None:
        if not isinstance(part, ToolResultPart):
            self.flush()
        if self.messages and self.messages[-1].role == role:
            self.messages[-1].content.append(part)
        else:
            self.messages.append(Message(role, [part]))

    def flush(self) -> None:
        """Place the system text held back while tool results were coming in."""
        if self.pending_system:
            self.messages.append(Message("system", self.pending_system))
            self.pending_system = []


def _parse_instructions(value: Any, req: Request) -> None:
    """A string, or message items (the form a Response object echoes when a prompt template set
    them): system and developer text joins the system prompt, other turns open the conversation."""
    if value is None or value == "":
        return
    if isinstance(value, str):
        req.system.append(value)
        return
    if not isinstance(value, list):
        raise _fail("'instructions' must be a string or an array of message items", "instructions")
    turns = _Turns(req.messages)
    for i, item in enumerate(value):
        param = f"instructions[{i}]"
        item = _obj(item, param)
        if item.get("type", "message") != "message":
            raise _fail(f"{param}: instructions may only hold message items", f"{param}.type")
        _parse_message(item, param, req, turns)
    turns.flush()


def _parse_input(value: Any, req: Request) -> None:
    if value is None:
        raise _fail("'input' is required", "input")
    if isinstance(value, str):
        req.messages.append(Message("user", [TextPart(value)]))
        return
    if not isinstance(value, list):
        raise _fail("'input' must be a string or an array of items", "input")
    turns = _Turns(req.messages)
    for i, item in enumerate(value):
        param = f"input[{i}]"
        if type(item) is not dict:
            item = _obj(item, param)
        kind = item.get("type", "message")
        if not isinstance(kind, str):  # a list or dict is not hashable: no lookup may see it
            raise _fail(f"{param}.type must be a string", f"{param}.type")
        parser = _ITEM_PARSERS.get(kind)
        if parser is not None:
            parser(item, param, req, turns)
        elif kind == "compaction":
            raise UnsupportedFeatureError(
                f"{param} is OpenAI's encrypted summary of the earlier conversation ('compaction'), which only "
                "OpenAI's models can read; send the conversation itself",
                param=f"{param}.type",
            )
        elif kind == "item_reference":
            raise _fail(
                f"{param} refers to item {item.get('id')!r}, which is not in the replayed history; "
                "send the item itself or the previous_response_id that produced it",
                f"{param}.id",
            )
        else:  # a hosted tool's item, or a type newer than this version
            req.losses.append(f"{param} ({_type_label(kind)} item) dropped")
    turns.flush()


def _parse_message(item: dict[str, Any], param: str, req: Request, turns: _Turns) -> None:
    role = item.get("role")
    content = item.get("content")
    parts = _parse_content(content, f"{param}.content")
    if role in ("system", "developer"):
        texts = [part.text for part in parts if isinstance(part, TextPart)]
        if len(texts) != len(parts):
            raise _fail(f"{param}: {role} messages may only contain text", f"{param}.content")
        turns.add_system("\n\n".join(texts), req)
        return
    if role not in ("user", "assistant"):
        raise _fail(f"{param}.role {role!r} is not one of user, assistant, system, developer", f"{param}.role")
    for part in parts:
        if role == "assistant" and isinstance(part, TextPart) and not part.text:
            continue  # an empty assistant text (sent before function calls) carries nothing
        turns.add(role, part)


def _parse_content(content: Any, param: str) -> list[TextPart | ImagePart | FilePart | RefusalPart]:
    if isinstance(content, str):
        return [TextPart(content)]
    if not isinstance(content, list):
        raise _fail(f"'{param}' must be a string or an array of content parts", param)
    parts: list[TextPart | ImagePart | FilePart | RefusalPart] = []
    for i, part in enumerate(content):
        # A text part checked in place; the others, and anything malformed, by _parse_part, with
        # the parameter name its errors show (a conversation holds hundreds of parts).
        if type(part) is dict and part.get("type") in _TEXT_PARTS:
            text = part.get("text")
            if type(text) is str:
                parts.append(TextPart(text))
                continue
        parts.append(_parse_part(_obj(part, f"{param}[{i}]"), f"{param}[{i}]"))
    return parts


_TEXT_PARTS = ("input_text", "output_text", "text", "summary_text", "reasoning_text")


def _parse_part(part: dict[str, Any], param: str) -> TextPart | ImagePart | FilePart | RefusalPart:
    kind = part.get("type")
    if kind in _TEXT_PARTS:
        return TextPart(_str(part.get("text"), f"{param}.text"))
    if kind == "refusal":
        return RefusalPart(_str(part.get("refusal"), f"{param}.refusal"))
    if kind == "input_image":
        return _parse_image(part, param)
    if kind == "input_file":
        return _parse_file(part, param)
    if kind == "input_audio":
        raise UnsupportedFeatureError(f"{param}: audio input has no counterpart upstream", param=f"{param}.type")
    raise _fail(f"{param}.type {kind!r} is not a known content part type", f"{param}.type")


def _parse_image(part: dict[str, Any], param: str) -> ImagePart:
    url = part.get("image_url")
    if not isinstance(url, str):
        if part.get("file_id") is not None:
            raise UnsupportedFeatureError(
                f"{param}: images by file_id need OpenAI's Files API; send image_url (a URL or data URL)",
                param=f"{param}.file_id",
            )
        raise _fail(f"{param}.image_url must be a string", f"{param}.image_url")
    detail = part.get("detail")
    inline = split_data_url(url)
    if inline is not None:
        return ImagePart(data=inline[1], media_type=inline[0], detail=detail)
    return ImagePart(url=url, detail=detail)


def _parse_file(part: dict[str, Any], param: str) -> FilePart:
    filename = part.get("filename")
    data = part.get("file_data")
    if isinstance(data, str):
        inline = split_data_url(data)
        if inline is not None:
            return FilePart(data=inline[1], media_type=inline[0], filename=filename)
        guessed = "application/pdf" if isinstance(filename, str) and filename.lower().endswith(".pdf") else None
        return FilePart(data=data, media_type=guessed, filename=filename)
    if isinstance(part.get("file_url"), str):
        return FilePart(url=part["file_url"], filename=filename)
    if isinstance(part.get("file_id"), str):
        return FilePart(file_id=part["file_id"], filename=filename)
    raise _fail(f"{param} needs file_data, file_url or file_id", param)


def _parse_function_call(item: dict[str, Any], param: str, req: Request, turns: _Turns) -> None:
    custom = item.get("type") == "custom_tool_call"
    arguments = item.get("input") if custom else item.get("arguments")
    # Each field is checked in place when it has its usual type; the helpers (and the parameter
    # names their errors show) only for the others: a history may hold hundreds of calls.
    call_id = item.get("call_id")
    if type(call_id) is not str or not call_id:
        call_id = _call_id(call_id, f"{param}.call_id")
    name = item.get("name")
    if type(name) is not str:
        name = _str(name, f"{param}.name")
    namespace = item.get("namespace")
    if namespace is not None and type(namespace) is not str:
        namespace = _namespace(item, param)
    if type(arguments) is not str:
        arguments = _str(arguments, f"{param}.{'input' if custom else 'arguments'}")
    item_id = item.get("id")
    turns.add(
        "assistant",
        ToolCallPart(
            id=call_id,
            name=upstream_tool_name(name, namespace),
            arguments=arguments,
            custom=custom,
            item_id=item_id if isinstance(item_id, str) else None,
        ),
    )


def _namespace(item: dict[str, Any], param: str) -> str | None:
    value = item.get("namespace")
    return None if value is None else _str(value, f"{param}.namespace")


def _parse_tool_search_call(item: dict[str, Any], param: str, req: Request, turns: _Turns) -> None:
    """A client-run tool search the model made: a call of the ``tool_search`` function."""
    if item.get("execution") != "client":
        req.losses.append(f"{param} (tool_search_call item) dropped")
        return
    arguments = item.get("arguments")
    turns.add(
        "assistant",
        ToolCallPart(
            id=_call_id(item.get("call_id"), f"{param}.call_id"),
            name="tool_search",
            arguments=arguments if isinstance(arguments, str) else _json.dumps(arguments or {}),
            item_id=item.get("id") if isinstance(item.get("id"), str) else None,
        ),
    )


def _parse_tool_search_output(item: dict[str, Any], param: str, req: Request, turns: _Turns) -> None:
    """What a client-run tool search found: its tools join the request's, and the model reads
    which ones it may call now."""
    if item.get("execution") != "client":
        req.losses.append(f"{param} (tool_search_output item) dropped")
        return
    before = len(req.tools)
    _add_item_tools(item, param, req)
    found = ", ".join(tool.name for tool in req.tools[before:]) or "none"
    call_id = _call_id(item.get("call_id"), f"{param}.call_id")
    turns.add("user", ToolResultPart(call_id=call_id, content=[TextPart(f"Tools found: {found}")]))


def _parse_additional_tools(item: dict[str, Any], param: str, req: Request, turns: _Turns) -> None:
    """Tools offered part-way through the input (Codex puts all of its tools here): they join the
    request's tools."""
    _add_item_tools(item, param, req)


def _add_item_tools(item: dict[str, Any], param: str, req: Request) -> None:
    tools = item.get("tools")
    if not isinstance(tools, list):
        raise _fail(f"'{param}.tools' must be an array", f"{param}.tools")
    for j, tool in enumerate(tools):
        _add_tool(_obj(tool, f"{param}.tools[{j}]"), f"{param}.tools[{j}]", req)


def _parse_function_output(item: dict[str, Any], param: str, req: Request, turns: _Turns) -> None:
    output = item.get("output")
    content: list[TextPart | ImagePart | FilePart] = []
    for part in _parse_content(output, f"{param}.output"):
        if not isinstance(part, (TextPart, ImagePart, FilePart)):
            raise _fail(f"{param}.output may only contain text, images and files", f"{param}.output")
        content.append(part)
    call_id = item.get("call_id")
    if type(call_id) is not str or not call_id:
        call_id = _call_id(call_id, f"{param}.call_id")
    turns.add(
        "user",
        ToolResultPart(call_id=call_id, content=content, custom=item.get("type") == "custom_tool_call_output"),
    )


def _parse_reasoning(item: dict[str, Any], param: str, req: Request, turns: _Turns) -> None:
    summary = [_str(s.get("text"), f"{param}.summary.text") for s in item.get("summary") or [] if isinstance(s, dict)]
    content = [_str(c.get("text"), f"{param}.content.text") for c in item.get("content") or [] if isinstance(c, dict)]
    signature = item.get("encrypted_content")
    if not isinstance(signature, str):
        signature = None
    redacted = signature is not None and signature.startswith(REDACTED_PREFIX)
    if signature is not None and redacted:
        signature = signature[len(REDACTED_PREFIX) :]
    # The text falls back to the summary: that is where a thinking block's text went out.
    text = "".join(content) if content else "\n\n".join(summary)
    turns.add(
        "assistant",
        ReasoningPart(
            text="" if redacted else text,
            signature=signature,
            redacted=redacted,
            summary=summary,
            id=item.get("id") if isinstance(item.get("id"), str) else None,
        ),
    )


_ItemParser = Callable[[dict[str, Any], str, Request, _Turns], None]
_ITEM_PARSERS: dict[str, _ItemParser] = {
    "message": _parse_message,
    "function_call": _parse_function_call,
    "custom_tool_call": _parse_function_call,
    "function_call_output": _parse_function_output,
    "custom_tool_call_output": _parse_function_output,
    "reasoning": _parse_reasoning,
    "tool_search_call": _parse_tool_search_call,
    "tool_search_output": _parse_tool_search_output,
    "additional_tools": _parse_additional_tools,
}


def types_table() -> str:
    """The README's table of every Responses tool and input item type and what becomes of it,
    generated from :data:`TOOL_TYPES` and :data:`ITEM_TYPES`."""
    lines = ["| Kind | Type | Toward chat and Messages upstreams | Why / how |", "|---|---|---|---|"]
    for kind, table in (("tool", TOOL_TYPES), ("input item", ITEM_TYPES)):
        for name, (treatment, why) in table.items():
            lines.append(f"| {kind} | `{name}` | {treatment} | {why} |")
    lines.append("| tool or input item | any other type | dropped | unknown to this version: reported, never a 400 |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":  # pragma: no cover - `python -m asgi_translate.schemas.openai_responses._parse_request`
    print(types_table(), end="")
