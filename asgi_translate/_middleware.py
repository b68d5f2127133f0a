"""TranslateMiddleware: stateless configuration, and one table from (method, path) to the endpoint
that answers it.

Built once: the options become a frozen :class:`~._endpoints.settings.Settings` and the endpoint
table (:mod:`._endpoints.table`). A request that matches no entry (other paths and methods,
websockets) goes to the wrapped app untouched; lifespan too, with the remote's pool closed at
shutdown.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Literal

from starlette.types import ASGIApp, Receive, Scope, Send

from ._endpoints.hooks import ExchangeHook, RequestHook
from ._endpoints.settings import Settings, TokenCounter
from ._endpoints.table import build_table
from ._endpoints.token_count import estimate_tokens
from ._hub.context import Clock, IdFactory, random_id
from ._hub.routes import Route, SchemaName, check_schema, default_routes, route_path
from ._model_map import MaxTokensCap, ModelMap
from ._state.memory import ResponseStore
from ._state.redis import open_store

if TYPE_CHECKING:
    import httpx

    from ._upstream import HTTPXUpstream

DEFAULT_MAX_BODY_SIZE = 32 * 1024 * 1024
#: As a remote's default read timeout: a model may think for minutes between two frames.
DEFAULT_IDLE_TIMEOUT = 600.0


class TranslateMiddleware:
    """Serve every LLM schema from an app (or remote server) that speaks one of them.

    ``TranslateMiddleware(app, upstream="chat")`` answers ``POST /v1/messages`` and
    ``POST /v1/responses`` through the app's ``POST /v1/chat/completions``. ``routes`` adds or
    replaces routes for other paths. All options are keyword-only.

    ``upstream_url`` sends translated requests to a remote server speaking ``upstream`` instead
    (see :class:`~asgi_translate._upstream.HTTPXUpstream` for ``upstream_api_key``, ``timeout``
    and ``http_client``); without ``app`` everything else is proxied there too, unchanged.

    Also served, each by one endpoint of :mod:`._endpoints`: same-schema model renaming,
    ``GET /v1/models`` in the client's format, token counting (``token_counter`` is the last
    resort), and the Responses state endpoints; the losses header and ``strict``
    (:mod:`._hub.losses`) and the ``on_request`` / ``on_exchange`` hooks apply throughout.
    """

    def __init__(
        self,
        app: ASGIApp | None = None,
        *,
        upstream: SchemaName | None = None,
        routes: Sequence[Route] = (),
        default_max_tokens: int | Mapping[str, int] = 4096,
        max_tokens_cap: int | Mapping[str, int] | MaxTokensCap | None = None,
        model_map: Mapping[str, str] | ModelMap | None = None,
        max_body_size: int = DEFAULT_MAX_BODY_SIZE,
        id_factory: IdFactory = random_id,
        clock: Clock = time.time,
        upstream_url: str | None = None,
        upstream_api_key: str | None = None,
        timeout: float | httpx.Timeout | None = None,
        http_client: httpx.AsyncClient | None = None,
        response_store: ResponseStore | str | None = None,
        strict: bool = False,
        token_counter: TokenCounter = estimate_tokens,
        on_request: RequestHook | None = None,
        on_exchange: ExchangeHook | None = None,
        idle_timeout: float | None = DEFAULT_IDLE_TIMEOUT,
        responses_per_key: bool = True,
        chat_reasoning_field: ChatReasoningField = "both",
        continuous_usage_stats: bool = False,
    ) -> None:
        if upstream is None and not routes:
            raise ValueError("TranslateMiddleware needs upstream='chat'|'messages'|'responses' or routes=[Route(...)]")
        self.remote: HTTPXUpstream | None = None
        if upstream_url is not None:
            from ._upstream import remote_upstream

            self.remote = remote_upstream(upstream_url, upstream, routes, upstream_api_key, timeout, http_client)
        elif app is None:
            raise ValueError("TranslateMiddleware needs an app to wrap, or upstream_url='https://...' to forward to")
        #: Untranslated requests go to ``app``; translated ones to the remote when there is one.
        self.app: ASGIApp = app if app is not None else self.remote  # type: ignore[assignment]
        self.upstream_app: ASGIApp = self.remote if self.remote is not None else self.app
        all_routes = [*routes, *(default_routes(check_schema(upstream, "upstream")) if upstream else [])]
        # The first route for a path wins, so explicit routes override the defaults.
        self.routes: dict[str, Route] = {}
        for route in all_routes:
            self.routes.setdefault(route.path, route)
        self.model_map = model_map if isinstance(model_map, ModelMap) else ModelMap(model_map or {})
        self.max_body_size = max_body_size
        #: Losses refuse a request (400) rather than being reported (see _hub.losses).
        self.strict = strict
        #: Responses state (previous_response_id, GET/DELETE /v1/responses/{id}) for Responses
        #: routes over other upstreams. A ``redis://`` URL shares it between workers and replicas;
        #: the default is this process's memory.
        self.response_store: ResponseStore = open_store(response_store)
        self.settings = Settings(
            upstream_app=self.upstream_app,
            remote=self.remote,
            routes=self.routes,
            model_map=self.model_map,
            default_max_tokens=default_max_tokens,
            max_tokens_cap=_max_tokens_cap(max_tokens_cap),
            max_body_size=max_body_size,
            id_factory=id_factory,
            clock=clock,
            response_store=self.response_store,
            strict=strict,
            token_counter=token_counter,
            on_request=on_request,
            on_exchange=on_exchange,
            idle_timeout=idle_timeout,
            responses_per_key=responses_per_key,
            reasoning_fields=_reasoning_fields(chat_reasoning_field),
            continuous_usage_stats=continuous_usage_stats,
        )
        self.endpoints = build_table(self.settings, upstream=upstream, app=self.app)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            endpoint = self.endpoints.find(scope["method"], route_path(scope))
            if endpoint is not None:
                await endpoint(scope, receive, send)
                return
        elif scope["type"] == "lifespan" and self.remote is not None and self.app is not self.remote:
            await self.remote.lifespan_around(self.app, scope, receive, send)  # close the pool on shutdown
            return
        await self.app(scope, receive, send)

    @property
    def rename_paths(self) -> dict[str, SchemaName]:
        """Same-schema endpoints, where only the model is renamed."""
        return self.endpoints.rename_paths

    def max_tokens_for(self, model: str) -> int:
        return self.settings.max_tokens_for(model)


def _max_tokens_cap(value: int | Mapping[str, int] | MaxTokensCap | None) -> MaxTokensCap:
    if isinstance(value, MaxTokensCap):
        return value
    return MaxTokensCap(() if value is None else value)


#: Which chat field(s) carry reasoning text out: clients and servers read different ones.
ChatReasoningField = Literal["reasoning_content", "reasoning", "both"]


def _reasoning_fields(choice: ChatReasoningField) -> tuple[str, ...]:
    if choice == "both":
        return ("reasoning_content", "reasoning")
    if choice not in ("reasoning_content", "reasoning"):
        raise ValueError(f"chat_reasoning_field={choice!r}: use 'reasoning_content', 'reasoning' or 'both'")
    return (choice,)
