"""OpenAI Chat Completions (``POST /v1/chat/completions``) <-> the canonical form.

- :func:`parse_request` / :func:`render_request`: request JSON (``_parse_request``, ``_render_request``)
- :func:`parse_response` / :func:`render_response` (``_response``)
- :func:`parse_error` / :func:`render_error`: OpenAI's error envelope, shared with Responses (``.._openai_common``)
- :class:`ChatStreamDecoder` / :class:`ChatStreamEncoder`: SSE chunks (``_decoder``, ``_encoder``)

https://platform.openai.com/docs/api-reference/chat
"""

from __future__ import annotations

from .. import Codec
from .._openai_common import parse_error, render_error
from ._decoder import ChatStreamDecoder
from ._encoder import ChatStreamEncoder
from ._parse_request import parse_request
from ._render_request import render_request
from ._response import parse_response, render_response

CODEC = Codec(
    name="chat",
    parse_request=parse_request,
    render_request=render_request,
    parse_response=parse_response,
    render_response=render_response,
    parse_error=parse_error,
    render_error=render_error,
    decoder=ChatStreamDecoder,
    encoder=ChatStreamEncoder,
)

__all__ = [
    "CODEC",
    "ChatStreamDecoder",
    "ChatStreamEncoder",
    "parse_error",
    "parse_request",
    "parse_response",
    "render_error",
    "render_request",
    "render_response",
]
