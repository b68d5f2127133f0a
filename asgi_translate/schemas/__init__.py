"""The spokes: one codec per wire schema, all with the same shape.

A :class:`Codec` bundles what a schema module offers: request parsing and rendering, JSON
response parsing and rendering, error envelopes, and the stream decoder and encoder classes.
The middleware looks codecs up by schema name and never imports a schema module directly.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .._hub.canonical import Request, Response
from .._hub.context import Context
from .._hub.errors import ErrorInfo
from .._hub.pipeline import StreamDecoder, StreamEncoder
from .._hub.routes import SchemaName


@dataclass(frozen=True, slots=True)
class Codec:
    """Everything one wire schema knows how to read and write."""

    name: SchemaName
    #: Client request JSON -> canonical request; raises RequestTranslationError naming the field.
    parse_request: Callable[[dict[str, Any]], Request]
    #: Canonical request -> upstream request JSON.
    render_request: Callable[[Request, Context], dict[str, Any]]
    #: Upstream JSON response -> canonical response.
    parse_response: Callable[[dict[str, Any]], Response]
    #: Canonical response -> client JSON response.
    render_response: Callable[[Response, Context], dict[str, Any]]
    #: Upstream non-2xx status and body (any bytes, maybe not JSON) -> error.
    parse_error: Callable[[int, bytes], ErrorInfo]
    #: Error -> client status and envelope.
    render_error: Callable[[ErrorInfo], tuple[int, dict[str, Any]]]
    decoder: Callable[[Context], StreamDecoder]
    encoder: Callable[[Context], StreamEncoder]
    #: Line ends in every SSE frame the encoder writes: 2 for ``data: ...`` frames, 3 for
    #: ``event: ...`` and ``data: ...`` (JSON escapes any in the data): the exchange log counts
    #: frames as line ends over this.
    frame_lines: int


def get_codec(name: SchemaName) -> Codec:
    """The codec for a schema name (modules are imported on first use)."""
    return _load(name)


@functools.cache  # looked up twice per exchange: a function-level import costs microseconds each time
def _load(name: str) -> Codec:
    if name == "chat":
        from .openai_chat import CODEC as chat

        return chat
    if name == "messages":
        from .anthropic_messages import CODEC as messages

        return messages
    from .openai_responses import CODEC as responses

    return responses


__all__ = ["Codec", "StreamDecoder", "StreamEncoder", "get_codec"]
