"""Hooks: adjust every request before it goes up, and observe every finished exchange.

    uvicorn examples.hooks:app

``on_request`` receives the canonical request (after model mapping) and may edit it in place,
return a new one, or refuse it by raising ``RequestTranslationError``. ``on_exchange`` receives an
``Exchange`` (route, schemas, request, status, usage, duration, losses) once the response is sent.
Both may be plain or ``async`` functions. A hook that fails: ``on_request`` -> a 500 naming it in
the client's envelope; ``on_exchange`` -> logged, the response stands.
"""

from __future__ import annotations

import logging

from asgi_translate import RequestTranslationError, TranslateMiddleware
from asgi_translate._endpoints.hooks import Exchange
from asgi_translate._hub.canonical import Request
from asgi_translate.testing import FakeModel

logger = logging.getLogger("example.hooks")
MAX_TOKENS = 2048
BLOCKED_TOOLS = {"delete_everything"}
#: What on_exchange saw, for the example's test (your metrics client goes here).
totals = {"requests": 0, "input_tokens": 0, "output_tokens": 0}


def house_rules(request: Request) -> None:
    """Inject a system prompt, clamp max tokens, drop a tool the server will not run."""
    request.system.insert(0, "Answer in English.")
    request.max_tokens = min(request.max_tokens or MAX_TOKENS, MAX_TOKENS)
    request.tools = [tool for tool in request.tools if tool.name not in BLOCKED_TOOLS]
    if request.model == "forbidden":
        raise RequestTranslationError("this model is not served here", param="model", status=403)


async def account(exchange: Exchange) -> None:
    totals["requests"] += 1
    if exchange.usage is not None:
        totals["input_tokens"] += exchange.usage.input_tokens
        totals["output_tokens"] += exchange.usage.output_tokens
    logger.info(
        "%s %s->%s status=%s %.3fs losses=%s",
        exchange.path,
        exchange.client,
        exchange.upstream,
        exchange.status,
        exchange.duration,
        exchange.losses,
    )


app = TranslateMiddleware(FakeModel(), upstream="chat", on_request=house_rules, on_exchange=account)
