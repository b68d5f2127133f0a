"""A proxy for Codex CLI (``wire_api = "responses"``, see codex_config.toml) on a chat-only server.

    UPSTREAM_URL=http://localhost:8000/v1 UPSTREAM_MODEL=Qwen/Qwen3-Coder python examples/codex_proxy.py
    codex   # with examples/codex_config.toml as ~/.codex/config.toml

Codex sends its whole history each turn (``store: false``) with function, freeform, ``namespace``
and ``tool_search`` tools (some in an ``additional_tools`` input item), the hosted ``web_search``,
reasoning effort and ``include: ["reasoning.encrypted_content"]``; the chat server sees plain chat
requests with function tools (README: "Every Responses tool and input item type").
The same as ``asgi-translate --upstream-url $UPSTREAM_URL --port 4001 --model-map "*=$UPSTREAM_MODEL"``.
Without UPSTREAM_URL the built-in fake model answers.
"""

from __future__ import annotations

import os

from asgi_translate import TranslateMiddleware
from asgi_translate.testing import FakeModel

PORT = 4001


def create_app() -> TranslateMiddleware:
    model_map = {"*": os.environ.get("UPSTREAM_MODEL", "fake-model")}
    url = os.environ.get("UPSTREAM_URL")
    if not url:
        return TranslateMiddleware(FakeModel(), upstream="chat", model_map=model_map)
    return TranslateMiddleware(upstream="chat", upstream_url=url, model_map=model_map)


app = create_app()

if __name__ == "__main__":
    import uvicorn

    uvicorn.run(app, host="127.0.0.1", port=PORT)
