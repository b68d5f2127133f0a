"""Proxy capacity: streams per second, time to first byte and CPU per stream under load.

Every server runs on 127.0.0.1 in its own process. The fake chat upstream and this load generator
share core 1; the server under test gets core 0 (``taskset``), or both cores for the
several-worker row. Each client connection sends a streaming request for a 54-frame chat stream,
reads it to its end and sends the next one on the same keep-alive connection, ``concurrency``
connections at once, for a fixed window after a warm-up. The upstream writes the stream as
HTTP/1.1 chunks of ``--per-write`` frames (6 by default) with a turn of its event loop between
writes, so concurrent streams interleave as a model server's do. Reported per target and level:

- ``streams/s``: streams completed in the window, over the window;
- ``TTFB p50 / p99``: from writing a request to its first response byte, over the requests the
  window started (one still waiting when the run stops counts with the time it had waited, so a
  percentile that includes one is a lower bound, printed with ``>``);
- ``CPU µs / stream``: user + system CPU of the target's whole process tree (from ``/proc``) over
  the window, divided by the streams completed in it: the figure that other processes on a
  shared machine disturb least.

Targets (``--targets``, comma-separated):

- ``upstream``: the fake upstream alone (its CPU): the harness's own ceiling;
- ``floor-httpx``, ``floor-httpx-aiohttp``, ``floor-aiohttp``: uvicorn + a passthrough ASGI app
  relaying the chat stream (no parsing, no translation) with httpx's default transport, httpx over
  httpx-aiohttp's ``AiohttpTransport``, or aiohttp's client itself;
- ``proxy``: ``asgi-translate --upstream-url ... --upstream chat`` at its defaults, a Messages
  client; ``proxy-httpx``: the same with ``ASGI_TRANSLATE_HTTP=httpx``; ``proxy-N``: the same
  with ``--workers N`` (``--workers``, default 2) on both cores;
- ``inprocess``: uvicorn + ``TranslateMiddleware`` around an ASGI app replaying the same stream
  (no upstream hop), a Messages client;
- ``litellm``: LiteLLM's proxy (``benchmarks/.venv``), its ``/v1/messages`` over the same
  upstream as a ``hosted_vllm/`` model (an OpenAI-compatible chat server).

``--inprocess-cost`` adds what the middleware costs in process without HTTP: CPU per 54-frame
chat->messages exchange through the middleware minus the same exchange straight to the app.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(HERE), str(ROOT)]

import workload  # noqa: E402
from e2e import free_port, wait_ready  # noqa: E402

FRAMES = 54
MIN_STREAMS = 50  # a window lasts until this many streams completed in it...
SLOW_LIMIT = 60.0  # ...or this many seconds (and so does a slow target's warm-up)
#: The key every request carries (LiteLLM's proxy checks it; the others forward or ignore it).
BENCH_KEY = "sk-capacity-bench-0000"
PEERS_PYTHON = HERE / ".venv" / "bin" / "python"
CLK_TCK = os.sysconf("SC_CLK_TCK")
ALL_TARGETS = (
    "upstream",
    "floor-httpx",
    "floor-httpx-aiohttp",
    "floor-aiohttp",
    "proxy-httpx",
    "proxy",
    "proxy-N",
    "inprocess",
    "litellm",
)
# What the fake upstream serves and each target is asked for; the marker ends a complete stream.
CHAT_PATH, MESSAGES_PATH = "/v1/chat/completions", "/v1/messages"


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------------------
# The fake chat upstream: a raw asyncio protocol, so that it costs as little as can be had.


def chunked(frames: list[bytes]) -> list[bytes]:
    """Each SSE frame as one HTTP/1.1 chunk, then the terminating chunk."""
    return [b"%x\r\n%s\r\n" % (len(f), f) for f in frames] + [b"0\r\n\r\n"]


class _UpstreamProtocol(asyncio.Protocol):
    """HTTP/1.1 keep-alive: every POST gets the same chat stream, one chunk per frame, with a
    yield to the event loop between frames so that concurrent streams interleave as a model
    server's do (frames arrive one by one, not as one block per stream)."""

    head = (
        b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream; charset=utf-8\r\n"
        b"cache-control: no-cache\r\ntransfer-encoding: chunked\r\n\r\n"
    )

    def __init__(self, chunks: list[bytes], per_write: int) -> None:
        self.chunks = chunks
        self.per_write = per_write
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buffer[:end].lower()
            rest = self.buffer[end + 4 :]
            if b"transfer-encoding: chunked" in head:
                stop = rest.find(b"0\r\n\r\n")
                if stop < 0:
                    return
                self.buffer = rest[stop + 5 :]
            else:
                length = 0
                for line in head.split(b"\r\n"):
                    if line.startswith(b"content-length:"):
                        length = int(line[15:])
                if len(rest) < length:
                    return
                self.buffer = rest[length:]
            asyncio.get_running_loop().create_task(self.answer())

    async def answer(self) -> None:
        transport = self.transport
        assert transport is not None
        transport.write(self.head)
        step = self.per_write
        chunks = self.chunks
        for i in range(0, len(chunks), step):
            if transport.is_closing():
                return
            transport.write(b"".join(chunks[i : i + step]) if step > 1 else chunks[i])
            await asyncio.sleep(0)


def serve_upstream(port: int, per_write: int) -> None:
    _use_uvloop()
    chunks = chunked(workload.frames("chat", FRAMES))

    async def main() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(lambda: _UpstreamProtocol(chunks, per_write), "127.0.0.1", port, backlog=4096)
        async with server:
            await server.serve_forever()

    asyncio.run(main())


def _use_uvloop() -> None:
    try:
        import uvloop
    except ImportError:
        return
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


# ------------------------------------------------------------------------------------------
# Servers under test (each started as ``capacity.py serve KIND PORT UPSTREAM_PORT``)


def passthrough_httpx(upstream: str, transport: str = "") -> Any:
    """The floor with httpx: relay the request body up and the raw stream down, nothing else.
    ``transport="aiohttp"`` puts httpx-aiohttp's transport under the same httpx client API."""
    import httpx

    limits = httpx.Limits(max_connections=2000, max_keepalive_connections=2000)
    if transport == "aiohttp":
        from httpx_aiohttp import AiohttpTransport

        client = httpx.AsyncClient(transport=AiohttpTransport(limits=limits))
    else:
        client = httpx.AsyncClient(limits=limits)
    url = upstream + CHAT_PATH

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        request = client.build_request("POST", url, content=body, headers={"content-type": "application/json"})
        response = await client.send(request, stream=True)
        try:
            await send({"type": "http.response.start", "status": response.status_code, "headers": _SSE})
            async for chunk in response.aiter_raw():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            await response.aclose()

    return app


def passthrough_aiohttp(upstream: str) -> Any:
    """The floor with aiohttp's client, the fastest pure-asyncio HTTP client we know of."""
    import aiohttp

    session: list[aiohttp.ClientSession] = []
    url = upstream + CHAT_PATH

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        if not session:
            session.append(aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=2000)))
        body = b""
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        async with session[0].post(url, data=body, headers={"content-type": "application/json"}) as response:
            await send({"type": "http.response.start", "status": response.status, "headers": _SSE})
            async for chunk in response.content.iter_any():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    return app


def inprocess_app(per_write: int) -> Any:
    """TranslateMiddleware around an app replaying the stream: the proxy minus the upstream hop.
    The app sends ``per_write`` frames per body message, as the upstream writes them."""
    from harness import replay_app

    from asgi_translate import TranslateMiddleware

    frames = workload.frames("chat", FRAMES)
    grouped = [b"".join(frames[i : i + per_write]) for i in range(0, len(frames), per_write)]
    return TranslateMiddleware(replay_app(grouped), upstream="chat")


_SSE = [(b"content-type", b"text/event-stream; charset=utf-8"), (b"cache-control", b"no-cache")]


def serve(kind: str, port: int, upstream_port: int, per_write: int) -> None:
    import uvicorn

    upstream = f"http://127.0.0.1:{upstream_port}"
    factories: dict[str, Callable[[], Any]] = {
        "floor-httpx": lambda: passthrough_httpx(upstream),
        "floor-aiohttp": lambda: passthrough_aiohttp(upstream),
        "floor-httpx-aiohttp": lambda: passthrough_httpx(upstream, "aiohttp"),
        "inprocess": lambda: inprocess_app(per_write),
    }
    # The settings asgi-translate's CLI gives uvicorn, so that the floors differ from it only in the app.
    config = uvicorn.Config(
        factories[kind](), host="127.0.0.1", port=port, log_level="warning", lifespan="off", access_log=False
    )
    uvicorn.Server(config).run()


# ------------------------------------------------------------------------------------------
# Starting and watching targets


@dataclass
class Target:
    name: str
    proc: subprocess.Popen[bytes]
    port: int
    path: str
    body: bytes
    marker: bytes  # the last event of a complete stream
    cores: str


def safe_env(**extra: str) -> dict[str, str]:
    """Nothing a target does may leave the machine: proxies point at a port that refuses."""
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    sink = "http://127.0.0.1:9"
    env.update(HTTP_PROXY=sink, HTTPS_PROXY=sink, ALL_PROXY=sink, NO_PROXY="127.0.0.1,localhost")
    env.update(PYTHONPATH=os.pathsep.join([str(ROOT), str(HERE)]), **extra)
    if os.environ.get("CAPACITY_PACKAGE"):  # another checkout of the package to measure
        env["PYTHONPATH"] = os.environ["CAPACITY_PACKAGE"] + os.pathsep + env["PYTHONPATH"]
    return env


def start(cmd: list[str], cores: str, env: dict[str, str], cwd: str | None = None) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        ["taskset", "-c", cores, *cmd],
        env=env,
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=open(os.devnull, "wb") if not os.environ.get("CAPACITY_DEBUG") else None,
        start_new_session=True,
    )


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


def launch(name: str, upstream_port: int, cores: str, workers: int, per_write: int) -> Target:
    port = free_port()
    python = sys.executable
    me = str(HERE / "capacity.py")
    chat_body = json.dumps(workload.stream_request("chat")).encode()
    messages_body = json.dumps(workload.stream_request("messages")).encode()
    upstream = f"http://127.0.0.1:{upstream_port}"
    env = safe_env()
    if name == "upstream":
        proc = subprocess.Popen(["true"])  # replaced by the upstream's own process by the caller
        return Target(name, proc, upstream_port, CHAT_PATH, chat_body, b"[DONE]", "1")
    if name.startswith("floor-") or name == "inprocess":
        proc = start([python, me, "serve", name, str(port), str(upstream_port), str(per_write)], cores, env)
        path, body, marker = (
            (CHAT_PATH, chat_body, b"[DONE]")
            if name.startswith("floor-")
            else (MESSAGES_PATH, messages_body, b"message_stop")
        )
    elif name.startswith("proxy"):
        if name == "proxy-httpx":  # the same command with httpx carrying the bytes
            env["ASGI_TRANSLATE_HTTP"] = "httpx"
        cmd = [python, "-m", "asgi_translate", "--upstream-url", upstream + "/v1", "--upstream", "chat"]
        cmd += ["--port", str(port)]  # the default log level: one line per exchange, to stderr
        if workers > 1:
            cmd += ["--workers", str(workers), "--response-store", "memory"]  # no Responses turns here
        proc = start(cmd, cores, env)
        path, body, marker = MESSAGES_PATH, messages_body, b"message_stop"
    elif name == "litellm":
        proc = start_litellm(port, upstream, cores, env)
        path, body, marker = MESSAGES_PATH, messages_body, b"message_stop"
    else:
        raise ValueError(name)
    try:
        wait_ready(port, proc, timeout=120.0 if name == "litellm" else 30.0)
    except RuntimeError:
        stop(proc)
        raise
    return Target(name, proc, port, path, body, marker, cores)


def start_litellm(port: int, upstream: str, cores: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
    if not PEERS_PYTHON.exists():
        raise RuntimeError(f"no {PEERS_PYTHON}: pip install -r benchmarks/requirements.txt into it")
    config = Path(tempfile.mkdtemp(prefix="capacity-litellm-")) / "config.yaml"
    config.write_text(
        "model_list:\n"
        "  - model_name: bench-model\n"
        "    litellm_params:\n"
        "      model: hosted_vllm/bench-model\n"  # an OpenAI-compatible server such as vLLM: chat completions
        f"      api_base: {upstream}/v1\n"
        "      api_key: unused\n"
        "litellm_settings:\n"
        "  telemetry: false\n"
        "  set_verbose: false\n"
        "general_settings:\n"
        f"  master_key: {BENCH_KEY}\n"  # it refuses to start without one
        "  disable_spend_logs: true\n"
    )
    litellm_env = {
        **env,
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",  # no download of the price list at import
        "LITELLM_TELEMETRY": "False",
        "LITELLM_LOG": "ERROR",
        "DISABLE_ADMIN_UI": "True",
        "PYTHONPATH": "",
    }
    litellm = str(PEERS_PYTHON.parent / "litellm")
    return start(
        [litellm, "--config", str(config), "--host", "127.0.0.1", "--port", str(port), "--num_workers", "1"],
        cores,
        litellm_env,
        cwd=str(config.parent),
    )


def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU of ``pid`` and every live descendant (workers included)."""
    return sum(tree_cpu_by_pid(pid).values())


def tree_cpu_by_pid(pid: int) -> dict[int, float]:
    """User + system CPU seconds of ``pid`` and of each live descendant, by pid: how evenly
    ``--workers`` processes share the load shows here."""
    return _summed(tree_times(pid))


def _summed(times: dict[int, tuple[float, float]]) -> dict[int, float]:
    return {pid: user + system for pid, (user, system) in times.items()}


def tree_times(pid: int) -> dict[int, tuple[float, float]]:
    """User and system CPU seconds of ``pid`` and of each live descendant, by pid, from one pass
    over ``/proc``. The system part is the kernel's share of the socket work, which callgrind's
    instruction counts (user space only) leave out."""
    children: dict[int, list[int]] = {}
    stats: dict[int, tuple[float, float]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                raw = f.read()
        except OSError:
            continue
        fields = raw[raw.rfind(b")") + 2 :].split()  # from the field after the state: utime is 11, stime 12
        child = int(entry)
        children.setdefault(int(fields[1]), []).append(child)
        stats[child] = (int(fields[11]) / CLK_TCK, int(fields[12]) / CLK_TCK)
    tree: dict[int, tuple[float, float]] = {}
    todo = [pid]
    while todo:
        current = todo.pop()
        tree[current] = stats.get(current, (0.0, 0.0))
        todo.extend(children.get(current, ()))
    return tree


# ------------------------------------------------------------------------------------------
# The load: one protocol per client connection, a new request as soon as a stream ends.


@dataclass
class Sample:
    start: float
    first: float = 0.0
    end: float = 0.0


@dataclass
class Load:
    request: bytes
    marker: bytes
    samples: list[Sample] = field(default_factory=list)
    completed: list[float] = field(default_factory=list)  # end times
    failures: int = 0
    running: bool = True


class _ClientProtocol(asyncio.Protocol):
    def __init__(self, load: Load, done: asyncio.Future[None]) -> None:
        self.load = load
        self.done = done
        self.transport: asyncio.Transport | None = None
        self.sample: Sample | None = None
        self.tail = b""
        self.status_checked = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.send()

    def send(self) -> None:
        if not self.load.running:
            assert self.transport is not None
            self.transport.close()
            return
        self.sample = Sample(time.perf_counter())
        self.load.samples.append(self.sample)
        self.tail = b""
        self.status_checked = False
        assert self.transport is not None
        self.transport.write(self.load.request)

    def data_received(self, data: bytes) -> None:
        sample = self.sample
        if sample is None:
            return
        if not sample.first:
            sample.first = time.perf_counter()
        if not self.status_checked:
            self.tail += data
            if len(self.tail) < 12:
                return
            if not self.tail.startswith(b"HTTP/1.1 200"):
                self.load.failures += 1
                log(f"capacity: unexpected answer {self.tail[:200]!r}")
                self.load.running = False
                assert self.transport is not None
                self.transport.close()
                return
            self.status_checked = True
            data = self.tail
        self.tail = (self.tail + data)[-400:] if len(data) < 400 else data[-400:]
        if self.tail.endswith(b"\r\n0\r\n\r\n"):
            if self.load.marker not in self.tail:
                self.load.failures += 1
            sample.end = time.perf_counter()
            self.load.completed.append(sample.end)
            self.sample = None
            self.send()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.sample is not None and self.load.running:
            self.load.failures += 1
        if not self.done.done():
            self.done.set_result(None)


def request_bytes(port: int, path: str, body: bytes) -> bytes:
    head = (
        f"POST {path} HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\ncontent-type: application/json\r\n"
        f"accept: text/event-stream\r\nanthropic-version: 2023-06-01\r\nx-api-key: {BENCH_KEY}\r\n"
        f"content-length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def drive(
    target: Target, upstream_pid: int, concurrency: int, warmup: float, window: float, grace: float
) -> dict[str, Any]:
    """Run ``concurrency`` connections: warm up, measure a window, let the window's requests get
    their first byte (at most ``grace`` s), then stop; everything is bounded in time."""
    loop = asyncio.get_running_loop()
    load = Load(request_bytes(target.port, target.path, target.body), target.marker)
    dones: list[asyncio.Future[None]] = []
    for i in range(concurrency):
        done: asyncio.Future[None] = loop.create_future()
        dones.append(done)
        await loop.create_connection(lambda d=done: _ClientProtocol(load, d), "127.0.0.1", target.port)  # type: ignore[misc]
        if i % 100 == 99:
            await asyncio.sleep(0.01)
    # A slow target (LiteLLM) is warm only once every connection has had a stream answered, and is
    # measured over at least MIN_STREAMS of them: both waits are bounded by SLOW_LIMIT seconds.
    start = time.perf_counter()
    await asyncio.sleep(warmup)
    while len(load.completed) < concurrency and time.perf_counter() - start < SLOW_LIMIT:  # noqa: ASYNC110
        await asyncio.sleep(0.1)
    up0, t0 = tree_cpu_seconds(upstream_pid), time.perf_counter()
    times0 = tree_times(target.proc.pid)
    me0 = _own_cpu()
    first_sample, done0 = len(load.samples), len(load.completed)
    await asyncio.sleep(window)
    while len(load.completed) - done0 < MIN_STREAMS and time.perf_counter() - t0 < SLOW_LIMIT:  # noqa: ASYNC110
        await asyncio.sleep(0.1)
    up1, t1 = tree_cpu_seconds(upstream_pid), time.perf_counter()
    times1 = tree_times(target.proc.pid)
    by_pid0, by_pid1 = _summed(times0), _summed(times1)
    cpu0, cpu1 = sum(by_pid0.values()), sum(by_pid1.values())
    system0, system1 = sum(t[1] for t in times0.values()), sum(t[1] for t in times1.values())
    me1 = _own_cpu()
    window_samples = [s for s in load.samples[first_sample:] if s.start < t1]
    deadline = time.perf_counter() + grace
    while time.perf_counter() < deadline and any(not s.first for s in window_samples):  # noqa: ASYNC110
        await asyncio.sleep(0.05)  # polled: first bytes arrive in protocol callbacks, not tasks
    load.running = False
    stopped = time.perf_counter()
    await asyncio.wait(dones, timeout=grace + 5)
    completed = sum(1 for end in load.completed if t0 <= end < t1)
    ttfbs = sorted((s.first if s.first else stopped) - s.start for s in window_samples)
    censored = sorted(stopped - s.start for s in window_samples if not s.first)
    elapsed = t1 - t0
    row: dict[str, Any] = {
        "target": target.name,
        "concurrency": concurrency,
        "cores": target.cores,
        "window_s": round(elapsed, 2),
        "streams": completed,
        "streams_per_s": completed / elapsed,
        "ttfb_p50_ms": _pct(ttfbs, 0.50) * 1000,
        "ttfb_p99_ms": _pct(ttfbs, 0.99) * 1000,
        "ttfb_censored": len(censored),
        "ttfb_p50_lower_bound": bool(censored) and _pct(ttfbs, 0.50) >= censored[0],
        "ttfb_p99_lower_bound": bool(censored) and _pct(ttfbs, 0.99) >= censored[0],
        "failures": load.failures,
    }
    row["cpu_us_per_stream"] = (cpu1 - cpu0) / completed * 1e6 if completed else None
    row["system_us_per_stream"] = (system1 - system0) / completed * 1e6 if completed else None
    row["cpu_share"] = (cpu1 - cpu0) / elapsed
    row["upstream_cpu_share"] = (up1 - up0) / elapsed
    # Each process's share of a core (the supervisor and each worker of --workers N).
    row["process_cpu_shares"] = sorted(
        (round((used - by_pid0.get(pid, 0.0)) / elapsed, 3) for pid, used in by_pid1.items()), reverse=True
    )
    row["load_cpu_share"] = (me1 - me0) / elapsed
    return row


def _own_cpu() -> float:
    times = os.times()
    return times.user + times.system


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    return values[min(len(values) - 1, int(q * len(values)))]


# ------------------------------------------------------------------------------------------
# In process: what the middleware adds to one exchange, without HTTP


def inprocess_cost(repeats: int, streams: int) -> dict[str, Any]:
    """CPU µs per 54-frame chat->messages exchange: middleware + replaying app, minus the app."""
    from harness import asgi_runner, replay_app

    from asgi_translate import TranslateMiddleware

    frames = workload.frames("chat", FRAMES)
    bare_body = json.dumps(workload.stream_request("chat")).encode()
    body = json.dumps(workload.stream_request("messages")).encode()
    bare_run, bare_close = asgi_runner(replay_app(frames), CHAT_PATH, bare_body)
    ours_run, ours_close = asgi_runner(TranslateMiddleware(replay_app(frames), upstream="chat"), MESSAGES_PATH, body)

    def per_exchange(run: Callable[[], object]) -> float:
        start = time.process_time_ns()
        for _ in range(streams):
            run()
        return (time.process_time_ns() - start) / streams / 1000

    try:
        for _ in range(2):
            per_exchange(bare_run), per_exchange(ours_run)
        bare, ours = [], []
        for _ in range(repeats):  # interleaved, so both see the same neighbours
            bare.append(per_exchange(bare_run))
            ours.append(per_exchange(ours_run))
    finally:
        bare_close()
        ours_close()
    return {
        "frames": FRAMES,
        "bare_us": min(bare),
        "ours_us": min(ours),
        "added_us": min(ours) - min(bare),
        "added_median_us": statistics.median(ours) - statistics.median(bare),
    }


# ------------------------------------------------------------------------------------------


def render(result: dict[str, Any]) -> str:
    lines = [
        f"Proxy capacity ({result['date']}, {result['machine']}): 54-frame chat stream, Messages client "
        "(floors: chat client, no translation)",
        "",
        "| target | cores | concurrency | streams/s | TTFB p50 / p99 ms | CPU µs / stream | of it, system "
        "| CPU used: target / harness (cores) | failures |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in result["rows"]:
        p50 = (">" if r["ttfb_p50_lower_bound"] else "") + f"{r['ttfb_p50_ms']:,.0f}"
        p99 = (">" if r["ttfb_p99_lower_bound"] else "") + f"{r['ttfb_p99_ms']:,.0f}"
        cpu = r.get("cpu_us_per_stream")
        system = r.get("system_us_per_stream")
        harness = r.get("upstream_cpu_share", 0.0) + r.get("load_cpu_share", 0.0)
        lines.append(
            f"| {r['target']} | {r['cores']} | {r['concurrency']:,} | {r['streams_per_s']:,.0f} | {p50} / {p99} | "
            f"{'' if cpu is None else f'{cpu:,.0f}'} | {'' if system is None else f'{system:,.0f}'} | "
            f"{r['cpu_share']:.2f} / {harness:.2f} | {r['failures']} |"
        )
    lines += _rounds_summary(result["rows"])
    cost = result.get("inprocess_cost")
    if cost:
        lines += [
            "",
            f"In process, no HTTP: a {cost['frames']}-frame chat->messages exchange costs {cost['ours_us']:.0f} µs "
            f"through the middleware, {cost['bare_us']:.0f} µs straight to the app: "
            f"{cost['added_us']:.0f} µs added (median {cost['added_median_us']:.0f}).",
        ]
    return "\n".join(lines)


def _rounds_summary(rows: list[dict[str, Any]]) -> list[str]:
    """For a run of several rounds: each target's median CPU per stream, and the proxy's CPU
    against the aiohttp floor's round by round (the issue's bar is at most 2x)."""
    if max((r.get("round", 1) for r in rows), default=1) < 2:
        return []
    cpu: dict[tuple[str, int], dict[int, float]] = {}
    for r in rows:
        if r.get("cpu_us_per_stream") is not None:
            cpu.setdefault((r["target"], r["concurrency"]), {})[r.get("round", 1)] = r["cpu_us_per_stream"]
    lines = ["", "Over the rounds:", ""]
    for (target, level), by_round in cpu.items():
        values = sorted(by_round.values())
        lines.append(f"- {target} x{level:,}: CPU per stream median {statistics.median(values):,.0f} µs "
                     f"({', '.join(f'{v:,.0f}' for v in values)})")  # fmt: skip
        floor = cpu.get(("floor-aiohttp", level))
        if target.startswith("proxy") and floor and target != "proxy-httpx":
            ratios = sorted(by_round[n] / floor[n] for n in by_round if n in floor)
            if ratios:
                lines.append(f"  against floor-aiohttp in the same round: median {statistics.median(ratios):.2f}x "
                             f"({', '.join(f'{x:.2f}' for x in ratios)})")  # fmt: skip
    return lines


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--targets", default=",".join(ALL_TARGETS), help="comma-separated, from: " + ", ".join(ALL_TARGETS))
    p.add_argument("--concurrency", default="10,100,1000", help="comma-separated client counts")
    p.add_argument("--warmup", type=float, default=2.0, help="seconds of load before the window")
    p.add_argument("--window", type=float, default=6.0, help="seconds measured")
    p.add_argument("--grace", type=float, default=5.0, help="longest wait for the window's first bytes")
    p.add_argument("--workers", type=int, default=2, help="N of the proxy-N target")
    p.add_argument("--per-write", type=int, default=6, help="frames per upstream write (1: one by one)")
    p.add_argument("--rounds", type=int, default=1, help="run every target this many times, interleaved")
    p.add_argument("--inprocess-cost", action="store_true", help="also measure the middleware's in-process cost")
    p.add_argument("--out", default=str(HERE / "results" / "capacity.json"))
    p.add_argument("--render", metavar="PATH", help="print the table of a saved result")
    opts = p.parse_args()
    if opts.render:
        print(render(json.loads(Path(opts.render).read_text())))
        return 0
    targets = [t.strip().replace("proxy-N", f"proxy-{opts.workers}") for t in opts.targets.split(",") if t.strip()]
    levels = [int(c) for c in opts.concurrency.split(",")]
    result = new_result()
    if opts.inprocess_cost:
        log("in-process cost ...")
        result["inprocess_cost"] = inprocess_cost(repeats=7, streams=300)
    os.sched_setaffinity(0, {1})  # the load shares core 1 with the fake upstream
    _use_uvloop()
    upstream_port = free_port()
    upstream = start([sys.executable, str(HERE / "capacity.py"), "upstream", str(upstream_port), str(opts.per_write)],
                     "1", safe_env())  # fmt: skip
    try:
        wait_ready(upstream_port, upstream, timeout=60.0)
        # Rounds interleave the targets, so that a slow minute of a shared machine falls on all of them.
        for round_ in range(1, opts.rounds + 1):
            for name in targets:
                workers = int(name.split("-")[1]) if name.startswith("proxy-") and name[6:].isdigit() else 1
                cores = "0,1" if workers > 1 else "0"
                for level in levels:
                    log(f"{name} x{level} (round {round_}) ...")
                    target = launch(name, upstream_port, cores, workers, opts.per_write)
                    if name == "upstream":
                        target.proc = upstream
                    try:
                        row = asyncio.run(drive(target, upstream.pid, level, opts.warmup, opts.window, opts.grace))
                    finally:
                        if name != "upstream":
                            stop(target.proc)
                    row["round"] = round_
                    result["rows"].append(row)
                    log(f"  {row['streams_per_s']:.0f} streams/s, cpu/stream {row.get('cpu_us_per_stream')}")
    finally:
        stop(upstream)
    save_result(result, opts.out, render)
    return 0


def new_result() -> dict[str, Any]:
    """A run's record before its rows: when, where, the command, the load average (here and in
    scaling.py, so that every saved run says what it ran on)."""
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "cpus": os.cpu_count() or 1,
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "loadavg_before": os.getloadavg(),
        "rows": [],
    }


def save_result(result: dict[str, Any], out: str, render: Callable[[dict[str, Any]], str]) -> None:
    """Close the record (the load average after), write it to ``out`` and print its table."""
    result["loadavg_after"] = os.getloadavg()
    Path(out).parent.mkdir(exist_ok=True)
    Path(out).write_text(json.dumps(result, indent=1))
    print(render(result))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "upstream":
        serve_upstream(int(sys.argv[2]), int(sys.argv[3]))
    elif len(sys.argv) > 1 and sys.argv[1] == "serve":
        serve(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]))
    else:
        sys.exit(main())
