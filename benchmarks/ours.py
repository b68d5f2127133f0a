"""asgi_translate measured in process: streams, request translation and memory.

The JSON backend is whatever :mod:`asgi_translate._hub.json` picked at import; ``run.py`` runs this
module once per backend in a subprocess with ``ASGI_TRANSLATE_JSON`` set accordingly.
"""

from __future__ import annotations

import asyncio
import gc
import resource
import time
import tracemalloc
from collections.abc import Callable
from functools import partial
from typing import Any

import workload
from harness import SSE_HEADERS, App, Message, Receive, Scope, Send, asgi_runner, exchange, replay_app, timed

from asgi_translate import TranslateMiddleware
from asgi_translate._hub import json as tjson
from asgi_translate._hub.context import Context
from asgi_translate._hub.pipeline import StreamTranslator
from asgi_translate._hub.routes import DEFAULT_PATHS
from asgi_translate.schemas import get_codec


def backend() -> str:
    return tjson.BACKEND


def middleware(frames: list[bytes], upstream: str) -> App:
    return TranslateMiddleware(replay_app(frames), upstream=upstream)  # type: ignore[arg-type]


def _context(client: str) -> Context:
    request = get_codec(client).parse_request(workload.stream_request(client))  # type: ignore[arg-type]
    return Context(request=request, client_model=request.model, client_body=workload.stream_request(client))


def translator(upstream: str, client: str) -> StreamTranslator:
    """A translator built the way the middleware builds one for a streamed response."""
    ctx = _context(client)
    return StreamTranslator(get_codec(upstream).decoder(ctx), get_codec(client).encoder(ctx))  # type: ignore[arg-type]


def core_runner(frames: list[bytes], upstream: str, client: str, keep: list[bytes] | None = None) -> Callable[[], int]:
    """``StreamTranslator`` alone, one ``feed`` per frame then ``finish``: no ASGI, no request."""

    def run() -> int:
        t = translator(upstream, client)
        feed = t.feed
        total = 0
        for frame in frames:
            out = feed(frame)
            total += len(out)
            if keep is not None:
                keep.append(out)
        out = t.finish()
        if keep is not None:
            keep.append(out)
        return total + len(out)

    return run


def check_output(upstream: str, client: str, frames: list[bytes]) -> str:
    """Validate our translated stream with the client schema's SDK models: "ok" or the error."""
    chunks: list[bytes] = []
    core_runner(frames, upstream, client, chunks)()
    out = [f + b"\n\n" for f in b"".join(chunks).split(b"\n\n") if f.strip()]
    try:
        checked = workload.validate(client, out)
    except Exception as exc:  # a finding to report, not a reason to stop the benchmark
        return f"invalid: {type(exc).__name__}: {str(exc)[:300]}"
    return f"ok ({checked} events validated)"


def stream_rows(
    directions: list[tuple[str, str]], ns: list[int], repeats: Callable[[int], int]
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for upstream, client in directions:
        for n in ns:
            frames = workload.frames(upstream, n)
            body = tjson.dumpb(workload.stream_request(client))
            run, close = asgi_runner(middleware(frames, upstream), DEFAULT_PATHS[client], body)  # type: ignore[index]
            base = {"group": "ours", "direction": f"{upstream}->{client}", "backend": backend(), "n": n}
            try:
                rows.append({**base, "layer": "asgi", **timed(run, n, repeats(n))})
            finally:
                close()
            rows.append({**base, "layer": "core", **timed(core_runner(frames, upstream, client), n, repeats(n))})
    return rows


# ------------------------------------------------------------------------------------------
# Request translation: one large request per direction


def _json_roundtrip(raw: bytes) -> bytes:
    return tjson.dumpb(tjson.loads(raw))


def request_rows(directions: list[tuple[str, str]], repeats: int) -> list[dict[str, Any]]:
    """What the middleware does to a request body: parse, canonical, render, dump (µs per request)."""
    rows = []
    for upstream, client in directions:
        raw = tjson.dumpb(workload.large_request(client))
        client_codec, upstream_codec = get_codec(client), get_codec(upstream)  # type: ignore[arg-type]

        def run(raw: bytes = raw, cc: Any = client_codec, uc: Any = upstream_codec) -> bytes:
            body = tjson.loads_object(raw)
            request = cc.parse_request(body)
            ctx = Context(request=request, client_model=request.model, client_body=body)
            return tjson.dumpb(uc.render_request(request, ctx))

        out = run()
        stats = timed(run, 1, repeats)
        rows.append(
            {
                "group": "request",
                "direction": f"{upstream}->{client}",
                "backend": backend(),
                "bytes_in": len(raw),
                "bytes_out": len(out),
                "min_us": stats["min_us"],
                "median_us": stats["median_us"],
                "floor_median_us": timed(partial(_json_roundtrip, raw), 1, repeats)["median_us"],
            }
        )
    return rows


# ------------------------------------------------------------------------------------------
# Memory


def translator_state(upstream: str, client: str, head: int = 50, count: int = 200) -> float:
    """Bytes held per open stream by a translator that has seen its first ``head`` frames."""
    frames = workload.frames(upstream, 1_000)[:head]
    translator(upstream, client)  # import and cache everything first
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        held = []
        for _ in range(count):
            t = translator(upstream, client)
            for frame in frames:
                t.feed(frame)
            held.append(t)
        gc.collect()
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    return (after - before) / count


def _paused_app(frames: list[bytes], head: int, gate: asyncio.Event, paused: list[int]) -> App:
    """An upstream that sends its first ``head`` frames and then waits for ``gate``."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "http.response.start", "status": 200, "headers": SSE_HEADERS})
        for frame in frames[:head]:
            await send({"type": "http.response.body", "body": frame, "more_body": True})
        paused[0] += 1
        await gate.wait()
        for frame in frames[head:]:
            await send({"type": "http.response.body", "body": frame, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    return app


async def _open_exchanges(wrap: Callable[[App], App], upstream: str, client: str, head: int, count: int) -> float:
    frames = workload.frames(upstream, head + 50)
    gate = asyncio.Event()
    paused = [0]
    app = wrap(_paused_app(frames, head, gate, paused))
    body = tjson.dumpb(workload.stream_request(client))
    path = DEFAULT_PATHS[client]  # type: ignore[index]
    await exchange(wrap(replay_app(frames)), path, body)  # warm every import and cache
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        tasks = [asyncio.ensure_future(exchange(app, path, body)) for _ in range(count)]
        while paused[0] < count:  # noqa: ASYNC110 - polls a counter the tasks bump, once per loop turn
            await asyncio.sleep(0)
        gc.collect()
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    gate.set()
    await asyncio.gather(*tasks)
    return (after - before) / count


def exchange_state(upstream: str, client: str, head: int = 50, count: int = 200) -> dict[str, float]:
    """Bytes per open exchange through the middleware, less the same exchange passed through."""

    def passthrough(app: App) -> App:
        async def mw(scope: Scope, receive: Receive, send: Send) -> None:
            async def send_wrapper(message: Message) -> None:
                await send(message)

            await app(scope, receive, send_wrapper)

        return mw

    def translated(app: App) -> App:
        return TranslateMiddleware(app, upstream=upstream)  # type: ignore[arg-type]

    ours = asyncio.run(_open_exchanges(translated, upstream, client, head, count))
    base = asyncio.run(_open_exchanges(passthrough, upstream, client, head, count))
    return {"exchange_bytes": ours - base, "harness_bytes": base}


def _with_text(frame: bytes, upstream: str, text: str) -> bytes | None:
    """``frame`` with its text delta replaced by ``text``; ``None`` when it carries no text delta."""
    event, _, data = frame.rstrip(b"\n").rpartition(b"data: ")
    try:
        payload = tjson.loads(data)
    except ValueError:
        return None
    if not isinstance(payload, dict):
        return None
    if upstream == "chat":
        delta = (payload.get("choices") or [{}])[0].get("delta") or {}
        if not delta.get("content"):
            return None
        delta["content"] = text
    elif upstream == "messages":
        if payload.get("type") != "content_block_delta" or payload["delta"].get("type") != "text_delta":
            return None
        payload["delta"]["text"] = text
    else:
        if payload.get("type") != "response.output_text.delta":
            return None
        payload["delta"] = text
    return event + b"data: " + tjson.dumpb(payload) + b"\n\n"


def long_stream_peak(upstream: str, client: str, megabytes: int) -> dict[str, float]:
    """Peak memory growth (tracemalloc) over one stream whose text is ``megabytes`` long, as a
    multiple of that text: a Responses client's last events repeat all of it, so about 2 is the
    floor there (the text, and the piece of it being written); the others hold no output."""
    # Its other text deltas in ASCII too: one non-ASCII character would make Python hold the whole
    # text at 2 or 4 bytes a character, which measures str, not the translator.
    frames = [_with_text(frame, upstream, "ok") or frame for frame in workload.frames(upstream, 40)]
    at = next(i for i, frame in enumerate(frames) if _with_text(frame, upstream, "x") is not None)
    piece = "0123456789" * 100
    big = _with_text(frames[at], upstream, piece)
    assert big is not None
    repeats = megabytes * 1024 * 1024 // len(piece)
    head, tail = frames[: at + 1], frames[at + 1 :]

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "http.response.start", "status": 200, "headers": SSE_HEADERS})
        for frame in head:
            await send({"type": "http.response.body", "body": frame, "more_body": True})
        batch = big * 32
        for _ in range(repeats // 32):
            await send({"type": "http.response.body", "body": batch, "more_body": True})
        for frame in tail:
            await send({"type": "http.response.body", "body": frame, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    wrapped = TranslateMiddleware(app, upstream=upstream)  # type: ignore[arg-type]
    body = tjson.dumpb({**workload.stream_request(client), "store": False})
    path = DEFAULT_PATHS[client]  # type: ignore[index]
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        sink = asyncio.run(exchange(wrapped, path, body))
        peak = tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()
    assert sink.done and sink.status == 200
    text = (repeats // 32) * 32 * len(piece)
    return {"long_stream_mb": text / 1e6, "long_stream_peak_ratio": peak / text}


def memory_rows(directions: list[tuple[str, str]], count: int, long_mb: int = 100) -> list[dict[str, Any]]:
    rows = []
    for upstream, client in directions:
        rows.append(
            {
                "group": "memory",
                "direction": f"{upstream}->{client}",
                "backend": backend(),
                "translator_bytes": translator_state(upstream, client, count=count),
                **exchange_state(upstream, client, count=count),
                **long_stream_peak(upstream, client, long_mb),
            }
        )
    return rows


def _current_rss_kib() -> int:
    """Resident set size now (``ru_maxrss`` is a high-water mark that imports may already have set)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() // 1024


def concurrency(upstream: str, client: str, streams: int, frames_per_stream: int) -> dict[str, Any]:
    """``streams`` exchanges at once through one middleware; the upstream yields after every frame
    so the streams interleave as they would on a busy server. Meant for a fresh process."""
    frames = workload.frames(upstream, frames_per_stream)

    def interleaving(frames: list[bytes]) -> App:
        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            await receive()
            await send({"type": "http.response.start", "status": 200, "headers": SSE_HEADERS})
            for frame in frames:
                await send({"type": "http.response.body", "body": frame, "more_body": True})
                await asyncio.sleep(0)
            await send({"type": "http.response.body", "body": b"", "more_body": False})

        return app

    # upstream == client measures the harness alone: the same exchanges through a bare send wrapper
    app = interleaving(frames)
    if upstream != client:
        app = TranslateMiddleware(app, upstream=upstream)  # type: ignore[arg-type]
    body = tjson.dumpb(workload.stream_request(client))
    path = DEFAULT_PATHS[client]  # type: ignore[index]

    async def main() -> float:
        await exchange(app, path, body)
        gc.collect()
        rss_before = _current_rss_kib()
        start = time.perf_counter()
        sinks = await asyncio.gather(*(exchange(app, path, body) for _ in range(streams)))
        elapsed = time.perf_counter() - start
        assert all(s.done and s.status == 200 for s in sinks)
        results["rss_before_kib"] = rss_before
        return elapsed

    results: dict[str, Any] = {}
    elapsed = asyncio.run(main())
    return {
        "group": "concurrency",
        "direction": f"{upstream}->{client}" if upstream != client else f"{upstream} (no middleware)",
        "backend": backend(),
        "streams": streams,
        "frames_per_stream": frames_per_stream,
        "seconds": elapsed,
        "frames_per_s": streams * frames_per_stream / elapsed,
        "us_per_frame": elapsed / (streams * frames_per_stream) * 1e6,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "rss_before_mib": results["rss_before_kib"] / 1024,
        "rss_after_mib": _current_rss_kib() / 1024,
    }
