"""Timing and ASGI plumbing shared by every measurement.

A measurement runs one callable that processes a whole stream, a few times to warm up, then
``repeats`` times; it reports the minimum (the cost with no noise) and the median (the cost to
expect), both divided by the number of upstream frames. The clock is the process's CPU time
(``process_time_ns``): everything measured in process is single-threaded, and CPU time does not
count the moments another process held the core, which on a shared 2-core machine otherwise
dominates the spread. Wall-clock medians are kept beside it (``wall_median_us``). The garbage
collector stays on, as in a server, but a collection runs before every timed run so one run does
not pay for the previous one's garbage.
"""

from __future__ import annotations

import asyncio
import gc
import statistics
import time
from collections.abc import Callable

from starlette.types import ASGIApp as App
from starlette.types import Message, Receive, Scope, Send

__all__ = ["App", "Message", "Receive", "Scope", "Send"]

SSE_HEADERS = [(b"content-type", b"text/event-stream; charset=utf-8"), (b"cache-control", b"no-cache")]


def timed(run: Callable[[], object], frames: int, repeats: int, warmup: int = 1) -> dict[str, float]:
    """µs per frame of ``run()`` (min and median over ``repeats`` runs after ``warmup`` runs)."""
    for _ in range(warmup):
        run()
    samples = []
    walls = []
    for _ in range(repeats):
        gc.collect()
        wall, start = time.perf_counter_ns(), time.process_time_ns()
        run()
        samples.append(time.process_time_ns() - start)
        walls.append(time.perf_counter_ns() - wall)
    return {
        "min_us": min(samples) / frames / 1000,
        "median_us": statistics.median(samples) / frames / 1000,
        "wall_median_us": statistics.median(walls) / frames / 1000,
        "runs": repeats,
    }


def repeats_for(n: int, quick: bool) -> int:
    """Enough runs for a stable median without making the 30k-frame rows take minutes."""
    if quick:
        return 3
    return 15 if n <= 1_000 else 7 if n <= 10_000 else 5


def replay_app(frames: list[bytes]) -> App:
    """An upstream that answers any request with ``frames``, one ``http.response.body`` each."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        while (await receive()).get("more_body", False):
            pass
        await send({"type": "http.response.start", "status": 200, "headers": SSE_HEADERS})
        for frame in frames:
            await send({"type": "http.response.body", "body": frame, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    return app


def http_scope(path: str) -> Scope:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"127.0.0.1"), (b"content-type", b"application/json")],
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 8000),
    }


class Sink:
    """The client's side of one exchange: counts what the app sends (keeping nothing, so memory
    and time are the translator's, not the harness's: a kept first body would count against the
    memory rows, more for a client whose first frames are larger)."""

    __slots__ = ("status", "bytes", "messages", "done")

    def __init__(self) -> None:
        self.status = 0
        self.bytes = 0
        self.messages = 0
        self.done = False

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
            return
        self.bytes += len(message.get("body", b""))
        self.messages += 1
        self.done = not message.get("more_body", False)


async def exchange(app: App, path: str, body: bytes) -> Sink:
    """One POST through ``app``; returns the sink, which raises nothing and keeps counts."""
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.Event().wait()  # a client that stays connected
        raise AssertionError("unreachable")

    sink = Sink()
    await app(http_scope(path), receive, sink)
    return sink


def asgi_runner(app: App, path: str, body: bytes) -> tuple[Callable[[], Sink], Callable[[], None]]:
    """A synchronous ``run()`` that drives one exchange on a private event loop, and ``close``."""
    loop = asyncio.new_event_loop()

    def run() -> Sink:
        sink = loop.run_until_complete(exchange(app, path, body))
        if not sink.done or sink.status != 200:
            raise RuntimeError(f"exchange on {path} did not complete: status {sink.status}, done {sink.done}")
        return sink

    return run, loop.close
