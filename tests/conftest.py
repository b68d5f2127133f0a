"""Shared fixtures: the recorded corpus and deterministic ids and clocks."""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings
from spec import plugin as spec_plugin
from spec.plugin import (  # noqa: F401 - the spec check, suite-wide
    pytest_runtest_call,
    pytest_runtest_setup,
    pytest_terminal_summary,
)

from asgi_translate._hub.canonical import Request
from asgi_translate._hub.context import Context

# Every exchange any test drives through TranslateMiddleware is checked against the official specs.
spec_plugin.install()

# CI is a gate, so its property tests draw the same examples every run: a failure there is real and
# reproducible, never a lucky draw. Developers' runs keep exploring new examples each time.
settings.register_profile("ci", derandomize=True)
if os.environ.get("CI"):
    settings.load_profile("ci")

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus"
FIXTURES = Path(__file__).resolve().parent / "fixtures"


def corpus_root() -> Path:
    """The recorded traffic lives in ../shared/corpus beside the project; a copy of the files the
    tests need is kept in tests/fixtures/corpus for a checkout without shared/."""
    return CORPUS if CORPUS.is_dir() else FIXTURES / "corpus"


def corpus_files(schema_dir: str, suffix: str) -> list[Path]:
    return sorted((corpus_root() / schema_dir).glob(f"*{suffix}"))


def load_json(path: Path) -> Any:
    return json.loads(path.read_text())


def counting_ids() -> Callable[[str], str]:
    """Deterministic ids: ``prefix`` + a counter, so outputs compare byte for byte."""
    counter = itertools.count(1)
    return lambda prefix: f"{prefix}test{next(counter):04d}"


FIXED_TIME = 1_700_000_000.0


def make_context(request: Request, **overrides: Any) -> Context:
    defaults: dict[str, Any] = {
        "request": request,
        "client_model": request.model,
        "new_id": counting_ids(),
        "clock": lambda: FIXED_TIME,
    }
    defaults.update(overrides)
    return Context(**defaults)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def ids() -> Iterator[Callable[[str], str]]:
    yield counting_ids()
