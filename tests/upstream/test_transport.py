"""Which transport carries an upstream's bytes, and what each one keeps of httpx's behaviour.

The upstream's own pool is aiohttp's when aiohttp is importable (the benchmark's choice, see
benchmarks/README.md), httpx's otherwise or when ``ASGI_TRANSLATE_HTTP=httpx`` says so; a caller's
``httpx.AsyncClient`` is always used as it is. The shared behaviour over real sockets is in
test_upstream.py, which runs on both transports.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator

import httpx
import pytest
from asgi_lifespan import LifespanManager
from servers import serve

from asgi_translate import TranslateMiddleware
from asgi_translate._upstream import HTTPXUpstream, default_transport
from asgi_translate.testing import FakeModel

pytestmark = pytest.mark.anyio


def test_the_default_is_aiohttp_when_it_is_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ASGI_TRANSLATE_HTTP", raising=False)
    assert default_transport() == "aiohttp"
    assert HTTPXUpstream("http://h").transport == "aiohttp"


def test_without_aiohttp_the_default_is_httpx(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ASGI_TRANSLATE_HTTP", raising=False)
    monkeypatch.setitem(sys.modules, "aiohttp", None)  # import aiohttp now raises ImportError
    assert default_transport() == "httpx"
    assert HTTPXUpstream("http://h").transport == "httpx"


@pytest.mark.parametrize("name", ["httpx", "aiohttp", " HTTPX "])
def test_the_environment_forces_a_transport(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    monkeypatch.setenv("ASGI_TRANSLATE_HTTP", name)
    assert HTTPXUpstream("http://h").transport == name.strip().lower()


def test_an_unknown_transport_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASGI_TRANSLATE_HTTP", "curl")
    with pytest.raises(ValueError, match="ASGI_TRANSLATE_HTTP='curl'"):
        HTTPXUpstream("http://h")
    monkeypatch.delenv("ASGI_TRANSLATE_HTTP")
    with pytest.raises(ValueError, match="transport='curl'"):
        HTTPXUpstream("http://h", transport="curl")


async def test_a_callers_httpx_client_is_used_whatever_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASGI_TRANSLATE_HTTP", "aiohttp")
    async with httpx.AsyncClient() as own:
        middleware = TranslateMiddleware(upstream="chat", upstream_url="http://h", http_client=own)
        assert middleware.remote is not None
        assert middleware.remote.transport == "httpx"
        assert middleware.remote.client is own


async def test_lifespan_shutdown_closes_the_aiohttp_pool() -> None:
    upstream = HTTPXUpstream("http://h", transport="aiohttp")
    async with LifespanManager(upstream):
        session = upstream.session
        assert not session.closed
    assert session.closed


def test_httpx_timeouts_become_aiohttp_ones() -> None:
    upstream = HTTPXUpstream("http://h", timeout=httpx.Timeout(read=30.0, connect=2.0, write=5.0, pool=1.0))
    timeout = upstream.aiohttp_timeout()
    assert (timeout.total, timeout.sock_read, timeout.sock_connect, timeout.connect) == (None, 30.0, 2.0, 3.0)


@pytest.mark.parametrize(
    ("no_proxy", "expected"),
    [("", "http://127.0.0.1:9"), ("api.example.com", None), ("example.org", "http://127.0.0.1:9")],
)
def test_the_environments_proxy_is_read_once_for_the_one_origin(
    monkeypatch: pytest.MonkeyPatch, no_proxy: str, expected: str | None
) -> None:
    for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy", "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("NO_PROXY", no_proxy)
    from asgi_translate._upstream import _env_proxy

    assert _env_proxy("https://api.example.com") == expected


@pytest.mark.slow
@pytest.mark.parametrize("transport", ["aiohttp", "httpx"])
async def test_a_body_sent_in_pieces_reaches_the_remote_whole(transport: str) -> None:
    model = FakeModel()
    body = b'{"model": "fake-model", "messages": [{"role": "user", "content": "in three pieces"}]}'

    async def pieces() -> AsyncIterator[bytes]:
        for start in range(0, len(body), 30):
            yield body[start : start + 30]

    with serve(model) as url, serve(HTTPXUpstream(url, transport=transport)) as proxy:
        async with httpx.AsyncClient(timeout=5) as client:
            headers = {"content-type": "application/json"}
            response = await client.post(proxy + "/v1/chat/completions", content=pieces(), headers=headers)
    assert response.status_code == 200
    assert response.json()["choices"][0]["message"]["content"] == "You said: in three pieces"
    assert model.requests[0].body["messages"][0]["content"] == "in three pieces"


def test_sniffio_is_a_dependency_so_httpcore_never_retries_its_import() -> None:
    """httpcore imports sniffio on every pool lock and, when it is missing, pays for a failed
    import each time (a sixth of the proxy's CPU on the capacity benchmark)."""
    from pathlib import Path

    import sniffio
    import tomllib

    project = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())["project"]
    assert any(dep.split(">")[0].strip() == "sniffio" for dep in project["dependencies"])
    assert sniffio.__name__ == "sniffio"  # importable here, as wherever the package is installed
