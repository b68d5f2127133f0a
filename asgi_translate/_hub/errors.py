"""The library's exceptions and the one status/error-type table shared by every schema.

Exception tree::

    TranslateError
    ├── RequestTranslationError     a client request we cannot translate (400 unless stated)
    │   └── UnsupportedFeatureError   a field or tool with no counterpart upstream
    ├── StreamTranslationError      an upstream stream we cannot make sense of
    └── UpstreamError               the upstream could not be reached or answered badly (502/504)

Errors travel between schemas as :class:`ErrorInfo`, whose ``type`` is Anthropic's vocabulary
(the richest of the three); each schema module renders it in its own envelope.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# Anthropic error type -> HTTP status. https://docs.anthropic.com/en/api/errors
STATUS_BY_TYPE: dict[str, int] = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "bad_gateway_error": 502,
    "overloaded_error": 529,
    "timeout_error": 504,
}

#: The types Anthropic documents and its SDK models; ``bad_gateway_error`` is ours alone (a 502
#: whose cause we know) and goes on Anthropic's wire as ``api_error``, keeping its status.
ANTHROPIC_TYPES = frozenset(STATUS_BY_TYPE) - {"bad_gateway_error"}

# OpenAI's error "type" strings for the same situations (OpenAI has no 529: overloaded is 503).
OPENAI_TYPE_BY_TYPE: dict[str, str] = {
    "invalid_request_error": "invalid_request_error",
    "authentication_error": "authentication_error",
    "billing_error": "insufficient_quota",
    "permission_error": "permission_error",
    "not_found_error": "not_found_error",
    "request_too_large": "invalid_request_error",
    "rate_limit_error": "rate_limit_error",
    "api_error": "server_error",
    "bad_gateway_error": "server_error",
    "overloaded_error": "server_error",
    "timeout_error": "timeout_error",
}

_TYPE_BY_OPENAI_TYPE: dict[str, str] = {
    "invalid_request_error": "invalid_request_error",
    "authentication_error": "authentication_error",
    "permission_error": "permission_error",
    "not_found_error": "not_found_error",
    "insufficient_quota": "rate_limit_error",
    "rate_limit_error": "rate_limit_error",
    "rate_limit_exceeded": "rate_limit_error",
    "tokens": "rate_limit_error",
    "server_error": "api_error",
    "timeout_error": "timeout_error",
}


def type_for_status(status: int) -> str:
    """The error type a bare status code stands for (used when a body names no type)."""
    if status == 503 or status == 529:
        return "overloaded_error"
    for error_type, known in STATUS_BY_TYPE.items():
        if known == status:
            return error_type
    if status == 422:
        return "invalid_request_error"
    return "invalid_request_error" if 400 <= status < 500 else "api_error"


def type_from_openai(openai_type: str | None, status: int) -> str:
    """Map an OpenAI error ``type`` (or ``code``) to our vocabulary, falling back to the status."""
    if status == 401:
        return "authentication_error"
    if status == 403:
        return "permission_error"
    if status == 404:
        return "not_found_error"
    if status == 413:
        return "request_too_large"
    if status in (503, 529):
        return "overloaded_error"
    if openai_type in _TYPE_BY_OPENAI_TYPE:
        return _TYPE_BY_OPENAI_TYPE[openai_type]
    return type_for_status(status)


def anthropic_type(error: ErrorInfo) -> str:
    """The ``error.type`` an Anthropic client sees: one of :data:`ANTHROPIC_TYPES`."""
    if error.type in ANTHROPIC_TYPES:
        return error.type
    kind = type_for_status(error.status)
    return kind if kind in ANTHROPIC_TYPES else "api_error"


def openai_status(error: ErrorInfo) -> int:
    """OpenAI-facing status: Anthropic's 529 is 503 there."""
    return 503 if error.status == 529 else error.status


def anthropic_status(error: ErrorInfo) -> int:
    """Anthropic-facing status: an upstream's 503 is Anthropic's 529 (overloaded)."""
    return 529 if error.status == 503 else error.status


@dataclass(slots=True)
class ErrorInfo:
    """An error on its way from one schema to another."""

    status: int
    type: str
    message: str
    param: str | None = None
    code: str | None = None
    #: The exchange's request id, which Anthropic's envelope carries in its body.
    request_id: str | None = None
    #: Machine-readable details, which Anthropic's envelope carries as ``error.details``
    #: (``{"error_code": "thread_unsupported_request"}``: what the Anthropic SDKs act on).
    details: dict[str, Any] | None = None
    #: Set when the error says the request does not fit the model's context window: each schema
    #: then words it the way its clients recognise (see :mod:`asgi_translate._hub.overflow`).
    overflow: ContextOverflow | None = None


@dataclass(frozen=True, slots=True)
class ContextOverflow:
    """A request too large for the model: ``limit`` is the context window, ``input_tokens`` and
    ``output_tokens`` (the ``max_tokens`` asked for); each is known when the upstream said it."""

    limit: int | None
    input_tokens: int | None = None
    output_tokens: int | None = None


class TranslateError(Exception):
    """Base class of everything this library raises."""

    status = 500
    error_type = "api_error"

    def __init__(self, message: str, *, param: str | None = None, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.details = details

    def to_info(self) -> ErrorInfo:
        return ErrorInfo(self.status, self.error_type, self.message, self.param, details=self.details)


class RequestTranslationError(TranslateError):
    """The client's request is invalid or cannot be expressed upstream; answered with a 4xx in the
    client's own envelope, naming the field in ``param``."""

    status = 400
    error_type = "invalid_request_error"

    def __init__(
        self, message: str, *, param: str | None = None, status: int = 400, details: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message, param=param, details=details)
        self.status = status
        self.error_type = type_for_status(status)


class UnsupportedFeatureError(RequestTranslationError):
    """A field, content part or tool that the upstream schema has no counterpart for, and that
    would change the answer if dropped (``n`` > 1, hosted tools toward a chat upstream, ...)."""


class StreamTranslationError(TranslateError):
    """An upstream stream frame that is not valid for its schema."""

    status = 502
    error_type = "api_error"


class UpstreamError(TranslateError):
    """The upstream could not be reached (502) or timed out (504)."""

    def __init__(self, message: str, *, status: int = 502) -> None:
        super().__init__(message)
        self.status = status
        self.error_type = "timeout_error" if status == 504 else "api_error"
