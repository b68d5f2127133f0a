"""OpenAI Responses (``POST /v1/responses``) <-> canonical.

A sub-package because the schema is the largest of the three: ``request`` (client request in,
upstream request out), ``response`` (JSON response objects), ``stream_decoder`` (a Responses
upstream's events) and ``stream_encoder`` (the events a Responses client reads).
"""

from __future__ import annotations

from .. import Codec
from .._openai_common import parse_error, render_error
from ._decoder import ResponsesStreamDecoder
from ._encoder import ResponsesStreamEncoder
from ._parse_request import parse_request
from ._render_request import render_request
from ._response import parse_response, render_response

CODEC = Codec(
    name="responses",
    parse_request=parse_request,
    render_request=render_request,
    parse_response=parse_response,
    render_response=render_response,
    parse_error=parse_error,
    render_error=render_error,
    decoder=ResponsesStreamDecoder,
    encoder=ResponsesStreamEncoder,
)

__all__ = [
    "CODEC",
    "ResponsesStreamDecoder",
    "ResponsesStreamEncoder",
    "parse_error",
    "parse_request",
    "parse_response",
    "render_error",
    "render_request",
    "render_response",
]
