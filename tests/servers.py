"""Real servers for tests that must see bytes cross a socket: uvicorn in a background thread.

``with serve(app) as url:`` runs ``app`` on 127.0.0.1 on a free port chosen by the OS and yields
``http://127.0.0.1:<port>``. Every wait is bounded, so a broken server fails the test instead of
hanging it. In-process transports (``httpx.ASGITransport``) buffer whole responses; these do not.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence

import httpx
import uvicorn
from starlette.types import ASGIApp

STARTUP_TIMEOUT = 10.0


@contextlib.contextmanager
def serve(app: ASGIApp, *, lifespan: str = "on") -> Iterator[str]:
    """Serve ``app`` with uvicorn until the block ends; yields its base URL."""
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan=lifespan)  # type: ignore[arg-type]
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="uvicorn-test-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(STARTUP_TIMEOUT)
        if thread.is_alive():  # pragma: no cover - a stuck shutdown; make the next join short
            server.force_exit = True
            thread.join(STARTUP_TIMEOUT)


def free_port() -> int:
    """A port nothing listens on right now (for subprocesses that need one on the command line)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def closed_port_url() -> str:
    """A URL on which nothing listens: connecting is refused at once."""
    return f"http://127.0.0.1:{free_port()}"


@contextlib.contextmanager
def run_command(args: Sequence[str], port: int) -> Iterator[subprocess.Popen[str]]:
    """Start ``python -m asgi_translate ARGS`` and wait until it answers on ``port``; the caller
    stops it (the process is killed on the way out if it is still running)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "asgi_translate", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_until_up(f"http://127.0.0.1:{port}", process)
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=STARTUP_TIMEOUT)


def wait_until_up(url: str, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT * 2
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the command exited with {process.returncode}: {process.communicate()[1]}")
        try:
            httpx.get(url + "/v1/models", timeout=1.0)
            return
        except httpx.TransportError:
            time.sleep(0.05)
    raise RuntimeError("the command did not start listening")
