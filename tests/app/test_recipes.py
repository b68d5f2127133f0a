"""The recipes in examples/ run against the fake model, driven the way their real clients drive them."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import anthropic
import httpx2
import openai
import pytest
import tomllib

pytestmark = pytest.mark.anyio

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"recipe_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def claude(app: Any, base_url: str = "http://proxy") -> anthropic.AsyncAnthropic:
    http = httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app))
    return anthropic.AsyncAnthropic(base_url=base_url, api_key="unused", http_client=http)


def gpt(app: Any, base_url: str = "http://proxy/v1") -> openai.AsyncOpenAI:
    http = httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app))
    return openai.AsyncOpenAI(base_url=base_url, api_key="unused", http_client=http)


# -- vLLM in process ----------------------------------------------------------------------------


async def test_the_vllm_recipe_wraps_whatever_chat_server_it_builds() -> None:
    recipe = load("vllm_inprocess")
    assert "vllm" not in sys.modules  # CI runs the fallback: the same wrap() around FakeModel
    async with recipe.chat_server("Qwen/Qwen3-8B") as server:
        app = recipe.wrap(server, "Qwen/Qwen3-8B")
        client = claude(app)
        async with client.messages.stream(
            model="claude-sonnet-4-6", max_tokens=64, messages=[{"role": "user", "content": "ping"}]
        ) as events:
            message = await events.get_final_message()
        models = await client.models.list()
        await client.close()
    assert message.content[0].type == "text" and message.content[0].text == "You said: ping"
    assert message.model == "claude-sonnet-4-6"
    assert [model.id for model in models.data] == ["Qwen/Qwen3-8B"]
    assert server.requests[0].body["model"] == "Qwen/Qwen3-8B"


# -- under a Starlette Mount --------------------------------------------------------------------


async def test_the_mounted_middleware_serves_beside_the_other_routes() -> None:
    app = load("starlette_mount").app
    async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://host") as http:
        health = await http.get("/health")
    anthropic_client, openai_client = claude(app, "http://host/llm"), gpt(app, "http://host/llm/v1")
    message = await anthropic_client.messages.create(
        model="m", max_tokens=16, messages=[{"role": "user", "content": "mounted"}]
    )
    response = await openai_client.responses.create(model="m", input="mounted too")
    models = [model.id async for model in openai_client.models.list()]
    await anthropic_client.close()
    await openai_client.close()
    assert health.json() == {"ok": True}
    assert message.content[0].type == "text" and message.content[0].text == "You said: mounted"
    assert response.output_text == "You said: mounted too"
    assert models == ["fake-model"]


# -- Claude Code --------------------------------------------------------------------------------

CLAUDE_CODE_SYSTEM: Any = [
    {"type": "text", "text": "You are Claude Code, Anthropic's official CLI for Claude."},
    {"type": "text", "text": "Working directory: /repo", "cache_control": {"type": "ephemeral"}},
]
CLAUDE_CODE_TOOLS: Any = [
    {
        "name": "Bash",
        "description": "Run a shell command",
        "input_schema": {
            "type": "object",
            "properties": {"command": {"type": "string"}, "timeout": {"type": "number"}},
            "required": ["command"],
            "additionalProperties": False,
            "$schema": "http://json-schema.org/draft-07/schema#",
        },
    },
    {
        "name": "Read",
        "description": "Read a file",
        "input_schema": {"type": "object", "properties": {"file_path": {"type": "string"}}, "required": ["file_path"]},
        "cache_control": {"type": "ephemeral"},
    },
]


async def test_claude_code_through_the_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """Claude Code's shape: system blocks with cache_control, tools, streaming, thinking, metadata,
    a tool loop, and count_tokens before the next turn."""
    monkeypatch.delenv("UPSTREAM_URL", raising=False)
    recipe = load("claude_code_proxy")
    model = recipe.app.app
    client = claude(recipe.app, f"http://127.0.0.1:{recipe.PORT}")
    messages: Any = [{"role": "user", "content": [{"type": "text", "text": "Use Bash to list files"}]}]
    turn: Any = {
        "model": "claude-sonnet-4-6",
        "max_tokens": 32000,
        "system": CLAUDE_CODE_SYSTEM,
        "tools": CLAUDE_CODE_TOOLS,
        "thinking": {"type": "enabled", "budget_tokens": 4096},
        "metadata": {"user_id": "user_abc_account_def_session_ghi"},
    }
    async with client.messages.stream(messages=messages, **turn) as events:
        first = await events.get_final_message()
    tool_use = first.content[-1]
    assert first.stop_reason == "tool_use" and tool_use.type == "tool_use"
    assert (tool_use.name, tool_use.input) == ("Bash", {"command": "example"})
    messages += [
        {"role": "assistant", "content": [block.model_dump(exclude_none=True) for block in first.content]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": tool_use.id, "content": "README.md"}]},
    ]
    counted = await client.messages.with_raw_response.count_tokens(
        model=turn["model"], system=turn["system"], tools=turn["tools"], messages=messages, thinking=turn["thinking"]
    )
    async with client.messages.stream(messages=messages, **turn) as events:
        second = await events.get_final_message()
    await client.close()
    assert second.content[-1].type == "text" and second.content[-1].text == "The tool returned: README.md"
    assert second.model == "claude-sonnet-4-6"
    assert counted.headers["x-asgi-translate-token-count"] == "estimate"
    assert (await counted.parse()).input_tokens > 100
    sent = model.requests[0].body
    assert sent["model"] == "fake-model" and sent["stream"] is True
    assert sent["messages"][0]["content"] == "You are Claude Code, Anthropic's official CLI for Claude."
    assert sent["reasoning_effort"] == "low"
    assert [tool["function"]["name"] for tool in sent["tools"]] == ["Bash", "Read"]
    assert model.requests[1].body["messages"][-1] == {
        "role": "tool",
        "tool_call_id": tool_use.id,
        "content": "README.md",
    }


# -- Codex CLI ------------------------------------------------------------------------------------


def test_the_codex_config_points_at_the_proxy() -> None:
    config = tomllib.loads((EXAMPLES / "codex_config.toml").read_text())
    provider = config["model_providers"][config["model_provider"]]
    assert provider["wire_api"] == "responses"
    assert provider["base_url"] == f"http://127.0.0.1:{load('codex_proxy').PORT}/v1"


async def test_codex_through_the_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """Codex's shape: stateless (store false) full history, function tools, reasoning, encrypted
    reasoning included, parallel tool calls, streamed."""
    monkeypatch.delenv("UPSTREAM_URL", raising=False)
    recipe = load("codex_proxy")
    model = recipe.app.app
    client = gpt(recipe.app, f"http://127.0.0.1:{recipe.PORT}/v1")
    shell: Any = {
        "type": "function",
        "name": "shell",
        "description": "Runs a shell command",
        "strict": False,
        "parameters": {
            "type": "object",
            "properties": {"command": {"type": "array", "items": {"type": "string"}}},
            "required": ["command"],
        },
    }
    history: Any = [
        {"type": "message", "role": "developer", "content": [{"type": "input_text", "text": "<permissions>"}]},
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "run shell: ls"}]},
    ]
    turn: Any = {
        "model": "gpt-5-codex",
        "instructions": "You are Codex.",
        "tools": [shell],
        "tool_choice": "auto",
        "parallel_tool_calls": False,
        "reasoning": {"effort": "medium", "summary": "auto"},
        "store": False,
        "include": ["reasoning.encrypted_content"],
        "prompt_cache_key": "session-1",
    }
    async with client.responses.stream(input=history, **turn) as events:
        first = await events.get_final_response()
    call = first.output[-1]
    assert call.type == "function_call" and (call.name, call.arguments) == ("shell", '{"command":[]}')
    history += [
        call.model_dump(exclude_none=True),
        {"type": "function_call_output", "call_id": call.call_id, "output": "README.md"},
    ]
    async with client.responses.stream(input=history, **turn) as events:
        second = await events.get_final_response()
    await client.close()
    assert second.output_text == "The tool returned: README.md" and second.model == "gpt-5-codex"
    assert model.requests[0].body["model"] == "fake-model"
    assert model.requests[0].body["reasoning_effort"] == "medium"
    assert model.requests[1].body["messages"][-1] == {
        "role": "tool",
        "tool_call_id": call.call_id,
        "content": "README.md",
    }


# -- the Agents SDK ------------------------------------------------------------------------------


async def test_the_agents_sdk_runs_its_tool_loop_on_a_chat_server(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("UPSTREAM_URL", raising=False)
    answer = await load("agents_sdk_chat_server").ask("Please call get_weather for me.")
    assert answer == "The tool returned: Sunny, 21 degrees in example"


# -- hooks ----------------------------------------------------------------------------------------


async def test_the_hooks_recipe() -> None:
    recipe = load("hooks")
    client = claude(recipe.app)
    message = await client.messages.create(
        model="m",
        max_tokens=16_000,
        messages=[{"role": "user", "content": "hello"}],
        tools=[{"name": "delete_everything", "input_schema": {"type": "object"}}],
    )
    with pytest.raises(anthropic.PermissionDeniedError, match="not served here"):
        await client.messages.create(model="forbidden", max_tokens=10, messages=[{"role": "user", "content": "x"}])
    await client.close()
    sent = recipe.app.app.requests[0].body
    assert message.content[0].type == "text" and message.content[0].text == "You said: hello"
    assert sent["max_tokens"] == recipe.MAX_TOKENS and "tools" not in sent
    assert sent["messages"][0] == {"role": "system", "content": "Answer in English."}
    assert recipe.totals == {"requests": 2, "input_tokens": 4, "output_tokens": 3}
