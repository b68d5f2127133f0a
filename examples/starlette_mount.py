"""The translating middleware mounted at /llm beside an app's other routes.

    uvicorn examples.starlette_mount:app

``/health`` is the app's own; ``/llm/v1/messages``, ``/llm/v1/responses``, ``/llm/v1/chat/completions``
and ``/llm/v1/models`` are the model's, in all three schemas (base URLs: ``http://host/llm`` for the
Anthropic SDK, ``http://host/llm/v1`` for the OpenAI SDK).
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route

from asgi_translate import TranslateMiddleware
from asgi_translate.testing import FakeModel


async def health(request: Request) -> JSONResponse:
    return JSONResponse({"ok": True})


llm = TranslateMiddleware(FakeModel(), upstream="chat")  # your chat server's ASGI app here

app = Starlette(routes=[Route("/health", health), Mount("/llm", app=llm)])
