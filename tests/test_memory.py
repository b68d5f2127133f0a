"""What an open stream holds: the conversation is released once the request is rendered.

A streamed answer can last minutes, and every concurrent stream holds its state for that long;
the request (often most of an exchange's bytes: a coding agent's history) is needed only until
it is sent upstream.
"""

from __future__ import annotations

import gc
import json
import tracemalloc
from typing import Any

import anyio
import pytest
from starlette.types import Receive, Scope, Send
from test_middleware import END, HELLO, ROLE, post

from asgi_translate import TranslateMiddleware
from asgi_translate._endpoints.hooks import Exchange
from asgi_translate._hub.canonical import Request

pytestmark = pytest.mark.anyio

HISTORY = "x" * 400_000  # one long earlier turn


def bodies() -> dict[str, dict[str, Any]]:
    turns = [
        {"role": "user", "content": HISTORY},
        {"role": "assistant", "content": "ok"},
        {"role": "user", "content": "and now?"},
    ]
    return {
        "/v1/messages": {"model": "m", "max_tokens": 64, "messages": turns, "stream": True},
        "/v1/responses": {"model": "m", "input": turns, "stream": True, "store": False},
    }


def measuring_upstream(held: list[int]) -> Any:
    """Streams an answer; halfway, records how many traced bytes the process holds, after the
    upstream itself has dropped the request it was sent."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        size = len((await receive())["body"])
        assert size > len(HISTORY)  # the history did go upstream
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/event-stream")]})
        await send({"type": "http.response.body", "body": ROLE + HELLO, "more_body": True})
        gc.collect()
        held.append(tracemalloc.get_traced_memory()[0])
        await send({"type": "http.response.body", "body": END, "more_body": False})

    return app


@pytest.mark.parametrize("path", ["/v1/messages", "/v1/responses"])
async def test_an_open_stream_does_not_hold_the_conversation(path: str) -> None:
    held: list[int] = []
    app = TranslateMiddleware(measuring_upstream(held), upstream="chat")
    body = bodies()[path]
    raw = json.dumps(body).encode()
    with anyio.fail_after(10):
        await post(app, path, body, raw=raw)  # imports and caches first: only the exchange is measured
        tracemalloc.start()
        try:
            client = await post(app, path, body, raw=raw)
        finally:
            tracemalloc.stop()
    assert b"Hello" in client.body
    # Counted from the start of the exchange, after the client's own bytes (raw) existed: what the
    # middleware holds mid-stream is far below one copy of the history (it was three, 1.2 MB).
    assert held[1] < 100_000


async def test_an_on_exchange_hook_still_sees_the_whole_request() -> None:
    seen: list[Exchange] = []
    app = TranslateMiddleware(measuring_upstream([]), upstream="chat", on_exchange=seen.append)
    with anyio.fail_after(10):
        await post(app, "/v1/messages", bodies()["/v1/messages"])
    [exchange] = seen
    assert exchange.request is not None
    assert [len(m.content[0].text) for m in exchange.request.messages] == [len(HISTORY), 2, 8]  # type: ignore[union-attr]


async def test_a_request_an_on_request_hook_kept_is_left_whole() -> None:
    kept: list[Request] = []

    def hook(request: Request) -> None:
        kept.append(request)

    app = TranslateMiddleware(measuring_upstream([]), upstream="chat", on_request=hook)
    with anyio.fail_after(10):
        client = await post(app, "/v1/messages", bodies()["/v1/messages"])
    assert b"Hello" in client.body
    [request] = kept
    assert [len(m.content[0].text) for m in request.messages] == [len(HISTORY), 2, 8]  # type: ignore[union-attr]
