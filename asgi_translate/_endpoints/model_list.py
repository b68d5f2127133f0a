"""``GET /v1/models`` (and ``/v1/models/{id}``) in the client's own format.

An Anthropic client (one that sends ``anthropic-version`` or ``x-api-key``) gets Anthropic's page
``{"data": [{"type": "model", "id", "display_name", "created_at"}], "has_more", "first_id",
"last_id"}``; anyone else gets OpenAI's ``{"object": "list", "data": [{"id", "object": "model",
"created", "owned_by"}]}``. The list is the upstream's own (``GET /v1/models`` on the wrapped app
or the remote, read in whichever of the two formats it answers) after the model map's exact
client-facing names, which each borrow the dates of the model they stand for. An upstream without
a model list (404) leaves just those names, and with none its own answer reaches the client
unchanged; any other upstream error reaches the client translated. Anthropic entries always carry
``capabilities``, ``max_input_tokens`` and ``max_tokens``, as its spec requires (null when unknown).
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from starlette.types import Receive, Scope, Send

from .._hub import json as _json
from .._hub.errors import ErrorInfo
from .._hub.routes import SchemaName, route_path
from ..schemas import get_codec
from .settings import Settings
from .subrequest import Answer, call, loads, upstream_path

PATH = "/v1/models"
OWNER = "asgi-translate"
_EPOCH = "1970-01-01T00:00:00Z"


@dataclass(slots=True)
class Model:
    """One entry, kept verbatim (``raw``) for a client of the upstream's own format."""

    id: str
    created: int
    display_name: str
    owned_by: str
    raw: dict[str, Any]
    anthropic: bool


class ModelListEndpoint:
    """``GET /v1/models`` and ``GET /v1/models/{id}``."""

    __slots__ = ("settings",)

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @staticmethod
    def matches(path: str) -> bool:
        return handles(path)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await answer(self.settings, route_path(scope), scope, receive, send)


def handles(path: str) -> bool:
    """``/v1/models`` or ``/v1/models/{id}``."""
    return path == PATH or (
        path.startswith(PATH + "/") and "/" not in path[len(PATH) + 1 :] and len(path) > len(PATH) + 1
    )


def wants_anthropic(scope: Scope) -> bool:
    return any(name in (b"anthropic-version", b"x-api-key") for name, _ in scope["headers"])


async def answer(config: Settings, path: str, scope: Scope, receive: Receive, send: Send) -> None:
    """Serve ``GET /v1/models`` or ``GET /v1/models/{id}`` (``path`` is relative to the mount)."""
    anthropic = wants_anthropic(scope)
    where = upstream_path(scope, PATH, in_process=config.remote is None)
    got = await call(config.upstream_app, scope, "GET", where, query=b"limit=1000")
    aliases = config.model_map.aliases()
    if got.status == 404 and not aliases:  # no list upstream and none of ours: its answer, unchanged
        await _send(send, got.status, got.body, got.content_type or b"application/json")
        return
    if got.status >= 400 and got.status != 404:
        await _send_error(send, anthropic, _upstream_error(config, got))
        return
    models = _merge(_parse(loads(got) if got.status < 400 else None), aliases)
    if path != PATH:
        wanted = path[len(PATH) + 1 :]
        found = next((model for model in models if model.id == wanted), None)
        if found is None:
            await _send_error(send, anthropic, ErrorInfo(404, "not_found_error", f"model: {wanted}"))
        else:
            await _send_json(send, 200, _entry(found, anthropic))
        return
    page = _anthropic_page(models, scope) if anthropic else _openai_list(models)
    await _send_json(send, 200, page)


def _upstream_error(config: Settings, got: Answer) -> ErrorInfo:
    schemas = {route.upstream for route in config.routes.values()}
    upstream: SchemaName = "messages" if schemas == {"messages"} else "chat"
    return get_codec(upstream).parse_error(got.status, got.body)


# -- reading the upstream's list ------------------------------------------------------------------


def _parse(payload: dict[str, Any] | None) -> list[Model]:
    """Either format, entry by entry (an OpenAI-compatible server may add fields of its own)."""
    data = payload.get("data") if payload is not None else None
    models: list[Model] = []
    for raw in data if isinstance(data, list) else []:
        if not isinstance(raw, dict) or not isinstance(raw.get("id"), str):
            continue
        anthropic = raw.get("type") == "model" or "created_at" in raw
        created = raw.get("created")
        models.append(
            Model(
                id=raw["id"],
                created=created if isinstance(created, int) else _epoch(raw.get("created_at")),
                display_name=str(raw.get("display_name") or raw["id"]),
                owned_by=str(raw.get("owned_by") or OWNER),
                raw=raw,
                anthropic=anthropic,
            )
        )
    return models


def _epoch(text: Any) -> int:
    try:
        return int(datetime.datetime.fromisoformat(str(text).replace("Z", "+00:00")).timestamp())
    except ValueError:
        return 0


def _merge(models: list[Model], names: list[tuple[str, str]]) -> list[Model]:
    """The map's client-facing names first (what clients are meant to ask for), then the upstream's."""
    by_id = {model.id: model for model in models}
    aliases = []
    for name, target in names:
        if name in by_id:
            continue
        like = by_id.get(target)
        aliases.append(
            Model(
                id=name,
                created=like.created if like else 0,
                display_name=name,
                owned_by=like.owned_by if like else OWNER,
                raw={},
                anthropic=False,
            )
        )
    return aliases + models


# -- writing the client's format ----------------------------------------------------------------


def _entry(model: Model, anthropic: bool) -> dict[str, Any]:
    if not anthropic:
        if model.raw and not model.anthropic:
            return model.raw
        return {"id": model.id, "object": "model", "created": model.created, "owned_by": model.owned_by}
    if model.raw and model.anthropic:
        entry = dict(model.raw)
    else:
        created_at = datetime.datetime.fromtimestamp(model.created, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        entry = {"type": "model", "id": model.id, "display_name": model.display_name, "created_at": created_at}
    # The spec requires these on every ModelInfo, null when unknown. vLLM's entries say how long a
    # context the model takes (``max_model_len``), the nearest thing to a largest input.
    context = model.raw.get("max_model_len")
    known = isinstance(context, int) and not isinstance(context, bool)
    entry.setdefault("capabilities", None)
    entry.setdefault("max_input_tokens", context if known else None)
    entry.setdefault("max_tokens", None)
    return entry


def _openai_list(models: list[Model]) -> dict[str, Any]:
    return {"object": "list", "data": [_entry(model, False) for model in models]}


def _anthropic_page(models: list[Model], scope: Scope) -> dict[str, Any]:
    """Anthropic's cursor pagination (``limit``, ``after_id``, ``before_id``) over the whole list."""
    query = {k: v[-1] for k, v in parse_qs(scope.get("query_string", b"").decode("latin-1")).items()}
    ids = [model.id for model in models]
    start, end = 0, len(models)
    if query.get("after_id") in ids:
        start = ids.index(query["after_id"]) + 1
    if query.get("before_id") in ids:
        end = ids.index(query["before_id"])
    limit = int(query["limit"]) if query.get("limit", "").isdigit() else 20
    limit = min(max(limit, 1), 1000)
    if "before_id" in query and "after_id" not in query:
        start = max(start, end - limit)
    chosen = models[start:end][:limit]
    data = [_entry(model, True) for model in chosen]
    return {
        "data": data,
        "has_more": start + len(chosen) < end if "before_id" not in query else start > 0,
        "first_id": data[0]["id"] if data else None,
        "last_id": data[-1]["id"] if data else None,
    }


async def _send_json(send: Send, status: int, payload: dict[str, Any]) -> None:
    await _send(send, status, _json.dumpb(payload), b"application/json")


async def _send(send: Send, status: int, body: bytes, content_type: bytes) -> None:
    headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})


async def _send_error(send: Send, anthropic: bool, error: ErrorInfo) -> None:
    status, payload = get_codec("messages" if anthropic else "chat").render_error(error)
    await _send_json(send, status, payload)
