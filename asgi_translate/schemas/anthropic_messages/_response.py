"""Non-streamed Messages responses and error envelopes, both directions.

https://docs.anthropic.com/en/api/messages (the ``Message`` object) and
https://docs.anthropic.com/en/api/errors (``{"type": "error", "error": {"type", "message"}}``).
"""

from __future__ import annotations

from typing import Any

from ..._hub import json as _json
from ..._hub.canonical import (
    Part,
    ReasoningPart,
    RefusalPart,
    Response,
    StopReason,
    TextPart,
    ToolCallPart,
    Usage,
)
from ..._hub.context import Context
from ..._hub.errors import STATUS_BY_TYPE, ErrorInfo, anthropic_status, anthropic_type, type_for_status
from ._render_request import tool_input

# Anthropic stop reasons -> canonical (the canonical names are Anthropic's, plus content_filter).
STOP_REASONS: dict[str, StopReason] = {
    "end_turn": "end_turn",
    "max_tokens": "max_tokens",
    "stop_sequence": "stop_sequence",
    "tool_use": "tool_use",
    "pause_turn": "pause_turn",
    "refusal": "refusal",
    # Newer models stop here when the context window, not max_tokens, ran out.
    "model_context_window_exceeded": "max_tokens",
}


def stop_reason_in(value: Any) -> StopReason | None:
    """An upstream stop reason; an unknown one still means the model stopped normally."""
    if value is None:
        return None
    return STOP_REASONS.get(value, "end_turn")


def stop_reason_out(reason: StopReason | None) -> str:
    """Canonical -> Messages: only ``content_filter`` differs (Anthropic calls it ``refusal``)."""
    if reason is None:
        return "end_turn"
    return "refusal" if reason == "content_filter" else reason


def usage_in(raw: Any) -> Usage:
    """Messages usage -> canonical: Anthropic's input_tokens excludes cache reads and writes, the
    canonical input total includes them."""
    if not isinstance(raw, dict):
        return Usage()
    read = raw.get("cache_read_input_tokens") or 0
    write = raw.get("cache_creation_input_tokens") or 0
    return Usage(
        input_tokens=(raw.get("input_tokens") or 0) + read + write,
        output_tokens=raw.get("output_tokens") or 0,
        cache_read_tokens=read,
        cache_write_tokens=write,
    )


def usage_out(usage: Usage | None) -> dict[str, int]:
    """Canonical -> Messages usage (the inverse of :func:`usage_in`)."""
    if usage is None:
        usage = Usage()
    return {
        "input_tokens": max(usage.input_tokens - usage.cache_read_tokens - usage.cache_write_tokens, 0),
        "output_tokens": usage.output_tokens,
        "cache_read_input_tokens": usage.cache_read_tokens,
        "cache_creation_input_tokens": usage.cache_write_tokens,
    }


# -- responses --------------------------------------------------------------------------------


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
        "usage": usage_out(resp.usage),
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


# -- errors -----------------------------------------------------------------------------------


def parse_error(status: int, body: bytes) -> ErrorInfo:
    """Any upstream error body (Anthropic's envelope, another JSON shape, plain text) -> ErrorInfo."""
    try:
        data: Any = _json.loads(body)
    except (ValueError, RecursionError):  # the stdlib parser recurses on deeply nested bodies
        data = None
    error = data.get("error") if isinstance(data, dict) else None
    if isinstance(error, dict):
        kind, message = error.get("type"), error.get("message")
    else:
        kind, message = None, error if isinstance(error, str) else None
        if isinstance(data, dict):
            message = message or data.get("message") or data.get("detail")
    if not isinstance(message, str) or not message:
        text = body.decode("utf-8", "replace").strip()
        message = text[:1000] if text and data is None else f"upstream returned HTTP {status}"
    if kind not in STATUS_BY_TYPE:
        kind = type_for_status(status)
    return ErrorInfo(status=status, type=kind, message=message)


def render_error(info: ErrorInfo) -> tuple[int, dict[str, Any]]:
    """ErrorInfo -> (status, Anthropic envelope). The SDK picks its exception class from the
    status and reads ``error.type``/``error.message`` from the body."""
    return anthropic_status(info), {
        "type": "error",
        "error": {"type": anthropic_type(info), "message": info.message},
        "request_id": info.request_id,
    }
