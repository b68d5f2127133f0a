"""Bad input is never a 5xx (issue 14): each body here once answered 500 or 502, raised out of the
middleware, or built a header h11 refuses (which drops the connection with no answer at all).

Each case runs on whichever JSON backend the suite runs on; CI runs the suite on both
(``ASGI_TRANSLATE_JSON=json`` forces the stdlib one).
"""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import pytest
from hardening import PATHS, answering, call, json_of, request_for, scripted
from servers import serve
from test_errors import assert_envelope

from asgi_translate import TranslateMiddleware

pytestmark = pytest.mark.anyio

COUNT_PATHS = {"messages": "/v1/messages/count_tokens", "responses": "/v1/responses/input_tokens"}


def deep(levels: int) -> str:
    """JSON nested ``levels`` objects deep, written by hand: json.dumps itself stops near 1000."""
    return '{"a":' * levels + '"x"' + "}" * levels


async def assert_refused(client: str, upstream: str, path: str, body: Any = None, raw: bytes | None = None) -> None:
    app = TranslateMiddleware(answering(upstream), upstream=upstream)  # type: ignore[arg-type]
    got = await call(app, path, body, raw=raw)
    assert 400 <= got.status < 500, (got.status, got.body[:300])
    assert_envelope(client, got.json())


# -- wrong types in fields the parsers iterate or hash ------------------------------------------------------


@pytest.mark.parametrize("upstream", ["chat", "messages"])
@pytest.mark.parametrize("include", [5, "reasoning.encrypted_content", {"a": 1}, [["x"]]])
async def test_a_non_list_include_is_a_400(upstream: str, include: Any) -> None:
    body = {"model": "m", "input": "hi", "include": include}
    await assert_refused("responses", upstream, PATHS["responses"], body)
    await assert_refused("responses", upstream, COUNT_PATHS["responses"], body)


@pytest.mark.parametrize("effort", [["low"], {"low": 1}, 3])
async def test_a_non_string_reasoning_effort_is_a_400_toward_messages(effort: Any) -> None:
    body = {**request_for("chat"), "reasoning_effort": effort}
    await assert_refused("chat", "messages", PATHS["chat"], body)
    await assert_refused(
        "responses", "messages", PATHS["responses"], {"model": "m", "input": "hi", "reasoning": {"effort": effort}}
    )


# -- the token-count endpoints answer in the client's envelope too -------------------------------------------


@pytest.mark.parametrize("upstream", ["chat", "responses"])
async def test_count_tokens_errors_use_the_anthropic_envelope(upstream: str) -> None:
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "system": 5}
    await assert_refused("messages", upstream, COUNT_PATHS["messages"], body)


@pytest.mark.parametrize("client", ["messages", "responses"])
@pytest.mark.parametrize("upstream", ["chat", "messages", "responses"])
async def test_lone_surrogates_are_a_400_or_counted_never_an_exception(client: str, upstream: str) -> None:
    if client == upstream:
        return
    body = request_for(client, text="\ud800 half a pair")
    raw = json.dumps(body).encode()  # ASCII escapes: "\ud800"
    app = TranslateMiddleware(answering(upstream), upstream=upstream)  # type: ignore[arg-type]
    for path in (PATHS[client], COUNT_PATHS[client]):
        got = await call(app, path, raw=raw)
        assert got.status == 400, (path, got.status, got.body[:300])
        assert_envelope(client, got.json())


# -- values that cannot be written back out: deep nesting, non-finite numbers ------------------------------


@pytest.mark.parametrize("upstream", ["chat", "messages"])
@pytest.mark.parametrize("levels", [256, 600, 1000])
@pytest.mark.parametrize("stream", [False, True])
async def test_deeply_nested_echoed_fields_are_a_400_before_the_upstream(
    upstream: str, levels: int, stream: bool
) -> None:
    calls: list[int] = []
    inner = answering(upstream)

    async def counting(scope: Any, receive: Any, send: Any) -> None:
        calls.append(1)
        await inner(scope, receive, send)

    app = TranslateMiddleware(counting, upstream=upstream)  # type: ignore[arg-type]
    raw = f'{{"model": "m", "input": "hi", "stream": {json.dumps(stream)}, "metadata": {{"k": {deep(levels)}}}}}'
    got = await call(app, PATHS["responses"], raw=raw.encode())
    if got.status == 200:  # small enough for this backend to write back: a whole answer
        assert (b"response.completed" in got.body) if stream else got.json()["status"] == "completed"
    else:
        assert got.status == 400, (got.status, got.body[:300])
        assert_envelope("responses", got.json())
        assert not calls, "the upstream was called for a request we cannot answer"


@pytest.mark.parametrize(
    ("client", "upstream"),
    [("responses", "messages"), ("responses", "chat"), ("chat", "messages"), ("messages", "chat")],
)
@pytest.mark.parametrize("constant", ["Infinity", "-Infinity", "NaN", "1e999"])
async def test_non_finite_numbers_are_a_400_naming_the_problem(client: str, upstream: str, constant: str) -> None:
    raw = json.dumps(request_for(client)).encode()[:-1] + f', "temperature": {constant}}}'.encode()
    app = TranslateMiddleware(answering(upstream), upstream=upstream)  # type: ignore[arg-type]
    got = await call(app, PATHS[client], raw=raw)
    assert got.status == 400, (got.status, got.body[:300])
    message = assert_envelope(client, got.json())["message"]
    assert "nested" not in message, message  # not blamed on nesting


# -- header values built from request data ------------------------------------------------------------------


@pytest.mark.parametrize("name", ["", " ", "  padded ", "\tx", "x\t", "tab\tinside", "ünïcode", "a\r\nb: c", "\x00"])
@pytest.mark.parametrize(("client", "upstream"), [("messages", "chat"), ("chat", "messages"), ("responses", "chat")])
async def test_unknown_field_names_make_a_valid_losses_header(client: str, upstream: str, name: str) -> None:
    app = TranslateMiddleware(answering(upstream), upstream=upstream)  # type: ignore[arg-type]
    got = await call(app, PATHS[client], {**request_for(client), name: 1})  # call() checks every header
    assert got.status == 200, got.body[:300]


@pytest.mark.slow
async def test_unknown_field_names_padded_with_spaces_get_an_answer_over_h11() -> None:
    app = TranslateMiddleware(
        scripted(json.dumps(json_of("chat")).encode(), content_type=b"application/json"), upstream="chat"
    )
    with serve(app, lifespan="off") as url:
        async with httpx.AsyncClient(timeout=5) as http:
            for name in ("", " ", " padded "):
                response = await http.post(url + PATHS["messages"], json={**request_for("messages"), name: 1})
                assert response.status_code == 200, response.text


@pytest.mark.parametrize("call_id", ["call 1", "\x0e¾𤮣", "call.1/x"])
async def test_tool_call_ids_anthropic_refuses_are_renamed_the_same_on_both_sides(call_id: str) -> None:
    seen: list[dict[str, Any]] = []
    inner = answering("messages")

    async def recording(scope: Any, receive: Any, send: Any) -> None:
        message = await receive()
        seen.append(json.loads(message["body"]))

        async def again() -> Any:
            return message

        await inner(scope, again, send)

    app = TranslateMiddleware(recording, upstream="messages")
    call_ = {"id": call_id, "type": "function", "function": {"name": "f", "arguments": "{}"}}
    body = {
        "model": "m",
        "messages": [
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": None, "tool_calls": [call_]},
            {"role": "tool", "tool_call_id": call_id, "content": "42"},
        ],
    }
    got = await call(app, PATHS["chat"], body)
    assert got.status == 200, got.body[:300]
    blocks = [b for m in seen[0]["messages"] for b in m["content"] if isinstance(b, dict)]
    use = next(b for b in blocks if b["type"] == "tool_use")
    result = next(b for b in blocks if b["type"] == "tool_result")
    assert re.fullmatch(r"[a-zA-Z0-9_-]+", use["id"]) and use["id"] == result["tool_use_id"]
