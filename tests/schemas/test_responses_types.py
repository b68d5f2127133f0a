"""Every ``Tool`` type and input item type of the Responses spec, and what a Responses request over a
chat or Messages upstream makes of it: one test per row of the README's table (mapped, dropped and
reported, or refused), the table against the spec, and the README against the table.

Also the pieces the rows rely on: names kept within the upstreams' limits and mapped back, calls
coming back with their namespace, client-run tool search round trips, and tool-less requests over a
history of tool calls (Codex's compaction) made valid for each upstream.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from conftest import make_context

from asgi_translate import UnsupportedFeatureError
from asgi_translate._hub.canonical import (
    BlockDelta,
    BlockStart,
    BlockStop,
    Finish,
    MessageStart,
    Part,
    Request,
    Response,
    StreamEvent,
    ToolCallPart,
)
from asgi_translate._hub.losses import find, note_upstream_losses
from asgi_translate._hub.pipeline import as_bytes
from asgi_translate.schemas import get_codec
from asgi_translate.schemas.openai_responses._encoder import ResponsesStreamEncoder
from asgi_translate.schemas.openai_responses._parse_request import (
    ITEM_TYPES,
    TOOL_TYPES,
    types_table,
    upstream_tool_name,
)
from asgi_translate.schemas.openai_responses._response import render_response

ROOT = Path(__file__).resolve().parents[2]
# ../shared beside the checkout (CI), or beside the main checkout for a git worktree under it.
SPEC = next(
    (
        p / "shared" / "specs" / "openai-openapi.yaml"
        for p in (ROOT.parent, ROOT.parent.parent)
        if (p / "shared").is_dir()
    ),
    ROOT.parent / "shared" / "specs" / "openai-openapi.yaml",
)

FUNCTION = {"type": "function", "name": "get_weather", "parameters": {"type": "object", "properties": {}}}
CALL = {"type": "function_call", "call_id": "call_1", "name": "get_weather", "arguments": "{}"}
OUTPUT = {"type": "function_call_output", "call_id": "call_1", "output": "sunny"}
USER = {"type": "message", "role": "user", "content": "hi"}

# tool type -> a tool of that type (minimal, as the spec has it)
TOOL_EXAMPLES: dict[str, dict[str, Any]] = {
    "function": FUNCTION,
    "custom": {"type": "custom", "name": "apply_patch",
               "format": {"type": "grammar", "syntax": "lark", "definition": "x"}},
    "namespace": {"type": "namespace", "name": "crm", "description": "CRM", "tools": [FUNCTION]},
    "tool_search": {"type": "tool_search", "execution": "client", "description": "Find tools"},
    "web_search": {"type": "web_search", "external_web_access": True},
    "web_search_2025_08_26": {"type": "web_search_2025_08_26"},
    "web_search_preview": {"type": "web_search_preview"},
    "web_search_preview_2025_03_11": {"type": "web_search_preview_2025_03_11"},
    "file_search": {"type": "file_search", "vector_store_ids": ["vs_1"]},
    "code_interpreter": {"type": "code_interpreter", "container": {"type": "auto"}},
    "image_generation": {"type": "image_generation"},
    "mcp": {"type": "mcp", "server_label": "x", "server_url": "https://example.invalid/mcp"},
    "computer": {"type": "computer"},
    "computer_use_preview": {"type": "computer_use_preview", "environment": "linux", "display_width": 1,
                             "display_height": 1},
    "programmatic_tool_calling": {"type": "programmatic_tool_calling"},
    "local_shell": {"type": "local_shell"},
    "shell": {"type": "shell"},
    "apply_patch": {"type": "apply_patch"},
}  # fmt: skip

# input item type -> the input around it (a list of items)
ITEM_EXAMPLES: dict[str, list[dict[str, Any]]] = {
    "message": [USER],
    "function_call": [USER, CALL, OUTPUT],
    "function_call_output": [USER, CALL, OUTPUT],
    "custom_tool_call": [USER, {"type": "custom_tool_call", "call_id": "call_2", "name": "apply_patch", "input": "p"},
                         {"type": "custom_tool_call_output", "call_id": "call_2", "output": "done"}],
    "custom_tool_call_output": [USER, {"type": "custom_tool_call", "call_id": "call_2", "name": "apply_patch",
                                       "input": "p"}, {"type": "custom_tool_call_output", "call_id": "call_2",
                                                       "output": "done"}],
    "reasoning": [USER, {"type": "reasoning", "id": "rs_1", "summary": [{"type": "summary_text", "text": "hm"}]},
                  {"type": "message", "role": "assistant", "content": "ok"}, USER],
    "additional_tools": [{"type": "additional_tools", "id": "at_1", "role": "developer", "tools": [FUNCTION]}, USER],
    "tool_search_call": [USER, {"type": "tool_search_call", "id": "ts_1", "call_id": "call_s", "execution": "client",
                                "arguments": {"query": "weather"}, "status": "completed"},
                         {"type": "tool_search_output", "id": "tso_1", "call_id": "call_s", "execution": "client",
                          "status": "completed", "tools": [FUNCTION]}],
    "compaction": [{"type": "compaction", "id": "cmp_1", "encrypted_content": "opaque"}, USER],
    "compaction_trigger": [USER, {"type": "compaction_trigger"}],
}  # fmt: skip
ITEM_EXAMPLES["tool_search_output"] = ITEM_EXAMPLES["tool_search_call"]
for _kind in ITEM_TYPES:
    ITEM_EXAMPLES.setdefault(_kind, [USER, {"type": _kind, "id": f"x_{_kind}", "status": "completed"}])


def translate(body: dict[str, Any], upstream: str = "chat") -> tuple[Request, dict[str, Any]]:
    request = get_codec("responses").parse_request({"model": "m", **body})
    rendered = get_codec(upstream).render_request(request, make_context(request))  # type: ignore[arg-type]
    note_upstream_losses(request, "responses", upstream, rendered)  # type: ignore[arg-type]
    return request, rendered


def chat_tool_names(body: dict[str, Any]) -> list[str]:
    return [tool["function"]["name"] for tool in body.get("tools", [])]


# -- one test per row -------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", list(TOOL_TYPES))
@pytest.mark.parametrize("upstream", ["chat", "messages"])
def test_tool_type_row(kind: str, upstream: str) -> None:
    treatment, _ = TOOL_TYPES[kind]
    tool = TOOL_EXAMPLES[kind]
    request, body = translate({"input": "hi", "tools": [tool]}, upstream)
    names = [t["function"]["name"] if upstream == "chat" else t["name"] for t in body.get("tools", [])]
    if treatment == "mapped":
        expected = {"namespace": ["crm__get_weather"], "tool_search": ["tool_search"]}.get(kind, [tool.get("name")])
        assert names == expected
        assert all(not note.startswith("tools[0] (") for note in request.losses), request.losses
    else:
        assert treatment == "dropped"
        assert names == [] and "tools" not in body
        assert f"tools[0] ({kind} tool) dropped" in request.losses
        row = find(f"tools[0] ({kind} tool) dropped", "responses")
        assert row is not None and not row.hint  # strict refuses it


def test_server_run_tool_search_is_hosted() -> None:
    request, body = translate({"input": "hi", "tools": [{"type": "tool_search"}]})
    assert "tools" not in body and request.losses == ["tools[0] (tool_search tool) dropped"]


@pytest.mark.parametrize("kind", list(ITEM_TYPES))
def test_item_type_row(kind: str) -> None:
    treatment, _ = ITEM_TYPES[kind]
    items = ITEM_EXAMPLES[kind]
    if kind == "item_reference":
        # Resolved by the state layer before parsing (tests/endpoints/test_responses_state.py); one
        # that reaches the parser was never stored.
        with pytest.raises(Exception, match="x_item_reference"):
            translate({"input": [USER, {"type": "item_reference", "id": "x_item_reference"}]})
        return
    if treatment == "refused":
        with pytest.raises(UnsupportedFeatureError, match=kind):
            translate({"input": items})
        return
    request, body = translate({"input": items}, "messages")
    index = next(i for i, item in enumerate(items) if item.get("type") == kind)
    dropped = f"input[{index}] ({kind} item) dropped"
    if treatment == "dropped":
        assert dropped in request.losses
        assert kind not in json.dumps(body["messages"])
        return
    assert dropped not in request.losses and not any("item) dropped" in note for note in request.losses)
    blocks = [b for m in body["messages"] if isinstance(m["content"], list) for b in m["content"]]
    kinds = {block["type"] for block in blocks}
    if kind in ("function_call", "function_call_output", "custom_tool_call", "custom_tool_call_output"):
        assert {"tool_use", "tool_result"} <= kinds
    if kind == "additional_tools":
        assert [tool["name"] for tool in body["tools"]] == ["get_weather"]
    if kind in ("tool_search_call", "tool_search_output"):
        use = next(block for block in blocks if block["type"] == "tool_use")
        result = next(block for block in blocks if block["type"] == "tool_result")
        assert use["name"] == "tool_search" and use["input"] == {"query": "weather"}
        assert result["tool_use_id"] == "call_s" and "get_weather" in json.dumps(result["content"])
        assert "get_weather" in [tool["name"] for tool in body["tools"]]  # the found tool joins the request


def test_unknown_types_are_dropped_and_reported() -> None:
    request, body = translate(
        {"input": [USER, {"type": "hologram", "id": "h1"}], "tools": [FUNCTION, {"type": "teleport"}]}
    )
    assert chat_tool_names(body) == ["get_weather"]
    assert request.losses == ["input[1] (hologram item) dropped", "tools[1] (teleport tool) dropped"]


# -- the table against the spec and the README -------------------------------------------------------


def _schema_block(text: str, name: str) -> str:
    match = re.search(rf"(?m)^    {re.escape(name)}:\n((?:      .*\n|\s*\n)+)", text)
    assert match, name
    return match.group(1)


def _type_enum(text: str, name: str) -> list[str]:
    block = _schema_block(text, name)
    match = re.search(r"(?m)^        type:\n(?:          .*\n)*?          enum:\n((?:            - .*\n)+)", block)
    if match is None:  # a nullable type (anyOf: - type: string, enum: ...)
        match = re.search(
            r"(?m)^        type:\n(?:          .*\n)*?              enum:\n((?:                - .*\n)+)", block
        )
    assert match, name
    return [line.strip()[2:].strip("\"'") for line in match.group(1).splitlines()]


def _one_of(text: str, name: str) -> list[str]:
    return re.findall(r'\$ref: "#/components/schemas/(\w+)"', _schema_block(text, name))


@pytest.mark.skipif(not SPEC.is_file(), reason="the specs live in ../shared/specs")
def test_the_tables_name_every_type_in_the_spec() -> None:
    text = SPEC.read_text()
    tools = {kind for ref in _one_of(text, "Tool") for kind in _type_enum(text, ref)}
    assert tools == set(TOOL_TYPES)
    items: set[str] = set()
    for ref in _one_of(text, "InputItem"):
        if ref == "EasyInputMessage":
            items.add("message")
            continue
        for item_ref in _one_of(text, "Item") if ref == "Item" else [ref]:
            if item_ref in ("InputMessage", "OutputMessage"):
                items.add("message")
            else:
                items.update(_type_enum(text, item_ref))
    assert items == set(ITEM_TYPES)


def test_the_readme_table_is_the_generated_one() -> None:
    readme = (ROOT / "README.md").read_text()
    start, end = "<!-- responses-types:start -->\n", "<!-- responses-types:end -->"
    assert readme.split(start, 1)[1].split(end, 1)[0] == types_table(), (
        "regenerate with: python -m asgi_translate.schemas.openai_responses._parse_request"
    )


# -- names ---------------------------------------------------------------------------------------


def test_names_stay_within_every_upstreams_limits_and_distinct() -> None:
    assert upstream_tool_name("exec_command") == "exec_command"
    assert upstream_tool_name("spawn_agent", "multi_agent_v1") == "multi_agent_v1__spawn_agent"
    odd = [upstream_tool_name("a" * 70), upstream_tool_name("a" * 71), upstream_tool_name("read.file", "fs:v2")]
    for name in odd:
        assert re.fullmatch(r"[a-zA-Z0-9_-]{1,64}", name), name
    assert len(set(odd)) == 3 and odd[2].startswith("fs_v2__read_file_")


def test_namespace_calls_come_back_with_their_namespace_and_name() -> None:
    long_name = "x" * 80
    tools = [{"type": "namespace", "name": "multi_agent_v1", "description": "agents", "tools": [
        FUNCTION, {"type": "custom", "name": "exec"}, {"type": "function", "name": long_name}]}]  # fmt: skip
    request, body = translate({"input": "hi", "tools": tools})
    wire = chat_tool_names(body)
    assert wire[:2] == ["multi_agent_v1__get_weather", "multi_agent_v1__exec"]
    assert [tool["function"].get("description") for tool in body["tools"]] == ["agents"] * 3  # the group's
    ctx = make_context(request, client_body={"tools": tools})
    response = Response(
        id="r",
        model="m",
        content=[
            ToolCallPart("call_a", wire[0], '{"city": "Paris"}'),
            ToolCallPart("call_b", wire[1], '{"input": "text()"}'),
            ToolCallPart("call_c", wire[2], "{}"),
        ],
        stop_reason="tool_use",
    )
    output = render_response(response, ctx)["output"]
    assert [(i["type"], i.get("namespace"), i["name"]) for i in output] == [
        ("function_call", "multi_agent_v1", "get_weather"),
        ("custom_tool_call", "multi_agent_v1", "exec"),
        ("function_call", "multi_agent_v1", long_name),
    ]
    assert output[1]["input"] == "text()"
    # Replayed next turn, the calls get the same upstream names.
    replay = [USER, *({k: v for k, v in item.items() if k != "status"} for item in output)]
    replay += [{"type": "function_call_output", "call_id": c, "output": "ok"} for c in ("call_a", "call_c")]
    replay.append({"type": "custom_tool_call_output", "call_id": "call_b", "output": "ok"})
    _, second = translate({"input": replay, "tools": tools})
    calls = [call["function"]["name"] for m in second["messages"] for call in m.get("tool_calls", [])]
    assert calls == wire


def test_a_tool_search_call_in_a_json_answer() -> None:
    request, _ = translate({"input": "hi", "tools": [TOOL_EXAMPLES["tool_search"]]})
    content: list[Part] = [
        ToolCallPart("call_s", "tool_search", '{"query": "crm"}'),
        ToolCallPart("call_t", "tool_search", "x"),
    ]
    output = render_response(Response("r", "m", content, "tool_use"), make_context(request, client_body={}))["output"]
    assert [(item["type"], item["execution"], item["arguments"]) for item in output] == [
        ("tool_search_call", "client", {"query": "crm"}),
        ("tool_search_call", "client", {"query": "x"}),  # text that is not JSON is the query
    ]


def stream(request: Request, events: list[StreamEvent]) -> list[dict[str, Any]]:
    encoder = ResponsesStreamEncoder(make_context(request, client_body={}))
    raw = b"".join(as_bytes(encoder.encode(event)) for event in events).decode()
    return [json.loads(line[6:]) for line in raw.splitlines() if line.startswith("data: ")]


def test_a_tool_search_call_streams_back_as_the_spec_item() -> None:
    request, _ = translate({"input": "hi", "tools": [TOOL_EXAMPLES["tool_search"], TOOL_EXAMPLES["namespace"]]})
    frames = stream(
        request,
        [
            MessageStart("r", "m"),
            BlockStart(0, "tool_call", call_id="call_s", name="tool_search"),
            BlockDelta(0, '{"query": "agen'),
            BlockDelta(0, 't", "limit": 2}'),
            BlockStop(0),
            BlockStart(1, "tool_call", call_id="call_n", name="crm__get_weather"),
            BlockDelta(1, "{}"),
            BlockStop(1),
            Finish("tool_use"),
        ],
    )
    done = [frame["item"] for frame in frames if frame["type"] == "response.output_item.done"]
    assert done[0] == {
        "id": done[0]["id"],
        "type": "tool_search_call",
        "status": "completed",
        "call_id": "call_s",
        "execution": "client",
        "arguments": {"query": "agent", "limit": 2},
    }
    assert (done[1]["type"], done[1]["namespace"], done[1]["name"]) == ("function_call", "crm", "get_weather")
    assert frames[-1]["response"]["output"] == done
    assert not any("tool_search" in frame["type"] for frame in frames)  # no delta events for it


# -- tool-less requests over a history of tool calls ----------------------------------------------------

COMPACTION = {
    "input": [USER, CALL, OUTPUT, {"type": "message", "role": "user", "content": "Summarise the conversation."}],
    "tools": [],
    "tool_choice": "auto",
    "parallel_tool_calls": False,
}


def test_compaction_toward_chat_sends_no_tool_settings() -> None:
    _, body = translate(COMPACTION)
    assert "tools" not in body and "tool_choice" not in body and "parallel_tool_calls" not in body
    assert body["messages"][1]["tool_calls"][0]["function"]["name"] == "get_weather"


def test_compaction_toward_messages_defines_the_history_tools_without_inviting_calls() -> None:
    _, body = translate(COMPACTION, "messages")
    assert body["tools"] == [
        {
            "name": "get_weather",
            "description": "Called earlier in this conversation; not available now. Do not call it.",
            "input_schema": {"type": "object"},
        }
    ]
    assert body["tool_choice"] == {"type": "none"}


def test_history_tools_missing_from_the_list_get_a_definition_beside_the_real_ones() -> None:
    other = {"type": "function", "name": "read_file", "parameters": {"type": "object"}}
    _, body = translate({**COMPACTION, "tools": [other], "tool_choice": "auto"}, "messages")
    assert [tool["name"] for tool in body["tools"]] == ["read_file", "get_weather"]
    assert body["tool_choice"]["type"] == "auto"
