"""Rendered upstream requests are prefix-stable across the turns of a conversation, in every direction.

Model servers (vLLM, SGLang, llama.cpp, OpenAI, Anthropic) cache the prompt by prefix: a request
whose beginning matches an earlier one's skips recomputing it. Agents resend the whole conversation
every turn, so the request rendered for turn N+1 must repeat turn N's rendered request byte for byte
up to the new turn: no re-minted ids, no reordering, no field whose value depends on the turn count.

Hypothesis draws conversations (system prompt, user turns, assistant text, reasoning, parallel tool
calls and their results, system messages in mid-conversation), each client schema sends them turn by
turn as a client would (whole history each time), and for every upstream schema the test checks that
each rendered request extends the previous one: every field but the conversation is equal as JSON
bytes, and the conversation array starts with the previous one's items, each equal as JSON bytes.

One exception is by design: toward a Messages upstream that does not take mid-conversation system
messages, those are folded into ``system``, so a turn that adds one changes ``system`` (reported as a
loss); everything else still extends.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import anyio
import httpx
import pytest
from clients.harness import ScriptedUpstream, Text, Turn
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from asgi_translate import TranslateMiddleware

#: Fields that shape only the answer, never the prompt: a Responses upstream is asked for
#: encrypted reasoning once the history holds some to replay.
OUTPUT_ONLY = ("include",)
PATHS = {"chat": "/v1/chat/completions", "messages": "/v1/messages", "responses": "/v1/responses"}
DIRECTIONS = [(client, upstream) for client in PATHS for upstream in PATHS if client != upstream]


@dataclass
class Call:
    id: str
    name: str
    arguments: dict[str, Any]
    result: str


@dataclass
class Exchange:
    """One user turn and the assistant's answer, with the tool round trip it made, if any."""

    user: str
    #: A system message before the user's (after it in the first exchange, where Claude Code puts one).
    system_before: str | None = None
    reasoning: str | None = None
    calls: list[Call] = field(default_factory=list)
    answer: str = "ok"


@dataclass
class Conversation:
    system: str
    exchanges: list[Exchange]


words = st.text(alphabet="abcdefgh ijk\n\u00e9\u4e2d", min_size=1, max_size=12).filter(str.strip)


@st.composite
def conversations(draw: st.DrawFn) -> Conversation:
    exchanges = []
    count = draw(st.integers(2, 4))
    for n in range(count):
        calls = [
            Call(f"call_{n}_{i}", draw(st.sampled_from(["Bash", "Read"])), {"arg": draw(words)}, draw(words))
            for i in range(draw(st.integers(0, 2)))
        ]
        exchanges.append(
            Exchange(
                user=draw(words),
                system_before=draw(st.none() | words),
                reasoning=draw(st.none() | words),
                calls=calls,
                answer=draw(words),
            )
        )
    return Conversation(draw(words), exchanges)


# -- the conversation as each client schema sends it --------------------------------------------------


def chat_items(conversation: Conversation, upto: int, *, with_tools_pending: bool) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = [{"role": "system", "content": conversation.system}]
    for n, exchange in enumerate(conversation.exchanges[: upto + 1]):
        last = n == upto
        system = [{"role": "system", "content": exchange.system_before}] if exchange.system_before else []
        user = [{"role": "user", "content": exchange.user}]
        messages += user + system if n == 0 else system + user
        if last and not (with_tools_pending and exchange.calls):
            break
        if exchange.calls:
            call_turn: dict[str, Any] = {"role": "assistant", "content": None}
            if exchange.reasoning:
                call_turn["reasoning_content"] = exchange.reasoning
            call_turn["tool_calls"] = [
                {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": json.dumps(c.arguments)}}
                for c in exchange.calls
            ]
            messages.append(call_turn)
            messages += [{"role": "tool", "tool_call_id": c.id, "content": c.result} for c in exchange.calls]
        if last:
            break
        messages.append({"role": "assistant", "content": exchange.answer})
    return messages


def messages_body(conversation: Conversation, upto: int, *, with_tools_pending: bool) -> dict[str, Any]:
    messages: list[dict[str, Any]] = []
    for n, exchange in enumerate(conversation.exchanges[: upto + 1]):
        last = n == upto
        if exchange.system_before:
            # Claude Code sends a new system message as text blocks and later ones as strings.
            content: Any = (
                [{"type": "text", "text": exchange.system_before}] if (n + upto) % 2 else exchange.system_before
            )
            messages.append({"role": "system", "content": content})
        messages.insert(
            len(messages) - (n == 0 and bool(exchange.system_before)),
            {"role": "user", "content": [{"type": "text", "text": exchange.user}]},
        )
        if last and not (with_tools_pending and exchange.calls):
            break
        if exchange.calls:
            blocks: list[dict[str, Any]] = []
            if exchange.reasoning:
                blocks.append({"type": "thinking", "thinking": exchange.reasoning, "signature": f"sig-{n}"})
            blocks += [{"type": "tool_use", "id": c.id, "name": c.name, "input": c.arguments} for c in exchange.calls]
            messages.append({"role": "assistant", "content": blocks})
            results = [{"type": "tool_result", "tool_use_id": c.id, "content": c.result} for c in exchange.calls]
            messages.append({"role": "user", "content": results})
        if last:
            break
        messages.append({"role": "assistant", "content": [{"type": "text", "text": exchange.answer}]})
    # Claude Code's billing block opens the system prompt, its suffix new on every request.
    billing = {"type": "text", "text": f"x-anthropic-billing-header: cc_version=2.1.332.{upto}{len(messages)};"}
    system = [billing, {"type": "text", "text": conversation.system}]
    return {"system": system, "messages": messages, "max_tokens": 1000}


def responses_items(conversation: Conversation, upto: int, *, with_tools_pending: bool) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for n, exchange in enumerate(conversation.exchanges[: upto + 1]):
        last = n == upto
        system = [{"role": "developer", "content": exchange.system_before}] if exchange.system_before else []
        user = [{"role": "user", "content": exchange.user}]
        items += user + system if n == 0 else system + user
        if last and not (with_tools_pending and exchange.calls):
            break
        if exchange.calls:
            if exchange.reasoning:
                summary = [{"type": "summary_text", "text": exchange.reasoning}]
                items.append({"type": "reasoning", "summary": summary, "encrypted_content": f"enc-{n}"})
            items += [
                {"type": "function_call", "call_id": c.id, "name": c.name, "arguments": json.dumps(c.arguments)}
                for c in exchange.calls
            ]
            items += [{"type": "function_call_output", "call_id": c.id, "output": c.result} for c in exchange.calls]
        if last:
            break
        items.append(
            {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": exchange.answer}]}
        )
    return items


TOOLS = {
    "chat": [
        {"type": "function", "function": {"name": name, "parameters": {"type": "object", "properties": {}}}}
        for name in ("Bash", "Read")
    ],
    "messages": [{"name": name, "input_schema": {"type": "object", "properties": {}}} for name in ("Bash", "Read")],
    "responses": [
        {"type": "function", "name": name, "parameters": {"type": "object", "properties": {}}}
        for name in ("Bash", "Read")
    ],
}


def client_requests(client: str, conversation: Conversation) -> list[dict[str, Any]]:
    """The bodies a client sends, turn by turn: after each user message and after each tool round."""
    bodies = []
    for upto, exchange in enumerate(conversation.exchanges):
        for pending in (False, True) if exchange.calls else (False,):
            body: dict[str, Any]
            if client == "chat":
                body = {"messages": chat_items(conversation, upto, with_tools_pending=pending)}
            elif client == "messages":
                body = messages_body(conversation, upto, with_tools_pending=pending)
            else:
                body = {
                    "instructions": conversation.system,
                    "input": responses_items(conversation, upto, with_tools_pending=pending),
                    "store": False,
                }
            bodies.append({"model": "agent-model", **body, "tools": TOOLS[client], "metadata": {"user_id": "u-1"}})
    return bodies


# -- the property --------------------------------------------------------------------------------------


def upstream_requests(client: str, upstream: str, bodies: list[dict[str, Any]], headers: dict[str, str]) -> list[Any]:
    model = ScriptedUpstream(upstream, [Turn(Text("ok")) for _ in bodies])  # type: ignore[arg-type]
    app = TranslateMiddleware(model, upstream=upstream)  # type: ignore[arg-type]

    async def send_all() -> None:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://proxy") as http:
            for body in bodies:
                answer = await http.post(PATHS[client], json=body, headers=headers)
                assert answer.status_code == 200, answer.text

    anyio.run(send_all)
    return [request.body for request in model.turn_requests]


def assert_extends(
    before: dict[str, Any], after: dict[str, Any], conversation_key: str, *, system_may_grow: bool
) -> None:
    old, new = before[conversation_key], after[conversation_key]
    assert len(new) > len(old)
    assert [json.dumps(item) for item in new[: len(old)]] == [json.dumps(item) for item in old]
    rest_before = {k: v for k, v in before.items() if k not in (conversation_key, *OUTPUT_ONLY)}
    rest_after = {k: v for k, v in after.items() if k not in (conversation_key, *OUTPUT_ONLY)}
    if system_may_grow and rest_before.get("system") != rest_after.get("system"):
        old_system, new_system = rest_before.pop("system"), rest_after.pop("system")
        assert new_system[: len(old_system)] == old_system
    assert json.dumps(rest_after) == json.dumps(rest_before)


@pytest.mark.parametrize(("client", "upstream"), DIRECTIONS)
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(conversation=conversations())
def test_each_turn_extends_the_previous_one(client: str, upstream: str, conversation: Conversation) -> None:
    bodies = client_requests(client, conversation)
    sent = upstream_requests(client, upstream, bodies, {})
    key = "input" if upstream == "responses" else "messages"
    for before, after in zip(sent, sent[1:], strict=False):
        assert_extends(before, after, key, system_may_grow=upstream == "messages")


@pytest.mark.parametrize("client", ["chat", "responses"])
@settings(max_examples=8, deadline=None)
@given(conversation=conversations())
def test_toward_a_messages_upstream_that_takes_system_messages_nothing_moves(
    client: str, conversation: Conversation
) -> None:
    bodies = client_requests(client, conversation)
    sent = upstream_requests(client, "messages", bodies, {"anthropic-beta": "mid-conversation-system-2026-04-07"})
    for before, after in zip(sent, sent[1:], strict=False):
        assert_extends(before, after, "messages", system_may_grow=False)
    in_place = [m["content"][0]["text"] for m in sent[-1]["messages"] if m["role"] == "system"]
    assert in_place == [e.system_before for e in conversation.exchanges if e.system_before]
