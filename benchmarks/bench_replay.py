"""Re-score throughput at speed max (recorded MJPG video and synthetic arena, 640x480).

Prints frames/s, asserts nothing. Usage: python benchmarks/bench_replay.py [DURATION_S]
"""

from __future__ import annotations

import json
import sys

from rig.session.bench import bench_replay

if __name__ == "__main__":
    duration_s = float(sys.argv[1]) if len(sys.argv) > 1 else 60.0
    print(json.dumps(bench_replay(duration_s=duration_s), indent=2))
