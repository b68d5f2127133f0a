"""The benchmark still runs: quick mode, one direction, 100 frames (no timing is asserted)."""

from __future__ import annotations

import importlib
import json
import os
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def load_run() -> ModuleType:
    sys.path.insert(0, str(BENCHMARKS))
    try:
        return importlib.import_module("run")
    finally:
        sys.path.remove(str(BENCHMARKS))


def test_quick_run_for_one_direction_produces_rows(tmp_path: Path) -> None:
    # The benchmark's floors compare both JSON libraries: it needs the fast extra.
    pytest.importorskip("orjson", reason="the benchmark needs orjson (pip install -e '.[fast]')")
    run = load_run()
    out = tmp_path / "latest.json"
    skips = ["--skip=peers", "--skip=e2e", "--skip=concurrency", "--skip=checks"]
    result: dict[str, Any] = run.main(
        ["--quick", "--n=100", "--direction=chat:messages", "--backends=current", *skips, f"--out={out}"]
    )

    rows = result["rows"]
    ours = [r for r in rows if r["group"] == "ours"]
    assert {(r["direction"], r["layer"], r["n"]) for r in ours} == {
        ("chat->messages", "asgi", 100),
        ("chat->messages", "core", 100),
    }
    assert all(r["median_us"] > 0 for r in ours)
    floors = {r["floor"] for r in rows if r["group"] == "floor"}
    assert floors == {"passthrough", "sse_split", "roundtrip.json", "roundtrip.orjson"}
    assert [r["direction"] for r in rows if r["group"] == "request"] == ["chat->messages"]
    assert [r["direction"] for r in rows if r["group"] == "memory"] == ["chat->messages"]
    assert {r["ratio"] for r in result["ratios"]} == {"ours/floor"}
    assert json.loads(out.read_text())["rows"] == rows


@pytest.mark.slow
def test_the_capacity_benchmark_runs_a_bounded_round(tmp_path: Path) -> None:
    """Two connections for half a second against the fake upstream, the aiohttp floor and the
    proxy: every stream completes (its terminator seen), and CPU per stream is counted."""
    pytest.importorskip("aiohttp", reason="the aiohttp floor needs aiohttp (pip install -e '.[aiohttp]')")
    import subprocess

    out = tmp_path / "capacity.json"
    argv = ["--targets=upstream,floor-aiohttp,proxy", "--concurrency=2", "--warmup=0.2", "--window=0.5"]
    result = subprocess.run(
        [sys.executable, str(BENCHMARKS / "capacity.py"), *argv, "--grace=2", f"--out={out}"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    rows = json.loads(out.read_text())["rows"]
    assert [(r["target"], r["concurrency"]) for r in rows] == [("upstream", 2), ("floor-aiohttp", 2), ("proxy", 2)]
    assert all(r["streams"] > 0 and r["failures"] == 0 for r in rows)
    assert all(r["cpu_us_per_stream"] > 0 for r in rows if r["target"] != "upstream")
    assert "| proxy | 0 | 2 |" in result.stdout


def load_benchmark(name: str) -> ModuleType:
    sys.path.insert(0, str(BENCHMARKS))
    tests_e2e = sys.modules.pop("e2e", None)  # the tests' e2e package would shadow benchmarks/e2e.py
    try:
        return importlib.import_module(name)
    finally:
        sys.path.remove(str(BENCHMARKS))
        if tests_e2e is not None:
            sys.modules["e2e"] = tests_e2e


def test_the_scaling_harness_replays_the_chat_stream_byte_for_byte(tmp_path: Path) -> None:
    """nginx's echo strings, unescaped as nginx reads single-quoted strings, are the workload's
    frames in order, six to a write: the C harness serves what capacity.py's upstream serves."""
    import re

    scaling = load_benchmark("scaling")
    workload = load_benchmark("workload")
    config = scaling.nginx_config(tmp_path, 18080, 6)
    strings = re.findall(r"echo -n '((?:[^'\\]|\\.)*)';", config)
    unescaped = [re.sub(r"\\(.)", r"\1", s).encode() for s in strings]
    frames = workload.frames("chat", 54)
    assert len(unescaped) == 9
    assert unescaped == [b"".join(frames[i : i + 6]) for i in range(0, 54, 6)]
    assert config.count("echo_flush;") == 9
    assert "listen 127.0.0.1:18080" in config


def scaling_result(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """A saved scaling.py run of ``rows`` on a 2-core machine, for its table."""
    return {"date": "d", "machine": "m", "cpus": 2, "loadavg_before": [0.1], "loadavg_after": [0.2], "rows": rows}


def test_the_scaling_table_reads_each_ratio_off_the_rows() -> None:
    scaling = load_benchmark("scaling")
    row = {"connections": 100, "cores": "0", "failures": 0, "process_cores": [1.0, 0.0]}
    one = {**row, "workers": 1, "streams_per_s": 800.0, "cpu_us_per_stream": 1000.0, "proxy_cores": 0.8}
    two = {**row, "workers": 2, "cores": "0,1", "streams_per_s": 1400.0, "cpu_us_per_stream": 1000.0,
           "proxy_cores": 1.4, "process_cores": [0.7, 0.7, 0.001]}  # fmt: skip
    one["harness_us_per_stream"] = two["harness_us_per_stream"] = 250.0
    one["harness_cores"], two["harness_cores"] = 0.2, 0.35
    table = scaling.render(scaling_result([one, two]))
    assert "| 1 | 0 | 800 | 1.00x | 1,000 | 0.80 (1.00) / 0.20 | 250 | 1,000 (1.00) | - |" in table
    # 2 workers: 1.75x one worker; 1,000 streams per core used, as one worker; ceiling 2 x 1000/1250.
    assert "| 2 | 0,1 | 1,400 | 1.75x | 1,000 | 1.40 (0.70 + 0.70) / 0.35 | 250 | 1,000 (1.00) | 1.60x |" in table


def test_the_scaling_ceiling_under_a_cpu_budget_counts_each_worker_at_its_budget() -> None:
    """Held to F of a core, one worker is the F-core baseline: two workers can reach cores x c /
    (F x (c + h)) of it, not cores x c / (c + h) as against a whole core."""
    scaling = load_benchmark("scaling")
    row = {"connections": 100, "failures": 0, "cpu_budget": 0.75, "harness_us_per_stream": 500.0}
    one = {**row, "workers": 1, "cores": "0", "streams_per_s": 750.0, "cpu_us_per_stream": 1000.0,
           "proxy_cores": 0.75, "process_cores": [0.75, 0.0], "harness_cores": 0.1}  # fmt: skip
    two = {**row, "workers": 2, "cores": "0,1", "streams_per_s": 1350.0, "cpu_us_per_stream": 1100.0,
           "proxy_cores": 1.5, "process_cores": [0.75, 0.75, 0.0], "harness_cores": 0.3}  # fmt: skip
    table = scaling.render(scaling_result([one, two]))
    assert "each worker held to 0.75 of a core (a CPU cgroup)" in table
    # 2 x 1000 / (0.75 x 1500) = 1.78; 1,350 / 1.5 cores = 900 per core, 0.90 of one worker's 1,000.
    assert "| 2 | 0,1 | 1,350 | 1.80x | 1,100 | 1.50 (0.75 + 0.75) / 0.30 | 500 | 900 (0.90) | 1.78x |" in table


def test_the_scaling_rounds_end_with_the_median_of_each_round_against_its_own_one_worker() -> None:
    scaling = load_benchmark("scaling")
    base = {"connections": 100, "failures": 0, "cpu_us_per_stream": 500.0, "harness_us_per_stream": 100.0,
            "process_cores": [1.0], "harness_cores": 0.2}  # fmt: skip
    rows = []
    for round_no, (one, two) in enumerate([(1000.0, 1900.0), (800.0, 1760.0), (1000.0, 1500.0)], start=1):
        rows.append({**base, "round": round_no, "workers": 1, "cores": "0", "streams_per_s": one, "proxy_cores": 1.0})
        rows.append({**base, "round": round_no, "workers": 2, "cores": "0,1", "streams_per_s": two, "proxy_cores": 1.6})
    table = scaling.render(scaling_result(rows))
    # Each round's two workers against that round's one: 1.90, 2.20, 1.50 (not against round 1's 1,000).
    assert "| 2 | 0,1 | 1,760 | 2.20x |" in table
    assert "Over 3 rounds, 2 workers against one worker of the same round: median 1.90x (1.50, 1.90, 2.20)" in table


def test_the_scaling_cpu_budget_holds_a_process_in_its_own_cgroup_and_removes_it() -> None:
    import subprocess
    from contextlib import ExitStack

    scaling = load_benchmark("scaling")
    if os.geteuid() != 0:
        pytest.skip("--cpu-budget needs root")
    sleeper = subprocess.Popen(["sleep", "30"])
    try:
        with ExitStack() as stack:
            try:
                group = stack.enter_context(scaling.cpu_budget([sleeper.pid], 0.5))
            except (RuntimeError, OSError) as exc:  # no cpu controller, or a container's read-only one
                pytest.skip(f"cannot make a cpu cgroup here: {exc}")
            stack.callback(sleeper.wait)  # these two run first: the group must be empty to go
            stack.callback(sleeper.kill)
            assert str(sleeper.pid) in (group / "cgroup.procs").read_text().split()
            v2_max = group / "cpu.max"
            v1_quota = group / "cpu.cfs_quota_us"
            assert (v2_max.read_text().split()[0] if v2_max.exists() else v1_quota.read_text().strip()) == "50000"
        assert not group.exists()
    finally:
        sleeper.kill()
        sleeper.wait()


@pytest.mark.slow
def test_the_scaling_benchmark_runs_a_bounded_round(tmp_path: Path) -> None:
    """One and two workers for a second each behind nginx + wrk (installed by .ci/run):
    every stream reached message_stop in the checked warm-up, and the rows count CPU."""
    import shutil
    import subprocess

    scaling = load_benchmark("scaling")
    if shutil.which("nginx") is None or shutil.which("wrk") is None or not scaling.ECHO_MODULE.exists():
        if os.environ.get("CI"):
            pytest.fail("CI installs nginx-light, libnginx-mod-http-echo and wrk (.ci/run)")
        pytest.skip("needs nginx with the echo module and wrk")
    pytest.importorskip("aiohttp", reason="the proxy's default transport needs aiohttp")
    out = tmp_path / "scaling.json"
    argv = ["--connections=4", "--warmup=1", "--window=1", f"--out={out}"]
    result = subprocess.run(
        [sys.executable, str(BENCHMARKS / "scaling.py"), *argv],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    rows = json.loads(out.read_text())["rows"]
    assert [(r["workers"], r["cores"]) for r in rows] == [(1, "0"), (2, "0,1")]
    assert all(r["streams"] > 0 and r["failures"] == 0 and r["checked_streams"] > 0 for r in rows)
    assert all(r["cpu_us_per_stream"] > 0 and r["harness_us_per_stream"] > 0 for r in rows)
    assert "| 2 | 0,1 |" in result.stdout


def test_the_corpus_benchmark_prints_a_row_per_recorded_chat_stream() -> None:
    import subprocess

    argv = [sys.executable, str(BENCHMARKS / "corpus.py"), "--streams=1", "--repeats=1"]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    rows = [line.split(" | ") for line in result.stdout.splitlines() if line.startswith("| ") and "-stream.sse" in line]
    recorded = sorted(path.name for path in (BENCHMARKS.parent / "tests/fixtures/corpus/chat").glob("*-stream.sse"))
    assert [row[0].removeprefix("| ") for row in rows] == recorded
    groq = next(row for row in rows if row[0] == "| groq-reasoning-tool-call-stream.sse")
    assert groq[1] == "26" and float(groq[2].rstrip(" |")) > 0
