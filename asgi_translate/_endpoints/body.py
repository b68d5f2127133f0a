"""Bounded bodies: a client's whole request, which every endpoint that rewrites a request reads, and
the largest upstream answer an endpoint buffers whole to rewrite."""

from __future__ import annotations

from starlette.types import Receive

from .._hub.errors import RequestTranslationError

#: Upstream JSON answers and error bodies are buffered whole to be rewritten; one larger than this is
#: not a model's answer but a misbehaving upstream.
MAX_RESPONSE_SIZE = 64 * 1024 * 1024


class ClientDisconnected(RequestTranslationError):
    """The client went away before its request body was whole: there is nobody left to answer."""


async def read_body(receive: Receive, limit: int) -> bytes:
    """The whole body; a 413 ``RequestTranslationError`` past ``limit`` bytes, so a huge upload is
    refused before it is held in memory, and :class:`ClientDisconnected` on ``http.disconnect``."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnected("Client disconnected before sending the whole request body")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise RequestTranslationError(
                f"Request body is larger than {limit} bytes; raise max_body_size to accept it", status=413
            )
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)
