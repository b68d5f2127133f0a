"""The OpenAI Agents SDK (``openai-agents``) running a full tool loop through TranslateMiddleware.

The Agents SDK speaks only the Responses API. Here it talks to ``POST /v1/responses`` of a
middleware whose upstream is a plain Chat Completions server (:class:`FakeModel`), or a Messages
server (FakeModel behind a second middleware). One agent run must get a function call back, run
our Python tool with the model's arguments, send the tool's result back and end with the model's
final text. Two conversation modes are exercised, because they load different parts of the library:

- full-history replay (the SDK's default): every request carries the whole conversation, so the
  request translation of ``function_call`` / ``function_call_output`` items is what matters;
- server-side chaining (``auto_previous_response_id``, or ``previous_response_id`` across runs):
  later requests carry only the new items plus ``previous_response_id``, so the middleware's
  response store must rebuild the whole history for the stateless upstream.

Recording apps show what the SDK sent, what the Messages upstream received, and what the chat
server finally saw.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx2
import pytest
from agents import Agent, Runner, RunResult, RunResultStreaming, function_tool, set_tracing_disabled
from agents.models.openai_responses import OpenAIResponsesModel
from openai import AsyncOpenAI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from asgi_translate import TranslateMiddleware
from asgi_translate._hub import json as _json
from asgi_translate._hub.routes import Route, SchemaName
from asgi_translate.testing import FakeModel

pytestmark = pytest.mark.anyio

INSTRUCTIONS = "Use tools."
PROMPT = "Please call get_weather for me."
CITY = "example"  # FakeModel fills a required string argument with "example"
TOOL_RESULT = f"Sunny, 21 degrees in {CITY}"
FINAL_TEXT = f"The tool returned: {TOOL_RESULT}"
ARGUMENTS = '{"city":"example"}'
CALL_ID = "call_fake1"  # FakeModel's first tool call id, which must survive every hop

SYSTEM_MESSAGE = {"role": "system", "content": INSTRUCTIONS}
USER_MESSAGE = {"role": "user", "content": PROMPT}
ASSISTANT_CALL = {
    "role": "assistant",
    "content": None,
    "tool_calls": [{"id": CALL_ID, "type": "function", "function": {"name": "get_weather", "arguments": ARGUMENTS}}],
}
TOOL_MESSAGE = {"role": "tool", "tool_call_id": CALL_ID, "content": TOOL_RESULT}
FULL_HISTORY = [SYSTEM_MESSAGE, USER_MESSAGE, ASSISTANT_CALL, TOOL_MESSAGE]

# FakeModel's usage counts words: 7 prompt words, then 12 with the tool result; the call costs
# 1 + 1 "tokens" and the answer 8.
INPUT_TOKENS = (7, 12)
OUTPUT_TOKENS = (2, 8)


@pytest.fixture(autouse=True, scope="module")
def _no_tracing() -> None:
    """The SDK would otherwise try to export traces to api.openai.com."""
    set_tracing_disabled(True)


class Recorder:
    """An ASGI wrapper that keeps the JSON body of every POST it forwards (then replays the body)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.bodies: list[dict[str, Any]] = []
        self.paths: list[str] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        raw = b"".join(chunks)
        self.paths.append(scope["path"])
        self.bodies.append(_json.loads(raw))
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": raw, "more_body": False}

        await self.app(scope, replay, send)


@dataclass
class Stack:
    """The client-facing app and what each layer saw."""

    client_side: Recorder  # what the Agents SDK sent to /v1/responses
    model: FakeModel  # what the chat server finally received
    messages_side: Recorder | None = None  # what the Messages upstream received, if there is one
    calls: list[str] = field(default_factory=list)  # the tool's invocations


def build_stack(upstream: SchemaName) -> Stack:
    """Responses in front of FakeModel's chat, or in front of a Messages server built from it."""
    model = FakeModel()
    if upstream == "chat":
        return Stack(Recorder(TranslateMiddleware(model, upstream="chat")), model)
    messages_side = Recorder(TranslateMiddleware(model, upstream="chat"))  # speaks /v1/messages
    route = Route("/v1/responses", client="responses", upstream="messages")
    return Stack(Recorder(TranslateMiddleware(messages_side, routes=[route])), model, messages_side)


@asynccontextmanager
async def agent_for(stack: Stack) -> AsyncIterator[Agent[Any]]:
    """An agent with one function tool, on the Responses model, wired to the stack in process."""

    @function_tool
    def get_weather(city: str) -> str:
        """Report the weather in a city."""
        stack.calls.append(city)
        return f"Sunny, 21 degrees in {city}"

    # openai 3.x (which the Agents SDK uses) takes an httpx2 client.
    transport = httpx2.ASGITransport(app=stack.client_side)
    async with httpx2.AsyncClient(transport=transport, base_url="http://test") as http:
        client = AsyncOpenAI(base_url="http://test/v1", api_key="x", http_client=http, max_retries=0)
        model = OpenAIResponsesModel(model="agent-model", openai_client=client)
        yield Agent(name="weather", instructions=INSTRUCTIONS, model=model, tools=[get_weather])


@dataclass
class Outcome:
    result: RunResult | RunResultStreaming
    text_deltas: list[str]  # response.output_text.delta payloads, streamed runs only
    argument_deltas: list[str]  # response.function_call_arguments.delta payloads


async def run(agent: Agent[Any], text: str, streamed: bool, **options: Any) -> Outcome:
    if not streamed:
        return Outcome(await Runner.run(agent, text, **options), [], [])
    result = Runner.run_streamed(agent, text, **options)
    text_deltas: list[str] = []
    argument_deltas: list[str] = []
    async for event in result.stream_events():
        if event.type != "raw_response_event":
            continue
        if event.data.type == "response.output_text.delta":
            text_deltas.append(event.data.delta)
        elif event.data.type == "response.function_call_arguments.delta":
            argument_deltas.append(event.data.delta)
    return Outcome(result, text_deltas, argument_deltas)


def check_run(outcome: Outcome, stack: Stack, streamed: bool) -> None:
    """What every tool loop must show, whatever the mode: one tool call, the final text, usage."""
    result = outcome.result
    assert stack.calls == [CITY]
    assert result.final_output == FINAL_TEXT
    assert len(stack.model.requests) == 2
    assert [r.path for r in stack.model.requests] == ["/v1/chat/completions"] * 2
    assert [r.body["stream"] for r in stack.model.requests] == [streamed] * 2
    assert stack.client_side.paths == ["/v1/responses"] * 2
    calls = [item.raw_item for item in result.new_items if item.type == "tool_call_item"]
    assert [(c.type, c.call_id, c.name, c.arguments) for c in calls] == [  # type: ignore[union-attr]
        ("function_call", CALL_ID, "get_weather", ARGUMENTS)
    ]
    assert calls[0].id.startswith("fc_")  # type: ignore[union-attr]
    assert [r.response_id[:5] for r in result.raw_responses] == ["resp_", "resp_"]  # type: ignore[index]
    assert [r.usage.input_tokens for r in result.raw_responses] == list(INPUT_TOKENS)
    assert [r.usage.output_tokens for r in result.raw_responses] == list(OUTPUT_TOKENS)
    assert result.context_wrapper.usage.requests == 2
    if streamed:
        assert outcome.text_deltas == re.findall(r"\s*\S+", FINAL_TEXT)  # one word per upstream chunk
        assert "".join(outcome.argument_deltas) == ARGUMENTS


def check_upstream_history(stack: Stack) -> None:
    """The upstream saw the prompt first, then the whole conversation with the tool exchange."""
    assert stack.model.requests[0].body["messages"] == [SYSTEM_MESSAGE, USER_MESSAGE]
    assert stack.model.requests[1].body["messages"] == FULL_HISTORY
    if stack.messages_side is not None:
        first, second = stack.messages_side.bodies
        assert stack.messages_side.paths == ["/v1/messages"] * 2
        system = [{"type": "text", "text": INSTRUCTIONS}]
        assert (first["system"], second["system"]) == (system, system)
        assert second["messages"] == [
            {"role": "user", "content": [{"type": "text", "text": PROMPT}]},
            {
                "role": "assistant",
                "content": [{"type": "tool_use", "id": CALL_ID, "name": "get_weather", "input": {"city": CITY}}],
            },
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": CALL_ID, "content": TOOL_RESULT}]},
        ]


STREAMED = pytest.mark.parametrize("streamed", [False, True], ids=["run", "run_streamed"])
UPSTREAMS = pytest.mark.parametrize("upstream", ["chat", "messages"])


@STREAMED
@UPSTREAMS
async def test_tool_loop_full_history_replay(upstream: SchemaName, streamed: bool) -> None:
    stack = build_stack(upstream)
    async with agent_for(stack) as agent:
        outcome = await run(agent, PROMPT, streamed)
    check_run(outcome, stack, streamed)
    first, second = stack.client_side.bodies
    assert "previous_response_id" not in first and "previous_response_id" not in second
    call = outcome.result.new_items[0].raw_item
    # The SDK replays the whole conversation itself, our function_call item included.
    assert second["input"] == [
        {"role": "user", "content": PROMPT},
        {
            "type": "function_call",
            "id": call.id,  # type: ignore[union-attr]
            "call_id": CALL_ID,
            "name": "get_weather",
            "arguments": ARGUMENTS,
            "status": "completed",
        },
        {"type": "function_call_output", "call_id": CALL_ID, "output": TOOL_RESULT},
    ]
    check_upstream_history(stack)


@STREAMED
@UPSTREAMS
async def test_tool_loop_previous_response_id(upstream: SchemaName, streamed: bool) -> None:
    stack = build_stack(upstream)
    async with agent_for(stack) as agent:
        outcome = await run(agent, PROMPT, streamed, auto_previous_response_id=True)
    check_run(outcome, stack, streamed)
    first, second = stack.client_side.bodies
    assert "previous_response_id" not in first
    assert first["input"] == [{"role": "user", "content": PROMPT}]
    # The SDK sends only the tool result, chained to the response that asked for it ...
    assert second["previous_response_id"] == outcome.result.raw_responses[0].response_id
    assert second["input"] == [{"type": "function_call_output", "call_id": CALL_ID, "output": TOOL_RESULT}]
    # ... and the middleware rebuilt the whole history for the stateless upstream.
    check_upstream_history(stack)
    assert outcome.result.last_response_id == outcome.result.raw_responses[1].response_id


@STREAMED
@UPSTREAMS
async def test_second_run_chained_by_previous_response_id(upstream: SchemaName, streamed: bool) -> None:
    """A follow-up run that passes the first run's last response id carries only the new message."""
    stack = build_stack(upstream)
    async with agent_for(stack) as agent:
        first = await run(agent, PROMPT, streamed, auto_previous_response_id=True)
        follow_up = await run(agent, "Thanks!", streamed, previous_response_id=first.result.last_response_id)
    assert stack.calls == [CITY]
    assert follow_up.result.final_output == "You said: Thanks!"
    sent = stack.client_side.bodies[2]
    assert sent["previous_response_id"] == first.result.last_response_id
    assert sent["input"] == [{"role": "user", "content": "Thanks!"}]
    assert len(stack.model.requests) == 3
    assert stack.model.requests[2].body["messages"] == [
        *FULL_HISTORY,
        {"role": "assistant", "content": FINAL_TEXT},
        {"role": "user", "content": "Thanks!"},
    ]
