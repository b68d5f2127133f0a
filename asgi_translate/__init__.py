"""asgi_translate: serve OpenAI Chat Completions, OpenAI Responses and Anthropic Messages from any
LLM server that speaks one of them, as ASGI middleware or as a standalone proxy."""

from ._hub.errors import (
    RequestTranslationError,
    StreamTranslationError,
    TranslateError,
    UnsupportedFeatureError,
    UpstreamError,
)
from ._hub.routes import Route, SchemaName
from ._middleware import TranslateMiddleware
from ._model_map import ModelMap
from ._state.memory import MemoryStore, ResponseStore, StoredResponse, StoreUnavailableError
from ._state.redis import RedisStore
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
