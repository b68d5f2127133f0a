"""Tool names every upstream takes, and the way back to the client's own.

Clients name tools more freely than upstreams accept: Claude Code's MCP tools (``mcp__server__
tool``) run past OpenAI's 64 characters, and chat history may call a tool whose name has spaces
or is empty, which Anthropic's ``^[a-zA-Z0-9_-]{1,128}$`` refuses. Before a request is rendered,
every name the upstream would refuse (tool definitions, ``tool_choice``, calls in the history)
becomes a portable one: cleaned, cut, and suffixed with a hash of the whole, so distinct names stay
distinct and the same name maps the same way every turn (prefix caches still match). The map back
turns the model's calls into the client's names again, in JSON answers and streams alike.
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Callable

from .canonical import BlockStart, Request, Response, StreamEvent, ToolCallPart
from .pipeline import DataEvents, DecodeRun, StreamDecoder
from .routes import SchemaName
from .sse import ServerSentEvent

#: The longest name each upstream takes (OpenAI's function names: 64; Anthropic's tools: 128).
LIMITS: dict[SchemaName, int] = {"chat": 64, "responses": 64, "messages": 128}
_PORTABLE = {limit: re.compile(rf"[A-Za-z0-9_-]{{1,{limit}}}") for limit in set(LIMITS.values())}
_UNPORTABLE = re.compile(r"[^A-Za-z0-9_-]")


def portable_name(name: str, limit: int) -> str:
    """``name`` when it fits, else a cleaned, cut form with a hash of the whole (a pure function).

    Cached: a client sends the same tools every turn, and its history calls them again, so most
    names are looked up rather than matched (a regular expression match costs twice the lookup).
    Bounded, as the names are the client's: at most 4,096 of them, each no longer than
    :data:`_CACHED_LENGTH` (a request may carry names of any length, and a cache of those would
    keep megabytes alive)."""
    if len(name) > _CACHED_LENGTH:
        return _portable(name, limit)
    return _cached_portable(name, limit)


def _portable(name: str, limit: int) -> str:
    if _PORTABLE[limit].fullmatch(name):
        return name
    digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:10]
    return f"{_UNPORTABLE.sub('_', name)[: limit - 11]}_{digest}"


_CACHED_LENGTH = 256  # twice the longest name any schema allows
_cached_portable = functools.lru_cache(maxsize=4096)(_portable)


def fits(name: str, limit: int) -> bool:
    """Whether ``name`` goes up as it is toward an upstream that takes ``limit`` characters: the
    parsers' check of a tool definition's name (``[A-Za-z0-9_-]{1,128}``, every schema's rule),
    answered from :func:`portable_name`'s cache."""
    return len(name) <= limit and portable_name(name, limit) == name  # a longer one is refused unhashed


def fit_tool_names(request: Request, upstream: SchemaName) -> dict[str, str]:
    """Rename, in place, every tool name of ``request`` that ``upstream`` would refuse; the map
    from the names sent up back to the client's (empty when nothing needed renaming)."""
    limit = LIMITS[upstream]
    back: dict[str, str] = {}
    for tool in request.tools:
        tool.name = _fit(tool.name, limit, back)
    if request.tool_choice is not None and request.tool_choice.name is not None:
        request.tool_choice.name = _fit(request.tool_choice.name, limit, back)
    for message in request.messages:  # the whole history: a type test per part, not isinstance
        for part in message.content:
            if type(part) is ToolCallPart:
                part.name = _fit(part.name, limit, back)
    return back


def _fit(name: str, limit: int, back: dict[str, str]) -> str:
    """``name`` as ``upstream`` takes it, noting a renamed one in ``back``."""
    fitted = portable_name(name, limit)
    if fitted != name:
        back[fitted] = name
    return fitted


def name_response_back(response: Response, back: dict[str, str]) -> None:
    """The client's names on the tool calls of a whole answer."""
    for part in response.content:
        if isinstance(part, ToolCallPart) and part.name in back:
            part.name = back[part.name]


class NamesBack:
    """A stream decoder whose tool-call blocks carry the client's names; used only for requests
    that had a name renamed, so other streams pay nothing."""

    __slots__ = ("_decoder", "_back", "_decode_data", "decode_run")

    def __init__(self, decoder: StreamDecoder, back: dict[str, str]) -> None:
        self._decoder = decoder
        self._back = back
        self._decode_data: Callable[[bytes, str], DataEvents] | None = getattr(decoder, "decode_data", None)
        #: The wrapped decoder's runs as they are: text deltas carry neither names nor usage.
        self.decode_run: DecodeRun | None = getattr(decoder, "decode_run", None)

    def decode(self, event: ServerSentEvent) -> list[StreamEvent]:
        return self._rename(self._decoder.decode(event))

    @property
    def decode_data(self) -> Callable[[bytes, str], DataEvents] | None:
        """The wrapped decoder's bytes lane, renamed too, when it has one (see
        :class:`~asgi_translate._hub.pipeline.StreamDecoder`): a renamed stream stays as fast."""
        return None if self._decode_data is None else self._renamed_data

    def _renamed_data(self, data: bytes, event: str) -> DataEvents:
        assert self._decode_data is not None
        events = self._decode_data(data, event)
        return events if type(events) is tuple else self._rename(events)  # type: ignore[arg-type]

    def flush(self) -> list[StreamEvent]:
        return self._rename(self._decoder.flush())

    def _rename(self, events: list[StreamEvent]) -> list[StreamEvent]:
        for event in events:
            if type(event) is BlockStart and event.name is not None and event.name in self._back:
                event.name = self._back[event.name]
        return events
