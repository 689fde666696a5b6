"""Several arenas under one camera: 4 arenas in one 1280x1024 image at 60 fps, one mock
board each; per frame, capture -> the last arena's laser command, p50/p99 (goal p99 <= 5 ms).

Synthetic source paced like a camera. Prints numbers, asserts nothing.
Usage: python benchmarks/bench_multi_arena.py [DURATION_S] [N_ARENAS]
"""

from __future__ import annotations

import json
import sys

from rig.session.bench import bench_multi_arena

if __name__ == "__main__":
    duration_s = float(sys.argv[1]) if len(sys.argv) > 1 else 30.0
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 4
    print(json.dumps(bench_multi_arena(n_arenas=n, duration_s=duration_s), indent=2))
