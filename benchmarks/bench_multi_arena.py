"""Several arenas under one camera: 4 arenas in one 1280x1024 image at 60 fps, one mock
board each; per frame, capture -> the last arena's laser command, p50/p99 (goal p99 <= 5 ms).

Synthetic source paced like a camera. Prints numbers, asserts nothing.
Frames are rendered before the run (2 s, looped) unless --render-live.
Usage: python benchmarks/bench_multi_arena.py [DURATION_S] [N_ARENAS] [--render-live] [--smoke]
(--smoke: 1 s background, for the test that runs this script; its numbers mean nothing)
"""

from __future__ import annotations

import json
import sys

from rig.session.bench import bench_multi_arena

if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    duration_s = float(args[0]) if args else 30.0
    n = int(args[1]) if len(args) > 1 else 4
    live = "--render-live" in sys.argv
    background_s = 1.0 if "--smoke" in sys.argv else 10.0
    result = bench_multi_arena(n_arenas=n, duration_s=duration_s, prerender=not live, background_s=background_s)
    print(json.dumps(result, indent=2))
