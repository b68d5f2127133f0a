"""FakeModel: the deterministic Chat Completions server behind the demo and the server tests."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from asgi_translate.testing import FakeModel, example_arguments, reply_for

pytestmark = pytest.mark.anyio

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string"},
                "days": {"type": "integer"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                "verbose": {"type": "boolean"},
            },
            "required": ["city", "days", "unit"],
        },
    },
}


def chat(text: str, **extra: Any) -> dict[str, Any]:
    return {"model": "fake-model", "messages": [{"role": "user", "content": text}], **extra}


async def post(model: FakeModel, body: Any, path: str = "/v1/chat/completions") -> httpx.Response:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=model), base_url="http://fake") as client:
        return await client.post(path, json=body)


def data_frames(raw: str) -> list[str]:
    return [line[6:] for line in raw.split("\n") if line.startswith("data: ")]


async def test_non_streamed_reply_echoes_the_last_user_text() -> None:
    response = await post(FakeModel(), chat("hello there"))
    assert response.status_code == 200
    body = response.json()
    assert body["id"] == "chatcmpl-fake1"
    assert body["model"] == "fake-model"
    assert body["choices"][0]["message"] == {"role": "assistant", "content": "You said: hello there", "refusal": None}
    assert body["choices"][0]["finish_reason"] == "stop"
    assert body["usage"] == {"prompt_tokens": 2, "completion_tokens": 4, "total_tokens": 6}


async def test_streamed_reply_comes_one_word_per_chunk_then_done() -> None:
    response = await post(FakeModel(), chat("hi you", stream=True, stream_options={"include_usage": True}))
    assert response.headers["content-type"] == "text/event-stream"
    frames = data_frames(response.text)
    assert frames[-1] == "[DONE]"
    chunks = [json.loads(frame) for frame in frames[:-1]]
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    words = [c["choices"][0]["delta"]["content"] for c in chunks[1:-2]]
    assert words == ["You", " said:", " hi", " you"]
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"] == {"prompt_tokens": 2, "completion_tokens": 4, "total_tokens": 6}


async def test_usage_chunk_only_when_asked_for() -> None:
    frames = data_frames((await post(FakeModel(), chat("hi", stream=True))).text)
    assert all("usage" not in json.loads(frame) for frame in frames[:-1])


async def test_naming_a_tool_calls_it_with_schema_built_arguments() -> None:
    response = await post(FakeModel(), chat("what is the weather? call get_weather", tools=[WEATHER_TOOL]))
    choice = response.json()["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] is None
    call = choice["message"]["tool_calls"][0]
    assert call["id"] == "call_fake1"
    assert call["function"]["name"] == "get_weather"
    assert json.loads(call["function"]["arguments"]) == {"city": "example", "days": 1, "unit": "celsius"}


async def test_streamed_tool_call_arguments_reassemble() -> None:
    response = await post(FakeModel(), chat("get_weather", tools=[WEATHER_TOOL], stream=True))
    chunks = [json.loads(frame) for frame in data_frames(response.text)[:-1]]
    calls = [c["choices"][0]["delta"]["tool_calls"][0] for c in chunks if "tool_calls" in c["choices"][0]["delta"]]
    assert calls[0]["id"] == "call_fake1" and calls[0]["function"]["name"] == "get_weather"
    arguments = "".join(call["function"]["arguments"] for call in calls)
    assert json.loads(arguments) == {"city": "example", "days": 1, "unit": "celsius"}
    assert len(calls) > 2  # arguments arrive in several pieces
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"


def test_tool_result_is_reported_back() -> None:
    messages = [
        {"role": "user", "content": "get_weather"},
        {"role": "assistant", "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "get_weather"}}]},
        {"role": "tool", "tool_call_id": "c1", "content": [{"type": "text", "text": "sunny"}]},
    ]
    assert reply_for({"messages": messages, "tools": [WEATHER_TOOL]}).text == "The tool returned: sunny"


def test_text_without_a_tool_name_is_echoed_even_with_tools() -> None:
    reply = reply_for(chat("hello", tools=[WEATHER_TOOL]))
    assert (reply.text, reply.tool_name) == ("You said: hello", None)


def test_max_tokens_cuts_the_reply_with_length() -> None:
    reply = reply_for(chat("one two three four", max_tokens=3))
    assert (reply.text, reply.finish_reason) == ("You said: one", "length")


def test_example_arguments_cover_nested_and_nullable_types() -> None:
    schema = {
        "type": "object",
        "properties": {
            "where": {"type": "object", "properties": {"lat": {"type": "number"}}, "required": ["lat"]},
            "tags": {"type": "array"},
            "note": {"type": ["null", "string"]},
        },
        "required": ["where", "tags", "note"],
    }
    assert example_arguments(schema) == {"where": {"lat": 1}, "tags": [], "note": "example"}
    assert example_arguments(None) == {}


async def test_models_are_listed() -> None:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=FakeModel(models=["a", "b"])), base_url="http://f"
    ) as c:
        body = (await c.get("/v1/models")).json()
    assert [m["id"] for m in body["data"]] == ["a", "b"]


async def test_script_replays_chunks_verbatim_on_any_post() -> None:
    model = FakeModel(script=["event: ping\ndata: {}\n\n", b"data: [DONE]\n\n"])
    response = await post(model, {"anything": True}, path="/v1/messages")
    assert response.text == "event: ping\ndata: {}\n\ndata: [DONE]\n\n"
    assert model.requests[0].path == "/v1/messages"
    assert model.requests[0].body == {"anything": True}


async def test_scripted_status_and_content_type() -> None:
    model = FakeModel(script=['{"error": "nope"}'], status=429, content_type="application/json")
    response = await post(model, chat("hi"))
    assert (response.status_code, response.json()) == (429, {"error": "nope"})


@pytest.mark.parametrize(
    ("path", "body", "status"),
    [("/v1/messages", chat("hi"), 404), ("/v1/chat/completions", {"model": "x"}, 400)],
)
async def test_bad_requests_get_openai_errors(path: str, body: Any, status: int) -> None:
    response = await post(FakeModel(), body, path=path)
    assert response.status_code == status
    assert set(response.json()["error"]) == {"message", "type", "param", "code"}


async def test_requests_are_recorded_with_headers() -> None:
    model = FakeModel()
    transport = httpx.ASGITransport(app=model)
    async with httpx.AsyncClient(transport=transport, base_url="http://fake") as client:
        await client.post("/v1/chat/completions", json=chat("hi"), headers={"X-Trace": "abc"})
    assert model.requests[0].headers["x-trace"] == "abc"
    assert model.requests[0].body == chat("hi")
    assert model.completed.is_set() and not model.disconnected.is_set()
