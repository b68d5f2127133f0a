"""The real Codex CLI (``codex exec``, pinned in .ci/run) through ``asgi-translate`` over chat and
Messages upstreams.

Each scenario is one configuration a user has: the README's ``config.toml`` (a model from Codex's
catalog, which sends function tools, a freeform ``apply_patch`` with a lark grammar, a client-run
``tool_search`` and the hosted ``web_search``), the catalog's code-mode family picked with ``-m``
and no model at all (Codex's default: ``tools`` absent, every tool in an ``additional_tools`` input
item, grouped in ``namespace`` tools, shell and patch reached through a JavaScript ``exec`` tool),
and a model Codex does not know (fallback metadata: a ``namespace`` tool and ``web_search``).

The scripted upstream makes Codex run its shell tool and apply a patch; the test checks the effects
on disk, that each tool output reached the upstream in the upstream's own schema under the call id
the model gave, and that Codex printed the model's final answer. A compaction scenario makes Codex
summarise mid-task (``tools: []`` over a history of tool calls) and checks what the upstream got.

Codex runs with a throwaway ``CODEX_HOME``, update checks and analytics off, and its proxies at a
sink that refuses everything, so nothing leaves the machine.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import tomllib

from clients.harness import (
    RecordedRequest,
    RefusingSink,
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

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
CODEX_TIMEOUT = 90.0
COMMAND = "echo hello-from-codex > ran.txt && echo command-ran"
PATCH = "*** Begin Patch\n*** Add File: patched.txt\n+written by apply_patch\n*** End Patch\n"
ANSWER = "All done: ran.txt and patched.txt are in place."


@pytest.fixture
def sink() -> Iterator[RefusingSink]:
    with refusing_sink() as refusing:
        yield refusing


README_MODEL = "readme"


def codex_config(proxy_url: str, *, model: str | None, extra: str = "") -> str:
    """examples/codex_config.toml (what the README tells users to write) pointed at ``proxy_url``,
    with its ``model`` line kept (``README_MODEL``), replaced, or removed (``None``)."""
    text = (EXAMPLES / "codex_config.toml").read_text()
    text = re.sub(r"http://127\.0\.0\.1:\d+/v1", f"{proxy_url}/v1", text)
    if model is None:
        text = re.sub(r"(?m)^model = .*\n", "", text)
    elif model != README_MODEL:
        text = re.sub(r'(?m)^model = ".*"$', f'model = "{model}"', text)
    return extra + text


@dataclass
class CodexRun:
    events: list[dict[str, Any]]
    stdout: str
    stderr: str
    workdir: Path

    @property
    def answers(self) -> list[str]:
        return [
            event["item"]["text"]
            for event in self.events
            if event.get("type") == "item.completed" and event["item"].get("type") == "agent_message"
        ]

    @property
    def commands(self) -> list[dict[str, Any]]:
        return [
            event["item"]
            for event in self.events
            if event.get("type") == "item.completed" and event["item"].get("type") == "command_execution"
        ]


def run_codex(
    tmp_path: Path,
    sink: RefusingSink,
    proxy_url: str,
    *,
    model: str | None = README_MODEL,
    args: Sequence[str] = (),
    extra_config: str = "",
    prompt: str = "Create ran.txt with a shell command, then add patched.txt with apply_patch.",
) -> CodexRun:
    home = tmp_path / "home"
    codex_home = home / ".codex"
    codex_home.mkdir(parents=True)
    (codex_home / "config.toml").write_text(codex_config(proxy_url, model=model, extra=extra_config))
    workdir = tmp_path / "work"
    workdir.mkdir()
    env = client_env(home, sink.url, {"CODEX_HOME": str(codex_home), "ASGI_TRANSLATE_API_KEY": "unused"})
    argv = [
        str(client_binary("codex")),
        "exec",
        "--json",
        "--skip-git-repo-check",
        "--dangerously-bypass-approvals-and-sandbox",
        # No retries: a request the proxy refuses must fail the test at once, not after backoff.
        "-c",
        "model_providers.asgi-translate.request_max_retries=0",
        "-c",
        "model_providers.asgi-translate.stream_max_retries=0",
        *args,
        prompt,
    ]
    result = run_client(argv, env=env, cwd=workdir, timeout=CODEX_TIMEOUT)
    events = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    run = CodexRun(events, result.stdout, result.stderr, workdir)
    output = f"--- stdout\n{result.stdout[-6000:]}\n--- stderr\n{result.stderr[-3000:]}"
    assert result.returncode == 0, f"codex failed\n{output}"
    return run


def proxy_args(upstream_url: str, schema: str) -> list[str]:
    """The README's proxy command: ``asgi-translate --upstream-url ... --upstream ... --model-map``."""
    return ["--upstream-url", f"{upstream_url}/v1", "--upstream", schema, "--model-map", "*=scripted-model"]


def call(schema: str, name: str, arguments: dict[str, Any], call_id: str) -> ToolCall:
    return ToolCall(name, arguments, id=call_id)


def tool_results(request: RecordedRequest, schema: str) -> dict[str, str]:
    """call id -> the tool output text, read from an upstream request in its own schema."""
    body = request.body
    found: dict[str, str] = {}
    if schema == "chat":
        for message in body["messages"]:
            if message["role"] == "tool":
                content = message["content"]
                text = content if isinstance(content, str) else "".join(p.get("text", "") for p in content)
                found[message["tool_call_id"]] = text
    else:
        for message in body["messages"]:
            if message["role"] != "user" or isinstance(message["content"], str):
                continue
            for block in message["content"]:
                if block["type"] == "tool_result":
                    content = block.get("content", "")
                    text = content if isinstance(content, str) else "".join(p.get("text", "") for p in content)
                    found[block["tool_use_id"]] = text
    return found


def tool_names(request: RecordedRequest, schema: str) -> list[str]:
    tools = request.body.get("tools") or []
    return [tool["function"]["name"] if schema == "chat" else tool["name"] for tool in tools]


def assert_valid_tool_names(request: RecordedRequest, schema: str) -> None:
    """Every tool name is one the upstream accepts: OpenAI 64 of [a-zA-Z0-9_-], Anthropic 128."""
    limit = 64 if schema == "chat" else 128
    for name in tool_names(request, schema):
        assert re.fullmatch(rf"[a-zA-Z0-9_-]{{1,{limit}}}", name), name


SCHEMAS = ["chat", "messages"]


# -- the README configuration: a catalog model with function + freeform tools ---------------------


@pytest.mark.parametrize("schema", SCHEMAS)
def test_readme_configuration_runs_shell_and_apply_patch(tmp_path: Path, sink: RefusingSink, schema: str) -> None:
    upstream = ScriptedUpstream(
        schema,  # type: ignore[arg-type]
        [
            Turn(call(schema, "exec_command", {"cmd": COMMAND}, "call_exec_1")),
            Turn(call(schema, "apply_patch", {"input": PATCH}, "call_patch_1")),
            Turn(Text(ANSWER)),
        ],
    )
    with serve(upstream) as upstream_url, serve_cli(proxy_args(upstream_url, schema)) as proxy_url:
        run = run_codex(tmp_path, sink, proxy_url)

    assert (run.workdir / "ran.txt").read_text() == "hello-from-codex\n"
    assert (run.workdir / "patched.txt").read_text() == "written by apply_patch\n"
    assert run.answers[-1] == ANSWER
    first, second, third = upstream.turn_requests
    names = tool_names(first, schema)
    assert {"exec_command", "apply_patch", "tool_search"} <= set(names)
    assert "web_search" not in names  # hosted: dropped and reported
    for request in (first, second, third):
        assert_valid_tool_names(request, schema)
    assert "command-ran" in tool_results(second, schema)["call_exec_1"]
    assert "patched.txt" in tool_results(third, schema)["call_patch_1"]
    # Codex reaches for outside hosts at start (plugins, its model list) even so: each attempt came
    # to the sink as a CONNECT and was refused; the proxy's own traffic never went through it.
    assert all(line.startswith("CONNECT ") and "127.0.0.1" not in line for line in sink.attempts), sink.attempts


@pytest.mark.parametrize("schema", SCHEMAS)
def test_client_run_tool_search_loads_deferred_tools(tmp_path: Path, sink: RefusingSink, schema: str) -> None:
    """gpt-5.5's ``tool_search`` (execution client): the model's call goes back to Codex as a
    ``tool_search_call``, Codex runs the search, and the tools it found (its deferred
    ``multi_agent_v1`` namespace) are callable on the next turn."""
    upstream = ScriptedUpstream(
        schema,  # type: ignore[arg-type]
        [
            Turn(call(schema, "tool_search", {"query": "spawn a sub-agent", "limit": 3}, "call_search_1")),
            Turn(Text(ANSWER)),
        ],  # fmt: skip
    )
    with serve(upstream) as upstream_url, serve_cli(proxy_args(upstream_url, schema)) as proxy_url:
        run = run_codex(tmp_path, sink, proxy_url, prompt="Find a tool that spawns agents.")

    assert run.answers[-1] == ANSWER
    first, second = upstream.turn_requests
    assert not any(name.startswith("multi_agent_v1__") for name in tool_names(first, schema))
    loaded = [name for name in tool_names(second, schema) if name.startswith("multi_agent_v1__")]
    assert "multi_agent_v1__spawn_agent" in loaded
    found = tool_results(second, schema)["call_search_1"]
    assert found.startswith("Tools found: ") and "multi_agent_v1__spawn_agent" in found
    assert_valid_tool_names(second, schema)


# -- the code-mode family (-m) and no model at all: additional_tools + namespaces ------------------


def js_exec() -> str:
    return (
        f"const r = await tools.exec_command({{cmd: {json.dumps(COMMAND)}}});\n"
        "text(r.output);\n"
        f"const p = await tools.apply_patch({json.dumps(PATCH)});\n"
        "text(JSON.stringify(p));\n"
    )


@pytest.mark.parametrize("schema", SCHEMAS)
@pytest.mark.parametrize("model", [None, "gpt-5.6-sol"], ids=["no-model", "catalog-code-mode"])
def test_additional_tools_and_namespaces(tmp_path: Path, sink: RefusingSink, schema: str, model: str | None) -> None:
    upstream = ScriptedUpstream(
        schema,  # type: ignore[arg-type]
        [Turn(call(schema, "functions__exec", {"input": js_exec()}, "call_js_1")), Turn(Text(ANSWER))],
    )
    args = [] if model is None else ["-m", model]
    with serve(upstream) as upstream_url, serve_cli(proxy_args(upstream_url, schema)) as proxy_url:
        run = run_codex(tmp_path, sink, proxy_url, model=None, args=args)

    assert (run.workdir / "ran.txt").read_text() == "hello-from-codex\n"
    assert (run.workdir / "patched.txt").read_text() == "written by apply_patch\n"
    assert run.answers[-1] == ANSWER
    first, second = upstream.turn_requests
    names = tool_names(first, schema)
    assert "functions__exec" in names and "collaboration__spawn_agent" in names
    assert_valid_tool_names(first, schema)
    output = tool_results(second, schema)["call_js_1"]
    assert "command-ran" in output


# -- a model Codex does not know: fallback metadata, a namespace tool, web_search -----------------


@pytest.mark.parametrize("schema", SCHEMAS)
def test_unknown_model_with_a_namespace_tool(tmp_path: Path, sink: RefusingSink, schema: str) -> None:
    upstream = ScriptedUpstream(
        schema,  # type: ignore[arg-type]
        [Turn(call(schema, "exec_command", {"cmd": COMMAND}, "call_exec_1")), Turn(Text(ANSWER))],
    )
    with serve(upstream) as upstream_url, serve_cli(proxy_args(upstream_url, schema)) as proxy_url:
        run = run_codex(tmp_path, sink, proxy_url, model="Qwen3-Coder")

    assert (run.workdir / "ran.txt").read_text() == "hello-from-codex\n"
    assert run.answers[-1] == ANSWER
    first, second = upstream.turn_requests
    assert "multi_agent_v1__spawn_agent" in tool_names(first, schema)
    assert "command-ran" in tool_results(second, schema)["call_exec_1"]


# -- strict mode: Codex's hints pass, answer-changing losses are refused ------------------------------


def test_strict_mode_with_codex(tmp_path: Path, sink: RefusingSink) -> None:
    """With web search off and a model name outside Codex's catalog (no grammar tool, no verbosity),
    everything Codex sends either maps or is a hint (prompt_cache_key, client_metadata)."""
    upstream = ScriptedUpstream(
        "chat", [Turn(call("chat", "exec_command", {"cmd": COMMAND}, "call_exec_1")), Turn(Text(ANSWER))]
    )
    with serve(upstream) as upstream_url, serve_cli([*proxy_args(upstream_url, "chat"), "--strict"]) as proxy_url:
        run = run_codex(tmp_path, sink, proxy_url, model="Qwen3-Coder", extra_config='web_search = "disabled"\n')

    assert (run.workdir / "ran.txt").read_text() == "hello-from-codex\n"
    assert run.answers[-1] == ANSWER
    assert "command-ran" in tool_results(upstream.turn_requests[1], "chat")["call_exec_1"]


def test_strict_mode_refuses_what_would_change_the_answer(tmp_path: Path, sink: RefusingSink) -> None:
    """Codex's hosted web search cannot run upstream: strict refuses, naming it, and Codex says so."""
    upstream = ScriptedUpstream("chat", [Turn(Text(ANSWER))])
    with serve(upstream) as upstream_url, serve_cli([*proxy_args(upstream_url, "chat"), "--strict"]) as proxy_url:
        home = tmp_path / "home" / ".codex"
        home.mkdir(parents=True)
        (home / "config.toml").write_text(codex_config(proxy_url, model="Qwen3-Coder"))
        env = client_env(tmp_path / "home", sink.url, {"CODEX_HOME": str(home), "ASGI_TRANSLATE_API_KEY": "unused"})
        argv = [str(client_binary("codex")), "exec", "--json", "--skip-git-repo-check", "-c",
                "model_providers.asgi-translate.request_max_retries=0", "hi"]  # fmt: skip
        result = run_client(argv, env=env, cwd=tmp_path, timeout=CODEX_TIMEOUT)
    assert result.returncode != 0
    assert "strict mode" in result.stdout and "web_search tool" in result.stdout
    assert upstream.turn_requests == []


# -- compaction: tools: [] over a history of tool calls -------------------------------------------


@pytest.mark.parametrize("schema", SCHEMAS)
def test_compaction_mid_task(tmp_path: Path, sink: RefusingSink, schema: str) -> None:
    upstream = ScriptedUpstream(
        schema,  # type: ignore[arg-type]
        [
            Turn(call(schema, "exec_command", {"cmd": COMMAND}, "call_exec_1"), input_tokens=60_000),
            Turn(Text("SUMMARY: the command ran; next, finish.")),
            Turn(Text(ANSWER)),
        ],
    )
    with serve(upstream) as upstream_url, serve_cli(proxy_args(upstream_url, schema)) as proxy_url:
        run = run_codex(tmp_path, sink, proxy_url, extra_config="model_auto_compact_token_limit = 20000\n")

    assert (run.workdir / "ran.txt").read_text() == "hello-from-codex\n"
    assert run.answers[-1] == ANSWER
    _, compaction, after = upstream.turn_requests
    body = compaction.body
    assert "CONTEXT CHECKPOINT COMPACTION" in json.dumps(body)
    assert "command-ran" in tool_results(compaction, schema)["call_exec_1"]
    if schema == "chat":
        # vLLM: "When using `tool_choice`, `tools` must be set."
        assert "tools" not in body and "tool_choice" not in body and "parallel_tool_calls" not in body
    else:
        # Anthropic: "Requests which include `tool_use` or `tool_result` blocks must define tools."
        assert tool_names(compaction, schema) == ["exec_command"]
        assert body["tool_choice"] == {"type": "none"}
    assert "SUMMARY: the command ran" in json.dumps(after.body)


def test_readme_config_is_the_example_file() -> None:
    """The README's Codex block is examples/codex_config.toml, which the tests above run."""
    readme = (EXAMPLES.parent / "README.md").read_text()
    config = (EXAMPLES / "codex_config.toml").read_text()
    parsed = tomllib.loads(config)
    assert parsed["model_providers"]["asgi-translate"]["wire_api"] == "responses"
    assert parsed["check_for_update_on_startup"] is False
    assert parsed["analytics"]["enabled"] is False
    body = "\n".join(line for line in config.splitlines() if not line.startswith("#"))
    assert body.strip() in readme
