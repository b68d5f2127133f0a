"""Worker scaling: ``asgi-translate --workers N`` against one worker, with a harness in C.

``capacity.py`` drives every target from Python (a uvloop load generator and a raw-protocol fake
upstream). That harness costs about a quarter of a millisecond of CPU per stream, which is
nothing beside a proxy pinned to its own core but decides the several-worker row on a small
machine: there the workers share the cores with the harness, and every microsecond the harness
spends is one the workers do not get. This script measures the same exchange (54-frame chat
stream, Messages client, ``--per-write`` frames per upstream write) with the cheapest harness
the package registries offer: nginx's echo module replaying the chat stream byte for byte, and
wrk keeping the connections busy (its Lua hook checks that every stream reached
``message_stop``). Each row reports what every process used, so the ratio can be read against
what the machine had left for the workers:

- ``streams/s`` over the window, and ``CPU µs / stream`` of the proxy's process tree;
- ``cores used``: the proxy's processes (the supervisor and each worker) and the harness's
  (nginx + wrk);
- ``streams/s per core used``: the workers' throughput per core of CPU they actually got, against
  one worker's: 1.0 means a second worker costs nothing beyond the core it is given;
- ``ceiling``: the most that N workers can serve against one worker with a core to itself, once
  the harness takes its share of the same cores: ``min(N, cores * c / (c + h))``, ``c`` and ``h``
  the proxy's (one worker) and the harness's CPU per stream. On a machine with no core to spare
  for the harness the ratio cannot pass it, however well the workers scale.

``--cpu-budget F`` takes the harness out of the reading instead of computing around it: each worker
gets ``F`` of a core (a CPU cgroup with a CFS quota of ``N * F`` cores over the proxy's whole process
tree, on its ``N`` cores), the same for one worker as for N, and the ``(1 - F) * cores`` left is the
harness's. With ``F`` under what the harness leaves (0.75 on two cores, where nginx + wrk take about
0.35 of a core at two workers' pace), N workers against one is what the workers themselves scale by:
the question ``--workers`` has to answer. Needs root and the ``cpu`` controller (cgroup v1 or v2).

One window moves by 10-20% in CPU per stream from one row to the next on a shared machine, and a
ratio of two rows by twice that. ``--rounds R`` measures the worker counts R times in turn and ends
the table with the median over the rounds of N workers against one worker of the same round.

Needs ``nginx`` with the echo module and ``wrk`` (Debian: ``apt-get install nginx-light
libnginx-mod-http-echo wrk``); everything listens on 127.0.0.1 and every run is bounded by
``--window``. The proxy runs from this interpreter's environment, like ``capacity.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]

import workload  # noqa: E402
from capacity import (  # noqa: E402
    FRAMES,
    MESSAGES_PATH,
    launch,
    log,
    new_result,
    save_result,
    stop,
    tree_cpu_by_pid,
    tree_cpu_seconds,
)
from e2e import free_port, wait_ready  # noqa: E402

ECHO_MODULE = Path("/usr/share/nginx/modules/ngx_http_echo_module.so")
HARNESS_CORE = "1"

#: wrk's request and its check: a stream counts only when it ends with the client's terminator.
WRK_SCRIPT = """
local f = io.open(os.getenv("WRK_BODY"), "r"); local body = f:read("*a"); f:close()
local marker = os.getenv("WRK_MARKER")
wrk.method = "POST"; wrk.body = body
wrk.headers["content-type"] = "application/json"
wrk.headers["accept"] = "text/event-stream"
wrk.headers["anthropic-version"] = "2023-06-01"
wrk.headers["x-api-key"] = "sk-scaling-bench-0000"
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) good = 0; bad = 0 end
if os.getenv("WRK_CHECK") == "1" then
  function response(status, headers, body)
    if status == 200 and body:find(marker, 1, true) then good = good + 1 else bad = bad + 1 end
  end
end
function done(summary, latency, requests)
  local g, b = 0, 0
  for _, t in ipairs(threads) do g = g + t:get("good"); b = b + t:get("bad") end
  local errors = summary.errors
  local failed = errors.connect + errors.read + errors.write + errors.status + errors.timeout
  io.write(string.format("RESULT requests=%d failed=%d good=%d bad=%d duration_us=%d\\n",
    summary.requests, failed, g, b, summary.duration))
end
"""


def _nginx_string(raw: bytes) -> str:
    """A single-quoted nginx string holding ``raw`` exactly (the echo module adds nothing)."""
    return "'" + raw.decode().replace("\\", "\\\\").replace("'", "\\'") + "'"


def nginx_config(folder: Path, port: int, per_write: int) -> str:
    """One nginx worker answering every request with the chat stream, ``per_write`` frames per
    flushed HTTP/1.1 chunk, as capacity.py's fake upstream writes it."""
    frames = workload.frames("chat", FRAMES)
    writes = "".join(
        f"            echo -n {_nginx_string(b''.join(frames[i : i + per_write]))};\n            echo_flush;\n"
        for i in range(0, len(frames), per_write)
    )
    return f"""
load_module {ECHO_MODULE};
worker_processes 1;
daemon off;
pid {folder}/nginx.pid;
error_log {folder}/error.log warn;
events {{ worker_connections 8192; }}
http {{
    access_log off;
    client_body_temp_path {folder}/body;
    keepalive_requests 10000000;
    keepalive_timeout 300s;
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        location / {{
            default_type 'text/event-stream; charset=utf-8';
            echo_read_request_body;
{writes}        }}
    }}
}}
"""


def run_wrk(folder: Path, port: int, connections: int, seconds: int, check: bool) -> tuple[dict[str, int], float]:
    """wrk on the harness core for ``seconds``: its RESULT line and its own CPU seconds. With
    ``check`` every body is searched for the terminator (``good``/``bad``); without, wrk only
    counts responses and errors, and costs less: the warm-up checks, the window measures."""
    env = {**os.environ, "WRK_BODY": str(folder / "body.json"), "WRK_MARKER": "message_stop"}
    env["WRK_CHECK"] = "1" if check else "0"
    cmd = ["taskset", "-c", HARNESS_CORE, "wrk", "-t1", f"-c{connections}", f"-d{seconds}s"]
    cmd += ["--timeout", "30s", "-s", str(folder / "load.lua"), f"http://127.0.0.1:{port}{MESSAGES_PATH}"]
    before = os.times()
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=seconds + 60, check=True).stdout
    after = os.times()
    match = re.search(r"RESULT requests=(\d+) failed=(\d+) good=(\d+) bad=(\d+) duration_us=(\d+)", out)
    if match is None:
        raise RuntimeError(f"wrk printed no result:\n{out}")
    requests, failed, good, bad, duration = (int(g) for g in match.groups())
    cpu = (after.children_user - before.children_user) + (after.children_system - before.children_system)
    return {"requests": requests, "failed": failed, "good": good, "bad": bad, "duration_us": duration}, cpu


CGROUP_V2 = Path("/sys/fs/cgroup")
CGROUP_V1_CPU = Path("/sys/fs/cgroup/cpu")
CFS_PERIOD_US = 100_000


@contextmanager
def cpu_budget(pids: list[int], cores: float) -> Iterator[Path]:
    """``pids`` (each a process, its threads with it) in a fresh CPU cgroup allowed ``cores`` of CPU
    time per wall second, for as long as the block runs. The processes must be gone, or moved out,
    when it ends: the cgroup is removed then."""
    quota = round(cores * CFS_PERIOD_US)
    controllers = CGROUP_V2 / "cgroup.controllers"
    v2 = controllers.exists() and "cpu" in controllers.read_text().split()
    parent = CGROUP_V2 if v2 else CGROUP_V1_CPU
    if not v2 and not (parent / "cpu.cfs_quota_us").exists():
        raise RuntimeError(f"--cpu-budget needs the cpu cgroup controller (v2 at {CGROUP_V2}, or v1 at {parent})")
    if v2:  # the controller has to be handed down before a child group has its cpu.max
        (parent / "cgroup.subtree_control").write_text("+cpu")
    group = parent / f"asgi-translate-scaling-{os.getpid()}"
    group.mkdir()
    try:
        if v2:
            (group / "cpu.max").write_text(f"{quota} {CFS_PERIOD_US}")
        else:
            (group / "cpu.cfs_period_us").write_text(str(CFS_PERIOD_US))
            (group / "cpu.cfs_quota_us").write_text(str(quota))
        for pid in pids:
            (group / "cgroup.procs").write_text(str(pid))
        yield group
    finally:
        for _ in range(50):  # the stopped processes leave the group as the kernel reaps them
            try:
                group.rmdir()
                break
            except OSError:
                time.sleep(0.1)


def measure(
    folder: Path, workers: int, round_no: int, upstream_port: int, nginx_pid: int, opts: argparse.Namespace
) -> dict[str, Any]:
    cores = "0" if workers == 1 else ",".join(str(i) for i in range(min(workers, os.cpu_count() or 1)))
    target = launch("proxy" if workers == 1 else f"proxy-{workers}", upstream_port, cores, workers, opts.per_write)
    with ExitStack() as stack:
        stack.callback(stop, target.proc)
        checked, _ = run_wrk(folder, target.port, opts.connections, opts.warmup, check=True)
        if checked["bad"] or checked["failed"] or not checked["good"]:
            raise RuntimeError(f"{workers} worker(s): streams without their terminator in the warm-up: {checked}")
        if opts.cpu_budget:  # after the warm-up, when every worker has started: one still starting would run outside
            stack.enter_context(cpu_budget(list(tree_cpu_by_pid(target.proc.pid)), workers * opts.cpu_budget))
            stack.callback(stop, target.proc)  # before the group is removed: it must be empty by then
        proxy0, nginx0 = tree_cpu_by_pid(target.proc.pid), tree_cpu_seconds(nginx_pid)
        result, wrk_cpu = run_wrk(folder, target.port, opts.connections, opts.window, check=False)
        proxy1, nginx1 = tree_cpu_by_pid(target.proc.pid), tree_cpu_seconds(nginx_pid)
    elapsed = result["duration_us"] / 1e6
    streams = result["requests"] - result["failed"]
    shares = sorted(((used - proxy0.get(pid, 0.0)) / elapsed for pid, used in proxy1.items()), reverse=True)
    proxy_cpu = sum(used - proxy0.get(pid, 0.0) for pid, used in proxy1.items())
    harness_cpu = (nginx1 - nginx0) + wrk_cpu
    return {
        "workers": workers,
        "round": round_no,
        "cores": cores,
        "cpu_budget": opts.cpu_budget,
        "connections": opts.connections,
        "window_s": round(elapsed, 2),
        "streams": streams,
        "failures": result["failed"],
        "checked_streams": checked["good"],
        "streams_per_s": streams / elapsed,
        "cpu_us_per_stream": proxy_cpu / streams * 1e6 if streams else None,
        "harness_us_per_stream": harness_cpu / streams * 1e6 if streams else None,
        "proxy_cores": proxy_cpu / elapsed,
        "process_cores": [round(s, 3) for s in shares],
        "harness_cores": harness_cpu / elapsed,
    }


def render(result: dict[str, Any]) -> str:
    rows = result["rows"]
    ones = {r.get("round", 1): r for r in rows if r["workers"] == 1 and r["streams_per_s"]}
    rounds = len({r.get("round", 1) for r in rows})
    budget = rows[0].get("cpu_budget") if rows else None
    lines = [
        f"Worker scaling ({result['date']}, {result['machine']}; load average {result['loadavg_before'][0]:.1f} "
        f"before, {result['loadavg_after'][0]:.1f} after): 54-frame chat stream, Messages client, "
        f"{rows[0]['connections'] if rows else 0} connections; nginx + wrk on core {HARNESS_CORE}"
        + (f"; each worker held to {budget:g} of a core (a CPU cgroup)" if budget else ""),
        "",
        "| workers | cores | streams/s | vs 1 worker | CPU µs / stream | cores used: workers (each) / harness "
        "| harness µs / stream | streams/s per core used, vs 1 worker | ceiling here, vs 1 worker |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    ratios: dict[int, list[float]] = {}
    for row in rows:
        ratio = efficiency = ceiling = "-"
        one = ones.get(row.get("round", 1))
        if one is not None and row["streams_per_s"]:
            vs_one = row["streams_per_s"] / one["streams_per_s"]
            ratio = f"{vs_one:.2f}x"
            per_core = row["streams_per_s"] / row["proxy_cores"]
            efficiency = f"{per_core:,.0f} ({per_core / (one['streams_per_s'] / one['proxy_cores']):.2f})"
            if row["workers"] > 1:
                ratios.setdefault(row["workers"], []).append(vs_one)
                c, h = one["cpu_us_per_stream"], row["harness_us_per_stream"]
                ceiling = f"{min(row['workers'], result['cpus'] * c / ((budget or 1.0) * (c + h))):.2f}x"
        each = " + ".join(f"{share:.2f}" for share in row["process_cores"] if share >= 0.01)
        lines.append(
            f"| {row['workers']} | {row['cores']} | {row['streams_per_s']:,.0f} | {ratio} "
            f"| {row['cpu_us_per_stream'] or 0:,.0f} | {row['proxy_cores']:.2f} ({each}) / {row['harness_cores']:.2f} "
            f"| {row['harness_us_per_stream'] or 0:,.0f} | {efficiency} | {ceiling} |"
        )
        if row["failures"]:
            lines.append(f"|  | {row['failures']} requests failed (wrk's errors) |")
    for workers, values in sorted(ratios.items()):
        if rounds > 1:
            listed = ", ".join(f"{v:.2f}" for v in sorted(values))
            lines += ["", f"Over {rounds} rounds, {workers} workers against one worker of the same round: "
                      f"median {statistics.median(values):.2f}x ({listed})"]  # fmt: skip
    lines += [
        "",
        "Ceiling: the most N workers can serve against one worker that has its budget F to itself (a whole",
        "core without --cpu-budget), once the harness takes its share of the same cores:",
        "min(N, cores x c / (F x (c + h))), c and h the one-worker and harness CPU per stream.",
        "A ratio at its ceiling means the workers scale; the rest of the gap is the machine.",
    ]
    return "\n".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--workers", default="1,2", help="comma-separated worker counts (default: %(default)s)")
    p.add_argument("--connections", type=int, default=100, help="wrk's keep-alive connections")
    p.add_argument("--warmup", type=int, default=2, help="seconds of load before the window (whole seconds: wrk)")
    p.add_argument("--window", type=int, default=8, help="seconds measured (whole seconds)")
    p.add_argument("--per-write", type=int, default=6, help="frames per upstream write")
    p.add_argument("--rounds", type=int, default=1, help="measure the worker counts this many times in turn")
    p.add_argument(
        "--cpu-budget",
        type=float,
        metavar="F",
        help="each worker gets F of a core (a CPU cgroup; root), the harness the rest",
    )
    p.add_argument("--out", default=str(HERE / "results" / "scaling.json"))
    p.add_argument("--render", metavar="PATH", help="print the table of a saved result")
    opts = p.parse_args()
    if opts.render:
        print(render(json.loads(Path(opts.render).read_text())))
        return 0
    missing = [tool for tool in ("nginx", "wrk", "taskset") if shutil.which(tool) is None]
    if missing or not ECHO_MODULE.exists():
        log(f"needs nginx with the echo module and wrk: apt-get install nginx-light libnginx-mod-http-echo wrk "
            f"(missing: {', '.join(missing) or ECHO_MODULE})")  # fmt: skip
        return 2
    result = new_result()
    with tempfile.TemporaryDirectory(prefix="scaling-") as tmp:
        folder = Path(tmp)
        upstream_port = free_port()
        (folder / "nginx.conf").write_text(nginx_config(folder, upstream_port, opts.per_write))
        (folder / "load.lua").write_text(WRK_SCRIPT)
        (folder / "body.json").write_text(json.dumps(workload.stream_request("messages")))
        nginx = subprocess.Popen(
            ["taskset", "-c", HARNESS_CORE, "nginx", "-c", str(folder / "nginx.conf"), "-p", str(folder)],
            stdout=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            wait_ready(upstream_port, nginx)
            for round_no in range(1, opts.rounds + 1):
                for workers in (int(w) for w in opts.workers.split(",")):
                    log(f"{workers} worker(s), round {round_no} ...")
                    row = measure(folder, workers, round_no, upstream_port, nginx.pid, opts)
                    result["rows"].append(row)
                    log(f"  {row['streams_per_s']:.0f} streams/s, cpu/stream {row['cpu_us_per_stream']}")
                    time.sleep(0.5)
        finally:
            stop(nginx)
    save_result(result, opts.out, render)
    return 0


if __name__ == "__main__":
    sys.exit(main())
