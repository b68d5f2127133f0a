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

A stored entry holds the items its own turn added (with an id on every item) and the ids of the
earlier responses of its chain, so each turn is stored once and a chain replays with two reads
(the link named, then its ancestors at once). Stored responses belong to the credential that
created them (a hash of the client's key, see :func:`owner_of`): another key gets a 404, as for
an unknown id, unless the middleware was built with ``responses_per_key=False``.
"""

from __future__ import annotations

import hashlib
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


def owner_of(headers: list[tuple[bytes, bytes]]) -> str:
    """Who stored a response: a hash of the request's key (``x-api-key``, else the bearer token;
    none at all is one more owner), never the key itself, stable across processes and replicas."""
    key = bearer = b""
    for name, value in headers:
        lowered = name.lower()
        if lowered == b"x-api-key":
            key = value.strip()
        elif lowered == b"authorization" and value[:7].lower() == b"bearer ":
            bearer = value[7:].strip()
    return hashlib.sha256(b"asgi_translate response owner\0" + (key or bearer)).hexdigest()[:32]


class PendingResponse:
    """One request's state: the new input items to store with its response (if ``store`` is on),
    the chain they continue and who owns them."""

    __slots__ = ("store", "input_items", "enabled", "saved", "chain", "owner")

    def __init__(
        self,
        store: ResponseStore,
        input_items: list[dict[str, Any]],
        enabled: bool,
        chain: list[str] | None = None,
        owner: str | None = None,
    ) -> None:
        self.store = store
        self.input_items = input_items
        self.enabled = enabled
        self.saved = False
        self.chain = chain or []
        self.owner = owner

    async def remember(self, response: dict[str, Any] | None) -> None:
        """Store the final response object under the id the client saw. A store failure is
        logged, never raised: the client's answer matters more than its future chaining."""
        if not self.enabled or self.saved or not response or not isinstance(response.get("id"), str):
            return
        if response.get("status") == "failed":
            return  # its items may be cut mid-way: nothing a later turn could replay
        self.saved = True
        entry = StoredResponse(response=response, input_items=self.input_items, chain=self.chain, owner=self.owner)
        try:
            await self.store.put(response["id"], entry)
        except StoreUnavailableError as exc:  # expected while a shared store is down: no traceback per request
            logger.warning("asgi_translate: response %s not stored: %s", response["id"], exc)
        except Exception:
            logger.exception("asgi_translate: could not store response %s", response["id"])


async def prepare(
    body: dict[str, Any], store: ResponseStore, new_id: IdFactory, owner: str | None = None
) -> tuple[dict[str, Any], PendingResponse]:
    """Expand ``previous_response_id`` into ``input``; raises a 404/503 RequestTranslationError.
    With ``owner``, only that owner's stored responses and items are found.

    The new items are stored with an ``id`` each (minted where the client gave none), but go to the
    parser as the client sent them: a minted id is new on every turn, and rendered upstream (a
    reasoning item's id, say) it would make each turn's request differ from the previous one's
    before the new turn and defeat the upstream's prefix cache."""
    items = _normalize_input(body.get("input"), None)
    stored = _normalize_input(items, new_id) if isinstance(items, list) else items
    previous = body.get("previous_response_id")
    links: list[str] = []
    if previous is not None:
        if not isinstance(previous, str):
            raise RequestTranslationError("'previous_response_id' must be a string", param="previous_response_id")
        history, links = await _load_chain(previous, store, owner)
        items = history + _resolve_references(items, history)
        stored = _resolve_references(stored, history)
    found = await _stored_items(items, store, owner)
    if found:
        items, stored = _substitute(items, found), _substitute(stored, found)
    expanded = {**body, "input": items}
    enabled = body.get("store", True) is not False
    # Without store, nothing is saved: the conversation is not held for the length of the answer.
    return expanded, PendingResponse(store, stored if enabled else [], enabled, links, owner)


def _unavailable(exc: StoreUnavailableError) -> RequestTranslationError:
    logger.warning("asgi_translate: %s", exc)
    return RequestTranslationError(
        "The response store is unavailable; retry, or send the whole history instead of previous_response_id",
        param="previous_response_id",
        status=503,
    )


async def _load_chain(
    response_id: str, store: ResponseStore, owner: str | None
) -> tuple[list[dict[str, Any]], list[str]]:
    """(the items ``response_id``'s conversation holds, oldest first: each turn's input, then its
    output; the chain a response continuing it names)."""
    try:
        entry = await store.get(response_id)
        if not _owned(entry, owner):
            raise PreviousResponseNotFoundError(response_id)
        assert entry is not None
        return await history_of(entry, store, owner, with_output=True), [*entry.chain, response_id]
    except StoreUnavailableError as exc:
        raise _unavailable(exc) from None


async def history_of(
    entry: StoredResponse, store: ResponseStore, owner: str | None, *, with_output: bool
) -> list[dict[str, Any]]:
    """The items of ``entry``'s whole conversation: each earlier turn's input and output, then its
    own input (and, ``with_output``, its output). An earlier turn that is gone (deleted, or of
    another owner) makes the conversation a 404: replaying it with a hole would mislead the model."""
    ancestors: list[StoredResponse | None] = []
    if entry.chain:
        get_many = getattr(store, "get_many", None)  # one round trip when the store has it
        if get_many is not None:
            ancestors = list(await get_many(entry.chain))
        else:
            ancestors = [await store.get(link) for link in entry.chain]
    items: list[dict[str, Any]] = []
    for link, ancestor in zip(entry.chain, ancestors, strict=True):
        if not _owned(ancestor, owner):
            raise PreviousResponseNotFoundError(link)
        assert ancestor is not None
        items += ancestor.input_items
        items += _output_items(ancestor)
    items += entry.input_items
    if with_output:
        items += _output_items(entry)
    return items


def _output_items(entry: StoredResponse) -> list[dict[str, Any]]:
    return [item for item in entry.response.get("output") or [] if isinstance(item, dict)]


def _owned(entry: StoredResponse | None, owner: str | None) -> bool:
    """A stored entry the requester may see: any entry when responses are shared (``owner`` is
    ``None``), else only one stored under the same credential."""
    return entry is not None and (owner is None or entry.owner == owner)


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


async def _stored_items(items: Any, store: ResponseStore, owner: str | None) -> dict[str, dict[str, Any]]:
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
                stored = await (get_item(item_id) if owner is None else get_item(item_id, owner=owner))
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

    __slots__ = ("store", "prefixes", "per_key")

    def __init__(self, store: ResponseStore, prefixes: tuple[str, ...], per_key: bool = True) -> None:
        self.store = store
        self.prefixes = prefixes
        self.per_key = per_key

    @classmethod
    def for_routes(cls, settings: Settings) -> ResponsesStateEndpoint | None:
        prefixes = tuple(
            path + "/" for path, r in settings.routes.items() if r.client == "responses" and r.upstream != "responses"
        )
        return cls(settings.response_store, prefixes, settings.responses_per_key) if prefixes else None

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
        owner = owner_of(scope["headers"]) if self.per_key else None
        try:
            if tail == "input_items":
                status, payload = await _input_items(store, response_id, scope.get("query_string", b""), owner)
                if method != "GET":
                    status, payload = 405, _error_body(f"{method} is not supported on {path}", None)
            elif method == "GET":
                status, payload = await _get(store, response_id, owner)
            else:
                status, payload = await _delete(store, response_id, owner)
        except PreviousResponseNotFoundError:  # an earlier turn of its conversation is gone
            status, payload = _missing(response_id)
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


async def _get(store: ResponseStore, response_id: str, owner: str | None) -> tuple[int, dict[str, Any]]:
    entry = await store.get(response_id)
    return (200, entry.response) if entry is not None and _owned(entry, owner) else _missing(response_id)


async def _delete(store: ResponseStore, response_id: str, owner: str | None) -> tuple[int, dict[str, Any]]:
    if owner is not None and not _owned(await store.get(response_id), owner):
        return _missing(response_id)  # not this key's to delete, nor to learn that it exists
    if not await store.delete(response_id):
        return _missing(response_id)
    return 200, {"id": response_id, "object": "response", "deleted": True}


async def _input_items(
    store: ResponseStore, response_id: str, query: bytes, owner: str | None
) -> tuple[int, dict[str, Any]]:
    """OpenAI's list shape and paging: ``limit`` (1-100, default 20), ``order`` (``desc`` by
    default: newest first), ``after`` (an item id). The items are the whole input the model saw:
    the earlier turns of the chain, then this turn's input."""
    entry = await store.get(response_id)
    if entry is None or not _owned(entry, owner):
        return _missing(response_id)
    params = {key: values[-1] for key, values in parse_qs(query.decode("latin-1")).items()}
    try:
        limit = min(max(int(params.get("limit", "20")), 1), 100)
    except ValueError:
        return 400, _error_body("'limit' must be an integer between 1 and 100", "limit")
    items = await history_of(entry, store, owner, with_output=False)
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
