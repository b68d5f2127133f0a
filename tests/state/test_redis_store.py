"""The Redis response store against a real redis-server (issue 7): round trips, expiry, sharing
between processes, and failing fast with StoreUnavailableError when Redis is down or stalled."""

from __future__ import annotations

import gc
import json
import logging
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from redis_server import RedisServer, running_redis
from servers import free_port, run_command

from asgi_translate import TranslateMiddleware
from asgi_translate._state.memory import MemoryStore, StoredResponse, StoreUnavailableError
from asgi_translate._state.redis import RedisStore, open_store, redact_url
from asgi_translate.testing import FakeModel

if not os.environ.get("CI"):
    pytest.importorskip("redis", reason="redis-py is not installed (pip install 'asgi-translate[redis]')")

import redis.asyncio

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).resolve().parents[2]
# How long a failing call may take at most: the store's timeout plus scheduling slack.
TIMEOUT = 0.3
BOUND = TIMEOUT + 1.0


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RedisServer]:
    yield from running_redis(tmp_path)


def entry(text: str) -> StoredResponse:
    response = {"id": "resp_1", "object": "response", "output_text": text, "output": []}
    return StoredResponse(response=response, input_items=[{"role": "user", "content": text}])


async def test_put_get_delete_round_trip(server: RedisServer) -> None:
    store = RedisStore(server.url, timeout=TIMEOUT)
    try:
        assert await store.get("resp_1") is None
        await store.put("resp_1", entry("héllo ✓"))
        got = await store.get("resp_1")
        assert got is not None
        assert got.response["output_text"] == "héllo ✓"
        assert got.input_items == [{"role": "user", "content": "héllo ✓"}]
        assert await store.delete("resp_1") is True
        assert await store.get("resp_1") is None
        assert await store.delete("resp_1") is False
    finally:
        await store.aclose()


async def test_one_key_per_response_with_its_ttl(server: RedisServer) -> None:
    store = RedisStore(server.url, ttl=120, key_prefix="app1:")
    client = redis.asyncio.Redis.from_url(server.url)
    try:
        await store.put("resp_9", entry("x"))
        assert await client.keys("*") == [b"app1:resp_9"]
        assert 119_000 < await client.pttl("app1:resp_9") <= 120_000
        # A put replaces the whole entry and restarts its clock: one SET, never a partial update.
        await store.put("resp_9", entry("y"))
        got = await store.get("resp_9")
        assert got is not None and got.response["output_text"] == "y"
    finally:
        await client.aclose()
        await store.aclose()


async def test_output_items_are_found_by_id_with_the_responses_expiry(server: RedisServer) -> None:
    store = RedisStore(server.url, ttl=120, key_prefix="app1:")
    client = redis.asyncio.Redis.from_url(server.url)
    item = {"id": "msg_7", "type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "hi"}]}
    try:
        await store.put("resp_7", StoredResponse(response={"id": "resp_7", "output": [item]}))
        assert sorted(await client.keys("*")) == [b"app1:item:msg_7", b"app1:resp_7"]
        assert 119_000 < await client.pttl("app1:item:msg_7") <= 120_000
        assert await store.get_item("msg_7") == item
        assert await store.get_item("msg_unknown") is None
        other = RedisStore(server.url, key_prefix="app1:")  # another process sees it too
        assert await other.get_item("msg_7") == item
        await other.aclose()
        await store.delete("resp_7")
        assert await store.get_item("msg_7") is None  # the pointer outlives the response harmlessly
    finally:
        await client.aclose()
        await store.aclose()


async def test_entries_expire_after_ttl(server: RedisServer) -> None:
    store = RedisStore(server.url, ttl=0.5)
    try:
        await store.put("resp_1", entry("short-lived"))
        assert await store.get("resp_1") is not None
        deadline = time.monotonic() + 5
        while await store.get("resp_1") is not None:
            assert time.monotonic() < deadline, "the entry outlived its TTL by seconds"
            await anyio.sleep(0.05)
        assert await store.delete("resp_1") is False
    finally:
        await store.aclose()


async def test_key_prefixes_keep_stores_apart(server: RedisServer) -> None:
    first, second = RedisStore(server.url, key_prefix="a:"), RedisStore(server.url, key_prefix="b:")
    try:
        await first.put("resp_1", entry("from a"))
        assert await second.get("resp_1") is None
        assert await second.delete("resp_1") is False
        assert await first.get("resp_1") is not None
    finally:
        await first.aclose()
        await second.aclose()


_CHILD = """
import anyio, sys
from asgi_translate._state.redis import RedisStore
from asgi_translate._state.memory import StoredResponse

async def main(url):
    store = RedisStore(url)
    try:
        got = await store.get("resp_parent")
        print(got.response["output_text"] if got else "MISSING")
        print(await store.delete("resp_parent"))
        await store.put("resp_child", StoredResponse({"id": "resp_child", "output_text": "written by the child"}, []))
    finally:
        await store.aclose()

anyio.run(main, sys.argv[1])
"""


async def test_entries_are_shared_between_processes(server: RedisServer) -> None:
    store = RedisStore(server.url)
    try:
        await store.put("resp_parent", entry("written by the parent"))
        with anyio.fail_after(60):
            child = await anyio.run_process([sys.executable, "-c", _CHILD, server.url], cwd=ROOT, check=False)
        assert (child.returncode, child.stderr) == (0, b"")
        assert child.stdout.decode().splitlines() == ["written by the parent", "True"]
        assert await store.get("resp_parent") is None
        got = await store.get("resp_child")
        assert got is not None and got.response["output_text"] == "written by the child"
    finally:
        await store.aclose()


async def test_stopped_redis_fails_fast_without_leaking_the_password(server: RedisServer) -> None:
    url = f"redis://admin:s3cret-pw@127.0.0.1:{server.port}/0"
    store = RedisStore(url, timeout=TIMEOUT)
    server.stop()
    try:
        for call in (store.get("resp_1"), store.put("resp_1", entry("x")), store.delete("resp_1")):
            started = time.monotonic()
            with pytest.raises(StoreUnavailableError) as info:
                await call
            assert time.monotonic() - started < BOUND
            message = str(info.value)
            assert f"redis://admin:***@127.0.0.1:{server.port}/0" in message
            assert "s3cret" not in message and "s3cret" not in repr(info.value.__cause__)
            assert "ConnectionError" in message
    finally:
        await store.aclose()


async def test_stalled_redis_times_out_within_the_bound(server: RedisServer) -> None:
    store = RedisStore(server.url, timeout=TIMEOUT)
    try:
        await store.put("resp_1", entry("before the stall"))  # a pooled connection exists
        server.pause()
        try:
            for call in (store.get("resp_1"), store.put("resp_2", entry("x"))):
                started = time.monotonic()
                with pytest.raises(StoreUnavailableError, match=r"no answer within 0\.3 s"):
                    await call
                assert TIMEOUT * 0.9 < time.monotonic() - started < BOUND
        finally:
            server.resume()
        got = await store.get("resp_1")
        assert got is not None and got.response["output_text"] == "before the stall"
    finally:
        await store.aclose()


async def test_store_reconnects_after_redis_restarts(server: RedisServer) -> None:
    store = RedisStore(server.url, timeout=TIMEOUT)
    try:
        await store.put("resp_1", entry("lost with the restart"))
        server.stop()
        with pytest.raises(StoreUnavailableError):
            await store.get("resp_1")
        server.start()  # same port, empty (no persistence)
        assert await store.get("resp_1") is None
        await store.put("resp_2", entry("after"))
        assert await store.get("resp_2") is not None
    finally:
        await store.aclose()


async def test_wrong_password_is_unavailable_not_a_crash(server: RedisServer) -> None:
    admin = redis.asyncio.Redis.from_url(server.url)
    await admin.config_set("requirepass", "right-pw")
    await admin.aclose()
    store = RedisStore(f"redis://:hunter2-pw@127.0.0.1:{server.port}/0", timeout=TIMEOUT)
    try:
        with pytest.raises(StoreUnavailableError) as info:
            await store.get("resp_1")
        assert "hunter2" not in str(info.value)
        assert f"redis://:***@127.0.0.1:{server.port}/0" in str(info.value)
        assert "AuthenticationError" in str(info.value)
    finally:
        await store.aclose()


async def test_caller_owned_client_stays_open(server: RedisServer) -> None:
    client = redis.asyncio.Redis.from_url(server.url)
    store = RedisStore(client, ttl=60)
    try:
        assert store.location == f"redis://127.0.0.1:{server.port}/0"
        await store.put("resp_1", entry("mine"))
        await store.aclose()
        assert await client.get("asgi_translate:resp:resp_1") is not None
        got = await store.get("resp_1")
        assert got is not None and got.response["output_text"] == "mine"
    finally:
        await client.aclose()


async def test_aclose_then_reuse_reconnects(server: RedisServer) -> None:
    store = RedisStore(server.url)
    await store.put("resp_1", entry("x"))
    await store.aclose()
    await store.aclose()  # idempotent
    try:
        assert await store.get("resp_1") is not None
    finally:
        await store.aclose()


async def test_unreadable_entry_counts_as_absent(server: RedisServer, caplog: pytest.LogCaptureFixture) -> None:
    store = RedisStore(server.url)
    client = redis.asyncio.Redis.from_url(server.url)
    try:
        await client.set("asgi_translate:resp:resp_bad", b"not json")
        await client.set("asgi_translate:resp:resp_shape", b'{"unexpected": 1}')
        with caplog.at_level(logging.WARNING, logger="asgi_translate"):
            assert await store.get("resp_bad") is None
            assert await store.get("resp_shape") is None
        assert [r.getMessage() for r in caplog.records] == [
            f"asgi_translate: ignoring an unreadable entry for resp_bad in {store.location}",
            f"asgi_translate: ignoring an unreadable entry for resp_shape in {store.location}",
        ]
    finally:
        await client.aclose()
        await store.aclose()


# -- configuration (no server needed) ------------------------------------------------------


def test_construction_never_connects() -> None:
    store = RedisStore("redis://127.0.0.1:1/0")  # nothing listens on port 1
    assert repr(store) == "RedisStore('redis://127.0.0.1:1/0', ttl=3600.0, timeout=0.5)"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"ttl": 0}, "ttl must be a positive"), ({"timeout": -1}, "timeout must be a positive")],
)
def test_invalid_settings_are_rejected(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RedisStore("redis://localhost", **kwargs)


def test_non_redis_url_is_rejected() -> None:
    with pytest.raises(ValueError, match="got scheme 'http'"):
        RedisStore("http://user:pw@localhost")


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://localhost:6379/0", "redis://localhost:6379/0"),
        ("redis://:pw@host:1/2", "redis://:***@host:1/2"),
        ("rediss://user:p%40ss@host/0", "rediss://user:***@host/0"),
        ("redis://user@host", "redis://user@host"),
        ("unix:///run/redis.sock?db=1&password=pw", "unix:///run/redis.sock?..."),
        ("redis://[::1]:6379", "redis://[::1]:6379"),
    ],
)
def test_redact_url_hides_credentials(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_open_store_specs() -> None:
    assert isinstance(open_store(None), MemoryStore)
    assert isinstance(open_store("memory"), MemoryStore)
    custom = MemoryStore(max_entries=5)
    assert open_store(custom) is custom
    store = open_store("redis://:pw@localhost:6380/3")
    assert isinstance(store, RedisStore)
    assert store.location == "redis://:***@localhost:6380/3"
    assert (store.ttl, store.timeout) == (3600.0, 0.5)


@pytest.mark.parametrize("spec", ["memcached://u:secret@host", "redis-host:6379", "Memory"])
def test_open_store_rejects_unknown_specs_without_echoing_them(spec: str) -> None:
    with pytest.raises(ValueError, match="response_store must be 'memory'") as info:
        open_store(spec)
    assert "secret" not in str(info.value) and "redis-host" not in str(info.value)


# The first loop's pooled socket cannot be closed once that loop is gone; asyncio says so when it
# is collected. That warning is the documented cost of not calling aclose() before a loop ends.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
@pytest.mark.filterwarnings("ignore::ResourceWarning")
def test_store_survives_a_change_of_event_loop(server: RedisServer) -> None:
    # One TestClient after another runs each in its own event loop: a connection pooled in the
    # first loop must not be reused in the second, where it would fail outside StoreUnavailableError.
    store = RedisStore(server.url)

    async def put() -> None:
        await store.put("resp_1", entry("first loop"))

    async def get_and_close() -> str:
        got = await store.get("resp_1")
        await store.aclose()
        return got.response["output_text"] if got else "MISSING"

    anyio.run(put)
    assert anyio.run(get_and_close) == "first loop"
    gc.collect()  # the stale socket's warning surfaces here, under this test's filters


# -- through the middleware: several processes, one Redis ----------------------------------


def sse_events(text: str) -> list[dict[str, Any]]:
    return [json.loads(line[6:]) for line in text.splitlines() if line.startswith("data: ") and line != "data: [DONE]"]


@pytest.mark.slow
def test_conversation_continues_across_processes(server: RedisServer, monkeypatch: pytest.MonkeyPatch) -> None:
    # Two `asgi-translate` processes (the demo model behind the middleware) sharing one Redis,
    # as two replicas behind a load balancer: one configured by flag, one by environment.
    port_a, port_b = free_port(), free_port()
    monkeypatch.setenv("ASGI_TRANSLATE_RESPONSE_STORE", server.url)  # B reads it; A also gets the flag
    with (
        run_command(["--port", str(port_a), "--response-store", server.url], port_a),
        run_command(["--port", str(port_b)], port_b),
        httpx.Client(timeout=10) as http,
    ):
        a, b = f"http://127.0.0.1:{port_a}/v1/responses", f"http://127.0.0.1:{port_b}/v1/responses"
        first = http.post(a, json={"model": "fake-model", "input": "hello from A"}).json()
        assert first["output_text"] == "You said: hello from A"

        second = http.post(b, json={"model": "fake-model", "input": "go on in B", "previous_response_id": first["id"]})
        assert second.status_code == 200, second.text
        assert second.json()["previous_response_id"] == first["id"]
        second_id = second.json()["id"]

        # B stored the whole chain it replayed; A reads it back at once.
        items = http.get(f"{a}/{second_id}/input_items", params={"order": "asc"}).json()["data"]
        assert [(item["role"], item["content"][0]["text"]) for item in items] == [
            ("user", "hello from A"),
            ("assistant", "You said: hello from A"),
            ("user", "go on in B"),
        ]

        # A streamed third turn chains on B's response; B serves it by id.
        body = {"model": "fake-model", "input": "third", "previous_response_id": second_id, "stream": True}
        third = http.post(a, json=body)
        completed = [e for e in sse_events(third.text) if e["type"] == "response.completed"]
        assert len(completed) == 1
        third_id = completed[0]["response"]["id"]
        got = http.get(f"{b}/{third_id}")
        assert got.status_code == 200 and got.json()["output_text"] == "You said: third"

        # Deleted on B, gone on A: for GET and for chaining.
        assert http.delete(f"{b}/{first['id']}").json() == {"id": first["id"], "object": "response", "deleted": True}
        assert http.get(f"{a}/{first['id']}").status_code == 404
        chained = http.post(a, json={"model": "fake-model", "input": "x", "previous_response_id": first["id"]})
        assert chained.status_code == 404
        assert chained.json()["error"]["code"] == "previous_response_not_found"


class StatefulApp:
    """The middleware in this process over the fake model, with its store on the test's Redis."""

    def __init__(self, store: RedisStore | str) -> None:
        self.app = TranslateMiddleware(FakeModel(), upstream="chat", response_store=store)
        self.http = httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app), base_url="http://test")

    async def respond(self, **body: Any) -> httpx.Response:
        return await self.http.post("/v1/responses", json={"model": "fake-model", **body})

    async def aclose(self) -> None:
        await self.http.aclose()
        assert isinstance(self.app.response_store, RedisStore)
        await self.app.response_store.aclose()


STORE_DOWN = {
    "message": "The response store is unavailable; retry, or send the whole history instead of previous_response_id",
    "type": "server_error",
    "param": "previous_response_id",
    "code": None,
}
ENDPOINT_DOWN = {"message": "The response store is unavailable; retry later", "type": "server_error", "param": None}


async def assert_stateful_requests_fail_fast(stateful: StatefulApp, response_id: str) -> None:
    """Every request that needs state answers 503 in OpenAI's envelope, each within BOUND."""
    started = time.monotonic()
    chained = await stateful.respond(input="more", previous_response_id=response_id)
    assert time.monotonic() - started < BOUND
    assert (chained.status_code, chained.json()) == (503, {"error": STORE_DOWN})
    for method, path in [
        ("GET", f"/v1/responses/{response_id}"),
        ("GET", f"/v1/responses/{response_id}/input_items"),
        ("DELETE", f"/v1/responses/{response_id}"),
    ]:
        started = time.monotonic()
        answer = await stateful.http.request(method, path)
        assert time.monotonic() - started < BOUND
        assert (answer.status_code, answer.json()) == (503, {"error": {**ENDPOINT_DOWN, "code": None}})


async def assert_stateless_requests_work(stateful: StatefulApp) -> None:
    """Requests that do not read state still succeed; a failed write after them only logs."""
    unstored = await stateful.respond(input="no state", store=False)
    assert (unstored.status_code, unstored.json()["output_text"]) == (200, "You said: no state")
    stored = await stateful.respond(input="store me")  # store defaults to true: the write fails
    assert (stored.status_code, stored.json()["output_text"]) == (200, "You said: store me")
    streamed = await stateful.respond(input="streamed", stream=True)
    assert [e["type"] for e in sse_events(streamed.text)][-1] == "response.completed"
    messages = await stateful.http.post(
        "/v1/messages",
        json={"model": "fake-model", "max_tokens": 50, "messages": [{"role": "user", "content": "hi"}]},
    )
    assert (messages.status_code, messages.json()["content"][0]["text"]) == (200, "You said: hi")


async def test_redis_stopped_mid_conversation(server: RedisServer, caplog: pytest.LogCaptureFixture) -> None:
    stateful = StatefulApp(server.url)  # the URL form of response_store
    try:
        first = (await stateful.respond(input="before the outage")).json()
        server.stop()
        with caplog.at_level(logging.WARNING, logger="asgi_translate"):
            await assert_stateful_requests_fail_fast(stateful, first["id"])
            await assert_stateless_requests_work(stateful)
        not_stored = [r for r in caplog.records if " not stored: " in r.getMessage()]
        assert len(not_stored) == 2 and all(r.levelno == logging.WARNING and not r.exc_info for r in not_stored)

        server.start()  # back, empty: new conversations chain again
        again = (await stateful.respond(input="after")).json()
        chained = await stateful.respond(input="and on", previous_response_id=again["id"])
        assert (chained.status_code, chained.json()["output_text"]) == (200, "You said: and on")
        assert (await stateful.http.get(f"/v1/responses/{first['id']}")).status_code == 404
    finally:
        await stateful.aclose()


async def test_stalled_redis_answers_503_within_the_timeout(server: RedisServer) -> None:
    stateful = StatefulApp(RedisStore(server.url, timeout=TIMEOUT))
    try:
        first = (await stateful.respond(input="before the stall")).json()
        server.pause()
        try:
            await assert_stateful_requests_fail_fast(stateful, first["id"])
            await assert_stateless_requests_work(stateful)
        finally:
            server.resume()
        chained = await stateful.respond(input="resumed", previous_response_id=first["id"])
        assert (chained.status_code, chained.json()["previous_response_id"]) == (200, first["id"])
    finally:
        await stateful.aclose()
