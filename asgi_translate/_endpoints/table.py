"""One table from (method, path) to the endpoint that answers it, built once per middleware.

Every endpoint has one shape: an object built from the configuration it needs, called as an ASGI
app for each request it answers. Most are found by exact ``(method, path)`` in a dict, which is
the only cost a request pays to be routed; the few that answer a family of paths
(``/v1/models/{id}``, ``/v1/responses/{id}``) are tried after, in order, by a predicate.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from starlette.types import ASGIApp

from .._hub.routes import SchemaName
from .exchange import ExchangeEndpoint
from .model_list import ModelListEndpoint
from .model_rename import RenameEndpoint, rename_paths
from .responses_state import ResponsesStateEndpoint
from .settings import Settings
from .token_count import TokenCountEndpoint, count_routes


@dataclass(frozen=True, slots=True)
class Pattern:
    """Endpoints for a family of paths: ``matches(path)`` says whether this one answers."""

    methods: frozenset[str]
    matches: Callable[[str], bool]
    endpoint: ASGIApp


@dataclass(frozen=True, slots=True)
class EndpointTable:
    exact: dict[tuple[str, str], ASGIApp]
    patterns: tuple[Pattern, ...]
    #: Same-schema paths, where only the model is renamed, with the schema each speaks.
    rename_paths: dict[str, SchemaName]

    def find(self, method: str, path: str) -> ASGIApp | None:
        """The endpoint for a request (``path`` relative to the mount point), or ``None`` for the
        wrapped app."""
        endpoint = self.exact.get((method, path))
        if endpoint is not None:
            return endpoint
        for pattern in self.patterns:
            if method in pattern.methods and pattern.matches(path):
                return pattern.endpoint
        return None


def build_table(settings: Settings, *, upstream: SchemaName | None, app: ASGIApp) -> EndpointTable:
    """Translated routes first, then same-schema renaming (only with a model map), then token
    counting; ``app`` is where untranslated (renamed) requests go."""
    exact: dict[tuple[str, str], ASGIApp] = {}
    for path, route in settings.routes.items():
        if route.client != route.upstream:
            exact[("POST", path)] = ExchangeEndpoint(settings, route)
    renamed = rename_paths(upstream, settings.routes) if settings.model_map else {}
    for path, schema in renamed.items():
        exact.setdefault(("POST", path), RenameEndpoint(app, schema, settings.model_map, settings.max_body_size))
    for path, route in count_routes(settings.routes).items():
        exact.setdefault(("POST", path), TokenCountEndpoint(settings, route))
    models = ModelListEndpoint(settings)
    patterns = [Pattern(frozenset({"GET"}), models.matches, models)]
    state = ResponsesStateEndpoint.for_routes(settings)
    if state is not None:
        patterns.append(Pattern(frozenset({"GET", "DELETE"}), state.matches, state))
    return EndpointTable(exact, tuple(patterns), renamed)
