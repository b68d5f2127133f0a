"""vLLM's OpenAI-compatible server, in the same process, answering Anthropic and Responses clients.

    python examples/vllm_inprocess.py Qwen/Qwen3-8B
        builds vLLM's own FastAPI app for the model, wraps it, serves http://127.0.0.1:8000

Without vLLM installed (CI, a laptop) the same code wraps :class:`FakeModel` instead: ``wrap`` takes
any ASGI app that speaks Chat Completions. vLLM's ``/tokenize`` gives Claude Code exact token
counts, and its ``/v1/models`` list is shown in each client's format.
"""

from __future__ import annotations

import inspect
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.types import ASGIApp

from asgi_translate import TranslateMiddleware
from asgi_translate.testing import FakeModel


def wrap(app: ASGIApp, model: str) -> TranslateMiddleware:
    """The whole integration: any chat server app in, every schema out."""
    return TranslateMiddleware(app, upstream="chat", model_map={"claude-*": model, "gpt-*": model})


@asynccontextmanager
async def chat_server(model: str) -> AsyncIterator[ASGIApp]:
    """vLLM's app with its engine running, or the fake model when vLLM is not installed."""
    try:
        from vllm.entrypoints.openai import api_server  # type: ignore[import-not-found]
    except ImportError:
        api_server = None
    if api_server is None:
        yield FakeModel(models=[model])
        return
    try:  # the parser helper moved between vLLM releases
        from vllm.utils.argparse_utils import FlexibleArgumentParser  # type: ignore[import-not-found]
    except ImportError:
        from vllm.utils import FlexibleArgumentParser  # type: ignore[import-not-found]
    from vllm.entrypoints.openai.cli_args import make_arg_parser  # type: ignore[import-not-found]

    args = make_arg_parser(FlexibleArgumentParser()).parse_args(["--model", model])
    async with api_server.build_async_engine_client(args) as engine:
        app = api_server.build_app(args)
        if len(inspect.signature(api_server.init_app_state).parameters) == 4:  # vLLM < 0.11 also takes the config
            await api_server.init_app_state(engine, await engine.get_vllm_config(), app.state, args)
        else:
            await api_server.init_app_state(engine, app.state, args)
        yield app


async def main(model: str) -> None:
    import uvicorn

    async with chat_server(model) as app:
        config = uvicorn.Config(wrap(app, model), host="127.0.0.1", port=int(os.environ.get("PORT", "8000")))
        await uvicorn.Server(config).serve()


if __name__ == "__main__":
    import asyncio

    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else "Qwen/Qwen3-8B"))
