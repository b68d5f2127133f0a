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
