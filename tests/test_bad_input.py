"""Bad client input is a 4xx in the client's own envelope, naming the field, and never reaches
the upstream: invalid JSON or UTF-8, non-object bodies, wrong types, missing fields, unknown roles
and part types, oversized and deeply nested bodies, and non-JSON content types.

Content types: a missing ``content-type`` is accepted (curl-style and hand-rolled clients; the
SDKs always send ``application/json``), so are ``application/json`` with parameters and any
``+json`` type; anything else (a form, plain text, multipart) is a 400, not a 415, because both
SDKs map 400 to their ``BadRequestError`` and Anthropic has no error type for 415.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from test_corpus_replay import http_scope
from test_errors import BODIES, assert_envelope
from test_middleware import Client, Recorder, make

from asgi_translate._hub import json as _json
from asgi_translate._hub.routes import DEFAULT_PATHS, SCHEMAS
from asgi_translate._middleware import DEFAULT_MAX_BODY_SIZE

pytestmark = pytest.mark.anyio

ROUTES = [pytest.param(c, u, id=f"{c}-over-{u}") for c in SCHEMAS for u in SCHEMAS if c != u]


async def send_raw(
    client: str, upstream: str, raw: bytes, *, content_type: bytes | None = b"application/json", **options: Any
) -> tuple[Client, Recorder]:
    inner = Recorder()
    scope = http_scope(DEFAULT_PATHS[client], raw)  # type: ignore[index]
    scope["headers"] = [(k, v) for k, v in scope["headers"] if k != b"content-type"]
    if content_type is not None:
        scope["headers"].append((b"content-type", content_type))
    exchange = Client({"type": "http.request", "body": raw, "more_body": False})
    await make(inner, upstream, **options)(scope, exchange.receive, exchange.send)
    return exchange, inner


async def rejected(client: str, upstream: str, raw: bytes, status: int = 400, **options: Any) -> dict[str, Any]:
    """The request got ``status`` in the client's envelope and the upstream never saw it."""
    exchange, inner = await send_raw(client, upstream, raw, **options)
    assert exchange.start["status"] == status, exchange.body[:300]
    assert inner.calls == []
    body = exchange.json()
    error = assert_envelope(client, body)
    expected_type = "request_too_large" if status == 413 and client == "messages" else "invalid_request_error"
    assert error["type"] == expected_type
    return {**error, "param": body["error"].get("param")}


# -- bytes that are not a JSON object ---------------------------------------------------------------------

NOT_AN_OBJECT = {
    "invalid-json": b"{not json",
    "truncated": b'{"model": "m", "messages": [',
    "invalid-utf8": b'{"model": "\xff\xfe", "messages": []}',
    "empty": b"",
    "whitespace": b"  \n ",
    "array": b"[1, 2]",
    "string": b'"hello"',
    "number": b"42",
    "null": b"null",
    "bool": b"true",
    "nan": b'{"model": NaN}',
    "trailing-garbage": b'{"model": "m"} {"model": "n"}',
    "deep-array": b"[" * 100_000 + b"]" * 100_000,
    "deep-object": b'{"a":' * 100_000 + b"1" + b"}" * 100_000,
    "deep-in-a-field": b'{"model": "m", "messages": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
}


@pytest.mark.parametrize("backend", ["orjson", "stdlib"])
@pytest.mark.parametrize("kind", list(NOT_AN_OBJECT))
@pytest.mark.parametrize(("client", "upstream"), ROUTES)
async def test_bodies_that_are_not_a_json_object(
    client: str, upstream: str, kind: str, backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if backend == "stdlib":
        monkeypatch.setattr(_json, "loads", json.loads)
    elif _json.BACKEND != "orjson":
        pytest.skip("orjson is not installed")
    error = await rejected(client, upstream, NOT_AN_OBJECT[kind])
    if kind != "deep-in-a-field" and not (kind == "nan" and backend == "stdlib"):  # stdlib reads NaN
        assert error["message"].startswith("Request body is not a valid JSON object")


def tool_with_schema(client: str, levels: int) -> bytes:
    """A request whose tool schema nests ``2 * levels + 1`` deep (built as text: no recursion here)."""
    schema = '{"type":"object","properties":{"a":' * levels + '{"type":"object"}' + "}}" * levels
    tool = {
        "chat": '{"type":"function","function":{"name":"f","parameters":%s}}',
        "messages": '{"name":"f","input_schema":%s}',
        "responses": '{"type":"function","name":"f","parameters":%s}',
    }[client] % schema
    body = json.dumps(BODIES[client])
    return f'{body[:-1]},"tools":[{tool}]}}'.encode()


@pytest.mark.parametrize(("levels", "orjson_message"), [(150, "nested too deeply"), (600, "not a valid JSON object")])
@pytest.mark.parametrize(("client", "upstream"), ROUTES)
async def test_deep_nesting_inside_a_field_is_a_400_with_orjson(
    client: str, upstream: str, levels: int, orjson_message: str
) -> None:
    """orjson parses 1024 levels but writes only 254: a 301-level tool schema is a 400 too."""
    if _json.BACKEND != "orjson":
        pytest.skip("orjson is not installed")
    exchange, inner = await send_raw(client, upstream, tool_with_schema(client, levels))
    assert exchange.start["status"] == 400, exchange.body[:300]
    assert inner.calls == []
    assert orjson_message in assert_envelope(client, exchange.json())["message"]


@pytest.mark.parametrize("levels", [150, 600, 5000])
@pytest.mark.parametrize(("client", "upstream"), ROUTES)
async def test_deep_nesting_inside_a_field_with_the_stdlib(
    client: str, upstream: str, levels: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The stdlib writes what it reads up to its recursion limit: forwarded, or a 400 past it."""
    monkeypatch.setattr(_json, "loads", json.loads)
    monkeypatch.setattr(_json, "dumpb", lambda value: json.dumps(value).encode())
    exchange, inner = await send_raw(client, upstream, tool_with_schema(client, levels))
    if levels == 150:
        assert len(inner.calls) == 1
    else:
        assert exchange.start["status"] == 400 and inner.calls == []
        assert_envelope(client, exchange.json())


# -- well-formed JSON with the wrong content ------------------------------------------------------------------

# (client, body, param): each mistake names its field.
WRONG_CONTENT = [
    ("chat", {"messages": [{"role": "user", "content": "hi"}]}, "model"),
    ("chat", {"model": 5, "messages": [{"role": "user", "content": "hi"}]}, "model"),
    ("chat", {"model": "m"}, "messages"),
    ("chat", {"model": "m", "messages": "hi"}, "messages"),
    ("chat", {"model": "m", "messages": []}, "messages"),
    ("chat", {"model": "m", "messages": [{"role": "wizard", "content": "hi"}]}, "messages[0].role"),
    (
        "chat",
        {"model": "m", "messages": [{"role": "user", "content": [{"type": "holo"}]}]},
        "messages[0].content[0].type",
    ),
    ("chat", {"model": "m", "messages": [{"role": "user", "content": "hi"}], "max_tokens": "x"}, "max_tokens"),
    ("chat", {"model": "m", "messages": [{"role": "user", "content": "hi"}], "temperature": "hot"}, "temperature"),
    ("messages", {"max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}, "model"),
    ("messages", {"model": ["m"], "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}, "model"),
    ("messages", {"model": "m", "messages": [{"role": "user", "content": "hi"}]}, "max_tokens"),
    ("messages", {"model": "m", "max_tokens": 5, "messages": {"role": "user"}}, "messages"),
    (
        "messages",
        {"model": "m", "max_tokens": 5, "messages": [{"role": "wizard", "content": "hi"}]},
        "messages[0].role",
    ),
    (
        "messages",
        {"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": [{"type": "holo"}]}]},
        "messages[0].content[0].type",
    ),
    ("messages", {"model": "m", "max_tokens": "x", "messages": [{"role": "user", "content": "hi"}]}, "max_tokens"),
    ("responses", {"input": "hi"}, "model"),
    ("responses", {"model": None, "input": "hi"}, "model"),
    ("responses", {"model": "m"}, "input"),
    ("responses", {"model": "m", "input": 5}, "input"),
    ("responses", {"model": "m", "input": [{"role": "wizard", "content": "hi"}]}, "input[0].role"),
    (
        "responses",
        {"model": "m", "input": [{"role": "user", "content": [{"type": "holo"}]}]},
        "input[0].content[0].type",
    ),
    ("responses", {"model": "m", "input": "hi", "max_output_tokens": "x"}, "max_output_tokens"),
    # Found by test_fuzz: a list or dict where a type name goes used to escape as a TypeError (500).
    ("chat", {"model": "m", "messages": [{"role": "user", "content": [{"type": []}]}]}, "messages[0].content[0].type"),
    (
        "messages",
        {"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": [{"type": ["x"]}]}]},
        "messages[0].content[0].type",
    ),
    (
        "messages",
        {"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}], "tool_choice": {"type": {}}},
        "tool_choice.type",
    ),
    ("responses", {"model": "m", "input": [{"type": []}]}, "input[0].type"),
    ("responses", {"model": "m", "input": "hi", "reasoning": {"effort": ["high"]}}, "reasoning.effort"),
    (
        "responses",
        {"model": "m", "input": "hi", "tools": [{"type": "custom", "name": "x", "description": {}}]},
        "tools[0].description",
    ),
]


@pytest.mark.parametrize(("client", "body", "param"), WRONG_CONTENT, ids=[f"{c}-{p}" for c, _, p in WRONG_CONTENT])
async def test_wrong_types_missing_fields_unknown_roles_and_parts_name_the_field(
    client: str, body: dict[str, Any], param: str
) -> None:
    for upstream in SCHEMAS:
        if upstream == client:
            continue
        error = await rejected(client, upstream, json.dumps(body).encode())
        assert param in error["message"]
        if client != "messages":  # Anthropic's envelope has no param; the message names the field
            assert error["param"] == param


# -- size -----------------------------------------------------------------------------------------------


def test_the_default_limit_is_32_mib() -> None:
    assert DEFAULT_MAX_BODY_SIZE == 32 * 1024 * 1024
    assert make(Recorder()).max_body_size == DEFAULT_MAX_BODY_SIZE


@pytest.mark.parametrize(("client", "upstream"), ROUTES)
async def test_a_body_over_the_default_limit_is_a_413_read_no_further(client: str, upstream: str) -> None:
    chunk = b" " * (1024 * 1024)
    messages = [{"type": "http.request", "body": chunk, "more_body": True} for _ in range(40)]
    exchange = Client(*messages)
    inner = Recorder()
    await make(inner, upstream)(http_scope(DEFAULT_PATHS[client], b""), exchange.receive, exchange.send)  # type: ignore[index]
    assert exchange.start["status"] == 413
    assert inner.calls == []
    error = assert_envelope(client, exchange.json())
    assert error["type"] == ("request_too_large" if client == "messages" else "invalid_request_error")
    assert str(DEFAULT_MAX_BODY_SIZE) in error["message"]
    assert len(exchange.requests) == 40 - 33  # stopped reading at the first chunk past 32 MiB


@pytest.mark.parametrize(("client", "upstream"), ROUTES)
async def test_the_limit_is_configurable(client: str, upstream: str) -> None:
    raw = json.dumps(BODIES[client]).encode()
    await rejected(client, upstream, raw, status=413, max_body_size=len(raw) - 1)
    exchange, inner = await send_raw(client, upstream, raw, max_body_size=len(raw))
    assert len(inner.calls) == 1


# -- content type -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content_type",
    [b"text/plain", b"application/x-www-form-urlencoded", b"multipart/form-data; boundary=x", b"application/xml"],
)
@pytest.mark.parametrize(("client", "upstream"), ROUTES)
async def test_non_json_content_types_are_a_400_that_says_what_to_send(
    client: str, upstream: str, content_type: bytes
) -> None:
    raw = json.dumps(BODIES[client]).encode()
    error = await rejected(client, upstream, raw, content_type=content_type)
    assert "Content-Type must be application/json" in error["message"]
    assert content_type.split(b";")[0].decode() in error["message"]


@pytest.mark.parametrize(
    "content_type",
    [None, b"", b"application/json", b"Application/JSON; charset=utf-8", b"application/vnd.api+json"],
)
@pytest.mark.parametrize(("client", "upstream"), ROUTES)
async def test_json_or_missing_content_types_are_accepted(
    client: str, upstream: str, content_type: bytes | None
) -> None:
    raw = json.dumps(BODIES[client]).encode()
    exchange, inner = await send_raw(client, upstream, raw, content_type=content_type)
    assert len(inner.calls) == 1
    upstream_headers = dict(inner.calls[0][0]["headers"])
    assert upstream_headers[b"content-type"] == b"application/json"


async def test_a_client_that_leaves_before_its_body_is_done_never_reaches_the_upstream() -> None:
    inner = Recorder()
    exchange = Client({"type": "http.request", "body": b'{"model":', "more_body": True})  # then http.disconnect
    await make(inner, "chat")(http_scope("/v1/messages", b""), exchange.receive, exchange.send)
    assert inner.calls == []
    assert exchange.start["status"] == 400
