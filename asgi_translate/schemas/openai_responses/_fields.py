"""Pieces every part of the Responses codec shares: usage, status, ids, stream error fields.

The error envelope and data URLs are OpenAI's, the same as Chat Completions': both codecs take
them from ``schemas._openai_common``.
"""

from __future__ import annotations

from typing import Any

from ..._hub.canonical import StopReason, Usage
from ..._hub.canonical import merge_usage as merge_usage  # the stream encoder imports it from here
from ..._hub.context import Context
from ..._hub.errors import STATUS_BY_TYPE, type_from_openai

#: Marks an Anthropic ``redacted_thinking`` block carried in a reasoning item's ``encrypted_content``.
#: The colon never occurs in base64 signatures, so the marker cannot collide with a real one.
REDACTED_PREFIX = "redacted_thinking:"

#: The schema a custom (freeform) tool gets when it travels as a function tool.
CUSTOM_TOOL_PARAMETERS: dict[str, Any] = {
    "type": "object",
    "properties": {"input": {"type": "string", "description": "The raw input for the tool."}},
    "required": ["input"],
    "additionalProperties": False,
}


def sub(data: dict[str, Any], key: str) -> dict[str, Any]:
    """``data[key]`` when it is an object, else an empty one: upstream JSON is read leniently."""
    value = data.get(key)
    return value if isinstance(value, dict) else {}


def keep_id(value: Any, prefix: str, ctx: Context) -> str:
    """An upstream id when it already follows the Responses convention, else a fresh one."""
    if isinstance(value, str) and value.startswith(prefix):
        return value
    return ctx.new_id(prefix)


# -- usage ------------------------------------------------------------------------------------


def usage_to_json(usage: Usage | None) -> dict[str, Any]:
    usage = usage or Usage()
    return {
        "input_tokens": usage.input_tokens,
        "input_tokens_details": {
            "cached_tokens": usage.cache_read_tokens,
            "cache_write_tokens": usage.cache_write_tokens,
        },
        "output_tokens": usage.output_tokens,
        "output_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
        "total_tokens": usage.total_tokens,
    }


def usage_from_json(data: Any) -> Usage | None:
    if not isinstance(data, dict):
        return None
    input_details = data.get("input_tokens_details") or {}
    output_details = data.get("output_tokens_details") or {}
    return Usage(
        input_tokens=int(data.get("input_tokens") or 0),
        output_tokens=int(data.get("output_tokens") or 0),
        cache_read_tokens=int(input_details.get("cached_tokens") or 0),
        cache_write_tokens=int(input_details.get("cache_write_tokens") or 0),
        reasoning_tokens=int(output_details.get("reasoning_tokens") or 0),
    )


# -- status -----------------------------------------------------------------------------------


def status_for(reason: StopReason | None) -> tuple[str, dict[str, str] | None]:
    """Canonical stop reason -> Responses ``status`` and ``incomplete_details``."""
    if reason == "max_tokens":
        return "incomplete", {"reason": "max_output_tokens"}
    if reason == "content_filter":
        return "incomplete", {"reason": "content_filter"}
    return "completed", None


def stop_reason_for(status: Any, incomplete_details: Any, called_tools: bool) -> StopReason:
    """Responses ``status`` (+ ``incomplete_details.reason``) -> canonical stop reason."""
    if status == "incomplete":
        reason = incomplete_details.get("reason") if isinstance(incomplete_details, dict) else None
        return "content_filter" if reason == "content_filter" else "max_tokens"
    return "tool_use" if called_tools else "end_turn"


# -- errors -----------------------------------------------------------------------------------


def stream_error_fields(error: Any) -> tuple[str, str, int]:
    """An ``error`` event's or failed response's error object -> (type, message, status)."""
    if not isinstance(error, dict):
        return "api_error", "the upstream response failed", 502
    code = error.get("code") if isinstance(error.get("code"), str) else None
    openai_type = error.get("type") if isinstance(error.get("type"), str) else None
    error_type = type_from_openai(openai_type or code, 500)
    message = error.get("message")
    if not isinstance(message, str):
        message = "the upstream response failed"
    return error_type, message, STATUS_BY_TYPE.get(error_type, 500)
