"""A client that goes away mid-stream stops the upstream promptly, through a real uvicorn server.

In-process upstreams: a raw ASGI app sees ``http.disconnect`` on its ``receive`` (the middleware
hands the real ``receive`` through once the translated body was delivered), and a Starlette
``StreamingResponse`` has its generator cancelled. The remote (HTTPXUpstream) case, where the
remote sees its connection closed, lives in test_upstream.py
(``test_a_translated_stream_closed_by_the_client_stops_the_remote``); the stalled remote, bounded
by the read timeout, in test_failures.py.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import AsyncIterator
from typing import Any

import anyio
import httpx
import pytest
from servers import serve
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import StreamingResponse
from starlette.routing import Route
from test_errors import BODIES

from asgi_translate import TranslateMiddleware
from asgi_translate._hub.routes import DEFAULT_PATHS
from asgi_translate._hub.sse import format_event
from asgi_translate.testing import FakeModel

pytestmark = [pytest.mark.anyio, pytest.mark.slow]


async def read_one_chunk_then_leave(url: str, client: str) -> float:
    """Open a streamed request, read the first bytes, close the connection; return when."""
    body = {**BODIES[client], "stream": True}
    if client == "chat":
        body["messages"] = [{"role": "user", "content": " ".join(["word"] * 500)}]
    elif client == "messages":
        body["messages"] = [{"role": "user", "content": " ".join(["word"] * 500)}]
    else:
        body["input"] = " ".join(["word"] * 500)
    async with httpx.AsyncClient(timeout=5) as http:
        with anyio.fail_after(5):
            async with http.stream("POST", url + DEFAULT_PATHS[client], json=body) as response:  # type: ignore[index]
                assert response.status_code == 200
                async for chunk in response.aiter_raw():
                    assert chunk
                    break
    return time.monotonic()


@pytest.mark.parametrize("client", ["messages", "responses"])
async def test_a_raw_asgi_upstream_sees_http_disconnect_within_a_second(client: str) -> None:
    model = FakeModel(delay=0.05)
    with serve(TranslateMiddleware(model, upstream="chat")) as url:
        left_at = await read_one_chunk_then_leave(url, client)
        assert model.disconnected.wait(1.0), "the inner app never saw http.disconnect"
        assert time.monotonic() - left_at < 1.0
    assert not model.completed.is_set()


class Generator:
    """A Starlette endpoint streaming chat chunks forever, recording how its generator ended."""

    def __init__(self) -> None:
        self.started = threading.Event()
        self.cancelled = threading.Event()
        self.frames = 0

    async def endpoint(self, request: Request) -> StreamingResponse:
        await request.body()
        return StreamingResponse(self.frames_forever(), media_type="text/event-stream")

    async def frames_forever(self) -> AsyncIterator[bytes]:
        head: dict[str, Any] = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "up"}
        try:
            self.started.set()
            yield format_event(json.dumps({**head, "choices": [{"index": 0, "delta": {"role": "assistant"}}]}))
            while True:
                self.frames += 1
                delta = {"content": f"w{self.frames} "}
                yield format_event(json.dumps({**head, "choices": [{"index": 0, "delta": delta}]}))
                await anyio.sleep(0.02)
        except BaseException:  # the cancellation (or GeneratorExit) that ends it
            self.cancelled.set()
            raise


@pytest.mark.parametrize("client", ["messages", "responses"])
async def test_a_starlette_streaming_generator_is_cancelled_within_a_second(client: str) -> None:
    generator = Generator()
    app = Starlette(routes=[Route("/v1/chat/completions", generator.endpoint, methods=["POST"])])
    with serve(TranslateMiddleware(app, upstream="chat")) as url:
        left_at = await read_one_chunk_then_leave(url, client)
        assert generator.started.is_set()
        assert generator.cancelled.wait(1.0), "the upstream generator kept running after the client left"
        assert time.monotonic() - left_at < 1.0
        frames_then = generator.frames
        await anyio.sleep(0.2)
        assert generator.frames == frames_then  # and it stays stopped
