"""Run every engine benchmark and print one JSON object (what `rig bench --json` prints).

Other benchmark scripts in this folder (e.g. bench_tracking.py) are run as subprocesses and
their output is included verbatim under "scripts".
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from rig.session.bench import run_all

if __name__ == "__main__":
    quick = "--quick" in sys.argv
    result = run_all(quick=quick)
    here = Path(__file__).resolve().parent
    scripts = {}
    for script in sorted(here.glob("bench_*.py")):
        if script.name in ("bench_loop_latency.py", "bench_replay.py"):
            continue
        done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=900)
        scripts[script.name] = {"returncode": done.returncode, "stdout": done.stdout[-4000:]}
    result["scripts"] = scripts
    print(json.dumps(result, indent=2))
