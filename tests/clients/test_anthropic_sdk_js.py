"""The Anthropic TypeScript SDK's ``beta.messages.toolRunner`` through the proxy over a chat upstream.

Since 1.14 the runner asks the server to keep the conversation (``thread: {"type": "create"}``, then
``{"type": "continue", "previous_message_id": ...}`` with only the new tool result). The proxy keeps
no threads and refuses the field with ``error.details.error_code: "thread_unsupported_request"``, on
which the SDK stops threading and resends the whole history: the model server sees complete, valid
conversations, and the loop ends with the model's answer. ``anthropic_tool_runner.cjs`` is the
script; it runs under the machine's ``node`` with the SDK pinned in ``.ci/run``.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from asgi_translate import TranslateMiddleware
from clients.harness import (
    ScriptedUpstream,
    Text,
    ToolCall,
    Turn,
    client_binary,
    client_env,
    clients_dir,
    refusing_sink,
    run_client,
    serve,
)

pytestmark = pytest.mark.slow

SCRIPT = Path(__file__).with_name("anthropic_tool_runner.cjs")


def test_the_tool_runner_completes_its_loop_over_a_chat_upstream(tmp_path: Path) -> None:
    client_binary("anthropic-ai-sdk")  # the SDK package is installed (skip or fail as for any client)
    node = shutil.which("node")
    assert node is not None, "node is needed to run the Anthropic TypeScript SDK"
    upstream = ScriptedUpstream(
        "chat",
        [Turn(ToolCall("get_weather", {"city": "Paris"}, id="call_w1")), Turn(Text("It is sunny in Paris."))],
    )
    with refusing_sink() as sink, serve(upstream) as upstream_url:
        with serve(TranslateMiddleware(upstream="chat", upstream_url=upstream_url + "/v1")) as proxy_url:
            env = client_env(
                tmp_path / "home",
                sink.url,
                {"ANTHROPIC_BASE_URL": proxy_url, "ASGI_TRANSLATE_CLIENTS": str(clients_dir())},
            )
            result = run_client([node, str(SCRIPT)], env=env, timeout=60)
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert result.returncode == 0, (result.stdout, result.stderr)
    assert lines[-1]["final"]["content"] == [{"type": "text", "text": "It is sunny in Paris."}]
    assert [line["message"]["stop_reason"] for line in lines[:-1]] == ["tool_use", "end_turn"]
    first, second = (request.body["messages"] for request in upstream.turn_requests)
    assert first == [{"role": "user", "content": "What is the weather in Paris?"}]
    assert [m["role"] for m in second] == ["user", "assistant", "tool"]
    assert second[1]["tool_calls"][0]["id"] == "call_w1"
    assert second[2] == {"role": "tool", "tool_call_id": "call_w1", "content": "Sunny, 21 C in Paris"}
    assert sink.attempts == []
