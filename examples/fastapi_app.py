"""Your own FastAPI model service, speaking every schema thanks to one line.

The service below implements only OpenAI Chat Completions (a toy "model" that shouts back);
``app.add_middleware(TranslateMiddleware, upstream="chat")`` makes it answer Anthropic Messages and
OpenAI Responses clients too, streamed or not. Run with ``uvicorn examples.fastapi_app:app``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

from fastapi import FastAPI
from fastapi.responses import StreamingResponse

from asgi_translate import TranslateMiddleware

app = FastAPI()
app.add_middleware(TranslateMiddleware, upstream="chat")  # the one line


@app.post("/v1/chat/completions", response_model=None)
async def chat_completions(body: dict[str, Any]) -> dict[str, Any] | StreamingResponse:
    text = str(body["messages"][-1]["content"]).upper()
    head = {"id": "chatcmpl-shout", "created": int(time.time()), "model": body["model"]}
    if not body.get("stream"):
        message = {"role": "assistant", "content": text}
        choice = {"index": 0, "message": message, "finish_reason": "stop"}
        return {**head, "object": "chat.completion", "choices": [choice]}

    def events() -> Iterator[str]:
        for delta, finish in [({"role": "assistant", "content": text}, None), ({}, "stop")]:
            chunk = {**head, "object": "chat.completion.chunk"}
            chunk["choices"] = [{"index": 0, "delta": delta, "finish_reason": finish}]
            yield f"data: {json.dumps(chunk)}\n\n"
        yield "data: [DONE]\n\n"

    return StreamingResponse(events(), media_type="text/event-stream")
