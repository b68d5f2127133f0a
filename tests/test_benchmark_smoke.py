"""The benchmark still runs: quick mode, one direction, 100 frames (no timing is asserted)."""

from __future__ import annotations

import importlib
import json
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
