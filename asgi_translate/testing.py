"""A deterministic fake LLM server, for our tests, your tests and the built-in demo.

:class:`FakeModel` is a plain ASGI app speaking OpenAI Chat Completions (``POST
/v1/chat/completions``, streamed or not, and ``GET /v1/models``). It needs no network and no
weights, and its answers depend only on the request:

- ``"You said: <last user text>"``, streamed one word per chunk;
- a call to a tool when the request offers tools and the last user message names one of them,
  with arguments built from the tool's JSON schema (required strings ``"example"``, numbers ``1``);
- ``"The tool returned: <result>"`` once the last message is a tool result.

Wrapped in :class:`~asgi_translate.TranslateMiddleware` it speaks all three schemas at once
(:func:`demo_app`): the middleware is its own test double for Messages and Responses servers.
``FakeModel(script=[...])`` instead replays given chunks verbatim on any ``POST``, for recorded
streams of any schema; ``delay`` and ``start_delay`` slow it down so tests can watch frames arrive,
time out, or disconnect mid-stream. What it saw is recorded on the instance (``requests``,
``disconnected``), readable from another thread.
"""

from __future__ import annotations

import itertools
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import anyio
from starlette.types import Receive, Scope, Send

from ._hub import json as _json
from ._hub.routes import SchemaName
from ._middleware import TranslateMiddleware

CREATED = 1_700_000_000
_WORD = re.compile(r"\s*\S+")


@dataclass(slots=True)
class RecordedRequest:
    """One request the fake received (headers lower-cased; ``body`` is ``None`` when not JSON)."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any
    query: str = ""


@dataclass(slots=True)
class _Reply:
    """What the model says: text, or one tool call."""

    text: str = ""
    tool_name: str | None = None
    arguments: str = ""
    finish_reason: str = "stop"


class FakeModel:
    """A scripted, deterministic Chat Completions server (see the module docstring)."""

    def __init__(
        self,
        *,
        script: Sequence[bytes | str] | None = None,
        status: int = 200,
        content_type: str = "text/event-stream",
        delay: float = 0.0,
        start_delay: float = 0.0,
        models: Sequence[str] = ("fake-model",),
    ) -> None:
        self.script = [item.encode() if isinstance(item, str) else item for item in script] if script else None
        self.status = status
        self.content_type = content_type
        self.delay = delay
        self.start_delay = start_delay
        self.models = list(models)
        self.requests: list[RecordedRequest] = []
        #: Set when a client went away before a response was complete.
        self.disconnected = threading.Event()
        #: Set when a response was sent whole.
        self.completed = threading.Event()
        self._ids = itertools.count(1)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":  # pragma: no cover - websockets are not ours
            return
        raw = await _read_body(receive)
        body = _parse(raw)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        query = scope.get("query_string", b"").decode("latin-1")
        self.requests.append(RecordedRequest(scope["method"], scope["path"], headers, body, query))
        status, content_type, chunks = self._respond(scope["method"], scope["path"], body)
        await self._send_all(status, content_type, chunks, receive, send)

    # -- deciding what to say ---------------------------------------------------------------------

    def _respond(self, method: str, path: str, body: Any) -> tuple[int, str, list[bytes]]:
        if method == "GET" and path.endswith("/models"):
            data = [{"id": name, "object": "model", "created": 0, "owned_by": "asgi-translate"} for name in self.models]
            return 200, "application/json", [_json.dumpb({"object": "list", "data": data})]
        if method != "POST":
            return _error(404, "not_found_error", f"No route for {method} {path}")
        if self.script is not None:
            return self.status, self.content_type, list(self.script)
        if not path.endswith("/chat/completions"):
            return _error(404, "not_found_error", f"FakeModel speaks /v1/chat/completions, not {path}")
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
            return _error(400, "invalid_request_error", "Request body must be a JSON object with 'messages'")
        reply = reply_for(body)
        number = next(self._ids)
        if body.get("stream"):
            return 200, "text/event-stream", _stream_chunks(body, reply, number)
        return 200, "application/json", [_json.dumpb(_completion(body, reply, number))]

    # -- sending, slowly if asked, noticing a client that leaves ----------------------------------

    async def _send_all(
        self, status: int, content_type: str, chunks: list[bytes], receive: Receive, send: Send
    ) -> None:
        finished = False
        async with anyio.create_task_group() as group:

            async def watch() -> None:
                while (await receive())["type"] != "http.disconnect":
                    pass
                if not finished:  # servers also report http.disconnect once a response is complete
                    self.disconnected.set()
                    group.cancel_scope.cancel()

            group.start_soon(watch)
            await anyio.sleep(self.start_delay)
            headers = [(b"content-type", content_type.encode())]
            if content_type != "text/event-stream":
                headers.append((b"content-length", str(sum(map(len, chunks))).encode()))
            await send({"type": "http.response.start", "status": status, "headers": headers})
            for chunk in chunks:
                await anyio.sleep(self.delay)
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            finished = True
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            self.completed.set()
            group.cancel_scope.cancel()


def demo_app(**options: Any) -> TranslateMiddleware:
    """The embedded default of the ``asgi-translate`` command: a :class:`FakeModel` answering all
    three schemas at their usual paths (Messages and Responses translated to its Chat API)."""
    upstream: SchemaName = "chat"
    return TranslateMiddleware(FakeModel(**options), upstream=upstream)


# -- the model's "mind" -------------------------------------------------------------------------


def reply_for(body: dict[str, Any]) -> _Reply:
    """Decide the answer to a Chat Completions request body (pure, deterministic)."""
    messages = body["messages"]
    last = messages[-1] if messages and isinstance(messages[-1], dict) else {}
    text = _text_of(last.get("content"))
    if last.get("role") == "tool":
        return _Reply(text=f"The tool returned: {text}")
    if last.get("role") == "user":
        for name, schema in _tools(body):
            if name in text:
                return _Reply(
                    tool_name=name, arguments=_json.dumps(example_arguments(schema)), finish_reason="tool_calls"
                )
    reply = _Reply(text=f"You said: {text}")
    limit = body.get("max_completion_tokens") or body.get("max_tokens")
    words = _WORD.findall(reply.text)
    if isinstance(limit, int) and 0 < limit < len(words):
        return _Reply(text="".join(words[:limit]), finish_reason="length")
    return reply


def example_arguments(schema: Any) -> dict[str, Any]:
    """Arguments satisfying a JSON schema's required properties with fixed example values."""
    if not isinstance(schema, dict):
        return {}
    properties = schema.get("properties") or {}
    return {name: _example_value(properties.get(name) or {}) for name in schema.get("required") or []}


def _example_value(schema: dict[str, Any]) -> Any:
    if schema.get("enum"):
        return schema["enum"][0]
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "string")
    examples: dict[str, Any] = {"integer": 1, "number": 1, "boolean": True, "array": [], "null": None}
    if kind == "object":
        return example_arguments(schema)
    return examples.get(str(kind), "example")


def _tools(body: dict[str, Any]) -> list[tuple[str, Any]]:
    tools = []
    for tool in body.get("tools") or []:
        function = tool.get("function") if isinstance(tool, dict) else None
        if isinstance(function, dict) and isinstance(function.get("name"), str):
            tools.append((function["name"], function.get("parameters")))
    return tools


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(part.get("text", "") for part in content if isinstance(part, dict) and "text" in part)
    return ""


def _count(text: str) -> int:
    """Deterministic "tokens": whitespace-separated words."""
    return len(text.split())


def _usage(body: dict[str, Any], reply: _Reply) -> dict[str, int]:
    prompt = sum(_count(_text_of(m.get("content"))) for m in body["messages"] if isinstance(m, dict))
    completion = _count(reply.text) if reply.tool_name is None else 1 + _count(reply.arguments)
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def _completion(body: dict[str, Any], reply: _Reply, number: int) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": reply.text, "refusal": None}
    if reply.tool_name is not None:
        message["content"] = None
        message["tool_calls"] = [_tool_call(reply, number, reply.arguments)]
    return {
        "id": f"chatcmpl-fake{number}",
        "object": "chat.completion",
        "created": CREATED,
        "model": body.get("model", "fake-model"),
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": reply.finish_reason}],
        "usage": _usage(body, reply),
    }


def _tool_call(reply: _Reply, number: int, arguments: str) -> dict[str, Any]:
    return {
        "id": f"call_fake{number}",
        "type": "function",
        "function": {"name": reply.tool_name, "arguments": arguments},
    }


def _stream_chunks(body: dict[str, Any], reply: _Reply, number: int) -> list[bytes]:
    head = {"id": f"chatcmpl-fake{number}", "object": "chat.completion.chunk", "created": CREATED}
    head["model"] = body.get("model", "fake-model")

    def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        return b"data: " + _json.dumpb({**head, "choices": [choice]}) + b"\n\n"

    chunks = [chunk({"role": "assistant", "content": "" if reply.tool_name is None else None})]
    if reply.tool_name is None:
        chunks += [chunk({"content": word}) for word in _WORD.findall(reply.text)]
    else:
        chunks.append(chunk({"tool_calls": [{"index": 0, **_tool_call(reply, number, "")}]}))
        pieces = [reply.arguments[i : i + 8] for i in range(0, len(reply.arguments), 8)]
        chunks += [chunk({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}) for piece in pieces]
    chunks.append(chunk({}, reply.finish_reason))
    if (body.get("stream_options") or {}).get("include_usage"):
        usage = {**head, "choices": [], "usage": _usage(body, reply)}
        chunks.append(b"data: " + _json.dumpb(usage) + b"\n\n")
    chunks.append(b"data: [DONE]\n\n")
    return chunks


# -- plumbing -----------------------------------------------------------------------------------


def _error(status: int, error_type: str, message: str) -> tuple[int, str, list[bytes]]:
    payload = {"error": {"message": message, "type": error_type, "param": None, "code": None}}
    return status, "application/json", [_json.dumpb(payload)]


def _parse(raw: bytes) -> Any:
    try:
        return _json.loads(raw) if raw else None
    except ValueError:
        return None


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
