"""Canonical request -> a stateless request for a Responses upstream.

The upstream keeps nothing (``store: false``): chat and Messages clients send their whole history
every turn, and it all goes in ``input``. Encrypted reasoning is asked back so that a client can
replay it (in its own carrier field) and this module can put it back in a reasoning item.
"""

from __future__ import annotations

import hashlib
from typing import Any

from ..._hub.canonical import (
    FilePart,
    ImagePart,
    Part,
    ReasoningPart,
    RefusalPart,
    Request,
    ResponseFormat,
    TextPart,
    Tool,
    ToolCallPart,
    ToolResultPart,
)
from ..._hub.context import Context
from ..._hub.errors import RequestTranslationError
from ..._hub.reasoning import effort_for_budget
from .._openai_common import data_url, user_identifier
from ._parse_request import ENCRYPTED_INCLUDE


def render_request(req: Request, ctx: Context) -> dict[str, Any]:
    """A stateless Responses request: ``store: false``, the whole history in ``input``, and the
    encrypted reasoning asked back so the next turn can replay it."""
    body: dict[str, Any] = {"model": req.model, "input": _render_input(req, ctx)}
    if req.system:
        body["instructions"] = "\n\n".join(req.system)
    if req.tools:
        body["tools"] = [_render_tool(tool) for tool in req.tools]
    if req.tool_choice is not None:
        body["tool_choice"] = _render_tool_choice(req)
    _render_options(req, body)
    body["store"] = False
    if _wants_encrypted_reasoning(req):
        body["include"] = [ENCRYPTED_INCLUDE]
    if req.stream:
        body["stream"] = True
    return body


#: The Responses API refuses a smaller ``max_output_tokens`` (400).
MIN_OUTPUT_TOKENS = 16


def _render_options(req: Request, body: dict[str, Any]) -> None:
    max_output = req.max_tokens
    if max_output is not None and max_output < MIN_OUTPUT_TOKENS:
        req.losses.append(f"max_output_tokens raised to 16 (was {max_output}: the Responses API's minimum)")
        max_output = MIN_OUTPUT_TOKENS
    # Each one only when set (plain tests: a dict and a generator of the five cost more, per request).
    if req.parallel_tool_calls is not None:
        body["parallel_tool_calls"] = req.parallel_tool_calls
    if max_output is not None:
        body["max_output_tokens"] = max_output
    if req.temperature is not None:
        body["temperature"] = req.temperature
    if req.top_p is not None:
        body["top_p"] = req.top_p
    if req.user is not None:  # OpenAI's replacement for the deprecated ``user``, at most 64 characters
        body["safety_identifier"] = user_identifier(req.user, req.losses)
    if req.metadata:
        body["metadata"] = req.metadata
    reasoning = req.reasoning
    if reasoning is not None and reasoning.enabled:
        effort = reasoning.effort or (
            effort_for_budget(reasoning.budget_tokens) if reasoning.budget_tokens else "medium"
        )
        # A client that enabled thinking wants to see it: ask for the summary OpenAI can show.
        body["reasoning"] = {"effort": effort, "summary": reasoning.summary or "auto"}
    fmt = req.response_format
    if fmt is not None and fmt.type != "text":
        body["text"] = {"format": _render_format(fmt)}
    if req.stop:
        req.losses.append("stop sequences dropped (the Responses API has no stop parameter)")


def _render_format(fmt: ResponseFormat) -> dict[str, Any]:
    if fmt.type == "json_object":
        return {"type": "json_object"}
    out: dict[str, Any] = {"type": "json_schema", "name": fmt.name or "response", "schema": fmt.schema or {}}
    if fmt.strict is not None:
        out["strict"] = fmt.strict
    if fmt.description:
        out["description"] = fmt.description
    return out


def _render_tool(tool: Tool) -> dict[str, Any]:
    if tool.custom:
        out: dict[str, Any] = {"type": "custom", "name": tool.name}
        if tool.description:
            out["description"] = tool.description
        if tool.format is not None:
            out["format"] = tool.format
        return out
    # ``strict`` always: OpenAI takes an omitted one as strict mode, which would make a chat or
    # Messages client's loose tool strict (its optional arguments filled in).
    out = {"type": "function", "name": tool.name, "parameters": tool.parameters, "strict": bool(tool.strict)}
    if tool.description:
        out["description"] = tool.description
    return out


def _render_tool_choice(req: Request) -> Any:
    choice = req.tool_choice
    assert choice is not None
    if choice.type != "tool":
        return choice.type
    custom = any(tool.custom and tool.name == choice.name for tool in req.tools)
    return {"type": "custom" if custom else "function", "name": choice.name}


def _wants_encrypted_reasoning(req: Request) -> bool:
    """Ask for ``encrypted_content`` when reasoning is on or history carries some: a stateless
    round trip needs it, and some non-reasoning models reject the ``include`` entry."""
    if req.reasoning is not None and req.reasoning.enabled:
        return True
    for message in req.messages:  # plain loops: a generator costs more than the test, every request
        for part in message.content:
            if isinstance(part, ReasoningPart) and part.signature:
                return True
    return False


# -- input items ------------------------------------------------------------------------------


def _render_input(req: Request, ctx: Context) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for message in req.messages:
        if message.role == "user":
            _render_user(message.content, items)
        elif message.role == "system":  # a system message item where the conversation had it
            items += [
                {"role": "system", "content": part.text} for part in message.content if isinstance(part, TextPart)
            ]
        else:
            _render_assistant(message.content, items, req)
    return items


def _render_user(parts: list[Part], items: list[dict[str, Any]]) -> None:
    pending: list[dict[str, Any]] = []
    for part in parts:
        if isinstance(part, ToolResultPart):
            if pending:
                items.append({"role": "user", "content": pending})
                pending = []
            items.append(_render_tool_result(part))
        else:
            pending.append(_render_user_part(part))
    if pending:
        items.append({"role": "user", "content": pending})


def _render_user_part(part: Part) -> dict[str, Any]:
    if isinstance(part, TextPart):
        return {"type": "input_text", "text": part.text}
    if isinstance(part, ImagePart):
        url = data_url(part.media_type or "image/png", part.data) if part.data is not None else part.url
        out: dict[str, Any] = {"type": "input_image", "image_url": url, "detail": part.detail or "auto"}
        return out
    if isinstance(part, FilePart):
        return _render_file(part)
    raise RequestTranslationError(f"a {part.type} part cannot appear in a user turn toward a Responses upstream")


def _render_file(part: FilePart) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "input_file"}
    if part.data is not None:
        out["file_data"] = data_url(part.media_type or "application/pdf", part.data)
    elif part.url is not None:
        out["file_url"] = part.url
    elif part.file_id is not None:
        out["file_id"] = part.file_id
    if part.filename:
        out["filename"] = part.filename
    elif part.data is not None:
        out["filename"] = "document.pdf" if (part.media_type or "application/pdf") == "application/pdf" else "file"
    return out


def _render_tool_result(part: ToolResultPart) -> dict[str, Any]:
    output: Any
    if all(isinstance(piece, TextPart) for piece in part.content):
        output = "".join(piece.text for piece in part.content if isinstance(piece, TextPart))
    else:
        output = [_render_user_part(piece) for piece in part.content]
    kind = "custom_tool_call_output" if part.custom else "function_call_output"
    return {"type": kind, "call_id": part.call_id, "output": output}


def _render_assistant(parts: list[Part], items: list[dict[str, Any]], req: Request) -> None:
    pending: list[dict[str, Any]] = []

    def flush() -> None:
        if pending:
            content: Any = pending[0]["text"] if len(pending) == 1 and pending[0]["type"] == "output_text" else pending
            items.append({"role": "assistant", "content": content})
            pending.clear()

    for i, part in enumerate(parts):
        if isinstance(part, TextPart):
            pending.append({"type": "output_text", "text": part.text})
        elif isinstance(part, RefusalPart):
            pending.append({"type": "refusal", "refusal": part.text})
        elif isinstance(part, ReasoningPart):
            flush()
            item = _render_reasoning(part, parts[i + 1 :], req)
            if item is not None:
                items.append(item)
        elif isinstance(part, ToolCallPart):
            flush()
            items.append(_render_tool_call(part))
    flush()


def _render_reasoning(part: ReasoningPart, after: list[Part], req: Request) -> dict[str, Any] | None:
    """Replay a reasoning item only where OpenAI can use it: with its ``encrypted_content`` and
    directly ahead of a tool call. OpenAI pairs a reasoning item with the item that followed it and
    rejects one followed by a message without that message's original id, which no other schema
    keeps; reasoning of finished turns is ignored by the model anyway."""
    follower = next((p for p in after if not isinstance(p, ReasoningPart)), None)
    if not part.signature or part.redacted or not isinstance(follower, ToolCallPart):
        if part.text or part.signature:
            req.losses.append("reasoning not replayable to the Responses upstream dropped")
        return None
    item: dict[str, Any] = {
        "type": "reasoning",
        "summary": [
            {"type": "summary_text", "text": text} for text in (part.summary or ([part.text] if part.text else []))
        ],
        "encrypted_content": part.signature,
    }
    # The spec requires an id on a reasoning item. One the upstream made is kept; one a chat or
    # Messages client could not carry back is derived from the encrypted content, so it is the
    # same every turn (prompt caches match by prefix) and never names another item.
    item["id"] = part.id if part.id and part.id.startswith("rs_") else _reasoning_id(part.signature)
    return item


def _reasoning_id(encrypted: str) -> str:
    return "rs_" + hashlib.sha256(encrypted.encode("utf-8", "surrogatepass")).hexdigest()[:48]


def _render_tool_call(part: ToolCallPart) -> dict[str, Any]:
    if part.custom:
        item: dict[str, Any] = {
            "type": "custom_tool_call",
            "call_id": part.id,
            "name": part.name,
            "input": part.arguments,
        }
    else:
        item = {"type": "function_call", "call_id": part.id, "name": part.name, "arguments": part.arguments}
    # Only an id the upstream itself produced: a minted one names no item it knows.
    if part.item_id and part.item_id.startswith("fc_" if not part.custom else "ctc_"):
        item["id"] = part.item_id
    return item
