"""GET /v1/models in the client's format, from the upstream's list and the model map; both SDKs parse it."""

from __future__ import annotations

import datetime
from typing import Any

import anthropic
import httpx
import httpx2
import openai
import pytest
from starlette.applications import Starlette
from starlette.requests import Request as HTTPRequest
from starlette.responses import JSONResponse
from starlette.routing import Route

from asgi_translate import TranslateMiddleware
from asgi_translate.testing import FakeModel

pytestmark = pytest.mark.anyio

MAP = {"gpt-4o": "qwen", "claude-sonnet-4-5": "qwen", "claude-*": "qwen"}
ANTHROPIC_LIST = {
    "data": [
        {
            "type": "model",
            "id": "claude-opus-4-1",
            "display_name": "Claude Opus 4.1",
            "created_at": "2025-08-05T00:00:00Z",
            "capabilities": None,
            "max_input_tokens": 200000,
            "max_tokens": 32000,
        }
    ],
    "has_more": False,
    "first_id": "claude-opus-4-1",
    "last_id": "claude-opus-4-1",
}


def claude(app: Any) -> anthropic.AsyncAnthropic:
    http = httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app))
    return anthropic.AsyncAnthropic(base_url="http://proxy", api_key="sk-test", http_client=http)


def gpt(app: Any) -> openai.AsyncOpenAI:
    http = httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app))
    return openai.AsyncOpenAI(base_url="http://proxy/v1", api_key="sk-test", http_client=http)


def answering(status: int, payload: dict[str, Any]) -> Starlette:
    async def models(request: HTTPRequest) -> JSONResponse:
        return JSONResponse(payload, status_code=status)

    return Starlette(routes=[Route("/v1/models", models)])


async def test_openai_clients_get_an_openai_list_with_the_mapped_names_first() -> None:
    app = TranslateMiddleware(FakeModel(models=["qwen"]), upstream="chat", model_map=MAP)
    client = gpt(app)
    models = [model async for model in client.models.list()]
    await client.close()
    assert [(m.id, m.object, m.created, m.owned_by) for m in models] == [
        ("gpt-4o", "model", 0, "asgi-translate"),
        ("claude-sonnet-4-5", "model", 0, "asgi-translate"),
        ("qwen", "model", 0, "asgi-translate"),
    ]


async def test_anthropic_clients_get_an_anthropic_page() -> None:
    app = TranslateMiddleware(FakeModel(models=["qwen"]), upstream="chat", model_map=MAP)
    client = claude(app)
    page = await client.models.list()
    await client.close()
    assert [(m.type, m.id, m.display_name) for m in page.data] == [
        ("model", "gpt-4o", "gpt-4o"),
        ("model", "claude-sonnet-4-5", "claude-sonnet-4-5"),
        ("model", "qwen", "qwen"),
    ]
    assert page.data[0].created_at == datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)
    assert (page.has_more, page.first_id, page.last_id) == (False, "gpt-4o", "qwen")


async def test_the_anthropic_sdk_paginates_through_the_whole_list() -> None:
    app = TranslateMiddleware(FakeModel(models=["a", "b", "c"]), upstream="chat")
    client = claude(app)
    first = await client.models.list(limit=2)
    ids = [model.id async for model in await client.models.list(limit=2)]
    before = await client.models.list(before_id="c", limit=1)
    await client.close()
    assert [m.id for m in first.data] == ["a", "b"] and first.has_more
    assert ids == ["a", "b", "c"]
    assert [m.id for m in before.data] == ["b"] and before.has_more


async def test_an_anthropic_upstream_list_is_shown_to_openai_clients() -> None:
    app = TranslateMiddleware(
        answering(200, ANTHROPIC_LIST), upstream="messages", model_map={"gpt-4o": "claude-opus-4-1"}
    )
    client = gpt(app)
    models = [model async for model in client.models.list()]
    await client.close()
    created = int(datetime.datetime(2025, 8, 5, tzinfo=datetime.UTC).timestamp())
    assert [(m.id, m.created, m.owned_by) for m in models] == [
        ("gpt-4o", created, "asgi-translate"),
        ("claude-opus-4-1", created, "asgi-translate"),
    ]


async def test_an_anthropic_upstream_list_reaches_anthropic_clients_verbatim() -> None:
    app = TranslateMiddleware(answering(200, ANTHROPIC_LIST), upstream="messages")
    async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://proxy") as http:
        response = await http.get("/v1/models", headers={"anthropic-version": "2023-06-01"})
    assert response.json() == ANTHROPIC_LIST


async def test_an_upstream_without_a_list_shows_the_mapped_names() -> None:
    app = TranslateMiddleware(answering(404, {"detail": "Not Found"}), upstream="chat", model_map=MAP)
    client = gpt(app)
    models = [model.id async for model in client.models.list()]
    await client.close()
    assert models == ["gpt-4o", "claude-sonnet-4-5"]


async def test_an_upstream_error_reaches_the_client_in_its_envelope() -> None:
    error = {"error": {"message": "Incorrect API key", "type": "invalid_request_error", "param": None, "code": None}}
    client = claude(TranslateMiddleware(answering(401, error), upstream="chat"))
    with pytest.raises(anthropic.AuthenticationError) as caught:
        await client.models.list()
    await client.close()
    assert isinstance(caught.value.body, dict)
    assert caught.value.body["error"] == {"type": "authentication_error", "message": "Incorrect API key"}


async def test_one_model_is_retrieved_by_id_in_either_format() -> None:
    app = TranslateMiddleware(FakeModel(models=["qwen"]), upstream="chat", model_map=MAP)
    openai_client, anthropic_client = gpt(app), claude(app)
    alias = await openai_client.models.retrieve("gpt-4o")
    info = await anthropic_client.models.retrieve("qwen")
    with pytest.raises(openai.NotFoundError):
        await openai_client.models.retrieve("missing")
    with pytest.raises(anthropic.NotFoundError):
        await anthropic_client.models.retrieve("missing")
    await openai_client.close()
    await anthropic_client.close()
    assert (alias.id, alias.owned_by) == ("gpt-4o", "asgi-translate")
    assert (info.type, info.id) == ("model", "qwen")


async def test_a_remote_upstream_list_is_merged_too() -> None:
    model = FakeModel(models=["qwen"])
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=model))
    app = TranslateMiddleware(
        upstream="chat", upstream_url="http://vllm:8000/v1", http_client=http, upstream_api_key="sk-up", model_map=MAP
    )
    client = claude(app)
    page = await client.models.list()
    await client.close()
    await http.aclose()
    assert [m.id for m in page.data] == ["gpt-4o", "claude-sonnet-4-5", "qwen"]
    assert model.requests[-1].path == "/v1/models"
    assert model.requests[-1].headers["authorization"] == "Bearer sk-up"


async def test_vllm_fields_stay_for_openai_clients() -> None:
    listing = {
        "object": "list",
        "data": [{"id": "qwen", "object": "model", "created": 5, "owned_by": "vllm", "max_model_len": 8192}],
    }
    app = TranslateMiddleware(answering(200, listing), upstream="chat")
    async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://proxy") as http:
        response = await http.get("/v1/models")
    assert response.json() == listing


async def test_other_get_paths_are_not_ours() -> None:
    app = TranslateMiddleware(FakeModel(), upstream="chat")
    async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://proxy") as http:
        response = await http.get("/v1/models/a/b")
    assert response.status_code == 404
    assert response.json()["error"]["message"] == "No route for GET /v1/models/a/b"
