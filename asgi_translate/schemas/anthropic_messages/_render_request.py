"""Canonical :class:`~asgi_translate._hub.canonical.Request` -> Anthropic Messages request JSON.

Anthropic is the strictest of the three schemas, so most of this module is about making a
request from a laxer schema acceptable: alternating roles, tool results first in their turn,
no empty text blocks, thinking blocks only with a signature, ``budget_tokens < max_tokens``,
temperature within 0..1. Every adjustment that changes what the client asked for is noted in
``request.losses``.
"""

from __future__ import annotations

import hashlib
import re
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
    TextPart,
    Tool,
    ToolCallPart,
    ToolResultPart,
)
from ..._hub.context import Context
from ..._hub.errors import RequestTranslationError, UnsupportedFeatureError
from ..._hub.reasoning import MIN_BUDGET, budget_for_effort
from ._parse_request import note

_TOOL_CHOICES = {"auto": "auto", "required": "any", "none": "none", "tool": "tool"}
#: The beta under which Anthropic takes ``role: "system"`` messages inside ``messages``.
MID_CONVERSATION_SYSTEM = "mid-conversation-system-2026-04-07"
#: Anthropic's limit for ``metadata.user_id`` (``../shared/specs``).
USER_ID_MAX = 512
# Leading bytes of base64-encoded images, for image parts that arrive without a media type.
_IMAGE_MAGIC = (("iVBORw0KGgo", "image/png"), ("/9j/", "image/jpeg"), ("R0lGOD", "image/gif"), ("UklGR", "image/webp"))
# What a freeform (custom) tool looks like to a schema that only knows JSON-argument functions.
CUSTOM_TOOL_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"input": {"type": "string"}},
    "required": ["input"],
}


def render_request(req: Request, ctx: Context) -> dict[str, Any]:
    """Build the Messages request; raises RequestTranslationError for history it cannot express."""
    body: dict[str, Any] = {"model": req.model, "max_tokens": req.max_tokens or ctx.default_max_tokens}
    system = [{"type": "text", "text": text} for text in req.system if text]
    body["messages"], folded = _render_messages(req, MID_CONVERSATION_SYSTEM in ctx.betas)
    system += folded
    if system:
        body["system"] = system
    thinking = _render_thinking(req, body, ctx)
    _render_sampling(req, body, thinking)
    if req.stop:
        _render_stop(req, body)
    if req.user:
        body["metadata"] = {"user_id": _user_id(req.user, req.losses)}
    if req.tools:
        body["tools"] = [_render_tool(tool, req.losses) for tool in req.tools]
        choice = _render_tool_choice(req)
        if choice:
            body["tool_choice"] = choice
    _define_history_tools(req, body)
    _render_format(req, body)
    body["stream"] = req.stream
    return body


def _user_id(user: str, losses: list[str]) -> str:
    """A user id Anthropic takes: as given up to 512 characters, else its SHA-256 in hex."""
    if len(user) <= USER_ID_MAX:
        return user
    note(losses, f"user id hashed (longer than {USER_ID_MAX} characters)")
    return hashlib.sha256(user.encode()).hexdigest()


# -- messages ---------------------------------------------------------------------------------


def _render_messages(req: Request, system_in_place: bool) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Messages with consecutive same-role turns merged (Anthropic requires alternation), and the
    text blocks of system messages that could not stay in place, for ``system``. They stay in
    place only where the upstream takes them: with the ``mid-conversation-system`` beta."""
    out: list[dict[str, Any]] = []
    folded: list[dict[str, Any]] = []
    for index, message in enumerate(req.messages):
        if message.role == "system":
            texts = [{"type": "text", "text": p.text} for p in message.content if isinstance(p, TextPart) and p.text]
            if not system_in_place:
                folded += texts
                if texts:
                    note(req.losses, "mid-conversation system message folded into system")
                continue
        blocks = [block for part in message.content for block in _render_part(part, message, index, req.losses)]
        if not blocks:
            continue  # Anthropic rejects empty content; an empty turn says nothing anyway
        if out and out[-1]["role"] == message.role:
            out[-1]["content"].extend(blocks)
        else:
            out.append({"role": message.role, "content": blocks})
    for turn in out:
        if turn["role"] == "user" and len(turn["content"]) > 1:  # one block is in order already
            # tool_result blocks must open the user turn that answers the tool_use turn.
            turn["content"].sort(key=_after_results)
    return out, folded


def _after_results(block: dict[str, Any]) -> bool:
    """The sort key that puts a user turn's tool_result blocks first (a stable sort keeps the rest
    in order); one function for every request rather than a lambda made for each turn."""
    kind: str = block["type"]
    return kind != "tool_result"


def _render_part(part: Part, message: Message, index: int, losses: list[str]) -> list[dict[str, Any]]:
    if isinstance(part, TextPart | RefusalPart):
        # Anthropic rejects empty text blocks ("text content blocks must be non-empty").
        return [{"type": "text", "text": part.text}] if part.text else []
    if isinstance(part, ImagePart):
        return [_render_image(part)]
    if isinstance(part, FilePart):
        return [_render_file(part, f"messages[{index}]")]
    if isinstance(part, ToolCallPart):
        return [_render_tool_call(part, index)]
    if isinstance(part, ToolResultPart):
        return [_render_tool_result(part, index)]
    if isinstance(part, ReasoningPart):
        return _render_reasoning(part, message, losses)
    raise RequestTranslationError(f"messages[{index}]: unsupported part {part!r}")  # pragma: no cover


def _render_image(part: ImagePart) -> dict[str, Any]:
    data, media_type = part.data, part.media_type
    if data is None and part.url and part.url.startswith("data:"):
        header, _, data = part.url.partition(",")
        media_type = media_type or header[5:].split(";")[0] or None
    if data is not None:
        source = {"type": "base64", "media_type": media_type or _sniff_image(data), "data": data}
        return {"type": "image", "source": source}
    return {"type": "image", "source": {"type": "url", "url": part.url or ""}}


def _sniff_image(data: str) -> str:
    for prefix, media_type in _IMAGE_MAGIC:
        if data.startswith(prefix):
            return media_type
    return "image/png"


def _render_file(part: FilePart, where: str) -> dict[str, Any]:
    if part.data is not None:
        source = {"type": "base64", "media_type": part.media_type or "application/pdf", "data": part.data}
    elif part.url is not None:
        source = {"type": "url", "url": part.url}
    else:
        raise UnsupportedFeatureError(
            f"{where}: a file given by file_id cannot be sent to Anthropic (its ids belong to another provider); "
            "send the file inline",
            param=where,
        )
    block: dict[str, Any] = {"type": "document", "source": source}
    if part.filename:
        block["title"] = part.filename
    return block


def _render_tool_call(part: ToolCallPart, index: int) -> dict[str, Any]:
    return {"type": "tool_use", "id": tool_use_id(part.id), "name": part.name, "input": tool_input(part, index)}


_TOOL_ID = re.compile(r"[a-zA-Z0-9_-]+")


def tool_use_id(value: str) -> str:
    """A tool call id as Anthropic takes it (``^[a-zA-Z0-9_-]+$``): an OpenAI client's id is kept
    when it fits (``call_...`` always does), any other becomes ``toolu_`` and a hash of it, the same
    for the call and its result, so the pair still matches."""
    if _TOOL_ID.fullmatch(value):
        return value
    return "toolu_" + hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:24]


def tool_input(part: ToolCallPart, index: int | None = None) -> dict[str, Any]:
    """A tool call's ``input`` object. A freeform (custom) call's raw text becomes ``{"input": raw}``.

    In a request, arguments that are not a JSON object are an error naming the message (the
    upstream would reject the turn anyway); in a response (``index`` None) they become ``{}``, the
    only object that cannot misstate what the model said.
    """
    if part.custom:
        return {"input": part.arguments}
    if not part.arguments.strip():
        return {}  # chat servers send "" for a call without arguments
    try:
        value = _json.loads(part.arguments)
    except ValueError:
        value = None
    if isinstance(value, dict):
        return value
    if index is None:
        return {}
    raise RequestTranslationError(
        f"messages[{index}]: tool call {part.id!r} ({part.name}) has arguments that are not a JSON object",
        param=f"messages[{index}]",
    )


def _render_tool_result(part: ToolResultPart, index: int) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "tool_result", "tool_use_id": tool_use_id(part.call_id)}
    if len(part.content) == 1 and isinstance(part.content[0], TextPart):
        block["content"] = part.content[0].text
    elif part.content:
        where = f"messages[{index}]"
        content: list[dict[str, Any]] = []
        for item in part.content:
            if isinstance(item, TextPart):
                if item.text:
                    content.append({"type": "text", "text": item.text})
            else:
                content.append(_render_image(item) if isinstance(item, ImagePart) else _render_file(item, where))
        block["content"] = content
    if part.is_error:
        block["is_error"] = True
    return block


def _render_reasoning(part: ReasoningPart, message: Message, losses: list[str]) -> list[dict[str, Any]]:
    if message.role != "assistant":
        return []
    if part.redacted:
        return [{"type": "redacted_thinking", "data": part.signature or ""}]
    if part.signature:
        return [{"type": "thinking", "thinking": part.text, "signature": part.signature}]
    # Anthropic rejects thinking blocks it did not sign (a chat or vLLM history has none).
    note(losses, "unsigned reasoning dropped from history")
    return []


# -- generation settings ----------------------------------------------------------------------


def _render_thinking(req: Request, body: dict[str, Any], ctx: Context) -> bool:
    """Add ``thinking`` when asked for; returns whether thinking is on.

    Anthropic needs ``1024 <= budget_tokens < max_tokens``. Both schemas count thinking inside
    the output cap, so an explicit client ``max_tokens`` is kept and the budget shrinks to fit
    (thinking is dropped when the cap is under 1025 tokens); when the client gave no cap,
    ``max_tokens`` becomes budget + ``ctx.default_max_tokens`` so the answer keeps its usual room.
    """
    reasoning = req.reasoning
    if reasoning is None or not reasoning.enabled:
        return False
    budget = reasoning.budget_tokens or budget_for_effort(reasoning.effort or "medium")
    if budget is None:
        return False  # effort "none"
    if req.tool_choice is not None and req.tool_choice.type in ("required", "tool"):
        note(req.losses, "reasoning dropped (Anthropic cannot think when a tool call is forced)")
        return False
    if not _history_allows_thinking(body["messages"]):
        note(req.losses, "reasoning dropped (the pending tool call turn has no signed thinking to replay)")
        return False
    budget = max(budget, MIN_BUDGET)
    if req.max_tokens is None:
        body["max_tokens"] = max(body["max_tokens"], budget + ctx.default_max_tokens)
    elif req.max_tokens <= MIN_BUDGET:
        note(req.losses, f"reasoning dropped (max_tokens {req.max_tokens} leaves no room for a thinking budget)")
        return False
    else:
        budget = min(budget, req.max_tokens - 1)
    body["thinking"] = {"type": "enabled", "budget_tokens": budget}
    return True


def _history_allows_thinking(messages: list[dict[str, Any]]) -> bool:
    """With thinking on, Anthropic requires the assistant turn whose tool calls are being answered
    to start with its (signed) thinking block; a history from another schema often lacks it."""
    if len(messages) < 2 or messages[-1]["role"] != "user" or messages[-2]["role"] != "assistant":
        return True
    if messages[-1]["content"][0]["type"] != "tool_result":
        return True
    return messages[-2]["content"][0]["type"] in ("thinking", "redacted_thinking")


def _render_sampling(req: Request, body: dict[str, Any], thinking: bool) -> None:
    temperature, top_p = req.temperature, req.top_p
    if thinking and temperature is not None and temperature != 1:
        # https://docs.anthropic.com/en/docs/build-with-claude/extended-thinking: thinking
        # works only at the default temperature.
        note(req.losses, "temperature dropped (thinking needs the default temperature)")
        temperature = None
    if temperature is not None and temperature > 1:
        note(req.losses, f"temperature {temperature} clamped to 1 (Anthropic's range is 0-1)")
        temperature = 1
    if thinking and top_p is not None and top_p < 0.95:
        note(req.losses, "top_p dropped (thinking needs top_p >= 0.95)")
        top_p = None
    if temperature is not None and top_p is not None:
        # Recent Claude models reject requests that set both.
        note(req.losses, "top_p dropped (Anthropic takes temperature or top_p, not both)")
        top_p = None
    if temperature is not None:
        body["temperature"] = temperature
    if top_p is not None:
        body["top_p"] = top_p


def _render_stop(req: Request, body: dict[str, Any]) -> None:
    # Anthropic rejects stop sequences made only of whitespace (chat clients often send "\n").
    kept = [stop for stop in req.stop if stop.strip()]
    if len(kept) < len(req.stop):
        note(req.losses, "whitespace-only stop sequences dropped")
    if kept:
        body["stop_sequences"] = kept


def _render_tool(tool: Tool, losses: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {"name": tool.name}
    if tool.description is not None:
        out["description"] = tool.description
    if tool.custom:
        out["input_schema"] = CUSTOM_TOOL_SCHEMA
        if tool.format is not None:
            note(losses, "custom tool format (grammar) dropped")
    else:
        # Anthropic requires an object schema that says so; OpenAI clients may leave ``type`` out.
        schema = tool.parameters if isinstance(tool.parameters, dict) else {}
        out["input_schema"] = schema if "type" in schema else {"type": "object", **schema}
    if tool.strict is not None:
        out["strict"] = tool.strict
    return out


#: The definition of a tool the history calls but the request no longer offers.
HISTORY_TOOL_DESCRIPTION = "Called earlier in this conversation; not available now. Do not call it."


def _define_history_tools(req: Request, body: dict[str, Any]) -> None:
    """Anthropic refuses ``tool_use`` and ``tool_result`` blocks that no ``tools`` entry defines
    ("Requests which include `tool_use` or `tool_result` blocks must define tools"). A request
    without those tools (Codex's compaction sends ``tools: []`` over a history of calls; a tool may
    have left the list since) gets a minimal definition for each, which says not to call it; with
    no real tools left, ``tool_choice`` is ``none``, so the model is not invited to call any."""
    defined = {tool["name"] for tool in body.get("tools", [])}
    missing: dict[str, None] = {}
    for message in body["messages"]:
        if message["role"] != "assistant" or isinstance(message["content"], str):
            continue
        for block in message["content"]:
            if block["type"] == "tool_use" and block["name"] not in defined:
                missing[block["name"]] = None
    if not missing:
        return
    stubs = [{"name": name, "description": HISTORY_TOOL_DESCRIPTION, "input_schema": {"type": "object"}}
             for name in missing]  # fmt: skip
    if not defined:
        body["tool_choice"] = {"type": "none"}
    body["tools"] = [*body.get("tools", []), *stubs]


def _render_tool_choice(req: Request) -> dict[str, Any] | None:
    choice = req.tool_choice
    if choice is None:
        # disable_parallel_tool_use lives on tool_choice: say "auto" to carry it.
        return {"type": "auto", "disable_parallel_tool_use": True} if req.parallel_tool_calls is False else None
    out: dict[str, Any] = {"type": _TOOL_CHOICES[choice.type]}
    if choice.type == "tool":
        out["name"] = choice.name
    if req.parallel_tool_calls is False and choice.type != "none":
        out["disable_parallel_tool_use"] = True
    return out


def _render_format(req: Request, body: dict[str, Any]) -> None:
    fmt = req.response_format
    if fmt is None or fmt.type == "text":
        return
    if fmt.type == "json_schema" and fmt.schema is not None:
        body["output_config"] = {"format": {"type": "json_schema", "schema": fmt.schema}}
    else:
        # JSON mode without a schema has no Anthropic counterpart.
        note(req.losses, "response_format json_object dropped")
