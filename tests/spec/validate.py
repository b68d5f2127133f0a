"""Validate what crosses the wire against the official specs, one schema per kind of message.

:class:`Spec` answers "which rules does this body break?" as a list of readable violations (empty
when it conforms). It knows, per schema name (``chat``, ``messages``, ``responses``), the request
schema an upstream accepts, the response, stream event and error schemas a client reads, and the
side endpoints' answers (model lists, token counts, stored responses). Validators are compiled once
per schema and kept; the converted documents come from :mod:`spec.convert`'s cache, with the
tolerated quirks of :mod:`spec.quirks` applied.
"""

from __future__ import annotations

import copy
import functools
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import jsonschema
from jsonschema.exceptions import ValidationError, best_match
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from . import convert, quirks

#: Which document holds each schema's definitions.
DOCUMENT = {"chat": "openai", "responses": "openai", "messages": "anthropic"}
#: What an upstream of each schema accepts as the request body.
REQUEST = {"chat": "CreateChatCompletionRequest", "responses": "CreateResponse", "messages": "CreateMessageParams"}
#: A client's JSON answer, by schema.
RESPONSE = {"chat": "CreateChatCompletionResponse", "responses": "Response", "messages": "Message"}
#: A client's error body, by schema.
ERROR = {"chat": "ErrorResponse", "responses": "ErrorResponse", "messages": "ErrorResponse"}
#: Side endpoints' answers, by document.
MODEL_LIST = {"openai": "ListModelsResponse", "anthropic": "ListResponse_ModelInfo_"}
MODEL = {"openai": "Model", "anthropic": "ModelInfo"}
TOKEN_COUNT = {"responses": "TokenCountsResource", "messages": "CountMessageTokensResponse"}
TOKEN_COUNT_REQUEST = {"responses": "TokenCountsBody", "messages": "CountMessageTokensParams"}
#: The stream event unions whose members are chosen by ``type``.
EVENT_UNION = {"responses": "ResponseStreamEvent", "messages": "MessageStreamEvent"}
MAX_ERRORS = 20


@dataclass(frozen=True)
class Event:
    """One server-sent event as a client reads it."""

    event: str | None
    data: str


def parse_sse(raw: bytes) -> Iterator[Event]:
    """A small SSE reader of our own, so the check does not trust the package's decoder."""
    text = raw.decode("utf-8").replace("\r\n", "\n")
    for block in text.split("\n\n"):
        name: str | None = None
        data: list[str] = []
        for line in block.split("\n"):
            if not line or line.startswith(":"):
                continue
            field, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if field == "event":
                name = value
            elif field == "data":
                data.append(value)
        if data:
            yield Event(name, "\n".join(data))


class Spec:
    """The compiled validators; build it once per process (:func:`spec`)."""

    def __init__(self, *, with_quirks: bool = True) -> None:
        self.documents: dict[str, dict[str, Any]] = {}
        registry: Registry[Any] = Registry()
        for name in convert.SOURCES:
            doc = convert.converted(name)
            if with_quirks:
                doc = quirks.apply(name, copy.deepcopy(doc))
            self.documents[name] = doc
            registry = registry.with_resource(convert.uri(name), Resource.from_contents(doc, DRAFT202012))
        self.registry = registry
        self.event_schemas = {schema: self._event_members(schema) for schema in EVENT_UNION}
        # A Messages stream's failure form is an ``error`` event carrying the error body.
        self.event_schemas["messages"]["error"] = "ErrorResponse"

    def _event_members(self, schema: str) -> dict[str, str]:
        """``type`` value -> member schema name, read from the union's members."""
        doc = self.documents[DOCUMENT[schema]]["components"]["schemas"]
        union = doc[EVENT_UNION[schema]]
        refs = [m["$ref"] for m in union.get("anyOf", ())] + [
            case["then"]["$ref"] for case in union.get("allOf", ()) if "$ref" in case.get("then", {})
        ]
        members: dict[str, str] = {}
        for ref in refs:
            name = ref.rsplit("/", 1)[1]
            kind = doc[name]["properties"]["type"]
            for value in kind.get("enum", [kind.get("const")]):
                members[value] = name
        return members

    @functools.cache  # noqa: B019 - one Spec per process, kept for its lifetime
    def validator(self, document: str, name: str, closed: bool = False) -> jsonschema.Draft202012Validator:
        """``closed`` also refuses top-level properties the schema does not define."""
        assert name in self.documents[document]["components"]["schemas"], name
        schema: dict[str, Any] = {"$ref": f"{convert.uri(document)}#/components/schemas/{name}"}
        if closed:
            schema["unevaluatedProperties"] = False
        return jsonschema.Draft202012Validator(schema, registry=self.registry)

    def check(self, document: str, name: str, instance: Any, *, closed: bool = False) -> list[str]:
        """Every broken rule, the most specific error of each, ``name`` and the JSON path first."""
        found = []
        for error in self.validator(document, name, closed).iter_errors(instance):
            found.append(_describe(name, best_match([error]) or error))
            if len(found) == MAX_ERRORS:
                break
        return found

    # -- per kind of message -------------------------------------------------------------------

    def request(self, upstream: str, body: Any) -> list[str]:
        return self.check(DOCUMENT[upstream], REQUEST[upstream], body, closed=True)

    def response(self, client: str, body: Any) -> list[str]:
        return self.check(DOCUMENT[client], RESPONSE[client], body)

    def error(self, client: str, body: Any) -> list[str]:
        return self.check(DOCUMENT[client], ERROR[client], body)

    def event(self, client: str, event: Event) -> list[str]:
        try:
            data = json.loads(event.data)
        except ValueError:
            return [f"event {event.event!r}: data is not JSON: {event.data[:80]!r}"]
        if client == "chat":  # no event names; a failure chunk carries the error body
            if event.event is not None:
                return [f"chat stream: unexpected event line {event.event!r}"]
            if isinstance(data, dict) and "error" in data:
                return self.error("chat", data)
            return self.check("openai", "CreateChatCompletionStreamResponse", data)
        kind = data.get("type") if isinstance(data, dict) else None
        if event.event != kind:
            return [f"{client} stream: event line {event.event!r} differs from data type {kind!r}"]
        member = self.event_schemas[client].get(kind)  # type: ignore[arg-type]
        if member is None:
            return [f"{client} stream: event type {kind!r} is not in the spec"]
        return self.check(DOCUMENT[client], member, data)

    def stream(self, client: str, raw: bytes) -> list[str]:
        found: list[str] = []
        for number, event in enumerate(parse_sse(raw)):
            if client == "chat" and event.data == "[DONE]":
                continue
            found += [f"frame #{number}: {v}" for v in self.event(client, event)]
            if len(found) >= MAX_ERRORS:
                break
        return found

    def answer(self, client: str, status: int, content_type: str, body: bytes) -> list[str]:
        """A translated exchange's answer as the client received it."""
        if content_type.startswith("text/event-stream"):
            return self.stream(client, body)
        try:
            payload = json.loads(body)
        except ValueError:
            return [f"{client} answer {status} is not JSON: {body[:80]!r}"]
        return self.response(client, payload) if 200 <= status < 300 else self.error(client, payload)


def _describe(name: str, error: ValidationError) -> str:
    path = "".join(f"[{p!r}]" if isinstance(p, str) else f"[{p}]" for p in error.absolute_path)
    return f"{name}{path}: {error.message[:300]}"


@functools.cache
def spec() -> Spec:
    return Spec()
