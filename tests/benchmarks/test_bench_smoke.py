"""The latency benchmark scripts run end to end with tiny durations and print the numbers
the issue asks for (no timing asserted: a shared CI machine's numbers mean nothing).
The multi-arena script's ``--smoke`` flag is new (fails on the old code)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _run(*args: str) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=240, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout)
    assert isinstance(result, dict)
    return result


def test_multi_arena_bench_runs() -> None:
    result = _run("benchmarks/bench_multi_arena.py", "2", "2", "--smoke")
    assert result["benchmark"] == "multi_arena"
    assert set(result["end_reasons"].values()) == {"completed"}  # type: ignore[union-attr]
    stats = result["frame_to_last_command_ms"]
    assert isinstance(stats, dict) and {"p50", "p99"} <= set(stats)


def test_loop_latency_bench_runs() -> None:
    result = _run("benchmarks/bench_loop_latency.py", "2", "--smoke")
    assert result["benchmark"] == "loop_latency"
    stats = result["latency_minus_tracker_ms"]
    assert isinstance(stats, dict) and "p50" in stats
