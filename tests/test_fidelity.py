"""What independent clients and the official specs found (issue 13), one test or more per finding.

Each exchange runs through TranslateMiddleware around a scripted upstream that answers with fixed
bytes and records what it was sent; the spec check of ``tests/spec`` validates every one of them
on top of the assertions here. Upstream quirks are tried through both the JSON and the stream
path, which must be equally tolerant.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any

import anyio
import httpx
import pytest
from conftest import FIXED_TIME, counting_ids
from starlette.types import Receive, Scope, Send

from asgi_translate import TranslateMiddleware
from asgi_translate._hub.routes import SchemaName

PATHS = {"chat": "/v1/chat/completions", "messages": "/v1/messages", "responses": "/v1/responses"}
USER = [{"role": "user", "content": "Weather in Paris?"}]
WEATHER = {"type": "object", "properties": {"city": {"type": "string"}}}


@dataclass
class Upstream:
    """An inner app answering every request with ``body`` (JSON) or ``frames`` (SSE), recording
    the requests it was sent."""

    body: dict[str, Any] | None = None
    frames: list[bytes] | None = None
    status: int = 200
    seen: list[dict[str, Any]] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        raw = b""
        while True:
            message = await receive()
            raw += message.get("body", b"")
            if not message.get("more_body"):
                break
        self.paths.append(scope["path"])
        self.seen.append(json.loads(raw) if raw else {})
        stream = self.frames is not None
        headers = [(b"content-type", b"text/event-stream" if stream else b"application/json")]
        await send({"type": "http.response.start", "status": self.status, "headers": headers})
        if self.frames is not None:
            for frame in self.frames:
                await send({"type": "http.response.body", "body": frame, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        else:
            await send({"type": "http.response.body", "body": json.dumps(self.body).encode()})


def middleware(upstream: Upstream, schema: SchemaName, **options: Any) -> TranslateMiddleware:
    return TranslateMiddleware(
        upstream,
        upstream=schema,
        id_factory=counting_ids(),
        clock=lambda: FIXED_TIME,
        **options,
    )


def post(app: Any, path: str, body: dict[str, Any], headers: dict[str, str] | None = None) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await client.post(path, json=body, headers=headers or {})

    return anyio.run(go)


def get(app: Any, path: str, headers: dict[str, str] | None = None) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await client.get(path, headers=headers or {})

    return anyio.run(go)


def events(response: httpx.Response) -> list[tuple[str | None, dict[str, Any]]]:
    """(event name, data) of every frame but chat's ``[DONE]``."""
    out = []
    for block in response.text.split("\n\n"):
        name, data = None, None
        for line in block.split("\n"):
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                data = line[6:]
        if data is not None and data != "[DONE]":
            out.append((name, json.loads(data)))
    return out


def sse(*chunks: dict[str, Any], done: bool = True) -> list[bytes]:
    frames = [f"data: {json.dumps(chunk)}\n\n".encode() for chunk in chunks]
    return frames + ([b"data: [DONE]\n\n"] if done else [])


def client_body(client: str, *, stream: bool, tools: bool = True, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"model": "client-model", "stream": stream}
    if client == "chat":
        body["messages"] = USER
        if tools:
            body["tools"] = [{"type": "function", "function": {"name": "get_weather", "parameters": WEATHER}}]
    elif client == "messages":
        body.update(messages=USER, max_tokens=200)
        if tools:
            body["tools"] = [{"name": "get_weather", "input_schema": WEATHER}]
    else:
        body["input"] = USER
        if tools:
            body["tools"] = [{"type": "function", "name": "get_weather", "parameters": WEATHER}]
    body.update(extra)
    return body


# -- chat upstream answers: one turn, as JSON or as a stream ---------------------------------------------

CALL = {"id": "call_up1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}


def chat_json(message: dict[str, Any], finish: str | None, usage: dict[str, Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": "chatcmpl-up",
        "object": "chat.completion",
        "created": 1,
        "model": "up-model",
        "choices": [{"index": 0, "message": {"role": "assistant", **message}, "finish_reason": finish}],
    }
    if usage is not None:
        body["usage"] = usage
    return body


def chat_chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> dict[str, Any]:
    choice = {"index": 0, "delta": delta, "finish_reason": finish}
    return {
        "id": "chatcmpl-up",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "up-model",
        "choices": [choice],
        **extra,
    }


def chat_stream(message: dict[str, Any], finish: str | None, usage: dict[str, Any] | None = None) -> list[bytes]:
    """The same answer as :func:`chat_json`, one chunk per piece (a tool call: header, then args)."""
    chunks = [chat_chunk({"role": "assistant", "content": message.get("content") or ""})]
    for n, call in enumerate(message.get("tool_calls") or ()):
        head = {k: v for k, v in call.items() if k != "function"}
        function = call.get("function", {})
        chunks.append(chat_chunk({"tool_calls": [{"index": n, **head, "function": {"name": function.get("name")}}]}))
        chunks.append(chat_chunk({"tool_calls": [{"index": n, "function": {"arguments": function.get("arguments")}}]}))
    chunks.append(chat_chunk({}, finish))
    if usage is not None:
        chunks.append({**chat_chunk({}), "choices": [], "usage": usage})
    return sse(*chunks)


def chat_upstream(message: dict[str, Any], finish: str | None, *, stream: bool, **kw: Any) -> Upstream:
    if stream:
        return Upstream(frames=chat_stream(message, finish, kw.get("usage")))
    return Upstream(body=chat_json(message, finish, kw.get("usage")))


def tool_uses(response: httpx.Response, stream: bool) -> tuple[str | None, list[tuple[str, str, Any]]]:
    """Stop reason and (id, name, input) of each tool_use block."""
    if not stream:
        message = response.json()
        return message["stop_reason"], [
            (b["id"], b["name"], b["input"]) for b in message["content"] if b["type"] == "tool_use"
        ]
    blocks: dict[int, dict[str, Any]] = {}
    stop = None
    for name, data in events(response):
        if name == "content_block_start" and data["content_block"]["type"] == "tool_use":
            blocks[data["index"]] = {**data["content_block"], "json": ""}
        elif name == "content_block_delta" and data["index"] in blocks:
            blocks[data["index"]]["json"] += data["delta"].get("partial_json", "")
        elif name == "message_delta":
            stop = data["delta"]["stop_reason"]
    return stop, [(b["id"], b["name"], json.loads(b["json"] or "{}")) for b in blocks.values()]


# -- 1. a tool turn is a tool turn whatever finish_reason the chat server gave -----------------------------


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
@pytest.mark.parametrize("finish", ["stop", None, "eos", "tool_calls"])
def test_1_a_chat_turn_with_tool_calls_is_tool_use_for_messages_clients(finish: str | None, stream: bool) -> None:
    upstream = chat_upstream({"content": None, "tool_calls": [CALL]}, finish, stream=stream)
    got = post(middleware(upstream, "chat"), PATHS["messages"], client_body("messages", stream=stream))
    assert tool_uses(got, stream) == ("tool_use", [("call_up1", "get_weather", {"city": "Paris"})])


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_1_other_reasons_keep_their_meaning_beside_tool_calls(stream: bool) -> None:
    upstream = chat_upstream({"content": None, "tool_calls": [CALL]}, "length", stream=stream)
    got = post(middleware(upstream, "chat"), PATHS["messages"], client_body("messages", stream=stream))
    assert tool_uses(got, stream)[0] == "max_tokens"
    text_only = chat_upstream({"content": "Sunny."}, "stop", stream=stream)
    got = post(middleware(text_only, "chat"), PATHS["messages"], client_body("messages", stream=stream))
    assert tool_uses(got, stream) == ("end_turn", [])


# -- 2. the JSON path is as tolerant of upstream quirks as the stream path ---------------------------------

QUIRKS: dict[str, tuple[dict[str, Any], str | None]] = {
    "tool call without id": ({"tool_calls": [{k: v for k, v in CALL.items() if k != "id"}]}, "tool_calls"),
    "tool call without type": ({"tool_calls": [{k: v for k, v in CALL.items() if k != "type"}]}, "tool_calls"),
    "tool turn ending with stop": ({"tool_calls": [CALL]}, "stop"),
    "tool turn without finish_reason": ({"tool_calls": [CALL]}, None),
    "tool turn with an unknown finish_reason": ({"tool_calls": [CALL]}, "eos"),
    "content null beside the call": ({"content": None, "tool_calls": [CALL]}, "tool_calls"),
}


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
@pytest.mark.parametrize("quirk", QUIRKS)
def test_2_every_chat_upstream_quirk_passes_both_paths(quirk: str, stream: bool) -> None:
    message, finish = QUIRKS[quirk]
    upstream = chat_upstream(message, finish, stream=stream)
    got = post(middleware(upstream, "chat"), PATHS["messages"], client_body("messages", stream=stream))
    stop, calls = tool_uses(got, stream)
    call_id = CALL["id"] if "id" in message["tool_calls"][0] else "call_test0001"
    assert (stop, calls) == ("tool_use", [(call_id, "get_weather", {"city": "Paris"})])
    # A Responses client gets the same call (a minted id comes from the same factory).
    got = post(
        middleware(chat_upstream(message, finish, stream=stream), "chat"),
        PATHS["responses"],
        client_body("responses", stream=stream),
    )
    assert got.status_code == 200
    output = got.json()["output"] if not stream else events(got)[-1][1]["response"]["output"]
    [item] = [i for i in output if i["type"] == "function_call"]
    assert (item["name"], item["arguments"]) == ("get_weather", '{"city": "Paris"}')
    assert (
        item["call_id"] == CALL["id"] if "id" in message["tool_calls"][0] else item["call_id"].startswith("call_test")
    )


# -- 3. Messages output carries usage.service_tier ----------------------------------------------------------


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_3_messages_usage_has_service_tier(stream: bool) -> None:
    usage = {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15}
    upstream = chat_upstream({"content": "Sunny."}, "stop", stream=stream, usage=usage)
    got = post(middleware(upstream, "chat"), PATHS["messages"], client_body("messages", stream=stream, tools=False))
    if stream:
        start = next(data for name, data in events(got) if name == "message_start")
        assert "service_tier" in start["message"]["usage"] and start["message"]["usage"]["service_tier"] is None
    else:
        assert got.json()["usage"] == {
            "input_tokens": 12,
            "output_tokens": 3,
            "cache_read_input_tokens": 0,
            "cache_creation_input_tokens": 0,
            "service_tier": None,
        }


# -- 10. every failed exchange has error= on its log line ---------------------------------------------------


def exchange_fields(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    return [r.asgi_translate for r in caplog.records if hasattr(r, "asgi_translate")]


@pytest.mark.parametrize("client", ["messages", "responses"])
def test_10_a_stream_cut_before_its_terminator_is_logged_as_failed(
    client: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="asgi_translate")
    cut = Upstream(frames=sse(chat_chunk({"content": "Sun"}), done=False))  # no finish_reason, no [DONE]
    got = post(middleware(cut, "chat"), PATHS[client], client_body(client, stream=True, tools=False))
    assert got.status_code == 200
    last = events(got)[-1]
    assert last[0] == ("error" if client == "messages" else "response.failed")
    [line] = exchange_fields(caplog)
    assert line["status"] == 200
    assert line["error"] == "api_error"


def test_10_an_upstream_error_event_mid_stream_is_logged_as_failed(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="asgi_translate")
    failing = Upstream(
        frames=sse(chat_chunk({"content": "Sun"}), {"error": {"message": "busy", "type": "server_error"}})
    )
    got = post(middleware(failing, "chat"), PATHS["messages"], client_body("messages", stream=True, tools=False))
    assert events(got)[-1] == ("error", {"type": "error", "error": {"type": "api_error", "message": "busy"}})
    [line] = exchange_fields(caplog)
    assert line["error"] == "api_error"


def test_10_a_clean_stream_has_no_error(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="asgi_translate")
    clean = Upstream(frames=chat_stream({"content": "Sunny."}, "stop"))
    post(middleware(clean, "chat"), PATHS["messages"], client_body("messages", stream=True, tools=False))
    [line] = exchange_fields(caplog)
    assert line.get("error") in (None, "")


# -- 9. GET /v1/models: the upstream's answer when we add nothing; Anthropic entries complete --------------


@dataclass
class Answering:
    """An inner app answering GET /v1/models with a fixed status, body and content type."""

    status: int
    body: bytes
    content_type: bytes = b"application/json"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        assert scope["method"] == "GET" and scope["path"] == "/v1/models"
        await send(
            {"type": "http.response.start", "status": self.status, "headers": [(b"content-type", self.content_type)]}
        )
        await send({"type": "http.response.body", "body": self.body})


@pytest.mark.parametrize("anthropic", [False, True], ids=["openai-client", "anthropic-client"])
def test_9_an_upstream_without_a_model_list_is_passed_on_unchanged(anthropic: bool) -> None:
    upstream = Answering(404, b'{"detail":"Not Found"}')
    headers = {"anthropic-version": "2023-06-01"} if anthropic else {}
    got = get(TranslateMiddleware(upstream, upstream="chat"), "/v1/models", headers)
    assert (got.status_code, got.content, got.headers["content-type"]) == (
        404,
        b'{"detail":"Not Found"}',
        "application/json",
    )
    plain = Answering(404, b"Not Found", b"text/plain; charset=utf-8")
    got = get(TranslateMiddleware(plain, upstream="messages"), "/v1/models", headers)
    assert (got.status_code, got.text, got.headers["content-type"]) == (404, "Not Found", "text/plain; charset=utf-8")


def test_9_with_mapped_names_a_missing_list_still_shows_them() -> None:
    app = TranslateMiddleware(Answering(404, b"{}"), upstream="chat", model_map={"claude-x": "qwen"})
    got = get(app, "/v1/models", {"anthropic-version": "2023-06-01"})
    assert got.status_code == 200
    assert got.json()["data"] == [
        {
            "type": "model",
            "id": "claude-x",
            "display_name": "claude-x",
            "created_at": "1970-01-01T00:00:00Z",
            "capabilities": None,
            "max_input_tokens": None,
            "max_tokens": None,
        }
    ]


def test_9_anthropic_entries_carry_capabilities_and_limits() -> None:
    vllm = {
        "object": "list",
        "data": [{"id": "qwen", "object": "model", "created": 1, "owned_by": "vllm", "max_model_len": 32768}],
    }
    app = TranslateMiddleware(Answering(200, json.dumps(vllm).encode()), upstream="chat")
    got = get(app, "/v1/models", {"anthropic-version": "2023-06-01"})
    assert got.json()["data"] == [
        {
            "type": "model",
            "id": "qwen",
            "display_name": "qwen",
            "created_at": "1970-01-01T00:00:01Z",
            "capabilities": None,
            "max_input_tokens": 32768,
            "max_tokens": None,
        }
    ]
    got = get(app, "/v1/models/qwen", {"x-api-key": "k"})
    assert got.json()["max_input_tokens"] == 32768 and got.json()["capabilities"] is None
    # An Anthropic upstream's own entry keeps what it says, and gains what it left out.
    own = {
        "data": [
            {"type": "model", "id": "c", "display_name": "C", "created_at": "2025-01-01T00:00:00Z", "max_tokens": 64000}
        ]
    }
    app = TranslateMiddleware(Answering(200, json.dumps(own).encode()), upstream="messages")
    [entry] = get(app, "/v1/models", {"anthropic-version": "2023-06-01"}).json()["data"]
    assert (entry["max_tokens"], entry["max_input_tokens"], entry["capabilities"]) == (64000, None, None)


# -- 4. function tools toward Responses say strict explicitly, and Response.tools echoes it ------------------

RESPONSE = {
    "id": "resp_up",
    "object": "response",
    "created_at": 1,
    "status": "completed",
    "model": "up-model",
    "output": [
        {
            "type": "message",
            "id": "msg_up",
            "status": "completed",
            "role": "assistant",
            "content": [{"type": "output_text", "text": "Sunny.", "annotations": []}],
        }
    ],
    "usage": {"input_tokens": 5, "output_tokens": 2, "total_tokens": 7},
}


@pytest.mark.parametrize(
    ("client", "tool", "strict"),
    [
        ("chat", {"type": "function", "function": {"name": "get_weather", "parameters": WEATHER}}, False),
        (
            "chat",
            {"type": "function", "function": {"name": "get_weather", "parameters": WEATHER, "strict": True}},
            True,
        ),
        ("messages", {"name": "get_weather", "input_schema": WEATHER}, False),
    ],
)
def test_4_function_tools_toward_responses_carry_strict(client: str, tool: dict[str, Any], strict: bool) -> None:
    upstream = Upstream(body=RESPONSE)
    post(
        middleware(upstream, "responses"),
        PATHS[client],
        client_body(client, stream=False, tools=False) | {"tools": [tool]},
    )
    [sent] = upstream.seen[0]["tools"]
    assert (sent["name"], sent["strict"]) == ("get_weather", strict)


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_4_response_tools_echo_strict(stream: bool) -> None:
    tools = [
        {"type": "function", "name": "loose", "parameters": WEATHER},
        {"type": "function", "name": "tight", "parameters": WEATHER, "strict": True},
    ]
    upstream = chat_upstream({"content": "Sunny."}, "stop", stream=stream)
    got = post(
        middleware(upstream, "chat"),
        PATHS["responses"],
        client_body("responses", stream=stream, tools=False) | {"tools": tools},
    )
    response = got.json() if not stream else events(got)[-1][1]["response"]
    assert [(t["name"], t["strict"]) for t in response["tools"]] == [("loose", False), ("tight", True)]
    assert [t["function"].get("strict") for t in upstream.seen[0]["tools"]] == [None, True]  # loose by default


# -- 5. max_output_tokens below 16 is raised to 16, and said so ------------------------------------------------


@pytest.mark.parametrize(("client", "field"), [("chat", "max_tokens"), ("messages", "max_tokens")])
def test_5_a_small_output_limit_toward_responses_is_raised_to_16(client: str, field: str) -> None:
    upstream = Upstream(body=RESPONSE)
    got = post(
        middleware(upstream, "responses"), PATHS[client], client_body(client, stream=False, tools=False) | {field: 5}
    )
    assert got.status_code == 200
    assert upstream.seen[0]["max_output_tokens"] == 16
    assert "max_output_tokens" in got.headers["x-asgi-translate-losses"]
    upstream = Upstream(body=RESPONSE)
    post(middleware(upstream, "responses"), PATHS[client], client_body(client, stream=False, tools=False) | {field: 16})
    assert upstream.seen[0]["max_output_tokens"] == 16
    strict = middleware(Upstream(body=RESPONSE), "responses", strict=True)
    assert post(strict, PATHS[client], client_body(client, stream=False, tools=False) | {field: 5}).status_code == 400


# -- 6. reasoning replayed to a Responses upstream has an id ---------------------------------------------------


def test_6_replayed_reasoning_items_carry_an_id_the_same_every_turn() -> None:
    history = [
        {"role": "user", "content": "Weather in Paris?"},
        {
            "role": "assistant",
            "content": [
                {"type": "thinking", "thinking": "Look it up.", "signature": "gAAAAencrypted"},
                {"type": "tool_use", "id": "call_1", "name": "get_weather", "input": {"city": "Paris"}},
            ],
        },
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "call_1", "content": "Sunny"}]},
    ]
    sent = []
    for turn in (
        history,
        [*history, {"role": "assistant", "content": "Sunny."}, {"role": "user", "content": "Thanks"}],
    ):
        upstream = Upstream(body=RESPONSE)
        post(
            middleware(upstream, "responses"),
            PATHS["messages"],
            client_body("messages", stream=False) | {"messages": turn},
        )
        [reasoning] = [item for item in upstream.seen[0]["input"] if item.get("type") == "reasoning"]
        sent.append(reasoning)
    assert sent[0] == sent[1]
    assert sent[0]["id"].startswith("rs_") and len(sent[0]["id"]) == 51
    assert sent[0]["encrypted_content"] == "gAAAAencrypted"


# -- 7. reasoning effort and thinking budget: the spec's efforts, one table ------------------------------------

MESSAGE = {
    "id": "msg_up",
    "type": "message",
    "role": "assistant",
    "content": [{"type": "text", "text": "Sunny."}],
    "model": "up-model",
    "stop_reason": "end_turn",
    "stop_sequence": None,
    "usage": {"input_tokens": 5, "output_tokens": 2},
}


@pytest.mark.parametrize(
    ("budget", "effort"),
    [(1024, "low"), (8192, "medium"), (16384, "high"), (40000, "xhigh"), (57344, "max"), (90000, "max")],
)
def test_7_a_thinking_budget_becomes_the_effort_the_table_gives(budget: int, effort: str) -> None:
    thinking = {"thinking": {"type": "enabled", "budget_tokens": budget}, "max_tokens": 100_000}
    chat = Upstream(body=chat_json({"content": "Sunny."}, "stop"))
    post(middleware(chat, "chat"), PATHS["messages"], client_body("messages", stream=False, tools=False) | thinking)
    assert chat.seen[0]["reasoning_effort"] == effort
    responses = Upstream(body=RESPONSE)
    post(
        middleware(responses, "responses"),
        PATHS["messages"],
        client_body("messages", stream=False, tools=False) | thinking,
    )
    assert responses.seen[0]["reasoning"]["effort"] == effort


@pytest.mark.parametrize(
    ("effort", "budget"),
    [
        ("minimal", 1024),
        ("low", 2048),
        ("medium", 8192),
        ("high", 16384),
        ("xhigh", 32768),
        ("max", 57344),
        ("none", None),
    ],
)
def test_7_an_effort_becomes_the_thinking_budget_the_table_gives(effort: str, budget: int | None) -> None:
    for client, extra in (("chat", {"reasoning_effort": effort}), ("responses", {"reasoning": {"effort": effort}})):
        upstream = Upstream(body=MESSAGE)
        got = post(
            middleware(upstream, "messages"), PATHS[client], client_body(client, stream=False, tools=False) | extra
        )
        assert got.status_code == 200, got.text
        sent = upstream.seen[0]
        assert sent.get("thinking", {}).get("budget_tokens") == budget, (client, sent.get("thinking"))
        if budget is not None:  # no cap from the client: the budget plus the usual answer room
            assert sent["max_tokens"] == budget + 4096


def test_7_anthropic_max_effort_is_openais_max() -> None:
    upstream = Upstream(body=chat_json({"content": "Sunny."}, "stop"))
    body = client_body("messages", stream=False, tools=False) | {
        "thinking": {"type": "adaptive"},
        "output_config": {"effort": "max"},
    }
    post(middleware(upstream, "chat"), PATHS["messages"], body)
    assert upstream.seen[0]["reasoning_effort"] == "max"


# -- 8. reasoning for chat clients: the field(s) they read ---------------------------------------------------

THINKING_MESSAGE = {
    **MESSAGE,
    "content": [{"type": "thinking", "thinking": "Hmm.", "signature": "sig"}, {"type": "text", "text": "Sunny."}],
}


def thinking_events() -> list[bytes]:
    start = {**MESSAGE, "content": [], "stop_reason": None}
    frames: list[dict[str, Any]] = [
        {"type": "message_start", "message": start},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "thinking", "thinking": ""}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "Hmm."}},
        {"type": "content_block_stop", "index": 0},
        {"type": "content_block_start", "index": 1, "content_block": {"type": "text", "text": ""}},
        {"type": "content_block_delta", "index": 1, "delta": {"type": "text_delta", "text": "Sunny."}},
        {"type": "content_block_stop", "index": 1},
        {
            "type": "message_delta",
            "delta": {"stop_reason": "end_turn", "stop_sequence": None},
            "usage": {"output_tokens": 2},
        },
        {"type": "message_stop"},
    ]
    return [f"event: {f['type']}\ndata: {json.dumps(f)}\n\n".encode() for f in frames]


@pytest.mark.parametrize(
    ("option", "fields"),
    [
        (None, ["reasoning_content", "reasoning"]),
        ("reasoning_content", ["reasoning_content"]),
        ("reasoning", ["reasoning"]),
    ],
)
def test_8_chat_clients_get_reasoning_in_the_fields_they_read(option: str | None, fields: list[str]) -> None:
    options = {} if option is None else {"chat_reasoning_field": option}
    json_app = middleware(Upstream(body=THINKING_MESSAGE), "messages", **options)
    message = post(json_app, PATHS["chat"], client_body("chat", stream=False, tools=False)).json()["choices"][0][
        "message"
    ]
    assert [f for f in ("reasoning_content", "reasoning") if f in message] == fields
    assert all(message[f] == "Hmm." for f in fields)
    stream_app = middleware(Upstream(frames=thinking_events()), "messages", **options)
    deltas = [
        data["choices"][0]["delta"]
        for _, data in events(post(stream_app, PATHS["chat"], client_body("chat", stream=True, tools=False)))
        if data.get("choices")
    ]
    [thinking] = [d for d in deltas if set(d) & {"reasoning_content", "reasoning"}]
    assert thinking == {f: "Hmm." for f in fields}
    # The same fields carry a chat upstream's history back to it.
    upstream = Upstream(body=chat_json({"content": "ok"}, "stop"))
    history = [
        *USER,
        {
            "role": "assistant",
            "content": [{"type": "thinking", "thinking": "Hmm.", "signature": "s"}, {"type": "text", "text": "Sunny."}],
        },
        {"role": "user", "content": "Thanks"},
    ]
    post(
        middleware(upstream, "chat", **options),
        PATHS["messages"],
        client_body("messages", stream=False, tools=False) | {"messages": history},
    )
    assistant = upstream.seen[0]["messages"][1]
    assert [f for f in ("reasoning_content", "reasoning") if f in assistant] == fields


@pytest.mark.parametrize("field", ["reasoning_content", "reasoning"])
def test_8_either_field_is_read_from_a_chat_upstream(field: str) -> None:
    upstream = Upstream(
        frames=sse(chat_chunk({field: "Hmm."}), chat_chunk({"content": "Sunny."}), chat_chunk({}, "stop"))
    )
    got = post(middleware(upstream, "chat"), PATHS["messages"], client_body("messages", stream=True, tools=False))
    thinking = [
        d["delta"] for n, d in events(got) if n == "content_block_delta" and d["delta"]["type"] == "thinking_delta"
    ]
    assert thinking == [{"type": "thinking_delta", "thinking": "Hmm."}]


def test_8_an_unknown_field_choice_is_refused_at_construction() -> None:
    with pytest.raises(ValueError, match="chat_reasoning_field"):
        middleware(Upstream(), "chat", chat_reasoning_field="thoughts")


def test_a_function_tool_without_a_schema_type_reaches_messages_as_an_object_schema() -> None:
    """Found by the spec check (issue 14's schema fuzzing): Anthropic's input_schema needs ``type``."""
    upstream = Upstream(body=MESSAGE)
    tools = [
        {"type": "function", "name": "ping", "parameters": {"properties": {}}},
        {"type": "function", "name": "pong"},
    ]
    post(
        middleware(upstream, "messages"),
        PATHS["responses"],
        client_body("responses", stream=False, tools=False) | {"tools": tools},
    )
    assert [t["input_schema"] for t in upstream.seen[0]["tools"]] == [
        {"type": "object", "properties": {}},
        {"type": "object", "properties": {}},
    ]


# -- 11. message_start input_tokens over a chat upstream ------------------------------------------------------


def vllm_stream(prompt: int) -> list[bytes]:
    """What vLLM sends with continuous_usage_stats: usage on every chunk, the prompt count from the first."""

    def usage(completion: int) -> dict[str, int]:
        return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}

    return sse(
        chat_chunk({"role": "assistant", "content": ""}, usage=usage(0)),
        chat_chunk({"content": "Sun"}, usage=usage(1)),
        chat_chunk({"content": "ny."}, usage=usage(2)),
        chat_chunk({}, "stop", usage=usage(2)),
    )


def test_11_message_start_has_the_real_input_count_when_the_upstream_gives_it_early() -> None:
    upstream = Upstream(frames=vllm_stream(42))
    app = middleware(upstream, "chat", continuous_usage_stats=True)
    got = post(app, PATHS["messages"], client_body("messages", stream=True, tools=False))
    assert upstream.seen[0]["stream_options"] == {"include_usage": True, "continuous_usage_stats": True}
    frames = events(got)
    start = next(data for name, data in frames if name == "message_start")
    assert start["message"]["usage"]["input_tokens"] == 42
    delta = next(data for name, data in frames if name == "message_delta")
    assert (delta["usage"]["input_tokens"], delta["usage"]["output_tokens"]) == (42, 2)


def test_11_without_the_option_the_extension_is_not_sent_and_the_count_comes_at_the_end() -> None:
    """OpenAI refuses stream_options it does not know: the vLLM extension is opt-in. Then a chat
    upstream reports usage only after the last token, so message_start says 0 and message_delta has
    the real input count (Anthropic's SDKs take the later one)."""
    usage = {"prompt_tokens": 42, "completion_tokens": 2, "total_tokens": 44}
    upstream = Upstream(frames=chat_stream({"content": "Sunny."}, "stop", usage))
    got = post(middleware(upstream, "chat"), PATHS["messages"], client_body("messages", stream=True, tools=False))
    assert upstream.seen[0]["stream_options"] == {"include_usage": True}
    frames = events(got)
    start = next(data for name, data in frames if name == "message_start")
    delta = next(data for name, data in frames if name == "message_delta")
    assert (start["message"]["usage"]["input_tokens"], delta["usage"]["input_tokens"]) == (0, 42)


# -- found by the spec check: what the client's own API refuses is a 400 naming the field -------------------


@pytest.mark.parametrize(
    ("client", "extra", "param"),
    [
        ("chat", {"tools": [{"type": "function", "function": {"name": "a.b"}}]}, "tools[0].function.name"),
        ("messages", {"tools": [{"name": "", "input_schema": WEATHER}]}, "tools[0].name"),
        ("responses", {"input": [{"type": "function_call_output", "call_id": "", "output": "x"}]}, "input[0].call_id"),
        ("responses", {"metadata": {"k": None}}, "metadata"),
        ("chat", {"temperature": 2.5}, "temperature"),
        ("messages", {"top_p": 1.5}, "top_p"),
    ],
)
def test_values_the_clients_own_api_refuses_are_400s(client: SchemaName, extra: dict[str, Any], param: str) -> None:
    upstream = Upstream(body=RESPONSE)
    got = post(
        middleware(upstream, "responses" if client != "responses" else "chat"),
        PATHS[client],
        client_body(client, stream=False, tools=False) | extra,
    )
    assert got.status_code == 400, got.text
    assert param in got.text
    assert upstream.seen == []
