"""Responses JSON response objects <-> canonical responses.

The builders here (:func:`response_object` and the ``*_item`` helpers) are shared with the stream
encoder, so a streamed answer's terminal event and a JSON answer have exactly the same shape.
"""

from __future__ import annotations

from typing import Any

from ..._hub import json as _json
from ..._hub.canonical import ClientTool, Part, ReasoningPart, RefusalPart, Response, TextPart, ToolCallPart, Usage
from ..._hub.context import Context
from ..._hub.errors import UpstreamError
from ._fields import REDACTED_PREFIX, keep_id, status_for, stop_reason_for, sub, usage_from_json, usage_to_json
from ._parse_request import TOOL_TYPES

# =============================================================================================
# parse: upstream Response object -> canonical


def parse_response(body: dict[str, Any]) -> Response:
    if body.get("status") == "failed":
        error = sub(body, "error")
        raise UpstreamError(str(error.get("message") or "the upstream response failed"))
    content: list[Part] = []
    for item in body.get("output") or []:
        if isinstance(item, dict):
            content.extend(_parse_output_item(item))
    called = any(isinstance(part, ToolCallPart) for part in content)
    created = body.get("created_at")
    return Response(
        id=str(body.get("id") or ""),
        model=str(body.get("model") or ""),
        content=content,
        stop_reason=stop_reason_for(body.get("status"), body.get("incomplete_details"), called),
        usage=usage_from_json(body.get("usage")),
        created=int(created) if isinstance(created, (int, float)) else None,
    )


def _parse_output_item(item: dict[str, Any]) -> list[Part]:
    kind = item.get("type")
    if kind == "message":
        parts: list[Part] = []
        for piece in item.get("content") or []:
            if piece.get("type") == "output_text":
                parts.append(TextPart(piece.get("text") or ""))
            elif piece.get("type") == "refusal":
                parts.append(RefusalPart(piece.get("refusal") or ""))
        return parts
    if kind in ("function_call", "custom_tool_call"):
        custom = kind == "custom_tool_call"
        arguments = item.get("input" if custom else "arguments") or ""
        return [ToolCallPart(str(item.get("call_id")), str(item.get("name")), arguments, custom, item.get("id"))]
    if kind == "reasoning":
        return [_parse_reasoning_item(item)]
    return []  # hosted-tool items cannot occur: hosted tools are never sent upstream


def _parse_reasoning_item(item: dict[str, Any]) -> ReasoningPart:
    summary = [str(s.get("text") or "") for s in item.get("summary") or [] if isinstance(s, dict)]
    content = [str(c.get("text") or "") for c in item.get("content") or [] if isinstance(c, dict)]
    # Same text as the stream decoder produces: raw reasoning when given, else the summaries.
    text = "".join(content) if content else "\n\n".join(summary)
    signature = item.get("encrypted_content")
    return ReasoningPart(
        text=text, signature=signature if isinstance(signature, str) else None, summary=summary, id=item.get("id")
    )


# =============================================================================================
# render: canonical -> client Response object


def render_response(response: Response, ctx: Context) -> dict[str, Any]:
    output: list[dict[str, Any]] = []
    message: dict[str, Any] | None = None
    for part in response.content:
        if isinstance(part, (TextPart, RefusalPart)):
            if message is None:
                message = message_item(ctx.new_id("msg_"), "completed")
                output.append(message)
            message["content"].append(text_content(part.type, part.text))
            continue
        message = None
        if isinstance(part, ReasoningPart):
            output.append(
                reasoning_item(
                    keep_id(part.id, "rs_", ctx),
                    part.summary or _nonempty(part.text),
                    encrypted_content(part.signature, part.redacted),
                )
            )
        elif isinstance(part, ToolCallPart):
            output.append(tool_call_item(part, ctx))
    status, incomplete = status_for(response.stop_reason)
    response_id = response.id if response.id.startswith("resp_") else ctx.new_id("resp_")
    created = response.created if response.created is not None else ctx.now()
    return response_object(ctx, response_id, created, status, output, response.usage, incomplete)


def _nonempty(text: str) -> list[str]:
    return [text] if text else []


# -- builders shared with the stream encoder --------------------------------------------------


def client_tool(ctx: Context, name: str) -> ClientTool:
    """How the client knows the tool the upstream called ``name``: a renamed or namespaced tool, a
    custom (freeform) tool (upstream a function taking one string ``input``, back to the client as
    ``custom_tool_call``), a client-run tool search, or else a plain function of that name."""
    return ctx.request.client_tools.get(name) or ClientTool(name)


def unwrap_custom_input(arguments: str) -> str:
    """``{"input": "*** Begin Patch..."}`` -> the raw input; anything else is passed as is."""
    try:
        value = _json.loads(arguments)
    except ValueError:
        return arguments
    if isinstance(value, dict) and isinstance(value.get("input"), str):
        return str(value["input"])
    return arguments


def encrypted_content(signature: str | None, redacted: bool) -> str | None:
    if signature is None:
        return None
    return REDACTED_PREFIX + signature if redacted else signature


def message_item(item_id: str, status: str) -> dict[str, Any]:
    return {"id": item_id, "type": "message", "status": status, "role": "assistant", "content": []}


def text_content(kind: str, text: str) -> dict[str, Any]:
    if kind == "refusal":
        return {"type": "refusal", "refusal": text}
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


def reasoning_item(item_id: str, summary: list[str], encrypted: str | None) -> dict[str, Any]:
    item: dict[str, Any] = {
        "id": item_id,
        "type": "reasoning",
        "summary": [{"type": "summary_text", "text": text} for text in summary],
    }
    if encrypted is not None:
        item["encrypted_content"] = encrypted
    return item


def tool_call_item(part: ToolCallPart, ctx: Context) -> dict[str, Any]:
    client = client_tool(ctx, part.name)
    if part.custom or client.kind == "custom":
        raw = part.arguments if part.custom else unwrap_custom_input(part.arguments)
        return custom_call_item(keep_id(part.item_id, "ctc_", ctx), part.id, client, raw, "completed")
    if client.kind == "tool_search":
        return tool_search_call_item(keep_id(part.item_id, "ts_", ctx), part.id, search_arguments(part.arguments))
    arguments = part.arguments or "{}"  # "" is not JSON, and clients json.loads the arguments
    return function_call_item(keep_id(part.item_id, "fc_", ctx), part.id, client, arguments, "completed")


def function_call_item(item_id: str, call_id: str, client: ClientTool, arguments: str, status: str) -> dict[str, Any]:
    item = {
        "id": item_id,
        "type": "function_call",
        "status": status,
        "arguments": arguments,
        "call_id": call_id,
        "name": client.name,
    }
    if client.namespace is not None:
        item["namespace"] = client.namespace  # Codex dispatches on it: without, "unsupported call"
    return item


def custom_call_item(item_id: str, call_id: str, client: ClientTool, raw_input: str, status: str) -> dict[str, Any]:
    item = {"id": item_id, "type": "custom_tool_call", "status": status, "call_id": call_id, "name": client.name,
            "input": raw_input}  # fmt: skip
    if client.namespace is not None:
        item["namespace"] = client.namespace
    return item


def tool_search_call_item(item_id: str, call_id: str, arguments: Any, status: str = "completed") -> dict[str, Any]:
    """A client-run tool search, as the spec's ``tool_search_call`` item (arguments as an object)."""
    return {"id": item_id, "type": "tool_search_call", "status": status, "call_id": call_id, "execution": "client",
            "arguments": arguments}  # fmt: skip


def search_arguments(arguments: str) -> Any:
    """The model's JSON arguments for a tool search, as the object ``tool_search_call`` carries
    (text that is not JSON is taken as the query)."""
    try:
        return _json.loads(arguments) if arguments else {}
    except ValueError:
        return {"query": arguments}


def output_text(output: list[dict[str, Any]]) -> str:
    return "".join(
        part["text"]
        for item in output
        if item.get("type") == "message"
        for part in item["content"]
        if part.get("type") == "output_text"
    )


def echoed_tools(tools: Any) -> list[Any]:
    """The client's tools as ``Response.tools`` shows them: the tools the model was offered (a
    hosted or unknown tool the parser dropped is not one), a function tool saying whether it is
    ``strict`` (what the client asked, else ``false``, as sent upstream) and its ``parameters``."""
    if not isinstance(tools, list):
        return []
    return [
        {**tool, "parameters": tool.get("parameters"), "strict": bool(tool.get("strict"))}
        if tool.get("type") == "function"
        else tool
        for tool in tools
        if isinstance(tool, dict) and _offered(tool.get("type"))
    ]


def _offered(kind: Any) -> bool:
    return isinstance(kind, str) and kind in TOOL_TYPES and TOOL_TYPES[kind][0] == "mapped"


def response_object(
    ctx: Context,
    response_id: str,
    created_at: int,
    status: str,
    output: list[dict[str, Any]],
    usage: Usage | None,
    incomplete_details: dict[str, str] | None = None,
    error: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The full Response object, echoing the request settings the SDKs read back."""
    body = ctx.client_body
    reasoning = sub(body, "reasoning")
    text = sub(body, "text")
    finished = status in ("completed", "incomplete", "failed")
    return {
        "id": response_id,
        "object": "response",
        "created_at": created_at,
        "status": status,
        "completed_at": ctx.now() if status == "completed" else None,
        "error": error,
        "incomplete_details": incomplete_details,
        "instructions": body.get("instructions"),
        "max_output_tokens": body.get("max_output_tokens"),
        "model": ctx.client_model,
        "output": output,
        "output_text": output_text(output),
        "parallel_tool_calls": body.get("parallel_tool_calls") is not False,  # null: the default, true
        "previous_response_id": body.get("previous_response_id"),
        "reasoning": {"effort": reasoning.get("effort"), "summary": reasoning.get("summary")},
        "store": body.get("store") is not False,
        "temperature": body.get("temperature", 1.0),
        "text": {"format": text.get("format") or {"type": "text"}},
        "tool_choice": "auto" if body.get("tool_choice") is None else body["tool_choice"],  # null: the default
        "tools": echoed_tools(body.get("tools")),
        "top_p": body.get("top_p", 1.0),
        "truncation": body.get("truncation", "disabled"),
        "usage": usage_to_json(usage) if finished else None,
        "user": body.get("user"),
        "metadata": body.get("metadata") or {},
    }
