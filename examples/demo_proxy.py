"""A translating proxy in a dozen lines: what ``asgi-translate`` runs, as Python you can edit.

    python examples/demo_proxy.py
        the built-in demo model, answering all three schemas on http://127.0.0.1:8000

    UPSTREAM_URL=http://localhost:8001/v1 UPSTREAM_SCHEMA=chat python examples/demo_proxy.py
        Claude Code, Codex and OpenAI SDK clients on a vLLM (or Ollama, llama.cpp...) server

Then ``curl localhost:8000/v1/messages -H 'content-type: application/json' -d '{"model": "demo",
"max_tokens": 100, "messages": [{"role": "user", "content": "Hello"}]}'``.
"""

from __future__ import annotations

import os

from asgi_translate import TranslateMiddleware
from asgi_translate.testing import FakeModel


def create_app() -> TranslateMiddleware:
    url = os.environ.get("UPSTREAM_URL")
    if not url:
        # FakeModel speaks Chat Completions; the middleware adds Messages and Responses.
        return TranslateMiddleware(FakeModel(), upstream="chat")
    return TranslateMiddleware(
        upstream=os.environ.get("UPSTREAM_SCHEMA", "chat"),  # type: ignore[arg-type]
        upstream_url=url,  # everything the upstream speaks natively is proxied unchanged
        upstream_api_key=os.environ.get("UPSTREAM_API_KEY"),  # replaces the clients' keys when set
        model_map={"claude-*": os.environ.get("UPSTREAM_MODEL", "default")},  # clients still see their names
    )


app = create_app()

if __name__ == "__main__":
    import uvicorn

    uvicorn.run(app, host="127.0.0.1", port=int(os.environ.get("PORT", "8000")))
