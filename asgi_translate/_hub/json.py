"""JSON for the hot path: orjson when installed (the ``fast`` extra), the stdlib otherwise.

Output is compact either way (no spaces after separators, non-ASCII kept as UTF-8), so the two
produce the same bytes for the same value and tests pass with or without orjson.
``ASGI_TRANSLATE_JSON=json`` in the environment forces the stdlib even when orjson is installed
(read once, at import), so the benchmark can measure both backends on one machine.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Callable
from typing import Any

try:  # pragma: no cover - depends on the environment
    if os.environ.get("ASGI_TRANSLATE_JSON") == "json":
        raise ImportError("stdlib json forced by ASGI_TRANSLATE_JSON=json")
    import orjson
except ImportError:  # pragma: no cover
    orjson = None  # type: ignore[assignment]

_encoder = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)

if orjson is not None:
    _orjson_dumps = orjson.dumps
    # orjson's own functions, not wrappers: called for every frame, a Python call each is not free.
    loads: Callable[[str | bytes], Any] = orjson.loads
    dumpb: Callable[[Any], bytes] = orjson.dumps
    #: A stream frame's data as the raw bytes it came in: orjson reads UTF-8 bytes directly and
    #: refuses invalid ones (the decoders' bytes lanes, see ``StreamDecoder.decode_data``).
    loads_bytes: Callable[[bytes], Any] = orjson.loads

    def dumps(value: Any) -> str:
        return _orjson_dumps(value).decode()

    BACKEND = "orjson"
else:  # pragma: no cover

    def loads(data: str | bytes) -> Any:
        return json.loads(data)

    def loads_bytes(data: bytes) -> Any:
        """The stdlib guesses an encoding for bytes (UTF-16 on NUL bytes, a BOM skipped) where
        text would be refused, so a frame's bytes are decoded first, as a decoder's ``decode``
        sees them (invalid UTF-8 replaced)."""
        return json.loads(data.decode("utf-8", "replace"))

    def dumps(value: Any) -> str:
        return _encoder.encode(value)

    def dumpb(value: Any) -> bytes:
        return _encoder.encode(value).encode()

    BACKEND = "json"


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _finite(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise ValueError(f"number {text[:40]} is out of range")
    return value


# The stdlib parser accepts what orjson refuses and what no JSON writer can write back: NaN and
# Infinity, numbers beyond a double (1e999), and "\ud800" escapes that leave half a surrogate
# pair. Whole bodies are parsed with these refused, so both backends answer such a body with
# the same 400; stream frames keep the plain (faster) parser.
_strict_decoder = json.JSONDecoder(parse_constant=_no_constant, parse_float=_finite)
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def _strict_stdlib_loads(data: str | bytes) -> Any:
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    value = _strict_decoder.decode(raw.decode("utf-8") if isinstance(data, bytes) else data)
    if _SURROGATE_ESCAPE.search(raw):  # escaped surrogates: well paired, or a lone half?
        try:
            _encoder.encode(value).encode()
        except UnicodeEncodeError:
            raise ValueError("a string holds an unpaired UTF-16 surrogate (\\ud800-\\udfff)") from None
    return value


def loads_object(data: str | bytes) -> dict[str, Any]:
    """Parse a request or response body that must be a JSON object.

    Raises ``ValueError`` for anything else, including nesting deep enough to exhaust the
    stdlib parser's recursion (orjson stops at depth 1024 by itself), and, on either backend,
    non-finite numbers and unpaired surrogates.
    """
    try:
        value = loads(data) if orjson is not None else _strict_stdlib_loads(data)
    except RecursionError:
        raise ValueError("JSON is nested too deeply") from None
    if not isinstance(value, dict):
        raise ValueError(f"expected a JSON object, got {type(value).__name__}")
    return value
