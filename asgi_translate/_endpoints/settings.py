"""What the endpoints read of the middleware's configuration, fixed when the middleware is built.

Endpoints take this (or the few values they need) rather than the middleware itself, so nothing
below the app surface imports :mod:`asgi_translate._middleware` and the middleware's options can
change without the endpoints noticing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from starlette.types import ASGIApp

from .._hub.canonical import Request
from .._hub.context import Clock, IdFactory
from .._hub.routes import Route
from .._model_map import MaxTokensCap, ModelMap
from .._state.memory import ResponseStore
from .hooks import ExchangeHook, RequestHook

if TYPE_CHECKING:
    from .._upstream import HTTPXUpstream

#: Counts the tokens of a canonical request, sync or async (``token_counter=``).
TokenCounter = Callable[[Request], "int | Awaitable[int]"]


@dataclass(frozen=True, slots=True)
class Settings:
    #: Where translated requests and side requests go: the wrapped app, or the remote.
    upstream_app: ASGIApp
    #: The remote upstream, when there is one (it maps paths against its own base URL).
    remote: HTTPXUpstream | None
    routes: Mapping[str, Route]
    model_map: ModelMap
    default_max_tokens: int | Mapping[str, int]
    max_tokens_cap: MaxTokensCap
    max_body_size: int
    id_factory: IdFactory
    clock: Clock
    response_store: ResponseStore
    strict: bool
    token_counter: TokenCounter
    on_request: RequestHook | None
    on_exchange: ExchangeHook | None
    #: Longest silence of the upstream (seconds) before the exchange fails; None: no bound.
    idle_timeout: float | None = None
    #: Stored Responses state is seen only by the credential that created it.
    responses_per_key: bool = True
    #: The chat fields reasoning text goes out in (``chat_reasoning_field``).
    reasoning_fields: tuple[str, ...] = ("reasoning_content", "reasoning")
    #: The chat upstream takes ``stream_options.continuous_usage_stats`` (vLLM).
    continuous_usage_stats: bool = False

    def max_tokens_for(self, model: str) -> int:
        if isinstance(self.default_max_tokens, int):
            return self.default_max_tokens
        return self.default_max_tokens.get(model, self.default_max_tokens.get("*", 4096))
