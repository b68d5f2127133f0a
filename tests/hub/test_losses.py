"""Loss reporting: every row of the mapping table is proven by a translation, every note a codec
writes has a row, the header and strict mode, and the README table is the generated one."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx2
import pytest
from conftest import make_context

from asgi_translate import TranslateMiddleware, UnsupportedFeatureError
from asgi_translate._hub.losses import KNOWN, Loss, field_of, find, header_value, note_upstream_losses, readme_table
from asgi_translate._hub.routes import SchemaName
from asgi_translate._model_map import MaxTokensCap
from asgi_translate.schemas import get_codec
from asgi_translate.testing import FakeModel

ROOT = Path(__file__).resolve().parents[2]
USER: Any = [{"role": "user", "content": "hi"}]
BASE: dict[str, dict[str, Any]] = {
    "chat": {"model": "m", "messages": USER},
    "messages": {"model": "m", "max_tokens": 4000, "messages": USER},
    "responses": {"model": "m", "input": "hi"},
}
TOOL_TURN: Any = [
    {"role": "user", "content": "go"},
    {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "f", "input": {}}]},
    {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "boom", "is_error": True}]},
]
CUSTOM_TOOL = {"type": "custom", "name": "sh", "format": {"type": "grammar", "syntax": "lark", "definition": "x"}}
THINKING_TURN: Any = [
    {"type": "message", "role": "user", "content": "go"},
    {"type": "reasoning", "summary": [{"type": "summary_text", "text": "hm"}]},
    {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "ok"}]},
    {"type": "message", "role": "user", "content": "again"},
]

CAP = 8192

# (client, field) -> (upstream, fields added to the client's base body): a request showing the row.
EXAMPLES: dict[tuple[str, str], tuple[SchemaName, dict[str, Any]]] = {
    ("chat", "messages[].name"): ("messages", {"messages": [{"role": "user", "content": "hi", "name": "bob"}]}),
    ("chat", "logprobs, top_logprobs"): ("messages", {"logprobs": True}),
    ("chat", "frequency_penalty, presence_penalty, logit_bias, seed"): ("messages", {"seed": 3}),
    ("chat", "store, metadata, service_tier, prompt_cache_key, prompt_cache_retention"): (
        "messages",
        {"prompt_cache_key": "k"},
    ),
    ("chat", "any other field (prediction, audio settings, ...)"): ("responses", {"prediction": {"type": "content"}}),
    ("chat", "n > 1"): ("messages", {"n": 2}),
    ("chat", "audio, modalities other than text, input_audio parts"): ("messages", {"modalities": ["audio"]}),
    ("chat", "web_search_options, non-function tools"): ("messages", {"web_search_options": {}}),
    ("chat", "functions, function_call, function messages"): ("messages", {"functions": []}),
    ("messages", "cache_control"): (
        "chat",
        {"system": [{"type": "text", "text": "s", "cache_control": {"type": "ephemeral"}}]},
    ),
    ("messages", "citations"): (
        "chat",
        {"system": [{"type": "text", "text": "s", "citations": [{"type": "char_location"}]}]},
    ),
    ("messages", "top_k"): ("chat", {"top_k": 5}),
    ("messages", "thinking.budget_tokens"): ("chat", {"thinking": {"type": "enabled", "budget_tokens": 2048}}),
    ("messages", "thinking.display"): (
        "chat",
        {"thinking": {"type": "enabled", "budget_tokens": 2048, "display": "x"}},
    ),
    ("messages", "output_config.effort (thinking disabled)"): (
        "chat",
        {"thinking": {"type": "disabled"}, "output_config": {"effort": "high"}},
    ),
    ("messages", "document with a plain-text source"): (
        "chat",
        {
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "d"}}
                    ],
                }
            ]
        },
    ),
    ("messages", "tools[].eager_input_streaming, defer_loading, allowed_callers, input_examples"): (
        "chat",
        {"tools": [{"name": "f", "input_schema": {"type": "object"}, "defer_loading": True}]},
    ),
    ("messages", "tool_result.is_error"): ("chat", {"messages": TOOL_TURN}),
    ("messages", "service_tier, inference_geo, container, context_management, speed"): (
        "chat",
        {"service_tier": "auto"},
    ),
    ("messages", "any other field"): ("chat", {"frobnicate": 1}),
    ("messages", "mcp_servers, server tools and their result blocks"): ("chat", {"mcp_servers": []}),
    ("messages", "Files API sources, search_result blocks"): (
        "chat",
        {"messages": [{"role": "user", "content": [{"type": "image", "source": {"type": "file", "file_id": "f"}}]}]},
    ),
    ("responses", "text.verbosity"): ("chat", {"text": {"verbosity": "low"}}),
    ("responses", "include[] (other than reasoning.encrypted_content)"): (
        "chat",
        {"include": ["file_search_call.results"]},
    ),
    ("responses", "truncation: auto"): ("chat", {"truncation": "auto"}),
    ("responses", "prompt_cache_key, prompt_cache_retention, client_metadata, service_tier"): (
        "chat",
        {"prompt_cache_key": "k", "client_metadata": {"session_id": "s"}},
    ),
    ("responses", "any other field"): ("chat", {"frobnicate": 1}),
    ("responses", "tools of a hosted, built-in or unknown type (web_search, mcp, ...; see the table below)"): (
        "chat",
        {"tools": [{"type": "web_search"}]},
    ),
    ("responses", "input items of hosted or built-in tools, or of an unknown type"): (
        "messages",
        {"input": [{"type": "web_search_call", "id": "ws_1"}, {"role": "user", "content": "hi"}]},
    ),
    ("responses", "background, conversation, prompt, compaction items, tool_choice naming a hosted tool"): (
        "chat",
        {"background": True},
    ),
    ("chat", "reasoning effort"): ("messages", {"reasoning_effort": "high"}),
    ("responses", "reasoning effort"): ("messages", {"reasoning": {"effort": "high"}}),
    ("responses", "custom tool format (grammar)"): ("chat", {"tools": [CUSTOM_TOOL]}),
    ("responses", "metadata"): ("chat", {"metadata": {"k": "v"}}),
    ("chat", "stop sequences"): ("responses", {"stop": ["END"]}),
    ("messages", "stop sequences"): ("responses", {"stop_sequences": ["END"]}),
    ("chat", "max_tokens below 16"): ("responses", {"max_tokens": 5}),
    ("messages", "max_tokens below 16"): ("responses", {"max_tokens": 1}),
    ("chat", "reasoning history"): (
        "messages",
        {
            "messages": [
                {"role": "user", "content": "a"},
                {"role": "assistant", "content": "b", "reasoning_content": "r"},
                {"role": "user", "content": "c"},
            ]
        },
    ),
    ("messages", "reasoning history"): (
        "responses",
        {
            "messages": [
                {"role": "user", "content": "a"},
                {
                    "role": "assistant",
                    "content": [{"type": "thinking", "thinking": "r", "signature": "s"}, {"type": "text", "text": "b"}],
                },
                {"role": "user", "content": "c"},
            ]
        },
    ),
    ("responses", "reasoning history"): ("messages", {"input": THINKING_TURN}),
    ("chat", "reasoning (forced tool call, unsigned tool turn, small max_tokens)"): (
        "messages",
        {"reasoning_effort": "high", "max_tokens": 500},
    ),
    ("responses", "reasoning (forced tool call, unsigned tool turn, small max_tokens)"): (
        "messages",
        {"reasoning": {"effort": "high"}, "max_output_tokens": 500},
    ),
    ("chat", "temperature, top_p"): ("messages", {"temperature": 1.5}),
    ("responses", "temperature, top_p"): ("messages", {"temperature": 0.5, "top_p": 0.5}),
    ("chat", "whitespace-only stop sequences"): ("messages", {"stop": ["\n"]}),
    ("chat", "response_format json_object"): ("messages", {"response_format": {"type": "json_object"}}),
    ("responses", "response_format json_object"): ("messages", {"text": {"format": {"type": "json_object"}}}),
    ("messages", "system block x-anthropic-billing-header: ..."): (
        "chat",
        {"system": [{"type": "text", "text": "x-anthropic-billing-header: cc_version=2.1.332.3f6;"}]},
    ),
    ("messages", "output_config.task_budget"): ("chat", {"output_config": {"task_budget": {"total": 1000}}}),
    ("messages", "thread"): ("chat", {"thread": {"type": "create"}}),
    ("chat", "system/developer messages after the first turn"): (
        "messages",
        {"messages": [*USER, {"role": "system", "content": "later"}]},
    ),
    ("responses", "system/developer messages after the first turn"): (
        "messages",
        {"input": [*USER, {"role": "developer", "content": "later"}]},
    ),
    ("chat", "user id (metadata.user_id, user, safety_identifier) over the upstream's limit"): (
        "responses",
        {"user": "u" * 65},
    ),
    ("messages", "user id (metadata.user_id, user, safety_identifier) over the upstream's limit"): (
        "chat",
        {"metadata": {"user_id": "u" * 150}},
    ),
    ("responses", "user id (metadata.user_id, user, safety_identifier) over the upstream's limit"): (
        "messages",
        {"safety_identifier": "u" * 513},
    ),
    ("messages", "more than 4 stop sequences"): ("chat", {"stop_sequences": ["a", "b", "c", "d", "e"]}),
    ("chat", "max_tokens over max_tokens_cap"): ("messages", {"max_tokens": CAP + 1}),
    ("messages", "max_tokens over max_tokens_cap"): ("chat", {"max_tokens": CAP + 1}),
    ("responses", "max_tokens over max_tokens_cap"): ("chat", {"max_output_tokens": CAP + 1}),
}


def translate(client: SchemaName, upstream: SchemaName, extra: dict[str, Any]) -> list[str]:
    request = get_codec(client).parse_request({**BASE[client], **extra})
    MaxTokensCap(CAP).apply(request, request.model)  # as the exchange does, with max_tokens_cap=CAP
    body = get_codec(upstream).render_request(request, make_context(request))
    note_upstream_losses(request, client, upstream, body)
    return request.losses


def row_id(row: Loss) -> str:
    return f"{row.client}:{row.field}"


@pytest.mark.parametrize("row", KNOWN, ids=row_id)
def test_every_row_is_shown_by_a_translation(row: Loss) -> None:
    upstream, extra = EXAMPLES[(row.client, row.field)]
    assert upstream in row.toward
    if row.treatment == "rejected":
        with pytest.raises(UnsupportedFeatureError):
            translate(row.client, upstream, extra)
        return
    found = [find(note, row.client) for note in translate(row.client, upstream, extra)]
    assert row in found and None not in found, found


def test_every_example_belongs_to_a_row() -> None:
    assert set(EXAMPLES) == {(row.client, row.field) for row in KNOWN}


# Notes written by the codecs: note(losses, "..."), losses.append("..."), losses.extend(f"..." ...).
_NOTE_CALL = re.compile(r"""(?:note\([\w.]*losses,\s*|losses\.(?:append|extend)\()f?(["'])(.*?)\1""")


def codec_notes() -> list[str]:
    """Every loss note literal in the codecs, placeholders filled with a sample word."""
    notes = []
    for path in sorted((ROOT / "asgi_translate" / "schemas").rglob("*.py")):
        for match in _NOTE_CALL.finditer(path.read_text()):
            notes.append(re.sub(r"\{[^}]*\}", "sample", match.group(2)))
    return notes


def test_the_codecs_write_notes() -> None:
    assert len(codec_notes()) >= 20


@pytest.mark.parametrize("note", codec_notes())
def test_every_note_a_codec_writes_has_a_row(note: str) -> None:
    assert find(note) is not None, f"add a row to asgi_translate/_losses.py KNOWN for {note!r}"


def test_fields_for_the_header() -> None:
    assert [field_of(note) for note in ["top_k dropped", "unknown field foo dropped", "include 'x.y' dropped"]] == [
        "top_k",
        "foo",
        "include 'x.y'",
    ]
    assert field_of("temperature 1.5 clamped to 1 (Anthropic's range is 0-1)") == "temperature 1.5"
    assert field_of("reasoning dropped (max_tokens 5 leaves no room)") == "reasoning"
    assert header_value(["top_k dropped", "top_k dropped", "unknown field a\r\nb: c dropped"]) == b"top_k, a??b? c"
    assert len(header_value([f"unknown field f{i} dropped" for i in range(500)])) == 1024


# -- through the middleware ----------------------------------------------------------------------


def post(app: Any, path: str, body: dict[str, Any]) -> Any:
    async def go() -> httpx2.Response:
        async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://proxy") as http:
            return await http.post(path, json=body)

    import anyio

    return anyio.run(go)


def test_losses_are_reported_in_a_header() -> None:
    app = TranslateMiddleware(FakeModel(), upstream="chat")
    body = {
        **BASE["messages"],
        "top_k": 3,
        "system": [{"type": "text", "text": "s", "cache_control": {"type": "ephemeral"}}],
    }
    response = post(app, "/v1/messages", body)
    assert response.status_code == 200
    assert response.headers["x-asgi-translate-losses"] == "cache_control, top_k"


def test_no_header_when_nothing_is_lost() -> None:
    response = post(TranslateMiddleware(FakeModel(), upstream="chat"), "/v1/messages", BASE["messages"])
    assert response.status_code == 200 and "x-asgi-translate-losses" not in response.headers


def test_strict_mode_refuses_a_lossy_request_listing_the_losses() -> None:
    """Only losses that change the answer are listed: the cache key is a hint, reported only."""
    app = TranslateMiddleware(FakeModel(), upstream="chat", strict=True)
    body = {**BASE["responses"], "text": {"verbosity": "low"}, "prompt_cache_key": "k", "frobnicate": 1}
    response = post(app, "/v1/responses", body)
    assert response.status_code == 400
    assert response.json()["error"] == {
        "message": "strict mode: this request cannot be translated without losses: text.verbosity dropped; "
        "frobnicate ignored",
        "type": "invalid_request_error",
        "param": "text.verbosity",
        "code": None,
    }
    assert response.headers["x-asgi-translate-losses"] == "text.verbosity, prompt_cache_key, frobnicate"
    fine = post(app, "/v1/responses", BASE["responses"])
    assert fine.status_code == 200 and fine.json()["status"] == "completed"


def test_strict_mode_lets_hints_through_and_reports_them() -> None:
    """What Codex always sends (cache key, client metadata) cannot change the answer."""
    app = TranslateMiddleware(FakeModel(), upstream="chat", strict=True)
    hints = {"prompt_cache_key": "k", "client_metadata": {"session_id": "s"}, "metadata": {"a": "b"}}
    body = {**BASE["responses"], **hints}
    response = post(app, "/v1/responses", body)
    assert response.status_code == 200, response.text
    assert response.headers["x-asgi-translate-losses"] == "prompt_cache_key, client_metadata, metadata"
    cached = {**BASE["messages"], "system": [{"type": "text", "text": "s", "cache_control": {"type": "ephemeral"}}]}
    assert post(app, "/v1/messages", cached).status_code == 200
    assert post(app, "/v1/chat/completions", {**BASE["chat"], "prompt_cache_key": "k"}).status_code == 200


def test_strict_mode_sees_render_side_losses() -> None:
    app = TranslateMiddleware(FakeModel(), upstream="chat", strict=True)
    response = post(app, "/v1/messages", {**BASE["messages"], "thinking": {"type": "enabled", "budget_tokens": 2048}})
    assert response.status_code == 400
    assert response.json()["error"]["message"].endswith("thinking.budget_tokens coerced to reasoning effort 'low'")


# -- the README ----------------------------------------------------------------------------------

START, END = "<!-- losses-table:start -->", "<!-- losses-table:end -->"


def test_the_generated_table_has_a_row_per_field() -> None:
    table = readme_table()
    assert table.startswith("| Client | Field | Toward | Treatment | Why |\n|---|---|---|---|---|\n")
    assert "| Anthropic Messages | `top_k` | any upstream | dropped | OpenAI schemas have no top_k; " in table
    assert "| Chat Completions, Responses | `reasoning effort` | Anthropic Messages | coerced |" in table


def test_the_readme_table_is_the_generated_one() -> None:
    readme = (ROOT / "README.md").read_text()
    assert START in readme and END in readme
    section = readme.split(START, 1)[1].split(END, 1)[0].strip("\n") + "\n"
    assert section == readme_table(), "regenerate with: python -m asgi_translate._hub.losses"


def test_the_command_has_a_strict_flag() -> None:
    from asgi_translate.cli import build_app, build_parser

    assert build_app(build_parser().parse_args(["--strict"])).strict is True
    assert build_app(build_parser().parse_args([])).strict is False
