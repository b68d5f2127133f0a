"""Messages fields shared by its JSON and stream paths: stop reasons and usage, both ways."""

from __future__ import annotations

from typing import Any

from ..._hub.canonical import StopReason, Usage

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


def message_usage(usage: Usage | None) -> dict[str, Any]:
    """``Message.usage`` (JSON answer and ``message_start``): the counts plus ``service_tier``,
    which the spec requires and every real answer carries. Ours is ``null``: the tier is Anthropic's
    own, and no other upstream reports one."""
    return {**usage_out(usage), "service_tier": None}
