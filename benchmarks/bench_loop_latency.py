"""Closed-loop latency (frame capture -> laser command) through the whole engine.

Synthetic 640x480 source paced at 30 fps in real time, mock board. Prints numbers, asserts
nothing. Usage: python benchmarks/bench_loop_latency.py [DURATION_S]
"""

from __future__ import annotations

import json
import sys

from rig.session.bench import bench_loop_latency

if __name__ == "__main__":
    duration_s = float(sys.argv[1]) if len(sys.argv) > 1 else 20.0
    print(json.dumps(bench_loop_latency(duration_s=duration_s), indent=2))
