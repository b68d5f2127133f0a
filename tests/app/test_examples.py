"""Every file in examples/ runs and answers the SDKs it promises (README snippets stay true)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType
from typing import Any

import anthropic
import httpx2
import openai
import pytest
from servers import serve

from asgi_translate.testing import FakeModel

pytestmark = pytest.mark.anyio

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def claude(app: object) -> anthropic.AsyncAnthropic:
    """An Anthropic SDK client talking to an ASGI app in process (ASGITransport buffers bodies)."""
    http = httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app))  # type: ignore[arg-type]
    return anthropic.AsyncAnthropic(base_url="http://example", api_key="x", http_client=http)


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
async def test_the_fastapi_service_answers_anthropic_clients(stream: bool) -> None:
    pytest.importorskip("fastapi")
    client = claude(load("fastapi_app").app)
    request: Any = {"model": "shout", "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]}
    if stream:
        async with client.messages.stream(**request) as events:
            message = await events.get_final_message()
    else:
        message = await client.messages.create(**request)
    await client.close()
    assert message.content[0].type == "text" and message.content[0].text == "HI"
    assert message.model == "shout"


async def test_the_fastapi_service_answers_responses_clients() -> None:
    pytest.importorskip("fastapi")
    http = httpx2.AsyncClient(transport=httpx2.ASGITransport(app=load("fastapi_app").app))
    client = openai.AsyncOpenAI(base_url="http://example/v1", api_key="x", http_client=http)
    response = await client.responses.create(model="shout", input="hello")
    await client.close()
    assert response.output_text == "HELLO"


async def test_the_demo_proxy_without_an_upstream_is_the_demo_model(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("UPSTREAM_URL", raising=False)
    app = load("demo_proxy").app
    assert isinstance(app.app, FakeModel)
    client = claude(app)
    message = await client.messages.create(model="demo", max_tokens=16, messages=[{"role": "user", "content": "yo"}])
    await client.close()
    assert message.content[0].type == "text" and message.content[0].text == "You said: yo"


@pytest.mark.slow
async def test_the_demo_proxy_forwards_to_an_upstream_url(monkeypatch: pytest.MonkeyPatch) -> None:
    model = FakeModel()
    with serve(model) as url:
        monkeypatch.setenv("UPSTREAM_URL", url + "/v1")
        monkeypatch.setenv("UPSTREAM_MODEL", "fake-model")
        monkeypatch.setenv("UPSTREAM_API_KEY", "sk-example")
        with serve(load("demo_proxy").app) as proxy:
            async with httpx2.AsyncClient(timeout=10) as http:
                client = anthropic.AsyncAnthropic(base_url=proxy, api_key="x", http_client=http)
                async with client.messages.stream(
                    model="claude-example", max_tokens=16, messages=[{"role": "user", "content": "yo"}]
                ) as events:
                    message = await events.get_final_message()
    assert message.content[0].type == "text" and message.content[0].text == "You said: yo"
    assert message.model == "claude-example"
    assert model.requests[-1].body["model"] == "fake-model"
    assert model.requests[-1].headers["authorization"] == "Bearer sk-example"
