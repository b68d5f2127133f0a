"""Per-request facts that renderers, decoders and encoders share: injectable ids and clock.

A :class:`Context` is built once per translated request by the middleware and handed to the
request's decoder and encoder; nothing here is shared between requests.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .canonical import Request

IdFactory = Callable[[str], str]
Clock = Callable[[], float]


def random_id(prefix: str) -> str:
    """``prefix`` + 24 random hex digits, the shape of the providers' own ids: what
    ``secrets.token_hex(12)`` returns, read from the same ``os.urandom`` without its two Python
    calls around it (a stream mints one or more of these before its first byte)."""
    return prefix + os.urandom(12).hex()


@dataclass(slots=True)
class Context:
    """What one translated exchange knows besides the bytes flowing through it.

    The exchange builds it with positional arguments (see ``_Responder._translate_request``):
    a field added or moved here is added or moved there too."""

    #: The client's request in canonical form (after model mapping, ``request.model`` is the
    #: upstream's name; ``client_model`` is what the client asked for and sees in responses).
    #: Once the upstream request is rendered, the middleware empties its ``messages``, ``system``
    #: and ``tools`` unless an ``on_exchange`` hook will be shown them (a stream may last
    #: minutes); decoders and encoders read only the other fields.
    request: Request
    client_model: str
    #: The client's request JSON as received: Responses echoes several of its fields. Once the
    #: upstream request is rendered, only a Responses client's keeps its fields but ``input``.
    client_body: dict[str, Any] = field(default_factory=dict)
    new_id: IdFactory = random_id
    clock: Clock = time.time
    #: ``max_tokens`` sent to a Messages upstream when the client gave none.
    default_max_tokens: int = 4096
    #: The betas named in the request's ``anthropic-beta`` headers, which go upstream with it: a
    #: Messages upstream takes what they turn on (``mid-conversation-system-2026-04-07``).
    betas: frozenset[str] = frozenset()
    #: The chat fields that carry reasoning text out (to a chat client, or a chat upstream's
    #: history): ``reasoning_content`` (DeepSeek's, which LiteLLM and most SDK-based clients read),
    #: ``reasoning`` (vLLM's since 0.16, OpenRouter's, what ``@openai/agents`` reads), or both.
    reasoning_fields: tuple[str, ...] = ("reasoning_content", "reasoning")
    #: The chat upstream takes vLLM's ``stream_options.continuous_usage_stats`` (usage on every
    #: chunk, the prompt count on the first): a Messages client's ``message_start`` then has it.
    continuous_usage_stats: bool = False
    #: Tool names sent up in a portable form, mapped back to the client's (see ``tool_names``).
    tool_names_back: dict[str, str] = field(default_factory=dict)

    def now(self) -> int:
        return int(self.clock())
