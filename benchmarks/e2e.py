"""End to end through uvicorn on 127.0.0.1: time to first byte and total, with and without us.

Two server processes serve the same replayed upstream streams, one bare and one wrapped in
``TranslateMiddleware``. Every upstream schema lives under its own prefix (``/chat/v1/...``,
``/messages/v1/...``, ``/responses/v1/...``), so one wrapped server answers all six directions:
``POST /chat/v1/messages`` is Messages translated from the chat stream at
``/chat/v1/chat/completions``. The client is a raw blocking socket speaking HTTP/1.1 with
``Connection: close``, so its own cost is tiny and the same for both servers.

Times: ``ttfb`` = first response byte (status line), ``ttfe`` = first body byte (first event),
``total`` = last byte; medians over sequential requests (and the minimum time to the first event,
the least noisy figure on a shared machine).
"""

from __future__ import annotations

import json
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
PREFIXES = ("chat", "messages", "responses")


def build_app(translate: bool, n: int) -> Any:
    """The replay server: each prefix streams that schema's workload (imports are lazy so the
    parent process never imports asgi_translate for this)."""
    import workload
    from harness import replay_app
    from starlette.types import Receive, Scope, Send

    from asgi_translate import Route, TranslateMiddleware
    from asgi_translate._hub.routes import DEFAULT_PATHS, SCHEMAS

    apps = {up: replay_app(workload.frames(up, n)) for up in PREFIXES}

    async def upstream(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        await apps[scope["path"].split("/")[1]](scope, receive, send)

    if not translate:
        return upstream
    routes = [
        Route(f"/{up}{DEFAULT_PATHS[client]}", client, up, f"/{up}{DEFAULT_PATHS[up]}")
        for up in SCHEMAS
        for client in SCHEMAS
        if client != up
    ]
    return TranslateMiddleware(upstream, routes=routes)


def serve(port: int, translate: bool, n: int) -> None:
    import uvicorn

    sys.path.insert(0, str(HERE))
    config = uvicorn.Config(build_app(translate, n), host="127.0.0.1", port=port, log_level="warning")
    uvicorn.Server(config).run()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(port: int, proc: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    """Until ``port`` accepts a connection; a server that exits or takes longer is an error."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"server on {port} did not start within {timeout}s")


def request(port: int, path: str, body: bytes) -> tuple[float, float, float, int]:
    """One POST; returns (ttfb, ttfe, total) in seconds and the bytes received."""
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
        f"Accept: text/event-stream\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        start = time.perf_counter()
        sock.sendall(head + body)
        received = bytearray()
        ttfb = ttfe = 0.0
        while True:
            chunk = sock.recv(65536)
            now = time.perf_counter()
            if not chunk:
                break
            if not received:
                ttfb = now - start
            received += chunk
            if not ttfe:
                end = received.find(b"\r\n\r\n")
                if end >= 0 and len(received) > end + 4:
                    ttfe = now - start
        total = time.perf_counter() - start
    if not received.startswith(b"HTTP/1.1 200"):
        raise RuntimeError(f"{path}: {bytes(received[:300])!r}")
    return ttfb, ttfe, total, len(received)


def measure(n: int, requests: int, python: str = sys.executable) -> list[dict[str, Any]]:
    sys.path.insert(0, str(HERE))
    import workload

    procs: dict[str, tuple[int, subprocess.Popen[bytes]]] = {}
    rows: list[dict[str, Any]] = []
    try:
        for mode in ("raw", "translate"):
            port = free_port()
            cmd = [python, str(HERE / "e2e.py"), "serve", str(port), mode, str(n)]
            procs[mode] = (port, subprocess.Popen(cmd, env={**os.environ, "PYTHONPATH": str(HERE.parent)}))
        for _, (port, proc) in procs.items():
            wait_ready(port, proc)
        paths = {"chat": "/v1/chat/completions", "messages": "/v1/messages", "responses": "/v1/responses"}
        for up in PREFIXES:
            for client in PREFIXES:
                mode = "raw" if client == up else "translate"
                port = procs[mode][0]
                body = json.dumps(workload.stream_request(client)).encode()
                path = f"/{up}{paths[client]}"
                request(port, path, body)  # warm-up
                samples = [request(port, path, body) for _ in range(requests)]
                rows.append(
                    {
                        "group": "e2e",
                        "direction": f"{up}->{client}" if mode == "translate" else f"{up} (no middleware)",
                        "upstream": up,
                        "mode": mode,
                        "n": n,
                        "requests": requests,
                        "ttfb_ms": statistics.median(s[0] for s in samples) * 1000,
                        "ttfe_ms": statistics.median(s[1] for s in samples) * 1000,
                        "ttfe_min_ms": min(s[1] for s in samples) * 1000,
                        "total_ms": statistics.median(s[2] for s in samples) * 1000,
                        "bytes": samples[0][3],
                    }
                )
    finally:
        for _, proc in procs.values():
            proc.terminate()
        for _, proc in procs.values():
            proc.wait(10)
    _add_deltas(rows)
    return rows


def _add_deltas(rows: list[dict[str, Any]]) -> None:
    """Added latency of each translated direction over the bare stream of its upstream."""
    raw = {r["upstream"]: r for r in rows if r["mode"] == "raw"}
    for r in rows:
        if r["mode"] == "translate":
            base = raw[r["upstream"]]
            r["added_ttfb_ms"] = r["ttfb_ms"] - base["ttfb_ms"]
            r["added_ttfe_ms"] = r["ttfe_ms"] - base["ttfe_ms"]
            r["added_ttfe_min_ms"] = r["ttfe_min_ms"] - base["ttfe_min_ms"]
            r["added_total_ms"] = r["total_ms"] - base["total_ms"]


if __name__ == "__main__":
    if sys.argv[1] == "serve":
        serve(int(sys.argv[2]), sys.argv[3] == "translate", int(sys.argv[4]))
