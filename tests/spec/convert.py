"""The official OpenAPI 3.1 documents, converted into plain JSON Schema (draft 2020-12).

OpenAPI 3.1 schemas are almost JSON Schema, but the two specs in ``../shared/specs`` still use
OpenAPI's own dialect in places, and a validator that read them literally would be wrong both
ways. Each rule below is what the OpenAPI specification (and the SDK generators that read these
documents) mean by the construct:

- ``nullable: true`` (OpenAPI 3.0) admits ``null``: added to ``type`` and ``enum`` of a plain schema;
  a composite one (``$ref``, ``allOf``, ``anyOf``, ``oneOf``) becomes ``anyOf: [schema, null]``.
- ``discriminator`` chooses the branch by the value of its property: the union becomes an object
  whose property, when present, must hold one of the known values, each value validated against
  the branch(es) that admit it only (``if``/``then``), so an error names the broken rule of the
  right branch instead of every branch's. Values come from ``mapping``, else from the branch's own
  ``const``/``enum`` for that property (the OpenAI document has no mappings). Without the property
  any branch may match (OpenAI's ``EasyInputMessage`` has an optional ``type``); a union whose
  branches say nothing about the property stays a plain union.
- ``oneOf`` without a discriminator is a union (``anyOf``): both documents list overlapping branches
  (a free string beside an enum of strings, objects without ``additionalProperties: false``), which
  strict ``oneOf`` would reject for matching twice, and no generated SDK reads them that way.
- boolean ``exclusiveMinimum``/``exclusiveMaximum`` (3.0) become the numeric 2020-12 keywords.
- ``$recursiveRef: "#"`` (draft 2019-09, beside ``$recursiveAnchor`` at the top of a component)
  becomes a ``$ref`` to that component.
- Annotations (``description``, ``title``, ``example(s)``, ``x-*``) are dropped: the converted
  documents are a fraction of the size and load in milliseconds from the cache.

The conversion is cached as JSON keyed by the source file's hash and this file's hash, so the 3 MB
YAML is parsed once per machine, not once per test run.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def _find_specs() -> Path:
    """``shared/specs`` beside the checkout (CI) or beside one of its parents (a git worktree)."""
    for parent in ROOT.parents:
        if (parent / "shared" / "specs").is_dir():
            return parent / "shared" / "specs"
    return ROOT.parent / "shared" / "specs"


SPECS = _find_specs()
SOURCES = {"openai": "openai-openapi.yaml", "anthropic": "anthropic-openapi.json"}
CACHE = ROOT / ".pytest_cache" / "asgi_translate-specs"

# Keywords whose value is one schema, a list of schemas, or a name -> schema map.
_ONE = ("items", "not", "if", "then", "else", "contains", "propertyNames", "unevaluatedItems")
_ONE_OR_BOOL = ("additionalProperties", "unevaluatedProperties")
_LIST = ("allOf", "anyOf", "oneOf", "prefixItems")
_MAP = ("properties", "patternProperties", "$defs", "dependentSchemas")
_ANNOTATIONS = ("description", "title", "example", "examples", "externalDocs", "$recursiveAnchor")
_COMPOSITE = ("$ref", "allOf", "anyOf", "oneOf")


class Converter:
    """Converts one document's ``components/schemas``; ``doc`` is the raw OpenAPI document."""

    def __init__(self, doc: dict[str, Any]) -> None:
        self.raw: dict[str, Any] = doc["components"]["schemas"]
        self.component = ""
        #: Unions with a discriminator that could not be dispatched (kept as plain unions).
        self.undispatched: list[str] = []

    def document(self, uri: str) -> dict[str, Any]:
        schemas = {}
        for name, schema in self.raw.items():
            self.component = name
            schemas[name] = self.schema(schema)
        dialect = "https://json-schema.org/draft/2020-12/schema"
        return {"$schema": dialect, "$id": uri, "components": {"schemas": schemas}}

    def schema(self, node: Any) -> Any:
        if not isinstance(node, dict):
            return node  # true / false schemas
        out: dict[str, Any] = {}
        for key, value in node.items():
            if not (key.startswith("x-") or key in _ANNOTATIONS or key in ("nullable", "discriminator")):
                self._keyword(node, out, key, value)
        if "discriminator" in node and ("oneOf" in node or "anyOf" in node):
            out = self._dispatch(node, out)
        elif "oneOf" in out:
            out["anyOf"] = out.pop("oneOf")
        if node.get("nullable") is True:
            out = _nullable(out)
        return out

    def _keyword(self, node: dict[str, Any], out: dict[str, Any], key: str, value: Any) -> None:
        if key in _ONE or (key in _ONE_OR_BOOL and isinstance(value, dict)):
            out[key] = self.schema(value)
        elif key in _LIST:
            out[key] = [self.schema(v) for v in value]
        elif key in _MAP:
            out[key] = {name: self.schema(v) for name, v in value.items()}
        elif key == "$recursiveRef":
            assert value == "#", value
            out["$ref"] = f"#/components/schemas/{self.component}"
        elif key in ("exclusiveMinimum", "exclusiveMaximum") and isinstance(value, bool):
            bound = "minimum" if key == "exclusiveMinimum" else "maximum"
            if value:  # OpenAPI 3.0: the bound itself is excluded
                out[key] = node[bound]
        elif key in ("minimum", "maximum") and node.get("exclusiveM" + key[1:]) is True:
            pass  # became the exclusive bound above
        else:
            out[key] = value

    def _dispatch(self, node: dict[str, Any], out: dict[str, Any]) -> dict[str, Any]:
        """A discriminated union: the property's value picks the branches that may match."""
        union = "oneOf" if "oneOf" in node else "anyOf"
        prop: str = node["discriminator"]["propertyName"]
        mapping: dict[str, str] = node["discriminator"].get("mapping", {})
        members: list[Any] = out.pop(union)
        admitted: dict[Any, list[int]] = {}
        for index, raw in enumerate(node[union]):
            values = [v for v, target in mapping.items() if raw.get("$ref") == target] or self._values(raw, prop)
            if not values:
                self.undispatched.append(f"{self.component}: {json.dumps(raw)[:80]}")
                out["anyOf"] = members
                return out
            for value in values:
                admitted.setdefault(value, []).append(index)
        groups: dict[tuple[int, ...], list[Any]] = {}
        for value, indexes in admitted.items():
            groups.setdefault(tuple(indexes), []).append(value)
        cases: list[dict[str, Any]] = [
            {
                "if": {"required": [prop], "properties": {prop: {"enum": values}}},
                "then": members[indexes[0]] if len(indexes) == 1 else {"anyOf": [members[i] for i in indexes]},
            }
            for indexes, values in groups.items()
        ]
        # Absent, it decides nothing (OpenAI's EasyInputMessage has an optional ``type``): any branch.
        cases.append({"if": {"not": {"required": [prop]}}, "then": {"anyOf": members}})
        out.setdefault("type", "object")
        out["properties"] = {**out.get("properties", {}), prop: {"enum": list(admitted)}}
        out["allOf"] = [*out.get("allOf", ()), *cases]
        return out

    def _values(self, raw: dict[str, Any], prop: str, depth: int = 0) -> list[Any]:
        """The discriminator values a branch admits, read from its own definition (a nested union
        admits its members' values)."""
        if depth > 8:
            return []
        if "$recursiveRef" in raw:
            return self._values(self.raw[self.component], prop, depth + 1)
        if "$ref" in raw:
            return self._values(self.raw[raw["$ref"].rsplit("/", 1)[1]], prop, depth + 1)
        if found := _admits(raw.get("properties", {}).get(prop)):
            return found
        for part in raw.get("allOf", ()):
            if found := self._values(part, prop, depth + 1):
                return found
        members = raw.get("oneOf") or raw.get("anyOf") or ()
        found = [self._values(m, prop, depth + 1) for m in members]
        return [v for values in found for v in values] if found and all(found) else []


def _admits(schema: Any) -> list[Any]:
    """The values a discriminator property's own schema allows (``null`` included when it does)."""
    if not isinstance(schema, dict):
        return []
    nulls = [None] if schema.get("nullable") is True or schema.get("type") == "null" else []
    if "const" in schema:
        return [schema["const"], *nulls]
    if "enum" in schema:
        return [*schema["enum"], *nulls]
    members = schema.get("anyOf") or schema.get("oneOf") or ()
    found = [_admits(m) for m in members]
    return [v for values in found for v in values] if found and all(found) else nulls


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    if any(key in schema for key in _COMPOSITE):
        return {"anyOf": [schema, {"type": "null"}]}
    out = dict(schema)
    if "type" in out:
        types = out["type"] if isinstance(out["type"], list) else [out["type"]]
        out["type"] = [*types, "null"] if "null" not in types else types
    if "enum" in out and None not in out["enum"]:
        out["enum"] = [*out["enum"], None]
    if "const" in out:
        out = {"anyOf": [out, {"type": "null"}]}
    return out


def _load_source(path: Path) -> dict[str, Any]:
    if path.suffix == ".json":
        return json.loads(path.read_bytes())  # type: ignore[no-any-return]
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml: 1.5 s instead of 25 s
    return yaml.load(path.read_bytes(), Loader=loader)  # type: ignore[no-any-return]


def _digest(paths: Iterable[Path]) -> str:
    sha = hashlib.sha256()
    for path in paths:
        sha.update(path.read_bytes())
    return sha.hexdigest()[:16]


def uri(name: str) -> str:
    return f"urn:asgi-translate:spec:{name}"


def converted(name: str) -> dict[str, Any]:
    """The converted document ``name`` (``openai`` / ``anthropic``), from the cache when fresh."""
    source = SPECS / SOURCES[name]
    key = _digest([source, Path(__file__)])
    cached = CACHE / f"{name}-{key}.json"
    if cached.is_file():
        try:
            return json.loads(cached.read_bytes())  # type: ignore[no-any-return]
        except ValueError:
            pass  # a half-written cache from an interrupted run: convert again
    doc = Converter(_load_source(source)).document(uri(name))
    try:
        CACHE.mkdir(parents=True, exist_ok=True)
        tmp = cached.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(doc))
        tmp.replace(cached)
    except OSError:  # a read-only checkout still validates, only slower
        pass
    return doc
