"""Context-window overflows: recognised in any upstream's wording, told in the client's.

Clients recover from an overflow only when it reads the way their own API words it. Claude Code
retries by itself with a smaller ``max_tokens`` when a 400 says Anthropic's ``input length and
`max_tokens` exceed context limit: P + Q > N`` (it computes ``N - P - 1000``), and compacts the
conversation on ``prompt is too long: P tokens > N maximum``; OpenAI clients (Codex, the Agents
SDK, LangChain) key on the error code ``context_length_exceeded``. Upstreams say it their own way:
vLLM (``This model's maximum context length is N tokens. However, you requested M tokens (P in the
messages, Q in the completion)``, and newer ``... your request has P input tokens``), SGLang,
llama.cpp (``exceed_context_size_error`` with ``n_ctx``), OpenAI, Anthropic.

:func:`detect` reads an upstream error into a :class:`ContextOverflow` (the numbers it gives, the
request's ``max_tokens`` standing in for a completion size it left out); each schema's
``render_error`` then words it with :func:`anthropic_message` or :func:`openai_message`.
"""

from __future__ import annotations

import re
from typing import Any

from . import json as _json
from .errors import ContextOverflow, ErrorInfo

__all__ = ["ContextOverflow", "anthropic_message", "detect", "openai_message"]

OPENAI_CODE = "context_length_exceeded"

_ANTHROPIC_TOO_LONG = re.compile(r"prompt is too long: (\d+) tokens > (\d+) maximum")
_ANTHROPIC_EXCEED = re.compile(r"input length and `max_tokens` exceed context limit: (\d+) \+ (\d+) > (\d+)")
_LIMIT = re.compile(r"maximum context length (?:is|of) (\d+) tokens|context (?:limit|window|size) (?:is|of) (\d+)")
_SPLIT = (
    # vLLM, OpenAI: "(P in the messages, Q in the completion)"
    re.compile(r"(\d+) in the messages, (\d+) in the completion"),
    # SGLang: "P tokens from the input messages and Q tokens for the completion"
    re.compile(r"(\d+) tokens from the input messages and (\d+) tokens for the completion"),
)
_INPUT = re.compile(
    r"(?:messages|prompt|request|input) (?:resulted in|has|contains|is) (\d+) (?:input )?tokens|(\d+) input tokens"
)
# vLLM: "'max_tokens' or 'max_completion_tokens' is too large: 64000."
_OUTPUT = re.compile(r"max_(?:completion_)?tokens'? (?:or '?max_completion_tokens'? )?is too large: (\d+)")
_HINTS = ("context length", "context limit", "context window", "context size", "prompt is too long", "too many tokens")
_CODES = frozenset({OPENAI_CODE, "exceed_context_size_error", "context_window_exceeded"})


def detect(error: ErrorInfo, body: bytes, max_tokens: int | None) -> ContextOverflow | None:
    """The overflow an upstream's 4xx error describes, or ``None`` when it is another error."""
    if not 400 <= error.status < 500:
        return None
    message = error.message
    lowered = message.lower()
    if error.code not in _CODES and error.type not in _CODES and not any(hint in lowered for hint in _HINTS):
        return None
    if match := _ANTHROPIC_EXCEED.search(message):
        return ContextOverflow(int(match[3]), int(match[1]), int(match[2]))
    if match := _ANTHROPIC_TOO_LONG.search(message):
        return ContextOverflow(int(match[2]), int(match[1]), max_tokens)
    limit = _number(_LIMIT, message)
    input_tokens = _number(_INPUT, message)
    output_tokens = _number(_OUTPUT, message)
    for pattern in _SPLIT:
        if match := pattern.search(message):
            input_tokens, output_tokens = int(match[1]), int(match[2])
    fields = _error_fields(body)
    limit = limit or _int(fields.get("n_ctx"))
    input_tokens = input_tokens or _int(fields.get("n_prompt_tokens"))
    if limit is None and error.code not in _CODES and error.type not in _CODES:
        return None  # "context" in some other sense, without a window to speak of
    return ContextOverflow(limit, input_tokens, output_tokens or max_tokens)


def anthropic_message(overflow: ContextOverflow, original: str) -> str:
    """Anthropic's wording, which Claude Code parses to retry with a ``max_tokens`` that fits."""
    limit, used, asked = overflow.limit, overflow.input_tokens, overflow.output_tokens
    if limit is not None and used is not None and (used >= limit or asked is None):
        return f"prompt is too long: {used} tokens > {limit} maximum"
    if limit is not None and used is not None and asked is not None:
        return (
            f"input length and `max_tokens` exceed context limit: {used} + {asked} > {limit}, "
            "decrease input length or `max_tokens` and try again"
        )
    return f"prompt is too long: {original}"


def openai_message(overflow: ContextOverflow, original: str) -> str:
    """OpenAI's (and vLLM's) wording, beside the ``context_length_exceeded`` code."""
    limit, used, asked = overflow.limit, overflow.input_tokens, overflow.output_tokens
    if limit is None or used is None:
        return original
    head = f"This model's maximum context length is {limit} tokens. However, "
    if asked is None or used >= limit:
        return head + f"your messages resulted in {used} tokens. Please reduce the length of the messages."
    return (
        head + f"you requested {used + asked} tokens ({used} in the messages, {asked} in the completion). "
        "Please reduce the length of the messages or completion."
    )


def _number(pattern: re.Pattern[str], text: str) -> int | None:
    match = pattern.search(text)
    if match is None:
        return None
    return int(next(group for group in match.groups() if group is not None))


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def _error_fields(body: bytes) -> dict[str, Any]:
    """The error object's own fields (llama.cpp puts ``n_ctx`` and ``n_prompt_tokens`` there)."""
    try:
        data = _json.loads(body)
    except (ValueError, RecursionError):
        return {}
    error = data.get("error") if isinstance(data, dict) else None
    return error if isinstance(error, dict) else {}
