"""The client harness checked against the project's stream-grammar validators and over real sockets.

The scripted upstream is the oracle the real-client tests trust, so its native emitters must be
valid for their schema: each turn shape (text, tool calls, reasoning) streamed and whole passes the
validator of its schema. The sink must refuse, and a missing client must skip (or fail under CI).
"""

from __future__ import annotations

import json
import socket
from pathlib import Path

import httpx
import pytest
from validators.chat import validate_chat_json, validate_chat_stream
from validators.messages import validate_messages_json, validate_messages_stream
from validators.responses import validate_responses_stream

from clients.harness import (
    Failure,
    Reasoning,
    ScriptedUpstream,
    Text,
    ToolCall,
    Turn,
    chat_json,
    chat_stream,
    client_binary,
    client_env,
    messages_json,
    messages_stream,
    refusing_sink,
    responses_stream,
    serve,
)

TURNS = [
    Turn(Text("Hello there, how are you?")),
    Turn(ToolCall("Bash", {"command": "touch x"}, id="call_a")),
    Turn(Reasoning("Let me think.", signature="sig-1"), Text("Done"), ToolCall("Read", "{}", id="call_b")),
]


@pytest.mark.parametrize("turn", TURNS)
def test_chat_emitters_follow_the_grammar(turn: Turn) -> None:
    summary = validate_chat_stream(b"".join(chat_stream(turn, "m", 1, include_usage=True)))
    assert summary.text == "".join(p.text for p in turn.parts if isinstance(p, Text))
    assert [(c.id, c.name) for c in summary.tool_calls] == [
        (p.id, p.name) for p in turn.parts if isinstance(p, ToolCall)
    ]
    whole = validate_chat_json(chat_json(turn, "m", 1))
    assert [c.arguments for c in whole.tool_calls] == [c.arguments for c in summary.tool_calls]


@pytest.mark.parametrize("turn", TURNS)
def test_messages_emitters_follow_the_grammar(turn: Turn) -> None:
    summary = validate_messages_stream(b"".join(messages_stream(turn, "m", 1)))
    assert summary.stop_reason == ("tool_use" if turn.calls_tools else "end_turn")
    assert summary.reasoning == "".join(p.text for p in turn.parts if isinstance(p, Reasoning))
    assert validate_messages_json(messages_json(turn, "m", 1)).text == summary.text


@pytest.mark.parametrize("turn", TURNS)
def test_responses_emitters_follow_the_grammar(turn: Turn) -> None:
    events = validate_responses_stream(b"".join(responses_stream(turn, "m", 1)))
    final = events[-1]["response"]["output"]
    assert [item["type"] for item in final] == [
        {"Text": "message", "ToolCall": "function_call", "Reasoning": "reasoning"}[type(p).__name__] for p in turn.parts
    ]


def test_the_upstream_plays_its_script_records_and_fails_when_it_runs_out() -> None:
    side_turn = Turn(Text("side"))
    upstream = ScriptedUpstream(
        "chat",
        [Turn(Text("one")), Failure(400, {"error": {"message": "too long", "type": "invalid_request_error"}})],
        side=lambda body: body.get("model") == "side",
        side_reply=side_turn,
    )
    with serve(upstream) as url:

        def post(model: str) -> httpx.Response:
            return httpx.post(url + "/v1/chat/completions", json={"model": model, "messages": []})

        assert post("m").json()["choices"][0]["message"]["content"] == "one"
        assert post("side").json()["choices"][0]["message"]["content"] == "side"
        failed = post("m")
        assert (failed.status_code, failed.json()["error"]["message"]) == (400, "too long")
        assert post("m").status_code == 500
        assert httpx.get(url + "/v1/models").json()["data"][0]["id"] == "scripted-model"
    assert [r.body["model"] for r in upstream.turn_requests] == ["m", "m", "m"]
    assert len(upstream.side_requests) == 1 and len(upstream.requests) == 5


def test_the_sink_refuses_plain_and_connect_requests() -> None:
    with refusing_sink() as sink:
        port = int(sink.url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
            conn.sendall(b"CONNECT example.invalid:443 HTTP/1.1\r\nhost: example.invalid:443\r\n\r\n")
            assert conn.recv(100).startswith(b"HTTP/1.1 403")
        with pytest.raises(httpx.ProxyError):
            httpx.get("https://example.invalid/", proxy=sink.url, timeout=5)
    assert sink.attempts[0].startswith("CONNECT example.invalid:443")


def test_the_env_is_fresh_and_points_every_proxy_at_the_sink(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-real-key-from-the-shell")
    env = client_env(tmp_path / "home", "http://127.0.0.1:9", {"X": "1"})
    assert "ANTHROPIC_API_KEY" not in env and env["X"] == "1"
    assert env["HOME"] == str(tmp_path / "home") and (tmp_path / "home" / ".config").is_dir()
    assert {env[k] for k in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "ALL_PROXY")} == {"http://127.0.0.1:9"}
    assert env["NO_PROXY"] == "127.0.0.1,localhost"
    json.dumps(env)


def test_a_missing_client_skips_outside_ci_and_fails_in_ci(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASGI_TRANSLATE_CLIENTS", str(tmp_path))
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception):
        client_binary("no-such-client")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception):
        client_binary("no-such-client")
