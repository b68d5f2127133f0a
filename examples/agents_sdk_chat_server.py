"""The OpenAI Agents SDK (Responses API only) running a tool loop on a Chat Completions server.

    UPSTREAM_URL=http://localhost:8000/v1 UPSTREAM_MODEL=Qwen/Qwen3-8B python examples/agents_sdk_chat_server.py

The middleware runs inside the agent's own process: the SDK's OpenAI client talks to it through
an in-process transport, and it talks to the chat server (or the fake model without UPSTREAM_URL).
"""

from __future__ import annotations

import asyncio
import os

import httpx2
from agents import Agent, Runner, function_tool, set_tracing_disabled
from agents.models.openai_responses import OpenAIResponsesModel
from openai import AsyncOpenAI

from asgi_translate import TranslateMiddleware
from asgi_translate.testing import FakeModel


@function_tool
def get_weather(city: str) -> str:
    """The weather in a city."""
    return f"Sunny, 21 degrees in {city}"


def responses_client() -> AsyncOpenAI:
    """An OpenAI client whose /v1/responses is served by the middleware over a chat server."""
    url = os.environ.get("UPSTREAM_URL")
    model_map = {"*": os.environ.get("UPSTREAM_MODEL", "fake-model")}
    if url:
        app = TranslateMiddleware(upstream="chat", upstream_url=url, model_map=model_map)
    else:
        app = TranslateMiddleware(FakeModel(), upstream="chat", model_map=model_map)
    http = httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), timeout=600)
    return AsyncOpenAI(base_url="http://asgi-translate/v1", api_key="unused", http_client=http)


async def ask(prompt: str) -> str:
    set_tracing_disabled(True)  # nothing goes to api.openai.com
    client = responses_client()
    model = OpenAIResponsesModel(model="agent-model", openai_client=client)
    agent = Agent(name="weather", instructions="Use tools.", model=model, tools=[get_weather])
    result = await Runner.run(agent, prompt)
    await client.close()
    return str(result.final_output)


if __name__ == "__main__":
    print(asyncio.run(ask("Please call get_weather for Paris.")))
