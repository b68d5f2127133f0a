"""Anthropic Messages (``POST /v1/messages``) <-> the canonical form.

The spoke for Anthropic's schema: request parsing (:mod:`._request`) and rendering
(:mod:`._render`), JSON responses and error envelopes (:mod:`._response`), and the stream decoder
and encoder (:mod:`._stream`). The middleware reaches it only through :data:`CODEC`.
"""

from __future__ import annotations

from .. import Codec
from ._parse_request import parse_request
from ._render_request import render_request
from ._response import parse_error, parse_response, render_error, render_response
from ._stream import MessagesStreamDecoder, MessagesStreamEncoder

CODEC = Codec(
    name="messages",
    parse_request=parse_request,
    render_request=render_request,
    parse_response=parse_response,
    render_response=render_response,
    parse_error=parse_error,
    render_error=render_error,
    decoder=MessagesStreamDecoder,
    encoder=MessagesStreamEncoder,
)

__all__ = [
    "CODEC",
    "MessagesStreamDecoder",
    "MessagesStreamEncoder",
    "parse_error",
    "parse_request",
    "parse_response",
    "render_error",
    "render_request",
    "render_response",
]
