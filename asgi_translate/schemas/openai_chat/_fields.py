"""Small total mappings shared by the chat request, response and stream code.

Finish reasons, usage objects and the ``reasoning_details`` convention live here so that the
JSON path and the stream path cannot drift apart (data URLs and the error envelope, which the
Responses codec shares, are in ``schemas._openai_common``).
"""

from __future__ import annotations

from typing import Any

from ..._hub.canonical import ReasoningPart, StopReason, Usage
from ..._hub.canonical import merge_usage as merge_usage  # the stream encoder imports it from here

# https://platform.openai.com/docs/api-reference/chat/object#chat/object-choices
_STOP_BY_FINISH: dict[str, StopReason] = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "content_filter",
}

_FINISH_BY_STOP: dict[str, str] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "tool_use": "tool_calls",
    "content_filter": "content_filter",
    "refusal": "content_filter",
}


def stop_reason(finish_reason: Any, *, tool_calls: bool = False) -> StopReason | None:
    """Chat ``finish_reason`` -> canonical stop reason. Servers invent their own values
    (``"eos"``, ``"abort"``); an unknown non-empty one still means the model stopped.

    A turn that carries tool calls is a tool turn unless the reason says otherwise (``length``,
    ``content_filter``): several OpenAI-compatible servers end one with ``stop``, an unknown reason
    or none, and a Messages client told ``end_turn`` beside ``tool_use`` blocks (the Anthropic
    SDK's tool runner) does not run the tools. ``None`` only for a turn without tool calls."""
    known = _STOP_BY_FINISH.get(finish_reason) if isinstance(finish_reason, str) else None
    if tool_calls and known in (None, "end_turn"):
        return "tool_use"
    if not finish_reason or not isinstance(finish_reason, str):
        return None
    return known or "end_turn"


def finish_reason(reason: StopReason | None) -> str:
    """Canonical stop reason -> chat ``finish_reason`` (``stop`` when the upstream gave none)."""
    return _FINISH_BY_STOP.get(reason or "end_turn", "stop")


def _count(value: Any) -> int:
    if type(value) is int:  # a JSON number: what every server sends
        return value if value > 0 else 0
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def usage_from_chat(usage: dict[str, Any]) -> Usage:
    """A chat ``usage`` object -> canonical usage.

    ``prompt_tokens`` already includes cached tokens (the canonical convention). DeepSeek reports
    cache hits as ``prompt_cache_hit_tokens``; xAI leaves reasoning tokens out of
    ``completion_tokens`` but counts them in ``total_tokens``, so a total above prompt +
    completion is taken as the true output count.
    """
    prompt = _count(usage.get("prompt_tokens"))
    completion = _count(usage.get("completion_tokens"))
    total = _count(usage.get("total_tokens"))
    if total > prompt + completion:
        completion = total - prompt
    prompt_details = usage.get("prompt_tokens_details")
    if not isinstance(prompt_details, dict):
        prompt_details = {}
    completion_details = usage.get("completion_tokens_details")
    if not isinstance(completion_details, dict):
        completion_details = {}
    # Positional, in the order of Usage's fields (input, output, cache read, cache write,
    # reasoning): keyword arguments to a class cost a dict, built and unpacked again.
    return Usage(
        prompt,
        completion,
        _count(prompt_details.get("cached_tokens")) or _count(usage.get("prompt_cache_hit_tokens")),
        _count(prompt_details.get("cache_write_tokens")),
        _count(completion_details.get("reasoning_tokens")),
    )


def usage_to_chat(usage: Usage) -> dict[str, Any]:
    """Canonical usage -> chat ``usage``; ``prompt_tokens`` is the total input, cache included."""
    prompt_details: dict[str, int] = {"cached_tokens": usage.cache_read_tokens}
    if usage.cache_write_tokens:
        prompt_details["cache_write_tokens"] = usage.cache_write_tokens
    return {
        "prompt_tokens": usage.input_tokens,
        "completion_tokens": usage.output_tokens,
        "total_tokens": usage.input_tokens + usage.output_tokens,
        "prompt_tokens_details": prompt_details,
        "completion_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
    }


# --------------------------------------------------------------------------------------------
# reasoning_details: the signature carrier we borrowed from OpenRouter
# (https://openrouter.ai/docs/use-cases/reasoning-tokens#reasoning-details). ``reasoning.text``
# holds text and an optional signature, ``reasoning.summary`` a summary, ``reasoning.encrypted``
# opaque data (our redacted reasoning). Entries of one block share an ``index``.


def reasoning_from_details(details: list[Any]) -> list[ReasoningPart]:
    """Non-streamed ``reasoning_details`` -> reasoning parts; entries with the same ``index`` and
    type (a stream's pieces that a server forgot to merge) become one part."""
    parts: list[ReasoningPart] = []
    last_key: tuple[Any, Any] | None = None
    for detail in details:
        if not isinstance(detail, dict):
            continue
        kind = detail.get("type")
        key = (kind, detail.get("index"))
        part = _detail_part(detail, kind)
        if part is None:
            continue
        if parts and key == last_key and detail.get("index") is not None and kind != "reasoning.encrypted":
            previous = parts[-1]
            previous.text += part.text
            previous.summary += part.summary
            previous.signature = part.signature or previous.signature
            continue
        parts.append(part)
        last_key = key
    return parts


def _detail_part(detail: dict[str, Any], kind: Any) -> ReasoningPart | None:
    signature = detail.get("signature") if isinstance(detail.get("signature"), str) else None
    item_id = detail.get("id") if isinstance(detail.get("id"), str) else None
    if kind == "reasoning.text":
        text = detail.get("text")
        return ReasoningPart(text=text if isinstance(text, str) else "", signature=signature or None, id=item_id)
    if kind == "reasoning.summary":
        summary = detail.get("summary")
        return ReasoningPart(
            summary=[summary] if isinstance(summary, str) and summary else [], signature=signature or None, id=item_id
        )
    if kind == "reasoning.encrypted" and isinstance(detail.get("data"), str) and detail["data"]:
        return ReasoningPart(signature=detail["data"], redacted=True, id=item_id)
    return None


def reasoning_parts(text: str, details: list[Any]) -> list[ReasoningPart]:
    """Reasoning of one assistant message from its ``reasoning_content``/``reasoning`` text and
    its ``reasoning_details``. Details are the richer source; when they carry no text (our own
    stream sends only the signature there), the plain text goes to the first textual part."""
    parts = reasoning_from_details(details)
    textual = [part for part in parts if not part.redacted]
    if text and not any(part.text or part.summary for part in textual):
        if textual:
            textual[0].text = text
        else:
            parts.insert(0, ReasoningPart(text=text))
    return parts


def reasoning_text(parts: list[ReasoningPart]) -> str:
    """The plain ``reasoning_content`` for reasoning parts (summaries stand in for missing text)."""
    return "".join(part.text or "\n\n".join(part.summary) for part in parts if not part.redacted)


def details_from_reasoning(parts: list[ReasoningPart]) -> list[dict[str, Any]]:
    """Reasoning parts -> ``reasoning_details`` entries, one per part, ``index`` = position."""
    details: list[dict[str, Any]] = []
    for index, part in enumerate(parts):
        detail: dict[str, Any]
        if part.redacted:
            detail = {"type": "reasoning.encrypted", "data": part.signature or "", "index": index}
        elif part.text or not part.summary:
            detail = {"type": "reasoning.text", "text": part.text, "index": index}
        else:
            detail = {"type": "reasoning.summary", "summary": "\n\n".join(part.summary), "index": index}
        if part.signature and not part.redacted:
            detail["signature"] = part.signature
        if part.id:
            detail["id"] = part.id
        details.append(detail)
    return details
