"""Tool names an upstream refuses go up in a portable form and come back as the client's own."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from starlette.types import ASGIApp, Receive, Scope, Send
from test_middleware import make, post

from asgi_translate._hub.sse import format_event
from asgi_translate._hub.tool_names import portable_name

pytestmark = pytest.mark.anyio

# A Claude Code MCP tool name past OpenAI's 64 characters, and a chat history name Anthropic refuses.
LONG = "mcp__github-enterprise-server__create_or_update_file_contents_in_repository"
ODD = "get weather"


def test_names_that_fit_are_kept_and_others_become_portable_and_stable() -> None:
    assert portable_name("get_weather", 64) == "get_weather"
    assert len(LONG) == 75 and portable_name(LONG, 128) == LONG
    short = portable_name(LONG, 64)
    assert len(short) == 64 and re.fullmatch(r"[A-Za-z0-9_-]{64}", short)
    assert (
        short == LONG[:53] + "_" + short[-10:] and short[:53] == "mcp__github-enterprise-server__create_or_update_file_"
    )
    assert portable_name(LONG, 64) == short  # the same every turn: prefix caches still match
    assert portable_name(LONG + "x", 64) != short
    odd = portable_name(ODD, 128)
    assert odd.startswith("get_weather_") and len(odd) == len("get_weather_") + 10
    assert re.fullmatch(r"[A-Za-z0-9_-]{1,128}", portable_name("", 128))


def _recording_json_app(seen: list[dict[str, Any]], answer: dict[str, Any]) -> ASGIApp:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(json.loads((await receive())["body"]))
        body = json.dumps(answer).encode()
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": body})

    return app


def _messages_answer_calling(name: str) -> dict[str, Any]:
    return {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "m",
        "content": [{"type": "tool_use", "id": "toolu_1", "name": name, "input": {"city": "Paris"}}],
        "stop_reason": "tool_use",
        "stop_sequence": None,
        "usage": {"input_tokens": 5, "output_tokens": 3},
    }


CHAT_REQUEST = {
    "model": "m",
    "messages": [
        {"role": "user", "content": "weather?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": ODD, "arguments": "{}"}}],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
    ],
    # A definition with such a name is refused (OpenAI's own rule); a call in the history is not.
    "tools": [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}],
}


async def test_a_history_tool_name_anthropic_refuses_is_mapped_up_and_back() -> None:
    seen: list[dict[str, Any]] = []
    fitted = portable_name(ODD, 128)
    app = make(_recording_json_app(seen, _messages_answer_calling(fitted)), upstream="messages")
    client = await post(app, "/v1/chat/completions", CHAT_REQUEST)
    sent = seen[0]
    # The call and the minimal definition Anthropic needs for it carry one portable name.
    assert [tool["name"] for tool in sent["tools"]] == ["lookup", fitted]
    assert sent["messages"][1]["content"][0]["name"] == fitted
    call = client.json()["choices"][0]["message"]["tool_calls"][0]
    assert call["function"]["name"] == ODD and call["id"] == "toolu_1"


async def test_a_long_mcp_tool_name_goes_to_chat_in_64_characters_and_streams_back_whole() -> None:
    seen: list[dict[str, Any]] = []
    short = portable_name(LONG, 64)
    chunk = {
        "id": "c1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "m",
        "choices": [
            {
                "index": 0,
                "delta": {
                    "role": "assistant",
                    "tool_calls": [
                        {"index": 0, "id": "call_9", "type": "function", "function": {"name": short, "arguments": "{}"}}
                    ],
                },
                "finish_reason": None,
            }
        ],
    }
    end = {**chunk, "choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]}
    frames = format_event(json.dumps(chunk)) + format_event(json.dumps(end)) + format_event("[DONE]")

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(json.loads((await receive())["body"]))
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/event-stream")]})
        await send({"type": "http.response.body", "body": frames})

    body = {
        "model": "m",
        "max_tokens": 100,
        "stream": True,
        "messages": [{"role": "user", "content": "edit the file"}],
        "tools": [{"name": LONG, "input_schema": {"type": "object"}}],
        "tool_choice": {"type": "tool", "name": LONG},
    }
    client = await post(make(app, upstream="chat"), "/v1/messages", body)
    assert [tool["function"]["name"] for tool in seen[0]["tools"]] == [short]
    assert seen[0]["tool_choice"] == {"type": "function", "function": {"name": short}}
    starts = [
        json.loads(line[len("data: ") :])
        for line in client.body.decode().splitlines()
        if line.startswith("data: ") and '"content_block_start"' in line
    ]
    assert [start["content_block"]["name"] for start in starts] == [LONG]
    assert starts[0]["content_block"]["id"] == "call_9"


def test_long_names_are_not_kept_in_the_cache() -> None:
    from asgi_translate._hub import tool_names

    before = tool_names._cached_portable.cache_info().currsize
    huge = "n" * 100_000
    fitted = portable_name(huge, 64)
    assert len(fitted) == 64 and fitted.startswith("n" * 53 + "_")
    assert tool_names._cached_portable.cache_info().currsize == before  # not kept
    assert portable_name("long_names_cache_probe", 64) == "long_names_cache_probe"
    assert tool_names._cached_portable.cache_info().currsize == before + 1
