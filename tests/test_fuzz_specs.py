"""Fuzz every route with bodies drawn from the official request schemas (issue 14).

schemathesis generates bodies from the specs' own schemas (``CreateChatCompletionRequest``,
``CreateResponse``, ``CreateMessageParams``, and the two token-count bodies; see
``spec_schemas.py``): valid ones (positive) and ones that break the schema on purpose (negative:
wrong types, missing fields, out-of-range numbers, lone surrogates, any JSON value). Each body goes
through every route that serves its path: the two translating upstreams and the same-schema
model rename. The only allowed outcomes are a complete answer the client's validators accept, or
a 4xx in the client's own error envelope; every header must be one h11 can write.

Both JSON backends: CI runs the suite again with ``ASGI_TRANSLATE_JSON=json``. The example count
per route is ``ASGI_TRANSLATE_FUZZ_EXAMPLES`` (default 40; the whole file then takes about a minute
per backend on two cores).
"""

from __future__ import annotations

import json
import os
from functools import cache
from typing import Any

import anyio
import pytest
from hardening import answering, call
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from spec_schemas import ROUTES, load
from test_errors import assert_envelope
from validators.chat import validate_chat_json, validate_chat_stream
from validators.messages import validate_messages_json, validate_messages_stream
from validators.responses import validate_responses_stream

from asgi_translate import TranslateMiddleware

schemathesis = pytest.importorskip("schemathesis")

pytestmark = pytest.mark.slow

EXAMPLES = int(os.environ.get("ASGI_TRANSLATE_FUZZ_EXAMPLES", "40"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)

#: path -> the client schema it serves
CLIENTS = {
    "/v1/chat/completions": "chat",
    "/v1/responses": "responses",
    "/v1/responses/input_tokens": "responses",
    "/v1/messages": "messages",
    "/v1/messages/count_tokens": "messages",
}
SCHEMAS = ("chat", "messages", "responses")
#: One body per path that every route answers: random spec bodies are mostly refused somewhere.
GOOD = {
    "/v1/chat/completions": {"model": "m", "messages": [{"role": "user", "content": "hi"}]},
    "/v1/responses": {"model": "m", "input": "hi", "stream": True},
    "/v1/responses/input_tokens": {"model": "m", "input": "hi"},
    "/v1/messages": {"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]},
    "/v1/messages/count_tokens": {"model": "m", "messages": [{"role": "user", "content": "hi"}]},
}


def apps_for(path: str) -> list[tuple[str, TranslateMiddleware]]:
    """Every route serving ``path``: over each other schema, and over its own (model rename)."""
    client = CLIENTS[path]
    apps = []
    for upstream in SCHEMAS:
        if upstream == client and path.endswith("_tokens"):
            continue  # the upstream's own count endpoint: passed through untouched
        options: dict[str, Any] = {"model_map": {"*": "renamed"}} if upstream == client else {}
        app = TranslateMiddleware(answering(upstream), upstream=upstream, **options)  # type: ignore[arg-type]
        apps.append((upstream, app))
    return apps


@cache
def body_strategy(path: str) -> st.SearchStrategy[Any]:
    from schemathesis import GenerationMode

    vendor, _ = ROUTES[path]
    operation = schemathesis.openapi.from_dict(load()[vendor])[path]["POST"]
    cases = st.one_of(
        operation.as_strategy(generation_mode=GenerationMode.POSITIVE),
        operation.as_strategy(generation_mode=GenerationMode.NEGATIVE),
    )
    return cases.map(lambda case: case.body)


def encode(body: Any) -> bytes:
    """The bytes a client would send: JSON with ASCII escapes (so lone surrogates arrive as
    ``\\ud800``, which the stdlib parser accepts and orjson refuses), raw bytes as they are."""
    if isinstance(body, bytes):
        return body
    try:
        return json.dumps(body).encode()
    except (TypeError, ValueError):  # schemathesis' NOT_SET and the like: no body at all
        return b""


def check(path: str, upstream: str, status: int, content_type: bytes, body: bytes) -> None:
    client = CLIENTS[path]
    where = f"{path} over {upstream}: {status} {body[:400]!r}"
    assert status < 500, where
    if status >= 400:
        assert_envelope(client, json.loads(body))
        return
    assert status == 200, where
    if path.endswith("_tokens"):
        count = json.loads(body)["input_tokens"]
        assert isinstance(count, int) and count >= 0, where
    elif content_type.startswith(b"text/event-stream"):
        {"chat": validate_chat_stream, "messages": validate_messages_stream, "responses": validate_responses_stream}[
            client
        ](body)
    elif client == "chat":
        validate_chat_json(json.loads(body))
    elif client == "messages":
        validate_messages_json(json.loads(body))
    else:
        assert json.loads(body)["object"] == "response", where


@pytest.mark.parametrize("path", list(CLIENTS))
def test_spec_bodies_on_every_route_are_answered_or_refused(path: str) -> None:
    apps = apps_for(path)
    statuses: list[int] = []

    @FUZZ
    @given(body=body_strategy(path))
    @example(body=GOOD[path])
    @example(body=[GOOD[path]])
    def run(body: Any) -> None:
        raw = encode(body)

        async def each() -> None:
            for upstream, app in apps:
                got = await call(app, path, raw=raw, limit=10)  # checks completion and every header
                statuses.append(got.status)
                check(path, upstream, got.status, got.headers.get(b"content-type", b""), got.body)

        anyio.run(each)

    run()
    # Both outcomes were exercised (the examples above make sure of it).
    assert statuses.count(200) >= 1 and any(400 <= s < 500 for s in statuses), statuses
