"""Which paths are translated, from which client schema to which upstream schema."""

from __future__ import annotations

from collections.abc import MutableMapping
from dataclasses import dataclass
from typing import Any, Literal, get_args

SchemaName = Literal["chat", "messages", "responses"]
SCHEMAS: tuple[SchemaName, ...] = get_args(SchemaName)

#: Where each schema lives on an OpenAI- or Anthropic-style server.
DEFAULT_PATHS: dict[SchemaName, str] = {
    "chat": "/v1/chat/completions",
    "messages": "/v1/messages",
    "responses": "/v1/responses",
}


def check_schema(name: str, option: str) -> SchemaName:
    """Validate a user-given schema name early, with an error that lists the choices."""
    if name not in SCHEMAS:
        raise ValueError(f"{option}={name!r} is not a schema; use one of {', '.join(map(repr, SCHEMAS))}")
    return name


@dataclass(frozen=True, slots=True)
class Route:
    """``POST path`` speaks ``client``; it is answered by ``upstream`` at ``upstream_path``
    (that schema's usual path when not given)."""

    path: str
    client: SchemaName
    upstream: SchemaName
    upstream_path: str | None = None

    def __post_init__(self) -> None:
        check_schema(self.client, "client")
        check_schema(self.upstream, "upstream")
        if not self.path.startswith("/"):
            raise ValueError(f"Route path must start with '/', got {self.path!r}")

    @property
    def target_path(self) -> str:
        return self.upstream_path or DEFAULT_PATHS[self.upstream]


def default_routes(upstream: SchemaName, prefix: str = "") -> list[Route]:
    """Expose every other schema at its usual path, answered by ``upstream``."""
    return [
        Route(prefix + DEFAULT_PATHS[client], client, upstream, prefix + DEFAULT_PATHS[upstream])
        for client in SCHEMAS
        if client != upstream
    ]


def route_path(scope: MutableMapping[str, Any]) -> str:
    """The path under the app's mount point: Starlette's ``Mount`` keeps the full ``path`` and
    names the mount in ``root_path``. Routes are matched against this."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root + "/") else path
