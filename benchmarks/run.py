"""asgi_translate benchmark: cost per upstream frame beside the floors and the peers.

    .venv/bin/python benchmarks/run.py            # full run (about 15 minutes on 2 cores)
    .venv/bin/python benchmarks/run.py --quick    # smoke run (N=1,000, fewer repeats)

Prints a table and writes benchmarks/results/latest.json. Peers run from benchmarks/.venv
(``python -m venv benchmarks/.venv && benchmarks/.venv/bin/pip install -r
benchmarks/requirements.txt``); without it their rows say why they are missing.

Each JSON backend runs in its own subprocess (``ASGI_TRANSLATE_JSON`` is read at import), and
so does each concurrency run (its peak RSS must be its own). See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(HERE), str(ROOT)]

import workload  # noqa: E402
from harness import asgi_runner, repeats_for, replay_app, timed  # noqa: E402

PEERS_PYTHON = HERE / ".venv" / "bin" / "python"
FULL_NS = [1_000, 10_000, 30_000]
FLOOR_ORDER = ("passthrough", "sse_split", "roundtrip.json", "roundtrip.orjson")
QUICK_NS = [1_000]
Row = dict[str, Any]


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------------------
# Sections


def floor_rows(schemas: Iterable[str], ns: list[int], quick: bool) -> list[Row]:
    import floors

    rows: list[Row] = []
    body = json.dumps(workload.stream_request("chat")).encode()
    for schema in schemas:
        for n in ns:
            frames = workload.frames(schema, n)
            for name, factory in floors.FLOORS.items():
                base = {"group": "floor", "floor": name, "schema": schema, "n": n}
                run, close = asgi_runner(floors.wrap(replay_app(frames), factory), "/floor", body)
                try:
                    rows.append({**base, "layer": "asgi", **timed(run, n, repeats_for(n, quick))})
                finally:
                    close()
                rows.append(
                    {**base, "layer": "core", **timed(floors.core_runner(frames, factory), n, repeats_for(n, quick))}
                )
            log(f"  floors {schema} n={n} done")
    return rows


def ours_rows(directions: list[tuple[str, str]], ns: list[int], quick: bool, skip: list[str]) -> dict[str, Any]:
    """Streams, output validation, request translation and memory with the current backend."""
    import ours

    log(f"  ours: backend {ours.backend()}")
    checks = {}
    if "checks" not in skip:
        checks = {f"{u}->{c}": ours.check_output(u, c, workload.frames(u, min(ns))) for u, c in directions}
    rows = ours.stream_rows(directions, ns, lambda n: repeats_for(n, quick))
    rows += ours.request_rows(directions, 5 if quick else 50)
    if "memory" not in skip:
        rows += ours.memory_rows(directions, 20 if quick else 200, 10 if quick else 100)
    return {"backend": ours.backend(), "rows": rows, "checks": checks}


def _python_for_backend(backend: str) -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("ASGI_TRANSLATE_JSON", None)
    if backend == "json":
        env["ASGI_TRANSLATE_JSON"] = "json"
    return env


def _worker(args: list[str], env: dict[str, str], python: str = sys.executable) -> Any:
    """Run ``run.py --worker ...`` (or another script) and parse the JSON it prints."""
    cmd = [python, *args] if args[0].endswith(".py") else [python, str(HERE / "run.py"), *args]
    done = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[1:])} exited with {done.returncode}")
    return json.loads(done.stdout)


def ours_in_subprocess(backend: str, opts: argparse.Namespace) -> dict[str, Any]:
    args = ["--worker", "ours", *_shared_args(opts)]
    return _worker(args, _python_for_backend(backend))  # type: ignore[no-any-return]


def _shared_args(opts: argparse.Namespace) -> list[str]:
    args = [f"--n={n}" for n in opts.n] + [f"--direction={u}:{c}" for u, c in opts.direction]
    if opts.quick:
        args.append("--quick")
    args += [f"--skip={name}" for name in opts.skip if name in ("memory", "checks")]
    return args


def concurrency_rows(directions: list[tuple[str, str]], quick: bool) -> list[Row]:
    streams, frames = (100, 100) if quick else (1_000, 300)
    rows = []
    upstreams = sorted({u for u, _ in directions})
    for upstream, client in [(u, u) for u in upstreams] + directions:
        args = ["--worker", "concurrency", f"--direction={upstream}:{client}", f"--streams={streams}"]
        rows.append(_worker([*args, f"--frames={frames}"], _python_for_backend("orjson")))
        log(f"  concurrency {upstream}->{client}: {rows[-1]['frames_per_s']:.0f} frames/s")
    return rows


def peer_rows(ns: list[int], quick: bool) -> dict[str, Any]:
    if not PEERS_PYTHON.exists():
        reason = "benchmarks/.venv is missing: python -m venv benchmarks/.venv && " + (
            "benchmarks/.venv/bin/pip install -r benchmarks/requirements.txt"
        )
        return {"rows": [{"group": "peer", "peer": "all", "error": reason}], "versions": {}}
    args = [str(HERE / "peers.py"), *[f"--n={n}" for n in ns], *(["--quick"] if quick else [])]
    try:
        return _worker(args, dict(os.environ), str(PEERS_PYTHON))  # type: ignore[no-any-return]
    except Exception as exc:  # the table says why
        return {"rows": [{"group": "peer", "peer": "all", "error": str(exc)}], "versions": {}}


# ------------------------------------------------------------------------------------------
# Ratios


def _index(rows: list[Row], group: str, *keys: str) -> dict[tuple[Any, ...], Row]:
    return {tuple(r.get(k) for k in keys): r for r in rows if r.get("group") == group and "median_us" in r}


def _pair(a: Row, b: Row) -> dict[str, float]:
    """a / b on the minimums (the least noisy estimate of the cost) and on the medians."""
    return {"value": a["min_us"] / b["min_us"], "value_median": a["median_us"] / b["median_us"]}


def ratios(rows: list[Row]) -> list[Row]:
    """ours / floor (same backend, layer, N), peer / ours (asgi, orjson), N=max / N=min."""
    out: list[Row] = []
    floors = _index(rows, "floor", "floor", "schema", "layer", "n")
    ours = _index(rows, "ours", "direction", "backend", "layer", "n")
    for (direction, backend, layer, n), r in ours.items():
        f = floors.get((f"roundtrip.{backend}", direction.split("->")[0], layer, n))
        if f:
            base = {"ratio": "ours/floor", "direction": direction, "backend": backend, "layer": layer, "n": n}
            out.append({**base, **_pair(r, f)})
    for r in rows:
        if r.get("group") == "peer" and "median_us" in r:
            mine = ours.get((r["direction"], "orjson", "asgi", r["n"])) or ours.get(
                (r["direction"], "json", "asgi", r["n"])
            )
            if mine:
                base = {"ratio": "peer/ours", "peer": r["peer"], "direction": r["direction"], "n": r["n"]}
                out.append({**base, "backend": mine["backend"], **_pair(r, mine)})
    out += _growth(rows)
    return out


def _growth(rows: list[Row]) -> list[Row]:
    """Per-frame cost at the largest N over the smallest: above 1.1 means superlinear."""
    series: dict[tuple[Any, ...], dict[int, Row]] = {}
    for r in rows:
        if "median_us" in r and "n" in r and r["group"] in ("floor", "ours", "peer"):
            key = (r["group"], r.get("floor") or r.get("peer") or "ours", r.get("schema") or r.get("direction"),
                   r.get("backend", ""), r.get("layer"))  # fmt: skip
            series.setdefault(key, {})[r["n"]] = r
    out = []
    for (group, name, where, backend, layer), by_n in series.items():
        if len(by_n) > 1:
            lo, hi = min(by_n), max(by_n)
            base = {"ratio": "growth", "span": f"n{hi}/n{lo}", "group": group, "name": name, "direction": where}
            out.append({**base, "backend": backend, "layer": layer, **_pair(by_n[hi], by_n[lo])})
    return out


# ------------------------------------------------------------------------------------------
# Table


def _fmt(value: Any, digits: int = 2) -> str:
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return "" if value is None else str(value)


def table(headers: list[str], lines: list[list[Any]]) -> str:
    cells = [[_fmt(c) for c in line] for line in lines]
    widths = [max([len(h), *(len(c[i]) for c in cells)]) for i, h in enumerate(headers)]
    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    fmt = "| " + " | ".join(f"{{:{w}}}" for w in widths) + " |"
    return "\n".join([fmt.format(*headers), rule, *(fmt.format(*c) for c in cells)])


def _cell(r: Row | None) -> str:
    """``min / median`` of one measurement."""
    return "" if r is None else f"{r['min_us']:.1f} / {r['median_us']:.1f}"


def _ratio_lookup(result: dict[str, Any]) -> Callable[..., float | None]:
    found = {tuple(sorted((k, v) for k, v in r.items() if not k.startswith("value"))): r["value"]
             for r in result["ratios"]}  # fmt: skip

    def get(**keys: Any) -> float | None:
        return found.get(tuple(sorted(keys.items())))

    return get


def render(result: dict[str, Any]) -> str:
    rows: list[Row] = result["rows"]
    ns = sorted({r["n"] for r in rows if r.get("group") in ("floor", "ours") and "n" in r})
    ratio = _ratio_lookup(result)
    parts = [_floor_table(rows, ns, ratio), _ours_table(rows, ns, ratio), _peer_table(rows, ratio)]
    parts.append(_simple_tables(rows))
    checks = result.get("checks", {})
    if checks:
        parts.append(
            "Output validated with the client SDK's models:\n" + "\n".join(f"  {k}: {v}" for k, v in checks.items())
        )
    return "\n\n".join(p for p in parts if p)


def _floor_table(rows: list[Row], ns: list[int], ratio: Callable[..., float | None]) -> str:
    by = {(r["floor"], r["schema"], r["layer"], r["n"]): r for r in rows if r.get("group") == "floor" and "min_us" in r}
    keys = sorted({(k[0], k[1]) for k in by}, key=lambda k: (k[1], list(FLOOR_ORDER).index(k[0])))
    if not keys:
        return ""
    top = ns[-1]
    lines = []
    for floor, schema in keys:
        growth = ratio(ratio="growth", span=f"n{top}/n{ns[0]}", group="floor", name=floor, direction=schema,
                       backend="", layer="asgi")  # fmt: skip
        lines.append([floor, schema, *(_cell(by.get((floor, schema, "asgi", n))) for n in ns),
                      _cell(by.get((floor, schema, "core", top))), growth])  # fmt: skip
    head = ["floor", "upstream", *(f"asgi N={n}" for n in ns), f"core N={top}", f"growth {top}/{ns[0]}"]
    return "Floors (CPU µs per upstream frame, min / median)\n" + table(head, lines)


def _ours_table(rows: list[Row], ns: list[int], ratio: Callable[..., float | None]) -> str:
    by = {(r["direction"], r["backend"], r["layer"], r["n"]): r for r in rows if r.get("group") == "ours"}
    keys = sorted({(k[0], k[1]) for k in by}, key=lambda k: (k[1] != "orjson", k[0]))
    if not keys:
        return ""
    top = ns[-1]
    lines = []
    for direction, backend in keys:
        of = {layer: ratio(ratio="ours/floor", direction=direction, backend=backend, layer=layer, n=top)
              for layer in ("asgi", "core")}  # fmt: skip
        growth = ratio(ratio="growth", span=f"n{top}/n{ns[0]}", group="ours", name="ours", direction=direction,
                       backend=backend, layer="asgi")  # fmt: skip
        lines.append([direction, backend, *(_cell(by.get((direction, backend, "asgi", n))) for n in ns),
                      _cell(by.get((direction, backend, "core", top))), of["asgi"], of["core"], growth])  # fmt: skip
    head = ["asgi_translate", "json", *(f"asgi N={n}" for n in ns), f"core N={top}", "ours/floor asgi",
            "ours/floor core", f"growth {top}/{ns[0]}"]  # fmt: skip
    return (
        "asgi_translate (CPU µs per upstream frame, min / median; ratios on the minimums at N="
        + str(top)
        + ", floor = roundtrip.<json> of the upstream schema, same layer)\n"
        + table(head, lines)
    )


def _peer_table(rows: list[Row], ratio: Callable[..., float | None]) -> str:
    peers = [r for r in rows if r.get("group") == "peer"]
    if not peers:
        return ""
    lines = []
    for r in peers:
        if "median_us" not in r:
            lines.append([r.get("peer"), r.get("direction", ""), r.get("n", ""), "error: " + r["error"][:140], "", ""])
            continue
        vs = ratio(ratio="peer/ours", peer=r["peer"], direction=r["direction"], n=r["n"], backend="orjson")
        lines.append([r["peer"], r["direction"], r["n"], _cell(r), vs, ""])
    for r in ratio_rows(rows, "peer"):
        for line in lines:
            if line[0] == r["name"] and line[2] == max(p["n"] for p in peers if p.get("peer") == r["name"]):
                line[5] = r["value"]
    head = ["peer (chat upstream bytes in)", "direction", "N", "min / median µs", "peer/ours (asgi, orjson)", "growth"]
    return "Peers\n" + table(head, lines)


def ratio_rows(rows: list[Row], group: str) -> list[Row]:
    return [r for r in _growth(rows) if r["group"] == group]


def _simple_tables(rows: list[Row]) -> str:
    parts = []
    req = [[r["direction"], r["backend"], r["bytes_in"], r["median_us"], r["floor_median_us"]]
           for r in rows if r.get("group") == "request"]  # fmt: skip
    if req:
        parts.append("Request translation (one 200-message request with tool calls)\n" + table(
            ["direction", "json", "bytes in", "median µs", "json loads+dumps µs"], req))  # fmt: skip
    e2e = [[r["direction"], r["n"], r["ttfb_ms"], r["ttfe_ms"], r["ttfe_min_ms"], r["total_ms"], r.get("added_ttfb_ms"),
            r.get("added_ttfe_ms"), r.get("added_ttfe_min_ms"), r.get("added_total_ms")]
           for r in rows if r.get("group") == "e2e"]  # fmt: skip
    if e2e:
        head = ["direction", "N", "ttfb", "1st event", "1st event min", "total", "+ttfb", "+1st event", "+1st min",
                "+total"]  # fmt: skip
        parts.append(
            "End to end through uvicorn (ms, medians unless min; + = translated minus bare)\n" + table(head, e2e)
        )
    mem = [[r["direction"], r["backend"], r["translator_bytes"], r["exchange_bytes"], r.get("long_stream_mb"),
            r.get("long_stream_peak_ratio")]
           for r in rows if r.get("group") == "memory"]  # fmt: skip
    if mem:
        parts.append("State per open stream after 50 frames (bytes); peak growth over one long stream\n" + table(
            ["direction", "json", "translator", "whole exchange (minus passthrough)", "long stream MB",
             "peak / its text"], mem))  # fmt: skip
    conc = [[r["direction"], r["streams"], r["frames_per_stream"], r["frames_per_s"], r["us_per_frame"],
             r["rss_before_mib"], r["peak_rss_mib"], r.get("rss_after_mib")]
            for r in rows if r.get("group") == "concurrency"]  # fmt: skip
    if conc:
        head = ["direction", "streams", "frames each", "frames/s", "µs/frame", "RSS before MiB", "peak RSS MiB",
                "RSS after MiB"]  # fmt: skip
        parts.append("Concurrent streams in one process (orjson)\n" + table(head, conc))
    return "\n\n".join(parts)


# ------------------------------------------------------------------------------------------
# Command line


def _direction(text: str) -> tuple[str, str]:
    up, _, client = text.partition(":")
    if up not in workload.SCHEMAS or client not in workload.SCHEMAS:
        raise argparse.ArgumentTypeError(f"{text!r}: use upstream:client, e.g. chat:messages")
    return up, client


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="asgi_translate benchmark (see benchmarks/README.md)")
    p.add_argument("--quick", action="store_true", help="N=1,000 only, few repeats, small memory runs")
    p.add_argument("--n", type=int, action="append", help="stream length in frames (repeatable)")
    p.add_argument("--direction", type=_direction, action="append", help="upstream:client (repeatable)")
    p.add_argument("--backends", default="orjson,json", help="'orjson,json' (subprocesses) or 'current'")
    sections = ("floors", "ours", "checks", "peers", "e2e", "memory", "concurrency")
    p.add_argument("--skip", action="append", default=[], choices=sections, help="leave a section out")
    p.add_argument("--out", type=Path, default=HERE / "results" / "latest.json")
    p.add_argument("--render", type=Path, help="print the table of a saved result (ratios recomputed) and exit")
    p.add_argument("--worker", choices=("ours", "concurrency"), help=argparse.SUPPRESS)
    p.add_argument("--streams", type=int, default=1_000, help=argparse.SUPPRESS)
    p.add_argument("--frames", type=int, default=300, help=argparse.SUPPRESS)
    opts = p.parse_args(argv)
    opts.n = opts.n or (QUICK_NS if opts.quick else FULL_NS)
    opts.direction = opts.direction or list(workload.DIRECTIONS)
    return opts


def collect(opts: argparse.Namespace) -> dict[str, Any]:
    rows: list[Row] = []
    checks: dict[str, str] = {}
    steps: list[tuple[str, Callable[[], None]]] = []
    schemas = sorted({u for u, _ in opts.direction})

    def ours_step() -> None:
        for backend in opts.backends.split(","):
            got = (ours_rows(opts.direction, opts.n, opts.quick, opts.skip) if backend == "current"
                   else ours_in_subprocess(backend, opts))  # fmt: skip
            rows.extend(got["rows"])
            checks.update({f"{k} ({got['backend']})": v for k, v in got["checks"].items()})

    peers: dict[str, Any] = {}

    def peers_step() -> None:
        peers.update(peer_rows(opts.n, opts.quick))
        rows.extend(peers["rows"])

    def e2e_step() -> None:
        import e2e

        rows.extend(e2e.measure(1_000, 5 if opts.quick else 30))

    steps = [
        ("floors", lambda: rows.extend(floor_rows(schemas, opts.n, opts.quick))),
        ("ours", ours_step),
        ("peers", peers_step),
        ("e2e", e2e_step),
        ("concurrency", lambda: rows.extend(concurrency_rows(opts.direction, opts.quick))),
    ]
    for name, step in steps:
        if name not in opts.skip:
            started = time.perf_counter()
            log(f"[{name}]")
            step()
            log(f"[{name}] {time.perf_counter() - started:.0f} s")
    return {"meta": _meta(opts, peers.get("versions", {})), "rows": rows, "ratios": ratios(rows), "checks": checks}


def _meta(opts: argparse.Namespace, peer_versions: dict[str, str]) -> dict[str, Any]:
    from importlib import metadata

    def version(name: str) -> str:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return "not installed"

    return {
        "command": " ".join(["python", "benchmarks/run.py", *sys.argv[1:]]),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "machine": f"{platform.machine()} {os.cpu_count()} cpus, {platform.system()} {platform.release()}",
        "versions": {p: version(p) for p in ("orjson", "uvicorn", "starlette", "httptools", "uvloop")},
        "peer_versions": peer_versions,
        "ns": opts.n,
        "quick": opts.quick,
    }


def worker(opts: argparse.Namespace) -> None:
    """Subprocess entry points: print one JSON document on stdout."""
    if opts.worker == "ours":
        result = ours_rows(opts.direction, opts.n, opts.quick, opts.skip)
    else:
        import ours

        (upstream, client), *_ = opts.direction
        result = ours.concurrency(upstream, client, opts.streams, opts.frames)
    json.dump(result, sys.stdout)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    opts = parse(argv)
    if opts.render:
        saved = json.loads(opts.render.read_text())
        saved["ratios"] = ratios(saved["rows"])
        print(render(saved))
        return saved  # type: ignore[no-any-return]
    if opts.worker:
        worker(opts)
        return {}
    result = collect(opts)
    print(render(result))
    opts.out.parent.mkdir(parents=True, exist_ok=True)
    opts.out.write_text(json.dumps(result, indent=1))
    log(f"wrote {opts.out}")
    return result


if __name__ == "__main__":
    main()
