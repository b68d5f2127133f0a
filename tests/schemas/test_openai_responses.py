"""The Responses codec: request parsing and rendering, JSON responses, the stream decoder over the
recorded corpus, and the stream encoder checked by our grammar validator and the official SDK."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx2
import pytest
from canonical_contract import check_contract, decode_stream
from conftest import corpus_files, load_json, make_context
from hypothesis import given, settings
from hypothesis import strategies as st
from openai import AsyncOpenAI
from openai.types.responses import Response as SDKResponse
from validators.responses import validate_responses_stream

from asgi_translate._hub.canonical import (
    BlockDelta,
    BlockStart,
    BlockStop,
    FilePart,
    Finish,
    ImagePart,
    Message,
    MessageStart,
    Reasoning,
    ReasoningPart,
    RefusalPart,
    Request,
    Response,
    ResponseFormat,
    StreamError,
    StreamEvent,
    TextPart,
    Tool,
    ToolCallPart,
    ToolChoice,
    ToolResultPart,
    Usage,
    UsageUpdate,
)
from asgi_translate._hub.errors import ErrorInfo, RequestTranslationError, UnsupportedFeatureError
from asgi_translate._hub.pipeline import as_bytes
from asgi_translate.schemas import get_codec
from asgi_translate.schemas.openai_responses import (
    CODEC,
    ResponsesStreamDecoder,
    ResponsesStreamEncoder,
    parse_error,
    parse_request,
    parse_response,
    render_error,
    render_request,
    render_response,
)

CUSTOM_TOOL = {"type": "custom", "name": "apply_patch", "description": "Apply a patch."}


def base(**fields: Any) -> dict[str, Any]:
    return {"model": "gpt-test", "input": "hi", **fields}


def ctx_for(body: dict[str, Any] | None = None, **overrides: Any) -> Any:
    body = body or base()
    return make_context(parse_request(body), client_body=body, **overrides)


# =============================================================================================
# parse_request


def test_codec_is_registered() -> None:
    assert get_codec("responses") is CODEC
    assert CODEC.name == "responses"


def test_string_input_and_instructions() -> None:
    req = parse_request(base(instructions="Be brief.", input="Hello"))
    assert req.system == ["Be brief."]
    assert req.messages == [Message("user", [TextPart("Hello")])]


def test_message_items_group_into_alternating_turns() -> None:
    req = parse_request(
        base(
            input=[
                {"role": "developer", "content": "Dev rules."},
                {"role": "user", "content": [{"type": "input_text", "text": "a"}]},
                {"type": "message", "role": "user", "content": "b"},
                {"role": "assistant", "content": [{"type": "output_text", "text": "c", "annotations": []}]},
                {"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": "f", "arguments": "{}"},
                {"type": "function_call_output", "call_id": "call_1", "output": "done"},
                {"role": "system", "content": "Sys."},
                {"role": "user", "content": "d"},
            ]
        )
    )
    assert req.system == ["Dev rules."]  # before the first turn: the prompt; later: in place
    assert [m.role for m in req.messages] == ["user", "assistant", "user", "system", "user"]
    assert req.messages[0].content == [TextPart("a"), TextPart("b")]
    assert req.messages[1].content == [TextPart("c"), ToolCallPart("call_1", "f", "{}", item_id="fc_1")]
    assert req.messages[2].content == [ToolResultPart("call_1", [TextPart("done")])]
    assert req.messages[3].content == [TextPart("Sys.")]
    assert req.messages[4].content == [TextPart("d")]


def test_images_files_and_refusals() -> None:
    req = parse_request(
        base(
            input=[
                {
                    "role": "user",
                    "content": [
                        {"type": "input_image", "image_url": "data:image/png;base64,AAAA", "detail": "low"},
                        {"type": "input_image", "image_url": "https://x/y.png"},
                        {"type": "input_file", "file_data": "data:application/pdf;base64,JVBE", "filename": "a.pdf"},
                        {"type": "input_file", "file_url": "https://x/doc.pdf"},
                    ],
                },
                {"role": "assistant", "content": [{"type": "refusal", "refusal": "No."}]},
            ]
        )
    )
    assert req.messages[0].content == [
        ImagePart(data="AAAA", media_type="image/png", detail="low"),
        ImagePart(url="https://x/y.png"),
        FilePart(data="JVBE", media_type="application/pdf", filename="a.pdf"),
        FilePart(url="https://x/doc.pdf"),
    ]
    assert req.messages[1].content == [RefusalPart("No.")]


def test_reasoning_items_keep_summary_text_and_signature() -> None:
    req = parse_request(
        base(
            input=[
                {"role": "user", "content": "q"},
                {
                    "type": "reasoning",
                    "id": "rs_1",
                    "summary": [{"type": "summary_text", "text": "one"}, {"type": "summary_text", "text": "two"}],
                    "encrypted_content": "gAAAA",
                },
                {
                    "type": "reasoning",
                    "id": "rs_2",
                    "summary": [],
                    "content": [{"type": "reasoning_text", "text": "raw"}],
                },
                {"type": "reasoning", "id": "rs_3", "summary": [], "encrypted_content": "redacted_thinking:DATA"},
            ]
        )
    )
    assert req.messages[1].content == [
        ReasoningPart(text="one\n\ntwo", signature="gAAAA", summary=["one", "two"], id="rs_1"),
        ReasoningPart(text="raw", id="rs_2"),
        ReasoningPart(text="", signature="DATA", redacted=True, id="rs_3"),
    ]


def test_custom_tools_and_their_calls() -> None:
    grammar = {"type": "grammar", "syntax": "lark", "definition": "start: /.+/"}
    req = parse_request(
        base(
            tools=[{**CUSTOM_TOOL, "format": grammar}],
            input=[
                {"type": "custom_tool_call", "id": "ctc_1", "call_id": "call_9", "name": "apply_patch", "input": "P"},
                {"type": "custom_tool_call_output", "call_id": "call_9", "output": "ok"},
            ],
        )
    )
    tool = req.tools[0]
    assert tool.custom and tool.name == "apply_patch" and tool.format == grammar
    assert tool.parameters["properties"]["input"]["type"] == "string"
    assert tool.description == "Apply a patch.\n\nThe input must match this lark grammar:\nstart: /.+/"
    assert req.messages[0].content == [ToolCallPart("call_9", "apply_patch", "P", custom=True, item_id="ctc_1")]
    assert req.messages[1].content == [ToolResultPart("call_9", [TextPart("ok")], custom=True)]


def test_function_tools_and_choices() -> None:
    tool = {"type": "function", "name": "f", "description": "d", "parameters": {"type": "object"}, "strict": True}
    req = parse_request(base(tools=[tool], tool_choice={"type": "function", "name": "f"}, parallel_tool_calls=False))
    assert req.tools == [Tool("f", "d", {"type": "object"}, strict=True)]
    assert req.tool_choice == ToolChoice("tool", "f")
    assert req.parallel_tool_calls is False
    assert parse_request(base(tool_choice="required")).tool_choice == ToolChoice("required")
    allowed = {"type": "allowed_tools", "mode": "required", "tools": [{"type": "function", "name": "g"}]}
    both = [tool, {**tool, "name": "g"}]
    req = parse_request(base(tools=both, tool_choice=allowed))
    assert [t.name for t in req.tools] == ["g"] and req.tool_choice == ToolChoice("required")


@pytest.mark.parametrize("kind", ["web_search", "file_search", "code_interpreter", "computer_use_preview", "mcp"])
def test_hosted_tools_are_dropped_and_reported(kind: str) -> None:
    req = parse_request(base(tools=[{"type": "function", "name": "f"}, {"type": kind}]))
    assert [tool.name for tool in req.tools] == ["f"]
    assert req.losses == [f"tools[1] ({kind} tool) dropped"]


def test_sampling_reasoning_format_and_metadata() -> None:
    schema = {"type": "object", "properties": {}}
    req = parse_request(
        base(
            max_output_tokens=50,
            temperature=0.5,
            top_p=0.9,
            reasoning={"effort": "high", "summary": "auto"},
            text={"format": {"type": "json_schema", "name": "out", "schema": schema, "strict": True}},
            metadata={"k": "v"},
            safety_identifier="user-1",
            stream=True,
            truncation="auto",
            service_tier="flex",
        )
    )
    assert (req.max_tokens, req.temperature, req.top_p) == (50, 0.5, 0.9)
    assert req.reasoning == Reasoning(effort="high", summary="auto")
    assert req.response_format == ResponseFormat("json_schema", name="out", schema=schema, strict=True)
    assert req.metadata == {"k": "v"} and req.user == "user-1"
    assert req.stream and req.include_usage
    assert req.losses == ["truncation 'auto' not applied (the upstream sees the whole input)", "service_tier ignored"]
    assert parse_request(base(text={"format": {"type": "json_object"}})).response_format == ResponseFormat(
        "json_object"
    )
    assert parse_request(base(reasoning={"effort": "none"})).reasoning == Reasoning(effort="none", enabled=False)


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"input": "x"}, "model"),
        (base(input=None), "input"),
        (base(input=[{"role": "robot", "content": "x"}]), "input[0].role"),
        (base(input=[{"role": "user", "content": [{"type": "video"}]}]), "input[0].content[0].type"),
        (base(input=[{"type": "function_call", "name": "f", "arguments": "{}"}]), "input[0].call_id"),
        (base(input=[{"type": ["mystery"]}]), "input[0].type"),
        (base(input=[{"type": "item_reference", "id": "msg_1"}]), "input[0].id"),
        (base(max_output_tokens=0), "max_output_tokens"),
        (base(text={"format": {"type": "yaml"}}), "text.format.type"),
    ],
)
def test_invalid_requests_name_the_field(body: dict[str, Any], param: str) -> None:
    with pytest.raises(RequestTranslationError) as info:
        parse_request(body)
    assert info.value.param == param
    assert info.value.status == 400


def test_unsupported_fields_are_rejected() -> None:
    for body, param in [(base(background=True), "background"), (base(conversation="conv_1"), "conversation")]:
        with pytest.raises(UnsupportedFeatureError) as info:
            parse_request(body)
        assert info.value.param == param
    with pytest.raises(UnsupportedFeatureError):
        parse_request(base(input=[{"type": "compaction", "id": "cmp_1", "encrypted_content": "x"}]))
    assert parse_request(base(input=[{"type": "web_search_call", "id": "ws_1"}])).losses == [
        "input[0] (web_search_call item) dropped"
    ]


@pytest.mark.parametrize("path", corpus_files("responses", ".request.json"), ids=lambda p: p.name)
def test_every_recorded_request_parses(path: Path) -> None:
    body = load_json(path)
    answer = path.with_name(path.name.replace(".request.json", ".json"))
    refused = load_json(answer).get("error", {}).get("param") if answer.name.startswith("error-") else None
    if refused == "temperature":  # the API refused temperature -1: so do we, naming the field
        with pytest.raises(RequestTranslationError) as caught:
            parse_request(body)
        assert caught.value.param == "temperature"
        return
    req = parse_request(body)
    assert req.model == body["model"]
    assert req.messages and req.messages[0].role == "user"


def test_recorded_interleaved_reasoning_request() -> None:
    req = parse_request(load_json(corpus_root_file("interleaved-reasoning-tool-calls-nonstream.request.json")))
    assert [m.role for m in req.messages] == ["user", "assistant", "user", "assistant", "user"]
    reasoning, call = req.messages[1].content
    assert (
        isinstance(reasoning, ReasoningPart) and reasoning.id == "rs_0429c1fcf5cbfa350169fabfe62a9c8197914677ea9a2424a0"
    )
    assert reasoning.signature is not None and reasoning.signature.startswith("gAAAAABp-r_nDEFD")
    assert call == ToolCallPart("call_I670mAzR6AYszdoqaI96qg0k", "db_lookup", '{"key": "start"}')
    assert req.messages[4].content == [ToolResultPart("call_Uj506iEKjBZWrHPq2C3GDtgr", [TextPart("unknown key")])]
    assert req.reasoning == Reasoning(effort="high")


def corpus_root_file(name: str) -> Path:
    return next(path for path in corpus_files("responses", "") if path.name == name)


# =============================================================================================
# render_request


def test_render_request_history_and_options() -> None:
    req = Request(
        model="up",
        system=["Sys"],
        messages=[
            Message("user", [TextPart("q"), ImagePart(data="AAAA", media_type="image/jpeg")]),
            Message(
                "assistant",
                [
                    TextPart("let me check"),
                    ReasoningPart(text="think", signature="sig", id="rs_9"),
                    ToolCallPart("call_1", "f", '{"a":1}', item_id="fc_1"),
                    ToolCallPart("call_2", "f", '{"a":2}', item_id="toolu_x"),
                ],
            ),
            Message("user", [ToolResultPart("call_1", [TextPart("r1")]), ToolResultPart("call_2", [TextPart("r2")])]),
        ],
        tools=[Tool("f", "d", {"type": "object"}), Tool("apply_patch", custom=True, format={"type": "text"})],
        tool_choice=ToolChoice("tool", "apply_patch"),
        max_tokens=100,
        temperature=0.2,
        reasoning=Reasoning(budget_tokens=10000),
        response_format=ResponseFormat("json_object"),
        stream=True,
    )
    body = render_request(req, make_context(req))
    assert body["input"] == [
        {
            "role": "user",
            "content": [
                {"type": "input_text", "text": "q"},
                {"type": "input_image", "image_url": "data:image/jpeg;base64,AAAA", "detail": "auto"},
            ],
        },
        {"role": "assistant", "content": "let me check"},
        {
            "type": "reasoning",
            "summary": [{"type": "summary_text", "text": "think"}],
            "encrypted_content": "sig",
            "id": "rs_9",
        },
        {"type": "function_call", "call_id": "call_1", "name": "f", "arguments": '{"a":1}', "id": "fc_1"},
        {"type": "function_call", "call_id": "call_2", "name": "f", "arguments": '{"a":2}'},
        {"type": "function_call_output", "call_id": "call_1", "output": "r1"},
        {"type": "function_call_output", "call_id": "call_2", "output": "r2"},
    ]
    assert body["instructions"] == "Sys"
    assert body["tools"] == [
        {"type": "function", "name": "f", "parameters": {"type": "object"}, "strict": False, "description": "d"},
        {"type": "custom", "name": "apply_patch", "format": {"type": "text"}},
    ]
    assert body["tool_choice"] == {"type": "custom", "name": "apply_patch"}
    assert body["reasoning"] == {"effort": "medium", "summary": "auto"}
    assert body["include"] == ["reasoning.encrypted_content"]
    assert (body["store"], body["stream"], body["max_output_tokens"], body["temperature"]) == (False, True, 100, 0.2)
    assert body["text"] == {"format": {"type": "json_object"}}


def test_render_request_drops_reasoning_it_cannot_replay() -> None:
    req = Request(
        model="up",
        messages=[
            Message("user", [TextPart("q")]),
            Message("assistant", [ReasoningPart(text="t", signature="sig"), TextPart("answer")]),
            Message("user", [TextPart("more")]),
        ],
        stop=["END"],
    )
    body = render_request(req, make_context(req))
    assert [item.get("type", item.get("role")) for item in body["input"]] == ["user", "assistant", "user"]
    assert "include" in body  # history carries a signature
    assert req.losses == [
        "reasoning not replayable to the Responses upstream dropped",
        "stop sequences dropped (the Responses API has no stop parameter)",
    ]


def test_custom_request_round_trips_through_render() -> None:
    body = base(
        tools=[CUSTOM_TOOL],
        input=[
            {"role": "user", "content": "patch it"},
            {"type": "custom_tool_call", "call_id": "call_1", "name": "apply_patch", "input": "*** Begin"},
            {"type": "custom_tool_call_output", "call_id": "call_1", "output": "applied"},
        ],
    )
    req = parse_request(body)
    out = render_request(req, make_context(req))
    assert out["input"][1:] == [
        {"type": "custom_tool_call", "call_id": "call_1", "name": "apply_patch", "input": "*** Begin"},
        {"type": "custom_tool_call_output", "call_id": "call_1", "output": "applied"},
    ]


# =============================================================================================
# JSON responses


def test_parse_recorded_function_call() -> None:
    response = parse_response(load_json(corpus_root_file("function-call-nonstream.json")))
    calls = [part for part in response.content if isinstance(part, ToolCallPart)]
    assert len(calls) == 1
    assert calls[0].name == "multiply" and json.loads(calls[0].arguments) == {"a": 1231, "b": 2331}
    assert calls[0].item_id is not None and calls[0].item_id.startswith("fc_")
    assert response.stop_reason == "tool_use"


def test_parse_recorded_parallel_calls_and_cached_usage() -> None:
    parallel = parse_response(load_json(corpus_root_file("parallel-function-calls-nonstream.json")))
    assert [json.loads(p.arguments)["loc_name"] for p in parallel.content if isinstance(p, ToolCallPart)] == [
        "Londos",
        "London",
    ]
    cached = parse_response(load_json(corpus_root_file("cached-tokens-nonstream.json")))
    assert cached.usage is not None and cached.usage.cache_read_tokens == 4012
    assert cached.stop_reason == "end_turn"


def test_parse_recorded_reasoning_summary() -> None:
    response = parse_response(load_json(corpus_root_file("reasoning-summary-nonstream.json")))
    reasoning = response.content[0]
    assert isinstance(reasoning, ReasoningPart)
    assert reasoning.id is not None and reasoning.id.startswith("rs_")
    assert reasoning.summary and reasoning.text == "\n\n".join(reasoning.summary)
    assert reasoning.signature is not None
    assert isinstance(response.content[-1], TextPart) and "def factorial" in response.content[-1].text


@pytest.mark.parametrize(
    "path",
    [p for p in corpus_files("responses", ".json") if not p.name.endswith(".request.json") and "error" not in p.name],
    ids=lambda p: p.name,
)
def test_every_recorded_response_parses(path: Path) -> None:
    body = load_json(path)
    response = parse_response(body)
    assert response.id == body["id"] and response.model == body["model"]
    assert response.usage is not None and response.usage.input_tokens == body["usage"]["input_tokens"]
    assert response.content


def test_render_response_items_and_status() -> None:
    body = base(tools=[CUSTOM_TOOL], reasoning={"effort": "low"}, metadata={"a": "b"})
    ctx = ctx_for(body)
    response = Response(
        id="chatcmpl-1",
        model="gpt-test",
        content=[
            ReasoningPart(text="hmm", signature="SIG"),
            TextPart("Hello"),
            RefusalPart("no"),
            ToolCallPart("call_1", "f", "{}"),
            ToolCallPart("call_2", "apply_patch", '{"input":"*** Begin Patch"}'),
        ],
        stop_reason="max_tokens",
        usage=Usage(input_tokens=10, output_tokens=5, cache_read_tokens=4, reasoning_tokens=2),
    )
    out = render_response(response, ctx)
    assert out["id"].startswith("resp_") and out["status"] == "incomplete"
    assert out["incomplete_details"] == {"reason": "max_output_tokens"}
    assert [item["type"] for item in out["output"]] == ["reasoning", "message", "function_call", "custom_tool_call"]
    reasoning, message, call, custom = out["output"]
    assert reasoning["summary"] == [{"type": "summary_text", "text": "hmm"}] and reasoning["encrypted_content"] == "SIG"
    assert message["content"] == [
        {"type": "output_text", "text": "Hello", "annotations": [], "logprobs": []},
        {"type": "refusal", "refusal": "no"},
    ]
    assert call["call_id"] == "call_1" and call["id"].startswith("fc_")
    assert custom["input"] == "*** Begin Patch" and custom["id"].startswith("ctc_")
    assert out["usage"] == {
        "input_tokens": 10,
        "input_tokens_details": {"cached_tokens": 4, "cache_write_tokens": 0},
        "output_tokens": 5,
        "output_tokens_details": {"reasoning_tokens": 2},
        "total_tokens": 15,
    }
    assert (out["model"], out["metadata"], out["output_text"]) == ("gpt-test", {"a": "b"}, "Hello")
    parsed = SDKResponse.model_validate(out)
    assert parsed.output_text == "Hello"


def test_a_null_tool_choice_is_echoed_as_the_default_it_means() -> None:
    """``"tool_choice": null`` is accepted as absent; the Response then says ``auto``, never null
    (the spec's Response.tool_choice has no null form)."""
    response = Response(id="r", model="m", content=[TextPart("x")], stop_reason="end_turn")
    for body in [base(tool_choice=None), base(), base(tool_choice="required", tools=[CUSTOM_TOOL])]:
        out = render_response(response, ctx_for(body))
        assert out["tool_choice"] == ("required" if "tools" in body else "auto")
        assert SDKResponse.model_validate(out).tool_choice == out["tool_choice"]


def test_render_response_keeps_resp_ids_and_marks_redacted_reasoning() -> None:
    ctx = ctx_for()
    response = Response("resp_up", "m", [ReasoningPart(signature="DATA", redacted=True)], "content_filter")
    out = render_response(response, ctx)
    assert out["id"] == "resp_up"
    assert out["incomplete_details"] == {"reason": "content_filter"}
    assert out["output"][0]["encrypted_content"] == "redacted_thinking:DATA"
    # ... and a client replaying the item gives the redacted block back.
    again = parse_request(base(input=[{"role": "user", "content": "x"}, out["output"][0]]))
    assert again.messages[1].content == [ReasoningPart(signature="DATA", redacted=True, id=out["output"][0]["id"])]


# =============================================================================================
# errors


def test_error_envelopes() -> None:
    info = parse_error(429, corpus_root_file("error-429-insufficient-quota.json").read_bytes())
    assert (info.type, info.code, info.status) == ("rate_limit_error", "insufficient_quota", 429)
    bad = parse_error(400, corpus_root_file("error-400-invalid-request.json").read_bytes())
    assert (bad.type, bad.param, bad.code) == ("invalid_request_error", "temperature", "decimal_below_min_value")
    text = parse_error(502, b"<html>bad gateway</html>")
    assert (text.type, text.message) == ("bad_gateway_error", "<html>bad gateway</html>")
    status, body = render_error(ErrorInfo(529, "overloaded_error", "busy"))
    assert status == 503
    assert body == {"error": {"message": "busy", "type": "server_error", "param": None, "code": None}}


def test_error_envelope_is_the_chat_codecs() -> None:
    """One OpenAI error envelope for both codecs: a Responses upstream behind vLLM or FastAPI is
    read as the chat codec reads it."""
    assert (CODEC.parse_error, CODEC.render_error) == (get_codec("chat").parse_error, get_codec("chat").render_error)
    detail = parse_error(422, b'{"detail": [{"loc": ["body", "input"], "msg": "field required"}]}')
    assert (detail.type, detail.message) == ("invalid_request_error", "input: field required")
    empty = parse_error(502, b"")
    assert (empty.type, empty.message) == ("bad_gateway_error", "upstream returned HTTP 502")


# =============================================================================================
# stream decoder


def decode(raw: bytes, chunks: list[bytes] | None = None) -> list[StreamEvent]:
    return decode_stream(ResponsesStreamDecoder(ctx_for()), *(chunks or [raw]))


def texts(events: list[StreamEvent]) -> dict[int, str]:
    out: dict[int, str] = {}
    for event in events:
        if isinstance(event, BlockDelta):
            out[event.index] = out.get(event.index, "") + event.text
    return out


SSE_FILES = corpus_files("responses", ".sse")


@pytest.mark.parametrize("path", SSE_FILES, ids=lambda p: p.name)
def test_every_recorded_stream_decodes(path: Path) -> None:
    check_contract(decode(path.read_bytes()))


def corpus_sse(name: str) -> bytes:
    return next(path for path in SSE_FILES if path.name == name).read_bytes()


def test_decode_function_call_stream() -> None:
    events = decode(corpus_sse("function-call-stream.sse"))
    start = events[1]
    assert start == BlockStart(
        0,
        "tool_call",
        call_id="call_sVidsfFJ6zlzRpelrPkTPlpd",
        name="multiply",
        item_id="fc_00d64fa806f333310169fab1bf324481a0852cda3180856290",
    )
    assert texts(events) == {0: '{"a":1231,"b":2331}'}
    assert events[-2] == UsageUpdate(Usage(input_tokens=58, output_tokens=23))
    assert events[-1] == Finish("tool_use")


def test_decode_reasoning_summary_stream_joins_parts() -> None:
    events = decode(corpus_sse("reasoning-summary-stream.sse"))
    reasoning = texts(events)[0]
    assert reasoning.startswith("**Providing street crossing instructions**\n\n")
    assert reasoning.count("\n\n**") == 3  # four summary parts, one blank line between each
    stop = next(e for e in events if isinstance(e, BlockStop) and e.index == 0)
    assert stop.signature is not None and stop.signature.startswith("gAAAAABoxC0m")
    assert texts(events)[1].startswith("I'm not a road safety professional")
    assert events[-1] == Finish("end_turn")


def test_decode_failed_stream() -> None:
    events = decode(corpus_sse("failed-error-event-stream.sse"))
    assert events[0] == MessageStart("resp_05500b38c2cd9bfc00691c7c9d222481a3b595421266dab424", "gpt-5-nano-2025-08-07")
    error = events[1]
    assert isinstance(error, StreamError) and len(events) == 2
    assert (error.type, error.status) == ("rate_limit_error", 429)
    assert error.message.startswith("You exceeded your current quota")


def test_decode_deepseek_reasoning_text_and_call() -> None:
    events = decode(corpus_sse("deepseek-reasoning-text-function-call-stream.sse"))
    kinds = [(e.index, e.kind) for e in events if isinstance(e, BlockStart)]
    assert kinds == [(0, "reasoning"), (1, "tool_call")]
    assert texts(events) == {0: "The user asks about temperature in Tokyo. I'll call the tool.", 1: '{"city": "Tokyo"}'}
    assert events[-2] == UsageUpdate(Usage(366, 59, cache_read_tokens=256, reasoning_tokens=14))
    assert events[-1] == Finish("tool_use")


def test_decode_openrouter_interleaving_closes_reasoning_first() -> None:
    events = decode(corpus_sse("openrouter-reasoning-text-stream.sse"))
    assert texts(events) == {
        0: 'The user asks: "What is 2+2?" They expect a straightforward answer: 4. Just answer 4.',
        1: "4",
    }


def frames(*payloads: dict[str, Any]) -> bytes:
    return b"".join(f"event: {p['type']}\ndata: {json.dumps(p)}\n\n".encode() for p in payloads)


CREATED = {"type": "response.created", "response": {"id": "resp_1", "model": "m"}}


def test_decode_arguments_done_without_deltas_and_incomplete() -> None:
    item = {"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": "f", "arguments": ""}
    raw = frames(
        CREATED,
        {"type": "response.output_item.added", "output_index": 0, "item": item},
        {"type": "response.function_call_arguments.done", "output_index": 0, "item_id": "fc_1", "arguments": '{"x":1}'},
        {"type": "response.output_item.done", "output_index": 0, "item": {**item, "arguments": '{"x":1}'}},
        {
            "type": "response.incomplete",
            "response": {"status": "incomplete", "incomplete_details": {"reason": "max_output_tokens"}},
        },
    )
    events = decode(raw)
    assert texts(events) == {0: '{"x":1}'}
    assert events[-1] == Finish("max_tokens")


def test_decode_refusal_and_cut_stream() -> None:
    message = {"type": "message", "id": "msg_1", "role": "assistant", "content": []}
    raw = frames(
        CREATED,
        {"type": "response.output_item.added", "output_index": 0, "item": message},
        {
            "type": "response.content_part.added",
            "output_index": 0,
            "content_index": 0,
            "part": {"type": "refusal", "refusal": ""},
        },
        {"type": "response.refusal.delta", "output_index": 0, "content_index": 0, "delta": "I can't"},
    )
    events = decode(raw)
    assert events[1] == BlockStart(0, "refusal")
    assert texts(events) == {0: "I can't"}
    assert events[-1] == StreamError("api_error", "the upstream stream ended before response.completed", 502)


def test_decode_deltas_after_the_first_keep_every_rule() -> None:
    """Deltas past a part's first take a shortcut in ``decode``: a second summary part still gets
    its separator, arguments aimed at a reasoning item's index are dropped, and an empty delta
    makes nothing."""
    reasoning = {"type": "reasoning", "id": "rs_1", "summary": []}
    call = {"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": "f", "arguments": ""}
    summary = {"type": "response.reasoning_summary_text.delta", "output_index": 0, "summary_index": 0}
    part = {"type": "response.reasoning_summary_part.added", "output_index": 0, "part": {"type": "summary_text"}}
    args = {"type": "response.function_call_arguments.delta"}
    raw = frames(
        CREATED,
        {"type": "response.output_item.added", "output_index": 0, "item": reasoning},
        part,
        {**summary, "delta": "one"},
        {**summary, "delta": " two"},
        {**summary, "delta": ""},
        part,
        {**summary, "delta": "three"},
        {**summary, "delta": " four"},
        {"type": "response.output_item.added", "output_index": 1, "item": call},
        {**args, "output_index": 1, "delta": '{"x"'},
        {**args, "output_index": 1, "delta": ":1}"},
        {**args, "output_index": 0, "delta": "lost"},
    )
    events = decode(raw)
    assert [e.text for e in events if isinstance(e, BlockDelta)] == ["one", " two", "\n\nthree", " four", '{"x"', ":1}"]
    assert texts(events) == {0: "one two\n\nthree four", 1: '{"x":1}'}


def test_decode_error_event_with_flat_fields() -> None:
    events = decode(frames(CREATED, {"type": "error", "code": "server_error", "message": "boom", "param": None}))
    assert events[-1] == StreamError("api_error", "boom", 500)


@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_any_byte_split_decodes_the_same(data: st.DataObject) -> None:
    raw = corpus_sse("deepseek-reasoning-text-function-call-stream.sse")
    cuts = sorted(data.draw(st.lists(st.integers(0, len(raw)), max_size=30, unique=True)))
    chunks = [raw[a:b] for a, b in zip([0, *cuts], [*cuts, len(raw)], strict=True)]
    assert decode(raw, chunks) == decode(raw)


# =============================================================================================
# stream encoder


def encode(events: list[StreamEvent], body: dict[str, Any] | None = None) -> tuple[bytes, ResponsesStreamEncoder]:
    encoder = ResponsesStreamEncoder(ctx_for(body))
    return b"".join(as_bytes(encoder.encode(event)) for event in events), encoder


async def sdk_final(raw: bytes, **request: Any) -> Any:
    """Run ``client.responses.stream()`` against an app that answers with ``raw``."""

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/event-stream")]})
        await send({"type": "http.response.body", "body": raw})

    async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app)) as http:
        client = AsyncOpenAI(api_key="sk-test", base_url="http://test/v1", http_client=http)
        async with client.responses.stream(model="m", input="hi", **request) as stream:
            return await stream.get_final_response()


TEXT_EVENTS: list[StreamEvent] = [
    MessageStart("chatcmpl-1", "up"),
    BlockStart(0, "reasoning"),
    BlockDelta(0, "Let me "),
    BlockDelta(0, "think."),
    BlockStop(0, signature="SIG"),
    BlockStart(1, "text"),
    BlockDelta(1, "Hello"),
    BlockDelta(1, " world"),
    BlockStop(1),
    UsageUpdate(Usage(input_tokens=10, output_tokens=4, cache_read_tokens=3, reasoning_tokens=2)),
    Finish("end_turn"),
]


@pytest.mark.anyio
async def test_encoder_text_and_reasoning_through_the_sdk() -> None:
    raw, encoder = encode(TEXT_EVENTS)
    events = validate_responses_stream(raw)
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    final = await sdk_final(raw)
    assert final.output_text == "Hello world"
    assert final.output[0].type == "reasoning"
    assert final.output[0].summary[0].text == "Let me think."
    assert final.output[0].encrypted_content == "SIG"
    assert final.usage.input_tokens_details.cached_tokens == 3
    assert final.usage.output_tokens_details.reasoning_tokens == 2
    assert final.usage.total_tokens == 14
    assert encoder.final_response is not None and encoder.final_response["id"] == final.id


PARALLEL_EVENTS: list[StreamEvent] = [
    MessageStart("chatcmpl-2", "up"),
    BlockStart(0, "text"),
    BlockDelta(0, "Calling."),
    BlockStop(0),
    BlockStart(1, "tool_call", call_id="call_a", name="get_weather"),
    BlockStart(2, "tool_call", call_id="call_b", name="apply_patch"),
    BlockDelta(1, '{"city":'),
    BlockDelta(2, '{"input":"*** Begin Patch\\n"}'),
    BlockDelta(1, '"Paris"}'),
    BlockStop(2),
    BlockStop(1),
    UsageUpdate(Usage(input_tokens=20, output_tokens=9)),
    Finish("tool_use"),
]


@pytest.mark.anyio
async def test_encoder_parallel_and_custom_calls_through_the_sdk() -> None:
    raw, _ = encode(PARALLEL_EVENTS, base(tools=[CUSTOM_TOOL]))
    events = validate_responses_stream(raw)
    assert events[-1]["type"] == "response.completed"
    final = await sdk_final(raw)
    message, weather, patch = final.output
    assert message.type == "message" and final.output_text == "Calling."
    assert (weather.type, weather.call_id, weather.name, weather.arguments) == (
        "function_call",
        "call_a",
        "get_weather",
        '{"city":"Paris"}',
    )
    assert (patch.type, patch.call_id, patch.input) == ("custom_tool_call", "call_b", "*** Begin Patch\n")
    assert final.usage.total_tokens == 29


def test_encoder_refusal_and_incomplete() -> None:
    raw, encoder = encode(
        [MessageStart("x", "m"), BlockStart(0, "refusal"), BlockDelta(0, "No."), BlockStop(0), Finish("max_tokens")]
    )
    events = validate_responses_stream(raw)
    assert [e["type"] for e in events if "refusal" in e["type"]] == ["response.refusal.delta", "response.refusal.done"]
    assert events[-1]["type"] == "response.incomplete"
    assert encoder.final_response is not None
    assert encoder.final_response["incomplete_details"] == {"reason": "max_output_tokens"}
    assert encoder.final_response["output"][0]["content"] == [{"type": "refusal", "refusal": "No."}]


@pytest.mark.anyio
async def test_encoder_failure_midstream() -> None:
    raw, encoder = encode(
        [
            MessageStart("x", "m"),
            BlockStart(0, "text"),
            BlockDelta(0, "par"),
            StreamError("overloaded_error", "busy", 529),
        ]
    )
    events = validate_responses_stream(raw)
    assert [e["type"] for e in events[-2:]] == ["error", "response.failed"]
    assert events[-2]["message"] == "busy"
    failed = events[-1]["response"]
    assert failed["error"] == {"code": "server_error", "message": "busy"}
    assert failed["output"][0]["status"] == "incomplete"
    assert encoder.encode(Finish("end_turn")) == b""
    with pytest.raises(RuntimeError, match="response.completed"):
        await sdk_final(raw)


def test_encoder_error_before_start_still_opens_the_response() -> None:
    raw, _ = encode([StreamError("api_error", "cut", 502)])
    events = validate_responses_stream(raw)
    assert [e["type"] for e in events] == ["response.created", "response.in_progress", "error", "response.failed"]


@pytest.mark.anyio
@pytest.mark.parametrize("name", [path.name for path in SSE_FILES])
async def test_recorded_streams_reencode_validly(name: str) -> None:
    canonical = decode(corpus_sse(name))
    raw, _ = encode(canonical)
    events = validate_responses_stream(raw)
    if isinstance(canonical[-1], Finish):
        final = await sdk_final(raw)
        assert final.usage is not None and final.usage.input_tokens > 0
        assert final.output_text == "".join(
            text
            for index, text in texts(canonical).items()
            if any(isinstance(e, BlockStart) and e.index == index and e.kind == "text" for e in canonical)
        )
    else:
        assert events[-1]["type"] == "response.failed"


# =============================================================================================
# cross-schema replay: other upstreams' recordings to a Responses client, and ours to theirs


def translate(raw: bytes, upstream: str, client: str) -> bytes:
    """Feed recorded upstream bytes through the real pipeline: upstream decoder -> client encoder."""
    from asgi_translate._hub.pipeline import StreamTranslator

    ctx = ctx_for(base(tools=[{"type": "function", "name": "f", "parameters": {}}]))
    translator = StreamTranslator(get_codec(upstream).decoder(ctx), get_codec(client).encoder(ctx))  # type: ignore[arg-type]
    return as_bytes(translator.feed(raw) + translator.finish())


OTHER_STREAMS = [(schema, path.name) for schema in ("chat", "messages") for path in corpus_files(schema, ".sse")]


@pytest.mark.anyio
@pytest.mark.parametrize(("schema", "name"), OTHER_STREAMS)
async def test_chat_and_messages_recordings_to_a_responses_client(schema: str, name: str) -> None:
    raw = next(p for p in corpus_files(schema, ".sse") if p.name == name).read_bytes()
    out = translate(raw, schema, "responses")
    events = validate_responses_stream(out)
    if events[-1]["type"] == "response.completed":
        final = await sdk_final(out)
        for item in final.output:
            if item.type == "function_call":
                json.loads(item.arguments)  # every call's arguments are JSON the client can load
        assert final.id == events[0]["response"]["id"]


@pytest.mark.parametrize("name", [path.name for path in SSE_FILES])
@pytest.mark.parametrize("client", ["chat", "messages"])
def test_responses_recordings_to_chat_and_messages_clients(name: str, client: str) -> None:
    from validators.chat import validate_chat_stream
    from validators.messages import validate_messages_stream

    out = translate(corpus_sse(name), "responses", client)
    summary = (validate_chat_stream if client == "chat" else validate_messages_stream)(out)
    canonical = decode(corpus_sse(name))
    kinds = {e.index: e.kind for e in canonical if isinstance(e, BlockStart)}
    text = "".join(t for index, t in texts(canonical).items() if kinds[index] == "text")
    assert summary.text == text
    calls = [e.name for e in canonical if isinstance(e, BlockStart) and e.kind == "tool_call"]
    assert [call.name for call in summary.tool_calls] == calls
    assert (summary.error is not None) == isinstance(canonical[-1], StreamError)


def test_instructions_as_message_items() -> None:
    instructions = [
        {"type": "message", "role": "developer", "content": [{"type": "input_text", "text": "Be brief."}]},
        {"role": "system", "content": "Answer in French."},
        {"role": "user", "content": "Example question"},
        {"role": "assistant", "content": [{"type": "output_text", "text": "Réponse."}]},
    ]
    req = parse_request(base(instructions=instructions, input="Hello"))
    assert req.system == ["Be brief.", "Answer in French."]
    assert req.messages == [
        Message("user", [TextPart("Example question")]),
        Message("assistant", [TextPart("Réponse.")]),
        Message("user", [TextPart("Hello")]),
    ]


@pytest.mark.parametrize(
    ("instructions", "param"),
    [
        (5, "instructions"),
        (["Be brief."], "instructions[0]"),
        ([{"type": "function_call_output", "call_id": "c", "output": "x"}], "instructions[0].type"),
        (
            [{"role": "developer", "content": [{"type": "input_image", "image_url": "https://x/a.png"}]}],
            "instructions[0].content",
        ),
    ],
)
def test_instructions_items_that_are_not_text_messages_are_refused(instructions: Any, param: str) -> None:
    with pytest.raises(RequestTranslationError) as exc:
        parse_request(base(instructions=instructions))
    assert exc.value.param == param and exc.value.status == 400


def test_an_empty_input_array_is_accepted_as_the_api_does() -> None:
    """The spec sets no minimum for ``input`` (and makes it optional); the upstream decides."""
    req = parse_request(base(input=[], instructions="Say hi."))
    assert req.messages == [] and req.system == ["Say hi."]


def test_response_tools_show_only_the_tools_the_model_was_offered() -> None:
    from asgi_translate.schemas.openai_responses._response import echoed_tools

    tools = [
        {"type": "function", "name": "f", "parameters": {"type": "object"}},
        {"type": "file_search"},  # hosted, dropped (and malformed: no vector_store_ids)
        {"type": "web_search", "external_web_access": True},
        {"type": "some_future_tool"},
        {"type": "custom", "name": "apply_patch"},
    ]
    assert echoed_tools(tools) == [
        {"type": "function", "name": "f", "parameters": {"type": "object"}, "strict": False},
        {"type": "custom", "name": "apply_patch"},
    ]
