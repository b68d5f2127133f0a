"""Hypothesis throws request bodies of each client schema at every route: well-shaped ones, and
ones with random JSON in any field position. The only allowed outcomes:

- a translated upstream request, which the upstream schema's own ``parse_request`` accepts, and
  then (the inner app answering a tiny valid response) a 200 the client's validators accept;
- a 4xx in the client's envelope, with the upstream never called.

No exception escapes the middleware and nothing answers 500.
"""

from __future__ import annotations

import json
from typing import Any

import anyio
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.types import Receive, Scope, Send
from test_corpus_replay import http_scope
from test_errors import assert_envelope
from test_middleware import Client, make
from validators.chat import validate_chat_json, validate_chat_stream
from validators.messages import validate_messages_json, validate_messages_stream
from validators.responses import validate_responses_stream

from asgi_translate._hub.errors import TranslateError
from asgi_translate._hub.routes import DEFAULT_PATHS, SCHEMAS
from asgi_translate._hub.sse import format_event
from asgi_translate.schemas import get_codec

ROUTES = [pytest.param(c, u, id=f"{c}-over-{u}") for c in SCHEMAS for u in SCHEMAS if c != u]

FUZZ = settings(
    max_examples=100,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)

# -- strategies -------------------------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63) | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


def _objects(noisy: bool) -> Any:
    """``obj(required, optional)``: an object of plausible field values; when ``noisy``, any field
    may hold random JSON instead and unknown keys may appear."""

    def maybe(plausible: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
        return st.one_of(plausible, plausible, plausible, json_values) if noisy else plausible

    def obj(required: dict[str, Any], optional: dict[str, Any] | None = None) -> st.SearchStrategy[dict[str, Any]]:
        fields = st.fixed_dictionaries(
            {k: maybe(v) for k, v in required.items()},
            optional={k: maybe(v) for k, v in (optional or {}).items()},
        )
        if not noisy:
            return fields
        extra = st.dictionaries(st.text(max_size=6), json_values, max_size=2)
        return st.builds(lambda a, b: {**b, **a}, fields, extra) | fields

    return obj


short_text = st.text(max_size=12)
names = st.sampled_from(["get_weather", "f", "lookup", ""]) | short_text
tokens = st.integers(-5, 200_000)
# Sampling values: inside every schema's range (0-1) half the time, else anywhere from -1 to 3 (a 400
# where the client's own API would refuse it), so that enough bodies are still forwarded.
floats = st.floats(0, 1, allow_nan=False) | st.floats(-1, 3, allow_nan=False)
schemas = st.just({"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}) | json_values
data_url = st.sampled_from(["data:image/png;base64,iVBORw0KGgo=", "https://example.com/a.png", "data:,x", ""])
call_ids = st.sampled_from(["call_1", "toolu_1", "", "call_2"])


def body_strategies(noisy: bool) -> dict[str, st.SearchStrategy[dict[str, Any]]]:
    """One request strategy per client schema."""
    obj = _objects(noisy)

    # Chat Completions
    chat_part = obj(
        {"type": st.sampled_from(["text", "image_url", "file", "input_audio", "refusal", "holo"])},
        {
            "text": short_text,
            "image_url": obj({"url": data_url}, {"detail": st.sampled_from(["auto", "low", "high"])}),
            "file": obj({}, {"file_data": data_url, "file_id": short_text, "filename": short_text}),
        },
    )
    chat_tool_call = obj(
        {"id": call_ids, "type": st.just("function"), "function": obj({"name": names, "arguments": short_text})}
    )
    chat_message = obj(
        {
            "role": st.sampled_from(
                ["system", "developer", "user", "user", "user", "assistant", "tool", "function", "wizard"]
            ),
            "content": st.none() | short_text | st.lists(chat_part, max_size=3),
        },
        {
            "tool_calls": st.lists(chat_tool_call, max_size=2),
            "tool_call_id": call_ids,
            "name": names,
            "reasoning_content": short_text,
            "refusal": short_text,
        },
    )
    chat_tool = obj(
        {"type": st.sampled_from(["function", "custom"]), "function": obj({"name": names}, {"parameters": schemas})}
    )
    chat_body = obj(
        {"model": short_text, "messages": st.lists(chat_message, min_size=1, max_size=4)},
        {
            "stream": st.booleans(),
            "stream_options": obj({}, {"include_usage": st.booleans()}),
            "max_tokens": tokens,
            "max_completion_tokens": tokens,
            "temperature": floats,
            "top_p": floats,
            "stop": st.lists(short_text, max_size=3) | short_text,
            "n": st.sampled_from([1, 1, 1, 1, 0, 2]),
            "tools": st.lists(chat_tool, max_size=2),
            "tool_choice": st.sampled_from(["auto", "none", "required"])
            | obj({"type": st.just("function"), "function": obj({"name": names})}),
            "parallel_tool_calls": st.booleans(),
            "response_format": obj(
                {"type": st.sampled_from(["text", "json_object", "json_schema"])}, {"json_schema": json_values}
            ),
            "reasoning_effort": st.sampled_from(["minimal", "low", "medium", "high", "none"]),
            "user": short_text,
            "metadata": st.dictionaries(short_text, short_text, max_size=2),
            "logprobs": st.booleans(),
            "seed": st.integers(),
        },
    )

    # Anthropic Messages
    source = obj(
        {"type": st.sampled_from(["base64", "url", "file", "text"])},
        {
            "media_type": st.sampled_from(["image/png", "application/pdf", "text/plain"]),
            "data": short_text,
            "url": data_url,
        },
    )
    messages_block = obj(
        {
            "type": st.sampled_from(
                ["text", "image", "document", "tool_use", "tool_result", "thinking", "redacted_thinking", "holo"]
            )
        },
        {
            "text": short_text,
            "source": source,
            "id": call_ids,
            "name": names,
            "input": json_values,
            "tool_use_id": call_ids,
            "content": short_text | st.lists(obj({"type": st.just("text"), "text": short_text}), max_size=2),
            "is_error": st.booleans(),
            "thinking": short_text,
            "signature": short_text,
            "data": short_text,
            "cache_control": obj({"type": st.just("ephemeral")}),
        },
    )
    messages_message = obj(
        {
            "role": st.sampled_from(["user", "assistant", "system", "wizard"]),
            "content": short_text | st.lists(messages_block, max_size=3),
        }
    )
    messages_tool = obj(
        {"name": names, "input_schema": schemas}, {"description": short_text, "type": st.just("custom")}
    )
    messages_body = obj(
        {"model": short_text, "max_tokens": tokens, "messages": st.lists(messages_message, min_size=1, max_size=4)},
        {
            "system": short_text | st.lists(obj({"type": st.just("text"), "text": short_text}), max_size=2),
            "stream": st.booleans(),
            "temperature": floats,
            "top_p": floats,
            "top_k": st.integers(-1, 100),
            "stop_sequences": st.lists(short_text, max_size=3),
            "tools": st.lists(messages_tool, max_size=2),
            "tool_choice": obj({"type": st.sampled_from(["auto", "any", "tool", "none"])}, {"name": names}),
            "thinking": obj({"type": st.sampled_from(["enabled", "disabled", "adaptive"])}, {"budget_tokens": tokens}),
            "metadata": obj({}, {"user_id": short_text}),
        },
    )

    # OpenAI Responses
    responses_part = obj(
        {"type": st.sampled_from(["input_text", "output_text", "input_image", "input_file", "refusal", "holo"])},
        {
            "text": short_text,
            "image_url": data_url,
            "file_data": data_url,
            "filename": short_text,
            "refusal": short_text,
        },
    )
    responses_item = obj(
        {
            "type": st.sampled_from(
                ["message", "function_call", "function_call_output", "reasoning", "custom_tool_call", "holo"]
            )
        },
        {
            "role": st.sampled_from(["user", "assistant", "system", "developer", "wizard"]),
            "content": short_text | st.lists(responses_part, max_size=3),
            "call_id": call_ids,
            "name": names,
            "arguments": short_text,
            "output": short_text,
            "id": st.sampled_from(["rs_1", "fc_1", "msg_1"]),
            "summary": st.lists(obj({"type": st.just("summary_text"), "text": short_text}), max_size=2),
            "encrypted_content": short_text,
            "input": short_text,
        },
    )
    responses_tool = obj(
        {"type": st.sampled_from(["function", "custom", "web_search", "file_search"])},
        {"name": names, "parameters": schemas, "description": short_text, "strict": st.booleans()},
    )
    responses_body = obj(
        {"model": short_text, "input": short_text | st.lists(responses_item, min_size=1, max_size=4)},
        {
            "instructions": short_text,
            "stream": st.booleans(),
            "store": st.booleans(),
            "max_output_tokens": tokens,
            "temperature": floats,
            "top_p": floats,
            "tools": st.lists(responses_tool, max_size=2),
            "tool_choice": st.sampled_from(["auto", "none", "required"])
            | obj({"type": st.just("function"), "name": names}),
            "parallel_tool_calls": st.booleans(),
            "reasoning": obj({}, {"effort": st.sampled_from(["low", "medium", "high"]), "summary": st.just("auto")}),
            "text": obj({}, {"format": obj({"type": st.sampled_from(["text", "json_object", "json_schema"])})}),
            "previous_response_id": st.sampled_from(["resp_unknown", ""]),
            "metadata": st.dictionaries(short_text, short_text, max_size=2),
            "include": st.lists(st.sampled_from(["reasoning.encrypted_content", "x"]), max_size=2),
            "truncation": st.sampled_from(["auto", "disabled"]),
        },
    )
    return {"chat": chat_body, "messages": messages_body, "responses": responses_body}


_CLEAN, _NOISY = body_strategies(False), body_strategies(True)
# Bodies every upstream accepts, with generated text: they keep the "forwarded" outcome common
# whatever the broken strategies draw (the field-by-field ones mostly produce 4xx).
_VALID: dict[str, st.SearchStrategy[dict[str, Any]]] = {
    "chat": st.builds(lambda t: {"model": "m", "messages": [{"role": "user", "content": t}]}, short_text),
    "messages": st.builds(
        lambda t: {"model": "m", "max_tokens": 16, "messages": [{"role": "user", "content": t}]}, short_text
    ),
    "responses": st.builds(lambda t: {"model": "m", "input": t}, short_text),
}
BODY_STRATEGIES = {schema: _VALID[schema] | _CLEAN[schema] | _NOISY[schema] for schema in _CLEAN}


# -- an upstream that records and answers the least it can ------------------------------------------------


def tiny_json(schema: str) -> dict[str, Any]:
    if schema == "chat":
        message = {"role": "assistant", "content": "ok"}
        return {
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "created": 1,
            "model": "up",
            "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
        }
    if schema == "messages":
        return {
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "model": "up",
            "content": [{"type": "text", "text": "ok"}],
            "stop_reason": "end_turn",
            "usage": {"input_tokens": 1, "output_tokens": 1},
        }
    return {
        "id": "resp_1",
        "object": "response",
        "status": "completed",
        "model": "up",
        "output": [
            {
                "type": "message",
                "id": "msg_1",
                "role": "assistant",
                "status": "completed",
                "content": [{"type": "output_text", "text": "ok", "annotations": []}],
            }
        ],
        "usage": {"input_tokens": 1, "output_tokens": 1, "total_tokens": 2},
    }


def tiny_stream(schema: str) -> bytes:
    if schema == "chat":
        head = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "up"}

        def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
            return format_event(
                json.dumps({**head, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
            )

        return chunk({"role": "assistant", "content": "ok"}) + chunk({}, "stop") + format_event("[DONE]")
    if schema == "messages":
        message = {"id": "msg_1", "type": "message", "role": "assistant", "model": "up", "content": []}
        events: list[dict[str, Any]] = [
            {"type": "message_start", "message": {**message, "usage": {"input_tokens": 1, "output_tokens": 0}}},
            {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
            {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "ok"}},
            {"type": "content_block_stop", "index": 0},
            {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 1}},
            {"type": "message_stop"},
        ]
        return b"".join(format_event(json.dumps(e), e["type"]) for e in events)
    done = tiny_json("responses")
    item = done["output"][0]
    started = {**done, "status": "in_progress", "output": []}
    part = {"type": "output_text", "text": "", "annotations": []}
    where = {"item_id": "msg_1", "output_index": 0, "content_index": 0}
    events = [
        {"type": "response.created", "response": started},
        {
            "type": "response.output_item.added",
            "output_index": 0,
            "item": {**item, "content": [], "status": "in_progress"},
        },
        {"type": "response.content_part.added", **where, "part": part},
        {"type": "response.output_text.delta", **where, "delta": "ok", "logprobs": []},
        {"type": "response.output_text.done", **where, "text": "ok", "logprobs": []},
        {"type": "response.content_part.done", **where, "part": item["content"][0]},
        {"type": "response.output_item.done", "output_index": 0, "item": item},
        {"type": "response.completed", "response": done},
    ]
    return b"".join(format_event(json.dumps({**e, "sequence_number": n}), e["type"]) for n, e in enumerate(events))


class TinyUpstream:
    """Records the translated request body and answers in its schema, streamed when asked."""

    def __init__(self, schema: str) -> None:
        self.schema = schema
        self.bodies: list[dict[str, Any]] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = json.loads((await receive())["body"])
        self.bodies.append(body)
        if body.get("stream"):
            payload, content_type = tiny_stream(self.schema), b"text/event-stream"
        else:
            payload, content_type = json.dumps(tiny_json(self.schema)).encode(), b"application/json"
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", content_type)]})
        await send({"type": "http.response.body", "body": payload, "more_body": False})


async def exchange(client: str, upstream: str, body: dict[str, Any]) -> tuple[Client, TinyUpstream]:
    inner = TinyUpstream(upstream)
    raw = json.dumps(body).encode()
    got = Client({"type": "http.request", "body": raw, "more_body": False})
    with anyio.fail_after(5):
        await make(inner, upstream)(http_scope(DEFAULT_PATHS[client], raw), got.receive, got.send)  # type: ignore[index]
    return got, inner


def check_answer(client: str, got: Client) -> None:
    if dict(got.start["headers"])[b"content-type"] == b"text/event-stream":
        {"chat": validate_chat_stream, "messages": validate_messages_stream, "responses": validate_responses_stream}[
            client
        ](got.body)
    elif client == "chat":
        validate_chat_json(got.json())
    elif client == "messages":
        validate_messages_json(got.json())
    else:
        assert got.json()["object"] == "response" and got.json()["status"] == "completed"


def check_outcome(client: str, upstream: str, got: Client, inner: TinyUpstream) -> None:
    status = got.start["status"]
    assert got.bodies[-1]["more_body"] is False
    if inner.bodies:
        assert status == 200, got.body[:500]
        sent = inner.bodies[0]
        try:
            get_codec(upstream).parse_request(sent)  # type: ignore[arg-type]
        except TranslateError as exc:
            # An empty conversation is forwarded as given: the upstream's own 400 answers it.
            empty = exc.param == "messages" and sent.get("messages") == []
            assert empty, f"the upstream's own parser rejects our request: {exc} ({sent})"
        check_answer(client, got)
    else:
        assert 400 <= status < 500, got.body[:500]
        assert_envelope(client, got.json())


@pytest.mark.parametrize(("client", "upstream"), ROUTES)
def test_fuzzed_bodies_are_translated_or_refused(client: str, upstream: str) -> None:
    outcomes: list[bool] = []

    @FUZZ
    @given(body=BODY_STRATEGIES[client])
    def run(body: dict[str, Any]) -> None:
        got, inner = anyio.run(exchange, client, upstream, body)
        check_outcome(client, upstream, got, inner)
        outcomes.append(bool(inner.bodies))

    run()
    # Both outcomes were exercised: the strategies are not all rejected up front.
    assert sum(outcomes) >= 5 and outcomes.count(False) >= 5, f"{sum(outcomes)} of {len(outcomes)} forwarded"


@pytest.mark.parametrize(("client", "upstream"), ROUTES)
def test_any_json_value_as_the_body(client: str, upstream: str) -> None:
    @FUZZ
    @given(body=json_values)
    def run(body: Any) -> None:
        got, inner = anyio.run(exchange, client, upstream, body)
        check_outcome(client, upstream, got, inner)

    run()
