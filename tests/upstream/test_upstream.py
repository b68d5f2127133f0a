"""HTTPXUpstream: URL and header mapping, streaming relay, disconnects, timeouts, key hygiene.

The mapping tests are pure. The rest run a FakeModel (the "remote") and the proxy under uvicorn
on 127.0.0.1 so that bytes, disconnects and timeouts cross real sockets, once over each
transport the upstream can open for itself (aiohttp, httpx: ``ASGI_TRANSLATE_HTTP``).
"""

from __future__ import annotations

import contextlib
import gzip
import json
import logging
import time
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import httpx2
import openai
import pytest
from anthropic.types import ToolParam
from asgi_lifespan import LifespanManager
from servers import closed_port_url, serve
from starlette.types import Receive, Scope, Send

from asgi_translate import Route, TranslateMiddleware
from asgi_translate._hub.routes import SCHEMAS
from asgi_translate._upstream import HTTPXUpstream, remote_upstream
from asgi_translate.testing import FakeModel, demo_app

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("transport")]
TRANSPORTS = ("aiohttp", "httpx")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Every test over real sockets runs on both transports (the SDK matrix, on the default one)."""
    if metafunc.definition.get_closest_marker("slow") and "proxies" not in metafunc.fixturenames:
        metafunc.parametrize("transport", TRANSPORTS, indirect=True)


@pytest.fixture
def transport(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    name: str = getattr(request, "param", "aiohttp")
    monkeypatch.setenv("ASGI_TRANSLATE_HTTP", name)
    return name


SECRET = "sk-configured-secret-0123456789"


def scope_for(path: str = "/v1/chat/completions", headers: dict[str, str] | None = None, query: str = "") -> Scope:
    raw = [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    return {"type": "http", "method": "POST", "path": path, "query_string": query.encode(), "headers": raw}


def chat_body(text: str = "hello there", **extra: Any) -> dict[str, Any]:
    return {"model": "fake-model", "messages": [{"role": "user", "content": text}], **extra}


# -- URL mapping ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("base", "path", "expected"),
    [
        ("http://h:8000", "/v1/chat/completions", "http://h:8000/v1/chat/completions"),
        ("http://h:8000/", "/v1/messages", "http://h:8000/v1/messages"),
        ("http://h:8000/v1", "/v1/chat/completions", "http://h:8000/v1/chat/completions"),
        ("http://h:8000/v1/", "/v1/models", "http://h:8000/v1/models"),
        ("https://openrouter.ai/api/v1", "/v1/chat/completions", "https://openrouter.ai/api/v1/chat/completions"),
        ("https://h/openai", "/v1/responses", "https://h/openai/v1/responses"),
        ("http://h/v1", "/health", "http://h/v1/health"),
    ],
)
def test_base_url_may_be_an_origin_or_end_in_v1(base: str, path: str, expected: str) -> None:
    assert HTTPXUpstream(base).url_for(scope_for(path)) == expected


def test_query_string_and_raw_path_are_kept() -> None:
    scope = {**scope_for("/v1/files/a b", query="limit=2"), "raw_path": b"/v1/files/a%20b"}
    assert HTTPXUpstream("http://h/v1").url_for(scope) == "http://h/v1/files/a%20b?limit=2"


@pytest.mark.parametrize("url", ["localhost:8000", "ftp://h", "http://"])
def test_a_url_without_http_scheme_or_host_is_refused(url: str) -> None:
    with pytest.raises(ValueError, match="http:// or https://"):
        HTTPXUpstream(url)


def test_repr_never_shows_the_key() -> None:
    assert SECRET not in repr(HTTPXUpstream("http://h/v1", api_key=SECRET))


def test_remote_schema_comes_from_upstream_or_the_routes() -> None:
    routes = [Route("/a", "messages", "responses"), Route("/b", "chat", "responses")]
    assert remote_upstream("http://h", None, routes, None, None, None).upstream == "responses"
    with pytest.raises(ValueError, match="upstream_url needs upstream="):
        remote_upstream("http://h", None, [*routes, Route("/c", "chat", "messages")], None, None, None)


# -- header mapping --------------------------------------------------------------------------------


def test_allowlisted_headers_cross_and_the_rest_do_not() -> None:
    headers = {
        "User-Agent": "sdk/1",
        "X-Request-Id": "r1",
        "Content-Type": "application/json",
        "Content-Length": "12",
        "OpenAI-Organization": "org",
        "Anthropic-Beta": "tools",
        "Connection": "keep-alive",
        "Transfer-Encoding": "chunked",
        "Host": "proxy.local",
        "Cookie": "session=1",
        "X-Custom": "no",
    }
    sent = dict(HTTPXUpstream("http://h", upstream="chat").headers_for(scope_for(headers=headers)))
    assert sent == {
        "user-agent": "sdk/1",
        "x-request-id": "r1",
        "content-type": "application/json",
        "content-length": "12",
        "openai-organization": "org",
    }


def test_header_names_are_read_in_any_case_and_a_connection_header_drops_what_it_lists() -> None:
    upstream = HTTPXUpstream("http://h", upstream="chat")
    raw = [(b"User-Agent", b"sdk/1"), (b"OpenAI-Organization", b"org"), (b"Authorization", b"Bearer tok")]
    scope: Scope = {"type": "http", "method": "POST", "path": "/v1/chat/completions", "headers": raw}
    assert upstream.headers_for(scope) == [
        ("user-agent", "sdk/1"),
        ("openai-organization", "org"),
        ("authorization", "Bearer tok"),
    ]
    hop = [(b"connection", b"Authorization, openai-organization"), *raw]
    assert upstream.headers_for({**scope, "headers": hop}) == [("user-agent", "sdk/1")]


def test_the_last_client_key_counts_and_another_scheme_crosses_only_when_named() -> None:
    both = {"headers": [(b"x-api-key", b"first"), (b"authorization", b"Bearer second")]}
    assert HTTPXUpstream("http://h", upstream="messages").headers_for(both) == [
        ("x-api-key", "second"),
        ("anthropic-version", "2023-06-01"),
    ]
    basic = {"headers": [(b"authorization", b"Basic abc")]}
    assert HTTPXUpstream("http://h", upstream="chat").headers_for(basic) == []
    named = HTTPXUpstream("http://h", upstream="chat", forward_headers=["Authorization"])
    assert named.headers_for(basic) == [("authorization", "Basic abc")]
    assert named.headers_for({"headers": [(b"authorization", b"Bearer tok")]}) == [("authorization", "Bearer tok")]


def test_extra_forwarded_headers_can_be_named() -> None:
    upstream = HTTPXUpstream("http://h", forward_headers=["X-Custom"])
    assert ("x-custom", "yes") in upstream.headers_for(scope_for(headers={"X-Custom": "yes"}))


def test_bearer_becomes_x_api_key_and_version_is_added_toward_messages() -> None:
    upstream = HTTPXUpstream("http://h", upstream="messages")
    sent = dict(upstream.headers_for(scope_for(headers={"Authorization": "Bearer tok", "OpenAI-Beta": "x"})))
    assert sent == {"x-api-key": "tok", "anthropic-version": "2023-06-01"}


def test_a_client_anthropic_version_is_kept() -> None:
    upstream = HTTPXUpstream("http://h", upstream="messages")
    sent = dict(upstream.headers_for(scope_for(headers={"x-api-key": "k", "anthropic-version": "2024-01-01"})))
    assert sent == {"x-api-key": "k", "anthropic-version": "2024-01-01"}


@pytest.mark.parametrize("schema", ["chat", "responses"])
def test_x_api_key_becomes_bearer_toward_openai_schemas(schema: Any) -> None:
    sent = HTTPXUpstream("http://h", upstream=schema).headers_for(scope_for(headers={"x-api-key": "tok"}))
    assert sent == [("authorization", "Bearer tok")]


def test_a_configured_key_replaces_the_clients(monkeypatch: pytest.MonkeyPatch) -> None:
    client_headers = {"Authorization": "Bearer client"}
    assert HTTPXUpstream("http://h", api_key=SECRET).headers_for(scope_for(headers=client_headers)) == [
        ("authorization", f"Bearer {SECRET}")
    ]
    monkeypatch.setenv("UPSTREAM_KEY", SECRET)
    from_env = HTTPXUpstream("http://h", upstream="messages", api_key_env="UPSTREAM_KEY")
    assert ("x-api-key", SECRET) in from_env.headers_for(scope_for(headers=client_headers))
    monkeypatch.delenv("UPSTREAM_KEY")
    assert ("x-api-key", "client") in from_env.headers_for(scope_for(headers=client_headers))


# -- client lifetime -----------------------------------------------------------------------------------


async def test_lifespan_shutdown_closes_the_pool() -> None:
    upstream = HTTPXUpstream("http://h")
    async with LifespanManager(upstream):
        client = upstream.client
    assert client.is_closed


async def test_a_callers_client_is_left_open() -> None:
    async with httpx.AsyncClient() as own:
        upstream = HTTPXUpstream("http://h", client=own)
        await upstream.aclose()
        assert upstream.client is own and not own.is_closed


async def test_middleware_with_an_app_closes_its_remote_after_the_apps_lifespan() -> None:
    middleware = TranslateMiddleware(FakeModel(), upstream="chat", upstream_url="http://h")
    assert middleware.remote is not None
    async with LifespanManager(middleware):
        client = middleware.remote.client
    assert client.is_closed


def test_middleware_needs_an_app_or_a_url() -> None:
    with pytest.raises(ValueError, match="upstream_url="):
        TranslateMiddleware(upstream="chat")


# -- over real sockets -------------------------------------------------------------------------------


@pytest.fixture
def remote() -> Iterator[tuple[FakeModel, str]]:
    model = FakeModel()
    with serve(model) as url:
        yield model, url


def proxy_for(url: str, **options: Any) -> TranslateMiddleware:
    """Proxy mode: a chat upstream, so /v1/chat/completions and /v1/models pass through untouched."""
    return TranslateMiddleware(upstream="chat", upstream_url=url, **options)


@pytest.mark.slow
async def test_passthrough_json_and_models(remote: tuple[FakeModel, str]) -> None:
    model, url = remote
    with serve(proxy_for(url + "/v1", upstream_api_key=SECRET)) as proxy:
        async with httpx.AsyncClient(base_url=proxy, timeout=5) as client:
            answer = await client.post("/v1/chat/completions", json=chat_body(), headers={"authorization": "Bearer c"})
            models = await client.get("/v1/models")
    assert answer.status_code == 200
    assert answer.json()["choices"][0]["message"]["content"] == "You said: hello there"
    assert int(answer.headers["content-length"]) == len(answer.content)
    assert [m["id"] for m in models.json()["data"]] == ["fake-model"]
    assert [r.path for r in model.requests] == ["/v1/chat/completions", "/v1/models"]
    assert model.requests[0].headers["authorization"] == f"Bearer {SECRET}"
    assert "content-length" not in model.requests[1].headers  # a GET sends no (chunked) body


@pytest.mark.slow
async def test_frames_arrive_before_the_remote_finishes() -> None:
    model = FakeModel(delay=0.15)
    with serve(model) as url, serve(proxy_for(url)) as proxy:
        async with httpx.AsyncClient(base_url=proxy, timeout=10) as client:
            body = chat_body("one two three four five six", stream=True)
            async with client.stream("POST", "/v1/chat/completions", json=body) as response:
                arrivals = []
                async for chunk in response.aiter_raw():
                    arrivals.append((time.monotonic(), chunk))
    assert response.headers["content-type"] == "text/event-stream"
    assert "content-length" not in response.headers
    text = b"".join(chunk for _, chunk in arrivals).decode()
    assert text.endswith("data: [DONE]\n\n") and '"content":" six"' in text
    assert arrivals[-1][0] - arrivals[0][0] > 0.9  # ~10 frames 0.15 s apart arrived spread out, not at once
    assert len(arrivals) >= 8


@pytest.mark.slow
async def test_client_disconnect_closes_the_remote_stream_within_a_second() -> None:
    model = FakeModel(delay=0.1)
    with serve(model) as url, serve(proxy_for(url)) as proxy:
        async with httpx.AsyncClient(base_url=proxy, timeout=10) as client:
            body = chat_body(" ".join(["word"] * 200), stream=True)
            async with client.stream("POST", "/v1/chat/completions", json=body) as response:
                async for _ in response.aiter_raw():
                    break
            closed_at = time.monotonic()
        assert model.disconnected.wait(1.0)
        assert time.monotonic() - closed_at < 1.0
        assert not model.completed.is_set()


@pytest.mark.slow
def test_compressed_remote_bodies_are_relayed_decoded() -> None:
    payload = json.dumps({"ok": True}).encode()

    async def gzip_app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        body = gzip.compress(payload)
        headers = [(b"content-encoding", b"gzip"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    with serve(gzip_app, lifespan="off") as url, serve(proxy_for(url)) as proxy:
        response = httpx.get(proxy + "/v1/anything", headers={"accept-encoding": "identity"}, timeout=5)
    assert response.content == payload
    assert "content-encoding" not in response.headers


@pytest.mark.slow
def test_a_configured_key_echoed_in_an_upstream_error_is_scrubbed(caplog: pytest.LogCaptureFixture) -> None:
    error = {"error": {"message": f"Incorrect API key provided: {SECRET}", "type": "invalid_request_error"}}
    model = FakeModel(script=[json.dumps(error)], status=401, content_type="application/json")
    caplog.set_level(logging.DEBUG)
    with serve(model) as url, serve(proxy_for(url, upstream_api_key=SECRET)) as proxy:
        response = httpx.post(proxy + "/v1/chat/completions", json=chat_body(), timeout=5)
    assert response.status_code == 401
    assert SECRET not in response.text
    assert response.json()["error"]["message"] == "Incorrect API key provided: ***"
    assert model.requests[0].headers["authorization"] == f"Bearer {SECRET}"
    assert SECRET not in caplog.text


# -- failures: 502 and 504 in the upstream's envelope, never a hang ------------------------------------


@pytest.mark.slow
def test_unreachable_upstream_is_a_502(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with serve(proxy_for(closed_port_url(), upstream_api_key=SECRET)) as proxy:
        started = time.monotonic()
        response = httpx.post(proxy + "/v1/chat/completions", json=chat_body(), timeout=5)
    assert time.monotonic() - started < 3
    assert response.status_code == 502
    assert "Could not reach the upstream" in response.json()["error"]["message"]
    assert SECRET not in response.text and SECRET not in caplog.text


@pytest.mark.slow
def test_a_remote_that_does_not_answer_in_time_is_a_504() -> None:
    model = FakeModel(start_delay=5)
    with serve(model) as url, serve(proxy_for(url, timeout=0.5)) as proxy:
        started = time.monotonic()
        response = httpx.post(proxy + "/v1/chat/completions", json=chat_body(), timeout=5)
    assert time.monotonic() - started < 3
    assert response.status_code == 504
    assert response.json()["error"]["type"] == "timeout_error"


@pytest.mark.slow
def test_a_total_timeout_ends_a_started_stream_early() -> None:
    model = FakeModel(delay=0.2)
    with serve(model) as url:
        upstream = HTTPXUpstream(url, total_timeout=0.5)
        with serve(upstream) as proxy:
            started = time.monotonic()
            body = chat_body(" ".join(["word"] * 50), stream=True)
            response = httpx.post(proxy + "/v1/chat/completions", json=body, timeout=5)
        assert time.monotonic() - started < 2
        assert response.status_code == 200
        assert "[DONE]" not in response.text and response.text.startswith("data: ")
        assert model.disconnected.wait(1.0)


# -- every client schema against every remote upstream schema, with the official SDKs -------------------

CLIENT_MODEL = {"chat": "gpt-client", "responses": "gpt-client", "messages": "claude-client"}


@pytest.fixture(scope="module")
def proxies() -> Iterator[dict[str, str]]:
    """One proxy per upstream schema, all forwarding to one remote that speaks the three of them
    (a FakeModel behind TranslateMiddleware, the product as its own test double)."""
    with contextlib.ExitStack() as stack:
        remote_url = stack.enter_context(serve(demo_app()))
        urls: dict[str, str] = {}
        for schema in SCHEMAS:
            proxy = TranslateMiddleware(upstream=schema, upstream_url=remote_url + "/v1", model_map={"*": "fake-model"})
            urls[schema] = stack.enter_context(serve(proxy))
        yield urls


async def ask(client_schema: str, base_url: str, *, stream: bool, text: str = "hello there") -> tuple[str, str]:
    """Ask through an official SDK; returns (model shown, answer text)."""
    async with httpx2.AsyncClient(timeout=10) as http:
        if client_schema == "messages":
            return await _ask_messages(
                anthropic.AsyncAnthropic(base_url=base_url, api_key="k", http_client=http), stream, text
            )
        client = openai.AsyncOpenAI(base_url=base_url + "/v1", api_key="k", http_client=http, max_retries=0)
        if client_schema == "chat":
            return await _ask_chat(client, stream, text)
        return await _ask_responses(client, stream, text)


async def _ask_messages(client: anthropic.AsyncAnthropic, stream: bool, text: str) -> tuple[str, str]:
    request: Any = {
        "model": CLIENT_MODEL["messages"],
        "max_tokens": 64,
        "messages": [{"role": "user", "content": text}],
    }
    if stream:
        async with client.messages.stream(**request) as events:
            message = await events.get_final_message()
    else:
        message = await client.messages.create(**request)
    assert message.content[0].type == "text"
    return message.model, message.content[0].text


async def _ask_chat(client: openai.AsyncOpenAI, stream: bool, text: str) -> tuple[str, str]:
    messages: Any = [{"role": "user", "content": text}]
    if not stream:
        completion = await client.chat.completions.create(model=CLIENT_MODEL["chat"], messages=messages)
        return completion.model, completion.choices[0].message.content or ""
    chunks = await client.chat.completions.create(model=CLIENT_MODEL["chat"], messages=messages, stream=True)
    models, parts = set(), []
    async for chunk in chunks:
        models.add(chunk.model)
        parts += [choice.delta.content or "" for choice in chunk.choices]
    assert len(models) == 1
    return models.pop(), "".join(parts)


async def _ask_responses(client: openai.AsyncOpenAI, stream: bool, text: str) -> tuple[str, str]:
    if not stream:
        response = await client.responses.create(model=CLIENT_MODEL["responses"], input=text)
        return response.model, response.output_text
    events = [
        event async for event in await client.responses.create(model=CLIENT_MODEL["responses"], input=text, stream=True)
    ]
    assert events[-1].type == "response.completed"
    return events[-1].response.model, events[-1].response.output_text


@pytest.mark.slow
@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
@pytest.mark.parametrize("client_schema", SCHEMAS)
@pytest.mark.parametrize("upstream", SCHEMAS)
async def test_sdk_clients_through_a_remote_upstream(
    proxies: dict[str, str], upstream: str, client_schema: str, stream: bool
) -> None:
    model, text = await ask(client_schema, proxies[upstream], stream=stream)
    assert text == "You said: hello there"
    assert model == CLIENT_MODEL[client_schema]  # the client's own name, whatever the upstream serves


WEATHER: ToolParam = {
    "name": "get_weather",
    "description": "Weather for a city",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


@pytest.mark.slow
@pytest.mark.parametrize("upstream", SCHEMAS)
async def test_a_tool_round_trip_from_an_anthropic_client(proxies: dict[str, str], upstream: str) -> None:
    async with httpx2.AsyncClient(timeout=10) as http:
        client = anthropic.AsyncAnthropic(base_url=proxies[upstream], api_key="k", http_client=http)
        messages: list[Any] = [{"role": "user", "content": "please call get_weather"}]
        async with client.messages.stream(
            model="claude-client", max_tokens=64, messages=messages, tools=[WEATHER]
        ) as s:
            first = await s.get_final_message()
        assert first.stop_reason == "tool_use"
        call = next(block for block in first.content if block.type == "tool_use")
        assert (call.name, call.input) == ("get_weather", {"city": "example"})
        messages += [
            {"role": "assistant", "content": first.content},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "sunny"}]},
        ]
        second = await client.messages.create(model="claude-client", max_tokens=64, messages=messages, tools=[WEATHER])
    assert second.content[0].type == "text" and second.content[0].text == "The tool returned: sunny"


# -- translated failures reach the client in its own envelope ---------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("upstream", SCHEMAS)
async def test_unreachable_remote_is_a_502_in_each_client_envelope(upstream: Any) -> None:
    with serve(TranslateMiddleware(upstream=upstream, upstream_url=closed_port_url())) as proxy:
        async with httpx2.AsyncClient(timeout=5) as http:
            claude = anthropic.AsyncAnthropic(base_url=proxy, api_key="k", http_client=http, max_retries=0)
            with pytest.raises(anthropic.APIStatusError) as anthropic_error:
                await claude.messages.create(model="m", max_tokens=8, messages=[{"role": "user", "content": "hi"}])
            gpt = openai.AsyncOpenAI(base_url=proxy + "/v1", api_key="k", http_client=http, max_retries=0)
            with pytest.raises(openai.APIStatusError) as openai_error:
                await gpt.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
    assert anthropic_error.value.status_code == 502
    assert anthropic_error.value.body["type"] == "error"  # type: ignore[index]
    assert "Could not reach the upstream" in anthropic_error.value.body["error"]["message"]  # type: ignore[index]
    assert openai_error.value.status_code == 502
    assert "Could not reach the upstream" in openai_error.value.body["message"]  # type: ignore[index]


@pytest.mark.slow
def test_a_slow_remote_is_a_504_in_the_anthropic_envelope() -> None:
    with serve(FakeModel(start_delay=5)) as url:
        with serve(TranslateMiddleware(upstream="chat", upstream_url=url, timeout=0.5)) as proxy:
            response = httpx.post(
                proxy + "/v1/messages",
                json={"model": "m", "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]},
                timeout=5,
            )
    assert response.status_code == 504
    assert response.json()["type"] == "error"
    assert response.json()["error"]["type"] == "timeout_error"


@pytest.mark.slow
async def test_a_remote_cut_mid_stream_ends_with_the_clients_failure_event() -> None:
    model = FakeModel(delay=0.2)
    with serve(model) as url:
        proxy_app = TranslateMiddleware(HTTPXUpstream(url, total_timeout=0.6), upstream="chat")
        with serve(proxy_app) as proxy:
            body = {
                "model": "m",
                "max_tokens": 8,
                "stream": True,
                "messages": [{"role": "user", "content": " ".join(["word"] * 50)}],
            }
            async with httpx.AsyncClient(timeout=5) as client:
                response = await client.post(proxy + "/v1/messages", json=body)
    assert response.status_code == 200
    assert "event: content_block_delta" in response.text
    assert "event: error" in response.text and "event: message_stop" not in response.text


@pytest.mark.slow
async def test_a_translated_stream_closed_by_the_client_stops_the_remote() -> None:
    model = FakeModel(delay=0.1)
    with serve(model) as url, serve(TranslateMiddleware(upstream="chat", upstream_url=url)) as proxy:
        body = {"model": "m", "max_tokens": 8, "stream": True, "messages": [{"role": "user", "content": "w " * 200}]}
        async with httpx.AsyncClient(timeout=5) as client:
            async with client.stream("POST", proxy + "/v1/messages", json=body) as response:
                async for _ in response.aiter_raw():
                    break
        closed_at = time.monotonic()
        assert model.disconnected.wait(1.0)
        assert time.monotonic() - closed_at < 1.0


def test_credentials_in_the_url_never_show_in_messages() -> None:
    upstream = HTTPXUpstream("https://user:hunter2@api.example.com/v1")
    assert upstream.display_origin == "https://api.example.com"
    assert "hunter2" not in repr(upstream)
    assert upstream.url_for(scope_for("/v1/models")) == "https://user:hunter2@api.example.com/v1/models"


@pytest.mark.slow
def test_query_strings_pass_through_but_not_into_translated_requests(remote: tuple[FakeModel, str]) -> None:
    model, url = remote
    messages_body = {"model": "m", "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]}
    with serve(proxy_for(url)) as proxy:
        native = httpx.post(proxy + "/v1/chat/completions?trace=1", json=chat_body(), timeout=5)
        translated = httpx.post(proxy + "/v1/messages?beta=true", json=messages_body, timeout=5)
    assert (native.status_code, translated.status_code) == (200, 200)
    assert [(r.path, r.query) for r in model.requests] == [
        ("/v1/chat/completions", "trace=1"),
        ("/v1/chat/completions", ""),
    ]
