"""Instructions, not seconds: what one exchange costs, counted by callgrind.

Timed runs on a shared or small machine move by 10-40% between rounds; ``valgrind --tool=callgrind``
counts the instructions the interpreter executes, which are the same from run to run whatever else
the machine does. Each figure is the difference between a run of 110 exchanges and one of 10, over
100, so start-up and imports cancel out; per frame is the difference between a 254-frame and a
54-frame exchange, over 200.

    python benchmarks/icount.py ours chat messages        # the middleware, chat upstream, Messages client
    python benchmarks/icount.py floor chat                # the orjson round-trip floor of run.py, chat frames
    python benchmarks/icount.py bare chat                 # the replaying app alone
    python benchmarks/icount.py proxy                     # TranslateMiddleware(upstream_url=...) over the fake upstream
    python benchmarks/icount.py upstream                  # HTTPXUpstream alone (no translation), same upstream
    python benchmarks/icount.py floor-aiohttp             # capacity.py's aiohttp passthrough floor, same upstream

The last three talk to capacity.py's fake chat upstream (6 frames per write), started on 127.0.0.1
for the run, with 54-frame streams one after another, on uvloop when it is installed (as the
command runs). Needs valgrind (apt: valgrind).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PATHS = {"chat": "/v1/chat/completions", "messages": "/v1/messages", "responses": "/v1/responses"}
REMOTE = ("proxy", "upstream", "floor-aiohttp")
FEW, MANY = 10, 110


def exchanges(kind: str, up: str, client: str, frames: int, count: int, port: int) -> None:
    """Run ``count`` exchanges in this process (the part callgrind counts)."""
    sys.path[:0] = [str(HERE), str(ROOT)]
    import workload
    from harness import asgi_runner, replay_app

    if kind in REMOTE:
        use_uvloop()  # the event loop the proxy runs on (the cli extra's uvloop)
        up_url = f"http://127.0.0.1:{port}"
        if kind == "proxy":
            from asgi_translate import TranslateMiddleware

            app = TranslateMiddleware(upstream_url=up_url + "/v1", upstream="chat")
            path, request = PATHS["messages"], workload.stream_request("messages")
        elif kind == "upstream":
            from asgi_translate import HTTPXUpstream

            app = HTTPXUpstream(up_url + "/v1", upstream="chat")
            path, request = PATHS["chat"], workload.stream_request("chat")
        else:
            import capacity

            app = capacity.passthrough_aiohttp(up_url)
            path, request = PATHS["chat"], workload.stream_request("chat")
    else:
        stream = workload.frames(up, frames)
        if kind == "ours":
            from asgi_translate import TranslateMiddleware

            app = TranslateMiddleware(replay_app(stream), upstream=up)
            path, request = PATHS[client], workload.stream_request(client)
        elif kind == "floor":
            import floors

            app = floors.wrap(replay_app(stream), floors.FLOORS["roundtrip.orjson"])
            path, request = "/floor", workload.stream_request(up)
        else:
            app = replay_app(stream)
            path, request = PATHS[up], workload.stream_request(up)
    run, close = asgi_runner(app, path, json.dumps(request).encode())
    for _ in range(count):
        run()
    close()


def use_uvloop() -> None:
    try:
        import uvloop
    except ImportError:
        return
    import asyncio

    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


def counted(args: list[str], count: int, env: dict[str, str]) -> int:
    """Instructions of one child run of ``count`` exchanges."""
    cmd = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable, __file__]
    out = subprocess.run([*cmd, *args, "--child", str(count)], env=env, capture_output=True, text=True, check=True)
    found = re.search(r"Collected : (\d+)", out.stderr)
    if found is None:
        raise RuntimeError(f"callgrind printed no total: {out.stderr[-500:]}")
    return int(found.group(1))


def per_exchange(args: list[str], env: dict[str, str]) -> int:
    return (counted(args, MANY, env) - counted(args, FEW, env)) // (MANY - FEW)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("kind", choices=["ours", "floor", "bare", *REMOTE])
    p.add_argument("upstream", nargs="?", default="chat", choices=list(PATHS))
    p.add_argument("client", nargs="?", default="messages", choices=list(PATHS))
    p.add_argument("--frames", type=int, default=0, help="one stream length only (default: 54 and 254)")
    p.add_argument("--child", type=int, help=argparse.SUPPRESS)
    p.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    opts = p.parse_args()
    if opts.child is not None:
        exchanges(opts.kind, opts.upstream, opts.client, opts.frames, opts.child, opts.port)
        return 0
    env = {**os.environ, "PYTHONHASHSEED": "0", "PYTHONPATH": os.pathsep.join([str(ROOT), str(HERE)])}
    base = [opts.kind, opts.upstream, opts.client]
    if opts.kind in REMOTE:
        sys.path[:0] = [str(HERE)]
        from e2e import free_port, wait_ready

        port = free_port()
        cmd = ["taskset", "-c", "1", sys.executable, str(HERE / "capacity.py"), "upstream", str(port), "6"]
        upstream = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_ready(port, upstream, timeout=30.0)
            total = per_exchange([*base, "--frames", "54", "--port", str(port)], env)
        finally:
            upstream.terminate()
            upstream.wait(10)
        print(f"{opts.kind}: {total:,} instructions per 54-frame stream")
        return 0
    started = time.perf_counter()
    label = opts.kind + (f" {opts.upstream}->{opts.client}" if opts.kind == "ours" else f" {opts.upstream}")
    lengths = [opts.frames] if opts.frames else [54, 254]
    totals = {n: per_exchange([*base, "--frames", str(n)], env) for n in lengths}
    for n, total in totals.items():
        print(f"{label}, {n} frames: {total:,} instructions per exchange")
    if len(totals) == 2:
        print(f"{label}: {(totals[254] - totals[54]) // 200:,} instructions per frame")
    print(f"({time.perf_counter() - started:.0f} s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
