"""The request schemas the official specs give for every route we serve, cut out of
``../shared/specs`` into one small OpenAPI document per vendor (``tests/fixtures/spec_requests.json``),
so the spec fuzz needs neither the 4 MB of specs nor a YAML parse per run.

``python tests/spec_schemas.py`` writes the file again from the specs (after the specs change).
Descriptions, examples and vendor extensions are dropped; every schema a request body reaches,
directly or through ``$ref``, is kept as the spec says it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
# shared/specs beside the checkout (as CI lays it out), or one level further up from a git worktree.
SPECS = next((p / "shared" / "specs" for p in HERE.parents[1:3] if (p / "shared" / "specs").is_dir()), Path("specs"))
FIXTURE = HERE / "fixtures" / "spec_requests.json"

#: path -> (vendor, the request body's schema in that vendor's spec)
ROUTES = {
    "/v1/chat/completions": ("openai", "CreateChatCompletionRequest"),
    "/v1/responses": ("openai", "CreateResponse"),
    "/v1/responses/input_tokens": ("openai", "TokenCountsBody"),
    "/v1/messages": ("anthropic", "CreateMessageParams"),
    "/v1/messages/count_tokens": ("anthropic", "CountMessageTokensParams"),
}
_NOISE = frozenset({"description", "title", "example", "examples"})


def _refs(node: Any, found: set[str]) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                found.add(value.rsplit("/", 1)[-1])
            else:
                _refs(value, found)
    elif isinstance(node, list):
        for value in node:
            _refs(value, found)


def _strip(node: Any) -> Any:
    """The schema without its prose; property names are data, never dropped."""
    if isinstance(node, list):
        return [_strip(value) for value in node]
    if not isinstance(node, dict):
        return node
    out = {}
    for key, value in node.items():
        if key == "properties" and isinstance(value, dict):
            out[key] = {name: _strip(schema) for name, schema in value.items()}
        elif key not in _NOISE and not key.startswith("x-"):
            out[key] = _strip(value)
    return out


def build(specs: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """One OpenAPI 3.1 document per vendor holding just our routes and what they reference."""
    docs: dict[str, dict[str, Any]] = {}
    for path, (vendor, name) in ROUTES.items():
        components = specs[vendor]["components"]["schemas"]
        doc = docs.setdefault(
            vendor,
            {"openapi": "3.1.0", "info": {"title": vendor, "version": "1"}, "paths": {}, "components": {"schemas": {}}},
        )
        seen: set[str] = set()
        todo = {name}
        while todo:
            current = todo.pop()
            seen.add(current)
            found: set[str] = set()
            _refs(components[current], found)
            todo |= found - seen
        for current in seen:
            doc["components"]["schemas"][current] = _strip(components[current])
        body = {"required": True, "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{name}"}}}}
        doc["paths"][path] = {"post": {"requestBody": body, "responses": {"200": {"description": "ok"}}}}
    return docs


def load() -> dict[str, dict[str, Any]]:
    docs: dict[str, dict[str, Any]] = json.loads(FIXTURE.read_text())
    return docs


if __name__ == "__main__":  # pragma: no cover - regenerates the fixture from the specs
    import yaml

    specs = {
        "openai": yaml.load((SPECS / "openai-openapi.yaml").read_text(), Loader=yaml.CSafeLoader),
        "anthropic": json.loads((SPECS / "anthropic-openapi.json").read_text()),
    }
    FIXTURE.write_text(json.dumps(build(specs), sort_keys=True, indent=None, separators=(",", ":")) + "\n")
    print(f"wrote {FIXTURE} ({FIXTURE.stat().st_size} bytes)")
