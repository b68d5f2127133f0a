"""Non-streamed chat completions and error bodies, in both directions.

https://platform.openai.com/docs/api-reference/chat/object
"""

from __future__ import annotations

from typing import Any

from ... import _json
from ..._canonical import Part, Response
from ..._context import Context
from ..._errors import OPENAI_TYPE_BY_TYPE, ErrorInfo, StreamTranslationError, openai_status, type_from_openai
from ._mapping import finish_reason, stop_reason, usage_from_chat, usage_to_chat
from ._parse_request import parse_assistant
from ._render_request import assistant_message


def _first_choice(body: dict[str, Any]) -> dict[str, Any]:
    choices = body.get("choices")
    if not isinstance(choices, list) or not choices:
        raise StreamTranslationError("the upstream chat completion has no choices")
    for choice in choices:
        if isinstance(choice, dict) and choice.get("index", 0) == 0:
            return choice
    raise StreamTranslationError("the upstream chat completion has no choice with index 0")


def parse_response(body: dict[str, Any]) -> Response:
    """Chat completion JSON -> canonical response (choice 0 only: ``n`` > 1 is refused on the way in)."""
    choice = _first_choice(body)
    message = choice.get("message")
    content: list[Part] = parse_assistant(message, "choices[0].message") if isinstance(message, dict) else []
    usage = body.get("usage")
    created = body.get("created")
    upstream_id = body.get("id")
    model = body.get("model")
    return Response(
        id=upstream_id if isinstance(upstream_id, str) else "",
        model=model if isinstance(model, str) else "",
        content=content,
        stop_reason=stop_reason(choice.get("finish_reason")),
        usage=usage_from_chat(usage) if isinstance(usage, dict) else None,
        created=created if isinstance(created, int) and created > 0 else None,
    )


def render_response(resp: Response, ctx: Context) -> dict[str, Any]:
    """Canonical response -> chat completion JSON, shown under the client's model name."""
    body: dict[str, Any] = {
        "id": resp.id or ctx.new_id("chatcmpl-"),
        "object": "chat.completion",
        "created": resp.created or ctx.now(),
        "model": ctx.client_model,
        "choices": [
            {
                "index": 0,
                "message": assistant_message(resp.content, always_details=True),
                "logprobs": None,
                "finish_reason": finish_reason(resp.stop_reason),
            }
        ],
    }
    if resp.usage is not None:
        body["usage"] = usage_to_chat(resp.usage)
    return body


# --------------------------------------------------------------------------------------------
# Errors


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else _json.dumps(value)


def _detail_message(detail: Any) -> str:
    """FastAPI's ``{"detail": ...}``: a string, or a list of validation errors with loc/msg."""
    if isinstance(detail, list):
        pieces = []
        for item in detail:
            if isinstance(item, dict) and "msg" in item:
                location = ".".join(str(step) for step in item.get("loc", []) if step != "body")
                pieces.append(f"{location}: {item['msg']}" if location else str(item["msg"]))
            else:
                pieces.append(str(item))
        return "; ".join(pieces)
    return detail if isinstance(detail, str) else _json.dumps(detail)


def _error_object(body: dict[str, Any]) -> dict[str, Any]:
    """The fields of the many error envelopes OpenAI-compatible servers use."""
    error = body.get("error")
    if isinstance(error, dict):
        found = dict(error)
        metadata = error.get("metadata")
        raw = metadata.get("raw") if isinstance(metadata, dict) else None
        if isinstance(raw, str) and raw:  # OpenRouter hides the provider's words here
            found["message"] = f"{error.get('message') or 'Provider returned error'}: {raw}"
        return found
    if isinstance(error, str):
        return {"message": error, "type": body.get("type"), "code": body.get("code")}
    if "detail" in body:
        return {"message": _detail_message(body["detail"])}
    return body  # vLLM: {"object": "error", "message", "type", "param", "code"}


def parse_error(status: int, body: bytes) -> ErrorInfo:
    """An upstream's non-2xx answer -> error, whatever shape it has (JSON or plain text)."""
    try:
        parsed = _json.loads_object(body)
    except ValueError:
        text = body.decode("utf-8", "replace").strip()
        return ErrorInfo(status, type_from_openai(None, status), text[:2000] or f"upstream returned HTTP {status}")
    error = _error_object(parsed)
    message = _text(error.get("message")) or f"upstream returned HTTP {status}"
    error_type = error.get("type") if isinstance(error.get("type"), str) else None
    code = _text(error.get("code"))
    return ErrorInfo(
        status=status,
        type=type_from_openai(error_type or code, status),
        message=message,
        param=_text(error.get("param")),
        code=code,
    )


def render_error(info: ErrorInfo) -> tuple[int, dict[str, Any]]:
    """Error -> OpenAI's status and envelope."""
    status = openai_status(info)
    default = "invalid_request_error" if 400 <= status < 500 else "server_error"
    return status, {
        "error": {
            "message": info.message,
            "type": OPENAI_TYPE_BY_TYPE.get(info.type, default),
            "param": info.param,
            "code": info.code,
        }
    }
