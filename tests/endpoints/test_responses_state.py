"""Responses state over a stateless chat upstream: store, previous_response_id and the
GET/DELETE/input_items endpoints, driven through TranslateMiddleware and the official SDK."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx2
import pytest
from conftest import FIXED_TIME, counting_ids
from openai import AsyncOpenAI, NotFoundError

from asgi_translate import TranslateMiddleware
from asgi_translate._state.memory import MemoryStore
from asgi_translate.testing import FakeModel

pytestmark = pytest.mark.anyio

TOOL: Any = {
    "type": "function",
    "name": "get_weather",
    "description": "Weather for a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


class Setup:
    def __init__(self) -> None:
        self.model = FakeModel()
        self.store = MemoryStore()
        self.app = TranslateMiddleware(
            self.model, upstream="chat", response_store=self.store, id_factory=counting_ids(), clock=lambda: FIXED_TIME
        )
        # The raw requests carry the SDK's key: stored responses belong to the key that made them.
        self.http = httpx2.AsyncClient(
            transport=httpx2.ASGITransport(app=self.app),
            base_url="http://test",
            headers={"authorization": "Bearer sk-test"},
        )
        self.client = AsyncOpenAI(api_key="sk-test", base_url="http://test/v1", http_client=self.http)

    def upstream_messages(self, n: int = -1) -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = self.model.requests[n].body["messages"]
        return messages


@pytest.fixture
async def setup() -> AsyncIterator[Setup]:
    s = Setup()
    yield s
    await s.http.aclose()


async def test_previous_response_id_replays_the_chain(setup: Setup) -> None:
    first = await setup.client.responses.create(model="fake-model", input="hello there")
    assert first.id.startswith("resp_")
    assert first.output_text == "You said: hello there"
    second = await setup.client.responses.create(
        model="fake-model", input="and again", previous_response_id=first.id, instructions="Be brief."
    )
    assert second.output_text == "You said: and again"
    assert second.previous_response_id == first.id
    assert setup.upstream_messages() == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "hello there"},
        {"role": "assistant", "content": "You said: hello there"},
        {"role": "user", "content": "and again"},
    ]


async def test_a_chain_of_three_replays_every_turn(setup: Setup) -> None:
    first = await setup.client.responses.create(model="fake-model", input="one")
    second = await setup.client.responses.create(model="fake-model", input="two", previous_response_id=first.id)
    await setup.client.responses.create(model="fake-model", input="three", previous_response_id=second.id)
    texts = [m["content"] for m in setup.upstream_messages()]
    assert texts == ["one", "You said: one", "two", "You said: two", "three"]


async def test_tool_loop_with_previous_response_id(setup: Setup) -> None:
    first = await setup.client.responses.create(model="fake-model", input="use get_weather", tools=[TOOL])
    call = first.output[0]
    assert call.type == "function_call"
    assert call.name == "get_weather" and call.arguments == '{"city":"example"}'
    assert call.id is not None and call.id.startswith("fc_") and call.id != call.call_id
    second = await setup.client.responses.create(
        model="fake-model",
        previous_response_id=first.id,
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": "sunny"}],
        tools=[TOOL],
    )
    assert second.output_text == "The tool returned: sunny"
    messages = setup.upstream_messages()
    assert messages[1]["tool_calls"][0]["id"] == call.call_id
    assert messages[2] == {"role": "tool", "tool_call_id": call.call_id, "content": "sunny"}


async def test_streamed_response_is_stored(setup: Setup) -> None:
    async with setup.client.responses.stream(model="fake-model", input="stream me") as stream:
        final = await stream.get_final_response()
    assert final.output_text == "You said: stream me"
    stored = await setup.client.responses.retrieve(final.id)
    assert stored.id == final.id
    assert stored.output_text == "You said: stream me"
    assert stored.usage is not None and stored.usage.output_tokens == final.usage.output_tokens  # type: ignore[union-attr]
    follow = await setup.client.responses.create(model="fake-model", input="next", previous_response_id=final.id)
    assert follow.output_text == "You said: next"
    assert [m["content"] for m in setup.upstream_messages()] == ["stream me", "You said: stream me", "next"]


async def test_unknown_previous_response_id_is_a_404(setup: Setup) -> None:
    with pytest.raises(NotFoundError) as info:
        await setup.client.responses.create(model="fake-model", input="hi", previous_response_id="resp_nope")
    assert info.value.body == {
        "message": "Previous response with id 'resp_nope' not found.",
        "type": "invalid_request_error",
        "param": "previous_response_id",
        "code": "previous_response_not_found",
    }
    assert setup.model.requests == []


async def test_store_false_keeps_nothing(setup: Setup) -> None:
    response = await setup.client.responses.create(model="fake-model", input="secret", store=False)
    assert response.to_dict()["store"] is False
    assert len(setup.store) == 0
    with pytest.raises(NotFoundError):
        await setup.client.responses.retrieve(response.id)


async def test_get_and_delete(setup: Setup) -> None:
    created = await setup.client.responses.create(model="fake-model", input="keep me")
    got = await setup.http.get(f"/v1/responses/{created.id}")
    assert got.status_code == 200
    assert got.json()["output"][0]["content"][0]["text"] == "You said: keep me"
    deleted = await setup.http.delete(f"/v1/responses/{created.id}")
    assert deleted.json() == {"id": created.id, "object": "response", "deleted": True}
    missing = await setup.http.get(f"/v1/responses/{created.id}")
    assert missing.status_code == 404
    assert missing.json()["error"]["message"] == f"Response with id '{created.id}' not found."
    assert (await setup.http.delete(f"/v1/responses/{created.id}")).status_code == 404


async def test_input_items_list_every_item_with_ids(setup: Setup) -> None:
    first = await setup.client.responses.create(model="fake-model", input="first")
    second = await setup.client.responses.create(model="fake-model", input="second", previous_response_id=first.id)
    page = await setup.client.responses.input_items.list(second.id, order="asc")
    items = [item.model_dump() for item in page.data]
    assert [item["type"] for item in items] == ["message", "message", "message"]
    assert [item["role"] for item in items] == ["user", "assistant", "user"]
    assert [(part["type"], part["text"]) for part in items[2]["content"]] == [("input_text", "second")]
    assert all(item["id"] for item in items)
    raw = (await setup.http.get(f"/v1/responses/{second.id}/input_items")).json()
    assert raw["object"] == "list" and raw["has_more"] is False
    assert [item["id"] for item in raw["data"]] == [item["id"] for item in reversed(items)]  # desc by default
    assert raw["first_id"] == items[2]["id"] and raw["last_id"] == items[0]["id"]


async def test_input_items_paging(setup: Setup) -> None:
    first = await setup.client.responses.create(model="fake-model", input="a")
    second = await setup.client.responses.create(model="fake-model", input="b", previous_response_id=first.id)
    page = (await setup.http.get(f"/v1/responses/{second.id}/input_items?limit=2&order=asc")).json()
    assert len(page["data"]) == 2 and page["has_more"] is True
    rest = (await setup.http.get(f"/v1/responses/{second.id}/input_items?order=asc&after={page['last_id']}")).json()
    assert [item["role"] for item in rest["data"]] == ["user"]
    assert rest["has_more"] is False


def reference_then_ok(item_id: str | None) -> Any:
    return [{"type": "item_reference", "id": item_id}, {"role": "user", "content": "ok"}]


async def test_item_reference_resolves_against_the_chain(setup: Setup) -> None:
    first = await setup.client.responses.create(model="fake-model", input="remember this")
    message_id = first.output[0].id
    await setup.client.responses.create(
        model="fake-model",
        previous_response_id=first.id,
        input=reference_then_ok(message_id),
    )
    messages = setup.upstream_messages()
    assert [m["role"] for m in messages] == ["user", "assistant", "user"]
    assert str(messages[1]["content"]).count("You said: remember this") == 2  # the chain's item, then the reference
    assert messages[2]["content"] == "ok"


async def test_item_reference_resolves_any_stored_item_without_a_chain(setup: Setup) -> None:
    """The Vercel AI SDK's shape (store on, no previous_response_id): earlier output by reference."""
    first = await setup.client.responses.create(model="fake-model", input="remember this")
    message_id = first.output[0].id
    assert message_id is not None
    history: Any = [
        {"role": "user", "content": "remember this"},
        {"type": "item_reference", "id": message_id},
        {"id": message_id},  # the spec's other spelling: type null or absent beside a lone id
        {"role": "user", "content": "ok"},
    ]
    second = await setup.client.responses.create(model="fake-model", input=history)
    assert second.output_text == "You said: ok"
    assert setup.upstream_messages() == [
        {"role": "user", "content": "remember this"},
        {"role": "assistant", "content": "You said: remember thisYou said: remember this"},
        {"role": "user", "content": "ok"},
    ]
    # What the second response stored is the resolved item, so a chain from it replays it.
    items = (await setup.http.get(f"/v1/responses/{second.id}/input_items?order=asc")).json()["data"]
    assert [item["type"] for item in items] == ["message"] * 4 and items[1]["id"] == message_id


async def test_an_item_id_never_stored_is_a_404_naming_it(setup: Setup) -> None:
    await setup.client.responses.create(model="fake-model", input="something stored")
    response = await setup.http.post(
        "/v1/responses", json={"model": "fake-model", "input": [{"type": "item_reference", "id": "msg_unknown"}]}
    )
    assert response.status_code == 404
    assert response.json()["error"]["param"] == "input[0].id"
    assert response.json()["error"]["message"] == "Item with id 'msg_unknown' not found."
    assert len(setup.model.requests) == 1


async def test_references_resolve_only_while_their_response_is_kept() -> None:
    store = MemoryStore(max_entries=1)
    app = TranslateMiddleware(FakeModel(), upstream="chat", response_store=store)
    async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://test") as http:
        first = (await http.post("/v1/responses", json={"model": "m", "input": "one"})).json()
        items = [{"type": "item_reference", "id": first["output"][0]["id"]}, {"role": "user", "content": "x"}]
        reference = {"model": "m", "input": items}
        assert (await http.post("/v1/responses", json={**reference, "store": False})).status_code == 200
        await http.post("/v1/responses", json={"model": "m", "input": "two"})  # evicts the first
        assert (await http.post("/v1/responses", json=reference)).status_code == 404


async def test_other_paths_and_methods_pass_through(setup: Setup) -> None:
    response = await setup.http.get("/v1/models")
    assert response.status_code == 200
    assert setup.model.requests[-1].path == "/v1/models"
    assert (await setup.http.get("/v1/responses/resp_x/other")).status_code != 200
    assert setup.model.requests[-1].path == "/v1/responses/resp_x/other"


async def test_no_state_endpoints_over_a_responses_upstream() -> None:
    model = FakeModel()
    app = TranslateMiddleware(model, upstream="responses")
    async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://test") as http:
        await http.get("/v1/responses/resp_1")
    assert model.requests[-1].path == "/v1/responses/resp_1"
