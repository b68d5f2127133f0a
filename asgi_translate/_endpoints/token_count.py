"""Token counting: ``POST /v1/messages/count_tokens`` (Anthropic) and ``POST
/v1/responses/input_tokens`` (OpenAI Responses) for clients of a translated route.

Claude Code calls ``count_tokens`` to decide when to compact its context, so an answer must come
back whatever the upstream is; the best one available wins:

1. An upstream with a native counting endpoint (``/v1/messages/count_tokens`` on a Messages
   upstream, ``/v1/responses/input_tokens`` on a Responses upstream) gets the request translated
   to its schema, and its count is exact.
2. A chat upstream is asked vLLM's ``POST /tokenize``, which applies the model's own chat template
   to chat ``messages`` (and ``tools``) and returns ``count``: exact too.
3. Otherwise (no such endpoint, or it failed) the ``token_counter`` option counts the canonical
   request; the default is an estimate of about four characters per token.

The response header ``x-asgi-translate-token-count`` says ``exact`` or ``estimate``.
"""

from __future__ import annotations

import inspect
import logging
import math
from collections.abc import Mapping
from typing import Any

from starlette.types import Receive, Scope, Send

from .._hub import json as _json
from .._hub.canonical import FilePart, ImagePart, Part, ReasoningPart, RefusalPart, Request, TextPart, ToolCallPart
from .._hub.context import Context
from .._hub.errors import ErrorInfo, RequestTranslationError, TranslateError
from .._hub.routes import Route, SchemaName
from .._hub.tool_names import fit_tool_names
from ..schemas import get_codec
from . import hooks as _hooks
from . import responses_state as _responses_state
from .body import read_body
from .exchange_log import request_id_from
from .settings import Settings
from .subrequest import Answer, call, loads, upstream_path

logger = logging.getLogger("asgi_translate")

HEADER = b"x-asgi-translate-token-count"
#: Where each client schema counts tokens, relative to its route's path.
SUFFIX: dict[SchemaName, str] = {"messages": "/count_tokens", "responses": "/input_tokens"}

#: What each native endpoint reads; the rest of a rendered request is not theirs to see.
_NATIVE_FIELDS: dict[SchemaName, frozenset[str]] = {
    "messages": frozenset({"model", "messages", "system", "tools", "tool_choice", "thinking"}),
    "responses": frozenset(
        {"model", "input", "instructions", "tools", "tool_choice", "parallel_tool_calls", "reasoning", "text"}
    ),
}
# The estimate: ~4 characters a token for English text and JSON; an image or document counts as
# Anthropic's figure for a full-size image (about 1.15 megapixels / 750); each message adds a few
# tokens of role markers.
CHARS_PER_TOKEN = 4
ATTACHMENT_TOKENS = 1600
MESSAGE_TOKENS = 4


def count_routes(routes: Mapping[str, Route]) -> dict[str, Route]:
    """``<messages path>/count_tokens`` and ``<responses path>/input_tokens`` of translated routes."""
    return {
        path + SUFFIX[route.client]: route
        for path, route in routes.items()
        if route.client in SUFFIX and route.client != route.upstream
    }


def estimate_tokens(request: Request) -> int:
    """The default ``token_counter``: an honest estimate, never zero for a non-empty request."""
    chars = sum(len(text) for text in request.system)
    attachments = 0
    for message in request.messages:
        for part in message.content:
            part_chars, part_attachments = _size(part)
            chars += part_chars
            attachments += part_attachments
    for tool in request.tools:
        chars += len(tool.name) + len(tool.description or "") + len(_json.dumps(tool.parameters))
    return math.ceil(chars / CHARS_PER_TOKEN) + attachments * ATTACHMENT_TOKENS + MESSAGE_TOKENS * len(request.messages)


def _size(part: Part) -> tuple[int, int]:
    """(characters, attachments) of one part."""
    if isinstance(part, TextPart | RefusalPart | ReasoningPart):
        return len(part.text), 0
    if isinstance(part, ToolCallPart):
        return len(part.name) + len(part.arguments), 0
    if isinstance(part, ImagePart | FilePart):
        return 0, 1
    sizes = [_size(inner) for inner in part.content]
    return sum(chars for chars, _ in sizes), sum(count for _, count in sizes)


# -- serving a count ---------------------------------------------------------------------------


class TokenCountEndpoint:
    """``POST <messages path>/count_tokens`` or ``<responses path>/input_tokens`` of one route."""

    __slots__ = ("settings", "route")

    def __init__(self, settings: Settings, route: Route) -> None:
        self.settings = settings
        self.route = route

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await answer(self.settings, self.route, scope, receive, send)


async def answer(config: Settings, route: Route, scope: Scope, receive: Receive, send: Send) -> None:
    """Answer one counting request in the client's schema."""
    client = get_codec(route.client)
    try:
        request, ctx = await _parse(config, route, scope, receive)
        count, exact = await _count(config, route, scope, request, ctx)
    except TranslateError as exc:
        error = exc.to_info()
    except Exception:  # a bug of ours on odd input still answers in the client's envelope
        logger.exception("asgi_translate: failed to count tokens")
        error = ErrorInfo(500, "api_error", "asgi_translate could not count the request's tokens")
    else:
        payload: dict[str, Any] = {"input_tokens": count}
        if route.client == "responses":
            payload = {"object": "response.input_tokens", "input_tokens": count}
        await _send_json(send, 200, payload, [(HEADER, b"exact" if exact else b"estimate")])
        return
    if error.request_id is None:  # Anthropic's envelope names one
        error.request_id = request_id_from(scope["headers"])
    status, payload = client.render_error(error)
    await _send_json(send, status, payload, [])


async def _parse(config: Settings, route: Route, scope: Scope, receive: Receive) -> tuple[Request, Context]:
    raw = await read_body(receive, config.max_body_size)
    try:
        body = _json.loads_object(raw)
    except ValueError as exc:
        raise RequestTranslationError(f"Request body is not a valid JSON object: {exc}") from None
    if route.client == "messages":
        body.setdefault("max_tokens", 1)  # counting takes no max_tokens; the parser needs one
    else:
        body["model"] = body.get("model") or ""  # optional when counting
        owner = _responses_state.owner_of(scope["headers"]) if config.responses_per_key else None
        body, _ = await _responses_state.prepare(body, config.response_store, config.id_factory, owner)
    request = get_codec(route.client).parse_request(body)
    client_model = request.model
    request.model = config.model_map(request.model)
    request.stream = request.include_usage = False
    request.max_tokens = None
    request = await _hooks.apply_on_request(config.on_request, request)
    fit_tool_names(request, route.upstream)  # as the exchange sends them, so the count is the same
    ctx = Context(
        request=request,
        client_model=client_model,
        client_body=body,
        new_id=config.id_factory,
        clock=config.clock,
        default_max_tokens=config.max_tokens_for(request.model),
    )
    return request, ctx


async def _count(config: Settings, route: Route, scope: Scope, request: Request, ctx: Context) -> tuple[int, bool]:
    """(count, exact); raises TranslateError for an upstream error worth showing the client."""
    rendered = get_codec(route.upstream).render_request(request, ctx)
    if route.upstream == "chat":
        count = await _tokenize(config, scope, rendered)
    else:
        count = await _native(config, route, scope, rendered)
    if count is not None:
        return count, True
    return await _estimate(config, request), False


async def _native(config: Settings, route: Route, scope: Scope, rendered: dict[str, Any]) -> int | None:
    """The upstream's own counting endpoint; None when it has none (404/405)."""
    fields = _NATIVE_FIELDS[route.upstream]
    body = _json.dumpb({key: value for key, value in rendered.items() if key in fields})
    path = upstream_path(scope, route.target_path + SUFFIX[route.upstream], in_process=config.remote is None)
    got = await call(config.upstream_app, scope, "POST", path, body)
    if got.status in (404, 405):
        return None
    if got.status >= 400:
        raise _Relayed(get_codec(route.upstream).parse_error(got.status, got.body))
    return _int_field(got, "input_tokens")


async def _tokenize(config: Settings, scope: Scope, rendered: dict[str, Any]) -> int | None:
    """vLLM's ``POST /tokenize`` (at the server's root, beside ``/v1``); None when absent or failing."""
    body: dict[str, Any] = {"model": rendered["model"], "messages": rendered["messages"]}
    if rendered.get("tools"):
        body["tools"] = rendered["tools"]
    if config.remote is None:
        got = await call(
            config.upstream_app, scope, "POST", upstream_path(scope, "/tokenize", in_process=True), _json.dumpb(body)
        )
    else:
        got = await _remote_tokenize(config, scope, body)
    if got.status >= 400:
        logger.debug("asgi_translate: /tokenize answered %s; estimating the token count", got.status)
        return None
    return _int_field(got, "count")


async def _remote_tokenize(config: Settings, scope: Scope, body: dict[str, Any]) -> Answer:
    import httpx

    remote = config.remote
    assert remote is not None
    root = remote.prefix[:-3] if remote.prefix.endswith("/v1") else remote.prefix
    kept = [(k, v) for k, v in scope["headers"] if k.lower() not in (b"content-length", b"content-type", b"accept")]
    headers = [*remote.headers_for({**scope, "headers": kept}), ("content-type", "application/json")]
    try:
        response = await remote.client.post(
            remote.origin + root + "/tokenize", headers=headers, content=_json.dumpb(body)
        )
    except httpx.HTTPError as exc:
        logger.debug("asgi_translate: /tokenize failed (%s); estimating the token count", type(exc).__name__)
        return Answer(502, b"")
    return Answer(response.status_code, response.content)


def _int_field(got: Answer, name: str) -> int | None:
    value = (loads(got) or {}).get(name)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


async def _estimate(config: Settings, request: Request) -> int:
    counter = config.token_counter
    if counter is not estimate_tokens:
        try:
            result = counter(request)
            if inspect.isawaitable(result):
                result = await result
            return int(result)
        except Exception:
            logger.exception("asgi_translate: the token_counter raised; using the built-in estimate")
    return estimate_tokens(request)


class _Relayed(TranslateError):
    """An upstream counting error, passed on in the client's envelope."""

    def __init__(self, info: ErrorInfo) -> None:
        super().__init__(info.message, param=info.param)
        self.info = info

    def to_info(self) -> ErrorInfo:
        return self.info


async def _send_json(send: Send, status: int, payload: dict[str, Any], extra: list[tuple[bytes, bytes]]) -> None:
    body = _json.dumpb(payload)
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), *extra]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})
