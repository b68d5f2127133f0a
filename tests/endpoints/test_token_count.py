"""POST /v1/messages/count_tokens and /v1/responses/input_tokens: native endpoints, vLLM's /tokenize,
and the estimate, driven by the official SDKs."""

from __future__ import annotations

from typing import Any

import anthropic
import httpx
import httpx2
import openai
import pytest
from starlette.applications import Starlette
from starlette.requests import Request as HTTPRequest
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route

from asgi_translate import RequestTranslationError, TranslateMiddleware
from asgi_translate._endpoints.token_count import estimate_tokens
from asgi_translate._hub.canonical import Request
from asgi_translate.testing import FakeModel

pytestmark = pytest.mark.anyio

SYSTEM = "a" * 40
USER = "b" * 80
# 120 characters / 4 + 4 for the one message
ESTIMATE = 34


def with_tokenize(seen: list[dict[str, Any]], count: int = 1234) -> Starlette:
    """A chat server with vLLM's POST /tokenize (answering ``count``), FakeModel for the rest."""

    async def tokenize(request: HTTPRequest) -> JSONResponse:
        seen.append(await request.json())
        return JSONResponse({"count": count, "max_model_len": 8192, "tokens": list(range(count))[:3]})

    return Starlette(routes=[Route("/tokenize", tokenize, methods=["POST"]), Mount("/", app=FakeModel())])


def native(path: str, seen: list[dict[str, Any]], payload: dict[str, Any], status: int = 200) -> Starlette:
    """An upstream with one native counting endpoint."""

    async def count(request: HTTPRequest) -> JSONResponse:
        seen.append(await request.json())
        return JSONResponse(payload, status_code=status)

    return Starlette(routes=[Route(path, count, methods=["POST"])])


def claude(app: Any) -> anthropic.AsyncAnthropic:
    http = httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app))
    return anthropic.AsyncAnthropic(base_url="http://proxy", api_key="sk-test", http_client=http)


def gpt(app: Any) -> openai.AsyncOpenAI:
    http = httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app))
    return openai.AsyncOpenAI(base_url="http://proxy/v1", api_key="sk-test", http_client=http)


async def count_messages(app: Any, **extra: Any) -> tuple[int, str]:
    client = claude(app)
    raw = await client.messages.with_raw_response.count_tokens(
        model="claude-x", system=SYSTEM, messages=[{"role": "user", "content": USER}], **extra
    )
    await client.close()
    return (await raw.parse()).input_tokens, raw.headers["x-asgi-translate-token-count"]


TOOL: Any = {"name": "get_weather", "description": "Weather", "input_schema": {"type": "object", "properties": {}}}


async def test_count_tokens_over_a_chat_upstream_uses_vllm_tokenize() -> None:
    seen: list[dict[str, Any]] = []
    app = TranslateMiddleware(with_tokenize(seen), upstream="chat", model_map={"claude-*": "qwen"})
    count, how = await count_messages(app, tools=[TOOL])
    assert (count, how) == (1234, "exact")
    assert seen == [
        {
            "model": "qwen",
            "messages": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": USER}],
            "tools": [
                {
                    "type": "function",
                    "function": {
                        "name": "get_weather",
                        "description": "Weather",
                        "parameters": {"type": "object", "properties": {}},
                    },
                }
            ],
        }
    ]


async def test_count_tokens_without_tokenize_is_a_marked_estimate() -> None:
    app = TranslateMiddleware(FakeModel(), upstream="chat")
    assert await count_messages(app) == (ESTIMATE, "estimate")


@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_a_custom_token_counter_replaces_the_estimate(kind: str) -> None:
    seen: list[Request] = []

    def counter(request: Request) -> int:
        seen.append(request)
        return 7 * len(request.messages)

    async def async_counter(request: Request) -> int:
        return counter(request)

    app = TranslateMiddleware(FakeModel(), upstream="chat", token_counter=counter if kind == "sync" else async_counter)
    assert await count_messages(app) == (7, "estimate")
    assert seen[0].system == [SYSTEM] and seen[0].model == "claude-x"


async def test_a_failing_token_counter_falls_back_to_the_estimate() -> None:
    def counter(request: Request) -> int:
        raise RuntimeError("tokenizer not loaded")

    app = TranslateMiddleware(FakeModel(), upstream="chat", token_counter=counter)
    assert await count_messages(app) == (ESTIMATE, "estimate")


async def test_input_tokens_over_a_chat_upstream_uses_tokenize() -> None:
    seen: list[dict[str, Any]] = []
    app = TranslateMiddleware(with_tokenize(seen, count=42), upstream="chat")
    client = gpt(app)
    raw = await client.responses.input_tokens.with_raw_response.count(
        model="gpt-x", instructions="be brief", input="hello"
    )
    await client.close()
    assert raw.http_response.json() == {"object": "response.input_tokens", "input_tokens": 42}
    assert raw.parse().input_tokens == 42
    assert raw.headers["x-asgi-translate-token-count"] == "exact"
    assert seen[0]["messages"] == [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hello"}]


async def test_input_tokens_without_a_model_is_counted() -> None:
    client = gpt(TranslateMiddleware(FakeModel(), upstream="chat"))
    result = await client.responses.input_tokens.count(input="x" * 40)
    await client.close()
    assert result.input_tokens == 14  # 40 / 4 + 4


async def test_count_tokens_is_forwarded_to_a_native_responses_endpoint() -> None:
    seen: list[dict[str, Any]] = []
    upstream = native("/v1/responses/input_tokens", seen, {"object": "response.input_tokens", "input_tokens": 77})
    app = TranslateMiddleware(upstream, upstream="responses", model_map={"claude-x": "gpt-5"})
    count, how = await count_messages(app, thinking={"type": "enabled", "budget_tokens": 2048})
    assert (count, how) == (77, "exact")
    assert seen == [
        {
            "model": "gpt-5",
            "input": [{"role": "user", "content": [{"type": "input_text", "text": USER}]}],
            "instructions": SYSTEM,
            "reasoning": {"effort": "low", "summary": "auto"},
        }
    ]


async def test_input_tokens_is_forwarded_to_a_native_messages_endpoint() -> None:
    seen: list[dict[str, Any]] = []
    app = TranslateMiddleware(native("/v1/messages/count_tokens", seen, {"input_tokens": 55}), upstream="messages")
    client = gpt(app)
    result = await client.responses.input_tokens.count(model="claude-x", instructions="sys", input="hi")
    await client.close()
    assert result.input_tokens == 55
    assert seen == [
        {
            "model": "claude-x",
            "system": [{"type": "text", "text": "sys"}],
            "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}],
        }
    ]


async def test_a_native_endpoint_that_is_missing_gives_an_estimate() -> None:
    seen: list[dict[str, Any]] = []
    upstream = native("/v1/other", seen, {})
    app = TranslateMiddleware(upstream, upstream="responses")
    assert await count_messages(app) == (ESTIMATE, "estimate")


async def test_a_native_endpoint_error_reaches_the_client_in_its_envelope() -> None:
    seen: list[dict[str, Any]] = []
    error = {"error": {"message": "bad key", "type": "invalid_request_error", "param": None, "code": None}}
    app = TranslateMiddleware(native("/v1/responses/input_tokens", seen, error, status=401), upstream="responses")
    with pytest.raises(anthropic.AuthenticationError) as caught:
        await count_messages(app)
    assert caught.value.status_code == 401
    assert isinstance(caught.value.body, dict) and caught.value.body["type"] == "error"
    assert caught.value.body["error"] == {"type": "authentication_error", "message": "bad key"}


async def test_a_remote_chat_upstream_is_asked_tokenize_at_its_root() -> None:
    """vLLM serves /tokenize beside /v1, not under it."""
    seen: list[dict[str, Any]] = []
    paths: list[str] = []
    server = with_tokenize(seen, count=9)

    async def recording(scope: Any, receive: Any, send: Any) -> None:
        paths.append(scope["path"])
        await server(scope, receive, send)

    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=recording))
    app = TranslateMiddleware(upstream="chat", upstream_url="http://vllm:8000/v1", http_client=http)
    assert await count_messages(app) == (9, "exact")
    await http.aclose()
    assert paths == ["/tokenize"]


async def test_a_remote_without_tokenize_gives_an_estimate() -> None:
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=FakeModel()))
    app = TranslateMiddleware(upstream="chat", upstream_url="http://vllm:8000/v1", http_client=http)
    assert await count_messages(app) == (ESTIMATE, "estimate")
    await http.aclose()


async def test_on_request_applies_to_counts_too() -> None:
    def add_system(request: Request) -> None:
        request.system.append("c" * 40)

    app = TranslateMiddleware(FakeModel(), upstream="chat", on_request=add_system)
    assert await count_messages(app) == (ESTIMATE + 10, "estimate")


async def test_a_hook_refusal_reaches_the_counting_client() -> None:
    def refuse(request: Request) -> None:
        raise RequestTranslationError("model not allowed", param="model", status=403)

    app = TranslateMiddleware(FakeModel(), upstream="chat", on_request=refuse)
    with pytest.raises(anthropic.PermissionDeniedError):
        await count_messages(app)


async def test_invalid_counting_bodies_get_a_400_in_the_client_envelope() -> None:
    app = TranslateMiddleware(FakeModel(), upstream="chat")
    async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://proxy") as http:
        broken = await http.post("/v1/messages/count_tokens", content=b"{nope")
        no_messages = await http.post("/v1/messages/count_tokens", json={"model": "m"})
        responses = await http.post("/v1/responses/input_tokens", content=b"[]")
    assert broken.status_code == 400 and broken.json()["type"] == "error"
    assert no_messages.status_code == 400 and no_messages.json()["error"]["type"] == "invalid_request_error"
    assert responses.status_code == 400 and "error" in responses.json() and "type" not in responses.json()


async def test_counting_paths_of_a_native_route_go_to_the_app_untouched() -> None:
    """Over a Messages upstream, /v1/messages is the app's own: so is its count_tokens."""
    seen: list[dict[str, Any]] = []
    app = TranslateMiddleware(native("/v1/messages/count_tokens", seen, {"input_tokens": 3}), upstream="messages")
    client = claude(app)
    raw = await client.messages.with_raw_response.count_tokens(model="m", messages=[{"role": "user", "content": "x"}])
    await client.close()
    assert (await raw.parse()).input_tokens == 3 and "x-asgi-translate-token-count" not in raw.headers
    assert seen == [{"model": "m", "messages": [{"role": "user", "content": "x"}]}]


def test_the_estimate_counts_text_tools_and_attachments() -> None:
    from asgi_translate._hub.canonical import ImagePart, Message, TextPart, Tool, ToolCallPart, ToolResultPart

    request = Request(
        model="m",
        system=["s" * 8],
        messages=[
            Message("user", [TextPart("t" * 8), ImagePart(url="http://x/y.png")]),
            Message("assistant", [ToolCallPart("c1", "f" * 4, "a" * 4)]),
            Message("user", [ToolResultPart("c1", [TextPart("r" * 8)])]),
        ],
        tools=[Tool("g" * 4, "d" * 4, {})],
    )
    # 8 + 8 + 8 + 8 + (4 + 4 + 2) characters = 42 -> 11 tokens; one image; three messages
    assert estimate_tokens(request) == 11 + 1600 + 12


async def test_an_oversized_count_request_is_a_413_like_any_other_request() -> None:
    app = TranslateMiddleware(FakeModel(), upstream="chat", max_body_size=200)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        body = {"model": "m", "messages": [{"role": "user", "content": "x" * 500}]}
        response = await client.post("/v1/messages/count_tokens", json=body)
    assert response.status_code == 413
    assert response.json()["error"] == {
        "type": "request_too_large",
        "message": "Request body is larger than 200 bytes; raise max_body_size to accept it",
    }
