"""model_map on requests that need no translation: a client of the upstream's own schema.

The upstream sees the mapped name, the client sees its own name again (JSON bodies and stream
frames), and everything else crosses as it was: frames without a model keep their bytes, and
without a mapping for the name (or without a model_map at all) the exchange is byte-identical.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import httpx2
import openai
import pytest
from conftest import corpus_root
from servers import serve
from starlette.types import Receive, Scope, Send

from asgi_translate import TranslateMiddleware
from asgi_translate._hub.routes import DEFAULT_PATHS, SCHEMAS, Route, SchemaName
from asgi_translate._hub.sse import SSEDecoder
from asgi_translate.testing import FakeModel

pytestmark = pytest.mark.anyio

MAP = {"client-model": "fake-upstream"}
HELLO: Any = [{"role": "user", "content": "hello there"}]
STREAMS: dict[SchemaName, str] = {
    "chat": "chat/openai-text-stream.sse",
    "messages": "messages/text-stream-short.sse",
    "responses": "responses/text-stream.sse",
}
BODIES: dict[SchemaName, str] = {
    "chat": "chat/openai-text-nonstream.json",
    "messages": "messages/text-nonstream.json",
    "responses": "responses/text-nonstream.json",
}


def upstream_app(schema: SchemaName, model: FakeModel) -> Any:
    """An app speaking ``schema`` whose answers name the model it was asked for: the FakeModel
    itself for chat, the FakeModel behind a translating middleware for the others."""
    return model if schema == "chat" else TranslateMiddleware(model, upstream="chat")


def request_body(schema: SchemaName, model: str = "client-model", **extra: Any) -> dict[str, Any]:
    if schema == "responses":
        return {"model": model, "input": "hello there", **extra}
    if schema == "messages":
        return {"model": model, "max_tokens": 64, "messages": HELLO, **extra}
    return {"model": model, "messages": HELLO, **extra}


# -- the official SDKs, in process and through a remote --------------------------------------------


async def ask(schema: SchemaName, http: httpx2.AsyncClient, base_url: str, *, stream: bool) -> tuple[set[str], str]:
    """Ask through the schema's SDK as ``client-model``; returns (models shown, answer text)."""
    if schema == "messages":
        return await _ask_messages(anthropic.AsyncAnthropic(base_url=base_url, api_key="k", http_client=http), stream)
    client = openai.AsyncOpenAI(base_url=base_url + "/v1", api_key="k", http_client=http, max_retries=0)
    return await (_ask_chat(client, stream) if schema == "chat" else _ask_responses(client, stream))


async def _ask_messages(claude: anthropic.AsyncAnthropic, stream: bool) -> tuple[set[str], str]:
    message: Any
    if stream:
        async with claude.messages.stream(model="client-model", max_tokens=64, messages=HELLO) as events:
            message = await events.get_final_message()
    else:
        message = await claude.messages.create(model="client-model", max_tokens=64, messages=HELLO)
    assert message.content[0].type == "text"
    return {message.model}, message.content[0].text


async def _ask_chat(client: openai.AsyncOpenAI, stream: bool) -> tuple[set[str], str]:
    if not stream:
        completion = await client.chat.completions.create(model="client-model", messages=HELLO)
        return {completion.model}, completion.choices[0].message.content or ""
    chunks = [c async for c in await client.chat.completions.create(model="client-model", messages=HELLO, stream=True)]
    return {c.model for c in chunks}, "".join(choice.delta.content or "" for c in chunks for choice in c.choices)


async def _ask_responses(client: openai.AsyncOpenAI, stream: bool) -> tuple[set[str], str]:
    if not stream:
        response = await client.responses.create(model="client-model", input="hello there")
        return {response.model}, response.output_text
    events = [e async for e in await client.responses.create(model="client-model", input="hello there", stream=True)]
    models = {e.response.model for e in events if e.type in ("response.created", "response.in_progress")}
    assert events[-1].type == "response.completed"
    return models | {events[-1].response.model}, events[-1].response.output_text


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
@pytest.mark.parametrize("schema", SCHEMAS)
async def test_sdk_client_of_the_upstreams_schema_in_process(schema: SchemaName, stream: bool) -> None:
    model = FakeModel()
    app = TranslateMiddleware(upstream_app(schema, model), upstream=schema, model_map=MAP)
    async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app)) as http:
        models, text = await ask(schema, http, "http://proxy", stream=stream)
    assert text == "You said: hello there"
    assert models == {"client-model"}
    assert [r.body["model"] for r in model.requests] == ["fake-upstream"]


@pytest.fixture(scope="module")
def proxies() -> Iterator[tuple[FakeModel, dict[SchemaName, str]]]:
    """A remote speaking the three schemas and one proxy per upstream schema in front of it."""
    model = FakeModel()
    with contextlib.ExitStack() as stack:
        remote = stack.enter_context(serve(TranslateMiddleware(model, upstream="chat")))
        urls = {
            schema: stack.enter_context(
                serve(TranslateMiddleware(upstream=schema, upstream_url=remote + "/v1", model_map=MAP))
            )
            for schema in SCHEMAS
        }
        yield model, urls


@pytest.mark.slow
@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
@pytest.mark.parametrize("schema", SCHEMAS)
async def test_sdk_client_of_the_upstreams_schema_through_a_remote(
    proxies: tuple[FakeModel, dict[SchemaName, str]], schema: SchemaName, stream: bool
) -> None:
    model, urls = proxies
    async with httpx2.AsyncClient(timeout=10) as http:
        models, text = await ask(schema, http, urls[schema], stream=stream)
    assert text == "You said: hello there"
    assert models == {"client-model"}
    assert model.requests[-1].body["model"] == "fake-upstream"


# -- recorded upstream answers, frame by frame ---------------------------------------------------


class Recorder:
    """An upstream app that records the raw request and answers with fixed bytes."""

    def __init__(self, body: bytes, content_type: str = "text/event-stream", status: int = 200) -> None:
        self.body, self.content_type, self.status = body, content_type, status
        self.chunk_size = len(body) or 1
        self.seen: list[tuple[Scope, bytes]] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        raw = b""
        while True:
            message = await receive()
            raw += message.get("body", b"")
            if not message.get("more_body", False):
                break
        self.seen.append((scope, raw))
        headers = [(b"content-type", self.content_type.encode()), (b"x-upstream", b"yes")]
        if self.content_type != "text/event-stream":
            headers.append((b"content-length", str(len(self.body)).encode()))
        await send({"type": "http.response.start", "status": self.status, "headers": headers})
        for i in range(0, len(self.body), self.chunk_size):
            await send({"type": "http.response.body", "body": self.body[i : i + self.chunk_size], "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})


async def post(app: Any, path: str, content: bytes) -> httpx.Response:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://proxy") as client:
        return await client.post(path, content=content, headers={"content-type": "application/json"})


def frames(data: bytes) -> list[bytes]:
    return [frame + b"\n\n" for frame in data.split(b"\n\n") if frame]


def model_of(schema: SchemaName, frame: bytes) -> str | None:
    events = SSEDecoder().decode(frame)
    if not events or events[0].data == "[DONE]":
        return None
    data = json.loads(events[0].data)
    holder = data if schema == "chat" else data.get({"messages": "message", "responses": "response"}[schema])
    return holder.get("model") if isinstance(holder, dict) else None


@pytest.mark.parametrize("chunk_size", [None, 1, 7], ids=["whole", "bytewise", "7-byte"])
@pytest.mark.parametrize("schema", SCHEMAS)
async def test_recorded_streams_show_the_clients_name_and_keep_other_frames(
    schema: SchemaName, chunk_size: int | None
) -> None:
    recorded = (corpus_root() / STREAMS[schema]).read_bytes()
    upstream = Recorder(recorded)
    upstream.chunk_size = chunk_size or len(recorded)
    body = json.dumps(request_body(schema, stream=True)).encode()
    app = TranslateMiddleware(upstream, upstream=schema, model_map=MAP)
    response = await post(app, DEFAULT_PATHS[schema], body)
    assert json.loads(upstream.seen[0][1]) == request_body(schema, "fake-upstream", stream=True)
    assert response.headers["content-type"] == "text/event-stream" and response.headers["x-upstream"] == "yes"
    before, after = frames(recorded), frames(response.content)
    assert len(after) == len(before)
    renamed = 0
    for old, new in zip(before, after, strict=True):
        if model_of(schema, old) is None:
            assert new == old  # the very bytes the upstream sent
            continue
        renamed += 1
        assert model_of(schema, new) == "client-model"
        old_event, new_event = SSEDecoder().decode(old)[0], SSEDecoder().decode(new)[0]
        assert new_event.event == old_event.event
        expected = json.loads(old_event.data)
        (expected if schema == "chat" else expected[{"messages": "message", "responses": "response"}[schema]])[
            "model"
        ] = "client-model"
        assert json.loads(new_event.data) == expected
    assert renamed == {"chat": len(before) - 1, "messages": 1, "responses": 3}[schema]


@pytest.mark.parametrize("schema", SCHEMAS)
async def test_recorded_json_answers_show_the_clients_name(schema: SchemaName) -> None:
    recorded = (corpus_root() / BODIES[schema]).read_bytes()
    upstream = Recorder(recorded, "application/json")
    app = TranslateMiddleware(upstream, upstream=schema, model_map=MAP)
    response = await post(app, DEFAULT_PATHS[schema], json.dumps(request_body(schema)).encode())
    assert json.loads(upstream.seen[0][1])["model"] == "fake-upstream"
    assert response.json() == {**json.loads(recorded), "model": "client-model"}
    assert int(response.headers["content-length"]) == len(response.content)
    assert response.headers["x-upstream"] == "yes"


async def test_crlf_frames_with_ids_and_comments() -> None:
    """Comments and frames without a model keep their bytes; a renamed frame keeps its id and event."""
    stream = (
        b": keep-alive\r\n\r\n"
        b'id: 7\r\nevent: message_start\r\ndata: {"type":"message_start","message":{"model":"up"}}\r\n\r\n'
        b'event: ping\r\ndata: {"type":"ping"}\r\n\r\n'
    )
    upstream = Recorder(stream)
    upstream.chunk_size = 1
    app = TranslateMiddleware(upstream, upstream="messages", model_map={"client-model": "up"})
    response = await post(app, "/v1/messages", json.dumps(request_body("messages")).encode())
    assert response.content == (
        b": keep-alive\r\n\r\n"
        b'id: 7\nevent: message_start\ndata: {"type":"message_start","message":{"model":"client-model"}}\n\n'
        b'event: ping\r\ndata: {"type":"ping"}\r\n\r\n'
    )


async def test_a_failed_responses_stream_and_a_last_event_without_its_blank_line() -> None:
    recorded = (corpus_root() / "responses/failed-error-event-stream.sse").read_bytes().rstrip(b"\n")
    upstream = Recorder(recorded)
    app = TranslateMiddleware(upstream, upstream="responses", model_map=MAP)
    response = await post(app, "/v1/responses", json.dumps(request_body("responses", stream=True)).encode())
    events = SSEDecoder().decode(response.content)
    assert [e.event for e in events] == ["response.created", "response.in_progress", "error", "response.failed"]
    assert [json.loads(e.data).get("response", {}).get("model") for e in events] == [
        "client-model",
        "client-model",
        None,
        "client-model",
    ]


# -- what stays untouched --------------------------------------------------------------------------

ODD_BODY = b'{ "model" : "client-model",\n  "messages": [{"role": "user", "content": "caf\\u00e9"}], "max_tokens": 9 }'
ODD_ANSWER = b'{ "model" : "the-upstream-name", "content": [] }'


@pytest.mark.parametrize(
    "options",
    [{}, {"model_map": {"other-model": "x"}}, {"model_map": {"client-model": "client-model"}}],
    ids=["no-map", "unmapped-name", "identity"],
)
async def test_without_a_mapping_for_the_name_the_exchange_is_byte_identical(options: dict[str, Any]) -> None:
    upstream = Recorder(ODD_ANSWER, "application/json")
    response = await post(TranslateMiddleware(upstream, upstream="messages", **options), "/v1/messages", ODD_BODY)
    scope, raw = upstream.seen[0]
    assert raw == ODD_BODY
    assert (b"accept-encoding", b"identity") not in scope["headers"]
    assert response.content == ODD_ANSWER
    assert response.headers["content-length"] == str(len(ODD_ANSWER))


async def test_a_renamed_request_keeps_every_other_field() -> None:
    upstream = Recorder(ODD_ANSWER, "application/json")
    app = TranslateMiddleware(upstream, upstream="messages", model_map={"client-*": "claude-up"})
    response = await post(app, "/v1/messages", ODD_BODY)
    scope, raw = upstream.seen[0]
    assert json.loads(raw) == {**json.loads(ODD_BODY), "model": "claude-up"}
    assert dict(scope["headers"])[b"content-length"] == str(len(raw)).encode()
    assert response.json() == {"model": "client-model", "content": []}


@pytest.mark.parametrize("body", [b"not json", b"[1, 2]", b'{"model": 5}', b'{"messages": []}'])
async def test_bodies_without_a_model_name_pass_through(body: bytes) -> None:
    upstream = Recorder(b'{"error": {"message": "bad"}}', "application/json", status=400)
    response = await post(
        TranslateMiddleware(upstream, upstream="chat", model_map={"*": "x"}), "/v1/chat/completions", body
    )
    assert upstream.seen[0][1] == body
    assert response.status_code == 400 and response.content == b'{"error": {"message": "bad"}}'


async def test_error_answers_pass_through_untouched() -> None:
    error = b'{"error": {"message": "The model `fake-upstream` does not exist", "type": "invalid_request_error"}}'
    upstream = Recorder(error, "application/json", status=404)
    app = TranslateMiddleware(upstream, upstream="responses", model_map=MAP)
    response = await post(app, "/v1/responses", json.dumps(request_body("responses")).encode())
    assert json.loads(upstream.seen[0][1])["model"] == "fake-upstream"
    assert response.status_code == 404 and response.content == error


async def test_other_paths_and_translated_routes_are_not_this_modules() -> None:
    upstream = Recorder(b"{}", "application/json")
    app = TranslateMiddleware(upstream, upstream="chat", model_map=MAP)
    await post(app, "/v1/embeddings", b'{"model": "client-model"}')
    assert upstream.seen[0][1] == b'{"model": "client-model"}'
    assert app.rename_paths == {"/v1/chat/completions": "chat"}


async def test_a_same_schema_route_renames_too() -> None:
    upstream = Recorder(b'{"model": "fake-upstream"}', "application/json")
    app = TranslateMiddleware(upstream, routes=[Route("/llm/chat", "chat", "chat")], model_map=MAP)
    response = await post(app, "/llm/chat", b'{"model": "client-model", "messages": []}')
    assert upstream.seen[0][0]["path"] == "/llm/chat"
    assert json.loads(upstream.seen[0][1])["model"] == "fake-upstream"
    assert response.json() == {"model": "client-model"}


async def test_a_body_over_the_limit_is_a_413_in_the_schemas_envelope() -> None:
    upstream = Recorder(b"{}", "application/json")
    app = TranslateMiddleware(upstream, upstream="messages", model_map=MAP, max_body_size=10)
    response = await post(app, "/v1/messages", json.dumps(request_body("messages")).encode())
    assert response.status_code == 413
    assert response.json()["error"]["type"] == "request_too_large"
    assert upstream.seen == []
