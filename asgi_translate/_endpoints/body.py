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
    refused before it is held in memory, and :class:`ClientDisconnected` on ``http.disconnect``.

    A body that comes in one message (nearly every request: servers hand over what they have read)
    is returned as it came, with no list to gather it in and no join."""
    message = await receive()
    if message["type"] == "http.request" and not message.get("more_body", False):
        body: bytes = message.get("body", b"")
        if len(body) > limit:
            raise _too_large(limit)
        return body
    chunks: list[bytes] = []
    size = 0
    while True:
        if message["type"] == "http.disconnect":
            raise ClientDisconnected("Client disconnected before sending the whole request body")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)
        message = await receive()


def _too_large(limit: int) -> RequestTranslationError:
    return RequestTranslationError(
        f"Request body is larger than {limit} bytes; raise max_body_size to accept it", status=413
    )
