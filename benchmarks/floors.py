"""The floors: what any bytes-to-bytes stream rewriter must at least pay, with no translation.

1. ``passthrough``: an ASGI send wrapper that forwards every message untouched.
2. ``sse_split``: the same wrapper splitting each body into events with asgi_translate's own
   :class:`SSEDecoder` (the bytes are forwarded unchanged).
3. ``roundtrip.<json|orjson>``: split, parse every event's JSON, dump it again and frame it as
   SSE. This is the least a translator does per frame; our target is within 2x of it with the
   same JSON library. The framing is the tightest we know (bytes concatenation for orjson), so
   the floor is honest, not flattering.

Each floor runs in two layers: ``asgi`` (the wrapper around the replaying app, like the
middleware) and ``core`` (a plain loop over the frames, like ``StreamTranslator.feed``).
"""

from __future__ import annotations

import json
from collections.abc import Callable

from harness import App, Message, Receive, Scope, Send

from asgi_translate._hub.sse import SSEDecoder

Transform = Callable[[bytes], bytes]
TransformFactory = Callable[[], Transform]

_encoder = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def _split_only() -> Transform:
    decoder = SSEDecoder()

    def transform(chunk: bytes) -> bytes:
        decoder.decode(chunk)
        return chunk

    return transform


def _roundtrip_json() -> Transform:
    decoder = SSEDecoder()
    loads = json.loads
    encode = _encoder.encode

    def transform(chunk: bytes) -> bytes:
        out = []
        for event in decoder.decode(chunk):
            data = event.data if event.data == "[DONE]" else encode(loads(event.data))
            out.append(f"event: {event.event}\ndata: {data}\n\n" if event.event else f"data: {data}\n\n")
        return "".join(out).encode()

    return transform


def _roundtrip_orjson() -> Transform:
    import orjson

    decoder = SSEDecoder()
    loads = orjson.loads
    dumps = orjson.dumps

    def transform(chunk: bytes) -> bytes:
        out = []
        for event in decoder.decode(chunk):
            data = event.data.encode() if event.data == "[DONE]" else dumps(loads(event.data))
            head = b"event: " + event.event.encode() + b"\ndata: " if event.event else b"data: "
            out.append(head + data + b"\n\n")
        return b"".join(out)

    return transform


def _identity() -> Transform:
    return lambda chunk: chunk


FLOORS: dict[str, TransformFactory] = {
    "passthrough": _identity,
    "sse_split": _split_only,
    "roundtrip.json": _roundtrip_json,
    "roundtrip.orjson": _roundtrip_orjson,
}


def wrap(app: App, factory: TransformFactory) -> App:
    """An ASGI middleware applying a fresh ``factory()`` transform to every response body."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        transform = factory()

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.body":
                body = message.get("body", b"")
                message = {
                    "type": "http.response.body",
                    "body": transform(body) if body else body,
                    "more_body": message.get("more_body", False),
                }
            await send(message)

        await app(scope, receive, send_wrapper)

    if factory is _identity:

        async def passthrough(scope: Scope, receive: Receive, send: Send) -> None:
            async def send_wrapper(message: Message) -> None:
                await send(message)

            await app(scope, receive, send_wrapper)

        return passthrough
    return middleware


def core_runner(frames: list[bytes], factory: TransformFactory) -> Callable[[], int]:
    """A plain loop: one transform per frame, output sizes summed (so nothing is optimised away)."""

    def run() -> int:
        transform = factory()
        total = 0
        for frame in frames:
            total += len(transform(frame))
        return total

    return run
