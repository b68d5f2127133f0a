"""Small side requests to the upstream (``GET /v1/models``, ``POST /tokenize``, token counts),
answered whole, for the endpoints the middleware serves itself.

The upstream is an ASGI app either way (the wrapped app, or :class:`HTTPXUpstream` for a remote),
so one helper covers both: it calls the app with a fresh scope and collects the response.
"""

from __future__ import annotations

from dataclasses import dataclass

import anyio
from starlette.types import ASGIApp, Message, Scope

from .._hub import json as _json

#: Model lists and token counts are small; anything bigger is not what we asked for.
MAX_SIZE = 8 * 1024 * 1024
_DROPPED = frozenset(
    {b"content-length", b"content-type", b"content-encoding", b"accept", b"accept-encoding", b"transfer-encoding"}
)


@dataclass(slots=True)
class Answer:
    status: int
    body: bytes
    #: The answer's own content type, for an endpoint that passes it on unchanged.
    content_type: bytes = b""


def upstream_path(scope: Scope, path: str, *, in_process: bool) -> str:
    """Where ``path`` lives for the upstream app: under the mount point (``root_path``) for an
    app mounted beside others; a remote maps paths against its own base URL."""
    return path if not in_process else scope.get("root_path", "") + path


async def call(
    app: ASGIApp, scope: Scope, method: str, path: str, body: bytes | None = None, *, query: bytes = b""
) -> Answer:
    """Call ``app`` with the client's headers (auth included) and ``body``; a failure or an app
    that returns without answering is a 502."""
    headers = [(k, v) for k, v in scope["headers"] if k.lower() not in _DROPPED]
    headers += [(b"accept", b"application/json"), (b"accept-encoding", b"identity")]
    if body is not None:
        headers += [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    sub_scope: Scope = {
        **scope,
        "method": method,
        "path": path,
        "raw_path": path.encode(),
        "query_string": query,
        "headers": headers,
    }
    answer = Answer(0, b"")
    chunks: list[bytes] = []
    done = anyio.Event()
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body or b"", "more_body": False}
        await done.wait()  # apps watching for a disconnect must not see one before they answered
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        if message["type"] == "http.response.start":
            answer.status = message["status"]
            answer.content_type = next((v for k, v in message.get("headers", []) if k.lower() == b"content-type"), b"")
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))
            if sum(map(len, chunks)) > MAX_SIZE:
                raise ValueError("upstream answer too large")
            if not message.get("more_body", False):
                done.set()

    try:
        await app(sub_scope, receive, send)
    except Exception:  # the caller decides what a failed side request means
        return Answer(502, b"")
    finally:
        done.set()
    if answer.status == 0:
        return Answer(502, b"")
    answer.body = b"".join(chunks)
    return answer


def loads(answer: Answer) -> dict[str, object] | None:
    """The answer's JSON object, or None."""
    try:
        return _json.loads_object(answer.body)
    except ValueError:
        return None
