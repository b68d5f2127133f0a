"""TranslateMiddleware at the ASGI message level: what the inner app sees, what the client gets, when.

``httpx.ASGITransport`` and Starlette's TestClient buffer whole bodies, so these tests call the
middleware with hand-made ``receive``/``send`` and look at every message.
"""

from __future__ import annotations

import json
from typing import Any

import anyio
import pytest
from conftest import FIXED_TIME, counting_ids
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from test_corpus_replay import http_scope
from validators.chat import validate_chat_stream
from validators.messages import validate_messages_stream

from asgi_translate import TranslateMiddleware
from asgi_translate._hub.sse import format_event

pytestmark = pytest.mark.anyio

MESSAGES_BODY = {"model": "client-model", "max_tokens": 64, "messages": [{"role": "user", "content": "hi"}]}
CHAT_BODY = {"model": "client-model", "messages": [{"role": "user", "content": "hi"}]}


def chat_frame(delta: dict[str, Any] | None = None, finish: str | None = None) -> bytes:
    chunk = {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "gpt",
        "choices": [{"index": 0, "delta": delta or {}, "finish_reason": finish}],
    }
    return format_event(json.dumps(chunk))


ROLE = chat_frame({"role": "assistant", "content": ""})
HELLO = chat_frame({"content": "Hello"})
END = chat_frame(finish="stop") + format_event("[DONE]")


def make(app: ASGIApp, upstream: str = "chat", **options: Any) -> TranslateMiddleware:
    return TranslateMiddleware(
        app,
        upstream=upstream,  # type: ignore[arg-type]
        id_factory=counting_ids(),
        clock=lambda: FIXED_TIME,
        **options,
    )


class Client:
    """Plays the server side: feeds request messages, records what the middleware sends."""

    def __init__(self, *requests: Message) -> None:
        self.requests = list(requests)
        self.sent: list[Message] = []
        self.body_sent = anyio.Event()

    async def receive(self) -> Message:
        if self.requests:
            return self.requests.pop(0)
        return {"type": "http.disconnect"}

    async def send(self, message: Message) -> None:
        self.sent.append(message)
        if message["type"] == "http.response.body" and message.get("body"):
            self.body_sent.set()

    @property
    def start(self) -> Message:
        assert self.sent[0]["type"] == "http.response.start"
        return self.sent[0]

    @property
    def headers(self) -> dict[bytes, bytes]:
        return dict(self.start["headers"])

    @property
    def bodies(self) -> list[Message]:
        return [m for m in self.sent if m["type"] == "http.response.body"]

    @property
    def body(self) -> bytes:
        return b"".join(m.get("body", b"") for m in self.bodies)

    def json(self) -> Any:
        return json.loads(self.body)


async def post(app: ASGIApp, path: str, body: Any, *, raw: bytes | None = None) -> Client:
    data = raw if raw is not None else json.dumps(body).encode()
    client = Client({"type": "http.request", "body": data, "more_body": False})
    await app(http_scope(path, data), client.receive, client.send)
    return client


def stream_app(*chunks: bytes, status: int = 200, headers: list[tuple[bytes, bytes]] | None = None) -> ASGIApp:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        base = [(b"content-type", b"text/event-stream")]
        await send({"type": "http.response.start", "status": status, "headers": base + (headers or [])})
        for i, chunk in enumerate(chunks):
            await send({"type": "http.response.body", "body": chunk, "more_body": i < len(chunks) - 1})

    return app


# -- pass-through -------------------------------------------------------------------------------


class Recorder:
    """An inner app that remembers exactly what it was called with."""

    def __init__(self) -> None:
        self.calls: list[tuple[Scope, Receive, Send]] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.calls.append((scope, receive, send))


async def _noop_receive() -> Message:
    return {"type": "http.disconnect"}


async def _noop_send(message: Message) -> None:
    return None


@pytest.mark.parametrize(
    "scope",
    [
        {**http_scope("/v1/other", b""), "method": "POST"},
        {**http_scope("/v1/messages", b""), "method": "GET"},
        {**http_scope("/v1/chat/completions", b"")},  # the upstream's own path is not translated
        {"type": "websocket", "path": "/v1/messages", "headers": []},
        {"type": "lifespan", "asgi": {"version": "3.0"}},
    ],
    ids=["other-path", "get", "upstream-path", "websocket", "lifespan"],
)
async def test_unmatched_requests_pass_through_untouched(scope: Scope) -> None:
    inner = Recorder()
    await make(inner)(scope, _noop_receive, _noop_send)
    assert len(inner.calls) == 1
    seen_scope, seen_receive, seen_send = inner.calls[0]
    assert seen_scope is scope
    assert seen_receive is _noop_receive
    assert seen_send is _noop_send


# -- the request the inner app sees ---------------------------------------------------------------


async def test_inner_app_sees_a_translated_copy_of_the_request() -> None:
    seen: list[tuple[Scope, list[Message]]] = []

    async def inner(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append((scope, [await receive(), await receive()]))
        await stream_app(ROLE + HELLO + END)(scope, _noop_receive, send)

    body = json.dumps({**MESSAGES_BODY, "stream": True}).encode()
    scope = {**http_scope("/v1/messages", body), "headers": [*http_scope("/v1/messages", body)["headers"]]}
    scope["headers"].append((b"accept-encoding", b"gzip"))
    original = {**scope, "headers": list(scope["headers"])}
    client = Client({"type": "http.request", "body": body, "more_body": False}, {"type": "http.disconnect"})
    await make(inner)(scope, client.receive, client.send)

    assert scope == original  # the client's scope was copied, not edited
    inner_scope, (request, later) = seen[0]
    assert inner_scope["path"] == "/v1/chat/completions"
    assert inner_scope["raw_path"] == b"/v1/chat/completions"
    headers = dict(inner_scope["headers"])
    assert headers[b"content-length"] == str(len(request["body"])).encode()
    assert headers[b"content-type"] == b"application/json"
    assert headers[b"accept-encoding"] == b"identity"
    assert [k for k, _ in inner_scope["headers"]].count(b"content-length") == 1
    assert request["type"] == "http.request" and request["more_body"] is False
    translated = json.loads(request["body"])
    assert translated["model"] == "client-model"
    assert translated["stream"] is True
    assert translated["messages"][-1]["role"] == "user"
    assert translated.get("max_completion_tokens", translated.get("max_tokens")) == 64
    # After the body, receive hands the client's own messages through: the disconnect arrives.
    assert later == {"type": "http.disconnect"}
    assert validate_messages_stream(client.body).text == "Hello"


async def test_body_sent_in_several_messages_is_joined() -> None:
    seen: list[bytes] = []

    async def inner(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append((await receive())["body"])
        await stream_app(ROLE + END)(scope, _noop_receive, send)

    data = json.dumps({**MESSAGES_BODY, "stream": True}).encode()
    client = Client(
        {"type": "http.request", "body": data[:10], "more_body": True},
        {"type": "http.request", "body": data[10:], "more_body": False},
    )
    await make(inner)(http_scope("/v1/messages", data), client.receive, client.send)
    assert json.loads(seen[0])["model"] == "client-model"
    assert client.start["status"] == 200


# -- the response the client gets -----------------------------------------------------------------


async def test_stream_drops_content_length_and_translates_per_body_message() -> None:
    comment_only = b": keep-alive\n\n"  # translates to nothing: no empty body message is sent for it
    app = make(stream_app(ROLE, comment_only, HELLO, END, headers=[(b"content-length", b"999")]))
    client = await post(app, "/v1/messages", {**MESSAGES_BODY, "stream": True})
    assert client.start["status"] == 200
    assert client.headers[b"content-type"] == b"text/event-stream"
    assert b"content-length" not in client.headers
    bodies = client.bodies
    assert [m["more_body"] for m in bodies] == [True, True, False]
    assert all(m["body"] for m in bodies[:-1])
    assert b"message_start" in bodies[0]["body"] and b"Hello" in bodies[1]["body"]
    assert b"message_stop" in bodies[2]["body"]
    validate_messages_stream(client.body)


async def test_json_response_gets_its_own_content_length() -> None:
    completion = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": "gpt",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
    }
    raw = json.dumps(completion).encode()

    async def inner(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(raw)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": raw[:20], "more_body": True})
        await send({"type": "http.response.body", "body": raw[20:], "more_body": False})

    client = await post(make(inner), "/v1/messages", MESSAGES_BODY)
    assert client.start["status"] == 200
    assert client.headers[b"content-length"] == str(len(client.body)).encode()
    assert len(client.bodies) == 1
    body = client.json()
    assert body["content"] == [{"type": "text", "text": "Hi"}]
    assert body["model"] == "client-model"


async def test_first_frame_is_sent_before_the_upstream_finishes() -> None:
    release = anyio.Event()
    upstream_done = False

    async def inner(scope: Scope, receive: Receive, send: Send) -> None:
        nonlocal upstream_done
        await receive()
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/event-stream")]})
        await send({"type": "http.response.body", "body": ROLE + HELLO, "more_body": True})
        await release.wait()
        await send({"type": "http.response.body", "body": END, "more_body": False})
        upstream_done = True

    app = make(inner)
    data = json.dumps({**MESSAGES_BODY, "stream": True}).encode()
    client = Client({"type": "http.request", "body": data, "more_body": False})
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(app, http_scope("/v1/messages", data), client.receive, client.send)
            await client.body_sent.wait()
            # The client already holds message_start and the first text while the upstream waits.
            assert not upstream_done
            early = client.body
            assert b"event: message_start" in early and b'"text":"Hello"' in early.replace(b" ", b"")
            assert client.bodies[-1]["more_body"] is True
            release.set()
    assert upstream_done
    assert validate_messages_stream(client.body).text == "Hello"


# -- errors ---------------------------------------------------------------------------------------


async def test_non_2xx_upstream_becomes_the_client_error_envelope() -> None:
    async def inner(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        body = b'{"error": {"message": "slow down", "type": "rate_limit_error", "code": null}}'
        await send({"type": "http.response.start", "status": 429, "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": body, "more_body": False})

    client = await post(make(inner), "/v1/messages", MESSAGES_BODY)
    assert client.start["status"] == 429
    body = client.json()
    assert body["type"] == "error"
    assert body["error"] == {"type": "rate_limit_error", "message": "slow down"}


async def test_non_json_error_body_still_gets_an_envelope() -> None:
    async def inner(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "http.response.start", "status": 502, "headers": [(b"content-type", b"text/html")]})
        await send({"type": "http.response.body", "body": b"<html>Bad Gateway</html>", "more_body": False})

    client = await post(make(inner, "messages"), "/v1/chat/completions", CHAT_BODY)
    assert client.start["status"] == 502
    error = client.json()["error"]
    assert isinstance(error["message"], str) and error["message"]
    assert error["type"] == "server_error"


@pytest.mark.parametrize(
    ("raw", "what"),
    [(b"{not json", "invalid JSON"), (b"[1, 2]", "array"), (b"", "empty")],
    ids=["bad", "array", "empty"],
)
async def test_unparsable_body_is_a_400_in_the_client_envelope(raw: bytes, what: str) -> None:
    inner = Recorder()
    client = await post(make(inner), "/v1/messages", None, raw=raw)
    assert client.start["status"] == 400
    body = client.json()
    assert body["type"] == "error" and body["error"]["type"] == "invalid_request_error"
    assert inner.calls == []
    chat = await post(make(inner, "messages"), "/v1/chat/completions", None, raw=raw)
    assert chat.start["status"] == 400
    assert chat.json()["error"]["type"] == "invalid_request_error"
    assert inner.calls == []


async def test_oversize_body_is_a_413() -> None:
    inner = Recorder()
    data = json.dumps(MESSAGES_BODY).encode()
    client = Client(
        {"type": "http.request", "body": data[:30], "more_body": True},
        {"type": "http.request", "body": data[30:], "more_body": False},
    )
    await make(inner, max_body_size=40)(http_scope("/v1/messages", data), client.receive, client.send)
    assert client.start["status"] == 413
    assert client.json()["type"] == "error"
    assert "max_body_size" in client.json()["error"]["message"]
    assert inner.calls == []


async def test_inner_app_raising_before_start_is_a_502() -> None:
    async def inner(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        raise RuntimeError("boom")

    client = await post(make(inner), "/v1/messages", MESSAGES_BODY)
    assert client.start["status"] == 502
    assert client.json()["error"]["type"] in ("api_error", "bad_gateway_error")
    chat = await post(make(inner, "messages"), "/v1/chat/completions", CHAT_BODY)
    assert chat.start["status"] == 502
    assert "error" in chat.json()


async def _raise_mid_stream(scope: Scope, receive: Receive, send: Send) -> None:
    await receive()
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/event-stream")]})
    first = ROLE + HELLO if scope["path"] == "/v1/chat/completions" else MESSAGES_HEAD
    await send({"type": "http.response.body", "body": first, "more_body": True})
    raise RuntimeError("connection reset")


MESSAGES_HEAD = (
    format_event(
        json.dumps(
            {
                "type": "message_start",
                "message": {
                    "id": "msg_1",
                    "type": "message",
                    "role": "assistant",
                    "model": "claude",
                    "content": [],
                    "usage": {"input_tokens": 3, "output_tokens": 1},
                },
            }
        ),
        "message_start",
    )
    + format_event(
        json.dumps({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
        "content_block_start",
    )
    + format_event(
        json.dumps({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hello"}}),
        "content_block_delta",
    )
)


async def test_inner_app_raising_mid_stream_ends_with_the_messages_failure_event() -> None:
    client = await post(make(_raise_mid_stream), "/v1/messages", {**MESSAGES_BODY, "stream": True})
    assert client.start["status"] == 200
    assert client.bodies[-1]["more_body"] is False
    summary = validate_messages_stream(client.body)
    assert summary.text == "Hello" and summary.error is not None
    assert summary.error["type"] == "api_error"


async def test_inner_app_raising_mid_stream_ends_with_the_chat_error_chunk() -> None:
    client = await post(make(_raise_mid_stream, "messages"), "/v1/chat/completions", {**CHAT_BODY, "stream": True})
    assert client.start["status"] == 200
    assert client.bodies[-1]["more_body"] is False
    summary = validate_chat_stream(client.body)
    assert summary.text == "Hello"
    assert summary.error is not None and summary.stop_reason is None


async def test_inner_app_returning_mid_stream_ends_the_client_stream() -> None:
    async def inner(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/event-stream")]})
        await send({"type": "http.response.body", "body": ROLE + HELLO, "more_body": True})

    client = await post(make(inner), "/v1/messages", {**MESSAGES_BODY, "stream": True})
    assert client.bodies[-1]["more_body"] is False
    summary = validate_messages_stream(client.body)
    assert summary.error is not None and summary.stop_reason is None


async def test_upstream_stream_cut_before_its_terminator_is_a_failure() -> None:
    """The upstream finished its body (more_body=False) without finish_reason or [DONE]."""
    client = await post(make(stream_app(ROLE + HELLO)), "/v1/messages", {**MESSAGES_BODY, "stream": True})
    summary = validate_messages_stream(client.body)
    assert summary.error is not None and summary.error["type"] == "api_error"


async def test_inner_app_returning_without_a_response_is_a_502() -> None:
    async def inner(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()

    client = await post(make(inner), "/v1/messages", MESSAGES_BODY)
    assert client.start["status"] == 502
    assert client.json()["type"] == "error"
