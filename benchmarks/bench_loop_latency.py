"""Closed-loop latency (frame capture -> laser command) through the whole engine.

Synthetic 640x480 source paced at 30 fps in real time, mock board. Prints numbers, asserts
nothing. Usage: python benchmarks/bench_loop_latency.py [DURATION_S] [--smoke]
(--smoke: 1 s background, for the test that runs this script; its numbers mean nothing)
"""

from __future__ import annotations

import json
import sys

from rig.session.bench import bench_loop_latency

if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    duration_s = float(args[0]) if args else 20.0
    background_s = 1.0 if "--smoke" in sys.argv else 10.0
    print(json.dumps(bench_loop_latency(duration_s=duration_s, background_s=background_s), indent=2))
