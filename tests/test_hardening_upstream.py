"""The upstream is the only place we go (issue 14).

- An upstream 3xx (or anything else neither 2xx nor 4xx/5xx) is a 502 in the client's envelope,
  without its ``location``: SDKs follow redirects and would re-send the conversation there.
- Passthrough paths are normalised, and one that would leave the upstream URL's path prefix
  (``/v1/../../admin``, ``%2e%2e``) is refused before anything is sent.
- The configured key is scrubbed from every byte a remote sends back: JSON answers, stream frames,
  passthrough bodies and headers, even when it is split across two chunks.
- Passthrough forwards the request's ``content-encoding`` with its (still encoded) body.

The remote cases use ``httpx.MockTransport`` (what httpx would put on the wire, no socket needed);
the redirect case over uvicorn checks that no ``location`` survives a real server either.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from hardening import PATHS, call, json_of, request_for, scripted, stream_of
from servers import serve
from starlette.types import Receive, Scope, Send
from test_errors import assert_envelope

from asgi_translate import TranslateMiddleware

pytestmark = pytest.mark.anyio

SECRET = "sk-configured-upstream-key-0123456789"


class Remote:
    """A mock remote: records each request httpx sends and answers with ``answer(request)``."""

    def __init__(self, answer: Callable[[httpx.Request], httpx.Response]) -> None:
        self.answer = answer
        self.requests: list[httpx.Request] = []

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.answer(request)

    def proxy(self, url: str = "http://upstream.test/tenant/v1", upstream: str = "chat", **options: Any) -> Any:
        client = httpx.AsyncClient(transport=httpx.MockTransport(self.handler))
        return TranslateMiddleware(upstream=upstream, upstream_url=url, http_client=client, **options)  # type: ignore[arg-type]


# -- redirects -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308, 304, 399])
@pytest.mark.parametrize(("client", "upstream"), [("messages", "chat"), ("chat", "messages"), ("responses", "chat")])
async def test_an_in_process_upstream_redirect_is_a_502_without_location(
    client: str, upstream: str, status: int
) -> None:
    inner = scripted(
        b'{"see": "elsewhere"}',
        status=status,
        content_type=b"application/json",
        headers=[(b"location", b"http://elsewhere.test/v1/steal")],
    )
    app = TranslateMiddleware(inner, upstream=upstream)  # type: ignore[arg-type]
    for stream in (False, True):
        got = await call(app, PATHS[client], request_for(client, stream=stream))
        assert got.status == 502, got.body[:300]
        assert b"location" not in got.headers
        assert_envelope(client, got.json())


@pytest.mark.parametrize(
    ("method", "path"), [("GET", "/v1/models"), ("POST", "/v1/embeddings"), ("POST", "/v1/messages")]
)
async def test_a_remote_redirect_is_a_502_without_location_passthrough_too(method: str, path: str) -> None:
    remote = Remote(lambda request: httpx.Response(302, headers={"location": "http://elsewhere.test/x"}))
    got = await call(remote.proxy(), path, request_for("messages"), method=method)
    assert got.status == 502, got.body[:300]
    assert b"location" not in got.headers
    assert_envelope("messages" if path == "/v1/messages" else "chat", got.json())


@pytest.mark.slow
async def test_a_redirect_through_a_real_server_never_reaches_the_client() -> None:
    async def redirecting(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        await receive()
        headers = [(b"location", b"http://elsewhere.test/v1/steal"), (b"content-length", b"0")]
        await send({"type": "http.response.start", "status": 307, "headers": headers})
        await send({"type": "http.response.body", "body": b""})

    with (
        serve(redirecting, lifespan="off") as remote,
        serve(TranslateMiddleware(upstream="chat", upstream_url=remote + "/v1")) as proxy,
    ):
        async with httpx.AsyncClient(timeout=5, follow_redirects=False) as http:
            for path in ("/v1/messages", "/v1/chat/completions", "/v1/models"):
                response = await http.post(proxy + path, json=request_for("messages"))
                assert response.status_code == 502, (path, response.text)
                assert "location" not in response.headers


# -- paths -----------------------------------------------------------------------------------------------------


def ok(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, json={"object": "list", "data": []})


@pytest.mark.parametrize(
    "target",
    [
        "/v1/../../admin/secret",
        "/../admin",
        "/v1/%2e%2e/%2e%2e/admin",
        "/v1/%2E%2E/%2E%2E/admin",
        "/v1/.%2e/.%2e/admin",
        "/v1/..%2f..%2fadmin",
        "/v1/..%5c..%5cadmin",
        "/v1/models/../../../admin",
    ],
)
@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_a_passthrough_path_cannot_leave_the_upstream_prefix(target: str, method: str) -> None:
    remote = Remote(ok)
    got = await call(remote.proxy(upstream_api_key=SECRET), target, {}, method=method)
    for request in remote.requests:  # nothing at all is better; anything sent stays below the prefix
        assert request.url.raw_path.startswith(b"/tenant/v1/"), request.url
        assert b".." not in request.url.raw_path.lower().replace(b"%2e", b".")
    assert not remote.requests, [str(r.url) for r in remote.requests]
    assert got.status == 400, got.body[:300]
    assert_envelope("chat", got.json())


@pytest.mark.parametrize(
    ("target", "seen"),
    [
        ("/v1/./models", b"/tenant/v1/models"),
        ("/v1/../admin", b"/tenant/v1/admin"),  # /admin, below the prefix like any other path
        ("/v1/a/../models", b"/tenant/v1/models"),
        ("/v1/models/%2e/x", b"/tenant/v1/models/x"),
        ("/v1/files", b"/tenant/v1/files"),
        ("/v1/files/file-1/content", b"/tenant/v1/files/file-1/content"),
    ],
)
async def test_passthrough_paths_are_normalised_inside_the_prefix(target: str, seen: bytes) -> None:
    remote = Remote(ok)
    got = await call(remote.proxy(), target, method="GET")
    assert got.status == 200, got.body[:300]
    assert [r.url.raw_path for r in remote.requests] == [seen]


# -- the configured key ---------------------------------------------------------------------------------------


def echo_key(request: httpx.Request) -> httpx.Response:
    """A remote quoting the key it was sent in every place it can: body, frames, headers."""
    key = request.headers.get("authorization", "").removeprefix("Bearer ") or request.headers.get("x-api-key", "")
    headers = {"x-echo": f"you are {key}"}
    body = json.loads(request.content) if request.content else {}
    if request.url.path.endswith("/models"):
        return httpx.Response(200, json={"object": "list", "data": [{"id": key, "object": "model"}]}, headers=headers)
    if body.get("stream"):
        frames = stream_of("chat", f"your key is {key}!")
        half = frames.index(key.encode()) + len(key) // 2

        async def split() -> AsyncIterator[bytes]:  # the key cut in two between chunks
            yield frames[:half]
            yield frames[half:]

        return httpx.Response(200, content=split(), headers={**headers, "content-type": "text/event-stream"})
    return httpx.Response(200, json=json_of("chat", f"your key is {key}!"), headers=headers)


@pytest.mark.parametrize(
    ("method", "path", "stream"),
    [
        ("POST", "/v1/messages", False),
        ("POST", "/v1/messages", True),
        ("POST", "/v1/responses", True),
        ("POST", "/v1/chat/completions", False),  # the upstream's own schema: passed through
        ("POST", "/v1/chat/completions", True),
        ("GET", "/v1/models", False),
    ],
)
async def test_the_configured_key_is_scrubbed_from_everything_a_remote_sends(
    method: str, path: str, stream: bool
) -> None:
    remote = Remote(echo_key)
    client = {"/v1/messages": "messages", "/v1/responses": "responses"}.get(path, "chat")
    got = await call(remote.proxy(upstream_api_key=SECRET), path, request_for(client, stream=stream), method=method)
    assert remote.requests, "the remote was not asked"
    assert got.status == 200, got.body[:300]
    assert SECRET.encode() not in got.body
    assert not any(SECRET.encode() in value for _, value in got.sent[0]["headers"])
    assert b"your key is" in got.body or path.endswith("/models")


# -- request encodings -----------------------------------------------------------------------------------------


async def test_passthrough_forwards_the_request_content_encoding() -> None:
    remote = Remote(ok)
    body = gzip.compress(b'{"model": "m", "input": "hello"}')
    headers = [(b"content-encoding", b"gzip")]
    got = await call(remote.proxy(), "/v1/embeddings", raw=body, headers=headers)
    assert got.status == 200
    (request,) = remote.requests
    assert request.headers.get("content-encoding") == "gzip"
    assert request.content == body
