"""asgi_translate: serve OpenAI Chat Completions, OpenAI Responses and Anthropic Messages from any
LLM server that speaks one of them, as ASGI middleware or as a standalone proxy."""

from ._errors import (
    RequestTranslationError,
    StreamTranslationError,
    TranslateError,
    UnsupportedFeatureError,
    UpstreamError,
)
from ._middleware import TranslateMiddleware
from ._models import ModelMap
from ._redis_store import RedisStore
from ._routes import Route, SchemaName
from ._store import MemoryStore, ResponseStore, StoredResponse, StoreUnavailableError
from ._upstream import HTTPXUpstream

__version__ = "0.1.0"

__all__ = [
    "HTTPXUpstream",
    "MemoryStore",
    "ModelMap",
    "RedisStore",
    "RequestTranslationError",
    "ResponseStore",
    "Route",
    "SchemaName",
    "StoreUnavailableError",
    "StoredResponse",
    "StreamTranslationError",
    "TranslateError",
    "TranslateMiddleware",
    "UnsupportedFeatureError",
    "UpstreamError",
    "__version__",
]
