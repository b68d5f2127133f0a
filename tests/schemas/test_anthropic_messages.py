"""The Anthropic Messages spoke: requests, JSON responses, errors and both stream directions.

Concrete values come from the recorded traffic in ../shared/corpus/messages (see its MANIFEST.md);
the encoder's output is also fed to the official ``anthropic`` SDK to prove a real client accepts it.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import anthropic
import httpx2
import pytest
from canonical_contract import check_contract, decode_stream
from conftest import corpus_files, load_json, make_context

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
from asgi_translate._hub.context import Context
from asgi_translate._hub.errors import (
    ErrorInfo,
    RequestTranslationError,
    StreamTranslationError,
    UnsupportedFeatureError,
)
from asgi_translate._hub.json import dumpb
from asgi_translate._hub.sse import ServerSentEvent, SSEDecoder
from asgi_translate.schemas import get_codec
from asgi_translate.schemas.anthropic_messages import (
    CODEC,
    MessagesStreamDecoder,
    MessagesStreamEncoder,
    parse_error,
    parse_request,
    parse_response,
    render_error,
    render_request,
    render_response,
)
from asgi_translate.schemas.anthropic_messages._fields import message_usage, usage_out

REQUESTS = corpus_files("messages", ".request.json")
STREAMS = corpus_files("messages", ".sse")
RESPONSES = [path for path in corpus_files("messages", ".json") if not path.name.endswith(".request.json")]
ERRORS = [path for path in RESPONSES if path.name.startswith("error-")]
MESSAGES = [path for path in RESPONSES if not path.name.startswith("error-")]
SERVER_TOOL_REQUESTS = {"server-tool-code-execution-stream.request.json", "web-search-server-tool-stream.request.json"}


def ctx(request: Request | None = None, **overrides: Any) -> Context:
    request = request or Request(model="upstream-model", messages=[])
    return make_context(request, **{"client_model": "client-model", **overrides})


def body(**fields: Any) -> dict[str, Any]:
    """A minimal valid Messages request with ``fields`` on top."""
    return {"model": "claude-sonnet-4-5", "max_tokens": 1024, "messages": [{"role": "user", "content": "Hi"}], **fields}


def request(*messages: Message, **fields: Any) -> Request:
    return Request(model="claude-sonnet-4-5", messages=list(messages), **fields)


def user(*parts: Any) -> Message:
    return Message("user", list(parts))


def assistant(*parts: Any) -> Message:
    return Message("assistant", list(parts))


# =============================================================================================
# parse_request


def test_codec_is_registered_under_messages() -> None:
    assert CODEC.name == "messages"
    assert get_codec("messages") is CODEC
    assert CODEC.decoder is MessagesStreamDecoder and CODEC.encoder is MessagesStreamEncoder


def test_parse_minimal_request() -> None:
    req = parse_request(body())
    assert req.model == "claude-sonnet-4-5"
    assert req.max_tokens == 1024
    assert req.messages == [Message("user", [TextPart("Hi")])]
    assert req.system == [] and req.tools == [] and req.losses == []
    assert req.stream is False and req.include_usage is False


def test_parse_stream_always_includes_usage() -> None:
    req = parse_request(body(stream=True))
    assert req.stream is True and req.include_usage is True


def test_parse_system_string() -> None:
    assert parse_request(body(system="Be brief.")).system == ["Be brief."]
    assert parse_request(body(system="")).system == []


def test_parse_system_blocks_drop_cache_control() -> None:
    system = [
        {"type": "text", "text": "You are a pirate."},
        {"type": "text", "text": "Answer in French.", "cache_control": {"type": "ephemeral"}},
    ]
    req = parse_request(body(system=system))
    assert req.system == ["You are a pirate.", "Answer in French."]
    assert req.losses == ["cache_control dropped"]


def test_parse_system_rejects_non_text_block() -> None:
    with pytest.raises(RequestTranslationError) as exc:
        parse_request(body(system=[{"type": "image", "source": {}}]))
    assert exc.value.param == "system[0].type"


@pytest.mark.parametrize(
    ("missing", "param"),
    [("model", "model"), ("max_tokens", "max_tokens"), ("messages", "messages")],
)
def test_parse_missing_required_field(missing: str, param: str) -> None:
    raw = body()
    del raw[missing]
    with pytest.raises(RequestTranslationError) as exc:
        parse_request(raw)
    assert exc.value.param == param
    assert exc.value.status == 400


@pytest.mark.parametrize("value", ["1024", 0, -5, True, 10.5])
def test_parse_bad_max_tokens(value: Any) -> None:
    with pytest.raises(RequestTranslationError, match="max_tokens"):
        parse_request(body(max_tokens=value))


def test_parse_unknown_role() -> None:
    with pytest.raises(RequestTranslationError) as exc:
        parse_request(body(messages=[{"role": "tool", "content": "x"}]))
    assert exc.value.param == "messages[0].role"


def test_parse_unknown_block_type() -> None:
    raw = body(messages=[{"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "hologram"}]}])
    with pytest.raises(RequestTranslationError) as exc:
        parse_request(raw)
    assert exc.value.param == "messages[0].content[1].type"
    assert not isinstance(exc.value, UnsupportedFeatureError)


def test_parse_block_in_wrong_role() -> None:
    raw = body(messages=[{"role": "assistant", "content": [{"type": "tool_result", "tool_use_id": "t1"}]}])
    with pytest.raises(RequestTranslationError, match="belongs in a user message"):
        parse_request(raw)


def test_parse_text_block_wrong_type() -> None:
    with pytest.raises(RequestTranslationError) as exc:
        parse_request(body(messages=[{"role": "user", "content": [{"type": "text", "text": 5}]}]))
    assert exc.value.param == "messages[0].content[0].text"


def test_parse_images() -> None:
    content = [
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo"}},
        {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}},
    ]
    req = parse_request(body(messages=[{"role": "user", "content": content}]))
    assert req.messages[0].content == [
        ImagePart(data="iVBORw0KGgo", media_type="image/png"),
        ImagePart(url="https://example.com/cat.jpg"),
    ]


def test_parse_documents() -> None:
    content = [
        {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0x"}},
        {"type": "document", "source": {"type": "url", "url": "https://example.com/a.pdf"}, "title": "a.pdf"},
        {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "plain words"}},
    ]
    req = parse_request(body(messages=[{"role": "user", "content": content}]))
    assert req.messages[0].content == [
        FilePart(data="JVBERi0x", media_type="application/pdf"),
        FilePart(url="https://example.com/a.pdf", filename="a.pdf"),
        TextPart("plain words"),
    ]
    assert req.losses == ["plain-text document sent as text"]


def test_parse_file_source_is_unsupported() -> None:
    content = [{"type": "document", "source": {"type": "file", "file_id": "file_011"}}]
    with pytest.raises(UnsupportedFeatureError) as exc:
        parse_request(body(messages=[{"role": "user", "content": content}]))
    assert exc.value.param == "messages[0].content[0].source.type"


def test_parse_tool_use_and_result() -> None:
    messages = [
        {"role": "user", "content": "Weather in SF?"},
        {
            "role": "assistant",
            "content": [
                {
                    "type": "tool_use",
                    "id": "toolu_018acGYLtfR52q9yDbWaEdQZ",
                    "name": "get_weather",
                    "input": {"location": "San Francisco, CA", "units": "f"},
                    "caller": {"type": "direct"},
                }
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "toolu_018acGYLtfR52q9yDbWaEdQZ", "content": "68F"},
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_2",
                    "is_error": True,
                    "content": [
                        {"type": "text", "text": "chart:"},
                        {"type": "image", "source": {"type": "url", "url": "https://x/c.png"}},
                    ],
                },
                {"type": "tool_result", "tool_use_id": "toolu_3"},
            ],
        },
    ]
    req = parse_request(body(messages=messages))
    call = req.messages[1].content[0]
    assert call == ToolCallPart(
        id="toolu_018acGYLtfR52q9yDbWaEdQZ",
        name="get_weather",
        arguments='{"location":"San Francisco, CA","units":"f"}',
    )
    assert req.messages[2].content == [
        ToolResultPart(call_id="toolu_018acGYLtfR52q9yDbWaEdQZ", content=[TextPart("68F")]),
        ToolResultPart(
            call_id="toolu_2", content=[TextPart("chart:"), ImagePart(url="https://x/c.png")], is_error=True
        ),
        ToolResultPart(call_id="toolu_3", content=[]),
    ]
    assert req.losses == []


def test_parse_tool_result_with_unsupported_inner_block() -> None:
    content = [{"type": "tool_result", "tool_use_id": "t", "content": [{"type": "search_result", "source": "x"}]}]
    with pytest.raises(UnsupportedFeatureError) as exc:
        parse_request(body(messages=[{"role": "user", "content": content}]))
    assert exc.value.param == "messages[0].content[0].content[0].type"


def test_parse_thinking_blocks() -> None:
    content = [
        {"type": "thinking", "thinking": "Let me think.", "signature": "EqEECkYICxgC"},
        {"type": "redacted_thinking", "data": "EvgFCkYIBxgC"},
        {"type": "thinking", "thinking": "unsigned", "signature": ""},
        {"type": "text", "text": "Done."},
    ]
    req = parse_request(body(messages=[{"role": "user", "content": "q"}, {"role": "assistant", "content": content}]))
    assert req.messages[1].content == [
        ReasoningPart(text="Let me think.", signature="EqEECkYICxgC"),
        ReasoningPart(redacted=True, signature="EvgFCkYIBxgC"),
        ReasoningPart(text="unsigned", signature=None),
        TextPart("Done."),
    ]


@pytest.mark.parametrize("kind", ["server_tool_use", "web_search_tool_result", "bash_code_execution_tool_result"])
def test_parse_server_tool_blocks_in_history_are_rejected(kind: str) -> None:
    content = [{"type": kind, "id": "srvtoolu_1", "tool_use_id": "srvtoolu_1", "name": "web_search", "input": {}}]
    raw = body(messages=[{"role": "user", "content": "q"}, {"role": "assistant", "content": content}])
    with pytest.raises(UnsupportedFeatureError) as exc:
        parse_request(raw)
    assert exc.value.param == "messages[1].content[0].type"
    assert kind in exc.value.message
    assert exc.value.status == 400


def test_parse_citations_dropped_with_note() -> None:
    content = [{"type": "text", "text": "Paris.", "citations": [{"type": "char_location", "cited_text": "P"}]}]
    req = parse_request(body(messages=[{"role": "user", "content": "q"}, {"role": "assistant", "content": content}]))
    assert req.messages[1].content == [TextPart("Paris.")]
    assert req.losses == ["citations dropped"]


def test_parse_custom_tools() -> None:
    schema = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
    tools = [
        {"name": "get_weather", "description": "Weather now", "input_schema": schema, "strict": True},
        {"type": "custom", "name": "noop", "input_schema": {"type": "object"}, "cache_control": {"type": "ephemeral"}},
    ]
    req = parse_request(body(tools=tools))
    assert req.tools == [
        Tool(name="get_weather", description="Weather now", parameters=schema, strict=True),
        Tool(name="noop", parameters={"type": "object"}),
    ]
    assert req.losses == ["tools[].cache_control dropped"]


@pytest.mark.parametrize(
    "tool",
    [
        {"type": "web_search_20250305", "name": "web_search"},
        {"type": "code_execution_20250825", "name": "code_execution"},
        {"type": "bash_20250124", "name": "bash"},
        {"type": "text_editor_20250728", "name": "str_replace_based_edit_tool"},
    ],
)
def test_parse_server_tools_are_rejected(tool: dict[str, Any]) -> None:
    with pytest.raises(UnsupportedFeatureError) as exc:
        parse_request(body(tools=[{"name": "ok", "input_schema": {"type": "object"}}, tool]))
    assert exc.value.param == "tools[1].type"
    assert tool["type"] in exc.value.message and tool["name"] in exc.value.message


def test_parse_tool_without_input_schema() -> None:
    with pytest.raises(RequestTranslationError) as exc:
        parse_request(body(tools=[{"name": "x"}]))
    assert exc.value.param == "tools[0].input_schema"


@pytest.mark.parametrize(
    ("choice", "expected", "parallel"),
    [
        ({"type": "auto"}, ToolChoice("auto"), None),
        ({"type": "any"}, ToolChoice("required"), None),
        ({"type": "none"}, ToolChoice("none"), None),
        ({"type": "tool", "name": "get_weather"}, ToolChoice("tool", "get_weather"), None),
        ({"type": "auto", "disable_parallel_tool_use": True}, ToolChoice("auto"), False),
        ({"type": "any", "disable_parallel_tool_use": False}, ToolChoice("required"), None),
    ],
)
def test_parse_tool_choice(choice: dict[str, Any], expected: ToolChoice, parallel: bool | None) -> None:
    req = parse_request(body(tool_choice=choice))
    assert req.tool_choice == expected
    assert req.parallel_tool_calls is parallel


def test_parse_tool_choice_tool_needs_name() -> None:
    with pytest.raises(RequestTranslationError) as exc:
        parse_request(body(tool_choice={"type": "tool"}))
    assert exc.value.param == "tool_choice.name"


def test_parse_sampling_and_metadata() -> None:
    req = parse_request(
        body(temperature=0.3, top_p=0.9, top_k=40, stop_sequences=["END", "```"], metadata={"user_id": "u-42"})
    )
    assert (req.temperature, req.top_p, req.stop, req.user) == (0.3, 0.9, ["END", "```"], "u-42")
    assert req.losses == ["top_k dropped"]


def test_parse_temperature_must_be_number() -> None:
    with pytest.raises(RequestTranslationError) as exc:
        parse_request(body(temperature="hot"))
    assert exc.value.param == "temperature"


@pytest.mark.parametrize(
    ("thinking", "expected"),
    [
        ({"type": "enabled", "budget_tokens": 1024}, Reasoning(effort="low", budget_tokens=1024)),
        ({"type": "enabled", "budget_tokens": 10000}, Reasoning(effort="medium", budget_tokens=10000)),
        ({"type": "enabled", "budget_tokens": 20000}, Reasoning(effort="high", budget_tokens=20000)),
        ({"type": "adaptive"}, Reasoning(effort="medium")),
        ({"type": "disabled"}, None),
    ],
)
def test_parse_thinking(thinking: dict[str, Any], expected: Reasoning | None) -> None:
    assert parse_request(body(thinking=thinking)).reasoning == expected


def test_parse_thinking_display_is_a_loss() -> None:
    req = parse_request(body(thinking={"type": "enabled", "budget_tokens": 2048, "display": "summarized"}))
    assert req.reasoning == Reasoning(effort="low", budget_tokens=2048)
    assert req.losses == ["thinking.display dropped"]


def test_parse_output_config_effort() -> None:
    assert parse_request(body(output_config={"effort": "max"})).reasoning == Reasoning(effort="max")
    adaptive = parse_request(body(thinking={"type": "adaptive"}, output_config={"effort": "low"}))
    assert adaptive.reasoning == Reasoning(effort="low")
    with pytest.raises(RequestTranslationError) as exc:
        parse_request(body(output_config={"effort": "extreme"}))
    assert exc.value.param == "output_config.effort"


def test_parse_output_config_format() -> None:
    schema = {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}
    req = parse_request(body(output_config={"format": {"type": "json_schema", "schema": schema}}))
    assert req.response_format == ResponseFormat(type="json_schema", schema=schema, strict=True)
    beta = parse_request(body(output_format={"type": "json_schema", "schema": schema}))
    assert beta.response_format == req.response_format


def test_parse_bad_output_format() -> None:
    with pytest.raises(RequestTranslationError) as exc:
        parse_request(body(output_config={"format": {"type": "json_object"}}))
    assert exc.value.param == "output_config.format"


def test_parse_dropped_and_unknown_fields() -> None:
    req = parse_request(body(service_tier="auto", container="container_1", inference_geo="us", frobnicate=1))
    assert req.losses == [
        "service_tier dropped",
        "container dropped",
        "inference_geo dropped",
        "unknown field frobnicate dropped",
    ]


def test_parse_mcp_servers_rejected() -> None:
    with pytest.raises(UnsupportedFeatureError) as exc:
        parse_request(body(mcp_servers=[{"type": "url", "url": "https://mcp.example.com", "name": "x"}]))
    assert exc.value.param == "mcp_servers"


# =============================================================================================
# render_request


def test_render_minimal_uses_default_max_tokens() -> None:
    out = render_request(request(user(TextPart("Hi"))), ctx(default_max_tokens=2000))
    assert out == {
        "model": "claude-sonnet-4-5",
        "max_tokens": 2000,
        "messages": [{"role": "user", "content": [{"type": "text", "text": "Hi"}]}],
        "stream": False,
    }


def test_render_system_as_text_blocks() -> None:
    out = render_request(request(user(TextPart("Hi")), system=["Be brief.", "", "Speak French."]), ctx())
    assert out["system"] == [{"type": "text", "text": "Be brief."}, {"type": "text", "text": "Speak French."}]


def test_render_merges_same_role_turns_and_puts_tool_results_first() -> None:
    req = request(
        user(TextPart("Weather in Paris and the time?")),
        assistant(TextPart("Checking.")),
        assistant(
            ToolCallPart("call_a", "get_weather", '{"city":"Paris"}'),
            ToolCallPart("call_b", "get_time", ""),
        ),
        user(ToolResultPart("call_a", [TextPart("18C")])),
        user(TextPart("Also, be brief."), ToolResultPart("call_b", [TextPart("12:00")], is_error=True)),
    )
    out = render_request(req, ctx())
    assert out["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "Weather in Paris and the time?"}]},
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Checking."},
                {"type": "tool_use", "id": "call_a", "name": "get_weather", "input": {"city": "Paris"}},
                {"type": "tool_use", "id": "call_b", "name": "get_time", "input": {}},
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "call_a", "content": "18C"},
                {"type": "tool_result", "tool_use_id": "call_b", "content": "12:00", "is_error": True},
                {"type": "text", "text": "Also, be brief."},
            ],
        },
    ]


def test_render_drops_empty_text_and_empty_turns() -> None:
    req = request(user(TextPart("Hi")), assistant(TextPart("")), user(TextPart("Again")))
    out = render_request(req, ctx())
    assert out["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "Hi"}, {"type": "text", "text": "Again"}]}
    ]


def test_render_images() -> None:
    req = request(
        user(
            ImagePart(data="iVBORw0KGgoAAA", media_type="image/png"),
            ImagePart(data="/9j/4AAQSkZJRg"),
            ImagePart(url="https://example.com/cat.jpg", detail="high"),
            ImagePart(url="data:image/gif;base64,R0lGODlhAQ"),
        )
    )
    content = render_request(req, ctx())["messages"][0]["content"]
    assert content == [
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgoAAA"}},
        {"type": "image", "source": {"type": "base64", "media_type": "image/jpeg", "data": "/9j/4AAQSkZJRg"}},
        {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}},
        {"type": "image", "source": {"type": "base64", "media_type": "image/gif", "data": "R0lGODlhAQ"}},
    ]


def test_render_files() -> None:
    req = request(user(FilePart(data="JVBERi0x", filename="report.pdf"), FilePart(url="https://x/a.pdf")))
    assert render_request(req, ctx())["messages"][0]["content"] == [
        {
            "type": "document",
            "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0x"},
            "title": "report.pdf",
        },
        {"type": "document", "source": {"type": "url", "url": "https://x/a.pdf"}},
    ]
    with pytest.raises(UnsupportedFeatureError, match="file_id"):
        render_request(request(user(FilePart(file_id="file-abc"))), ctx())


def test_render_tool_result_with_image() -> None:
    part = ToolResultPart("call_1", [TextPart("chart"), ImagePart(data="iVBORw0KGgo", media_type="image/png")])
    out = render_request(request(user(part)), ctx())
    assert out["messages"][0]["content"] == [
        {
            "type": "tool_result",
            "tool_use_id": "call_1",
            "content": [
                {"type": "text", "text": "chart"},
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo"}},
            ],
        }
    ]


def test_render_invalid_tool_arguments_names_the_message() -> None:
    req = request(user(TextPart("q")), assistant(ToolCallPart("call_1", "f", '{"a": ')))
    with pytest.raises(RequestTranslationError) as exc:
        render_request(req, ctx())
    assert exc.value.param == "messages[1]"
    assert "call_1" in exc.value.message


def test_render_custom_tool_call_input() -> None:
    req = request(user(TextPart("q")), assistant(ToolCallPart("call_1", "shell", "ls -la", custom=True)))
    content = render_request(req, ctx())["messages"][1]["content"]
    assert content == [{"type": "tool_use", "id": "call_1", "name": "shell", "input": {"input": "ls -la"}}]


def test_render_reasoning_parts() -> None:
    req = request(
        user(TextPart("q")),
        assistant(
            ReasoningPart(text="signed thought", signature="EqEECkYI"),
            ReasoningPart(redacted=True, signature="EvgFCkYI"),
            ReasoningPart(text="vllm thought"),
            RefusalPart("I can't help with that."),
        ),
    )
    out = render_request(req, ctx())
    assert out["messages"][1]["content"] == [
        {"type": "thinking", "thinking": "signed thought", "signature": "EqEECkYI"},
        {"type": "redacted_thinking", "data": "EvgFCkYI"},
        {"type": "text", "text": "I can't help with that."},
    ]
    assert req.losses == ["unsigned reasoning dropped from history"]


def test_render_reasoning_without_max_tokens_raises_the_cap() -> None:
    req = request(user(TextPart("q")), reasoning=Reasoning(effort="high"))
    out = render_request(req, ctx(default_max_tokens=4096))
    assert out["thinking"] == {"type": "enabled", "budget_tokens": 16384}
    assert out["max_tokens"] == 16384 + 4096
    assert req.losses == []


def test_render_reasoning_budget_fits_an_explicit_cap() -> None:
    req = request(user(TextPart("q")), reasoning=Reasoning(effort="high"), max_tokens=8000)
    out = render_request(req, ctx())
    assert out["max_tokens"] == 8000
    assert out["thinking"] == {"type": "enabled", "budget_tokens": 7999}


def test_render_reasoning_budget_tokens_kept_and_floored() -> None:
    out = render_request(request(user(TextPart("q")), reasoning=Reasoning(budget_tokens=3000), max_tokens=4096), ctx())
    assert out["thinking"] == {"type": "enabled", "budget_tokens": 3000}
    out = render_request(request(user(TextPart("q")), reasoning=Reasoning(budget_tokens=100)), ctx())
    assert out["thinking"] == {"type": "enabled", "budget_tokens": 1024}


def test_render_reasoning_dropped_when_cap_too_small() -> None:
    req = request(user(TextPart("q")), reasoning=Reasoning(effort="low"), max_tokens=500)
    out = render_request(req, ctx())
    assert "thinking" not in out and out["max_tokens"] == 500
    assert req.losses == ["reasoning dropped (max_tokens 500 leaves no room for a thinking budget)"]


@pytest.mark.parametrize("reasoning", [Reasoning(effort="none"), Reasoning(effort="high", enabled=False)])
def test_render_reasoning_off(reasoning: Reasoning) -> None:
    out = render_request(request(user(TextPart("q")), reasoning=reasoning), ctx())
    assert "thinking" not in out and out["max_tokens"] == 4096


def test_render_reasoning_dropped_when_tool_forced() -> None:
    req = request(
        user(TextPart("q")),
        reasoning=Reasoning(effort="low"),
        tools=[Tool("f")],
        tool_choice=ToolChoice("required"),
    )
    out = render_request(req, ctx())
    assert "thinking" not in out
    assert out["tool_choice"] == {"type": "any"}
    assert req.losses == ["reasoning dropped (Anthropic cannot think when a tool call is forced)"]


def test_render_reasoning_dropped_when_tool_turn_has_no_thinking() -> None:
    req = request(
        user(TextPart("q")),
        assistant(ReasoningPart(text="unsigned"), ToolCallPart("call_1", "f", "{}")),
        user(ToolResultPart("call_1", [TextPart("ok")])),
        reasoning=Reasoning(effort="low"),
        tools=[Tool("f")],
    )
    out = render_request(req, ctx())
    assert "thinking" not in out
    assert req.losses == [
        "unsigned reasoning dropped from history",
        "reasoning dropped (the pending tool call turn has no signed thinking to replay)",
    ]


def test_render_reasoning_kept_when_tool_turn_replays_signed_thinking() -> None:
    req = request(
        user(TextPart("q")),
        assistant(ReasoningPart(text="t", signature="sig"), ToolCallPart("call_1", "f", "{}")),
        user(ToolResultPart("call_1", [TextPart("ok")])),
        reasoning=Reasoning(effort="low"),
        tools=[Tool("f")],
    )
    assert render_request(req, ctx())["thinking"] == {"type": "enabled", "budget_tokens": 2048}


def test_render_temperature_clamped() -> None:
    req = request(user(TextPart("q")), temperature=1.7)
    assert render_request(req, ctx())["temperature"] == 1
    assert req.losses == ["temperature 1.7 clamped to 1 (Anthropic's range is 0-1)"]


def test_render_temperature_and_top_p_not_both() -> None:
    req = request(user(TextPart("q")), temperature=0.2, top_p=0.9)
    out = render_request(req, ctx())
    assert out["temperature"] == 0.2 and "top_p" not in out
    assert req.losses == ["top_p dropped (Anthropic takes temperature or top_p, not both)"]
    assert render_request(request(user(TextPart("q")), top_p=0.9), ctx())["top_p"] == 0.9


def test_render_sampling_with_thinking() -> None:
    req = request(user(TextPart("q")), temperature=0.2, top_p=0.5, reasoning=Reasoning(effort="low"))
    out = render_request(req, ctx())
    assert "temperature" not in out and "top_p" not in out
    assert req.losses == [
        "temperature dropped (thinking needs the default temperature)",
        "top_p dropped (thinking needs top_p >= 0.95)",
    ]


def test_render_stop_user_and_stream() -> None:
    req = request(user(TextPart("q")), stop=["END", "\n", "```"], user="u-7", stream=True)
    out = render_request(req, ctx())
    assert out["stop_sequences"] == ["END", "```"]
    assert out["metadata"] == {"user_id": "u-7"}
    assert out["stream"] is True
    assert req.losses == ["whitespace-only stop sequences dropped"]


def test_render_tools() -> None:
    params = {"type": "object", "properties": {"city": {"type": "string"}}}
    req = request(
        user(TextPart("q")),
        tools=[
            Tool("get_weather", "Weather now", params, strict=True),
            Tool("shell", "Run a command", custom=True, format={"type": "grammar"}),
        ],
    )
    out = render_request(req, ctx())
    assert out["tools"] == [
        {"name": "get_weather", "description": "Weather now", "input_schema": params, "strict": True},
        {
            "name": "shell",
            "description": "Run a command",
            "input_schema": {"type": "object", "properties": {"input": {"type": "string"}}, "required": ["input"]},
        },
    ]
    assert "tool_choice" not in out
    assert req.losses == ["custom tool format (grammar) dropped"]


@pytest.mark.parametrize(
    ("choice", "parallel", "expected"),
    [
        (ToolChoice("auto"), None, {"type": "auto"}),
        (ToolChoice("required"), None, {"type": "any"}),
        (ToolChoice("none"), False, {"type": "none"}),
        (ToolChoice("tool", "f"), None, {"type": "tool", "name": "f"}),
        (ToolChoice("tool", "f"), False, {"type": "tool", "name": "f", "disable_parallel_tool_use": True}),
        (None, False, {"type": "auto", "disable_parallel_tool_use": True}),
    ],
)
def test_render_tool_choice(choice: ToolChoice | None, parallel: bool | None, expected: dict[str, Any]) -> None:
    req = request(user(TextPart("q")), tools=[Tool("f")], tool_choice=choice, parallel_tool_calls=parallel)
    assert render_request(req, ctx())["tool_choice"] == expected


def test_render_tool_choice_without_tools_is_omitted() -> None:
    out = render_request(request(user(TextPart("q")), tool_choice=ToolChoice("none")), ctx())
    assert "tool_choice" not in out and "tools" not in out


def test_render_response_format() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}}
    req = request(user(TextPart("q")), response_format=ResponseFormat("json_schema", name="thing", schema=schema))
    assert render_request(req, ctx())["output_config"] == {"format": {"type": "json_schema", "schema": schema}}
    json_mode = request(user(TextPart("q")), response_format=ResponseFormat("json_object"))
    assert "output_config" not in render_request(json_mode, ctx())
    assert json_mode.losses == ["response_format json_object dropped"]


# -- corpus round trip ------------------------------------------------------------------------


def _expected_round_trip(raw: dict[str, Any]) -> dict[str, Any]:
    """What our renderer makes of a Messages request: the same request in its normal form."""
    out = copy.deepcopy(raw)
    out.pop("cache_control", None)
    out.setdefault("stream", False)
    if isinstance(out.get("system"), str):
        out["system"] = [{"type": "text", "text": out["system"]}]
    if "thinking" in out:
        out["thinking"].pop("display", None)
    for tool in out.get("tools", []):
        tool.pop("cache_control", None)
    for message in out["messages"]:
        if isinstance(message["content"], str):
            message["content"] = [{"type": "text", "text": message["content"]}]
        for block in message["content"]:
            block.pop("cache_control", None)
            block.pop("caller", None)
            if block.get("is_error") is False:
                del block["is_error"]
    return out


# Requests whose round trip is not the identity, and what changes.
_ROUND_TRIP_CHANGES: dict[str, dict[str, Any]] = {
    # adaptive thinking -> effort medium -> an enabled budget that fits under max_tokens 8192.
    "adaptive-thinking-stream.request.json": {"thinking": {"type": "enabled", "budget_tokens": 8191}},
    # output_config.effort alone -> effort xhigh -> thinking with a budget under max_tokens 4096.
    "error-400-invalid-request.request.json": {
        "thinking": {"type": "enabled", "budget_tokens": 4095},
        "output_config": None,
    },
}


@pytest.mark.parametrize("path", [p for p in REQUESTS if p.name not in SERVER_TOOL_REQUESTS], ids=lambda p: p.name)
def test_corpus_request_round_trip(path: Path) -> None:
    raw = load_json(path)
    if "max_tokens" not in raw:  # the count_tokens request: Messages requires max_tokens
        with pytest.raises(RequestTranslationError) as exc:
            parse_request(raw)
        assert exc.value.param == "max_tokens"
        return
    req = parse_request(raw)
    out = render_request(req, ctx(req))
    expected = _expected_round_trip(raw)
    for key, value in _ROUND_TRIP_CHANGES.get(path.name, {}).items():
        if value is None:
            del expected[key]
        else:
            expected[key] = value
    if path.name == "error-400-tool-result-validation.request.json":
        # Two consecutive user turns merge, and the tool_result moves first.
        first, second = expected["messages"]
        expected["messages"] = [{"role": "user", "content": second["content"] + first["content"]}]
    assert out == expected


@pytest.mark.parametrize("name", sorted(SERVER_TOOL_REQUESTS))
def test_corpus_server_tool_requests_are_rejected(name: str) -> None:
    raw = load_json(next(p for p in REQUESTS if p.name == name))
    with pytest.raises(UnsupportedFeatureError) as exc:
        parse_request(raw)
    assert exc.value.status == 400
    assert exc.value.param == "tools[0].type"
    assert raw["tools"][0]["type"] in exc.value.message


def test_corpus_losses_are_noted() -> None:
    cached = parse_request(load_json(next(p for p in REQUESTS if p.name.startswith("prompt-cache-read"))))
    assert cached.losses == ["cache_control dropped"]
    display = parse_request(load_json(next(p for p in REQUESTS if p.name == "thinking-tool-use-stream.request.json")))
    assert display.losses == ["thinking.display dropped"]


# =============================================================================================
# parse_response / render_response


def _corpus(name: str) -> Path:
    return next(p for p in (*REQUESTS, *RESPONSES, *STREAMS) if p.name == name)


@pytest.mark.parametrize("path", MESSAGES, ids=lambda p: p.name)
def test_corpus_response_parse_and_render(path: Path) -> None:
    raw = load_json(path)
    resp = parse_response(raw)
    assert resp.id == raw["id"] and resp.id.startswith("msg_")
    assert resp.model == raw["model"]
    assert resp.stop_reason == raw["stop_reason"]
    usage = raw["usage"]
    assert resp.usage == Usage(
        input_tokens=usage["input_tokens"] + usage["cache_read_input_tokens"] + usage["cache_creation_input_tokens"],
        output_tokens=usage["output_tokens"],
        cache_read_tokens=usage["cache_read_input_tokens"],
        cache_write_tokens=usage["cache_creation_input_tokens"],
    )
    out = render_response(resp, ctx())
    assert out["id"] == raw["id"]
    assert out["model"] == "client-model"
    assert out["content"] == raw["content"]
    assert out["stop_reason"] == raw["stop_reason"] and out["stop_sequence"] == raw["stop_sequence"]
    # The tier is Anthropic's own and not carried through the canonical form: null, as the spec allows.
    assert out["usage"] == {**{key: usage[key] for key in out["usage"] if key != "service_tier"}, "service_tier": None}


def test_parse_response_parallel_tool_use() -> None:
    resp = parse_response(load_json(_corpus("parallel-tool-use-nonstream.json")))
    calls = [part for part in resp.content if isinstance(part, ToolCallPart)]
    assert [(c.id, c.name, c.arguments) for c in calls] == [
        ("toolu_0167cfEnoQaPviGdVXA95zcu", "retrieve_entity_info", '{"name":"Alice"}'),
        ("toolu_01EEe2V5HD1Ac4rKiUR4HD2T", "retrieve_entity_info", '{"name":"Bob"}'),
        ("toolu_01XFyAjstT3966qvRynZyVPo", "retrieve_entity_info", '{"name":"Charlie"}'),
        ("toolu_013mnQZbgtK2oe3Mo3XKJsx3", "retrieve_entity_info", '{"name":"Daisy"}'),
    ]
    assert resp.stop_reason == "tool_use"


def test_parse_response_cache_usage() -> None:
    resp = parse_response(load_json(_corpus("prompt-cache-read-nonstream.json")))
    assert resp.usage == Usage(
        input_tokens=3 + 1111 + 418, output_tokens=33, cache_read_tokens=1111, cache_write_tokens=418
    )


def test_parse_response_thinking_and_redacted() -> None:
    thinking = parse_response(load_json(_corpus("thinking-tool-use-nonstream.json"))).content[0]
    assert isinstance(thinking, ReasoningPart)
    assert thinking.signature is not None and thinking.signature.startswith(
        "EqEECkYICxgCKkAo3UA4WwDbB8ihhpykVCsPx6iMzw"
    )
    assert thinking.text.startswith('The user is asking about the largest city in "the user country"')
    redacted = parse_response(load_json(_corpus("redacted-thinking-nonstream.json"))).content[0]
    assert isinstance(redacted, ReasoningPart) and redacted.redacted
    assert redacted.signature is not None and redacted.signature.startswith(
        "EvgFCkYIBxgCKkBmxKtCnM3xlr1zpw0Ik4FY0bnznKLdj7"
    )


def test_parse_response_skips_server_tool_blocks_and_maps_stop_reasons() -> None:
    raw = {
        "id": "msg_1",
        "model": "m",
        "content": [
            {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {"query": "x"}},
            {"type": "web_search_tool_result", "tool_use_id": "srvtoolu_1", "content": []},
            {"type": "text", "text": "Found it.", "citations": [{"type": "web_search_result_location"}]},
        ],
        "stop_reason": "model_context_window_exceeded",
        "usage": {"input_tokens": 5, "output_tokens": 2},
    }
    resp = parse_response(raw)
    assert resp.content == [TextPart("Found it.")]
    assert resp.stop_reason == "max_tokens"
    assert resp.usage == Usage(input_tokens=5, output_tokens=2)


def test_render_response_from_chat_upstream() -> None:
    resp = Response(
        id="chatcmpl-abc",
        model="gpt-4o",
        content=[
            ReasoningPart(text="thinking out loud"),
            TextPart("Calling tools."),
            ToolCallPart("call_1", "get_weather", '{"city":"Paris"}'),
            ToolCallPart("call_2", "broken", '{"city": '),
            ToolCallPart("call_3", "shell", "ls", custom=True),
        ],
        stop_reason="tool_use",
        usage=Usage(input_tokens=100, output_tokens=20, cache_read_tokens=60),
    )
    assert render_response(resp, ctx()) == {
        "id": "chatcmpl-abc",
        "type": "message",
        "role": "assistant",
        "model": "client-model",
        "content": [
            {"type": "thinking", "thinking": "thinking out loud", "signature": ""},
            {"type": "text", "text": "Calling tools."},
            {"type": "tool_use", "id": "call_1", "name": "get_weather", "input": {"city": "Paris"}},
            {"type": "tool_use", "id": "call_2", "name": "broken", "input": {}},
            {"type": "tool_use", "id": "call_3", "name": "shell", "input": {"input": "ls"}},
        ],
        "stop_reason": "tool_use",
        "stop_sequence": None,
        "usage": {
            "input_tokens": 40,
            "output_tokens": 20,
            "cache_read_input_tokens": 60,
            "cache_creation_input_tokens": 0,
            "service_tier": None,
        },
    }


def test_render_response_refusal_and_defaults() -> None:
    resp = Response(id="", model="m", content=[RefusalPart("No.")], stop_reason="content_filter", stop_sequence="x")
    out = render_response(resp, ctx())
    assert out["id"] == "msg_test0001"
    assert out["content"] == [{"type": "text", "text": "No."}]
    assert out["stop_reason"] == "refusal" and out["stop_sequence"] is None
    assert out["usage"] == {
        "input_tokens": 0,
        "output_tokens": 0,
        "cache_read_input_tokens": 0,
        "cache_creation_input_tokens": 0,
        "service_tier": None,
    }


def test_render_response_is_accepted_by_the_sdk_model() -> None:
    resp = parse_response(load_json(_corpus("thinking-tool-use-nonstream.json")))
    message = anthropic.types.Message.model_validate(render_response(resp, ctx()))
    assert [block.type for block in message.content] == ["thinking", "text", "tool_use"]
    assert message.usage.input_tokens == 398


# =============================================================================================
# errors


@pytest.mark.parametrize(
    ("name", "status", "kind", "message_start"),
    [
        ("error-400-tool-result-validation.json", 400, "invalid_request_error", "messages.0.content.1: unexpected"),
        ("error-404-not-found.json", 404, "not_found_error", "model: claude-does-not-exist"),
        ("error-429-rate-limit.json", 429, "rate_limit_error", "This request would exceed"),
        ("error-400-invalid-request.json", 400, "invalid_request_error", ""),
    ],
)
def test_parse_corpus_errors(name: str, status: int, kind: str, message_start: str) -> None:
    info = parse_error(status, _corpus(name).read_bytes())
    assert (info.status, info.type) == (status, kind)
    assert info.message.startswith(message_start) and info.message


@pytest.mark.parametrize(
    ("status", "raw", "kind", "message"),
    [
        (502, b"<html>Bad Gateway</html>", "bad_gateway_error", "<html>Bad Gateway</html>"),
        (503, b"", "overloaded_error", "upstream returned HTTP 503"),
        (
            400,
            b'{"error": {"message": "bad temp", "type": "invalid_request_error", "code": null}}',
            "invalid_request_error",
            "bad temp",
        ),
        (500, b'{"error": "boom"}', "api_error", "boom"),
        (422, b'{"detail": "field required"}', "invalid_request_error", "field required"),
        (429, b'{"error": {"type": "tokens", "message": "slow down"}}', "rate_limit_error", "slow down"),
    ],
)
def test_parse_error_tolerates_other_shapes(status: int, raw: bytes, kind: str, message: str) -> None:
    assert parse_error(status, raw) == ErrorInfo(status, kind, message)


@pytest.mark.parametrize(
    ("info", "status", "kind"),
    [
        (ErrorInfo(400, "invalid_request_error", "bad"), 400, "invalid_request_error"),
        (ErrorInfo(503, "overloaded_error", "busy"), 529, "overloaded_error"),
        (ErrorInfo(500, "server_error", "oops"), 500, "api_error"),
    ],
)
def test_render_error(info: ErrorInfo, status: int, kind: str) -> None:
    assert render_error(info) == (
        status,
        {"type": "error", "error": {"type": kind, "message": info.message}, "request_id": None},
    )


def test_render_error_is_what_the_sdk_raises_from() -> None:
    status, payload = render_error(ErrorInfo(429, "rate_limit_error", "slow down"))
    response = httpx2.Response(status, json=payload, request=httpx2.Request("POST", "https://x/v1/messages"))
    client = anthropic.Anthropic(api_key="k")
    error = client._make_status_error_from_response(response)
    assert isinstance(error, anthropic.RateLimitError)
    assert error.body == payload


# =============================================================================================
# stream decoder


def decode_bytes(raw: bytes, context: Context | None = None) -> list[StreamEvent]:
    return decode_stream(MessagesStreamDecoder(context or ctx()), raw)


def summary(events: list[StreamEvent]) -> dict[str, Any]:
    """What the stream says: text, reasoning, tool calls, signatures, stop."""
    kinds: dict[int, BlockStart] = {}
    texts: dict[int, str] = {}
    signatures: dict[int, str | None] = {}
    out: dict[str, Any] = {"finish": None, "error": None}
    for event in events:
        if isinstance(event, BlockStart):
            kinds[event.index] = event
            texts[event.index] = ""
        elif isinstance(event, BlockDelta):
            texts[event.index] += event.text
        elif isinstance(event, BlockStop):
            signatures[event.index] = event.signature
        elif isinstance(event, Finish):
            out["finish"] = (event.reason, event.stop_sequence)
        elif isinstance(event, StreamError):
            out["error"] = (event.type, event.message, event.status)
    out["blocks"] = [
        (kinds[i].kind, kinds[i].call_id, kinds[i].name, texts[i], signatures.get(i)) for i in sorted(kinds)
    ]
    return out


@pytest.mark.parametrize("path", STREAMS, ids=lambda p: p.name)
def test_decoder_contract_over_corpus(path: Path) -> None:
    check_contract(decode_bytes(path.read_bytes()))


def test_decode_thinking_signature_on_block_stop_exactly() -> None:
    raw = _corpus("thinking-signature-stream.sse").read_bytes()
    expected = "".join(
        json.loads(line[5:])["delta"]["signature"]
        for line in raw.decode().splitlines()
        if line.startswith("data:") and "signature_delta" in line
    )
    blocks = summary(decode_bytes(raw))["blocks"]
    kind, _, _, text, signature = blocks[0]
    assert kind == "reasoning"
    assert text.startswith("This is a straightforward question about pedestrian safety. ")
    assert signature == expected and len(signature) == 504
    assert signature.startswith("EvMCCkYICxgCKkCHP2cSuEdcJK/0rF") and signature.endswith("P/UhjfQYAQ==")
    assert blocks[1][0] == "text" and blocks[1][4] is None
    assert blocks[1][3].startswith("Here are the basic steps for safely crossing the street:")


def test_decode_parallel_tool_use() -> None:
    result = summary(decode_bytes(_corpus("parallel-tool-use-stream.sse").read_bytes()))
    # Both tools take no parameters: input {} and a single empty partial_json each, which becomes
    # the argument text "{}" (as parse_response gives), never "" (not JSON to a chat client).
    assert result["blocks"] == [
        ("tool_call", "toolu_01LtHJmixrs9NcWQkK8hu8hj", "pelican_name_generator", "{}", None),
        ("tool_call", "toolu_01N8a4jWyf116qKTMqKKmjyt", "pelican_name_generator", "{}", None),
    ]
    assert result["finish"] == ("tool_use", None)


def test_decode_tool_args_split_across_deltas() -> None:
    result = summary(decode_bytes(_corpus("tool-use-args-stream.sse").read_bytes()))
    assert result["blocks"] == [
        (
            "tool_call",
            "toolu_018acGYLtfR52q9yDbWaEdQZ",
            "get_weather",
            '{"location": "San Francisco, CA", "units": "f"}',
            None,
        )
    ]


def test_decode_tool_without_input_matches_the_non_streamed_form() -> None:
    events = decode_bytes(_corpus("tool-use-stream.sse").read_bytes())
    streamed = summary(events)["blocks"][0][3]
    assert streamed == "{}"
    stop = events.index(BlockStop(0))
    assert events[stop - 1 : stop + 1] == [BlockDelta(0, "{}"), BlockStop(0)]
    # A tool with arguments gets no extra text.
    args = summary(decode_bytes(_corpus("tool-use-text-first-stream.sse").read_bytes()))["blocks"][1][3]
    assert args == '{"location": "Paris"}'


def test_decode_max_tokens_truncated_tool_use() -> None:
    events = decode_bytes(_corpus("max-tokens-truncated-tool-use-stream.sse").read_bytes())
    # The upstream never closed the tool_use block: the decoder closes it before Finish.
    assert events[-2:] == [BlockStop(1), Finish("max_tokens")]
    blocks = summary(events)["blocks"]
    assert blocks[1][:3] == ("tool_call", "toolu_01EKqbqmZrGRXy18eN7m9kvY", "make_file")
    assert blocks[1][3].endswith('"## INTRODUCTION",\n"",\n"Filing taxes')


def test_decode_overloaded_error_fragment() -> None:
    events = decode_bytes(_corpus("overloaded-error-event-fragment.sse").read_bytes())
    assert events == [StreamError("overloaded_error", "Overloaded", 529)]


def test_decode_cache_read_usage_sums() -> None:
    events = decode_bytes(_corpus("prompt-cache-read-stream.sse").read_bytes())
    usages = [e.usage for e in events if isinstance(e, UsageUpdate)]
    assert usages[0] == Usage(input_tokens=2 + 3068, output_tokens=69, cache_write_tokens=3068)
    assert usages[-1] == Usage(
        input_tokens=6 + 3337 + 6289, output_tokens=198, cache_read_tokens=6289, cache_write_tokens=3337
    )
    start = events[0]
    assert isinstance(start, MessageStart) and start.usage == usages[0]


def test_decode_message_delta_with_output_only_keeps_input_counts() -> None:
    events = decode_bytes(_corpus("tool-use-text-first-stream.sse").read_bytes())
    usages = [e.usage for e in events if isinstance(e, UsageUpdate)]
    assert usages[-1] == Usage(input_tokens=377, output_tokens=65)


def test_decode_skips_server_tool_blocks_without_index_gaps() -> None:
    events = decode_bytes(_corpus("web-search-server-tool-stream.sse").read_bytes())
    blocks = summary(events)["blocks"]
    assert {kind for kind, *_ in blocks} == {"text"}
    text = "".join(block[3] for block in blocks)
    assert text.startswith("Based on the search results, here's the current weather in San Francisco:")
    assert len(text) == 650
    code = summary(decode_bytes(_corpus("server-tool-code-execution-stream.sse").read_bytes()))["blocks"]
    assert [kind for kind, *_ in code] == ["reasoning", "text", "text"]
    assert code[0][4] is not None and code[0][4].endswith("omrp4RcinBgB")


def test_decode_redacted_thinking_data_on_block_stop() -> None:
    events = decode_bytes(_corpus("redacted-thinking-stream.sse").read_bytes())
    blocks = summary(events)["blocks"]
    assert [b[0] for b in blocks] == ["redacted_reasoning", "redacted_reasoning", "text"]
    assert blocks[0][4] is not None and blocks[0][4].startswith("EqkECkYIBxgCKkA8AZ4noDfV5VcOJe")
    assert blocks[1][4] is not None and blocks[1][4].endswith("BV3yRYdZ1J0GAE=")


def test_decode_stop_sequence() -> None:
    result = summary(decode_bytes(_corpus("prefill-stop-sequence-stream.sse").read_bytes()))
    assert result["finish"] == ("stop_sequence", "```")


def _frames(*frames: dict[str, Any]) -> bytes:
    return b"".join(f"event: {f['type']}\ndata: {json.dumps(f)}\n\n".encode() for f in frames)


_START = {
    "type": "message_start",
    "message": {"id": "msg_1", "model": "claude", "usage": {"input_tokens": 5, "output_tokens": 1}},
}
_TEXT_START = {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}
_TEXT_DELTA = {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hi"}}


def test_decode_cut_stream_is_an_error() -> None:
    events = decode_bytes(_frames(_START, _TEXT_START, _TEXT_DELTA))
    assert events[-1] == StreamError("api_error", "upstream Messages stream ended before message_stop", 502)


def test_decode_stream_ending_after_message_delta_finishes() -> None:
    delta = {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 3}}
    events = decode_bytes(_frames(_START, _TEXT_START, _TEXT_DELTA, delta))
    assert events[-3:] == [UsageUpdate(Usage(5, 3)), BlockStop(0), Finish("end_turn")]


def test_decode_without_message_start_synthesizes_one() -> None:
    stop = {"type": "message_stop"}
    events = decode_bytes(_frames(_TEXT_START, _TEXT_DELTA, stop), ctx())
    assert events == [
        MessageStart("msg_test0001", "upstream-model"),
        BlockStart(0, "text"),
        BlockDelta(0, "Hi"),
        BlockStop(0),
        Finish("end_turn"),
    ]


def test_decode_ignores_events_after_the_end_and_unknown_types() -> None:
    decoder = MessagesStreamDecoder(ctx())
    assert decoder.decode(ServerSentEvent(json.dumps(_START), "message_start"))[0] == MessageStart(
        "msg_1", "claude", Usage(5, 1)
    )
    assert decoder.decode(ServerSentEvent('{"type": "ping"}', "ping")) == []
    assert decoder.decode(ServerSentEvent('{"type": "future_event"}', "future_event")) == []
    assert decoder.decode(ServerSentEvent('{"type": "message_stop"}', "message_stop")) == [Finish("end_turn")]
    assert decoder.decode(ServerSentEvent(json.dumps(_TEXT_START), "content_block_start")) == []
    assert decoder.flush() == []


def test_decode_deltas_the_shortcut_does_not_take() -> None:
    """``decode`` answers text, thinking and input deltas itself; every other delta (empty, no
    delta object, citations, a signature, an unknown block index) still gets the full rules."""
    thinking = {"type": "content_block_start", "index": 1, "content_block": {"type": "thinking", "thinking": ""}}

    def delta(index: int, body: dict[str, Any] | None) -> dict[str, Any]:
        return {"type": "content_block_delta", "index": index, "delta": body}

    events = decode_bytes(
        _frames(
            _START,
            _TEXT_START,
            delta(0, {"type": "text_delta", "text": ""}),
            delta(0, None),
            delta(0, {"type": "citations_delta", "citation": {"type": "char_location"}}),
            _TEXT_DELTA,
            delta(7, {"type": "text_delta", "text": "lost"}),
            thinking,
            delta(1, {"type": "thinking_delta", "thinking": "hm"}),
            delta(1, {"type": "signature_delta", "signature": "sig"}),
            {"type": "content_block_stop", "index": 1},
            {"type": "message_stop"},
        )
    )
    deltas = [e for e in events if isinstance(e, BlockDelta)]
    assert deltas == [BlockDelta(0, "Hi"), BlockDelta(1, "hm")]
    assert BlockStop(1, "sig") in events


def test_decode_rejects_non_json_frames() -> None:
    decoder = MessagesStreamDecoder(ctx())
    with pytest.raises(StreamTranslationError, match="not JSON"):
        decoder.decode(ServerSentEvent("[DONE]"))


def test_decode_error_with_unknown_type() -> None:
    decoder = MessagesStreamDecoder(ctx())
    events = decoder.decode(ServerSentEvent('{"type":"error","error":{"type":"weird","message":"x"}}', "error"))
    assert events == [StreamError("api_error", "x", 500)]


# =============================================================================================
# stream encoder


def encode(events: list[StreamEvent], context: Context | None = None) -> bytes:
    encoder = MessagesStreamEncoder(context or ctx())
    return b"".join(encoder.encode(event) for event in events)


def frame(event: str, data: str) -> str:
    return f"event: {event}\ndata: {data}\n\n"


def test_encode_text_stream_exactly() -> None:
    out = encode(
        [
            MessageStart("chatcmpl-1", "gpt-4o", Usage(input_tokens=12, cache_read_tokens=2)),
            BlockStart(0, "text"),
            BlockDelta(0, "Hello"),
            BlockDelta(0, ' "world"\n'),
            BlockStop(0),
            UsageUpdate(Usage(input_tokens=12, output_tokens=3, cache_read_tokens=2)),
            Finish("end_turn"),
        ]
    )
    assert out.decode() == (
        frame(
            "message_start",
            '{"type":"message_start","message":{"id":"chatcmpl-1","type":"message","role":"assistant",'
            '"model":"client-model","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":10,'
            '"output_tokens":0,"cache_read_input_tokens":2,"cache_creation_input_tokens":0,"service_tier":null}}}',
        )
        + frame(
            "content_block_start", '{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}'
        )
        + frame(
            "content_block_delta",
            '{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hello"}}',
        )
        + frame(
            "content_block_delta",
            '{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":" \\"world\\"\\n"}}',
        )
        + frame("content_block_stop", '{"type":"content_block_stop","index":0}')
        + frame(
            "message_delta",
            '{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"input_tokens":10,'
            '"output_tokens":3,"cache_read_input_tokens":2,"cache_creation_input_tokens":0}}',
        )
        + frame("message_stop", '{"type":"message_stop"}')
    )


def test_encode_holds_back_an_interleaved_second_tool_call() -> None:
    out = encode(
        [
            MessageStart("chatcmpl-2", "gpt-4o"),
            BlockStart(0, "tool_call", call_id="call_a", name="get_weather"),
            BlockDelta(0, '{"city":'),
            BlockStart(1, "tool_call", call_id="call_b", name="get_time"),
            BlockDelta(1, '{"tz":"UTC"}'),
            BlockDelta(0, '"Paris"}'),
            BlockStop(1),
            BlockStop(0),
            Finish("tool_use"),
        ]
    )
    zero_usage = (
        '"usage":{"input_tokens":0,"output_tokens":0,"cache_read_input_tokens":0,"cache_creation_input_tokens":0,'
        '"service_tier":null}'
    )
    assert out.decode() == (
        frame(
            "message_start",
            '{"type":"message_start","message":{"id":"chatcmpl-2","type":"message","role":"assistant",'
            f'"model":"client-model","content":[],"stop_reason":null,"stop_sequence":null,{zero_usage}}}}}',
        )
        + frame(
            "content_block_start",
            '{"type":"content_block_start","index":0,"content_block":{"type":"tool_use","id":"call_a",'
            '"name":"get_weather","input":{}}}',
        )
        + frame(
            "content_block_delta",
            '{"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":"{\\"city\\":"}}',
        )
        + frame(
            "content_block_delta",
            '{"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":"\\"Paris\\"}"}}',
        )
        + frame("content_block_stop", '{"type":"content_block_stop","index":0}')
        + frame(
            "content_block_start",
            '{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"call_b",'
            '"name":"get_time","input":{}}}',
        )
        + frame(
            "content_block_delta",
            '{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta",'
            '"partial_json":"{\\"tz\\":\\"UTC\\"}"}}',
        )
        + frame("content_block_stop", '{"type":"content_block_stop","index":1}')
        + frame(
            "message_delta",
            '{"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":0}}',
        )
        + frame("message_stop", '{"type":"message_stop"}')
    )


def parse_sse(raw: bytes) -> list[tuple[str, dict[str, Any]]]:
    sse = SSEDecoder()
    frames = sse.decode(raw)
    assert sse.flush() == [], "last frame not terminated"
    return [(f.event, json.loads(f.data)) for f in frames]


def test_encode_hold_back_replays_several_finished_blocks_in_order() -> None:
    out = parse_sse(
        encode(
            [
                MessageStart("m", "x"),
                BlockStart(0, "tool_call", call_id="a", name="f"),
                BlockStart(1, "tool_call", call_id="b", name="f"),
                BlockStart(2, "tool_call", call_id="c", name="f"),
                BlockDelta(2, "{}"),
                BlockStop(2),
                BlockDelta(1, '{"n":1}'),
                BlockStop(0),
                BlockDelta(1, " "),
                BlockStop(1),
                Finish("tool_use"),
            ]
        )
    )
    starts = [(d["index"], d["content_block"]["id"]) for e, d in out if e == "content_block_start"]
    assert starts == [(0, "a"), (1, "b"), (2, "c")]
    sequence = [(e, d.get("index")) for e, d in out if e.startswith("content_block")]
    assert sequence == [
        ("content_block_start", 0),
        ("content_block_stop", 0),
        ("content_block_start", 1),
        ("content_block_delta", 1),
        ("content_block_delta", 1),
        ("content_block_stop", 1),
        ("content_block_start", 2),
        ("content_block_delta", 2),
        ("content_block_stop", 2),
    ]


def test_encode_thinking_with_signature() -> None:
    out = parse_sse(
        encode(
            [
                MessageStart("msg_1", "claude"),
                BlockStart(0, "reasoning"),
                BlockDelta(0, "Let me think."),
                BlockStop(0, signature="EqEECkYI"),
                BlockStart(1, "reasoning"),
                BlockDelta(1, "unsigned"),
                BlockStop(1),
                Finish("end_turn"),
            ]
        )
    )
    assert out[1:7] == [
        (
            "content_block_start",
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "thinking", "thinking": "", "signature": ""},
            },
        ),
        (
            "content_block_delta",
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "thinking_delta", "thinking": "Let me think."},
            },
        ),
        (
            "content_block_delta",
            {"type": "content_block_delta", "index": 0, "delta": {"type": "signature_delta", "signature": "EqEECkYI"}},
        ),
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        (
            "content_block_start",
            {
                "type": "content_block_start",
                "index": 1,
                "content_block": {"type": "thinking", "thinking": "", "signature": ""},
            },
        ),
        (
            "content_block_delta",
            {"type": "content_block_delta", "index": 1, "delta": {"type": "thinking_delta", "thinking": "unsigned"}},
        ),
    ]
    assert out[7] == ("content_block_stop", {"type": "content_block_stop", "index": 1})


def test_encode_redacted_thinking_waits_for_its_data() -> None:
    out = parse_sse(
        encode(
            [
                MessageStart("msg_1", "claude"),
                BlockStart(0, "redacted_reasoning"),
                BlockStart(1, "text"),
                BlockDelta(1, "Hi"),
                BlockStop(0, signature="EvgFCkYI"),
                BlockStop(1),
                Finish("end_turn"),
            ]
        )
    )
    assert [e for e, _ in out] == [
        "message_start",
        "content_block_start",
        "content_block_stop",
        "content_block_start",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    assert out[1][1]["content_block"] == {"type": "redacted_thinking", "data": "EvgFCkYI"}
    assert out[3][1] == {"type": "content_block_start", "index": 1, "content_block": {"type": "text", "text": ""}}


def test_encode_refusal_and_content_filter() -> None:
    out = parse_sse(
        encode(
            [
                MessageStart("m", "x"),
                BlockStart(0, "refusal"),
                BlockDelta(0, "No."),
                BlockStop(0),
                Finish("content_filter"),
            ]
        )
    )
    assert out[1][1]["content_block"] == {"type": "text", "text": ""}
    assert out[2][1]["delta"] == {"type": "text_delta", "text": "No."}
    assert out[4][1]["delta"] == {"stop_reason": "refusal", "stop_sequence": None}


def test_encode_custom_tool_call_as_input_object() -> None:
    out = parse_sse(
        encode(
            [
                MessageStart("m", "x"),
                BlockStart(0, "tool_call", call_id="call_1", name="shell", custom=True),
                BlockDelta(0, 'echo "hi"'),
                BlockDelta(0, "\n"),
                BlockStop(0),
                Finish("tool_use"),
            ]
        )
    )
    partial = "".join(d["delta"]["partial_json"] for e, d in out if e == "content_block_delta")
    assert partial == '{"input":"echo \\"hi\\"\\n"}'
    assert json.loads(partial) == {"input": 'echo "hi"\n'}


def test_encode_stop_sequence_only_with_its_reason() -> None:
    out = parse_sse(encode([MessageStart("m", "x"), Finish("stop_sequence", "```")]))
    assert out[1][1]["delta"] == {"stop_reason": "stop_sequence", "stop_sequence": "```"}
    out = parse_sse(encode([MessageStart("m", "x"), Finish("end_turn", "```")]))
    assert out[1][1]["delta"] == {"stop_reason": "end_turn", "stop_sequence": None}


def test_encode_stream_error_closes_the_open_block() -> None:
    out = encode(
        [
            MessageStart("m", "x"),
            BlockStart(0, "text"),
            BlockDelta(0, "Hel"),
            BlockStart(1, "tool_call", call_id="held", name="f"),
            StreamError("overloaded_error", "Overloaded", 529),
            BlockDelta(0, "lo"),
            Finish("end_turn"),
        ]
    )
    frames = parse_sse(out)
    assert frames[-2:] == [
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        ("error", {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}),
    ]
    assert out.endswith(
        b'event: error\ndata: {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}\n\n'
    )
    assert all(d.get("content_block", {}).get("id") != "held" for _, d in frames)


def test_encode_stream_error_with_unknown_type_and_no_start() -> None:
    frames = parse_sse(encode([StreamError("server_error", "boom", 500)]))
    assert frames == [("error", {"type": "error", "error": {"type": "api_error", "message": "boom"}})]


def test_encode_finish_before_message_start() -> None:
    frames = parse_sse(encode([Finish("end_turn")]))
    assert [e for e, _ in frames] == ["message_start", "message_delta", "message_stop"]
    assert frames[0][1]["message"]["id"] == "msg_test0001"


def test_encode_block_before_message_start_and_unclosed_blocks_at_finish() -> None:
    frames = parse_sse(
        encode(
            [
                BlockStart(0, "text"),
                BlockDelta(0, "a"),
                BlockStart(1, "tool_call", call_id="c", name="f"),
                BlockDelta(1, "{}"),
                Finish("max_tokens"),
            ]
        )
    )
    assert [e for e, _ in frames] == [
        "message_start",
        "content_block_start",
        "content_block_delta",
        "content_block_stop",
        "content_block_start",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]


@pytest.mark.parametrize(
    ("message_id", "model", "usage"),
    [
        ("chatcmpl-1", "claude-sonnet-4-5", None),
        ('id "quoted" \\ \n\u2028', "mod\u00e8le\t\x00", Usage(input_tokens=7, output_tokens=1, cache_write_tokens=2)),
        ("", "m", Usage()),
    ],
)
def test_encode_message_start_is_the_message_dumped(message_id: str, model: str, usage: Usage | None) -> None:
    """message_start is written around its id, model and usage: the bytes of the whole message
    dumped, whatever those hold."""
    context = ctx(client_model=model)
    out = MessagesStreamEncoder(context).encode(MessageStart(message_id, "upstream-model", usage))
    message: dict[str, Any] = {
        "id": message_id or "msg_test0001",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": message_usage(usage),
    }
    assert out == b"event: message_start\ndata: " + dumpb({"type": "message_start", "message": message}) + b"\n\n"


def test_encode_block_frames_are_their_dicts_dumped() -> None:
    """Block frames are written from byte templates: the bytes of each frame's dict dumped, for
    every kind of block, odd tool names and ids, and wire indexes past one digit."""

    def frame(event: str, data: dict[str, Any]) -> bytes:
        return b"event: " + event.encode() + b"\ndata: " + dumpb(data) + b"\n\n"

    def delta(wire: int, kind: str, key: str, text: str) -> bytes:
        return frame(
            "content_block_delta", {"type": "content_block_delta", "index": wire, "delta": {"type": kind, key: text}}
        )

    kinds: list[tuple[BlockStart, dict[str, Any], str, str]] = [
        (BlockStart(0, "text"), {"type": "text", "text": ""}, "text_delta", "text"),
        (
            BlockStart(0, "reasoning"),
            {"type": "thinking", "thinking": "", "signature": ""},
            "thinking_delta",
            "thinking",
        ),
        (BlockStart(0, "refusal"), {"type": "text", "text": ""}, "text_delta", "text"),
        (
            BlockStart(0, "tool_call", call_id='c"1\\', name="f\u00e9\n"),
            {"type": "tool_use", "id": 'c"1\\', "name": "f\u00e9\n", "input": {}},
            "input_json_delta",
            "partial_json",
        ),
    ]
    encoder = MessagesStreamEncoder(ctx())
    encoder.encode(MessageStart("m", "m"))
    for index in range(13):
        start, block, kind, key = kinds[index % len(kinds)]
        start = BlockStart(index, start.kind, start.call_id, start.name)
        out = encoder.encode(start) + encoder.encode(BlockDelta(index, 'a "b"')) + encoder.encode(BlockStop(index))
        assert out == (
            frame("content_block_start", {"type": "content_block_start", "index": index, "content_block": block})
            + delta(index, kind, key, 'a "b"')
            + frame("content_block_stop", {"type": "content_block_stop", "index": index})
        )


@pytest.mark.parametrize(
    ("finish", "usage"),
    [
        (Finish("stop_sequence", '"\\\n\u00e9'), Usage(10, 3, 4, 2)),
        (Finish("end_turn", "unused"), None),
        (Finish(None), Usage()),
    ],
)
def test_encode_message_delta_is_its_dict_dumped(finish: Finish, usage: Usage | None) -> None:
    encoder = MessagesStreamEncoder(ctx())
    encoder.encode(MessageStart("m", "m"))
    if usage is not None:
        encoder.encode(UsageUpdate(usage))
    reason = finish.reason or "end_turn"
    delta = {"stop_reason": reason, "stop_sequence": finish.stop_sequence if reason == "stop_sequence" else None}
    data = {"type": "message_delta", "delta": delta, "usage": usage_out(usage) if usage else {"output_tokens": 0}}
    assert encoder.encode(finish) == (
        b"event: message_delta\ndata: " + dumpb(data) + b'\n\nevent: message_stop\ndata: {"type":"message_stop"}\n\n'
    )


def test_encode_ignores_everything_after_the_terminator() -> None:
    encoder = MessagesStreamEncoder(ctx())
    assert encoder.encode(Finish("end_turn")).endswith(b'data: {"type":"message_stop"}\n\n')
    assert encoder.encode(BlockStart(0, "text")) == b""
    assert encoder.encode(StreamError("api_error", "late")) == b""


# -- decoder -> encoder over the corpus, and the official SDK as the judge ---------------------


def sdk_final_message(raw: bytes) -> anthropic.types.Message:
    """Feed bytes to the real SDK's MessageStream and return its accumulated message."""

    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=raw)

    http_client = httpx2.Client(transport=httpx2.MockTransport(handler))
    client = anthropic.Anthropic(api_key="test", http_client=http_client, max_retries=0)
    with client.messages.stream(model="client-model", max_tokens=10, messages=[{"role": "user", "content": "hi"}]) as s:
        return s.get_final_message()


@pytest.mark.parametrize("path", [p for p in STREAMS if "error" not in p.name], ids=lambda p: p.name)
def test_decoder_encoder_round_trip_over_corpus(path: Path) -> None:
    events = decode_bytes(path.read_bytes())
    context = ctx()
    out = encode(events, context)
    again = decode_bytes(out, context)
    assert summary(again) == summary(events)
    final = [e.usage for e in events if isinstance(e, UsageUpdate)][-1]
    assert [e.usage for e in again if isinstance(e, UsageUpdate)][-1] == final
    start = again[0]
    assert isinstance(start, MessageStart) and start.model == "client-model" and start.id == events[0].id  # type: ignore[union-attr]

    message = sdk_final_message(out)
    blocks = summary(events)["blocks"]
    assert len(message.content) == len(blocks)
    for block, (kind, call_id, name, text, signature) in zip(message.content, blocks, strict=True):
        if kind == "text":
            assert block.type == "text" and block.text == text
        elif kind == "reasoning":
            assert block.type == "thinking" and block.thinking == text and block.signature == (signature or "")
        elif kind == "redacted_reasoning":
            assert block.type == "redacted_thinking" and block.data == signature
        else:
            assert block.type == "tool_use" and (block.id, block.name) == (call_id, name)
            if path.name != "max-tokens-truncated-tool-use-stream.sse":  # its JSON was cut mid-string
                assert block.input == (json.loads(text) if text else {})
    finish = summary(events)["finish"]
    assert (message.stop_reason, message.stop_sequence) == finish
    assert message.usage.output_tokens == final.output_tokens
    assert message.usage.input_tokens == final.input_tokens - final.cache_read_tokens - final.cache_write_tokens
    assert message.usage.cache_read_input_tokens == final.cache_read_tokens


def test_sdk_accepts_held_back_parallel_calls() -> None:
    raw = encode(
        [
            MessageStart("chatcmpl-9", "gpt-4o", Usage(input_tokens=50)),
            BlockStart(0, "text"),
            BlockDelta(0, "Two calls."),
            BlockStop(0),
            BlockStart(1, "tool_call", call_id="call_a", name="get_weather"),
            BlockStart(2, "tool_call", call_id="call_b", name="get_weather"),
            BlockDelta(1, '{"city":"Pa'),
            BlockDelta(2, '{"city":"Rome"}'),
            BlockDelta(1, 'ris"}'),
            BlockStop(2),
            BlockStop(1),
            UsageUpdate(Usage(input_tokens=50, output_tokens=30)),
            Finish("tool_use"),
        ]
    )
    message = sdk_final_message(raw)
    assert message.id == "chatcmpl-9" and message.model == "client-model"
    assert [(b.type, getattr(b, "input", None)) for b in message.content] == [
        ("text", None),
        ("tool_use", {"city": "Paris"}),
        ("tool_use", {"city": "Rome"}),
    ]
    assert message.stop_reason == "tool_use"
    assert (message.usage.input_tokens, message.usage.output_tokens) == (50, 30)


def test_sdk_raises_our_stream_error() -> None:
    raw = encode(
        [
            MessageStart("m", "x"),
            BlockStart(0, "text"),
            BlockDelta(0, "a"),
            StreamError("overloaded_error", "Overloaded", 529),
        ]
    )
    with pytest.raises(anthropic.APIStatusError) as exc:
        sdk_final_message(raw)
    assert exc.value.body == {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}


def test_parse_rejects_an_empty_messages_array() -> None:
    with pytest.raises(RequestTranslationError) as exc:
        parse_request(body(messages=[]))
    assert exc.value.param == "messages" and exc.value.status == 400
    assert str(exc.value) == "messages: at least one message is required"
