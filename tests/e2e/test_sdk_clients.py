"""The official ``anthropic`` and ``openai`` SDKs as clients of TranslateMiddleware.

The inner app replays recorded upstream traffic of the other schema; the SDKs' own stream
accumulators (``get_final_message()``, ``get_final_completion()``) must accept our streams and end
up with the upstream's text, tool calls (arguments parsed), reasoning, stop reason and usage.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx2
import pytest
from anthropic import AsyncAnthropic
from asgi_lifespan import LifespanManager
from conftest import corpus_root
from openai import AsyncOpenAI
from starlette.types import ASGIApp, Receive, Scope, Send
from test_corpus_replay import CHAT_PATH, MESSAGES_PATH, chat_upstream, messages_upstream, middleware, recorded_app

pytestmark = pytest.mark.anyio

USER: list[Any] = [{"role": "user", "content": "hi"}]


def replay(name: str) -> ASGIApp:
    """An inner app that serves one recording (and answers the lifespan protocol)."""
    path = corpus_root() / name
    content_type = b"text/event-stream" if path.suffix == ".sse" else b"application/json"
    target = CHAT_PATH if path.parent.name == "chat" else MESSAGES_PATH
    inner = recorded_app([path.read_bytes()], path=target, content_type=content_type)

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        await inner(scope, receive, send)

    return app


@asynccontextmanager
async def _http_client(name: str) -> AsyncIterator[httpx2.AsyncClient]:
    upstream = "chat" if name.startswith("chat/") else "messages"
    async with LifespanManager(middleware(replay(name), upstream)) as manager:
        transport = httpx2.ASGITransport(app=manager.app)
        async with httpx2.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield http


@asynccontextmanager
async def anthropic_client(name: str) -> AsyncIterator[AsyncAnthropic]:
    async with _http_client(name) as http:
        yield AsyncAnthropic(api_key="test", base_url="http://testserver", http_client=http, max_retries=0)


@asynccontextmanager
async def openai_client(name: str) -> AsyncIterator[AsyncOpenAI]:
    async with _http_client(name) as http:
        yield AsyncOpenAI(api_key="test", base_url="http://testserver/v1", http_client=http, max_retries=0)


# -- anthropic SDK over a chat upstream -----------------------------------------------------------


async def anthropic_stream(name: str) -> Any:
    async with anthropic_client(name) as client:
        async with client.messages.stream(model="claude-client", max_tokens=256, messages=USER) as stream:
            async for _ in stream:
                pass
            return await stream.get_final_message()


async def test_anthropic_stream_text() -> None:
    message = await anthropic_stream("chat/openai-text-usage-stream.sse")
    upstream = chat_upstream((corpus_root() / "chat/openai-text-usage-stream.sse").read_bytes())
    assert [block.type for block in message.content] == ["text"]
    assert message.content[0].text == upstream.text
    assert message.stop_reason == "end_turn"
    assert message.model == "claude-client"
    assert message.usage.output_tokens == upstream.usage["completion_tokens"]
    assert message.usage.input_tokens == upstream.usage["prompt_tokens"]


async def test_anthropic_stream_parallel_tool_calls() -> None:
    message = await anthropic_stream("chat/openai-parallel-tool-calls-stream.sse")
    upstream = chat_upstream((corpus_root() / "chat/openai-parallel-tool-calls-stream.sse").read_bytes())
    tools = [block for block in message.content if block.type == "tool_use"]
    assert [(t.id, t.name) for t in tools] == [(c.id, c.name) for c in upstream.tool_calls]
    assert [t.input for t in tools] == [json.loads(c.arguments) for c in upstream.tool_calls]
    assert isinstance(tools[0].input, dict) and tools[0].input  # parsed by the SDK from our input_json_delta
    assert message.stop_reason == "tool_use"
    assert message.usage.output_tokens == upstream.usage["completion_tokens"]


async def test_anthropic_stream_thinking_with_signature() -> None:
    message = await anthropic_stream("chat/openrouter-reasoning-details-stream.sse")
    upstream = chat_upstream((corpus_root() / "chat/openrouter-reasoning-details-stream.sse").read_bytes())
    thinking = [block for block in message.content if block.type == "thinking"]
    assert len(thinking) == 1
    assert thinking[0].thinking == upstream.reasoning
    assert thinking[0].signature == upstream.signatures[0]
    assert message.content[-1].text == upstream.text
    assert message.stop_reason == "end_turn"


async def test_anthropic_stream_cached_usage() -> None:
    message = await anthropic_stream("chat/openrouter-cached-tokens-stream.sse")
    # prompt_tokens 687 includes 679 cached: Anthropic counts them apart.
    assert message.usage.input_tokens == 687 - 679
    assert message.usage.cache_read_input_tokens == 679
    assert message.usage.output_tokens == 187


async def test_anthropic_create_non_stream_tool_call() -> None:
    async with anthropic_client("chat/openai-tool-call-nonstream-2.json") as client:
        message = await client.messages.create(model="claude-client", max_tokens=256, messages=USER)
        upstream = json.loads((corpus_root() / "chat/openai-tool-call-nonstream-2.json").read_bytes())
        call = upstream["choices"][0]["message"]["tool_calls"][0]
        tools = [block for block in message.content if block.type == "tool_use"]
        assert [(t.id, t.name, t.input) for t in tools] == [(call["id"], "get_capital", {"country": "England"})]
        assert message.stop_reason == "tool_use"
        assert message.usage.output_tokens == upstream["usage"]["completion_tokens"]


async def test_anthropic_sees_upstream_error_as_api_error() -> None:
    import anthropic

    async with anthropic_client("chat/groq-midstream-error-stream.sse") as client:
        with pytest.raises(anthropic.APIStatusError, match="Tool call validation failed"):
            async with client.messages.stream(model="claude-client", max_tokens=256, messages=USER) as stream:
                async for _ in stream:
                    pass


# -- openai SDK over a messages upstream ----------------------------------------------------------


async def openai_stream(name: str) -> Any:
    async with openai_client(name) as client:
        async with client.chat.completions.stream(
            model="gpt-client", messages=USER, stream_options={"include_usage": True}
        ) as stream:
            async for _ in stream:
                pass
            return await stream.get_final_completion()


async def test_openai_stream_text() -> None:
    completion = await openai_stream("messages/text-stream.sse")
    choice = completion.choices[0]
    assert choice.message.content == "- Captain\n- Scoop"
    assert choice.finish_reason == "stop"
    assert completion.usage is not None
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (17, 10)


async def test_openai_stream_tool_call_arguments() -> None:
    completion = await openai_stream("messages/tool-use-args-stream.sse")
    upstream = messages_upstream((corpus_root() / "messages/tool-use-args-stream.sse").read_bytes())
    choice = completion.choices[0]
    calls = choice.message.tool_calls or []
    assert [(c.id, c.function.name) for c in calls] == [(t.id, t.name) for t in upstream.tool_calls]
    arguments = json.loads(calls[0].function.arguments)
    assert isinstance(arguments, dict) and arguments == json.loads(upstream.tool_calls[0].arguments)
    assert choice.finish_reason == "tool_calls"
    assert completion.usage is not None and completion.usage.completion_tokens == upstream.usage["output_tokens"]


async def test_openai_stream_parallel_tool_calls_without_arguments() -> None:
    """Anthropic streams an empty input as ``""``; a chat client must get ``"{}"``."""
    completion = await openai_stream("messages/parallel-tool-use-stream.sse")
    calls = completion.choices[0].message.tool_calls or []
    assert [c.id for c in calls] == ["toolu_01LtHJmixrs9NcWQkK8hu8hj", "toolu_01N8a4jWyf116qKTMqKKmjyt"]
    assert [json.loads(c.function.arguments) for c in calls] == [{}, {}]


async def test_openai_stream_reasoning_with_signature() -> None:
    completion = await openai_stream("messages/thinking-signature-stream.sse")
    upstream = messages_upstream((corpus_root() / "messages/thinking-signature-stream.sse").read_bytes())
    message = completion.choices[0].message
    extra = message.model_extra or {}
    assert message.content == upstream.text
    assert extra["reasoning_content"] == upstream.reasoning
    signatures = [d.get("signature") for d in extra["reasoning_details"] if d.get("signature")]
    assert signatures == upstream.signatures
    assert completion.choices[0].finish_reason == "stop"


async def test_openai_create_non_stream() -> None:
    async with openai_client("messages/text-tool-use-nonstream.json") as client:
        completion = await client.chat.completions.create(model="gpt-client", messages=USER)
        upstream = json.loads((corpus_root() / "messages/text-tool-use-nonstream.json").read_bytes())
        choice = completion.choices[0]
        assert choice.message.content == upstream["content"][0]["text"]
        calls: list[Any] = list(choice.message.tool_calls or [])
        assert [(c.id, c.function.name) for c in calls] == [(upstream["content"][1]["id"], "updateIssueList")]
        assert json.loads(calls[0].function.arguments) == {}
        assert choice.finish_reason == "tool_calls"
        assert completion.model == "gpt-client"
        assert completion.usage is not None
        assert completion.usage.completion_tokens == upstream["usage"]["output_tokens"]


async def test_openai_sees_overloaded_error() -> None:
    import openai

    async with openai_client("messages/overloaded-error-event-fragment.sse") as client:
        with pytest.raises(openai.APIError, match="Overloaded"):
            async with client.chat.completions.stream(model="gpt-client", messages=USER) as stream:
                async for _ in stream:
                    pass


def test_recordings_exist() -> None:
    for name in ("chat/openai-text-usage-stream.sse", "messages/text-stream.sse"):
        assert Path(corpus_root() / name).is_file()
