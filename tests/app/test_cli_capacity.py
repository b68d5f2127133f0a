"""The command's capacity options: ``--workers``, what it requires of the Responses store, and
logging that writes only what is asked for (one line per exchange, ``--access-log``, httpx quiet)."""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from servers import free_port, run_command

from asgi_translate._workers import balanced
from asgi_translate.cli import (
    ARGS_ENV,
    GC_THRESHOLD,
    build_app,
    build_parser,
    check_workers,
    configure_logging,
    main,
    tune_gc,
    worker_app,
)
from asgi_translate.testing import FakeModel


def parse(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(argv)


@pytest.fixture
def quiet_root() -> Iterator[None]:
    """configure_logging calls basicConfig: give it a bare root logger and put everything back."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    levels = {name: logging.getLogger(name).level for name in ("httpx", "httpcore")}
    root.handlers = []
    yield
    root.handlers, root.level = handlers, level
    for name, old in levels.items():
        logging.getLogger(name).setLevel(old)


@pytest.fixture
def restore_gc() -> Iterator[None]:
    """tune_gc sets the collector for the whole process: put pytest's back."""
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


def test_the_server_process_collects_as_a_server_does(restore_gc: None) -> None:
    app = build_app(parse("--upstream-url", "http://127.0.0.1:9/v1", "--upstream", "chat"))
    assert app.remote is not None
    frozen_before = gc.get_freeze_count()
    tune_gc(app)
    assert gc.get_threshold() == GC_THRESHOLD == (50_000, 10, 10)
    assert gc.get_freeze_count() > frozen_before + 10_000  # the modules and the app, out of every collection
    assert (app.remote.transport == "aiohttp") == ("aiohttp" in sys.modules)  # imported to be frozen too
    assert gc.isenabled()  # cycles are still collected


def test_one_worker_is_the_default_and_needs_no_store() -> None:
    args = parse()
    assert (args.workers, args.access_log) == (1, False)
    assert check_workers(args) is None


def test_several_workers_refuse_the_per_process_memory_store(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--workers", "2", "--upstream-url", "http://127.0.0.1:9/v1"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "--workers 2" in err and "--response-store redis://" in err and "previous_response_id" in err


@pytest.mark.parametrize(
    "argv",
    [
        ["--workers", "2", "--response-store", "redis://127.0.0.1:6379/0"],
        ["--workers", "2", "--response-store", "memory"],  # said on purpose
        ["--workers", "2", "--upstream-url", "http://h/v1", "--upstream", "responses"],  # state lives upstream
    ],
)
def test_several_workers_run_with_a_shared_store_an_explicit_memory_one_or_a_responses_upstream(
    argv: list[str],
) -> None:
    assert check_workers(parse(*argv)) is None


def test_zero_workers_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--workers", "0"])
    assert exit_info.value.code == 2
    assert "not a positive integer" in capsys.readouterr().err


def test_a_worker_builds_its_app_from_the_parents_options(
    monkeypatch: pytest.MonkeyPatch, quiet_root: None, restore_gc: None
) -> None:
    argv = ["--workers", "2", "--response-store", "memory", "--max-tokens-default", "55", "--model-map", "c-*=m"]
    monkeypatch.setenv(ARGS_ENV, json.dumps(argv))
    app = worker_app()
    assert gc.get_threshold() == GC_THRESHOLD  # each worker process tunes its own collector
    assert isinstance(app.app, FakeModel)
    assert app.max_tokens_for("x") == 55
    assert app.model_map("c-1") == "m"


@pytest.mark.parametrize(
    ("level", "httpx_level", "ours"),
    [
        ("info", logging.WARNING, logging.INFO),
        ("warning", logging.WARNING, logging.WARNING),
        ("debug", logging.DEBUG, logging.DEBUG),
    ],
)
def test_httpx_logs_its_per_request_line_only_at_debug(
    quiet_root: None, level: str, httpx_level: int, ours: int
) -> None:
    configure_logging(parse("--log-level", level))
    assert logging.getLogger("httpx").getEffectiveLevel() == httpx_level
    assert logging.getLogger("httpcore").getEffectiveLevel() == httpx_level
    assert logging.getLogger().level == ours  # the root: where the asgi_translate line goes


def _stop(process: subprocess.Popen[str]) -> tuple[int, str]:
    """Stop with SIGTERM: the status and everything printed (uvicorn's access lines go to stdout)."""
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=20)
    return process.returncode, out + err


def _ask(port: int, n: int) -> list[int]:
    body = {"model": "demo", "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]}
    # A new connection each: the workers share the listening socket, and each takes some.
    return [httpx.post(f"http://127.0.0.1:{port}/v1/messages", json=body, timeout=10).status_code for _ in range(n)]


@pytest.mark.slow
def test_the_access_log_is_off_by_default_and_one_exchange_is_one_line() -> None:
    port = free_port()
    with run_command(["--port", str(port)], port) as process:
        statuses = _ask(port, 3)
        status, err = _stop(process)
    assert statuses == [200, 200, 200] and status == 0
    assert err.count("asgi_translate request_id=") == 3
    assert '"POST /v1/messages HTTP/1.1" 200' not in err  # uvicorn's access line


@pytest.mark.slow
def test_access_log_adds_uvicorns_line() -> None:
    port = free_port()
    with run_command(["--port", str(port), "--access-log"], port) as process:
        statuses = _ask(port, 2)
        status, err = _stop(process)
    assert statuses == [200, 200] and status == 0
    assert err.count('"POST /v1/messages HTTP/1.1" 200') == 2


@pytest.mark.slow
def test_two_workers_serve_one_port_and_stop_cleanly() -> None:
    port = free_port()
    with run_command(["--port", str(port), "--workers", "2", "--response-store", "memory"], port) as process:
        statuses = _ask(port, 20)
        status, err = _stop(process)
    assert statuses == [200] * 20
    assert status == 0, err
    assert "Traceback" not in err
    assert err.count("Started server process") == 2  # two workers
    assert err.count("asgi_translate request_id=") == 20  # each worker logs its own exchanges
    assert "Responses state is per worker" in err


def _listening(port: int) -> set[str]:
    """The socket inodes listening on ``port`` (``/proc/net/tcp``: state 0A is LISTEN)."""
    found = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[1].endswith(f":{port:04X}") and fields[3] == "0A":
            found.add(fields[9])
    return found


def _held_sockets(pid: int) -> set[str]:
    """The socket inodes process ``pid`` holds open."""
    held = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):  # an fd closed while listed
            target = os.readlink(fd)
            if target.startswith("socket:["):
                held.add(target[8:-1])
    return held


@pytest.mark.slow
@pytest.mark.skipif(not balanced(), reason="SO_REUSEPORT balances connections only on Linux")
def test_each_worker_listens_on_a_socket_of_its_own() -> None:
    """A shared socket gives a burst of connections to whichever worker wakes first; a socket
    each, bound with SO_REUSEPORT, lets the kernel spread them. The supervisor keeps no copy:
    a worker's socket closes with it."""
    port = free_port()
    args = ["--port", str(port), "--workers", "2", "--response-store", "memory"]
    with run_command(args, port) as process:
        deadline = time.monotonic() + 20
        while len(_listening(port)) < 2 and time.monotonic() < deadline:  # the second may still be starting
            time.sleep(0.1)
        sockets = _listening(port)
        held = _held_sockets(process.pid)
        statuses = _ask(port, 4)
        status, err = _stop(process)
    assert len(sockets) == 2
    assert not sockets & held
    assert statuses == [200] * 4 and status == 0, err
    assert err.count("Uvicorn running on") == 1
