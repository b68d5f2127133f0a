"""Upstream errors reach the client in its own envelope, with the mapped status and type, the
upstream's own words, and the headers a client needs to retry or to quote a request id.

OpenAI (chat and Responses): ``{"error": {"message", "type", "param", "code"}}``.
Anthropic: ``{"type": "error", "error": {"type", "message"}, "request_id"}``.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from servers import serve
from starlette.types import ASGIApp, Receive, Scope, Send
from test_middleware import CHAT_BODY, MESSAGES_BODY, make, post

from asgi_translate import TranslateMiddleware
from asgi_translate._hub.errors import (
    ANTHROPIC_TYPES,
    ErrorInfo,
    RequestTranslationError,
    anthropic_type,
    type_for_status,
    type_from_openai,
)
from asgi_translate._hub.routes import DEFAULT_PATHS, SCHEMAS
from asgi_translate.schemas import get_codec
from asgi_translate.testing import FakeModel

pytestmark = pytest.mark.anyio

RESPONSES_BODY = {"model": "client-model", "input": "hi"}
BODIES: dict[str, dict[str, Any]] = {"chat": CHAT_BODY, "messages": MESSAGES_BODY, "responses": RESPONSES_BODY}
PAIRS = [(client, upstream) for client in SCHEMAS for upstream in SCHEMAS if client != upstream]
PAIR_IDS = [f"{client}-over-{upstream}" for client, upstream in PAIRS]

# (Anthropic type, Anthropic status, OpenAI type, OpenAI status): the one table, read both ways.
TABLE = [
    ("invalid_request_error", 400, "invalid_request_error", 400),
    ("authentication_error", 401, "authentication_error", 401),
    ("permission_error", 403, "permission_error", 403),
    ("not_found_error", 404, "not_found_error", 404),
    ("request_too_large", 413, "invalid_request_error", 413),
    ("rate_limit_error", 429, "rate_limit_error", 429),
    ("api_error", 500, "server_error", 500),
    ("overloaded_error", 529, "server_error", 503),
    ("timeout_error", 504, "timeout_error", 504),
]


def assert_openai_envelope(body: Any) -> dict[str, Any]:
    """The shape the openai SDK reads: an ``error`` object with the four keys, message a string."""
    assert isinstance(body, dict) and set(body) == {"error"}, body
    error = body["error"]
    assert set(error) == {"message", "type", "param", "code"}, error
    assert isinstance(error["message"], str) and error["message"]
    assert isinstance(error["type"], str) and error["type"]
    return dict(error)


def assert_anthropic_envelope(body: Any) -> dict[str, Any]:
    """The shape the anthropic SDK reads: ``type: error``, ``error.type`` one of Anthropic's."""
    assert isinstance(body, dict) and body["type"] == "error", body
    assert set(body) == {"type", "error", "request_id"}, body
    error = body["error"]
    assert set(error) == {"type", "message"}, error
    assert error["type"] in ANTHROPIC_TYPES
    assert isinstance(error["message"], str) and error["message"]
    assert isinstance(body["request_id"], str) and body["request_id"]
    return dict(error)


def assert_envelope(schema: str, body: Any) -> dict[str, Any]:
    return assert_anthropic_envelope(body) if schema == "messages" else assert_openai_envelope(body)


def error_app(status: int, body: bytes, headers: list[tuple[bytes, bytes]] | None = None) -> ASGIApp:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        base = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": base + (headers or [])})
        await send({"type": "http.response.body", "body": body, "more_body": False})

    return app


def upstream_error_body(schema: str, anthropic_type: str, openai_type: str, message: str) -> bytes:
    if schema == "messages":
        payload: dict[str, Any] = {
            "type": "error",
            "error": {"type": anthropic_type, "message": message},
            "request_id": "req_upstream",
        }
    else:
        payload = {"error": {"message": message, "type": openai_type, "param": None, "code": None}}
    return json.dumps(payload).encode()


# -- the table itself ------------------------------------------------------------------------------


@pytest.mark.parametrize(("a_type", "a_status", "o_type", "o_status"), TABLE)
def test_anthropic_error_renders_as_openai_and_back(a_type: str, a_status: int, o_type: str, o_status: int) -> None:
    for openai_schema in ("chat", "responses"):
        codec = get_codec(openai_schema)
        status, body = codec.render_error(ErrorInfo(a_status, a_type, "words"))
        assert (status, body["error"]["type"], body["error"]["message"]) == (o_status, o_type, "words")
        back = codec.parse_error(status, json.dumps(body).encode())
        assert (back.type, back.message) == (a_type, "words")
        status, anthropic_body = get_codec("messages").render_error(back)
        assert (status, anthropic_body["error"]["type"]) == (a_status, a_type)


@pytest.mark.parametrize(("a_type", "a_status", "o_type", "o_status"), TABLE)
def test_status_alone_names_the_type(a_type: str, a_status: int, o_type: str, o_status: int) -> None:
    """Bodies that name no type (plain text, vLLM's detail) fall back to the status."""
    assert type_for_status(a_status) == a_type
    assert type_from_openai(None, o_status) == a_type


def test_openai_codes_and_status_win_over_a_vague_type() -> None:
    # OpenAI answers a bad key with 401 and type invalid_request_error, code invalid_api_key.
    assert type_from_openai("invalid_request_error", 401) == "authentication_error"
    assert type_from_openai("insufficient_quota", 429) == "rate_limit_error"
    assert type_from_openai("rate_limit_exceeded", 429) == "rate_limit_error"
    assert type_from_openai(None, 422) == "invalid_request_error"
    assert type_from_openai(None, 418) == "invalid_request_error"
    assert type_from_openai(None, 502) == "bad_gateway_error"  # ours; Anthropic's wire says api_error


@pytest.mark.parametrize(("status", "wire"), [(502, "api_error"), (503, "overloaded_error"), (504, "timeout_error")])
def test_anthropic_clients_only_see_documented_types(status: int, wire: str) -> None:
    info = ErrorInfo(status, type_for_status(status), "gone")
    assert anthropic_type(info) == wire and wire in ANTHROPIC_TYPES
    rendered_status, body = get_codec("messages").render_error(info)
    assert (rendered_status, body["error"]["type"]) == (529 if status == 503 else status, wire)
    assert "bad_gateway_error" not in ANTHROPIC_TYPES


def test_request_errors_carry_their_status_type() -> None:
    assert RequestTranslationError("too big", status=413).to_info() == ErrorInfo(413, "request_too_large", "too big")
    info = RequestTranslationError("bad", param="messages[0].role").to_info()
    assert (info.status, info.type, info.param) == (400, "invalid_request_error", "messages[0].role")


# -- through the middleware, every direction ----------------------------------------------------------


@pytest.mark.parametrize(("client", "upstream"), PAIRS, ids=PAIR_IDS)
@pytest.mark.parametrize(("a_type", "a_status", "o_type", "o_status"), TABLE, ids=[row[0] for row in TABLE])
async def test_upstream_error_reaches_the_client_mapped(
    client: str, upstream: str, a_type: str, a_status: int, o_type: str, o_status: int
) -> None:
    upstream_status = a_status if upstream == "messages" else o_status
    message = f"the upstream says no ({a_type})"
    app = error_app(upstream_status, upstream_error_body(upstream, a_type, o_type, message))
    got = await post(make(app, upstream), DEFAULT_PATHS[client], BODIES[client])  # type: ignore[index]
    error = assert_envelope(client, got.json())
    assert error["message"] == message
    if client == "messages":
        assert (got.start["status"], error["type"]) == (a_status, a_type)
    else:
        assert got.start["status"] == o_status
        # Between the two OpenAI schemas 413 keeps OpenAI's own type word; from Anthropic it is mapped.
        assert error["type"] == o_type


UPSTREAM_HEADERS = [
    (b"retry-after", b"7"),
    (b"x-request-id", b"req_openai_1"),
    (b"request-id", b"req_anthropic_1"),
    (b"anthropic-ratelimit-requests-remaining", b"0"),
    (b"x-ratelimit-remaining-requests", b"0"),
]


@pytest.mark.parametrize(("client", "upstream"), PAIRS, ids=PAIR_IDS)
async def test_retry_after_and_request_ids_pass_through_on_errors(client: str, upstream: str) -> None:
    body = upstream_error_body(upstream, "rate_limit_error", "rate_limit_error", "slow down")
    app = error_app(429, body, UPSTREAM_HEADERS)
    got = await post(make(app, upstream), DEFAULT_PATHS[client], BODIES[client])  # type: ignore[index]
    headers = dict(got.start["headers"])
    for name, value in UPSTREAM_HEADERS:
        assert headers[name] == value
    assert [k for k, _ in got.start["headers"]].count(b"x-request-id") == 1
    assert int(headers[b"content-length"]) == len(got.body)
    assert headers[b"content-type"] == b"application/json"
    error = assert_envelope(client, got.json())
    assert error["type"] == "rate_limit_error"
    if client == "messages":
        assert got.json()["request_id"] == "req_anthropic_1"  # the upstream's id, first found


async def test_without_an_upstream_id_the_envelope_names_ours() -> None:
    app = error_app(500, b'{"error": {"message": "oops", "type": "server_error"}}')
    got = await post(make(app, "chat"), "/v1/messages", MESSAGES_BODY)
    ours = dict(got.start["headers"])[b"x-request-id"].decode()
    assert got.json()["request_id"] == ours and len(ours) == 32


UNPARSEABLE = {
    "html": b"<html><body><h1>502 Bad Gateway</h1></body></html>",
    "empty": b"",
    "truncated": b'{"error": {"message": "cut he',
    "array": b'[{"error": "x"}]',
    "string": b'"just a string"',
    "null": b"null",
    "wrong-types": b'{"error": {"message": 5, "type": ["x"]}}',
    "invalid-utf8": b'{"error": {"message": "\xff\xfe"}}',
    "deep": b"[" * 100_000 + b"]" * 100_000,
}


@pytest.mark.parametrize("json_backend", ["orjson", "stdlib"])
@pytest.mark.parametrize(("client", "upstream"), PAIRS, ids=PAIR_IDS)
@pytest.mark.parametrize("kind", list(UNPARSEABLE))
async def test_unparseable_upstream_error_bodies_still_get_an_envelope(
    client: str, upstream: str, kind: str, json_backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if json_backend == "stdlib":
        from asgi_translate._hub import json as _json

        monkeypatch.setattr(_json, "loads", json.loads)
    for status in (502, 429):
        app = error_app(status, UNPARSEABLE[kind])
        got = await post(make(app, upstream), DEFAULT_PATHS[client], BODIES[client])  # type: ignore[index]
        error = assert_envelope(client, got.json())
        assert got.start["status"] == status
        assert error["type"] in ("api_error", "server_error", "rate_limit_error")
        assert len(error["message"]) <= 2000
        if kind == "html":
            assert "502 Bad Gateway" in error["message"]  # the upstream's words, whatever their shape


@pytest.mark.parametrize(("client", "upstream"), PAIRS, ids=PAIR_IDS)
async def test_plain_text_error_is_kept_as_the_message(client: str, upstream: str) -> None:
    app = error_app(503, b"upstream connect error or disconnect/reset before headers")
    got = await post(make(app, upstream), DEFAULT_PATHS[client], BODIES[client])  # type: ignore[index]
    error = assert_envelope(client, got.json())
    assert error["message"] == "upstream connect error or disconnect/reset before headers"
    expected = (529, "overloaded_error") if client == "messages" else (503, "server_error")
    assert (got.start["status"], error["type"]) == expected


async def test_openai_error_param_and_code_are_kept_between_openai_schemas() -> None:
    body = b'{"error": {"message": "bad temp", "type": "invalid_request_error", "param": "temperature", "code": "x"}}'
    got = await post(make(error_app(400, body), "chat"), "/v1/responses", RESPONSES_BODY)
    assert assert_openai_envelope(got.json()) == {
        "message": "bad temp",
        "type": "invalid_request_error",
        "param": "temperature",
        "code": "x",
    }


# -- over a real socket: the remote upstream keeps the same headers ----------------------------------------


@pytest.mark.slow
async def test_remote_error_headers_pass_through_to_a_translated_client() -> None:
    error = {"error": {"message": "Rate limit reached", "type": "requests", "code": "rate_limit_exceeded"}}
    model = FakeModel(script=[json.dumps(error)], status=429, content_type="application/json")

    async def with_headers(scope: Scope, receive: Receive, send: Send) -> None:
        async def send_more(message: Any) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message["headers"], *UPSTREAM_HEADERS[:3]]}
            await send(message)

        await model(scope, receive, send_more)

    with serve(with_headers) as url, serve(TranslateMiddleware(upstream="chat", upstream_url=url)) as proxy:
        async with httpx.AsyncClient(timeout=5) as client:
            response = await client.post(proxy + "/v1/messages", json=MESSAGES_BODY)
    assert response.status_code == 429
    assert response.headers["retry-after"] == "7"
    assert response.headers["x-request-id"] == "req_openai_1"
    assert response.headers["request-id"] == "req_anthropic_1"
    assert assert_anthropic_envelope(response.json()) == {"type": "rate_limit_error", "message": "Rate limit reached"}
