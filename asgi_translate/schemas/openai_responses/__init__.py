"""OpenAI Responses (``POST /v1/responses``) <-> the canonical form.

Every spoke has the same files, one role each:

- ``_parse_request``: client request JSON -> canonical request (the 400s naming a field)
- ``_render_request``: canonical request -> upstream request JSON
- ``_response``: JSON response bodies, both ways
- ``_errors``: the error envelope, both ways
- ``_decoder`` / ``_encoder``: upstream SSE -> canonical events / canonical events -> client SSE
- ``_fields``: the schema's own mappings shared by the files above (stop reasons, usage, ...)

The middleware reaches a spoke only through :data:`CODEC`. https://platform.openai.com/docs/api-reference/responses
"""

from __future__ import annotations

from .. import Codec
from ._decoder import ResponsesStreamDecoder
from ._encoder import ResponsesStreamEncoder
from ._errors import parse_error, render_error
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
    frame_lines=3,
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
