"""The Chat Completions codec: requests, JSON responses, errors and both stream directions.

Recorded traffic in ../shared/corpus/chat drives most tests; hand-made inputs cover the server
quirks the recordings lack (id-less tool calls, missing ``index``, names arriving late, ...).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from canonical_contract import check_contract, decode_stream
from conftest import corpus_files, load_json, make_context
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from validators.chat import validate_chat_stream

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
from asgi_translate._hub.sse import SSEDecoder, format_event
from asgi_translate.schemas import get_codec
from asgi_translate.schemas.openai_chat import (
    CODEC,
    ChatStreamDecoder,
    ChatStreamEncoder,
    parse_error,
    parse_request,
    parse_response,
    render_error,
    render_request,
    render_response,
)
from asgi_translate.schemas.openai_chat._render_request import ATTACHMENT_NOTE

CHAT_REQUESTS = corpus_files("chat", ".request.json")
CHAT_STREAMS = corpus_files("chat", ".sse")
CHAT_ERRORS = [
    p for p in corpus_files("chat", ".json") if re.search(r"error-\d{3}", p.name) and "request" not in p.name
]
CHAT_RESPONSES = [p for p in corpus_files("chat", ".json") if "request" not in p.name and p not in CHAT_ERRORS]


def _request(**fields: Any) -> Request:
    return Request(model=fields.pop("model", "gpt-4o"), messages=fields.pop("messages", []), **fields)


def _body(*messages: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"model": "gpt-4o", "messages": list(messages), **fields}


def _user(content: Any) -> dict[str, Any]:
    return {"role": "user", "content": content}


def test_codec_is_registered_under_chat() -> None:
    assert CODEC.name == "chat"
    assert get_codec("chat") is CODEC
    assert CODEC.decoder is ChatStreamDecoder and CODEC.encoder is ChatStreamEncoder


# ============================================================================================
# parse_request


def test_leading_system_messages_are_the_prompt_and_later_ones_stay_in_place() -> None:
    req = parse_request(
        _body(
            {"role": "system", "content": "Be brief."},
            {"role": "developer", "content": "Be kind."},
            _user("Hi"),
            {"role": "developer", "content": [{"type": "text", "text": "Use French."}]},
            {"role": "assistant", "content": "Bonjour"},
        )
    )
    assert req.system == ["Be brief.", "Be kind."]
    assert req.messages == [
        Message("user", [TextPart("Hi")]),
        Message("system", [TextPart("Use French.")]),
        Message("assistant", [TextPart("Bonjour")]),
    ]


def test_user_parts_text_image_url_data_url_and_file() -> None:
    req = parse_request(
        _body(
            _user(
                [
                    {"type": "text", "text": "What is this?"},
                    {"type": "image_url", "image_url": {"url": "https://x.test/cat.png", "detail": "low"}},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
                    {
                        "type": "file",
                        "file": {"file_data": "data:application/pdf;base64,JVBERi0=", "filename": "a.pdf"},
                    },
                    {"type": "file", "file": {"file_id": "file-123"}},
                ]
            )
        )
    )
    assert req.messages[0].content == [
        TextPart("What is this?"),
        ImagePart(url="https://x.test/cat.png", detail="low"),
        ImagePart(data="iVBORw0KGgo=", media_type="image/png"),
        FilePart(data="JVBERi0=", media_type="application/pdf", filename="a.pdf"),
        FilePart(file_id="file-123"),
    ]


def test_input_audio_part_is_rejected_naming_the_field() -> None:
    body = load_json(next(p for p in CHAT_REQUESTS if p.name == "openai-audio-input-nonstream.request.json"))
    with pytest.raises(UnsupportedFeatureError) as info:
        parse_request(body)
    assert info.value.param == "messages[0].content[1].type"
    assert info.value.status == 400


def test_assistant_history_keeps_reasoning_text_refusal_and_tool_call_ids() -> None:
    req = parse_request(
        _body(
            _user("Weather?"),
            {
                "role": "assistant",
                "content": "Checking.",
                "reasoning_content": "The user wants weather.",
                "refusal": "Partly not.",
                "tool_calls": [
                    {
                        "id": "call_A",
                        "type": "function",
                        "function": {"name": "weather", "arguments": '{"city":"Paris"}'},
                    }
                ],
            },
        )
    )
    assert req.messages[1] == Message(
        "assistant",
        [
            ReasoningPart(text="The user wants weather."),
            TextPart("Checking."),
            RefusalPart("Partly not."),
            ToolCallPart(id="call_A", name="weather", arguments='{"city":"Paris"}'),
        ],
    )


def test_assistant_reasoning_field_of_vllm_is_read() -> None:
    req = parse_request(_body(_user("Q"), {"role": "assistant", "content": "A", "reasoning": "think"}))
    assert req.messages[1].content == [ReasoningPart(text="think"), TextPart("A")]


def test_reasoning_details_carry_signatures_and_redacted_data() -> None:
    details = [
        {"type": "reasoning.text", "text": "Step one.", "signature": "sig-1", "index": 0},
        {"type": "reasoning.encrypted", "data": "opaque==", "index": 1},
    ]
    message = {"role": "assistant", "content": "Done", "reasoning_content": "Step one.", "reasoning_details": details}
    req = parse_request(_body(_user("Q"), message))
    assert req.messages[1].content == [
        ReasoningPart(text="Step one.", signature="sig-1"),
        ReasoningPart(signature="opaque==", redacted=True),
        TextPart("Done"),
    ]


def test_signature_only_detail_takes_the_reasoning_content_text() -> None:
    """What our own stream encoder produces: the text in reasoning_content, the signature alone."""
    details = [{"type": "reasoning.text", "text": "", "signature": "sig-9", "index": 0}]
    message = {"role": "assistant", "content": "4", "reasoning_content": "2+2 is 4.", "reasoning_details": details}
    req = parse_request(_body(_user("Q"), message))
    assert req.messages[1].content[0] == ReasoningPart(text="2+2 is 4.", signature="sig-9")


def test_consecutive_tool_messages_and_the_next_user_message_form_one_user_turn() -> None:
    req = parse_request(
        _body(
            _user("Go"),
            {
                "role": "assistant",
                "tool_calls": [
                    {"id": "c1", "type": "function", "function": {"name": "a", "arguments": "{}"}},
                    {"id": "c2", "type": "function", "function": {"name": "b", "arguments": "{}"}},
                ],
            },
            {"role": "tool", "tool_call_id": "c1", "content": "one"},
            {"role": "system", "content": "Mid-conversation rule."},
            {
                "role": "tool",
                "tool_call_id": "c2",
                "content": [
                    {"type": "text", "text": "two"},
                    {"type": "image_url", "image_url": {"url": "https://x.test/p.png"}},
                ],
            },
            _user("Thanks"),
            _user("Again"),
        )
    )
    assert req.system == []
    # The system message among the tool results follows them, before the next user text.
    assert [m.role for m in req.messages] == ["user", "assistant", "user", "system", "user", "user"]
    assert req.messages[2].content == [
        ToolResultPart("c1", [TextPart("one")]),
        ToolResultPart("c2", [TextPart("two"), ImagePart(url="https://x.test/p.png")]),
    ]
    assert req.messages[3].content == [TextPart("Mid-conversation rule.")]
    assert [m.content for m in req.messages[4:]] == [[TextPart("Thanks")], [TextPart("Again")]]


def test_tools_tool_choice_and_parallel_tool_calls() -> None:
    tool = {
        "type": "function",
        "function": {
            "name": "weather",
            "description": "Get weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
            "strict": True,
        },
    }
    req = parse_request(
        _body(
            _user("x"),
            tools=[tool],
            tool_choice={"type": "function", "function": {"name": "weather"}},
            parallel_tool_calls=False,
        )
    )
    assert req.tools == [
        Tool("weather", "Get weather", {"type": "object", "properties": {"city": {"type": "string"}}}, strict=True)
    ]
    assert req.tool_choice == ToolChoice("tool", "weather")
    assert req.parallel_tool_calls is False
    for choice in ("auto", "none", "required"):
        assert parse_request(_body(_user("x"), tool_choice=choice)).tool_choice == ToolChoice(choice)


def test_allowed_tools_choice_narrows_the_tool_list() -> None:
    tools = [{"type": "function", "function": {"name": name}} for name in ("a", "b", "c")]
    choice = {
        "type": "allowed_tools",
        "allowed_tools": {"mode": "required", "tools": [{"type": "function", "function": {"name": "b"}}]},
    }
    req = parse_request(_body(_user("x"), tools=tools, tool_choice=choice))
    assert [tool.name for tool in req.tools] == ["b"]
    assert req.tool_choice == ToolChoice("required")


def test_scalar_options() -> None:
    req = parse_request(
        _body(
            _user("x"),
            max_tokens=100,
            max_completion_tokens=200,
            temperature=0.2,
            top_p=0.9,
            stop="END",
            user="u-1",
            stream=True,
            stream_options={"include_usage": True},
            metadata={"team": "a"},
        )
    )
    assert (req.max_tokens, req.temperature, req.top_p, req.stop, req.user) == (200, 0.2, 0.9, ["END"], "u-1")
    assert (req.stream, req.include_usage, req.metadata) == (True, True, {"team": "a"})
    assert parse_request(_body(_user("x"), max_tokens=7, stop=["a", "b"])).stop == ["a", "b"]
    assert parse_request(_body(_user("x"), max_tokens=7)).max_tokens == 7
    # include_usage means nothing without stream
    assert parse_request(_body(_user("x"), stream_options={"include_usage": True})).include_usage is False


def test_reasoning_effort_maps_to_budget() -> None:
    assert parse_request(_body(_user("x"), reasoning_effort="high")).reasoning == Reasoning("high", 16384)
    assert parse_request(_body(_user("x"), reasoning_effort="none")).reasoning == Reasoning("none", None, enabled=False)
    # OpenRouter's reasoning object, as in the recorded openrouter/snowflake requests
    assert parse_request(_body(_user("x"), reasoning={"effort": "low"})).reasoning == Reasoning("low", 2048)
    assert parse_request(_body(_user("x"), reasoning={"max_tokens": 9000})).reasoning == Reasoning("medium", 9000)
    assert parse_request(_body(_user("x"), reasoning={"enabled": False})).reasoning == Reasoning(enabled=False)
    with pytest.raises(RequestTranslationError) as info:
        parse_request(_body(_user("x"), reasoning_effort="extreme"))
    assert info.value.param == "reasoning_effort"


def test_response_format_json_schema_and_json_object() -> None:
    spec = {"type": "json_schema", "json_schema": {"name": "City", "schema": {"type": "object"}, "strict": True}}
    assert parse_request(_body(_user("x"), response_format=spec)).response_format == ResponseFormat(
        "json_schema", name="City", schema={"type": "object"}, strict=True
    )
    json_object = parse_request(_body(_user("x"), response_format={"type": "json_object"}))
    assert json_object.response_format == ResponseFormat("json_object")
    assert parse_request(_body(_user("x"), response_format={"type": "text"})).response_format is None


@pytest.mark.parametrize(
    ("field", "value", "param"),
    [
        ("n", 3, "n"),
        ("modalities", ["text", "audio"], "modalities"),
        ("audio", {"voice": "alloy", "format": "wav"}, "audio"),
        ("web_search_options", {"search_context_size": "low"}, "web_search_options"),
        ("functions", [{"name": "f"}], "functions"),
    ],
)
def test_fields_that_would_change_the_answer_are_rejected(field: str, value: Any, param: str) -> None:
    with pytest.raises(UnsupportedFeatureError) as info:
        parse_request(_body(_user("x"), **{field: value}))
    assert info.value.param == param


def test_dropped_fields_are_listed_in_losses() -> None:
    req = parse_request(
        _body(
            {"role": "user", "content": "x", "name": "bob"},
            n=1,
            modalities=["text"],
            logprobs=True,
            top_logprobs=3,
            seed=7,
            frequency_penalty=0.5,
            presence_penalty=0.1,
            logit_bias={"50256": -100},
            service_tier="flex",
            store=False,
            prediction={"type": "content", "content": "x"},
        )
    )
    assert req.losses == [
        "messages[].name dropped",
        "logprobs dropped",
        "top_logprobs dropped",
        "seed dropped",
        "frequency_penalty dropped",
        "presence_penalty dropped",
        "logit_bias dropped",
        "service_tier dropped",
        "prediction dropped",
    ]


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"messages": [_user("x")]}, "model"),
        ({"model": "m", "messages": []}, "messages"),
        ({"model": "m", "messages": "hi"}, "messages"),
        ({"model": "m", "messages": ["hi"]}, "messages[0]"),
        ({"model": "m", "messages": [{"role": "robot", "content": "x"}]}, "messages[0].role"),
        (
            {"model": "m", "messages": [_user("x"), _user([{"type": "video", "video": {}}])]},
            "messages[1].content[0].type",
        ),
        ({"model": "m", "messages": [_user([{"type": "text"}])]}, "messages[0].content[0].text"),
        ({"model": "m", "messages": [{"role": "tool", "content": "x"}]}, "messages[0].tool_call_id"),
        ({"model": "m", "messages": [_user("x")], "temperature": "hot"}, "temperature"),
        ({"model": "m", "messages": [_user("x")], "max_tokens": 0}, "max_tokens"),
        (
            {"model": "m", "messages": [_user("x")], "tools": [{"type": "function", "function": {}}]},
            "tools[0].function.name",
        ),
        ({"model": "m", "messages": [_user("x")], "tool_choice": "sometimes"}, "tool_choice"),
    ],
)
def test_malformed_requests_name_the_field(body: dict[str, Any], param: str) -> None:
    with pytest.raises(RequestTranslationError) as info:
        parse_request(body)
    assert info.value.param == param
    assert info.value.status == 400


def test_non_function_tools_are_unsupported() -> None:
    with pytest.raises(UnsupportedFeatureError) as info:
        parse_request(_body(_user("x"), tools=[{"type": "custom", "custom": {"name": "grep"}}]))
    assert info.value.param == "tools[0].type"


# ============================================================================================
# render_request


def test_render_request_full_conversation() -> None:
    req = _request(
        model="qwen3",
        system=["Be brief.", "Use tools."],
        messages=[
            Message("user", [TextPart("Look"), ImagePart(data="AAAA", media_type="image/png", detail="high")]),
            Message(
                "assistant",
                [
                    ReasoningPart(text="Need the tool.", signature="sig-1"),
                    TextPart("Calling."),
                    ToolCallPart(id="toolu_1", name="weather", arguments='{"city":"Paris"}'),
                ],
            ),
            Message(
                "user",
                [
                    ToolResultPart("toolu_1", [TextPart("sunny"), ImagePart(url="https://x.test/sky.png")]),
                    TextPart("And tomorrow?"),
                ],
            ),
        ],
        tools=[Tool("weather", "Get weather", {"type": "object"}, strict=True)],
        tool_choice=ToolChoice("tool", "weather"),
        parallel_tool_calls=True,
        max_tokens=512,
        temperature=0.5,
        top_p=0.8,
        stop=["END"],
        user="u-1",
        stream=True,
        reasoning=Reasoning(budget_tokens=20000),
        response_format=ResponseFormat("json_schema", name="W", schema={"type": "object"}, strict=True),
        metadata={"user_id": "u-1"},
    )
    assert render_request(req, make_context(req)) == {
        "model": "qwen3",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "system", "content": "Use tools."},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "Look"},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA", "detail": "high"}},
                ],
            },
            {
                "role": "assistant",
                "content": "Calling.",
                "reasoning_content": "Need the tool.",
                "reasoning": "Need the tool.",
                "reasoning_details": [
                    {"type": "reasoning.text", "text": "Need the tool.", "index": 0, "signature": "sig-1"}
                ],
                "tool_calls": [
                    {
                        "id": "toolu_1",
                        "type": "function",
                        "function": {"name": "weather", "arguments": '{"city":"Paris"}'},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "toolu_1", "content": "sunny"},
            {
                "role": "user",
                "content": [
                    {"type": "image_url", "image_url": {"url": "https://x.test/sky.png"}},
                    {"type": "text", "text": "And tomorrow?"},
                ],
            },
        ],
        "tools": [
            {
                "type": "function",
                "function": {
                    "name": "weather",
                    "description": "Get weather",
                    "parameters": {"type": "object"},
                    "strict": True,
                },
            }
        ],
        "tool_choice": {"type": "function", "function": {"name": "weather"}},
        "parallel_tool_calls": True,
        "max_tokens": 512,
        "temperature": 0.5,
        "top_p": 0.8,
        "stop": ["END"],
        "user": "u-1",
        "reasoning_effort": "high",
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": "W", "schema": {"type": "object"}, "strict": True},
        },
        "stream": True,
        "stream_options": {"include_usage": True},
    }


def test_render_request_tool_result_with_only_an_image_and_parallel_results() -> None:
    req = _request(
        messages=[
            Message(
                "user",
                [
                    ToolResultPart("c1", [ImagePart(data="QQ==", media_type="image/jpeg")]),
                    ToolResultPart("c2", [TextPart("ok")]),
                ],
            )
        ]
    )
    assert render_request(req, make_context(req))["messages"] == [
        {"role": "tool", "tool_call_id": "c1", "content": ATTACHMENT_NOTE},
        {"role": "tool", "tool_call_id": "c2", "content": "ok"},
        {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,QQ=="}}]},
    ]


def test_render_request_redacted_reasoning_and_plain_reasoning() -> None:
    redacted = _request(
        messages=[
            Message(
                "assistant", [ReasoningPart(text="hm"), ReasoningPart(signature="ZZZ", redacted=True), TextPart("4")]
            )
        ]
    )
    assert render_request(redacted, make_context(redacted))["messages"] == [
        {
            "role": "assistant",
            "content": "4",
            "reasoning_content": "hm",
            "reasoning": "hm",
            "reasoning_details": [
                {"type": "reasoning.text", "text": "hm", "index": 0},
                {"type": "reasoning.encrypted", "data": "ZZZ", "index": 1},
            ],
        }
    ]
    plain = _request(messages=[Message("assistant", [ReasoningPart(text="hm"), TextPart("4")])])
    # no signature to carry: the plain text only, in both fields servers read (DeepSeek's, vLLM's)
    assert render_request(plain, make_context(plain))["messages"] == [
        {"role": "assistant", "content": "4", "reasoning_content": "hm", "reasoning": "hm"}
    ]
    vllm = make_context(plain, reasoning_fields=("reasoning",))
    assert render_request(plain, vllm)["messages"] == [{"role": "assistant", "content": "4", "reasoning": "hm"}]


def test_render_request_custom_tools_become_single_string_functions() -> None:
    req = _request(
        messages=[
            Message("user", [TextPart("grep it")]),
            Message("assistant", [ToolCallPart(id="call_9", name="grep", arguments='needle "x"', custom=True)]),
            Message("user", [ToolResultPart("call_9", [TextPart("3 matches")], custom=True)]),
        ],
        tools=[Tool("grep", "Search", custom=True, format={"type": "text"})],
    )
    body = render_request(req, make_context(req))
    assert body["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "grep",
                "description": "Search",
                "parameters": {
                    "type": "object",
                    "properties": {"input": {"type": "string"}},
                    "required": ["input"],
                    "additionalProperties": False,
                },
            },
        }
    ]
    call = body["messages"][1]["tool_calls"][0]
    assert json.loads(call["function"]["arguments"]) == {"input": 'needle "x"'}
    assert body["messages"][2] == {"role": "tool", "tool_call_id": "call_9", "content": "3 matches"}


def test_render_request_defaults() -> None:
    req = _request(messages=[Message("user", [TextPart("hi")])], reasoning=Reasoning(enabled=False))
    assert render_request(req, make_context(req)) == {
        "model": "gpt-4o",
        "messages": [{"role": "user", "content": "hi"}],
        "stream": False,
    }
    effort = _request(
        messages=[Message("user", [TextPart("hi")])], reasoning=Reasoning(effort="low", budget_tokens=2048)
    )
    assert render_request(effort, make_context(effort))["reasoning_effort"] == "low"
    json_object = _request(messages=[Message("user", [TextPart("hi")])], response_format=ResponseFormat("json_object"))
    assert render_request(json_object, make_context(json_object))["response_format"] == {"type": "json_object"}


def test_render_request_file_by_url_is_unsupported() -> None:
    req = _request(messages=[Message("user", [FilePart(url="https://x.test/a.pdf")])])
    with pytest.raises(UnsupportedFeatureError):
        render_request(req, make_context(req))


# -- round trip over the recorded requests ----------------------------------------------------


def _digest(body: dict[str, Any]) -> list[tuple[Any, ...]]:
    """What a chat request says, ignoring layout: texts, images, reasoning, calls and results."""
    out: list[tuple[Any, ...]] = []
    for message in body["messages"]:
        role = "system" if message["role"] in ("system", "developer") else message["role"]
        reasoning = message.get("reasoning_content") or message.get("reasoning")
        if reasoning:
            out.append((role, "reasoning", reasoning))
        content = message.get("content")
        parts: list[dict[str, Any]] = [{"type": "text", "text": content}] if isinstance(content, str) else content or []
        for part in parts:
            if part["type"] == "text" and part["text"]:
                out.append((role, "text", part["text"], message.get("tool_call_id")))
            elif part["type"] == "image_url":
                out.append((role, "image", part["image_url"]["url"]))
        for call in message.get("tool_calls") or []:
            out.append(("call", call["id"], call["function"]["name"], call["function"]["arguments"]))
    return out


#: Recorded requests we refuse, and the field the 400 names.
REJECTED_REQUESTS = {
    "openai-audio-input-nonstream.request.json": "messages[0].content[1].type",
    "error-400-model-not-supported.request.json": "web_search_options",
}


@pytest.mark.parametrize("path", CHAT_REQUESTS, ids=lambda p: p.name)
def test_recorded_request_round_trip_keeps_content(path: Path) -> None:
    body = load_json(path)
    if path.name in REJECTED_REQUESTS:
        with pytest.raises(UnsupportedFeatureError) as info:
            parse_request(body)
        assert info.value.param == REJECTED_REQUESTS[path.name]
        return
    req = parse_request(body)
    rendered = render_request(req, make_context(req))
    assert _digest(rendered) == _digest(body)
    again = parse_request(rendered)
    assert again.system == req.system
    assert again.messages == req.messages
    assert again.tools == req.tools
    assert (again.tool_choice, again.stream, again.reasoning) == (req.tool_choice, req.stream, req.reasoning)
    assert (again.response_format, again.max_tokens, again.temperature) == (
        req.response_format,
        req.max_tokens,
        req.temperature,
    )


def test_recorded_request_values() -> None:
    by_name = {p.name: p for p in CHAT_REQUESTS}
    followup = parse_request(load_json(by_name["deepseek-reasoning-tool-followup-nonstream.request.json"]))
    assert len(followup.system) == 2
    assert followup.messages[1].content[0] == ReasoningPart(
        text=load_json(by_name["deepseek-reasoning-tool-followup-nonstream.request.json"])["messages"][3][
            "reasoning_content"
        ]
    )
    assert isinstance(followup.messages[2].content[0], ToolResultPart)
    assert followup.messages[2].content[0].call_id == "call_00_sXqYgMESDht75NCLLZtt9804"
    multiturn = parse_request(load_json(by_name["openai-multiturn-tool-results-stream.request.json"]))
    results = [p.call_id for p in multiturn.messages[2].content if isinstance(p, ToolResultPart)]
    assert results == ["call_q2UyBRP7eXNTzAoR8lEhjc9Z", "call_b51ijcpFkDiTQG1bQzsrmtW5"]
    assert (multiturn.tool_choice, multiturn.include_usage) == (ToolChoice("required"), True)
    schema = parse_request(load_json(by_name["ollama-local-json-schema-nonstream.request.json"]))
    assert schema.response_format is not None and schema.response_format.name == "CityLocation"
    routed = parse_request(load_json(by_name["openrouter-cached-tokens-stream.request.json"]))
    assert routed.losses == ["models dropped", "provider dropped", "transforms dropped"]


# ============================================================================================
# parse_response / render_response


@pytest.mark.parametrize("path", CHAT_RESPONSES, ids=lambda p: p.name)
def test_recorded_responses_parse(path: Path) -> None:
    body = load_json(path)
    resp = parse_response(body)
    assert resp.id == body["id"]
    assert resp.model == body["model"]
    assert resp.stop_reason in ("end_turn", "tool_use")
    assert resp.usage is not None and resp.usage.input_tokens == body["usage"]["prompt_tokens"]
    message = body["choices"][0]["message"]
    texts = [p.text for p in resp.content if isinstance(p, TextPart)]
    assert texts == ([message["content"]] if message.get("content") else [])
    calls = [(p.id, p.name, p.arguments) for p in resp.content if isinstance(p, ToolCallPart)]
    assert calls == [
        (c["id"], c["function"]["name"], c["function"]["arguments"]) for c in message.get("tool_calls") or []
    ]
    reasoning = message.get("reasoning_content") or message.get("reasoning")
    assert [p.text for p in resp.content if isinstance(p, ReasoningPart)] == ([reasoning] if reasoning else [])
    ChatCompletion.model_validate(render_response(resp, make_context(_request())))


def test_parse_response_values() -> None:
    by_name = {p.name: p for p in CHAT_RESPONSES}
    deepseek = parse_response(load_json(by_name["deepseek-reasoning-tool-call-nonstream.json"]))
    assert isinstance(deepseek.content[0], ReasoningPart)
    assert deepseek.content[0].text.startswith("The user wants to play a dice game.")
    assert deepseek.content[1:] == [
        TextPart("Let me load the dice rolling capability!"),
        ToolCallPart("call_00_sXqYgMESDht75NCLLZtt9804", "load_capability", '{"id": "DICE_ROLL"}'),
    ]
    assert deepseek.usage == Usage(563, 116, cache_read_tokens=512, reasoning_tokens=60)
    assert (deepseek.stop_reason, deepseek.created) == ("tool_use", 1781082253)
    cached = parse_response(load_json(by_name["openai-cached-tokens-nonstream.json"]))
    assert cached.usage == Usage(4020, 4, cache_read_tokens=4012)
    assert cached.content == [TextPart("OK")]
    vllm = parse_response(load_json(by_name["vllm-reasoning-nonstream.json"]))
    assert vllm.content[1] == TextPart("2 + 2 = 4.")
    assert vllm.usage is not None and vllm.usage.reasoning_tokens == 108
    ollama = parse_response(load_json(by_name["ollama-cloud-tool-call-reasoning-nonstream.json"]))
    assert [p.type for p in ollama.content] == ["reasoning", "tool_call"]  # content "" dropped
    parallel = parse_response(load_json(by_name["deepseek-reasoning-tool-followup-nonstream.json"]))
    assert [p.name for p in parallel.content if isinstance(p, ToolCallPart)] == ["get_player_name", "roll_dice"]


def test_parse_response_openrouter_reasoning_details_with_signature() -> None:
    body = {
        "id": "gen-1",
        "model": "anthropic/claude-sonnet-4.5",
        "created": 1,
        "choices": [
            {
                "index": 0,
                "finish_reason": "length",
                "message": {
                    "role": "assistant",
                    "content": "4",
                    "reasoning": "2+2=4",
                    "reasoning_details": [
                        {"type": "reasoning.text", "text": "2+2", "index": 0},
                        {"type": "reasoning.text", "text": "=4", "signature": "SIG", "index": 0},
                        {"type": "reasoning.encrypted", "data": "ENC", "index": 1},
                    ],
                },
            }
        ],
    }
    resp = parse_response(body)
    assert resp.content == [
        ReasoningPart(text="2+2=4", signature="SIG"),
        ReasoningPart(signature="ENC", redacted=True),
        TextPart("4"),
    ]
    assert (resp.stop_reason, resp.usage) == ("max_tokens", None)


def test_render_response() -> None:
    resp = Response(
        id="msg_01",
        model="claude-x",
        content=[
            ReasoningPart(text="think", signature="S1"),
            TextPart("Hello"),
            ToolCallPart("toolu_1", "weather", '{"city":"Oslo"}'),
            ToolCallPart("call_2", "grep", "raw input", custom=True),
        ],
        stop_reason="tool_use",
        usage=Usage(100, 20, cache_read_tokens=60, cache_write_tokens=10, reasoning_tokens=5),
    )
    body = render_response(resp, make_context(_request(), client_model="my-model"))
    assert body == {
        "id": "msg_01",
        "object": "chat.completion",
        "created": 1700000000,
        "model": "my-model",
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": "Hello",
                    "reasoning_content": "think",
                    "reasoning": "think",
                    "reasoning_details": [{"type": "reasoning.text", "text": "think", "index": 0, "signature": "S1"}],
                    "refusal": None,
                    "tool_calls": [
                        {
                            "id": "toolu_1",
                            "type": "function",
                            "function": {"name": "weather", "arguments": '{"city":"Oslo"}'},
                        },
                        {
                            "id": "call_2",
                            "type": "function",
                            "function": {"name": "grep", "arguments": '{"input":"raw input"}'},
                        },
                    ],
                },
                "logprobs": None,
                "finish_reason": "tool_calls",
            }
        ],
        "usage": {
            "prompt_tokens": 100,
            "completion_tokens": 20,
            "total_tokens": 120,
            "prompt_tokens_details": {"cached_tokens": 60, "cache_write_tokens": 10},
            "completion_tokens_details": {"reasoning_tokens": 5},
        },
    }
    ChatCompletion.model_validate(body)


@pytest.mark.parametrize(
    ("reason", "finish"),
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("pause_turn", "stop"),
        ("max_tokens", "length"),
        ("tool_use", "tool_calls"),
        ("content_filter", "content_filter"),
        ("refusal", "content_filter"),
        (None, "stop"),
    ],
)
def test_render_response_finish_reasons_and_generated_id(reason: Any, finish: str) -> None:
    resp = Response(id="", model="m", content=[RefusalPart("No.")], stop_reason=reason, created=5)
    body = render_response(resp, make_context(_request()))
    assert body["choices"][0]["finish_reason"] == finish
    assert (body["id"], body["created"]) == ("chatcmpl-test0001", 5)
    assert body["choices"][0]["message"] == {"role": "assistant", "content": None, "refusal": "No."}
    assert "usage" not in body


# ============================================================================================
# errors

ERROR_EXPECTED = {
    "error-400-invalid-request.json": ("invalid_request_error", "unsupported_value"),
    "error-400-model-not-supported.json": ("invalid_request_error", None),
    "error-400-unsupported-parameter.json": ("invalid_request_error", "unsupported_parameter"),
    "groq-error-400-tool-use-failed.json": ("invalid_request_error", "tool_use_failed"),
    "groq-error-404-model.json": ("not_found_error", "model_not_found"),
    "openrouter-error-429.json": ("rate_limit_error", "429"),
}


@pytest.mark.parametrize("path", CHAT_ERRORS, ids=lambda p: p.name)
def test_recorded_error_bodies(path: Path) -> None:
    match = re.search(r"error-(\d{3})", path.name)
    assert match is not None
    status = int(match.group(1))
    info = parse_error(status, path.read_bytes())
    body = load_json(path)
    assert (info.status, info.type, info.code) == (status, *ERROR_EXPECTED[path.name])
    assert info.message.startswith(body["error"]["message"])
    assert render_error(info)[0] == status


def test_parse_error_openrouter_includes_the_provider_message() -> None:
    path = next(p for p in CHAT_ERRORS if p.name == "openrouter-error-429.json")
    info = parse_error(429, path.read_bytes())
    assert info.message.startswith(
        "Provider returned error: google/gemini-2.0-flash-exp:free is temporarily rate-limited"
    )


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (
            422,
            b'{"detail": [{"loc": ["body", "messages"], "msg": "field required"}]}',
            ("invalid_request_error", "messages: field required"),
        ),
        (500, b'{"detail": "boom"}', ("api_error", "boom")),
        (
            400,
            b'{"object": "error", "message": "bad model", "type": "BadRequestError", "param": null, "code": 400}',
            ("invalid_request_error", "bad model"),
        ),
        (401, b'{"message": "no key"}', ("authentication_error", "no key")),
        (503, b"<html>Service Unavailable</html>", ("overloaded_error", "<html>Service Unavailable</html>")),
        (502, b"", ("bad_gateway_error", "upstream returned HTTP 502")),
        (429, b'{"error": "slow down"}', ("rate_limit_error", "slow down")),
    ],
)
def test_parse_error_tolerates_other_envelopes(status: int, body: bytes, expected: tuple[str, str]) -> None:
    info = parse_error(status, body)
    assert (info.type, info.message) == expected
    assert info.status == status


def test_render_error() -> None:
    assert render_error(ErrorInfo(529, "overloaded_error", "busy")) == (
        503,
        {"error": {"message": "busy", "type": "server_error", "param": None, "code": None}},
    )
    assert render_error(ErrorInfo(400, "invalid_request_error", "bad", param="messages[0]", code="x")) == (
        400,
        {"error": {"message": "bad", "type": "invalid_request_error", "param": "messages[0]", "code": "x"}},
    )
    assert render_error(ErrorInfo(402, "billing_error", "pay"))[1]["error"]["type"] == "insufficient_quota"


# ============================================================================================
# stream decoder


def decode_bytes(raw: bytes, request: Request | None = None) -> list[StreamEvent]:
    return decode_stream(ChatStreamDecoder(make_context(request or _request())), raw)


def decode_chunks(*chunks: dict[str, Any] | str) -> list[StreamEvent]:
    raw = b"".join(format_event(c if isinstance(c, str) else json.dumps(c)) for c in chunks)
    return decode_bytes(raw)


def _corpus_stream(name: str) -> bytes:
    return next(p for p in CHAT_STREAMS if p.name == name).read_bytes()


def _blocks(events: list[StreamEvent]) -> list[tuple[str, str | None, str | None, str, str | None]]:
    """(kind, call_id, name, text, signature) per block, in opening order."""
    starts: dict[int, BlockStart] = {}
    texts: dict[int, str] = {}
    signatures: dict[int, str | None] = {}
    for event in events:
        if isinstance(event, BlockStart):
            starts[event.index], texts[event.index] = event, ""
        elif isinstance(event, BlockDelta):
            texts[event.index] += event.text
        elif isinstance(event, BlockStop):
            signatures[event.index] = event.signature
    return [(s.kind, s.call_id, s.name, texts[i], signatures.get(i)) for i, s in starts.items()]


@pytest.mark.parametrize("path", CHAT_STREAMS, ids=lambda p: p.name)
def test_recorded_streams_follow_the_contract(path: Path) -> None:
    events = decode_bytes(path.read_bytes())
    check_contract(events)
    if path.name != "groq-midstream-error-stream.sse":
        assert isinstance(events[-1], Finish)
        assert sum(isinstance(e, UsageUpdate) for e in events) == 1


def test_parallel_tool_calls_stream() -> None:
    events = decode_bytes(_corpus_stream("openai-parallel-tool-calls-stream.sse"))
    assert _blocks(events) == [
        (
            "tool_call",
            "call_JMW1whyEaYG438VE1OIflxA2",
            "GetWeatherArgs",
            '{"city": "Edinburgh", "country": "GB", "units": "c"}',
            None,
        ),
        (
            "tool_call",
            "call_DNYTawLBoN8fj3KN6qU9N1Ou",
            "get_stock_price",
            '{"ticker": "AAPL", "exchange": "NASDAQ"}',
            None,
        ),
    ]
    assert events[0] == MessageStart("chatcmpl-ABfwAwrNePHUgBBezonVC6MX3zd63", "gpt-4o-2024-08-06")
    assert events[-4:] == [UsageUpdate(Usage(149, 60)), BlockStop(0), BlockStop(1), Finish("tool_use")]


def test_deepseek_reasoning_then_text() -> None:
    blocks = _blocks(decode_bytes(_corpus_stream("deepseek-reasoning-content-stream.sse")))
    assert [b[0] for b in blocks] == ["reasoning", "text"]
    assert blocks[0][3].startswith('Hmm, the user just said "Hello".')
    assert blocks[1][3] == "Hello there! 😊 How can I help you today?"


def test_groq_midstream_error_becomes_stream_error() -> None:
    events = decode_bytes(_corpus_stream("groq-midstream-error-stream.sse"))
    error = events[-1]
    assert isinstance(error, StreamError)
    assert (error.type, error.status) == ("invalid_request_error", 400)
    assert error.message.startswith("Tool call validation failed")
    assert _blocks(events)[0][0] == "reasoning"  # left open: the encoder closes what its schema needs


def test_openrouter_signature_and_encrypted_reasoning() -> None:
    blocks = _blocks(decode_bytes(_corpus_stream("openrouter-reasoning-details-stream.sse")))
    assert blocks[0][:4] == ("reasoning", None, None, "This is a simple arithmetic question. 2+2 equals 4.")
    assert blocks[0][4] is not None and blocks[0][4].startswith("Et0BCkgIChACGAIqQA2s7h7tA7IG35fb")
    assert blocks[1][:4] == ("text", None, None, "2 + 2 = 4")
    cached = decode_bytes(_corpus_stream("openrouter-cached-tokens-stream.sse"))
    redacted = _blocks(cached)[0]
    assert (
        redacted[0] == "redacted_reasoning" and redacted[4] is not None and redacted[4].startswith("B7oH6rUO9kQMWKmZ")
    )
    assert UsageUpdate(Usage(687, 187, cache_read_tokens=679, reasoning_tokens=118)) in cached


def test_vendor_quirks_in_recordings() -> None:
    n3 = _blocks(decode_bytes(_corpus_stream("openai-n3-choices-stream.sse")))
    assert n3 == [("text", None, None, '{"city":"San Francisco","temperature":65,"units":"f"}', None)]
    qwen = _blocks(decode_bytes(_corpus_stream("qwen-tool-call-stream.sse")))  # id "" on later deltas
    assert qwen == [("tool_call", "call_eee11723464a4b9eb8cee71d", "weather", '{"location": "San Francisco"}', None)]
    xai = decode_bytes(_corpus_stream("xai-grok-reasoning-tool-call-stream.sse"))  # reasoning outside completion
    assert UsageUpdate(Usage(291, 222, cache_read_tokens=290, reasoning_tokens=196)) in xai
    snowflake = decode_bytes(_corpus_stream("snowflake-reasoning-details-stream.sse"))  # no finish_reason at all
    assert snowflake[-1] == Finish("end_turn")
    assert _blocks(snowflake)[0][:4] == ("reasoning", None, None, "15 * 27 = 405")
    groq = decode_bytes(_corpus_stream("groq-tool-call-stream.sse"))  # usage in x_groq, no [DONE]
    assert groq[-3:] == [UsageUpdate(Usage(210, 15)), BlockStop(0), Finish("tool_use")]
    length = decode_bytes(_corpus_stream("openai-length-finish-stream.sse"))
    assert length[-1] == Finish("max_tokens")


def _chunk(delta: dict[str, Any] | None = None, finish: str | None = None, **extra: Any) -> dict[str, Any]:
    choices = [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}]
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "m",
        "choices": choices,
        **extra,
    }


def test_tool_call_quirks_repeated_ids_missing_ids_and_one_shot_calls() -> None:
    events = decode_chunks(
        _chunk({"role": "assistant", "content": "Sure.", "tool_calls": []}),
        _chunk(
            {"tool_calls": [{"index": 0, "id": "c0", "type": "function", "function": {"name": "a", "arguments": "{"}}]}
        ),
        _chunk({"tool_calls": [{"index": 0, "id": "c0", "type": "function", "function": {"arguments": "}"}}]}),
        _chunk({"tool_calls": [{"index": 1, "function": {"name": "b", "arguments": '{"x":1}'}}]}),
        _chunk({"tool_calls": [{"index": 2, "id": "c2"}]}),  # name comes later
        _chunk({"tool_calls": [{"index": 2, "function": {"arguments": "{}"}}]}),
        _chunk({"tool_calls": [{"index": 2, "function": {"name": "c"}}]}),
        _chunk({}, "tool_calls"),
        "[DONE]",
    )
    check_contract(events)
    assert _blocks(events) == [
        ("text", None, None, "Sure.", None),
        ("tool_call", "c0", "a", "{}", None),
        ("tool_call", "call_test0001", "b", '{"x":1}', None),
        ("tool_call", "c2", "c", "{}", None),
    ]
    assert events[-1] == Finish("tool_use")


def test_tool_calls_without_index_are_routed_by_id() -> None:
    events = decode_chunks(
        _chunk({"tool_calls": [{"id": "a1", "function": {"name": "a", "arguments": '{"q":'}}]}),
        _chunk({"tool_calls": [{"function": {"arguments": "1}"}}]}),
        _chunk({"tool_calls": [{"id": "b1", "function": {"name": "b", "arguments": "{}"}}]}),
        _chunk({}, "tool_calls"),
    )
    check_contract(events)
    assert [(b[1], b[3]) for b in _blocks(events)] == [("a1", '{"q":1}'), ("b1", "{}")]


def test_kind_change_closes_the_previous_block_and_tool_blocks_stay_open() -> None:
    events = decode_chunks(
        _chunk({"reasoning_content": "think"}),
        _chunk({"content": "Hi"}),
        _chunk({"tool_calls": [{"index": 0, "id": "c", "function": {"name": "f", "arguments": ""}}]}),
        _chunk({"content": " there"}),
        _chunk({"refusal": "no"}),
        _chunk({"tool_calls": [{"index": 0, "function": {"arguments": "{}"}}]}),
        _chunk({}, "stop"),
        _chunk(None, usage={"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}),
        "[DONE]",
    )
    check_contract(events)
    assert events[1:] == [
        BlockStart(0, "reasoning"),
        BlockDelta(0, "think"),
        BlockStop(0),
        BlockStart(1, "text"),
        BlockDelta(1, "Hi"),
        BlockStop(1),
        BlockStart(2, "tool_call", call_id="c", name="f"),
        BlockStart(3, "text"),
        BlockDelta(3, " there"),
        BlockStop(3),
        BlockStart(4, "refusal"),
        BlockDelta(4, "no"),
        BlockDelta(2, "{}"),
        UsageUpdate(Usage(3, 4)),
        BlockStop(4),
        BlockStop(2),
        Finish("tool_use"),
    ]


def test_finish_waits_for_done_and_flush_handles_missing_done() -> None:
    decoder = ChatStreamDecoder(make_context(_request()))
    assert decoder.decode(_sse(_chunk({"content": "a"}))) == [
        MessageStart("chatcmpl-1", "m"),
        BlockStart(0, "text"),
        BlockDelta(0, "a"),
    ]
    assert decoder.decode(_sse(_chunk({}, "length"))) == []
    assert decoder.flush() == [BlockStop(0), Finish("max_tokens")]
    assert decoder.flush() == []


def _sse(chunk: dict[str, Any] | str) -> Any:
    return SSEDecoder().decode(format_event(chunk if isinstance(chunk, str) else json.dumps(chunk)))[0]


@pytest.mark.parametrize(
    ("chunks", "message"),
    [
        ([], "the upstream chat stream ended before its first chunk"),
        ([_chunk({"content": "a"})], "the upstream chat stream ended before a finish_reason"),
        (["[DONE]"], "the upstream chat stream ended before its first chunk"),
    ],
)
def test_cut_streams_end_with_stream_error(chunks: list[Any], message: str) -> None:
    events = decode_chunks(*chunks)
    assert events[-1] == StreamError("api_error", message, 502)
    check_contract(events)


def test_error_chunk_without_event_line_and_non_json_data() -> None:
    events = decode_chunks(
        _chunk({"content": "a"}), {"error": {"message": "overloaded", "type": "server_error", "code": 503}}
    )
    assert events[-1] == StreamError("overloaded_error", "overloaded", 503)
    garbage = decode_chunks(_chunk({"content": "a"}), "not json")
    assert isinstance(garbage[-1], StreamError) and garbage[-1].status == 502
    # nothing after the terminator
    decoder = ChatStreamDecoder(make_context(_request()))
    decoder.decode(_sse(_chunk({}, "stop")))
    assert decoder.decode(_sse("[DONE]")) == [Finish("end_turn")]
    assert decoder.decode(_sse(_chunk({"content": "late"}))) == []


def test_id_less_first_chunk_gets_generated_id_and_request_model() -> None:
    events = decode_chunks({"choices": [{"index": 0, "delta": {"content": "x"}}], "id": "", "model": ""}, "[DONE]")
    assert events[0] == MessageStart("chatcmpl-test0001", "gpt-4o")


# ============================================================================================
# stream encoder

BASE = 'data: {"id":"chatcmpl-abc","object":"chat.completion.chunk","created":1700000000,"model":"my-model"'
HEAD = BASE + ',"choices":[{"index":0,"delta":'
TAIL = ',"logprobs":null,"finish_reason":null}]}\n\n'

EVENTS: list[StreamEvent] = [
    MessageStart("chatcmpl-abc", "upstream-model"),
    BlockStart(0, "reasoning"),
    BlockDelta(0, "Let me think"),
    BlockStop(0, "sig-123"),
    BlockStart(1, "text"),
    BlockDelta(1, 'Hi "you"'),
    BlockStop(1),
    BlockStart(2, "tool_call", call_id="call_1", name="get_weather"),
    BlockDelta(2, '{"city":'),
    BlockStart(3, "tool_call", call_id="call_2", name="grep", custom=True),
    BlockDelta(2, '"Paris"}'),
    BlockDelta(3, "a\nb"),
    BlockStop(3),
    BlockStop(2),
    UsageUpdate(Usage(10, 0)),
    UsageUpdate(Usage(0, 5, cache_read_tokens=3, reasoning_tokens=2)),
    Finish("tool_use"),
]

EXPECTED_FRAMES = [
    HEAD + '{"role":"assistant","content":""}' + TAIL,
    HEAD + '{"reasoning_content":"Let me think","reasoning":"Let me think"}' + TAIL,
    HEAD + '{"reasoning_details":[{"type":"reasoning.text","text":"","signature":"sig-123","index":0}]}' + TAIL,
    HEAD + '{"content":"Hi \\"you\\""}' + TAIL,
    HEAD
    + '{"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"get_weather","arguments":""}}]}'
    + TAIL,
    HEAD + '{"tool_calls":[{"index":0,"function":{"arguments":"{\\"city\\":"}}]}' + TAIL,
    HEAD
    + '{"tool_calls":[{"index":1,"id":"call_2","type":"function","function":{"name":"grep","arguments":""}}]}'
    + TAIL,
    HEAD + '{"tool_calls":[{"index":0,"function":{"arguments":"\\"Paris\\"}"}}]}' + TAIL,
    HEAD + '{"tool_calls":[{"index":1,"function":{"arguments":"{\\"input\\":\\"a\\\\nb\\"}"}}]}' + TAIL,
    HEAD + '{},"logprobs":null,"finish_reason":"tool_calls"}]}\n\n',
]
USAGE_FRAME = (
    BASE + ',"choices":[],"usage":{"prompt_tokens":10,"completion_tokens":5,"total_tokens":15,'
    '"prompt_tokens_details":{"cached_tokens":3},"completion_tokens_details":{"reasoning_tokens":2}}}\n\n'
)


def encode_all(events: list[StreamEvent], *, include_usage: bool) -> bytes:
    req = _request(stream=True, include_usage=include_usage)
    encoder = ChatStreamEncoder(make_context(req, client_model="my-model"))
    return b"".join(encoder.encode(event) for event in events)


@pytest.mark.parametrize("include_usage", [True, False])
def test_encoder_exact_output(include_usage: bool) -> None:
    expected = "".join(EXPECTED_FRAMES) + (USAGE_FRAME if include_usage else "") + "data: [DONE]\n\n"
    raw = encode_all(EVENTS, include_usage=include_usage)
    assert raw.decode() == expected
    summary = validate_chat_stream(raw)
    assert (summary.text, summary.reasoning, summary.signatures) == ('Hi "you"', "Let me think", ["sig-123"])
    assert [(c.id, c.name, json.loads(c.arguments)) for c in summary.tool_calls] == [
        ("call_1", "get_weather", {"city": "Paris"}),
        ("call_2", "grep", {"input": "a\nb"}),
    ]
    for event in SSEDecoder().decode(raw)[:-1]:
        ChatCompletionChunk.model_validate_json(event.data)


def test_encoder_redacted_refusal_and_error_form() -> None:
    events: list[StreamEvent] = [
        MessageStart("msg_1", "claude"),
        BlockStart(0, "redacted_reasoning"),
        BlockStop(0, "opaque"),
        BlockStart(1, "refusal"),
        BlockDelta(1, "I can't"),
        StreamError("overloaded_error", "Overloaded", 529),
        Finish("end_turn"),  # ignored after the terminator
    ]
    raw = encode_all(events, include_usage=True).decode()
    head = HEAD.replace("chatcmpl-abc", "msg_1")
    assert raw == (
        head + '{"role":"assistant","content":""}' + TAIL
        + head + '{"reasoning_details":[{"type":"reasoning.encrypted","data":"opaque","index":0}]}' + TAIL
        + head + '{"refusal":"I can\'t"}' + TAIL
        + 'data: {"error":{"message":"Overloaded","type":"server_error","code":null,"param":null}}\n\n'
        + "data: [DONE]\n\n"
    )  # fmt: skip
    summary = validate_chat_stream(raw.encode())
    assert (summary.refusal, summary.redacted) == ("I can't", ["opaque"])
    assert summary.error == {"message": "Overloaded", "type": "server_error", "code": None, "param": None}


def test_encoder_error_before_message_start_and_finish_without_usage() -> None:
    raw = encode_all([StreamError("api_error", "cut", 502)], include_usage=False)
    assert (
        raw == b'data: {"error":{"message":"cut","type":"server_error","code":null,"param":null}}\n\ndata: [DONE]\n\n'
    )
    empty = encode_all([MessageStart("x", "m"), Finish(None)], include_usage=True)
    summary = validate_chat_stream(empty)
    assert summary.stop_reason == "stop"
    assert summary.usage["total_tokens"] == 0


@pytest.mark.parametrize(
    "path", [p for p in CHAT_STREAMS if p.name != "groq-midstream-error-stream.sse"], ids=lambda p: p.name
)
def test_chat_stream_decoded_then_encoded_keeps_text_and_tool_calls(path: Path) -> None:
    events = decode_bytes(path.read_bytes())
    raw = encode_all(events, include_usage=True)
    summary = validate_chat_stream(raw)
    blocks = _blocks(events)
    assert summary.text == "".join(b[3] for b in blocks if b[0] == "text")
    assert summary.reasoning == "".join(b[3] for b in blocks if b[0] == "reasoning")
    assert summary.refusal == "".join(b[3] for b in blocks if b[0] == "refusal")
    assert [(c.id, c.name, c.arguments) for c in summary.tool_calls] == [b[1:4] for b in blocks if b[0] == "tool_call"]
    usage = [e for e in events if isinstance(e, UsageUpdate)][-1].usage
    assert (summary.usage["prompt_tokens"], summary.usage["completion_tokens"]) == (
        usage.input_tokens,
        usage.output_tokens,
    )
    for event in SSEDecoder().decode(raw)[:-1]:
        ChatCompletionChunk.model_validate_json(event.data)


def test_groq_midstream_error_reencoded_as_chat_error_chunk() -> None:
    raw = encode_all(decode_bytes(_corpus_stream("groq-midstream-error-stream.sse")), include_usage=True)
    summary = validate_chat_stream(raw)
    assert summary.error is not None and summary.error["type"] == "invalid_request_error"
    assert summary.reasoning.startswith("We need to call the tool")


def test_one_key_deltas_switch_blocks_and_keep_their_finish_reason() -> None:
    """The decoder's fast path (one-key content or content-null reasoning deltas while that block
    is open) must leave block switches, empty pieces and finish reasons to the general path."""
    events = decode_chunks(
        _chunk({"content": None, "reasoning_content": "Think"}),  # opens reasoning: general path
        _chunk({"content": None, "reasoning_content": " more"}),  # fast path
        _chunk({"content": None, "reasoning_content": ""}),  # empty: nothing
        _chunk({"content": "Hi"}),  # switches to text
        _chunk({"content": ""}),
        _chunk({"content": " there"}),  # fast path
        _chunk({"content": None, "reasoning_content": "again"}),  # switches back
        _chunk({"content": "!"}, "stop"),  # a finish_reason on a text chunk is kept
        "[DONE]",
    )
    assert events[1:] == [
        BlockStart(0, "reasoning"),
        BlockDelta(0, "Think"),
        BlockDelta(0, " more"),
        BlockStop(0),
        BlockStart(1, "text"),
        BlockDelta(1, "Hi"),
        BlockDelta(1, " there"),
        BlockStop(1),
        BlockStart(2, "reasoning"),
        BlockDelta(2, "again"),
        BlockStop(2),
        BlockStart(3, "text"),
        BlockDelta(3, "!"),
        BlockStop(3),
        Finish("end_turn"),
    ]
