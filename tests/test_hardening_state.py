"""Stored Responses state belongs to the credential that created it (issue 14): any other key, or
none, gets a 404 for it as for an unknown id, on every path that reads it (GET, DELETE,
input_items, previous_response_id, the token count); ``responses_per_key=False`` shares it.
"""

from __future__ import annotations

import pytest
from hardening import call
from test_errors import assert_envelope

from asgi_translate import TranslateMiddleware
from asgi_translate.testing import FakeModel

pytestmark = pytest.mark.anyio


def key(name: str) -> list[tuple[bytes, bytes]]:
    return [(b"authorization", f"Bearer sk-{name}".encode())]


async def test_stored_responses_belong_to_the_credential_that_created_them() -> None:
    app = TranslateMiddleware(FakeModel(), upstream="chat")
    created = await call(app, "/v1/responses", {"model": "m", "input": "remember me"}, headers=key("alice"))
    assert created.status == 200
    response_id = created.json()["id"]
    where = f"/v1/responses/{response_id}"

    assert (await call(app, where, method="GET", headers=key("alice"))).status == 200
    for headers in (key("mallory"), [(b"x-api-key", b"sk-mallory")], []):
        assert (await call(app, where, method="GET", headers=headers)).status == 404
        assert (await call(app, where + "/input_items", method="GET", headers=headers)).status == 404
        assert (await call(app, where, method="DELETE", headers=headers)).status == 404
        chained = {"model": "m", "input": "and then?", "previous_response_id": response_id}
        for path in ("/v1/responses", "/v1/responses/input_tokens"):
            got = await call(app, path, chained, headers=headers)
            assert got.status == 404, (path, got.body[:200])
            assert_envelope("responses", got.json())
    # The owner still has it, under either header convention.
    assert (await call(app, where, method="GET", headers=[(b"x-api-key", b"sk-alice")])).status == 200
    chained = {"model": "m", "input": "and then?", "previous_response_id": response_id}
    assert (await call(app, "/v1/responses", chained, headers=key("alice"))).status == 200
    assert (await call(app, where, method="DELETE", headers=key("alice"))).status == 200


async def test_a_shared_deployment_can_turn_credential_scoping_off() -> None:
    app = TranslateMiddleware(FakeModel(), upstream="chat", responses_per_key=False)
    created = await call(app, "/v1/responses", {"model": "m", "input": "shared"}, headers=key("alice"))
    response_id = created.json()["id"]
    assert (await call(app, f"/v1/responses/{response_id}", method="GET", headers=key("bob"))).status == 200
