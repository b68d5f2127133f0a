"""A throwaway real redis-server for the Redis store tests: a free loopback port, a temp directory,
no persistence, started and stopped by the test session.

The tests skip when no ``redis-server`` binary exists on a developer machine, but fail in CI (the
``CI`` environment variable is set), where ``.ci/run`` installs it: a silently skipped suite would
hide a broken shared store.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

START_TIMEOUT = 10.0


def find_redis_server() -> str | None:
    """The binary to run: ``$REDIS_SERVER`` when set, else ``redis-server`` on PATH."""
    return os.environ.get("REDIS_SERVER") or shutil.which("redis-server")


def require_redis_server() -> str:
    """The binary, or a skip (locally) / failure (in CI) with a reason that says what to install."""
    binary = find_redis_server()
    if binary is not None:
        return binary
    reason = "redis-server not found on PATH (apt-get install redis-server, or set REDIS_SERVER=/path/to/it)"
    if os.environ.get("CI"):
        pytest.fail(f"{reason}; CI must run the Redis store tests", pytrace=False)
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def ping(port: int, timeout: float = 0.5) -> bool:
    """One raw RESP PING, so readiness does not depend on the client under test."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


class RedisServer:
    """One redis-server process on 127.0.0.1; :meth:`stop` kills it, :meth:`start` brings it back
    on the same port (so clients holding the URL reconnect), :meth:`pause`/:meth:`resume` freeze
    it (SIGSTOP/SIGCONT) to play a server that accepts connections but never answers."""

    def __init__(self, binary: str, directory: Path) -> None:
        self.binary = binary
        self.directory = directory
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        command = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        command += ["--dir", str(self.directory), "--logfile", str(self.directory / "redis.log")]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + START_TIMEOUT
        while not ping(self.port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                log = self._log_tail()
                self.stop()
                raise RuntimeError(f"redis-server on port {self.port} did not answer PING: {log}")
            time.sleep(0.02)

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(signal.SIGCONT)  # a paused server cannot act on SIGKILL's cleanup
            process.kill()
        process.wait(timeout=START_TIMEOUT)

    def pause(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)

    def _log_tail(self) -> str:
        log = self.directory / "redis.log"
        return log.read_text(errors="replace")[-2000:] if log.exists() else "(no log)"


def running_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """Body of a pytest fixture: a started server, always stopped afterwards. A free port can be
    taken by someone else between probing and binding, so startup gets three tries."""
    binary = require_redis_server()
    for attempt in range(3):
        server = RedisServer(binary, tmp_path)
        try:
            server.start()
            break
        except RuntimeError:
            if attempt == 2:
                raise
    try:
        yield server
    finally:
        server.stop()
