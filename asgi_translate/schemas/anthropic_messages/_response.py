"""Non-streamed Messages responses, both directions: https://docs.anthropic.com/en/api/messages
(the ``Message`` object)."""

from __future__ import annotations

from typing import Any

from ..._hub import json as _json
from ..._hub.canonical import (
    Part,
    ReasoningPart,
    RefusalPart,
    Response,
    TextPart,
    ToolCallPart,
)
from ..._hub.context import Context
from ._fields import message_usage, stop_reason_in, stop_reason_out, usage_in
from ._render_request import tool_input


def parse_response(body: dict[str, Any]) -> Response:
    """A Messages ``message`` object -> canonical. Server-tool blocks are skipped: requests that
    enable server tools are refused, so they only appear from an upstream acting on its own."""
    content: list[Part] = []
    for block in body.get("content") or ():
        part = _parse_block(block)
        if part is not None:
            content.append(part)
    return Response(
        id=str(body.get("id") or ""),
        model=str(body.get("model") or ""),
        content=content,
        stop_reason=stop_reason_in(body.get("stop_reason")),
        usage=usage_in(body.get("usage")),
        stop_sequence=body.get("stop_sequence"),
    )


def _parse_block(block: Any) -> Part | None:
    kind = block.get("type") if isinstance(block, dict) else None
    if kind == "text":
        return TextPart(block.get("text") or "")
    if kind == "thinking":
        return ReasoningPart(text=block.get("thinking") or "", signature=block.get("signature") or None)
    if kind == "redacted_thinking":
        return ReasoningPart(redacted=True, signature=block.get("data") or "")
    if kind == "tool_use":
        arguments = _json.dumps(block.get("input") or {})
        return ToolCallPart(id=str(block.get("id") or ""), name=str(block.get("name") or ""), arguments=arguments)
    return None


def render_response(resp: Response, ctx: Context) -> dict[str, Any]:
    """Canonical -> a Messages ``message`` object. The upstream id is kept whatever its prefix."""
    stop_reason = stop_reason_out(resp.stop_reason)
    return {
        "id": resp.id or ctx.new_id("msg_"),
        "type": "message",
        "role": "assistant",
        "model": ctx.client_model,
        "content": [block for part in resp.content if (block := render_block(part)) is not None],
        "stop_reason": stop_reason,
        "stop_sequence": resp.stop_sequence if stop_reason == "stop_sequence" else None,
        "usage": message_usage(resp.usage),
    }


def render_block(part: Part) -> dict[str, Any] | None:
    """One response content block. Unsigned reasoning (a chat or vLLM upstream) still shows as a
    thinking block, with an empty signature: a signature is never invented."""
    if isinstance(part, TextPart | RefusalPart):
        return {"type": "text", "text": part.text}
    if isinstance(part, ReasoningPart):
        if part.redacted:
            return {"type": "redacted_thinking", "data": part.signature or ""}
        return {"type": "thinking", "thinking": part.text, "signature": part.signature or ""}
    if isinstance(part, ToolCallPart):
        return {"type": "tool_use", "id": part.id, "name": part.name, "input": tool_input(part)}
    return None  # images, files and tool results never appear in a model's answer
