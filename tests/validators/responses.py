"""A checker for the Responses event-stream grammar, independent of our encoder's code.

It asserts what the official SDK's ``responses.stream()`` accumulator and Codex CLI rely on:
lifecycle events first, sequence numbers strictly increasing, every output item announced at the
next ``output_index`` and finished once, content and summary parts paired and indexed in order,
deltas only for open parts and adding up to their ``.done`` text, and exactly one terminal event
(``response.failed`` may follow one ``error`` event) whose ``output`` array is the finished items.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from asgi_translate._hub.sse import SSEDecoder

TERMINAL = ("response.completed", "response.incomplete", "response.failed")


def parse_stream(raw: bytes) -> list[dict[str, Any]]:
    """SSE bytes -> event payloads; every frame must name its type in ``event:`` and in data."""
    decoder = SSEDecoder()
    events: list[dict[str, Any]] = []
    for sse in decoder.decode(raw) + decoder.flush():
        payload = json.loads(sse.data)
        assert sse.event == payload["type"], f"event: {sse.event!r} but data type {payload['type']!r}"
        events.append(payload)
    return events


@dataclass
class _Item:
    item: dict[str, Any]
    done: dict[str, Any] | None = None
    parts: list[dict[str, Any]] = field(default_factory=list)  # content or summary parts
    part_done: list[bool] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    arguments: str = ""


class _Checker:
    def __init__(self) -> None:
        self.items: list[_Item] = []
        self.response_id: str | None = None
        self.terminal: dict[str, Any] | None = None
        self.last_sequence = -1

    def item(self, event: dict[str, Any], kind: str | None = None) -> _Item:
        index: int = event["output_index"]
        assert 0 <= index < len(self.items), f"{event['type']}: output_index {index} was never added"
        entry = self.items[index]
        assert entry.done is None, f"{event['type']}: item {index} is already done"
        if "item_id" in event:
            assert event["item_id"] == entry.item["id"], f"{event['type']}: item_id does not match item {index}"
        if kind is not None:
            assert entry.item["type"] == kind, f"{event['type']} on a {entry.item['type']} item"
        return entry

    def check(self, event: dict[str, Any]) -> None:
        kind = event["type"]
        assert self.terminal is None, f"{kind} after the terminal event"
        sequence = event["sequence_number"]
        assert sequence > self.last_sequence, f"sequence_number {sequence} after {self.last_sequence}"
        self.last_sequence = sequence
        handler = getattr(self, "on_" + kind.replace("response.", "").replace(".", "_"), None)
        if handler is not None:
            handler(event)

    # lifecycle
    def on_created(self, event: dict[str, Any]) -> None:
        assert self.response_id is None, "response.created twice"
        self.response_id = event["response"]["id"]
        assert self.response_id.startswith("resp_"), self.response_id
        assert event["response"]["status"] == "in_progress"

    def on_in_progress(self, event: dict[str, Any]) -> None:
        assert event["response"]["id"] == self.response_id

    # items
    def on_output_item_added(self, event: dict[str, Any]) -> None:
        assert event["output_index"] == len(self.items), "output_index must be the next position"
        item = event["item"]
        prefix = {"message": "msg_", "reasoning": "rs_", "function_call": "fc_", "custom_tool_call": "ctc_"}
        assert item["id"].startswith(prefix[item["type"]]), f"{item['type']} id {item['id']!r}"
        if item["type"] in ("function_call", "custom_tool_call"):
            assert item["call_id"] and item["call_id"] != item["id"]
        self.items.append(_Item(item))

    def on_output_item_done(self, event: dict[str, Any]) -> None:
        entry = self.item(event)
        done = event["item"]
        assert (done["id"], done["type"]) == (entry.item["id"], entry.item["type"]), "item identity changed"
        assert all(entry.part_done), f"item {event['output_index']} done with an open part"
        if done["type"] == "message":
            assert [p.get("text", p.get("refusal")) for p in done["content"]] == entry.texts
        elif done["type"] == "reasoning":
            assert [p["text"] for p in done["summary"]] == entry.texts
        elif done["type"] == "function_call":
            assert done["arguments"] == entry.arguments
        elif done["type"] == "custom_tool_call":
            assert done["input"] == entry.arguments
        entry.done = done

    # message parts
    def on_content_part_added(self, event: dict[str, Any]) -> None:
        entry = self.item(event, "message")
        assert event["content_index"] == len(entry.parts), "content_index must be the next part"
        entry.parts.append(event["part"])
        entry.part_done.append(False)
        entry.texts.append("")

    def _open_part(self, event: dict[str, Any], kind: str) -> _Item:
        entry = self.item(event, kind)
        index = event.get("content_index", event.get("summary_index"))
        assert index is not None and index < len(entry.parts) and not entry.part_done[index], "part not open"
        return entry

    def _part_delta(self, event: dict[str, Any], kind: str, key: str) -> None:
        entry = self._open_part(event, kind)
        entry.texts[event[key]] += event["delta"]

    def _part_text_done(self, event: dict[str, Any], kind: str, key: str, field_name: str) -> None:
        entry = self._open_part(event, kind)
        assert event[field_name] == entry.texts[event[key]], f"{event['type']} text differs from its deltas"

    def on_output_text_delta(self, event: dict[str, Any]) -> None:
        assert event["logprobs"] == []
        self._part_delta(event, "message", "content_index")

    def on_refusal_delta(self, event: dict[str, Any]) -> None:
        self._part_delta(event, "message", "content_index")

    def on_output_text_done(self, event: dict[str, Any]) -> None:
        self._part_text_done(event, "message", "content_index", "text")

    def on_refusal_done(self, event: dict[str, Any]) -> None:
        self._part_text_done(event, "message", "content_index", "refusal")

    def on_content_part_done(self, event: dict[str, Any]) -> None:
        entry = self._open_part(event, "message")
        part = event["part"]
        assert part.get("text", part.get("refusal")) == entry.texts[event["content_index"]]
        entry.part_done[event["content_index"]] = True

    # reasoning summary parts
    def on_reasoning_summary_part_added(self, event: dict[str, Any]) -> None:
        entry = self.item(event, "reasoning")
        assert event["summary_index"] == len(entry.parts), "summary_index must be the next part"
        entry.parts.append(event["part"])
        entry.part_done.append(False)
        entry.texts.append("")

    def on_reasoning_summary_text_delta(self, event: dict[str, Any]) -> None:
        self._part_delta(event, "reasoning", "summary_index")

    def on_reasoning_summary_text_done(self, event: dict[str, Any]) -> None:
        self._part_text_done(event, "reasoning", "summary_index", "text")

    def on_reasoning_summary_part_done(self, event: dict[str, Any]) -> None:
        entry = self._open_part(event, "reasoning")
        assert event["part"]["text"] == entry.texts[event["summary_index"]]
        entry.part_done[event["summary_index"]] = True

    # tool calls
    def on_function_call_arguments_delta(self, event: dict[str, Any]) -> None:
        self.item(event, "function_call").arguments += event["delta"]

    def on_function_call_arguments_done(self, event: dict[str, Any]) -> None:
        assert event["arguments"] == self.item(event, "function_call").arguments

    def on_custom_tool_call_input_delta(self, event: dict[str, Any]) -> None:
        self.item(event, "custom_tool_call").arguments += event["delta"]

    def on_custom_tool_call_input_done(self, event: dict[str, Any]) -> None:
        assert event["input"] == self.item(event, "custom_tool_call").arguments

    # the end
    def finish(self, event: dict[str, Any]) -> None:
        response = event["response"]
        assert response["id"] == self.response_id, "terminal response id differs from response.created"
        status = {"response.completed": "completed", "response.incomplete": "incomplete"}.get(event["type"], "failed")
        assert response["status"] == status
        output = response["output"]
        assert len(output) == len(self.items), "terminal output does not list every item"
        for index, entry in enumerate(self.items):
            if status != "failed":
                assert entry.done is not None, f"item {index} never finished"
                assert output[index] == entry.done, f"terminal output[{index}] differs from its output_item.done"
            assert output[index]["id"] == entry.item["id"]
        if status == "incomplete":
            assert response["incomplete_details"]["reason"] in ("max_output_tokens", "content_filter")
        if status != "failed":
            usage = response["usage"]
            assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]
            assert "cached_tokens" in usage["input_tokens_details"]
            assert "reasoning_tokens" in usage["output_tokens_details"]
        else:
            assert response["error"]["message"]
        self.terminal = response


def validate_responses_stream(raw: bytes) -> list[dict[str, Any]]:
    """Assert the grammar of one complete Responses stream; return its events."""
    events = parse_stream(raw)
    assert events, "empty stream"
    assert events[0]["type"] == "response.created", f"first event is {events[0]['type']}"
    terminals = [i for i, event in enumerate(events) if event["type"] in TERMINAL]
    assert len(terminals) == 1, f"{len(terminals)} terminal events"
    assert terminals[0] == len(events) - 1, "the terminal event is not last"
    checker = _Checker()
    for index, event in enumerate(events):
        if event["type"] == "error":
            assert events[index + 1]["type"] == "response.failed", "an error event must precede response.failed"
        checker.check(event)
        if event["type"] in TERMINAL:
            checker.finish(event)
    return events
