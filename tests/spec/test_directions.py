"""Every direction against the specs: each recording of each upstream schema in the corpus,
replayed through the middleware to a client of each other schema (JSON, stream and error alike),
the translated request and the client's answer checked by :mod:`spec.plugin`.

Checked here explicitly, not only by the suite-wide hook, so all six directions stay covered
whatever the rest of the suite does.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from asgi_translate import TranslateMiddleware

from . import convert, plugin

pytestmark = pytest.mark.skipif(not plugin.enabled(), reason=f"the official specs are not at {convert.SPECS}")

CORPUS = convert.SPECS.parent / "corpus"
PATHS = {"chat": "/v1/chat/completions", "messages": "/v1/messages", "responses": "/v1/responses"}
TOOLS: dict[str, list[dict[str, Any]]] = {
    "chat": [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}],
    "messages": [{"name": "get_weather", "input_schema": {"type": "object"}}],
    "responses": [{"type": "function", "name": "get_weather", "parameters": {"type": "object"}}],
}


def client_request(client: str, stream: bool) -> dict[str, Any]:
    user = [{"role": "user", "content": "What is the weather in Paris?"}]
    body: dict[str, Any] = {"model": "client-model", "stream": stream, "tools": TOOLS[client]}
    if client == "chat":
        body["messages"] = [{"role": "system", "content": "Be brief."}, *user]
        if stream:
            body["stream_options"] = {"include_usage": True}
    elif client == "messages":
        body.update(messages=user, max_tokens=300, system="Be brief.")
    else:
        body.update(input=user, instructions="Be brief.", max_output_tokens=300)
    return body


def replayed(path: Path) -> TranslateMiddleware:
    """A middleware whose inner app answers every upstream request with the recording."""
    raw = path.read_bytes()
    upstream = path.parent.name
    stream = path.suffix == ".sse"
    code = re.search(r"error-(\d{3})", path.name) if path.suffix == ".json" else None
    status = int(code.group(1)) if code else 200

    async def app(scope: Any, receive: Any, send: Any) -> None:
        while (await receive()).get("more_body"):
            pass
        content_type = b"text/event-stream" if stream else b"application/json"
        await send({"type": "http.response.start", "status": status, "headers": [(b"content-type", content_type)]})
        await send({"type": "http.response.body", "body": raw, "more_body": False})

    return TranslateMiddleware(app, upstream=upstream)  # type: ignore[arg-type]


def recordings() -> list[tuple[str, Path]]:
    found = []
    for upstream in PATHS:
        for path in sorted((CORPUS / upstream).glob("*")):
            if path.name.endswith(".request.json") or path.suffix not in (".json", ".sse"):
                continue
            found += [(client, path) for client in PATHS if client != upstream]
    return found


@pytest.mark.parametrize(
    ("client", "path"),
    recordings() if CORPUS.is_dir() else [],
    ids=lambda v: v if isinstance(v, str) else f"{v.parent.name}/{v.name}",
)
def test_every_recording_reaches_every_other_client_within_the_specs(client: str, path: Path) -> None:
    plugin.install()
    plugin.take()
    app = replayed(path)
    body = client_request(client, stream=path.suffix == ".sse")

    async def exchange() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            return await http.post(PATHS[client], json=body)

    answer = anyio.run(exchange)
    assert answer.status_code < 500, answer.text[:300]
    plugin.assert_clean(f"{client} <- {path.parent.name}/{path.name}")
