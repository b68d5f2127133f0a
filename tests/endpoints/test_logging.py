"""One structured log line per translated exchange, and the request id that ties client, log
and upstream together."""

from __future__ import annotations

import ast
import json
import logging
import re
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import anyio
import pytest
from starlette.types import Message, Receive, Scope, Send
from test_corpus_replay import http_scope
from test_errors import BODIES, error_app
from test_failures import chat_partial, messages_partial, script_app
from test_middleware import Client, Recorder, make

import asgi_translate
from asgi_translate._endpoints.exchange_log import ExchangeLog, request_id_from
from asgi_translate.testing import FakeModel

pytestmark = pytest.mark.anyio

ROUTES = {"chat": "chat/completions", "messages": "messages", "responses": "responses"}
LINE = re.compile(r"^asgi_translate (\w+=\S+)( \w+=\S+)*$")


class Held(Client):
    """A client whose ``receive`` stays open until its response is complete, as a server's does
    (FakeModel takes an early ``http.disconnect`` for a client that left)."""

    def __init__(self, *requests: Message) -> None:
        super().__init__(*requests)
        self.complete = anyio.Event()

    async def receive(self) -> Message:
        if self.requests:
            return self.requests.pop(0)
        await self.complete.wait()
        return {"type": "http.disconnect"}

    async def send(self, message: Message) -> None:
        await super().send(message)
        if message["type"] == "http.response.body" and not message.get("more_body", False):
            self.complete.set()


async def exchange(app: Any, path: str, body: Any, headers: Sequence[tuple[bytes, bytes]] = ()) -> Client:
    raw = json.dumps(body).encode() if not isinstance(body, bytes) else body
    got = Held({"type": "http.request", "body": raw, "more_body": False})
    scope = http_scope(path, raw)
    scope["headers"] = [*scope["headers"], *headers]
    with anyio.fail_after(5):
        await app(scope, got.receive, got.send)
    return got


def lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "asgi_translate" and hasattr(r, "asgi_translate")]


@pytest.fixture(autouse=True)
def info(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="asgi_translate")


async def test_a_streamed_exchange_logs_every_field_once(caplog: pytest.LogCaptureFixture) -> None:
    body = {**BODIES["messages"], "model": "claude-x", "stream": True}
    got = await exchange(make(FakeModel(), "chat", model_map={"*": "fake-model"}), "/v1/messages", body)
    [record] = lines(caplog)
    fields = record.asgi_translate  # type: ignore[attr-defined]
    request_id = dict(got.start["headers"])[b"x-request-id"].decode()
    assert fields == {
        "request_id": request_id,
        "route": "/v1/messages",
        "client": "messages",
        "upstream": "chat",
        "model": "claude-x",  # the client's name for it
        "status": 200,
        "duration_ms": fields["duration_ms"],
        "frames_in": 7,  # role, "You", " said:", " hi", finish_reason, usage, [DONE]
        "frames_out": got.body.count(b"\n\n"),
        "bytes_out": len(got.body),
    }
    assert isinstance(fields["duration_ms"], float) and 0 <= fields["duration_ms"] < 5000
    assert fields["frames_out"] >= 8
    assert record.levelno == logging.INFO
    message = record.getMessage()
    assert LINE.match(message), message
    assert f"request_id={request_id} " in message and "frames_in=7 " in message and "status=200 " in message


@pytest.mark.parametrize(
    ("client", "upstream", "cut"),
    [
        ("messages", "chat", False),
        ("responses", "chat", False),
        ("messages", "chat", True),
        ("responses", "chat", True),
        ("chat", "messages", True),
    ],
)
async def test_frames_out_is_every_frame_the_client_got(
    client: str, upstream: str, cut: bool, caplog: pytest.LogCaptureFixture
) -> None:
    """Counted as line ends over the client codec's lines per frame: the same as its blank lines,
    for each client schema, a stream cut short (which ends in the schema's failure frame) too."""
    if upstream == "chat":
        app = script_app(chat_partial("tool")) if cut else FakeModel()
    else:
        app = script_app(messages_partial("text"))
    got = await exchange(make(app, upstream), f"/v1/{ROUTES[client]}", {**BODIES[client], "stream": True})
    [record] = lines(caplog)
    frames = got.body.count(b"\n\n")
    assert record.asgi_translate["frames_out"] == frames > 2  # type: ignore[attr-defined]
    assert record.levelname == ("WARNING" if cut else "INFO")  # a cut stream ended in its failure frame


async def test_a_json_exchange_counts_bytes_and_no_frames(caplog: pytest.LogCaptureFixture) -> None:
    got = await exchange(make(FakeModel(), "chat"), "/v1/responses", BODIES["responses"])
    [record] = lines(caplog)
    fields = record.asgi_translate  # type: ignore[attr-defined]
    assert (fields["status"], fields["frames_in"], fields["frames_out"]) == (200, 0, 0)
    assert fields["bytes_out"] == len(got.body) > 0


async def test_errors_are_logged_too(caplog: pytest.LogCaptureFixture) -> None:
    inner = Recorder()
    await exchange(make(inner, "chat"), "/v1/messages", b"{oops")
    await exchange(
        make(error_app(429, b'{"error": {"message": "slow", "type": "rate_limit_error"}}'), "chat"),
        "/v1/messages",
        BODIES["messages"],
    )
    await exchange(make(error_app(503, b"down"), "chat"), "/v1/messages", BODIES["messages"])
    await exchange(
        make(script_app(chat_partial("text"), end=False), "chat"),
        "/v1/messages",
        {**BODIES["messages"], "stream": True},
    )
    records = lines(caplog)
    summary = [(r.asgi_translate["status"], r.asgi_translate.get("error"), r.levelname) for r in records]  # type: ignore[attr-defined]
    assert summary == [
        (400, "invalid_request_error", "INFO"),  # the client's mistake: routine
        (429, "rate_limit_error", "INFO"),
        (529, "overloaded_error", "WARNING"),  # the upstream's trouble: worth a look
        (200, "upstream_failed", "WARNING"),  # a stream that ended in its failure form
    ]


async def test_the_clients_request_id_is_used_returned_and_sent_upstream(caplog: pytest.LogCaptureFixture) -> None:
    model = FakeModel()
    got = await exchange(make(model, "chat"), "/v1/messages", BODIES["messages"], [(b"x-request-id", b"abc-123.X")])
    assert dict(got.start["headers"])[b"x-request-id"] == b"abc-123.X"
    assert model.requests[0].headers["x-request-id"] == "abc-123.X"
    assert lines(caplog)[0].asgi_translate["request_id"] == "abc-123.X"  # type: ignore[attr-defined]


async def test_without_one_a_request_id_is_made_and_sent_both_ways(caplog: pytest.LogCaptureFixture) -> None:
    model = FakeModel()
    first = await exchange(make(model, "chat"), "/v1/messages", BODIES["messages"])
    second = await exchange(make(model, "chat"), "/v1/messages", BODIES["messages"])
    ids = [dict(got.start["headers"])[b"x-request-id"].decode() for got in (first, second)]
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids) and ids[0] != ids[1]
    assert [r.headers["x-request-id"] for r in model.requests] == ids
    assert [r.asgi_translate["request_id"] for r in lines(caplog)] == ids  # type: ignore[attr-defined]


async def test_an_upstream_request_id_is_returned_and_logged_beside_ours(caplog: pytest.LogCaptureFixture) -> None:
    async def inner(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        body = json.dumps(FakeModelReply).encode()
        headers = [(b"content-type", b"application/json"), (b"x-request-id", b"req_upstream_9")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    got = await exchange(make(inner, "chat"), "/v1/messages", BODIES["messages"], [(b"x-request-id", b"ours-1")])
    assert [v for k, v in got.start["headers"] if k == b"x-request-id"] == [b"req_upstream_9"]
    fields = lines(caplog)[0].asgi_translate  # type: ignore[attr-defined]
    assert (fields["request_id"], fields["upstream_request_id"]) == ("ours-1", "req_upstream_9")


FakeModelReply = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "created": 1,
    "model": "up",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
}


@pytest.mark.parametrize(
    "value",
    [b"has space", b"x" * 129, b'quote"d', b"new\nline", "\u00e9t\u00e9".encode(), b""],
)
def test_odd_client_request_ids_are_replaced(value: bytes) -> None:
    assert re.fullmatch(r"[0-9a-f]{32}", request_id_from([(b"x-request-id", value)]))


def test_client_chosen_values_cannot_forge_fields_or_lines(caplog: pytest.LogCaptureFixture) -> None:
    log = ExchangeLog("id1", "/v1/messages", "messages", "chat")
    log.model = "m status=200\nasgi_translate request_id=forged %s"
    log.status = 400
    log.emit()
    log.emit()  # once only
    [record] = lines(caplog)
    assert re.sub(r"duration_ms=\S+", "duration_ms=D", record.getMessage()) == (
        "asgi_translate request_id=id1 route=/v1/messages client=messages upstream=chat"
        ' model="m status=200\\nasgi_translate request_id=forged %s" status=400 duration_ms=D'
        " frames_in=0 frames_out=0 bytes_out=0"
    )


async def test_untranslated_requests_are_not_logged(caplog: pytest.LogCaptureFixture) -> None:
    await exchange(make(FakeModel(), "chat"), "/v1/chat/completions", BODIES["chat"])
    assert lines(caplog) == []


def _library_calls(tree: ast.AST) -> list[ast.Call]:
    """Calls outside ``if __name__ == "__main__":`` blocks (a module's own command-line use)."""
    main_blocks = [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.If)
        and isinstance(node.test, ast.Compare)
        and ast.unparse(node.test) == "__name__ == '__main__'"
    ]
    excluded = {id(inner) for block in main_blocks for inner in ast.walk(block)}
    return [node for node in ast.walk(tree) if isinstance(node, ast.Call) and id(node) not in excluded]


def test_the_package_never_prints() -> None:
    package = Path(asgi_translate.__file__).parent
    prints = [
        f"{path.name}:{node.lineno}"
        for path in sorted(package.rglob("*.py"))
        for node in _library_calls(ast.parse(path.read_text()))
        if isinstance(node.func, ast.Name) and node.func.id == "print"
    ]
    assert prints == []
    tree = ast.parse("print(1)\nif __name__ == '__main__':\n    print(2)")
    assert len([c for c in _library_calls(tree) if isinstance(c.func, ast.Name)]) == 1  # the scan does see prints


async def test_the_line_lists_what_the_translation_dropped(caplog: pytest.LogCaptureFixture) -> None:
    app = asgi_translate.TranslateMiddleware(FakeModel(), upstream="chat")
    body = {"model": "m", "max_tokens": 50, "top_k": 5, "messages": [{"role": "user", "content": "hi"}]}
    await exchange(app, "/v1/messages", body)
    [record] = lines(caplog)
    assert record.asgi_translate["status"] == 200  # type: ignore[attr-defined]
    assert record.asgi_translate["losses"] == "top_k dropped"  # type: ignore[attr-defined]
    assert " losses=" in record.getMessage()


async def test_a_client_that_leaves_mid_stream_is_logged_as_such_not_as_a_failure(
    caplog: pytest.LogCaptureFixture,
) -> None:
    delta = {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "m"}
    delta["choices"] = [{"index": 0, "delta": {"content": "Hi"}, "finish_reason": None}]
    chunk = b"data: " + json.dumps(delta).encode() + b"\n\n"

    async def inner(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()  # the request body
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/event-stream")]})
        await send({"type": "http.response.body", "body": chunk, "more_body": True})
        assert (await receive())["type"] == "http.disconnect"  # the client left: stop generating

    client = Client(
        {"type": "http.request", "body": json.dumps(BODIES["messages"]).encode(), "more_body": False},
        {"type": "http.disconnect"},
    )
    app = asgi_translate.TranslateMiddleware(inner, upstream="chat")
    with anyio.fail_after(5):
        await app(http_scope("/v1/messages", b""), client.receive, client.send)
    [record] = lines(caplog)
    assert record.asgi_translate["error"] == "client_disconnected"  # type: ignore[attr-defined]
    assert record.levelname == "INFO"


def test_a_new_request_id_is_a_version_4_uuid() -> None:
    ids = {request_id_from([]) for _ in range(200)}
    assert len(ids) == 200
    for value in ids:
        parsed = uuid.UUID(hex=value)
        assert parsed.version == 4 and parsed.variant == uuid.RFC_4122 and parsed.hex == value
