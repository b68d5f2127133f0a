"""The real Claude Code CLI, pinned in ``.ci/run``, through the proxy to a scripted upstream model.

Each test starts the proxy the way the README's Claude Code recipe does (``asgi-translate
--upstream-url ... --upstream chat --model-map 'claude-*=Qwen/Qwen3-8B'``), points ``claude -p`` at it
with the recipe's environment, and scripts the upstream so that the model calls ``Bash``. What is
checked is what a user would see and what the model server would receive: the command really ran
(its file exists), the tool result reached the upstream with the call's id in the upstream's own
schema, the final text was printed, and nothing tried to leave the machine (the proxies point at a
refusing sink that records every attempt).

Claude Code is bounded in time by :func:`run_client`; a run takes a few seconds.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from clients.harness import (
    ClientResult,
    Failure,
    Reasoning,
    RecordedRequest,
    RefusingSink,
    Schema,
    ScriptedUpstream,
    Text,
    ToolCall,
    Turn,
    client_binary,
    client_env,
    refusing_sink,
    run_client,
    serve,
    serve_cli,
)

pytestmark = pytest.mark.slow

UPSTREAM_MODEL = "Qwen/Qwen3-8B"
#: The README's recipe, less the port (the harness picks a free one).
RECIPE = ["--upstream", "chat", "--model-map", f"claude-*={UPSTREAM_MODEL}"]
#: What the README's recipe sets, plus the switches that keep Claude Code quiet and local.
CLAUDE_ENV = {
    "ANTHROPIC_API_KEY": "unused",
    "CLAUDE_CODE_MAX_OUTPUT_TOKENS": "8192",
    "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
    "DISABLE_TELEMETRY": "1",
    "DISABLE_ERROR_REPORTING": "1",
    "DISABLE_AUTOUPDATER": "1",
}
COMMAND = "echo made-by-claude > created.txt && cat created.txt"
FINAL = "All done: the file is there."


@dataclass
class Rig:
    """One proxy over one scripted upstream, and a throwaway home and project directory."""

    upstream: ScriptedUpstream
    proxy_url: str
    sink: RefusingSink
    home: Path
    project: Path

    def claude(self, prompt: str, *args: str, extra_env: dict[str, str] | None = None) -> ClientRun:
        env = client_env(self.home, self.sink.url, {**CLAUDE_ENV, "ANTHROPIC_BASE_URL": self.proxy_url})
        env.update(extra_env or {})
        argv = [str(client_binary("claude")), "-p", prompt, "--output-format", "stream-json", "--verbose"]
        argv += ["--allowedTools", "Bash", *args]
        return ClientRun(run_client(argv, env=env, cwd=self.project, timeout=120))


@dataclass
class ClientRun:
    result: ClientResult

    @property
    def events(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.result.stdout.splitlines() if line.startswith("{")]

    @property
    def final(self) -> dict[str, Any]:
        finals = [event for event in self.events if event.get("type") == "result"]
        assert finals, f"no result event\n{self.result.stdout[-3000:]}\n{self.result.stderr[-3000:]}"
        return finals[-1]

    def assert_succeeded(self, text: str) -> None:
        final = self.final
        assert (self.result.returncode, final["is_error"], final["result"]) == (0, False, text), final

    def blocks(self, kind: str) -> list[dict[str, Any]]:
        """Content blocks of ``kind`` in the assistant messages Claude Code printed."""
        return [
            block
            for event in self.events
            if event.get("type") == "assistant"
            for block in event["message"]["content"]
            if block.get("type") == kind
        ]


@pytest.fixture
def rig_factory(tmp_path: Path) -> Iterator[Any]:
    """``make(schema, turns, *cli_args)`` -> a :class:`Rig`; everything stops when the test ends."""
    stack: list[Any] = []

    def make(schema: Schema, turns: list[Turn | Failure], *cli_args: str) -> Rig:
        upstream = ScriptedUpstream(schema, turns, models=(UPSTREAM_MODEL,))
        sink_cm = refusing_sink()
        sink = sink_cm.__enter__()
        stack.append(sink_cm)
        upstream_cm = serve(upstream)
        upstream_url = upstream_cm.__enter__()
        stack.append(upstream_cm)
        argv = [*RECIPE, *cli_args, "--upstream-url", upstream_url + "/v1"]
        argv[argv.index("chat")] = schema
        proxy_cm = serve_cli(argv)
        proxy_url = proxy_cm.__enter__()
        stack.append(proxy_cm)
        project = tmp_path / "project"
        project.mkdir(exist_ok=True)
        return Rig(upstream, proxy_url, sink, tmp_path / "home", project)

    yield make
    for cm in reversed(stack):
        cm.__exit__(None, None, None)


BASH_CALL = ToolCall("Bash", {"command": COMMAND, "description": "Create the file"}, id="call_bash_1")


def tool_loop(schema: Schema) -> list[Turn | Failure]:
    return [Turn(BASH_CALL), Turn(Text(FINAL))]


def conversation(schema: Schema, request: RecordedRequest) -> list[dict[str, Any]]:
    body = request.body
    return list(body["messages"] if schema == "chat" else body["input"])


def tool_results(schema: Schema, request: RecordedRequest) -> dict[str, str]:
    """call id -> result text, in the upstream's own schema."""
    items = conversation(schema, request)
    if schema == "chat":
        return {m["tool_call_id"]: m["content"] for m in items if m.get("role") == "tool"}
    return {i["call_id"]: str(i["output"]) for i in items if i.get("type") == "function_call_output"}


def tool_calls(schema: Schema, request: RecordedRequest) -> list[str]:
    items = conversation(schema, request)
    if schema == "chat":
        return [c["id"] for m in items for c in m.get("tool_calls") or []]
    return [i["call_id"] for i in items if i.get("type") == "function_call"]


def system_texts(schema: Schema, request: RecordedRequest) -> list[tuple[int, str]]:
    """(position in the conversation, text) of every system message that went up."""
    out = []
    for position, item in enumerate(conversation(schema, request)):
        if item.get("role") in ("system", "developer"):
            content = item["content"]
            out.append((position, content if isinstance(content, str) else json.dumps(content)))
    return out


def assert_tool_loop(rig: Rig, run: ClientRun, schema: Schema) -> None:
    call_id = BASH_CALL.id
    run.assert_succeeded(FINAL)
    assert (rig.project / "created.txt").read_text() == "made-by-claude\n"
    first, second = rig.upstream.turn_requests[-2:]
    assert tool_calls(schema, second) == [call_id]
    assert "made-by-claude" in tool_results(schema, second)[call_id]
    assert [block["id"] for block in run.blocks("tool_use")] == [call_id]
    for request in (first, second):
        assert request.body["model"] == UPSTREAM_MODEL
        sent = json.dumps(request.body)
        assert "x-anthropic-billing-header" not in sent  # dropped toward a non-Anthropic upstream
        # Claude Code's environment block is a system message after the first user turn: kept there.
        positions = [position for position, text in system_texts(schema, request) if text.startswith("# Environment")]
        first_user = next(i for i, m in enumerate(conversation(schema, request)) if m.get("role") == "user")
        assert positions == [first_user + 1]
    assert rig.sink.attempts == []


@pytest.mark.parametrize("schema", ["chat", "responses"])
@pytest.mark.parametrize("model", [None, UPSTREAM_MODEL], ids=["default-model", "custom-model"])
def test_a_bash_tool_loop(rig_factory: Any, schema: Schema, model: str | None) -> None:
    rig = rig_factory(schema, tool_loop(schema))
    args = ["--model", model] if model else []
    run = rig.claude("Create created.txt with the words made-by-claude in it.", *args)
    assert_tool_loop(rig, run, schema)
    assert rig.upstream.turns_left == 0


@pytest.mark.parametrize("schema", ["chat", "responses"])
def test_continue_extends_the_previous_conversation_byte_for_byte(rig_factory: Any, schema: Schema) -> None:
    rig = rig_factory(schema, [*tool_loop(schema), Turn(Text("Bye."))])
    assert_tool_loop(rig, rig.claude("Create created.txt with the words made-by-claude in it."), schema)
    again = rig.claude("Now say bye.", "--continue")
    again.assert_succeeded("Bye.")
    turns = rig.upstream.turn_requests
    assert len(turns) == 3
    key = "messages" if schema == "chat" else "input"
    for before, after in zip(turns, turns[1:], strict=False):  # each request extends the previous one
        old, new = before.body[key], after.body[key]
        assert [json.dumps(m) for m in new[: len(old)]] == [json.dumps(m) for m in old]
        rest = [{k: v for k, v in turn.body.items() if k != key} for turn in (before, after)]
        assert json.dumps(rest[1]) == json.dumps(rest[0])
    assert "Now say bye." in json.dumps(turns[2].body[key][-1])


@pytest.mark.parametrize("schema", ["chat", "responses"])
def test_thinking_goes_up_as_reasoning_and_comes_back(rig_factory: Any, schema: Schema) -> None:
    # A Responses upstream signs its reasoning (encrypted_content): Claude Code must replay it.
    signature = "enc-reasoning-1" if schema == "responses" else ""
    script: list[Turn | Failure] = [
        Turn(Reasoning("The user wants a file; Bash can make it.", signature=signature), BASH_CALL),
        Turn(Reasoning("It worked."), Text(FINAL)),
    ]
    rig = rig_factory(schema, script)
    prompt = "Create created.txt with the words made-by-claude in it."
    run = rig.claude(prompt, extra_env={"MAX_THINKING_TOKENS": "4096"})
    assert_tool_loop(rig, run, schema)
    assert [block["thinking"] for block in run.blocks("thinking")] == [
        "The user wants a file; Bash can make it.",
        "It worked.",
    ]
    first, second = rig.upstream.turn_requests
    if schema == "chat":
        assert first.body["reasoning_effort"] in ("low", "medium", "high")
        replayed = [m for m in second.body["messages"] if m.get("role") == "assistant"]
        assert replayed[0]["reasoning_content"] == "The user wants a file; Bash can make it."
    else:
        assert first.body["reasoning"]["effort"] in ("low", "medium", "high")
        assert first.body["include"] == ["reasoning.encrypted_content"]
        items = second.body["input"]
        reasoning = [i for i in items if i.get("type") == "reasoning"]
        assert [r["encrypted_content"] for r in reasoning] == [signature]
        assert items[items.index(reasoning[0]) + 1]["call_id"] == BASH_CALL.id  # right before its call


VLLM_OVERFLOW = {
    "object": "error",
    "message": "This model's maximum context length is 16384 tokens. However, you requested 20192 tokens "
    "(12000 in the messages, 8192 in the completion). Please reduce the length of the messages or completion.",
    "type": "BadRequestError",
    "param": None,
    "code": 400,
}


def test_a_context_overflow_is_retried_with_a_smaller_max_tokens(rig_factory: Any) -> None:
    rig = rig_factory("chat", [Failure(400, VLLM_OVERFLOW), *tool_loop("chat")])
    run = rig.claude("Create created.txt with the words made-by-claude in it.")
    assert_tool_loop(rig, run, "chat")
    overflowed, retried, _ = rig.upstream.turn_requests
    assert overflowed.body["max_tokens"] == 8192
    # Claude Code's own rule on Anthropic's wording: context limit - input - 1000.
    assert retried.body["max_tokens"] == 16384 - 12000 - 1000
