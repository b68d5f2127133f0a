"""What the two OpenAI codecs (Chat Completions and Responses) share on the wire.

Both APIs answer failures with the same envelope, ``{"error": {"message", "type", "param",
"code"}}``, both carry inline files as base64 data URLs, and both name a bad request field the
same way (``'messages[0].content' must be a string``). Keeping one copy here means an
upstream quirk learnt by one codec (vLLM's flat error, OpenRouter's hidden provider message,
FastAPI's ``detail``) is understood by the other as well.
"""

from __future__ import annotations

import hashlib
from typing import Any

from .._hub import json as _json
from .._hub import overflow
from .._hub.errors import OPENAI_TYPE_BY_TYPE, ErrorInfo, RequestTranslationError, openai_status, type_from_openai

# -- request fields ---------------------------------------------------------------------------


def field_error(message: str, param: str) -> RequestTranslationError:
    return RequestTranslationError(message, param=param)


def expect_string(value: Any, param: str) -> str:
    if not isinstance(value, str):
        raise field_error(f"'{param}' must be a string", param)
    return value


def expect_object(value: Any, param: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise field_error(f"'{param}' must be an object", param)
    return value


def expect_range(value: float | None, low: float, high: float, param: str) -> float | None:
    """A sampling value within the range the client's own API accepts: out of it, the client would
    get a 400 from OpenAI, and an upstream would get a value its spec forbids."""
    if value is not None and not low <= value <= high:
        raise field_error(f"'{param}' must be between {low:g} and {high:g}", param)
    return value


# -- errors -----------------------------------------------------------------------------------


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
    """Error -> OpenAI's status and envelope. A context overflow is OpenAI's 400 with the code
    ``context_length_exceeded``, which OpenAI clients (Codex, the Agents SDK) act on."""
    status = openai_status(info)
    default = "invalid_request_error" if 400 <= status < 500 else "server_error"
    error = {
        "message": info.message,
        "type": OPENAI_TYPE_BY_TYPE.get(info.type, default),
        "param": info.param,
        "code": info.code,
    }
    if info.overflow is not None:
        status, error["type"], error["code"] = 400, "invalid_request_error", overflow.OPENAI_CODE
        error["message"] = overflow.openai_message(info.overflow, info.message)
        error["param"] = info.param or "messages"
    return status, {"error": error}


# -- data URLs --------------------------------------------------------------------------------


def split_data_url(url: str) -> tuple[str, str] | None:
    """``data:image/png;base64,AAAA`` -> ``("image/png", "AAAA")``; ``None`` for other URLs or
    for data URLs that are not base64 (the canonical form only carries base64 data)."""
    if not url.startswith("data:"):
        return None
    header, sep, data = url[5:].partition(",")
    if not sep or not header.endswith(";base64"):
        return None
    return header[: -len(";base64")] or "application/octet-stream", data


def data_url(media_type: str | None, data: str) -> str:
    """Base64 ``data`` -> a data URL; a part without a media type is ``application/octet-stream``."""
    return f"data:{media_type or 'application/octet-stream'};base64,{data}"


# -- user identifiers -------------------------------------------------------------------------

#: OpenAI's ``safety_identifier`` takes at most 64 characters (``../shared/specs``), and its API
#: holds the ``user`` it replaces to the same.
USER_ID_MAX = 64


def user_identifier(user: str, losses: list[str]) -> str:
    """A user id as OpenAI takes it: as given when short enough, else its SHA-256 in hex (64
    characters: stable per user, so abuse tracking and cache bucketing keep working). Claude Code's
    ``metadata.user_id`` is a ~150-character JSON string."""
    if len(user) <= USER_ID_MAX:
        return user
    losses.append(f"user id hashed (longer than {USER_ID_MAX} characters)")
    return hashlib.sha256(user.encode()).hexdigest()
