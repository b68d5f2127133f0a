"""A proxy for Claude Code in front of an OpenAI-compatible chat server (vLLM, Ollama, llama.cpp...).

    UPSTREAM_URL=http://localhost:8000/v1 UPSTREAM_MODEL=Qwen/Qwen3-8B python examples/claude_code_proxy.py
    ANTHROPIC_BASE_URL=http://127.0.0.1:4000 ANTHROPIC_API_KEY=unused CLAUDE_CODE_MAX_OUTPUT_TOKENS=8192 claude

Every model name Claude Code asks for (``claude-sonnet-4-5``, ``claude-haiku-4-5``, ...) becomes
UPSTREAM_MODEL; Claude Code still sees its own names. ``count_tokens`` (which Claude Code uses to
decide when to compact) is exact on vLLM (``/tokenize``) and an estimate elsewhere. The same as
``asgi-translate --upstream-url $UPSTREAM_URL --port 4000 --model-map "claude-*=$UPSTREAM_MODEL"``.
Without UPSTREAM_URL the built-in fake model answers.
"""

from __future__ import annotations

import os

from asgi_translate import TranslateMiddleware
from asgi_translate.testing import FakeModel

PORT = 4000


def create_app() -> TranslateMiddleware:
    model_map = {"claude-*": os.environ.get("UPSTREAM_MODEL", "fake-model")}
    url = os.environ.get("UPSTREAM_URL")
    if not url:
        return TranslateMiddleware(FakeModel(), upstream="chat", model_map=model_map)
    return TranslateMiddleware(upstream="chat", upstream_url=url, model_map=model_map)


app = create_app()

if __name__ == "__main__":
    import uvicorn

    uvicorn.run(app, host="127.0.0.1", port=PORT)
