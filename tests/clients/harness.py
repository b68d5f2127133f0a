"""The harness for driving real client programs (Claude Code, Codex CLI, SDK scripts) against the proxy.

Real clients are programs that will try to reach the internet (updates, telemetry, their vendor's
API) and read and write their user's home. Everything here keeps them on this machine and bounded in
time, and gives the test an upstream model it scripts turn by turn and whose every request it can
read afterwards. Nothing in this module uses the package under test: the upstream speaks each wire
schema natively, from the public specs, so it is an independent oracle for what the proxy sends up.

The pieces, each usable alone::

    with refusing_sink() as sink:                      # "http://127.0.0.1:PORT"; sink.attempts lists who tried
        env = client_env(tmp_path / "home", sink.url, {"ANTHROPIC_BASE_URL": proxy_url})
    upstream = ScriptedUpstream("chat", [Turn(ToolCall("Bash", {"command": "touch x"}, id="call_1")),
                                        Turn(Text("done"))])
    with serve(upstream) as upstream_url:              # any ASGI app under uvicorn on 127.0.0.1, free port
        with serve(TranslateMiddleware(upstream="chat", upstream_url=upstream_url + "/v1")) as proxy_url:
            result = run_client([str(client_binary("claude")), "-p", "hi"], env=env, timeout=120)
    upstream.turn_requests[1].body                     # what the model received on its second turn

- :func:`refusing_sink`: a TCP listener on 127.0.0.1 that answers ``403`` to every request (``CONNECT``
  included) and closes, recording each first request line in ``attempts``. Point ``HTTP(S)_PROXY`` and
  ``ALL_PROXY`` at it: a client that tries to go anywhere but 127.0.0.1 fails fast, and the test can
  look at what it tried.
- :func:`client_env`: a minimal environment (not the caller's: no stray keys or base URLs leak in) with
  a throwaway ``HOME`` and XDG directories under it, the proxies at the sink, ``NO_PROXY`` for loopback,
  the generic do-not-track switches, plus the ``extra`` the client needs.
- :func:`serve` (re-exported from ``tests/servers.py``): an ASGI app under uvicorn in a thread;
  :func:`serve_cli` does the same for the ``asgi-translate`` command's app built from its arguments.
- :class:`ScriptedUpstream`: an ASGI model server speaking ``"chat"`` (``/chat/completions``),
  ``"responses"`` (``/responses``) or ``"messages"`` (``/messages``, ``/messages/count_tokens``), JSON
  or SSE as the request asks, plus ``GET /models``. Each model request takes the next :class:`Turn` of
  the script (text, tool calls, reasoning) or, for a turn that is a :class:`Failure`, answers that
  status and body. Like a real server it answers 400 to a conversation holding a tool result that
  answers no tool call of it (:func:`unpaired_tool_result`). Requests for which ``side(body)`` is
  true (a client's title or quota side calls) get ``side_reply`` and do not consume the script.
  Every request is recorded (``requests``; the scripted ones also in ``turn_requests``, the side
  ones in ``side_requests``). When the script runs out the
  upstream answers 500 in its schema's error envelope, so a client that loops fails visibly.
- :func:`client_binary`: ``$ASGI_TRANSLATE_CLIENTS/node_modules/.bin/NAME`` (default: the repo's
  ``.clients``, where ``.ci/run`` installs the pinned packages). Missing: the test is skipped, or fails
  when ``CI=true``, so CI can never pass by skipping.
- :func:`run_client`: runs a client to completion with a hard timeout; on timeout the whole process
  group is killed and the test fails with the output so far.

Everything binds 127.0.0.1 only; every wait has a bound.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pytest
from servers import serve
from starlette.types import Receive, Scope, Send

__all__ = [
    "ClientResult",
    "Failure",
    "Reasoning",
    "RecordedRequest",
    "RefusingSink",
    "ScriptedUpstream",
    "Text",
    "ToolCall",
    "Turn",
    "client_binary",
    "client_env",
    "refusing_sink",
    "run_client",
    "serve",
    "serve_cli",
]

Schema = Literal["chat", "responses", "messages"]
REPO = Path(__file__).resolve().parents[2]
CREATED = 1_700_000_000


# -- the refusing sink ---------------------------------------------------------------------------------


@dataclass
class RefusingSink:
    """Where the clients' proxies point: ``url``, and the first line of every request that came."""

    url: str
    attempts: list[str] = field(default_factory=list)


@contextlib.contextmanager
def refusing_sink() -> Iterator[RefusingSink]:
    """A listener on 127.0.0.1 that refuses whatever arrives: ``403`` and close (see the module doc)."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    listener.settimeout(0.2)
    sink = RefusingSink(f"http://127.0.0.1:{listener.getsockname()[1]}")
    stop = threading.Event()

    def refuse(conn: socket.socket) -> None:
        with conn:
            conn.settimeout(2.0)
            try:
                head = conn.recv(4096)
            except OSError:
                head = b""
            sink.attempts.append(head.split(b"\r\n", 1)[0].decode("latin-1", "replace"))
            with contextlib.suppress(OSError):
                conn.sendall(b"HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")

    def loop() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            refuse(conn)

    thread = threading.Thread(target=loop, name="refusing-sink", daemon=True)
    thread.start()
    try:
        yield sink
    finally:
        stop.set()
        thread.join(5.0)
        listener.close()


# -- the environment -----------------------------------------------------------------------------------


def client_env(home: Path, sink_url: str, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """A fresh environment for a client process: throwaway ``home`` (created), proxies at the sink."""
    home.mkdir(parents=True, exist_ok=True)
    for sub in (".config", ".cache", ".local/share", ".local/state", "tmp"):
        (home / sub).mkdir(parents=True, exist_ok=True)
    env = {
        "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
        "HOME": str(home),
        "USER": os.environ.get("USER", "root"),
        "LANG": "C.UTF-8",
        "TERM": "dumb",
        "TMPDIR": str(home / "tmp"),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "XDG_DATA_HOME": str(home / ".local/share"),
        "XDG_STATE_HOME": str(home / ".local/state"),
        "DO_NOT_TRACK": "1",
        "NO_COLOR": "1",
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
    }
    for name in ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY"):
        env[name] = env[name.lower()] = sink_url
    env.update(extra or {})
    return env


# -- locating and running clients ----------------------------------------------------------------------


def clients_dir() -> Path:
    """Where the npm client packages are installed: ``$ASGI_TRANSLATE_CLIENTS`` or ``<repo>/.clients``."""
    return Path(os.environ.get("ASGI_TRANSLATE_CLIENTS") or REPO / ".clients")


def client_binary(name: str) -> Path:
    """The installed client program ``name``; skips the test when missing (fails it under ``CI=true``)."""
    path = clients_dir() / "node_modules" / ".bin" / name
    if not (path.exists() and os.access(path, os.X_OK)):
        message = f"{name} is not installed at {path} (set ASGI_TRANSLATE_CLIENTS; .ci/run installs it)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


@dataclass
class ClientResult:
    returncode: int
    stdout: str
    stderr: str


def run_client(
    args: Sequence[str],
    *,
    env: Mapping[str, str],
    cwd: Path | None = None,
    timeout: float = 120.0,
    stdin: str = "",
) -> ClientResult:
    """Run a client to its end within ``timeout`` seconds (process group killed on overrun: test fails)."""
    process = subprocess.Popen(
        list(args),
        env=dict(env),
        cwd=cwd,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = process.communicate(stdin, timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        stdout, stderr = process.communicate(timeout=10)
        pytest.fail(f"{args[0]} ran over {timeout} s\n--- stdout\n{stdout[-4000:]}\n--- stderr\n{stderr[-4000:]}")
    return ClientResult(process.returncode, stdout, stderr)


@contextlib.contextmanager
def serve_cli(argv: Sequence[str]) -> Iterator[str]:
    """The ``asgi-translate`` command's app for ``argv`` (its options, minus host and port), served in a
    thread on a free port; yields its base URL."""
    from asgi_translate.cli import build_app, build_parser

    with serve(build_app(build_parser().parse_args(list(argv)))) as url:
        yield url


# -- the scripted upstream -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Text:
    text: str


@dataclass(frozen=True)
class ToolCall:
    """A function call; ``id`` is the call id the client must echo with the result."""

    name: str
    arguments: Mapping[str, Any] | str
    id: str

    @property
    def arguments_json(self) -> str:
        return self.arguments if isinstance(self.arguments, str) else json.dumps(self.arguments)


@dataclass(frozen=True)
class Reasoning:
    """Reasoning text; ``signature`` becomes a Messages thinking signature or Responses
    ``encrypted_content`` (chat carries no signature)."""

    text: str
    signature: str = ""


Part = Text | ToolCall | Reasoning


@dataclass(frozen=True)
class Turn:
    """One model answer: its parts in order. The stop reason follows (tool calls: tool use)."""

    parts: tuple[Part, ...]
    input_tokens: int = 10
    output_tokens: int = 5

    def __init__(self, *parts: Part, input_tokens: int = 10, output_tokens: int = 5) -> None:
        object.__setattr__(self, "parts", parts)
        object.__setattr__(self, "input_tokens", input_tokens)
        object.__setattr__(self, "output_tokens", output_tokens)

    @property
    def calls_tools(self) -> bool:
        return any(isinstance(part, ToolCall) for part in self.parts)


@dataclass(frozen=True)
class Failure:
    """An error answer: ``status`` and the JSON ``body``, sent as given."""

    status: int
    body: Mapping[str, Any]


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


_Response = tuple[int, str, list[bytes]]


class ScriptedUpstream:
    """A model server in one wire schema that plays a script of turns (see the module docstring)."""

    def __init__(
        self,
        schema: Schema,
        turns: Sequence[Turn | Failure],
        *,
        side: Callable[[dict[str, Any]], bool] | None = None,
        side_reply: Turn | None = None,
        models: Sequence[str] = ("scripted-model",),
    ) -> None:
        self.schema: Schema = schema
        self.turns = list(turns)
        self.side = side
        self.side_reply = side_reply or Turn(Text("ok"))
        self.models = list(models)
        self.requests: list[RecordedRequest] = []
        self.turn_requests: list[RecordedRequest] = []
        self.side_requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        self._next = 0

    @property
    def turns_left(self) -> int:
        return len(self.turns) - self._next

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        raw = b""
        while True:
            message = await receive()
            raw += message.get("body", b"")
            if not message.get("more_body", False) or message["type"] == "http.disconnect":
                break
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        recorded = RecordedRequest(scope["method"], scope["path"], headers, body)
        status, content_type, chunks = self._respond(recorded)
        response_headers = [(b"content-type", content_type.encode())]
        await send({"type": "http.response.start", "status": status, "headers": response_headers})
        for chunk in chunks:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    # -- routing -------------------------------------------------------------------------------------

    def _respond(self, request: RecordedRequest) -> _Response:
        with self._lock:
            self.requests.append(request)
        path, body = request.path, request.body
        if request.method == "GET" and path.endswith("/models"):
            return self._models(request.headers)
        model_path = {"chat": "/chat/completions", "responses": "/responses", "messages": "/messages"}[self.schema]
        if request.method == "POST" and self.schema == "messages" and path.endswith("/messages/count_tokens"):
            return _json_reply(200, {"input_tokens": max(1, len(json.dumps(body)) // 4)})
        if request.method != "POST" or not path.endswith(model_path) or not isinstance(body, dict):
            return self._error(404, f"the scripted {self.schema} upstream has no {request.method} {path}")
        with self._lock:
            if self.side is not None and self.side(body):
                self.side_requests.append(request)
                turn: Turn | Failure = self.side_reply
            elif self._next < len(self.turns):
                self.turn_requests.append(request)
                turn = self.turns[self._next]
                self._next += 1
            else:
                self.turn_requests.append(request)
                return self._error(500, f"the scripted upstream has no turn left (request {len(self.turn_requests)})")
        return self._answer(turn, body)

    def _answer(self, turn: Turn | Failure, body: dict[str, Any]) -> _Response:
        if isinstance(turn, Failure):
            return _json_reply(turn.status, dict(turn.body))
        unpaired = unpaired_tool_result(self.schema, body)
        if unpaired is not None:  # what real servers answer to a tool result without its call
            return self._error(400, f"tool result {unpaired!r} does not answer a tool call of the conversation")
        model = str(body.get("model", "scripted-model"))
        number = len(self.requests)
        stream = bool(body.get("stream"))
        if self.schema == "chat":
            if stream:
                include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
                return 200, "text/event-stream", chat_stream(turn, model, number, include_usage)
            return _json_reply(200, chat_json(turn, model, number))
        if self.schema == "responses":
            if stream:
                return 200, "text/event-stream", responses_stream(turn, model, number)
            return _json_reply(200, responses_json(turn, model, number, "completed"))
        if stream:
            return 200, "text/event-stream", messages_stream(turn, model, number)
        return _json_reply(200, messages_json(turn, model, number))

    def _models(self, headers: Mapping[str, str]) -> _Response:
        if self.schema == "messages":
            data = [
                {"type": "model", "id": name, "display_name": name, "created_at": "2025-01-01T00:00:00Z"}
                for name in self.models
            ]
            first, last = (data[0]["id"], data[-1]["id"]) if data else (None, None)
            return _json_reply(200, {"data": data, "has_more": False, "first_id": first, "last_id": last})
        listed = [{"id": name, "object": "model", "created": CREATED, "owned_by": "scripted"} for name in self.models]
        return _json_reply(200, {"object": "list", "data": listed})

    def _error(self, status: int, message: str) -> _Response:
        if self.schema == "messages":
            kind = "not_found_error" if status == 404 else "api_error"
            return _json_reply(status, {"type": "error", "error": {"type": kind, "message": message}})
        kind = "invalid_request_error" if status == 404 else "server_error"
        return _json_reply(status, {"error": {"message": message, "type": kind, "param": None, "code": None}})


def unpaired_tool_result(schema: Schema, body: dict[str, Any]) -> str | None:
    """The id of the first tool result in ``body`` that answers no earlier tool call, if any: vLLM,
    OpenAI and Anthropic all refuse such a conversation with a 400."""
    calls: set[Any] = set()
    for kind, call_id in _tool_events(schema, body):
        if kind == "call":
            calls.add(call_id)
        elif call_id not in calls:
            return str(call_id)
    return None


def _tool_events(schema: Schema, body: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    """("call" | "result", id) for each tool call and result of the conversation, in order."""
    if schema == "chat":
        for message in body.get("messages") or []:
            yield from (("call", call.get("id")) for call in message.get("tool_calls") or [])
            if message.get("role") == "tool":
                yield "result", message.get("tool_call_id")
    elif schema == "responses":
        items = body.get("input")
        for item in items if isinstance(items, list) else []:
            kind = {"function_call": "call", "function_call_output": "result"}.get(item.get("type"))
            if kind:
                yield kind, item.get("call_id")
    else:
        for message in body.get("messages") or []:
            content = message.get("content")
            for block in content if isinstance(content, list) else []:
                if block.get("type") == "tool_use":
                    yield "call", block.get("id")
                elif block.get("type") == "tool_result":
                    yield "result", block.get("tool_use_id")


def _json_reply(status: int, payload: Any) -> _Response:
    return status, "application/json", [json.dumps(payload).encode()]


def _pieces(text: str, size: int = 6) -> list[str]:
    """Split text the way a model streams it: small pieces (at least one, even for empty text)."""
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


# -- Chat Completions ----------------------------------------------------------------------------------


def _chat_usage(turn: Turn) -> dict[str, Any]:
    return {
        "prompt_tokens": turn.input_tokens,
        "completion_tokens": turn.output_tokens,
        "total_tokens": turn.input_tokens + turn.output_tokens,
    }


def chat_json(turn: Turn, model: str, number: int) -> dict[str, Any]:
    """A ``chat.completion`` object; reasoning in ``reasoning_content`` (the vLLM/DeepSeek field)."""
    text = "".join(part.text for part in turn.parts if isinstance(part, Text))
    reasoning = "".join(part.text for part in turn.parts if isinstance(part, Reasoning))
    calls = [part for part in turn.parts if isinstance(part, ToolCall)]
    message: dict[str, Any] = {"role": "assistant", "content": text or None, "refusal": None}
    if reasoning:
        message["reasoning_content"] = reasoning
    if calls:
        message["tool_calls"] = [
            {"id": call.id, "type": "function", "function": {"name": call.name, "arguments": call.arguments_json}}
            for call in calls
        ]
    return {
        "id": f"chatcmpl-scripted{number}",
        "object": "chat.completion",
        "created": CREATED,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "logprobs": None,
                "finish_reason": "tool_calls" if calls else "stop",
            }
        ],
        "usage": _chat_usage(turn),
    }


def chat_stream(turn: Turn, model: str, number: int, include_usage: bool) -> list[bytes]:
    """``chat.completion.chunk`` frames, then ``[DONE]``."""
    head = {"id": f"chatcmpl-scripted{number}", "object": "chat.completion.chunk", "created": CREATED, "model": model}

    def frame(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> bytes:
        chunk = {**head, "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]}
        return b"data: " + json.dumps({**chunk, **extra}).encode() + b"\n\n"

    frames = [frame({"role": "assistant", "content": ""})]
    tool_index = 0
    for part in turn.parts:
        if isinstance(part, Reasoning):
            frames += [frame({"reasoning_content": piece}) for piece in _pieces(part.text)]
        elif isinstance(part, Text):
            frames += [frame({"content": piece}) for piece in _pieces(part.text)]
        else:
            opening = {"index": tool_index, "id": part.id, "type": "function"}
            frames.append(frame({"tool_calls": [{**opening, "function": {"name": part.name, "arguments": ""}}]}))
            for piece in _pieces(part.arguments_json, 10):
                frames.append(frame({"tool_calls": [{"index": tool_index, "function": {"arguments": piece}}]}))
            tool_index += 1
    frames.append(frame({}, "tool_calls" if turn.calls_tools else "stop"))
    if include_usage:
        frames.append(b"data: " + json.dumps({**head, "choices": [], "usage": _chat_usage(turn)}).encode() + b"\n\n")
    frames.append(b"data: [DONE]\n\n")
    return frames


# -- Responses -----------------------------------------------------------------------------------------


def _responses_items(turn: Turn, number: int) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for index, part in enumerate(turn.parts):
        item_id = f"{number}_{index}"
        if isinstance(part, Reasoning):
            item: dict[str, Any] = {
                "type": "reasoning",
                "id": f"rs_{item_id}",
                "summary": [{"type": "summary_text", "text": part.text}],
            }
            if part.signature:
                item["encrypted_content"] = part.signature
        elif isinstance(part, Text):
            item = {
                "type": "message",
                "id": f"msg_{item_id}",
                "status": "completed",
                "role": "assistant",
                "content": [{"type": "output_text", "text": part.text, "annotations": [], "logprobs": []}],
            }
        else:
            item = {
                "type": "function_call",
                "id": f"fc_{item_id}",
                "call_id": part.id,
                "name": part.name,
                "arguments": part.arguments_json,
                "status": "completed",
            }
        items.append(item)
    return items


def responses_json(turn: Turn, model: str, number: int, status: str) -> dict[str, Any]:
    """A ``response`` object (``status`` ``completed``, or ``in_progress`` with no output yet)."""
    done = status == "completed"
    return {
        "id": f"resp_scripted{number}",
        "object": "response",
        "created_at": CREATED,
        "status": status,
        "error": None,
        "incomplete_details": None,
        "instructions": None,
        "model": model,
        "output": _responses_items(turn, number) if done else [],
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
        "metadata": {},
        "temperature": 1.0,
        "top_p": 1.0,
        "usage": {
            "input_tokens": turn.input_tokens,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": turn.output_tokens,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": turn.input_tokens + turn.output_tokens,
        }
        if done
        else None,
    }


def responses_stream(turn: Turn, model: str, number: int) -> list[bytes]:
    """The Responses streaming events for the turn, with ``sequence_number`` from 0."""
    frames: list[bytes] = []

    def event(kind: str, **fields: Any) -> None:
        payload = {"type": kind, "sequence_number": len(frames), **fields}
        frames.append(f"event: {kind}\ndata: {json.dumps(payload)}\n\n".encode())

    event("response.created", response=responses_json(turn, model, number, "in_progress"))
    event("response.in_progress", response=responses_json(turn, model, number, "in_progress"))
    for output_index, item in enumerate(_responses_items(turn, number)):
        where = {"item_id": item["id"], "output_index": output_index}
        if item["type"] == "reasoning":
            event("response.output_item.added", output_index=output_index, item={**item, "summary": []})
            text = item["summary"][0]["text"]
            part: dict[str, Any] = {"type": "summary_text", "text": ""}
            event("response.reasoning_summary_part.added", **where, summary_index=0, part=part)
            for piece in _pieces(text):
                event("response.reasoning_summary_text.delta", **where, summary_index=0, delta=piece)
            event("response.reasoning_summary_text.done", **where, summary_index=0, text=text)
            event("response.reasoning_summary_part.done", **where, summary_index=0, part={**part, "text": text})
        elif item["type"] == "message":
            event(
                "response.output_item.added",
                output_index=output_index,
                item={**item, "status": "in_progress", "content": []},
            )
            text = item["content"][0]["text"]
            part = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
            event("response.content_part.added", **where, content_index=0, part=part)
            for piece in _pieces(text):
                event("response.output_text.delta", **where, content_index=0, delta=piece, logprobs=[])
            event("response.output_text.done", **where, content_index=0, text=text, logprobs=[])
            event("response.content_part.done", **where, content_index=0, part={**part, "text": text})
        else:
            event(
                "response.output_item.added",
                output_index=output_index,
                item={**item, "arguments": "", "status": "in_progress"},
            )
            for piece in _pieces(item["arguments"], 10):
                event("response.function_call_arguments.delta", **where, delta=piece)
            event("response.function_call_arguments.done", **where, arguments=item["arguments"])
        event("response.output_item.done", output_index=output_index, item=item)
    event("response.completed", response=responses_json(turn, model, number, "completed"))
    return frames


# -- Messages ------------------------------------------------------------------------------------------


def _messages_blocks(turn: Turn) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    for part in turn.parts:
        if isinstance(part, Reasoning):
            blocks.append({"type": "thinking", "thinking": part.text, "signature": part.signature or "sig"})
        elif isinstance(part, Text):
            blocks.append({"type": "text", "text": part.text})
        else:
            arguments = part.arguments if not isinstance(part.arguments, str) else json.loads(part.arguments)
            blocks.append({"type": "tool_use", "id": part.id, "name": part.name, "input": dict(arguments)})
    return blocks


def messages_json(turn: Turn, model: str, number: int) -> dict[str, Any]:
    """A Messages ``message`` object."""
    return {
        "id": f"msg_scripted{number}",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": _messages_blocks(turn),
        "stop_reason": "tool_use" if turn.calls_tools else "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": turn.input_tokens, "output_tokens": turn.output_tokens},
    }


def messages_stream(turn: Turn, model: str, number: int) -> list[bytes]:
    """The Messages streaming events for the turn."""
    frames: list[bytes] = []

    def event(kind: str, **fields: Any) -> None:
        frames.append(f"event: {kind}\ndata: {json.dumps({'type': kind, **fields})}\n\n".encode())

    start = {**messages_json(turn, model, number), "content": [], "stop_reason": None}
    start["usage"] = {"input_tokens": turn.input_tokens, "output_tokens": 1}
    event("message_start", message=start)
    event("ping")
    for index, block in enumerate(_messages_blocks(turn)):
        if block["type"] == "thinking":
            event(
                "content_block_start", index=index, content_block={"type": "thinking", "thinking": "", "signature": ""}
            )
            for piece in _pieces(block["thinking"]):
                event("content_block_delta", index=index, delta={"type": "thinking_delta", "thinking": piece})
            event(
                "content_block_delta", index=index, delta={"type": "signature_delta", "signature": block["signature"]}
            )
        elif block["type"] == "text":
            event("content_block_start", index=index, content_block={"type": "text", "text": ""})
            for piece in _pieces(block["text"]):
                event("content_block_delta", index=index, delta={"type": "text_delta", "text": piece})
        else:
            event("content_block_start", index=index, content_block={**block, "input": {}})
            for piece in _pieces(json.dumps(block["input"]), 10):
                event("content_block_delta", index=index, delta={"type": "input_json_delta", "partial_json": piece})
        event("content_block_stop", index=index)
    stop = "tool_use" if turn.calls_tools else "end_turn"
    event(
        "message_delta", delta={"stop_reason": stop, "stop_sequence": None}, usage={"output_tokens": turn.output_tokens}
    )
    event("message_stop")
    return frames


def wait_for(predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
    """Poll ``predicate`` until true or ``timeout`` seconds pass; returns its last value."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True
