"""Spec rules the real APIs themselves break, tolerated here, each with its evidence. One place.

A quirk loosens exactly one rule of the converted spec: a property that the spec requires but the
real API leaves out (``not_required``), a property the real API sends as ``null`` where the spec
says it never is (``nullable``), or a value the real API uses outside the spec's enum (``also``).
Every quirk names recordings in ``../shared/corpus`` made against the real API that break the rule
(or, where no recording exists, the API's own documentation of the behaviour);
``test_spec_conformance`` checks that each recording still breaks it against the unpatched spec and
no longer does with the quirk, so a quirk without evidence cannot stay here. Everything else a test
exchange breaks fails that test (see :mod:`spec.plugin`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Quirk:
    #: ``openai`` or ``anthropic``.
    document: str
    #: The schema holding the rule: a component name, then a path inside it (``A/properties/b``).
    where: str
    #: Properties the spec requires that the real API omits.
    not_required: tuple[str, ...] = ()
    #: Properties the real API sends as ``null`` although the spec types them otherwise.
    nullable: tuple[str, ...] = ()
    #: A value the real API sends for a property outside the spec's enum: (property, value).
    also: tuple[str, str] | None = None
    #: Recordings of the real API breaking the rule (paths under ``../shared/corpus``).
    evidence: tuple[str, ...] = ()
    #: Where there is no recording: the API's own documentation of the value.
    documented: str = ""
    why: str = ""


QUIRKS: tuple[Quirk, ...] = (
    # -- Anthropic Messages ----------------------------------------------------------------------
    Quirk(
        "anthropic",
        "Message",
        not_required=("container", "stop_details"),
        evidence=("messages/text-nonstream.json", "messages/text-stream.sse"),
        why="Messages outside code execution carry no container, and answers before 2026 no stop_details",
    ),
    Quirk(
        "anthropic",
        "MessageDelta",
        not_required=("container", "stop_details"),
        evidence=("messages/tool-use-args-stream.sse",),
        why="message_delta.delta carries only stop_reason and stop_sequence in most recordings",
    ),
    Quirk(
        "anthropic",
        "Usage",
        not_required=("server_tool_use", "inference_geo", "cache_creation"),
        evidence=(
            "messages/text-nonstream.json",
            "messages/image-url-input-nonstream.json",
            "messages/max-tokens-truncated-tool-use-stream.sse",
        ),
        why="usage without server tools has no server_tool_use; older answers lack inference_geo, cache_creation",
    ),
    Quirk(
        "anthropic",
        "MessageDeltaUsage",
        not_required=("server_tool_use", "input_tokens", "cache_read_input_tokens", "cache_creation_input_tokens"),
        evidence=(
            "messages/tool-use-stream.sse",
            "messages/tool-use-text-first-stream.sse",
            "messages/max-tokens-truncated-tool-use-stream.sse",
        ),
        why="message_delta usage has no server_tool_use without server tools, and only output_tokens before late 2025",
    ),
    Quirk(
        "anthropic",
        "ErrorResponse/properties/error",
        also=("type", "request_too_large"),
        documented="https://docs.claude.com/en/api/errors",
        why="413 request_too_large is in Anthropic's error documentation (sent by its front proxy) but not in the spec",
    ),
    Quirk(
        "anthropic",
        "ErrorResponse",
        not_required=("request_id",),
        evidence=("messages/overloaded-error-event-fragment.sse",),
        why="the mid-stream error event carries type and error only (quoted from a real stream in an SDK issue)",
    ),
    Quirk(
        "anthropic",
        "ResponseTextBlock",
        not_required=("citations",),
        evidence=("messages/text-nonstream.json", "messages/text-stream.sse"),
        why="text blocks without citations omit the field instead of sending null",
    ),
    Quirk(
        "anthropic",
        "ResponseToolUseBlock",
        not_required=("caller",),
        evidence=("messages/parallel-tool-use-nonstream.json", "messages/text-tool-use-nonstream.json"),
        why="tool_use blocks called by the model itself have no caller",
    ),
    # -- OpenAI Responses ------------------------------------------------------------------------
    Quirk(
        "openai",
        "ModelResponseProperties",
        nullable=("user",),
        evidence=("responses/text-nonstream.json", "responses/text-stream.sse"),
        why="the Response object echoes an unset user as null (the schema is shared with the request)",
    ),
    Quirk(
        "openai",
        "Response/allOf/2",
        nullable=("usage",),
        evidence=("responses/text-stream.sse",),
        why="response.created and response.in_progress carry usage: null until the end",
    ),
    Quirk(
        "openai",
        "ResponseUsage/properties/input_tokens_details",
        not_required=("cache_write_tokens",),
        evidence=("responses/text-nonstream.json",),
        why="input_tokens_details has only cached_tokens in every recording",
    ),
    Quirk(
        "openai",
        "OutputTextContent",
        not_required=("logprobs",),
        evidence=("responses/image-input-nonstream.json",),
        why="output_text parts without requested logprobs may omit the field",
    ),
    Quirk(
        "openai",
        "ResponseFunctionCallArgumentsDoneEvent",
        not_required=("name",),
        evidence=("responses/function-call-stream.sse", "responses/function-call-reasoning-usage-stream.sse"),
        why="response.function_call_arguments.done carries item_id and arguments, not the name",
    ),
    Quirk(
        "openai",
        "ResponseError/anyOf/0",
        also=("code", "insufficient_quota"),
        evidence=("responses/failed-error-event-stream.sse",),
        why="response.failed carries API error codes outside ResponseErrorCode, such as insufficient_quota",
    ),
    # -- OpenAI Chat Completions -----------------------------------------------------------------
    Quirk(
        "openai",
        "CreateChatCompletionResponse/properties/choices/items",
        not_required=("logprobs",),
        evidence=("chat/openai-text-nonstream.json",),
        why="choices without requested logprobs may omit the field",
    ),
)


def target(doc: dict[str, Any], where: str) -> dict[str, Any]:
    node: Any = doc["components"]["schemas"]
    for step in where.split("/"):
        node = node[int(step)] if isinstance(node, list) else node[step]
    assert isinstance(node, dict), where
    return node


def apply(document: str, doc: dict[str, Any]) -> dict[str, Any]:
    """``doc`` (a converted document, changed in place) with its quirks applied."""
    for quirk in QUIRKS:
        if quirk.document != document:
            continue
        schema = target(doc, quirk.where)
        names = (*quirk.not_required, *quirk.nullable, *(quirk.also or ())[:1])
        missing = [name for name in names if name not in schema.get("properties", {})]
        assert not missing, f"{quirk.where} has no properties {missing}: the spec changed, revisit the quirk"
        schema["required"] = [r for r in schema.get("required", ()) if r not in quirk.not_required]
        for name in quirk.nullable:
            schema["properties"][name] = {"anyOf": [schema["properties"][name], {"type": "null"}]}
        if quirk.also is not None:
            name, value = quirk.also
            schema["properties"][name] = {"anyOf": [schema["properties"][name], {"const": value}]}
    return doc


# -- Anthropic betas -------------------------------------------------------------------------------
# The spec describes the API without betas. A request that names a beta in ``anthropic-beta`` may
# use what that beta adds; those additions are taken out before the rest is checked.


def _without_system_messages(body: dict[str, Any]) -> dict[str, Any]:
    messages = body.get("messages")
    if not isinstance(messages, list):
        return body
    kept = [m for m in messages if not (isinstance(m, dict) and m.get("role") == "system")]
    return {**body, "messages": kept}


BETA_ADDITIONS = {
    # ``role: "system"`` inside ``messages`` (Claude Code sends it with this beta).
    "mid-conversation-system-2026-04-07": _without_system_messages,
}


def without_betas(body: Any, betas: set[str]) -> Any:
    for beta in betas:
        if beta in BETA_ADDITIONS and isinstance(body, dict):
            body = BETA_ADDITIONS[beta](body)
    return body
