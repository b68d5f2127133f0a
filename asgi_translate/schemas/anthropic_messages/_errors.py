"""Anthropic's error envelope, both ways: https://docs.anthropic.com/en/api/errors
(``{"type": "error", "error": {"type", "message"}, "request_id"}``)."""

from __future__ import annotations

from typing import Any

from ..._hub import json as _json
from ..._hub import overflow
from ..._hub.errors import STATUS_BY_TYPE, ErrorInfo, anthropic_status, anthropic_type, type_for_status


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
    status and reads ``error.type``/``error.message`` from the body (and ``error.details``, whose
    ``error_code`` it acts on). A context overflow is Anthropic's 400 in Anthropic's words, which
    Claude Code parses to retry with a ``max_tokens`` that fits."""
    error: dict[str, Any] = {"type": anthropic_type(info), "message": info.message}
    status = anthropic_status(info)
    if info.overflow is not None:
        status, error["type"] = 400, "invalid_request_error"
        error["message"] = overflow.anthropic_message(info.overflow, info.message)
    if info.details:
        error["details"] = info.details
    return status, {"type": "error", "error": error, "request_id": info.request_id}
