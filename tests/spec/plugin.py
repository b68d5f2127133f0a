"""Every exchange any test drives through TranslateMiddleware, checked against the official specs.

:func:`install` wraps :class:`~asgi_translate.TranslateMiddleware` for the whole test session, so
the corpus replays, scenario tests, SDK and client end-to-end tests all validate what they send
without asking: the translated request the upstream receives against the upstream's request schema
(no parameter the schema lacks), and the answer the client receives (JSON, error, or every SSE
event chosen by its ``type``) against the client's schema; token counts and model lists likewise.
Requests the middleware passes through untranslated, and upstream answers it passes on unchanged,
are the test's own and are not checked; nor are answers over 4 MB (a 100 MB stream must not be
buffered). A test marked ``spec_unchecked`` (one that measures memory) is left alone.

A broken rule does not disturb the exchange: it is recorded, and :func:`pytest_runtest_call` (the
``pytest_runtest_call`` wrapper below, imported into ``tests/conftest.py``) fails the test that caused it, naming the
exchange and the rule. ``ASGI_TRANSLATE_SPEC_CHECK=0`` turns the check off (profiling, benchmarks).
"""

from __future__ import annotations

import contextvars
import os
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from . import convert, quirks
from .known import Known, known
from .validate import DOCUMENT, MODEL, MODEL_LIST, TOKEN_COUNT, TOKEN_COUNT_REQUEST, Spec, spec

MODELS_PATH = "/v1/models"
#: The most of one answer kept for checking: the load tests' 100 MB streams must stay unbuffered.
MAX_KEPT = 4 * 1024 * 1024


@dataclass
class Probe:
    """What one exchange should be checked against, and what it saw."""

    label: str
    #: Checks the body the upstream received (None: not a request of ours to check).
    check_request: Callable[[Spec, Any], list[str]] | None
    #: Checks the client's answer: (spec, status, content type, body) -> violations.
    check_answer: Callable[[Spec, int, str, bytes], list[str]]
    request_seen: bool = False
    status: int = 0
    content_type: str = ""
    body: bytearray = field(default_factory=bytearray)
    #: The upstream's own answer to the last request it got in this exchange: an answer passed on
    #: unchanged is the upstream's, not ours to check.
    upstream_status: int = 0
    upstream_body: bytearray = field(default_factory=bytearray)
    #: Only side endpoints pass an upstream answer on unchanged; an exchange's is never kept.
    may_pass_on: bool = False
    #: More than :data:`MAX_KEPT` bytes: not kept, not checked (load tests stream 100 MB).
    too_big: bool = False


_PROBE: contextvars.ContextVar[Probe | None] = contextvars.ContextVar("spec_probe", default=None)
#: False while a test marked ``spec_unchecked`` runs.
_CHECKING = [True]
_LOCK = threading.Lock()
_VIOLATIONS: list[str] = []
#: Violations of :mod:`spec.known` seen this run, counted per entry for the closing summary.
_KNOWN_SEEN: dict[Known, int] = {}


def enabled() -> bool:
    if os.environ.get("ASGI_TRANSLATE_SPEC_CHECK", "1") == "0":
        return False
    if convert.SPECS.is_dir():
        return True
    if os.environ.get("CI") == "true":
        raise RuntimeError(f"the official specs are missing: {convert.SPECS}")
    return False


def record(label: str, violations: list[str]) -> None:
    if violations:
        with _LOCK:
            for violation in (f"{label}: {v}" for v in violations):
                entry = known(violation)
                if entry is None:
                    _VIOLATIONS.append(violation)
                else:
                    _KNOWN_SEEN[entry] = _KNOWN_SEEN.get(entry, 0) + 1


def take() -> list[str]:
    with _LOCK:
        found = list(_VIOLATIONS)
        _VIOLATIONS.clear()
    return found


# -- what each kind of exchange is checked against ------------------------------------------------


def _route_path(scope: Scope) -> str:
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root + "/") else path


def _json_or_error(document: str, schema: str) -> Callable[[Spec, int, str, bytes], list[str]]:
    def check(spec: Spec, status: int, content_type: str, body: bytes) -> list[str]:
        import json

        if not content_type.startswith("application/json"):
            return [f"answer {status} has content-type {content_type!r}"]
        payload = json.loads(body)
        return spec.check(document, schema if 200 <= status < 300 else "ErrorResponse", payload)

    return check


def _count_request(upstream: str) -> Callable[[Spec, Any], list[str]] | None:
    """A native count endpoint's request (``/tokenize`` toward a chat upstream is vLLM's, not in a spec)."""
    if upstream not in TOKEN_COUNT_REQUEST:
        return None
    document, name = DOCUMENT[upstream], TOKEN_COUNT_REQUEST[upstream]
    return lambda spec, body: spec.check(document, name, body, closed=True)


def probe_for(middleware: Any, scope: Scope) -> Probe | None:
    """The checks for this request, or None when the middleware passes it through untouched."""
    if scope["type"] != "http":
        return None
    path, method = _route_path(scope), scope["method"]
    routes = getattr(middleware, "routes", {})
    if method == "POST":
        route = routes.get(path)
        if route is not None and route.client != route.upstream:
            client, upstream = route.client, route.upstream
            return Probe(
                f"{client} client <- {upstream} upstream, POST {path}",
                lambda spec, body: spec.request(upstream, body),
                lambda spec, status, ctype, body: spec.answer(client, status, ctype, body),
            )
        for suffix, client in (("/count_tokens", "messages"), ("/input_tokens", "responses")):
            route = routes.get(path[: -len(suffix)]) if path.endswith(suffix) else None
            if route is not None and route.client == client and route.client != route.upstream:
                upstream = route.upstream
                return Probe(
                    f"{client} client <- {upstream} upstream, POST {path}",
                    _count_request(upstream),
                    _json_or_error(DOCUMENT[client], TOKEN_COUNT[client]),
                )
    one = path.startswith(MODELS_PATH + "/") and "/" not in path[len(MODELS_PATH) + 1 :] and path != MODELS_PATH + "/"
    if method == "GET" and (path == MODELS_PATH or one):  # /v1/models or /v1/models/{id}, nothing deeper
        anthropic = any(name in (b"anthropic-version", b"x-api-key") for name, _ in scope["headers"])
        document = "anthropic" if anthropic else "openai"
        schema = MODEL_LIST[document] if path == MODELS_PATH else MODEL[document]
        return Probe(f"{document} client, GET {path}", None, _json_or_error(document, schema), may_pass_on=True)
    return None


# -- the ASGI wrappers ------------------------------------------------------------------------------


class _UpstreamRecorder:
    """Wraps the middleware's upstream app: the first body it reads in a probed exchange is ours."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    def __getattr__(self, name: str) -> Any:  # the remote upstream's own methods (lifespan_around, ...)
        return getattr(self.app, name)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        probe = _PROBE.get()
        if probe is None:
            await self.app(scope, receive, send)
            return
        check = probe.check_request if not probe.request_seen else None
        probe.request_seen = True
        betas = _betas(scope)
        chunks: list[bytes] = []

        async def receive_recorded() -> Message:
            message = await receive()
            if check is not None and message["type"] == "http.request":
                chunks.append(message.get("body", b""))
                if not message.get("more_body", False):
                    _check_request(probe.label, check, b"".join(chunks), betas)
                    chunks.clear()
            return message

        async def send_recorded(message: Message) -> None:
            if message["type"] == "http.response.start":
                probe.upstream_status = message["status"]
                probe.upstream_body.clear()
            elif message["type"] == "http.response.body" and len(probe.upstream_body) < MAX_KEPT:
                probe.upstream_body += message.get("body", b"")
            await send(message)

        await self.app(scope, receive_recorded, send_recorded if probe.may_pass_on else send)


def _betas(scope: Scope) -> set[str]:
    """The Anthropic betas a request names (``anthropic-beta``, comma-separated, maybe repeated)."""
    return {
        beta.strip()
        for name, value in scope.get("headers", [])
        if name.lower() == b"anthropic-beta"
        for beta in value.decode("latin-1").split(",")
    }


def _check_request(label: str, check: Callable[[Spec, Any], list[str]], raw: bytes, betas: set[str]) -> None:
    import json

    try:
        body = json.loads(raw)
    except ValueError:
        record(label, [f"upstream request is not JSON: {raw[:80]!r}"])
        return
    record(label + ", upstream request", check(spec(), quirks.without_betas(body, betas)))


def install() -> None:
    """Wrap TranslateMiddleware once for this process (idempotent)."""
    from asgi_translate import TranslateMiddleware

    if getattr(TranslateMiddleware, "_spec_checked", False) or not enabled():
        return
    original_init = TranslateMiddleware.__init__
    original_call = TranslateMiddleware.__call__

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        # Every endpoint reads the upstream from the one frozen Settings, at call time.
        object.__setattr__(self.settings, "upstream_app", _UpstreamRecorder(self.settings.upstream_app))

    async def __call__(self: Any, scope: Scope, receive: Receive, send: Send) -> None:
        probe = probe_for(self, scope) if _CHECKING[0] else None
        if probe is None:
            await original_call(self, scope, receive, send)
            return
        token = _PROBE.set(probe)
        try:
            await original_call(self, scope, receive, _recording_send(probe, send))
        finally:
            _PROBE.reset(token)
        passed_on = probe.may_pass_on and (probe.status, probe.body) == (probe.upstream_status, probe.upstream_body)
        if (
            probe.status and not passed_on and not probe.too_big
        ):  # the client got an answer of ours (not cancelled midway)
            record(probe.label, probe.check_answer(spec(), probe.status, probe.content_type, bytes(probe.body)))

    TranslateMiddleware.__init__ = __init__  # type: ignore[method-assign]
    TranslateMiddleware.__call__ = __call__  # type: ignore[method-assign]
    TranslateMiddleware._spec_checked = True  # type: ignore[attr-defined]


def _recording_send(probe: Probe, send: Send) -> Callable[[Message], Awaitable[None]]:
    async def recording_send(message: Message) -> None:
        if message["type"] == "http.response.start":
            probe.status = message["status"]
            headers = dict((k.lower(), v) for k, v in message.get("headers", []))
            probe.content_type = headers.get(b"content-type", b"").decode("latin-1")
        elif message["type"] == "http.response.body" and not probe.too_big:
            probe.body += message.get("body", b"")
            if len(probe.body) > MAX_KEPT:
                probe.too_big = True
                probe.body.clear()
        await send(message)

    return recording_send


# -- pytest hooks (imported into tests/conftest.py) -------------------------------------------------


class SpecViolation(AssertionError):
    """An exchange in this test broke a rule of the official specs (see tests/spec/quirks.py for
    the rules the real APIs break and we therefore tolerate)."""


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    take()  # a previous test's stray background exchange is not this test's
    _CHECKING[0] = item.get_closest_marker("spec_unchecked") is None


def assert_clean(nodeid: str) -> None:
    """Fail with every violation recorded since the last call (survey mode: write them down)."""
    found = take()
    dump = os.environ.get("ASGI_TRANSLATE_SPEC_DUMP")
    if found and dump:  # survey mode: every violation of the run in one file, no test fails
        with open(dump, "a") as out:
            out.writelines(f"{nodeid}\t{v}\n" for v in found)
    elif found:
        shown = "\n  ".join(found[:20])
        more = f"\n  ... and {len(found) - 20} more" if len(found) > 20 else ""
        raise SpecViolation(f"{len(found)} spec violation(s):\n  {shown}{more}")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Any:
    result = yield
    assert_clean(item.nodeid)
    return result


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Known violations (bugs under another open issue) are listed, not failed."""
    if not _KNOWN_SEEN:
        return
    terminalreporter.section("spec violations known to other issues (tests/spec/known.py)")
    for entry, count in _KNOWN_SEEN.items():
        terminalreporter.write_line(f"issue {entry.issue}: {count}x {entry.why}")
