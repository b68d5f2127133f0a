"""on_request adjusts the canonical request, on_exchange observes each exchange; sync or async; failures."""

from __future__ import annotations

import logging
from typing import Any

import anthropic
import httpx2
import openai
import pytest

from asgi_translate import RequestTranslationError, TranslateMiddleware
from asgi_translate._endpoints.hooks import Exchange
from asgi_translate._hub.canonical import Request, Usage
from asgi_translate.testing import FakeModel

pytestmark = pytest.mark.anyio

HELLO: Any = [{"role": "user", "content": "hello there"}]


def claude(app: Any) -> anthropic.AsyncAnthropic:
    http = httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app))
    return anthropic.AsyncAnthropic(base_url="http://proxy", api_key="x", http_client=http)


@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_on_request_edits_what_goes_up(kind: str) -> None:
    def clamp(request: Request) -> None:
        request.system.insert(0, "You are terse.")
        request.max_tokens = min(request.max_tokens or 64, 64)

    async def clamp_async(request: Request) -> Request:
        clamp(request)
        return request

    model = FakeModel()
    app = TranslateMiddleware(model, upstream="chat", on_request=clamp if kind == "sync" else clamp_async)
    client = claude(app)
    message = await client.messages.create(model="m", max_tokens=4000, system="Be kind.", messages=HELLO)
    await client.close()
    assert message.content[0].type == "text" and message.content[0].text == "You said: hello there"
    body = model.requests[-1].body
    assert body["max_tokens"] == 64
    assert body["messages"][:2] == [
        {"role": "system", "content": "You are terse."},
        {"role": "system", "content": "Be kind."},
    ]


async def test_on_request_may_return_a_new_request() -> None:
    model = FakeModel()

    def replace(request: Request) -> Request:
        return Request(model="other", messages=request.messages, max_tokens=10)

    client = claude(TranslateMiddleware(model, upstream="chat", on_request=replace))
    message = await client.messages.create(model="m", max_tokens=4000, messages=HELLO)
    await client.close()
    assert model.requests[-1].body["model"] == "other" and model.requests[-1].body["max_tokens"] == 10
    assert message.model == "m"  # the client still sees its own name


async def test_a_failing_on_request_is_a_500_naming_the_hook(caplog: pytest.LogCaptureFixture) -> None:
    model = FakeModel()

    def inject_prompt(request: Request) -> None:
        raise KeyError("secret-value")

    client = claude(TranslateMiddleware(model, upstream="chat", on_request=inject_prompt))
    with (
        caplog.at_level(logging.ERROR, logger="asgi_translate"),
        pytest.raises(anthropic.InternalServerError) as caught,
    ):
        await client.messages.create(model="m", max_tokens=10, messages=HELLO)
    await client.close()
    assert isinstance(caught.value.body, dict)
    message = caught.value.body["error"]["message"]
    assert message.endswith("inject_prompt' failed (KeyError); see the server log")
    assert "on_request hook 'test_a_failing_on_request_is_a_500_naming_the_hook.<locals>.inject_prompt'" in message
    assert "secret-value" not in message
    assert "the on_request hook" in caplog.text and "secret-value" in caplog.text
    assert model.requests == []


async def test_on_request_returning_something_else_is_a_500() -> None:
    def wrong(request: Request) -> Any:
        return {"model": "x"}

    client = claude(TranslateMiddleware(FakeModel(), upstream="chat", on_request=wrong))
    with pytest.raises(anthropic.InternalServerError, match="returned dict, not a Request or None"):
        await client.messages.create(model="m", max_tokens=10, messages=HELLO)
    await client.close()


async def test_on_request_can_refuse_with_a_client_error() -> None:
    def only_small(request: Request) -> None:
        if (request.max_tokens or 0) > 100:
            raise RequestTranslationError("max_tokens is capped at 100 here", param="max_tokens")

    client = claude(TranslateMiddleware(FakeModel(), upstream="chat", on_request=only_small))
    with pytest.raises(anthropic.BadRequestError, match="capped at 100"):
        await client.messages.create(model="m", max_tokens=1000, messages=HELLO)
    await client.close()


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_on_exchange_sees_each_finished_exchange(stream: bool, kind: str) -> None:
    seen: list[Exchange] = []

    async def record_async(exchange: Exchange) -> None:
        seen.append(exchange)

    hook = seen.append if kind == "sync" else record_async
    app = TranslateMiddleware(FakeModel(), upstream="chat", on_exchange=hook, model_map={"m": "fake-model"})
    client = claude(app)
    request: Any = {"model": "m", "max_tokens": 10, "extra_body": {"top_k": 2}, "messages": HELLO}
    if stream:
        async with client.messages.stream(**request) as events:
            await events.get_final_message()
    else:
        await client.messages.create(**request)
    await client.close()
    [exchange] = seen
    assert (exchange.path, exchange.client, exchange.upstream, exchange.status) == (
        "/v1/messages",
        "messages",
        "chat",
        200,
    )
    assert exchange.client_model == "m" and exchange.request is not None and exchange.request.model == "fake-model"
    assert exchange.usage == Usage(input_tokens=2, output_tokens=4)
    assert exchange.losses == ["top_k dropped"] and exchange.stream is stream and exchange.error is None
    assert 0 <= exchange.duration < 10


async def test_on_exchange_sees_rejected_requests_and_stream_failures() -> None:
    seen: list[Exchange] = []
    broken = FakeModel(script=[b'data: {"id":"x","object":"chat.completion.chunk","choices":[]}\n\n'])
    app = TranslateMiddleware(broken, upstream="chat", on_exchange=seen.append)
    async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://proxy") as http:
        bad = await http.post("/v1/responses", json={"model": 3})
        cut = await http.post("/v1/responses", json={"model": "m", "input": "hi", "stream": True})
    assert bad.status_code == 400 and cut.status_code == 200
    assert [(e.status, e.request is None, e.error is None) for e in seen] == [(400, True, True), (200, False, False)]
    assert seen[1].error is not None and seen[1].error.startswith("api_error: ")


async def test_a_failing_on_exchange_is_logged_and_the_answer_stands(caplog: pytest.LogCaptureFixture) -> None:
    def explode(exchange: Exchange) -> None:
        raise RuntimeError("metrics down")

    http = httpx2.AsyncClient(
        transport=httpx2.ASGITransport(app=TranslateMiddleware(FakeModel(), upstream="chat", on_exchange=explode))
    )
    client = openai.AsyncOpenAI(base_url="http://proxy/v1", api_key="x", http_client=http)
    with caplog.at_level(logging.ERROR, logger="asgi_translate"):
        response = await client.responses.create(model="m", input="hi")
    await client.close()
    assert response.output_text == "You said: hi"
    assert "the on_exchange hook" in caplog.text and "metrics down" in caplog.text
