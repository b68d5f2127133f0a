"""Non-streamed chat completions, in both directions (the error envelope, which the Responses
codec shares, is in ``schemas._openai_common``).

https://platform.openai.com/docs/api-reference/chat/object
"""

from __future__ import annotations

from typing import Any

from ..._hub.canonical import Part, Response, ToolCallPart
from ..._hub.context import Context
from ..._hub.errors import StreamTranslationError
from ._fields import finish_reason, stop_reason, usage_from_chat, usage_to_chat
from ._parse_request import parse_assistant
from ._render_request import assistant_message


def _first_choice(body: dict[str, Any]) -> dict[str, Any]:
    choices = body.get("choices")
    if not isinstance(choices, list) or not choices:
        raise StreamTranslationError("the upstream chat completion has no choices")
    for choice in choices:
        if isinstance(choice, dict) and choice.get("index", 0) == 0:
            return choice
    raise StreamTranslationError("the upstream chat completion has no choice with index 0")


def parse_response(body: dict[str, Any]) -> Response:
    """Chat completion JSON -> canonical response (choice 0 only: ``n`` > 1 is refused on the way in).

    As tolerant as the stream decoder: a tool call without ``id`` gets one minted when the
    response is rendered (see :func:`~asgi_translate._hub.canonical.fill_call_ids`), one without a
    name or arguments keeps them empty."""
    choice = _first_choice(body)
    message = choice.get("message")
    content: list[Part] = (
        parse_assistant(message, "choices[0].message", answer=True) if isinstance(message, dict) else []
    )
    usage = body.get("usage")
    created = body.get("created")
    upstream_id = body.get("id")
    model = body.get("model")
    return Response(
        id=upstream_id if isinstance(upstream_id, str) else "",
        model=model if isinstance(model, str) else "",
        content=content,
        stop_reason=stop_reason(choice.get("finish_reason"), tool_calls=any(type(p) is ToolCallPart for p in content)),
        usage=usage_from_chat(usage) if isinstance(usage, dict) else None,
        created=created if isinstance(created, int) and created > 0 else None,
    )


def render_response(resp: Response, ctx: Context) -> dict[str, Any]:
    """Canonical response -> chat completion JSON, shown under the client's model name."""
    body: dict[str, Any] = {
        "id": resp.id or ctx.new_id("chatcmpl-"),
        "object": "chat.completion",
        "created": resp.created or ctx.now(),
        "model": ctx.client_model,
        "choices": [
            {
                "index": 0,
                "message": assistant_message(resp.content, always_details=True, fields=ctx.reasoning_fields),
                "logprobs": None,
                "finish_reason": finish_reason(resp.stop_reason),
            }
        ],
    }
    if resp.usage is not None:
        body["usage"] = usage_to_chat(resp.usage)
    return body
