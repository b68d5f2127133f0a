"""The official specs as a permanent test: the converter and the quirks.

Two parts here (``test_directions.py`` replays the corpus through every direction):

- the converter (:mod:`spec.convert`) reads OpenAPI's dialect as OpenAPI means it: ``nullable``,
  ``discriminator`` (the right branch's error, not every branch's), overlapping ``oneOf``, 3.0-style
  exclusive bounds, ``$recursiveRef``; and the converted official documents accept what they should;
- every tolerated quirk (:mod:`spec.quirks`) is still broken by the real API's recordings, and only
  that rule is loosened;
The exchanges of the whole suite are checked by :mod:`spec.plugin`, which ``tests/conftest.py``
installs.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from . import convert, plugin, quirks
from .validate import Spec, parse_sse, spec

pytestmark = pytest.mark.skipif(not plugin.enabled(), reason=f"the official specs are not at {convert.SPECS}")

CORPUS = convert.SPECS.parent / "corpus"
PATHS = {"chat": "/v1/chat/completions", "messages": "/v1/messages", "responses": "/v1/responses"}


# -- the converter ------------------------------------------------------------------------------------


def compile_doc(schemas: dict[str, Any], name: str) -> Draft202012Validator:
    doc = convert.Converter({"components": {"schemas": schemas}}).document("urn:test")
    registry: Registry[Any] = Registry().with_resource("urn:test", Resource.from_contents(doc, DRAFT202012))
    return Draft202012Validator({"$ref": f"urn:test#/components/schemas/{name}"}, registry=registry)


def messages(validator: Draft202012Validator, instance: Any) -> list[str]:
    def leaves(error: ValidationError) -> Iterator[str]:
        if not error.context:
            yield error.message
        for child in error.context:
            yield from leaves(child)

    return [m for error in validator.iter_errors(instance) for m in leaves(error)]


CIRCLE = {
    "type": "object",
    "required": ["kind", "r"],
    "properties": {"kind": {"enum": ["circle"]}, "r": {"type": "number"}},
}
SQUARE = {
    "type": "object",
    "required": ["kind", "side"],
    "properties": {"kind": {"const": "square"}, "side": {"type": "number"}},
}
SHAPES = {"Circle": CIRCLE, "Square": SQUARE}


def test_nullable_admits_null_beside_the_type_and_enum() -> None:
    schemas = {
        "A": {"type": "integer", "nullable": True},
        "B": {"type": "string", "enum": ["x"], "nullable": True},
        "C": {"$ref": "#/components/schemas/A", "nullable": True},
        "D": {"allOf": [{"type": "object"}], "nullable": True},
    }
    for name in schemas:
        assert messages(compile_doc(schemas, name), None) == [], name
    assert messages(compile_doc(schemas, "A"), "1") == ["'1' is not of type 'integer', 'null'"]
    assert messages(compile_doc(schemas, "B"), "y") == ["'y' is not one of ['x', None]"]
    assert messages(compile_doc({"E": {"type": "integer"}}, "E"), None) == ["None is not of type 'integer'"]


def test_a_discriminator_reports_the_chosen_branch_only() -> None:
    union = {"oneOf": [{"$ref": "#/components/schemas/Circle"}, {"$ref": "#/components/schemas/Square"}]}
    schemas = {**SHAPES, "Shape": {**union, "discriminator": {"propertyName": "kind"}}}
    shape = compile_doc(schemas, "Shape")
    assert messages(shape, {"kind": "circle", "r": 1}) == []
    assert messages(shape, {"kind": "square", "side": 2}) == []
    # Only Square's rule, never Circle's "'r' is a required property".
    assert messages(shape, {"kind": "square", "r": 1}) == ["'side' is a required property"]
    assert messages(shape, {"kind": "hexagon"}) == ["'hexagon' is not one of ['circle', 'square']"]
    assert set(messages(shape, "circle")) == {"'circle' is not of type 'object'"}
    # An explicit mapping names values the branches do not spell out themselves.
    disc = {"propertyName": "kind", "mapping": {"round": "#/components/schemas/Round"}}
    round_ = {"type": "object", "required": ["r"], "properties": {"r": {"type": "number"}}}
    mapped = {"oneOf": [{"$ref": "#/components/schemas/Round"}, union["oneOf"][1]], "discriminator": disc}
    shapes = compile_doc({**SHAPES, "Round": round_, "Shape": mapped}, "Shape")
    assert messages(shapes, {"kind": "round", "r": 1}) == []
    assert messages(shapes, {"kind": "round"}) == ["'r' is a required property"]


def test_an_overlapping_one_of_is_a_union() -> None:
    """A free string beside an enum of strings: strict ``oneOf`` would refuse ``"gpt-5"`` for
    matching both, which no generated SDK does."""
    model = compile_doc({"M": {"oneOf": [{"type": "string"}, {"type": "string", "enum": ["gpt-5"]}]}}, "M")
    assert messages(model, "gpt-5") == []
    assert messages(model, 5) != []


def test_openapi_30_exclusive_bounds_and_recursive_refs() -> None:
    bound = compile_doc({"N": {"type": "number", "minimum": 0, "exclusiveMinimum": True}}, "N")
    assert messages(bound, 0) == ["0 is less than or equal to the minimum of 0"]
    assert messages(bound, 0.5) == []
    tree = {
        "Tree": {
            "$recursiveAnchor": True,
            "type": "object",
            "properties": {"kids": {"type": "array", "items": {"$recursiveRef": "#"}}, "v": {"type": "integer"}},
        }
    }
    assert messages(compile_doc(tree, "Tree"), {"kids": [{"kids": [{"v": "x"}]}]}) == ["'x' is not of type 'integer'"]


def test_the_official_documents_convert_with_every_discriminator_dispatched() -> None:
    import yaml  # noqa: F401 - the test extra must provide it

    for name in convert.SOURCES:
        doc = convert.converted(name)
        assert len(doc["components"]["schemas"]) > 700
        assert "nullable" not in json.dumps(doc)
        assert '"oneOf"' not in json.dumps(doc)


def test_the_converted_specs_read_requests_as_the_apis_do() -> None:
    s = spec()
    # nullable fields, an input message without the optional ``type``, a discriminated tool.
    assert (
        s.request(
            "chat", {"model": "m", "messages": [{"role": "user", "content": "hi"}], "max_completion_tokens": None}
        )
        == []
    )
    assert s.request("responses", {"model": "m", "input": [{"role": "user", "content": "hi"}]}) == []
    tool = {"type": "function", "name": "f", "parameters": {"type": "object"}, "strict": False}
    assert s.request("responses", {"model": "m", "input": "hi", "tools": [tool]}) == []
    assert s.request("messages", {"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}) == []
    # No parameter the schema lacks, at the top level.
    extra = s.request("chat", {"model": "m", "messages": [{"role": "user", "content": "hi"}], "top_k": 3})
    assert extra == ["CreateChatCompletionRequest: Unevaluated properties are not allowed ('top_k' was unexpected)"]
    # A discriminated content block reports its own branch's rule.
    image = {"role": "user", "content": [{"type": "image", "source": {"type": "base64", "media_type": "image/png"}}]}
    broken = s.request("messages", {"model": "m", "max_tokens": 5, "messages": [image]})
    assert broken == ["CreateMessageParams['messages'][0]['content'][0]['source']: 'data' is a required property"]


def test_stream_events_are_chosen_by_type_and_named_by_it() -> None:
    s = spec()
    ping = b'event: ping\ndata: {"type": "ping"}\n\n'
    assert s.stream("messages", ping) == []
    assert s.stream("messages", b'event: pong\ndata: {"type": "ping"}\n\n') == [
        "frame #0: messages stream: event line 'pong' differs from data type 'ping'"
    ]
    assert s.stream("messages", b'event: nope\ndata: {"type": "nope"}\n\n') == [
        "frame #0: messages stream: event type 'nope' is not in the spec"
    ]
    delta = {"type": "response.output_text.delta", "item_id": "m", "output_index": 0, "content_index": 0, "delta": "x"}
    raw = f"event: response.output_text.delta\ndata: {json.dumps(delta)}\n\n".encode()
    assert s.stream("responses", raw) == [
        "frame #0: ResponseTextDeltaEvent: 'sequence_number' is a required property",
        "frame #0: ResponseTextDeltaEvent: 'logprobs' is a required property",
    ]


# -- the quirks -----------------------------------------------------------------------------------------


def _instances(path: Path) -> Iterator[tuple[str, Any]]:
    """(schema name, instance) for each message in a recording of ``path.parent.name``'s schema."""
    schema = path.parent.name
    raw = spec()
    if path.suffix == ".sse":
        for event in parse_sse(path.read_bytes()):
            if event.data == "[DONE]":
                continue
            data = json.loads(event.data)
            if schema == "chat":
                yield "CreateChatCompletionStreamResponse", data
            else:
                yield raw.event_schemas[schema][data["type"]], data
    elif "error" in path.name:
        yield "ErrorResponse", json.loads(path.read_bytes())
    else:
        yield (
            {"chat": "CreateChatCompletionResponse", "responses": "Response", "messages": "Message"}[schema],
            json.loads(path.read_bytes()),
        )


def _leaves(error: ValidationError) -> Iterator[ValidationError]:
    if not error.context:
        yield error
    for child in error.context:
        yield from _leaves(child)


def _broken(s: Spec, quirk: quirks.Quirk, path: Path) -> list[str]:
    """The errors in recording ``path`` that are exactly this quirk's rule."""
    target = quirks.target(s.documents[quirk.document], quirk.where)
    found = []
    for name, instance in _instances(path):
        for error in s.validator(quirk.document, name).iter_errors(instance):
            for leaf in _leaves(error):
                if leaf.validator == "required" and leaf.schema is target:
                    found += [n for n in quirk.not_required if leaf.message == f"{n!r} is a required property"]
                where = list(leaf.absolute_path)
                if where and where[-1] in quirk.nullable and leaf.instance is None:
                    found.append(str(where[-1]))
                if quirk.also is not None and where and (where[-1], leaf.instance) == quirk.also:
                    found.append(quirk.also[0])
    return found


@pytest.mark.parametrize("quirk", quirks.QUIRKS, ids=lambda q: f"{q.where}")
def test_each_quirk_is_broken_by_the_real_api_and_only_it_is_loosened(quirk: quirks.Quirk) -> None:
    assert quirk.why
    assert quirk.evidence or quirk.documented.startswith("https://")
    strict, tolerant = Spec(with_quirks=False), spec()
    for name in quirk.evidence:
        recording = CORPUS / name
        broken = _broken(strict, quirk, recording)
        assert broken, f"{name} no longer breaks {quirk.where}: drop the quirk"
        assert set(broken) <= {*quirk.not_required, *quirk.nullable, *(quirk.also or ())[:1]}
        assert _broken(tolerant, quirk, recording) == []
    if not quirk.evidence:  # documented only: the documented value, refused by the spec, admitted with the quirk
        assert quirk.also is not None and quirk.where == "ErrorResponse/properties/error"
        body = {"type": "error", "error": {"type": quirk.also[1], "message": "m"}, "request_id": None}
        assert strict.check(quirk.document, "ErrorResponse", body) != []
        assert tolerant.check(quirk.document, "ErrorResponse", body) == []


def test_quirks_leave_every_other_rule_in_place() -> None:
    s = spec()
    message: dict[str, Any] = {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "content": [{"type": "text", "text": "hi"}],
        "model": "m",
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {
            "input_tokens": 1,
            "output_tokens": 1,
            "cache_creation_input_tokens": None,
            "cache_read_input_tokens": None,
        },
    }
    assert s.response("messages", message) == ["Message['usage']: 'service_tier' is a required property"]
    assert s.response("messages", {**message, "usage": {**message["usage"], "service_tier": None}}) == []
