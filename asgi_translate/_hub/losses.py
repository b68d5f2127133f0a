"""What a translation loses, in one table: the README's mapping table, the response header, the
log line and ``strict=True`` all read it.

Codecs record losses as short notes in ``Request.losses`` while parsing and rendering ("top_k
dropped", "temperature 1.5 clamped to 1 (...)"). :data:`KNOWN` lists every note a codec can write
(``pattern`` matches it), with the client field it concerns, where it happens and why; the tests
prove each row by translating an example request and scan the codecs' sources so that no note goes
unlisted. :func:`readme_table` renders the rows as the README's markdown table.

A few losses only show once the target schema is known and no renderer records them (a thinking
budget that becomes an effort level toward OpenAI upstreams, ...): :func:`note_upstream_losses`
adds those after rendering, so a client sees every loss whichever direction it took.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from .canonical import Request, ToolResultPart
from .errors import RequestTranslationError
from .routes import SCHEMAS, SchemaName

#: The response header that lists a translated request's losses by field.
HEADER = b"x-asgi-translate-losses"
_MAX_HEADER = 1024
_MAX_KEY = 80


@dataclass(frozen=True, slots=True)
class Loss:
    """One row of the mapping table: ``field`` of a ``client`` request is ``treatment`` on its
    way to the ``toward`` upstreams, because ``why``. ``pattern`` (a regular expression) matches
    the note the codec writes; rejected fields have none (the client gets a 400 instead).

    A ``hint`` cannot change the answer (a cache key, client metadata, an id for abuse tracking):
    it is reported like any loss, but ``strict`` lets it through."""

    client: SchemaName
    field: str
    treatment: str
    why: str
    pattern: str | None = None
    toward: tuple[SchemaName, ...] = SCHEMAS
    hint: bool = False

    def matches(self, note: str) -> bool:
        return self.pattern is not None and re.match(self.pattern, note) is not None


_OPENAI: tuple[SchemaName, ...] = ("chat", "responses")
_ANTHROPIC: tuple[SchemaName, ...] = ("messages",)
_CHAT: tuple[SchemaName, ...] = ("chat",)
_RESPONSES: tuple[SchemaName, ...] = ("responses",)

# fmt: off
KNOWN: tuple[Loss, ...] = (
    # -- Chat Completions clients ---------------------------------------------------------
    Loss("chat", "messages[].name", "dropped", "participant names have no counterpart", r"messages\[\]\.name dropped"),
    Loss("chat", "logprobs, top_logprobs", "dropped", "token log probabilities are not translated",
         r"(top_)?logprobs dropped"),
    Loss("chat", "frequency_penalty, presence_penalty, logit_bias, seed", "dropped",
         "sampling controls the other schemas lack", r"(frequency_penalty|presence_penalty|logit_bias|seed) dropped"),
    Loss("chat", "store, metadata, service_tier, prompt_cache_key, prompt_cache_retention", "dropped",
         "they steer storage, billing and caching, never the answer", r"(store|metadata|service_tier|prompt_cache_key|"
         r"prompt_cache_retention) dropped$", hint=True),
    Loss("chat", "any other field (prediction, audio settings, ...)", "dropped",
         "no counterpart in the canonical request", r"\w+ dropped$"),
    Loss("chat", "n > 1", "rejected", "the upstream returns one choice"),
    Loss("chat", "audio, modalities other than text, input_audio parts", "rejected", "audio has no counterpart"),
    Loss("chat", "web_search_options, non-function tools", "rejected", "hosted tools cannot run on another upstream"),
    Loss("chat", "functions, function_call, function messages", "rejected", "legacy fields: use tools"),
    # -- Anthropic Messages clients --------------------------------------------------------
    Loss("messages", "cache_control", "dropped", "prompt caching is Anthropic's; other servers cache on their own",
         r"(tools\[\]\.)?cache_control dropped", hint=True),
    Loss("messages", "citations", "dropped", "citation settings have no counterpart", r"citations dropped"),
    Loss("messages", "top_k", "dropped", "OpenAI schemas have no top_k; a sampling detail, not the answer's substance",
         r"top_k dropped"),
    Loss("messages", "thinking.budget_tokens", "coerced", "becomes the nearest reasoning effort (see _reasoning.py)",
         r"thinking\.budget_tokens coerced", _OPENAI),
    Loss("messages", "thinking.display", "dropped", "how Anthropic shows thinking; the thinking itself is mapped",
         r"thinking\.display dropped"),
    Loss("messages", "output_config.effort (thinking disabled)", "dropped", "effort without thinking means nothing",
         r"output_config\.effort dropped"),
    Loss("messages", "document with a plain-text source", "coerced", "sent as a text part",
         r"plain-text document sent as text"),
    Loss("messages", "tools[].eager_input_streaming, defer_loading, allowed_callers, input_examples", "dropped",
         "they steer Anthropic's own tool machinery: with defer_loading dropped the upstream sees every tool up "
         "front; allowed_callers only matters to Anthropic's code execution; input_examples are examples",
         r"tools\[\]\.\w+ dropped"),
    Loss("messages", "tool_result.is_error", "dropped", "chat tool messages have no error flag",
         r"tool_result\.is_error dropped", _CHAT),
    Loss("messages", "service_tier, inference_geo, container, context_management, speed", "dropped",
         "where and how fast Anthropic serves the request; context_management edits only shorten what Anthropic's "
         "model sees (the upstream sees the whole conversation); container serves server tools, which are refused",
         r"(service_tier|inference_geo|container|context_management|speed|"
         r"user_profile_id|cache_control) dropped"),
    Loss("messages", "system block x-anthropic-billing-header: ...", "dropped",
         "Claude Code's billing line, which Anthropic strips; its suffix changes with the prompt and would defeat "
         "the upstream's prefix cache", r"system x-anthropic-billing-header block dropped", hint=True),
    Loss("messages", "output_config.task_budget", "dropped", "the model cannot be told a task budget elsewhere",
         r"output_config\.\w+ dropped"),
    Loss("messages", "any other field", "dropped", "unknown to this version", r"unknown field \S+ dropped"),
    Loss("messages", "thread", "rejected",
         "nothing here holds a thread between turns: error.details.error_code thread_unsupported_request, on which "
         "the Anthropic SDKs resend the whole history"),
    Loss("messages", "mcp_servers, server tools and their result blocks", "rejected",
         "only Anthropic's API can run them"),
    Loss("messages", "Files API sources, search_result blocks", "rejected", "no counterpart upstream"),
    # -- Responses clients ---------------------------------------------------------------
    Loss("responses", "text.verbosity", "dropped", "no counterpart", r"text\.verbosity dropped"),
    Loss("responses", "include[] (other than reasoning.encrypted_content)", "dropped",
         "those outputs come from hosted tools", r"include \S+ dropped"),
    Loss("responses", "truncation: auto", "dropped", "the upstream sees the whole input",
         r"truncation 'auto' not applied"),
    Loss("responses", "prompt_cache_key, prompt_cache_retention, client_metadata, service_tier", "dropped",
         "they steer caching, billing and the client's own bookkeeping, never the answer",
         r"(prompt_cache_key|prompt_cache_retention|client_metadata|service_tier) ignored$", hint=True),
    Loss("responses", "any other field", "dropped", "no counterpart in the canonical request", r"\S+ ignored$"),
    Loss("responses", "tools of a hosted, built-in or unknown type (web_search, mcp, ...; see the table below)",
         "dropped", "only OpenAI's Responses API runs them",
         r"\S+ \(.* tool\) dropped$"),
    Loss("responses", "input items of hosted or built-in tools, or of an unknown type", "dropped",
         "only OpenAI's Responses API has them", r"\S+ \(.* item\) dropped$"),
    Loss("responses", "background, conversation, prompt, compaction items, tool_choice naming a hosted tool",
         "rejected", "only OpenAI's Responses API has them; carrying on would answer a different question"),
    # -- any client, decided by the upstream ----------------------------------------------
    *(Loss(client, "reasoning effort", "coerced", "becomes a thinking budget (see _reasoning.py)",
           r"reasoning effort coerced", _ANTHROPIC) for client in _OPENAI),
    *(Loss(client, "custom tool format (grammar)", "dropped", "only the Responses API enforces grammars",
           r"custom tool format \(grammar\) dropped", ("chat", "messages")) for client in ("responses",)),
    *(Loss(client, "metadata", "dropped", "OpenAI accepts it only with store", r"metadata dropped", _CHAT, hint=True)
      for client in ("responses",)),
    *(Loss(client, "stop sequences", "dropped", "the Responses API has no stop parameter",
           r"stop sequences dropped", _RESPONSES) for client in ("chat", "messages")),
    *(Loss(client, "max_tokens below 16", "coerced", "the Responses API's minimum is 16",
           r"max_output_tokens raised to 16", _RESPONSES) for client in ("chat", "messages")),
    *(Loss(client, "reasoning history", "dropped",
           "only signed reasoning right before a tool call can be replayed",
           r"(reasoning not replayable to the Responses upstream|unsigned reasoning) dropped",
           ("messages", "responses")) for client in SCHEMAS),
    *(Loss(client, "reasoning (forced tool call, unsigned tool turn, small max_tokens)", "dropped",
           "Anthropic cannot think then", r"reasoning dropped \(", _ANTHROPIC) for client in _OPENAI),
    *(Loss(client, "temperature, top_p", "coerced", "Anthropic's range is 0-1, one of the two, default with thinking",
           r"(temperature|top_p) (dropped|\S+ clamped)", _ANTHROPIC) for client in _OPENAI),
    *(Loss(client, "whitespace-only stop sequences", "dropped", "Anthropic rejects them",
           r"whitespace-only stop sequences dropped", _ANTHROPIC) for client in ("chat",)),
    *(Loss(client, "system/developer messages after the first turn", "coerced",
           "folded into system; they stay in place when the request turns on Anthropic's "
           "mid-conversation-system-2026-04-07 beta (anthropic-beta header)",
           r"mid-conversation system message folded into system", _ANTHROPIC) for client in _OPENAI),
    *(Loss(client, "user id (metadata.user_id, user, safety_identifier) over the upstream's limit", "coerced",
           "hashed to its SHA-256 in hex: OpenAI takes 64 characters, Anthropic 512", r"user id hashed", hint=True)
      for client in SCHEMAS),
    *(Loss(client, "more than 4 stop sequences", "dropped", "OpenAI's spec takes up to 4: the first 4 are sent",
           r"stop sequences beyond \S+ dropped", _CHAT) for client in ("messages",)),
    *(Loss(client, "max_tokens over max_tokens_cap", "coerced",
           "lowered to the cap the operator set for the model (so strict lets it through)",
           r"max_tokens \d+ coerced to \d+", hint=True) for client in SCHEMAS),
    *(Loss(client, "response_format json_object", "dropped", "Anthropic has JSON schemas only",
           r"response_format json_object dropped", _ANTHROPIC) for client in _OPENAI),
)
# fmt: on


def find(note: str, client: SchemaName | None = None) -> Loss | None:
    """The row a loss note belongs to (the first match: specific rows come before catch-alls)."""
    return next((row for row in KNOWN if (client is None or row.client == client) and row.matches(note)), None)


# -- after rendering ---------------------------------------------------------------------------


def note_upstream_losses(request: Request, client: SchemaName, upstream: SchemaName, body: dict[str, Any]) -> None:
    """Record the losses that depend on the pair of schemas and that no renderer records
    (``body`` is the rendered upstream request)."""
    losses = request.losses
    reasoning = request.reasoning
    if reasoning is not None and reasoning.enabled:
        if client == "messages" and upstream != "messages" and reasoning.budget_tokens is not None:
            _add(losses, f"thinking.budget_tokens coerced to reasoning effort {reasoning.effort!r}")
        if client != "messages" and upstream == "messages" and "thinking" in body:
            _add(losses, f"reasoning effort coerced to a thinking budget of {body['thinking']['budget_tokens']}")
    if upstream != "chat":
        return
    # Plain loops: run for every request toward chat, where generators cost more than the checks.
    for tool in request.tools:
        if tool.custom and tool.format is not None:
            _add(losses, "custom tool format (grammar) dropped")
            break
    if request.metadata:
        _add(losses, "metadata dropped")
    for message in request.messages:
        for part in message.content:
            if type(part) is ToolResultPart and part.is_error:
                _add(losses, "tool_result.is_error dropped")
                return


def _add(losses: list[str], note: str) -> None:
    if note not in losses:
        losses.append(note)


def check_strict(losses: list[str], client: SchemaName | None = None) -> None:
    """``strict=True``: any loss that can change the answer refuses the request with a 400 that
    lists them all; hints (:attr:`Loss.hint`) are only reported."""
    refused = [note for note in losses if not is_hint(note, client)]
    if refused:
        raise RequestTranslationError(
            "strict mode: this request cannot be translated without losses: " + "; ".join(refused),
            param=field_of(refused[0]),
        )


def is_hint(note: str, client: SchemaName | None = None) -> bool:
    """Whether a loss note is a hint, which cannot change the answer."""
    row = find(note, client)
    return row is not None and row.hint


# -- reporting ---------------------------------------------------------------------------------

_FIELD = re.compile(r"(?:unknown field )?(.*?) (?:dropped|ignored|coerced|clamped|not applied|sent as)\b", re.DOTALL)
_UNSAFE = re.compile(r"[^A-Za-z0-9_.\-\[\]' ()]")


def field_of(note: str) -> str:
    """The field a loss note is about: ``"top_k dropped"`` -> ``"top_k"``."""
    match = _FIELD.match(note)
    return match.group(1) if match else note.split(" (", 1)[0]


def header_value(losses: Iterable[str]) -> bytes:
    """``top_k, cache_control``: the fields, deduplicated, made header-safe (a client's unknown
    field name may hold any character) and bounded. A name that is empty or only spaces shows as
    ``""``: a header value may not begin or end with whitespace (h11 drops the connection)."""
    fields: list[str] = []
    for note in losses:
        key = _UNSAFE.sub("?", field_of(note))[:_MAX_KEY].strip() or '""'
        if key not in fields:
            fields.append(key)
    value = ", ".join(fields)
    if len(value) > _MAX_HEADER:
        value = value[: _MAX_HEADER - 3] + "..."
    return value.encode("ascii")


def headers(losses: list[str] | None) -> list[tuple[bytes, bytes]]:
    """The loss header for a response, or nothing when nothing was lost."""
    return [(HEADER, header_value(losses))] if losses else []


# -- the README table ----------------------------------------------------------------------------

_CLIENT_NAMES = {"chat": "Chat Completions", "messages": "Anthropic Messages", "responses": "Responses"}


def readme_table() -> str:
    """The README's "What gets lost" table, generated from :data:`KNOWN` (rows for the same field
    and treatment from several clients are merged)."""
    merged: dict[tuple[str, str, tuple[SchemaName, ...], str], list[str]] = {}
    for row in KNOWN:
        merged.setdefault((row.field, row.treatment, row.toward, row.why), []).append(_CLIENT_NAMES[row.client])
    lines = [
        "| Client | Field | Toward | Treatment | Why |",
        "|---|---|---|---|---|",
    ]
    hints = {(row.field, row.treatment, row.toward, row.why) for row in KNOWN if row.hint}
    for (field, treatment, toward, why), clients in merged.items():
        if (field, treatment, toward, why) in hints:
            treatment += " (hint: `strict` allows it)"
        where = "any upstream" if toward == SCHEMAS else ", ".join(_CLIENT_NAMES[name] for name in toward)
        lines.append(f"| {', '.join(clients)} | `{field}` | {where} | {treatment} | {why} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":  # pragma: no cover - `python -m asgi_translate._hub.losses` prints the table
    print(readme_table(), end="")
