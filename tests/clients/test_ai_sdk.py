"""The Vercel AI SDK's Responses provider (``@ai-sdk/openai`` ``.responses()``, pinned in .ci/run)
through the proxy over a chat upstream.

With ``store: true`` (its default) the provider sends earlier output by reference:
``{"type": "item_reference", "id": "msg_..."}`` for assistant text and ``"rs_..."`` for reasoning.
The proxy resolves those ids from its response store (no ``previous_response_id`` chain involved),
so the chat upstream sees the whole conversation: the test checks the texts it received.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from asgi_translate.cli import build_app, build_parser
from clients.harness import (
    Reasoning,
    RefusingSink,
    ScriptedUpstream,
    Text,
    ToolCall,
    Turn,
    client_env,
    clients_dir,
    refusing_sink,
    run_client,
    serve,
)

pytestmark = pytest.mark.slow

SCRIPT = Path(__file__).with_name("ai_sdk_responses.mjs")


class Recorder:
    """The proxy app, recording the JSON bodies the client posted (what the SDK really sent)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.bodies: list[Any] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        more = True
        while more:
            message = await receive()
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        body = b"".join(chunks)
        self.bodies.append(json.loads(body))
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


@contextlib.contextmanager
def proxy(upstream_url: str) -> Iterator[tuple[str, Recorder]]:
    """The README's proxy command (``asgi-translate --upstream-url ... --upstream chat``), recorded."""
    recorder = Recorder(
        build_app(build_parser().parse_args(["--upstream-url", f"{upstream_url}/v1", "--upstream", "chat"]))
    )
    with serve(recorder) as url:
        yield url, recorder


def references(bodies: list[Any]) -> list[str]:
    return [item["id"] for body in bodies for item in body["input"] if item.get("type") == "item_reference"]


def run_sdk(tmp_path: Path, sink: RefusingSink, proxy_url: str, scenario: str) -> dict[str, Any]:
    node = shutil.which("node")
    if node is None or not (clients_dir() / "node_modules" / "@ai-sdk" / "openai").is_dir():
        message = "node and @ai-sdk/openai are needed (.ci/run installs them)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    env = client_env(
        tmp_path / "home",
        sink.url,
        {"BASE_URL": f"{proxy_url}/v1", "ASGI_TRANSLATE_CLIENTS": str(clients_dir())},
    )
    result = run_client([node, str(SCRIPT), scenario], env=env, cwd=tmp_path, timeout=60)
    assert result.returncode == 0, result.stderr[-4000:]
    parsed: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return parsed


def chat_texts(body: dict[str, Any], role: str) -> list[str]:
    out = []
    for message in body["messages"]:
        if message["role"] == role and message.get("content"):
            content = message["content"]
            out.append(content if isinstance(content, str) else "".join(p.get("text", "") for p in content))
    return out


def test_multi_turn_conversation_replays_text_by_reference(tmp_path: Path) -> None:
    upstream = ScriptedUpstream(
        "chat", [Turn(Text("I am a scripted model.")), Turn(Text("I can echo.")), Turn(Text("Goodbye!"))]
    )
    with refusing_sink() as sink, serve(upstream) as upstream_url, proxy(upstream_url) as (proxy_url, recorder):
        result = run_sdk(tmp_path, sink, proxy_url, "conversation")

    assert result["texts"] == ["I am a scripted model.", "I can echo.", "Goodbye!"]
    assert [ref[:4] for ref in references(recorder.bodies)] == ["msg_", "msg_", "msg_"]
    last = upstream.turn_requests[-1].body
    assert chat_texts(last, "assistant") == ["I am a scripted model.", "I can echo."]
    assert chat_texts(last, "user") == ["Hello, who are you?", "And what can you do?", "Thanks, bye."]


def test_reasoning_and_tool_loop_with_store(tmp_path: Path) -> None:
    upstream = ScriptedUpstream(
        "chat",
        [
            Turn(
                Reasoning("The user wants the weather: call the tool."),
                ToolCall("get_weather", {"city": "Paris"}, id="call_w1"),
            ),
            Turn(Reasoning("The tool said sunny."), Text("It is sunny in Paris, 21 C.")),
            Turn(Reasoning("Tomorrow: ask the tool again."), ToolCall("get_weather", {"city": "Paris"}, id="call_w2")),
            Turn(Text("Tomorrow looks sunny too.")),
        ],
    )
    with refusing_sink() as sink, serve(upstream) as upstream_url, proxy(upstream_url) as (proxy_url, recorder):
        result = run_sdk(tmp_path, sink, proxy_url, "tool-loop")

    assert result["calls"] == ["Paris", "Paris"]
    assert result["texts"] == ["It is sunny in Paris, 21 C.", "Tomorrow looks sunny too."]
    assert result["reasoning"][0] == "The tool said sunny."
    sent = references(recorder.bodies)
    assert any(ref.startswith("rs_") for ref in sent) and any(ref.startswith("msg_") for ref in sent)
    # The tool step: the referenced reasoning and the call went up with the result, under its id.
    step = upstream.turn_requests[1].body["messages"]
    assert step[1]["reasoning_content"] == "The user wants the weather: call the tool."
    assert step[1]["tool_calls"][0]["id"] == "call_w1"
    assert step[2] == {
        "role": "tool",
        "tool_call_id": "call_w1",
        "content": '{"city":"Paris","forecast":"sunny","celsius":21}',
    }
    # The next user turn: the earlier answer and its reasoning, replayed by reference.
    assert upstream.turn_requests[2].body["messages"] == [
        {"role": "user", "content": "What is the weather in Paris?"},
        {
            "role": "assistant",
            "content": "It is sunny in Paris, 21 C.",
            "reasoning_content": "The tool said sunny.",
            "reasoning": "The tool said sunny.",  # chat_reasoning_field "both": each server reads one
        },
        {"role": "user", "content": "And tomorrow?"},
    ]
