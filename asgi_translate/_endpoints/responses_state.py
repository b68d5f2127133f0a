"""Responses API state over stateless upstreams: ``store``, ``previous_response_id`` and the
``GET``/``DELETE /v1/responses/{id}`` and ``GET /v1/responses/{id}/input_items`` endpoints.

Only routes whose client speaks Responses and whose upstream does not use this (a Responses
upstream keeps its own state). The middleware calls three things:

* :func:`prepare` before parsing a request: it replays the stored chain of ``previous_response_id``
  (its input items, then its output items) ahead of the new input, and returns a
  :class:`PendingResponse` that knows whether and what to store;
* :meth:`PendingResponse.remember` once the response object is final (JSON or stream), before the
  last bytes go out, so a client that chains at once finds it;
* :func:`handle` for the ``GET``/``DELETE`` paths.

Failed responses are not stored (their items may be cut mid-way).

A stored entry holds the whole input the model saw (earlier turns included), with an id on every
item, so any link of a chain replays without walking back through its ancestors.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import parse_qs

from starlette.types import Receive, Scope, Send

from .._hub import json as _json
from .._hub.context import IdFactory
from .._hub.errors import ErrorInfo, RequestTranslationError
from .._hub.routes import route_path
from .._state.memory import ResponseStore, StoredResponse, StoreUnavailableError
from .settings import Settings

logger = logging.getLogger("asgi_translate")

# Id prefixes for items that arrive without one (OpenAI's own conventions where known).
_ITEM_PREFIX = {
    "message": "msg_",
    "function_call": "fc_",
    "function_call_output": "fco_",
    "custom_tool_call": "ctc_",
    "custom_tool_call_output": "ctco_",
    "reasoning": "rs_",
}


class PendingResponse:
    """One request's state: the expanded input to store with its response, if ``store`` is on."""

    __slots__ = ("store", "input_items", "enabled", "saved")

    def __init__(self, store: ResponseStore, input_items: list[dict[str, Any]], enabled: bool) -> None:
        self.store = store
        self.input_items = input_items
        self.enabled = enabled
        self.saved = False

    async def remember(self, response: dict[str, Any] | None) -> None:
        """Store the final response object under the id the client saw. A store failure is
        logged, never raised: the client's answer matters more than its future chaining."""
        if not self.enabled or self.saved or not response or not isinstance(response.get("id"), str):
            return
        if response.get("status") == "failed":
            return  # its items may be cut mid-way: nothing a later turn could replay
        self.saved = True
        try:
            await self.store.put(response["id"], StoredResponse(response=response, input_items=self.input_items))
        except StoreUnavailableError as exc:  # expected while a shared store is down: no traceback per request
            logger.warning("asgi_translate: response %s not stored: %s", response["id"], exc)
        except Exception:
            logger.exception("asgi_translate: could not store response %s", response["id"])


async def prepare(
    body: dict[str, Any], store: ResponseStore, new_id: IdFactory
) -> tuple[dict[str, Any], PendingResponse]:
    """Expand ``previous_response_id`` into ``input``; raises a 404/503 RequestTranslationError.

    The new items are stored with an ``id`` each (minted where the client gave none), but go to the
    parser as the client sent them: a minted id is new on every turn, and rendered upstream (a
    reasoning item's id, say) it would make each turn's request differ from the previous one's
    before the new turn and defeat the upstream's prefix cache."""
    items = _normalize_input(body.get("input"), None)
    stored = _normalize_input(items, new_id) if isinstance(items, list) else items
    previous = body.get("previous_response_id")
    if previous is not None:
        if not isinstance(previous, str):
            raise RequestTranslationError("'previous_response_id' must be a string", param="previous_response_id")
        chain = await _load_chain(previous, store)
        items = chain + _resolve_references(items, chain)
        stored = chain + _resolve_references(stored, chain)
    found = await _stored_items(items, store)
    if found:
        items, stored = _substitute(items, found), _substitute(stored, found)
    expanded = {**body, "input": items}
    enabled = body.get("store", True) is not False
    # Without store, nothing is saved: the conversation is not held for the length of the answer.
    return expanded, PendingResponse(store, stored if enabled else [], enabled)


async def _load_chain(response_id: str, store: ResponseStore) -> list[dict[str, Any]]:
    try:
        entry = await store.get(response_id)
    except StoreUnavailableError as exc:
        logger.warning("asgi_translate: %s", exc)
        raise RequestTranslationError(
            "The response store is unavailable; retry, or send the whole history instead of previous_response_id",
            param="previous_response_id",
            status=503,
        ) from None
    if entry is None:
        raise PreviousResponseNotFoundError(response_id)
    output = entry.response.get("output") or []
    return [*entry.input_items, *(item for item in output if isinstance(item, dict))]


class PreviousResponseNotFoundError(RequestTranslationError):
    """An unknown or expired ``previous_response_id``: 404, in OpenAI's words (its type is
    ``invalid_request_error`` and its code ``previous_response_not_found``)."""

    def __init__(self, response_id: str) -> None:
        super().__init__(
            f"Previous response with id '{response_id}' not found.", param="previous_response_id", status=404
        )
        self.error_type = "invalid_request_error"

    def to_info(self) -> ErrorInfo:
        info = super().to_info()
        info.code = "previous_response_not_found"
        return info


def _resolve_references(items: list[dict[str, Any]], chain: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``item_reference`` items naming an item of the replayed chain become that item."""
    by_id = {item["id"]: item for item in chain if isinstance(item.get("id"), str)}
    return [by_id.get(item.get("id"), item) if item.get("type") == "item_reference" else item for item in items]


async def _stored_items(items: Any, store: ResponseStore) -> dict[str, dict[str, Any]]:
    """The items that the ``item_reference`` items left name (outside a ``previous_response_id``
    chain: the Vercel AI SDK sends ``{"type": "item_reference", "id": "msg_..."}`` for its earlier
    output), each from whichever stored response holds it; an id never stored is a 404 naming it."""
    found: dict[str, dict[str, Any]] = {}
    if not isinstance(items, list):
        return found
    get_item = getattr(store, "get_item", None)  # a store written before items were indexed has none
    for index, item in enumerate(items):
        if not _is_reference(item) or item.get("id") in found:
            continue
        item_id = item.get("id")
        stored = None
        if isinstance(item_id, str) and get_item is not None:
            try:
                stored = await get_item(item_id)
            except StoreUnavailableError as exc:
                logger.warning("asgi_translate: %s", exc)
                raise RequestTranslationError(
                    "The response store is unavailable; retry, or send the items instead of item references",
                    param=f"input[{index}].id",
                    status=503,
                ) from None
        if stored is None:
            message = f"Item with id {item_id!r} not found."
            raise RequestTranslationError(message, param=f"input[{index}].id", status=404)
        found[item_id] = stored
    return found


def _substitute(items: Any, found: dict[str, dict[str, Any]]) -> Any:
    return [found.get(item["id"], item) if _is_reference(item) else item for item in items]


def _is_reference(item: Any) -> bool:
    """An ``item_reference``, also in the spec's other spelling: ``type`` null (or left out) beside
    a lone ``id``."""
    if not isinstance(item, dict):
        return False
    kind = item.get("type")
    return kind == "item_reference" or (kind is None and "id" in item and "role" not in item and "content" not in item)


def _normalize_input(value: Any, new_id: IdFactory | None) -> list[dict[str, Any]]:
    """The new input as a list of items in their full form (explicit ``type``, content lists,
    and with ``new_id`` an ``id`` each): what the input_items endpoint lists and what a later turn
    replays. Invalid shapes pass through unchanged for the parser to reject with a precise message."""
    if isinstance(value, str):
        value = [{"type": "message", "role": "user", "content": value}]
    if not isinstance(value, list):
        return value  # type: ignore[no-any-return]
    return [_normalize_item(item, new_id) if isinstance(item, dict) else item for item in value]


def _normalize_item(item: dict[str, Any], new_id: IdFactory | None) -> dict[str, Any]:
    kind = item.get("type", "message")
    if _is_reference(item):
        return item
    out = {"type": kind, **item}
    if kind == "message" and isinstance(item.get("content"), str):
        text_type = "output_text" if item.get("role") == "assistant" else "input_text"
        out["content"] = [{"type": text_type, "text": item["content"]}]
    if new_id is not None and not isinstance(out.get("id"), str):
        out["id"] = new_id(_ITEM_PREFIX.get(kind, "item_") if isinstance(kind, str) else "item_")  # [] is unhashable
    return out


# -- the GET / DELETE endpoints -------------------------------------------------------------------


class ResponsesStateEndpoint:
    """``GET|DELETE {prefix}{id}`` and ``GET {prefix}{id}/input_items`` from the store, for the
    Responses routes whose upstream keeps no state of its own."""

    __slots__ = ("store", "prefixes")

    def __init__(self, store: ResponseStore, prefixes: tuple[str, ...]) -> None:
        self.store = store
        self.prefixes = prefixes

    @classmethod
    def for_routes(cls, settings: Settings) -> ResponsesStateEndpoint | None:
        prefixes = tuple(
            path + "/" for path, r in settings.routes.items() if r.client == "responses" and r.upstream != "responses"
        )
        return cls(settings.response_store, prefixes) if prefixes else None

    def _split(self, path: str) -> tuple[str, str] | None:
        """``(id, tail)`` of a state path, or ``None`` for any other path."""
        prefix = next((p for p in self.prefixes if path.startswith(p)), None)
        if prefix is None:
            return None
        response_id, _, tail = path[len(prefix) :].partition("/")
        if not response_id or tail not in ("", "input_items"):
            return None
        return response_id, tail

    def matches(self, path: str) -> bool:
        return self._split(path) is not None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = route_path(scope)
        split = self._split(path)
        assert split is not None  # the table calls this endpoint only for paths it matches
        response_id, tail = split
        method, store = scope["method"], self.store
        try:
            if tail == "input_items":
                status, payload = await _input_items(store, response_id, scope.get("query_string", b""))
                if method != "GET":
                    status, payload = 405, _error_body(f"{method} is not supported on {path}", None)
            elif method == "GET":
                status, payload = await _get(store, response_id)
            else:
                status, payload = await _delete(store, response_id)
        except StoreUnavailableError as exc:
            logger.warning("asgi_translate: %s", exc)
            status, payload = 503, _error_body("The response store is unavailable; retry later", None, "server_error")
        body = _json.dumpb(payload)
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body, "more_body": False})


def _error_body(message: str, param: str | None, error_type: str = "invalid_request_error") -> dict[str, Any]:
    return {"error": {"message": message, "type": error_type, "param": param, "code": None}}


def _missing(response_id: str) -> tuple[int, dict[str, Any]]:
    return 404, _error_body(f"Response with id '{response_id}' not found.", None)


async def _get(store: ResponseStore, response_id: str) -> tuple[int, dict[str, Any]]:
    entry = await store.get(response_id)
    return (200, entry.response) if entry is not None else _missing(response_id)


async def _delete(store: ResponseStore, response_id: str) -> tuple[int, dict[str, Any]]:
    if not await store.delete(response_id):
        return _missing(response_id)
    return 200, {"id": response_id, "object": "response", "deleted": True}


async def _input_items(store: ResponseStore, response_id: str, query: bytes) -> tuple[int, dict[str, Any]]:
    """OpenAI's list shape and paging: ``limit`` (1-100, default 20), ``order`` (``desc`` by
    default: newest first), ``after`` (an item id)."""
    entry = await store.get(response_id)
    if entry is None:
        return _missing(response_id)
    params = {key: values[-1] for key, values in parse_qs(query.decode("latin-1")).items()}
    try:
        limit = min(max(int(params.get("limit", "20")), 1), 100)
    except ValueError:
        return 400, _error_body("'limit' must be an integer between 1 and 100", "limit")
    items = list(entry.input_items)
    if params.get("order", "desc") != "asc":
        items.reverse()
    after = params.get("after")
    if after is not None:
        ids = [item.get("id") for item in items]
        items = items[ids.index(after) + 1 :] if after in ids else []
    page = items[:limit]
    return 200, {
        "object": "list",
        "data": page,
        "first_id": page[0].get("id") if page else None,
        "last_id": page[-1].get("id") if page else None,
        "has_more": len(items) > limit,
    }
