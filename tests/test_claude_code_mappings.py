"""The mappings Claude Code and the Anthropic SDKs depend on, request by request, in process.

- System messages anywhere in ``messages[]`` (``mid-conversation-system-2026-04-07``): what goes up
  for each position, toward each upstream; chat and Responses clients' later system/developer
  messages toward Messages (folded into ``system`` and reported, or in place under the beta).
- ``thread`` refused the way the SDKs fall back on; the billing-header system block dropped.
- Context overflows said in the client's words, both ways; ``max_tokens_cap``.
- User ids held to what the upstream's spec takes.

The real clients are driven in ``tests/clients``; these pin each mapping with concrete values.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import anyio
import httpx
import pytest
from clients.harness import Failure, RecordedRequest, ScriptedUpstream, Text, Turn

from asgi_translate import TranslateMiddleware
from asgi_translate._hub import overflow
from asgi_translate._hub.errors import ContextOverflow, ErrorInfo
from asgi_translate.cli import build_app, build_parser

PATHS = {"chat": "/v1/chat/completions", "messages": "/v1/messages", "responses": "/v1/responses"}
BILLING = "x-anthropic-billing-header: cc_version=2.1.332.3f6; cc_entrypoint=sdk-cli;"
CLAUDE_USER_ID = json.dumps({"device_id": "3f" * 32, "account_uuid": "", "session_id": "db15f0f3-ef34-4c66-9437"})


def exchange(
    client: str,
    upstream: str,
    body: dict[str, Any],
    *,
    turns: list[Turn | Failure] | None = None,
    headers: dict[str, str] | None = None,
    **options: Any,
) -> tuple[httpx.Response, list[RecordedRequest]]:
    """One request from ``client`` through the middleware to a scripted ``upstream``."""
    model = ScriptedUpstream(upstream, turns or [Turn(Text("ok"))])  # type: ignore[arg-type]
    app = TranslateMiddleware(model, upstream=upstream, **options)  # type: ignore[arg-type]
    answers: list[httpx.Response] = []

    async def send() -> None:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://proxy") as http:
            answers.append(await http.post(PATHS[client], json=body, headers=headers or {}))

    anyio.run(send)
    return answers[0], model.turn_requests


def claude_code_body(**extra: Any) -> dict[str, Any]:
    """The shape of Claude Code 2.1.332's first request (captured), trimmed."""
    return {
        "model": "claude-opus-5-5",
        "max_tokens": 32000,
        "system": [
            {"type": "text", "text": BILLING},
            {"type": "text", "text": "You are a Claude agent.", "cache_control": {"type": "ephemeral"}},
        ],
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "create the file please"}]},
            {"role": "system", "content": [{"type": "text", "text": "# Environment\nPlatform: linux"}]},
        ],
        "metadata": {"user_id": CLAUDE_USER_ID},
        "stream": False,
        **extra,
    }


# -- system messages anywhere -----------------------------------------------------------------------


def test_claude_code_first_request_over_chat_keeps_the_system_message_in_place() -> None:
    answer, sent = exchange("messages", "chat", claude_code_body())
    assert answer.status_code == 200, answer.text
    assert sent[0].body["messages"] == [
        {"role": "system", "content": "You are a Claude agent."},
        {"role": "user", "content": "create the file please"},
        {"role": "system", "content": "# Environment\nPlatform: linux"},
    ]
    losses = answer.headers["x-asgi-translate-losses"]
    assert "x-anthropic-billing-header" in losses


@pytest.mark.parametrize("position", [0, 1, 2, 3])
@pytest.mark.parametrize("upstream", ["chat", "responses"])
def test_a_messages_system_message_goes_up_where_it_was(upstream: str, position: int) -> None:
    turns: list[dict[str, Any]] = [
        {"role": "user", "content": "one"},
        {"role": "assistant", "content": "two"},
        {"role": "user", "content": "three"},
    ]
    turns.insert(position, {"role": "system", "content": "rule"})
    answer, sent = exchange("messages", upstream, {"model": "m", "max_tokens": 100, "messages": turns})
    assert answer.status_code == 200, answer.text
    key = "messages" if upstream == "chat" else "input"
    roles = [item["role"] for item in sent[0].body[key]]
    expected = ["user", "assistant", "user"]
    expected.insert(position, "system")
    assert roles == expected
    item = sent[0].body[key][position]
    assert item == {"role": "system", "content": "rule"}
    assert "instructions" not in sent[0].body and "x-asgi-translate-losses" not in answer.headers


def test_system_message_content_as_blocks_or_string_goes_up_the_same() -> None:
    as_blocks = claude_code_body()
    as_string = claude_code_body()
    as_string["messages"][1]["content"] = "# Environment\nPlatform: linux"
    bodies = [exchange("messages", "chat", body)[1][0].body for body in (as_blocks, as_string)]
    assert json.dumps(bodies[0]) == json.dumps(bodies[1])


CHAT_LATER_SYSTEM = {
    "model": "m",
    "messages": [
        {"role": "system", "content": "prompt"},
        {"role": "user", "content": "one"},
        {"role": "developer", "content": "later rule"},
        {"role": "assistant", "content": "two"},
        {"role": "user", "content": "three"},
    ],
}


def test_chat_later_system_messages_toward_messages_are_folded_into_system_and_reported() -> None:
    answer, sent = exchange("chat", "messages", CHAT_LATER_SYSTEM)
    assert answer.status_code == 200, answer.text
    body = sent[0].body
    assert body["system"] == [{"type": "text", "text": "prompt"}, {"type": "text", "text": "later rule"}]
    assert [m["role"] for m in body["messages"]] == ["user", "assistant", "user"]
    assert "mid-conversation system message folded into system" in answer.headers["x-asgi-translate-losses"]


def test_chat_later_system_messages_toward_messages_stay_in_place_under_the_beta() -> None:
    headers = {"anthropic-beta": "context-1m-2025-08-07, mid-conversation-system-2026-04-07"}
    answer, sent = exchange("chat", "messages", CHAT_LATER_SYSTEM, headers=headers)
    body = sent[0].body
    assert body["system"] == [{"type": "text", "text": "prompt"}]
    assert body["messages"][1] == {"role": "system", "content": [{"type": "text", "text": "later rule"}]}
    assert sent[0].headers["anthropic-beta"] == headers["anthropic-beta"]  # it goes up with the request
    assert "x-asgi-translate-losses" not in answer.headers


def test_responses_later_developer_messages_follow_the_same_rule() -> None:
    body = {
        "model": "m",
        "instructions": "prompt",
        "input": [{"role": "user", "content": "one"}, {"role": "developer", "content": "later"}],
    }
    _, folded = exchange("responses", "messages", body)
    assert folded[0].body["system"] == [{"type": "text", "text": "prompt"}, {"type": "text", "text": "later"}]
    _, chat = exchange("responses", "chat", body)
    assert chat[0].body["messages"] == [
        {"role": "system", "content": "prompt"},
        {"role": "user", "content": "one"},
        {"role": "system", "content": "later"},
    ]


def test_a_system_message_among_tool_results_follows_them() -> None:
    body = {
        "model": "m",
        "messages": [
            {"role": "user", "content": "go"},
            {
                "role": "assistant",
                "tool_calls": [
                    {"id": f"c{i}", "type": "function", "function": {"name": "f", "arguments": "{}"}} for i in (1, 2)
                ],
            },
            {"role": "tool", "tool_call_id": "c1", "content": "one"},
            {"role": "system", "content": "note"},
            {"role": "tool", "tool_call_id": "c2", "content": "two"},
        ],
    }
    _, sent = exchange("chat", "responses", body)
    kinds = [item.get("type") or item["role"] for item in sent[0].body["input"]]
    assert kinds == ["user", "function_call", "function_call", "function_call_output", "function_call_output", "system"]


# -- thread, billing header, other dropped fields ---------------------------------------------------


def test_thread_is_refused_the_way_the_anthropic_sdks_fall_back_on() -> None:
    body = {
        "model": "m",
        "max_tokens": 100,
        "messages": [{"role": "user", "content": "hi"}],
        "thread": {"type": "create"},
    }
    answer, sent = exchange("messages", "chat", body)
    assert answer.status_code == 400 and sent == []
    error = answer.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["details"] == {"error_code": "thread_unsupported_request", "unsupported": ["thread"]}
    assert "thread" in error["message"]


def test_the_billing_header_goes_to_no_upstream_but_other_system_blocks_do() -> None:
    for upstream in ("chat", "responses"):
        _, sent = exchange("messages", upstream, claude_code_body())
        assert "x-anthropic-billing-header" not in json.dumps(sent[0].body)
        assert "You are a Claude agent." in json.dumps(sent[0].body)


def test_output_config_task_budget_is_reported() -> None:
    body = claude_code_body(output_config={"effort": "medium", "task_budget": {"type": "tokens", "total": 5000}})
    answer, sent = exchange("messages", "chat", body)
    assert sent[0].body["reasoning_effort"] == "medium"
    assert "output_config.task_budget" in answer.headers["x-asgi-translate-losses"]


# -- user ids -----------------------------------------------------------------------------------------


def test_claude_code_user_id_goes_to_chat_as_a_64_character_hash() -> None:
    answer, sent = exchange("messages", "chat", claude_code_body())
    assert len(CLAUDE_USER_ID) > 64
    assert sent[0].body["user"] == hashlib.sha256(CLAUDE_USER_ID.encode()).hexdigest()
    assert "user id" in answer.headers["x-asgi-translate-losses"]


def test_user_ids_toward_responses_are_safety_identifiers_and_short_ones_pass_as_given() -> None:
    _, long_id = exchange("messages", "responses", claude_code_body())
    assert long_id[0].body["safety_identifier"] == hashlib.sha256(CLAUDE_USER_ID.encode()).hexdigest()
    assert "user" not in long_id[0].body
    _, short = exchange(
        "chat", "responses", {"model": "m", "messages": [{"role": "user", "content": "hi"}], "user": "u-1"}
    )
    assert short[0].body["safety_identifier"] == "u-1"


def test_user_ids_toward_messages_may_be_512_characters() -> None:
    chat = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    _, fits = exchange("chat", "messages", {**chat, "user": "u" * 512})
    assert fits[0].body["metadata"] == {"user_id": "u" * 512}
    _, hashed = exchange("chat", "messages", {**chat, "user": "u" * 513})
    assert hashed[0].body["metadata"] == {"user_id": hashlib.sha256(b"u" * 513).hexdigest()}


# -- context overflows --------------------------------------------------------------------------------

VLLM = {
    "object": "error",
    "message": "This model's maximum context length is 32768 tokens. However, you requested 44000 tokens "
    "(12000 in the messages, 32000 in the completion). Please reduce the length of the messages or completion.",
    "type": "BadRequestError",
    "param": None,
    "code": 400,
}
ANTHROPIC_TOO_LONG = {
    "type": "error",
    "error": {"type": "invalid_request_error", "message": "prompt is too long: 210000 tokens > 200000 maximum"},
}


def test_a_vllm_overflow_reaches_a_messages_client_in_anthropic_words() -> None:
    answer, _ = exchange("messages", "chat", claude_code_body(), turns=[Failure(400, VLLM)])
    assert answer.status_code == 400
    assert answer.json()["error"] == {
        "type": "invalid_request_error",
        "message": "input length and `max_tokens` exceed context limit: 12000 + 32000 > 32768, "
        "decrease input length or `max_tokens` and try again",
    }


def test_an_anthropic_overflow_reaches_openai_clients_as_context_length_exceeded() -> None:
    chat = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    for client, body in (("chat", chat), ("responses", {"model": "m", "input": "hi"})):
        answer, _ = exchange(client, "messages", body, turns=[Failure(400, ANTHROPIC_TOO_LONG)])
        assert answer.status_code == 400
        assert answer.json()["error"] == {
            "message": "This model's maximum context length is 200000 tokens. However, your messages resulted in "
            "210000 tokens. Please reduce the length of the messages.",
            "type": "invalid_request_error",
            "param": "messages",
            "code": "context_length_exceeded",
        }


@pytest.mark.parametrize(
    ("status", "body", "max_tokens", "expected"),
    [
        (400, VLLM, 32000, ContextOverflow(32768, 12000, 32000)),
        # vLLM 0.10+: the completion size is in another sentence.
        (
            400,
            {
                "message": "'max_tokens' or 'max_completion_tokens' is too large: 64000. This model's maximum "
                "context length is 32768 tokens and your request has 1200 input tokens (64000 > 32768 - 1200)."
            },
            64000,
            ContextOverflow(32768, 1200, 64000),
        ),
        (
            400,
            {
                "message": "This model's maximum context length is 8192 tokens. However, your request has 9000 "
                "input tokens."
            },
            100,
            ContextOverflow(8192, 9000, 100),
        ),
        # SGLang
        (
            400,
            {
                "message": "Requested token count exceeds the model's maximum context length of 32768 tokens. You "
                "requested a total of 40000 tokens: 8000 tokens from the input messages and 32000 tokens for the "
                "completion. Please reduce the number of tokens in the input messages or the completion to fit "
                "within the limit."
            },
            32000,
            ContextOverflow(32768, 8000, 32000),
        ),
        # llama.cpp server
        (
            400,
            {
                "error": {
                    "code": 400,
                    "message": "the request exceeds the available context size, try increasing it",
                    "type": "exceed_context_size_error",
                    "n_prompt_tokens": 5000,
                    "n_ctx": 4096,
                }
            },
            512,
            ContextOverflow(4096, 5000, 512),
        ),
        # OpenAI
        (
            400,
            {
                "error": {
                    "message": "This model's maximum context length is 128000 tokens. However, your messages "
                    "resulted in 130000 tokens. Please reduce the length of the messages.",
                    "type": "invalid_request_error",
                    "param": "messages",
                    "code": "context_length_exceeded",
                }
            },
            None,
            ContextOverflow(128000, 130000, None),
        ),
        (400, {"error": {"message": "Bad tool schema", "type": "invalid_request_error"}}, 10, None),
        (500, VLLM, 10, None),
    ],
)
def test_overflows_are_recognised_in_each_servers_words(
    status: int, body: dict[str, Any], max_tokens: int | None, expected: ContextOverflow | None
) -> None:
    from asgi_translate.schemas import get_codec

    raw = json.dumps(body).encode()
    error = get_codec("chat").parse_error(status, raw)
    assert overflow.detect(error, raw, max_tokens) == expected


@pytest.mark.parametrize(
    ("found", "anthropic", "openai"),
    [
        (
            ContextOverflow(1000, 1200, 100),
            "prompt is too long: 1200 tokens > 1000 maximum",
            "This model's maximum context length is 1000 tokens. However, your messages resulted in 1200 tokens. "
            "Please reduce the length of the messages.",
        ),
        (
            ContextOverflow(1000, 600, 500),
            "input length and `max_tokens` exceed context limit: 600 + 500 > 1000, decrease input length or "
            "`max_tokens` and try again",
            "This model's maximum context length is 1000 tokens. However, you requested 1100 tokens (600 in the "
            "messages, 500 in the completion). Please reduce the length of the messages or completion.",
        ),
        (ContextOverflow(None, None, None), "prompt is too long: upstream words", "upstream words"),
    ],
)
def test_overflow_wording(found: ContextOverflow, anthropic: str, openai: str) -> None:
    assert overflow.anthropic_message(found, "upstream words") == anthropic
    assert overflow.openai_message(found, "upstream words") == openai


def test_a_stream_request_gets_the_translated_overflow_too() -> None:
    answer, _ = exchange("messages", "chat", claude_code_body(stream=True), turns=[Failure(400, VLLM)])
    assert answer.status_code == 400 and answer.json()["error"]["message"].startswith("input length and `max_tokens`")


def test_other_errors_keep_their_words() -> None:
    error = ErrorInfo(400, "invalid_request_error", "Bad tool schema")
    assert overflow.detect(error, b"{}", 10) is None


# -- max_tokens_cap -----------------------------------------------------------------------------------


def test_max_tokens_cap_lowers_max_tokens_per_model_and_reports_it() -> None:
    caps = {"claude-*": 8192, "*": 16384}
    answer, sent = exchange("messages", "chat", claude_code_body(), max_tokens_cap=caps)
    assert sent[0].body["max_tokens"] == 8192
    assert "max_tokens" in answer.headers["x-asgi-translate-losses"]
    _, other = exchange(
        "chat", "messages", {"model": "gpt-x", "messages": [{"role": "user", "content": "hi"}]}, max_tokens_cap=caps
    )
    assert other[0].body["max_tokens"] == 4096  # the default, under the cap
    _, small = exchange("messages", "chat", claude_code_body(max_tokens=100), max_tokens_cap=caps)
    assert small[0].body["max_tokens"] == 100


def test_max_tokens_cap_matches_the_upstream_name_too_and_bounds_the_messages_default() -> None:
    chat = {"model": "gpt-x", "messages": [{"role": "user", "content": "hi"}]}
    _, sent = exchange("chat", "messages", chat, max_tokens_cap={"small-*": 1000}, model_map={"gpt-x": "small-1"})
    assert sent[0].body["max_tokens"] == 1000


def test_the_command_line_takes_a_max_tokens_cap() -> None:
    app = build_app(build_parser().parse_args(["--max-tokens-cap", "claude-*=8192,*=16384"]))
    assert app.settings.max_tokens_cap("claude-opus-5-5") == 8192
    assert app.settings.max_tokens_cap("qwen") == 16384
    assert build_app(build_parser().parse_args(["--max-tokens-cap", "2048"])).settings.max_tokens_cap("x") == 2048
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--max-tokens-cap", "claude-*=lots"])


# -- values the upstream's spec takes -----------------------------------------------------------------


def test_more_than_four_stop_sequences_go_to_chat_as_the_first_four() -> None:
    body = {"model": "m", "max_tokens": 100, "messages": [{"role": "user", "content": "hi"}]}
    answer, sent = exchange("messages", "chat", {**body, "stop_sequences": ["a", "b", "c", "d", "e"]})
    assert sent[0].body["stop"] == ["a", "b", "c", "d"]
    assert "stop sequences beyond 4" in answer.headers["x-asgi-translate-losses"]


def test_a_max_tokens_under_sixteen_is_raised_toward_responses() -> None:
    answer, sent = exchange("messages", "responses", claude_code_body(max_tokens=1))
    assert sent[0].body["max_output_tokens"] == 16
    assert "max_output_tokens raised to 16" in answer.headers["x-asgi-translate-losses"]
    _, chat = exchange("messages", "chat", claude_code_body(max_tokens=1))
    assert chat[0].body["max_tokens"] == 1  # chat has no minimum


def test_strict_lets_claude_code_through_when_only_hints_are_lost() -> None:
    """The billing block, cache_control, the hashed user id and the operator's cap cannot change the
    answer: ``strict`` reports them and sends the request on."""
    answer, sent = exchange("messages", "chat", claude_code_body(), strict=True, max_tokens_cap=8192)
    assert answer.status_code == 200, answer.text
    assert sent[0].body["max_tokens"] == 8192
    folded, _ = exchange("chat", "messages", CHAT_LATER_SYSTEM, strict=True)
    assert folded.status_code == 400  # a moved system message is a real loss
