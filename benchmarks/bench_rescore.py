"""Batch re-scoring: 12 re-scores of one test video on 1 and 2 local worker processes and on
a 2-worker Dask LocalCluster; wall times and speed-ups. Asserts nothing.

The test video is a synthetic-arena recording (640x480 MJPG, 30 fps) of DURATION_S seconds;
the 12 "sessions" are replays of it (made first, not timed). Each configuration re-scores
all 12 from the saved video with a wider neutral band (--zones), as `rig rescore` does,
including process start-up (spawn) and, for Dask, the cluster's start and stop.

Also prints the per-session memory high-water mark of a worker (ru_maxrss of the children).

Usage: python benchmarks/bench_rescore.py [DURATION_S] [N_SESSIONS] [CONFIGS]
(defaults 30, 12 and local:1,local:2,dask:local:2; a config prefixed positions: re-scores
from the saved positions instead of the video, e.g. positions:local:2)
The machine may be shared with other jobs: run it twice and take the better figures.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path

PROTOCOL = """\
schema_version: 1
metadata: {{name: bench-rescore}}
arena:
  calibration: synthetic_arena.yaml
  neutral_band_cm: 4
  stimulated: {{rule: fixed, side: left}}
phases:
  - {{name: baseline, duration_s: {third}, mode: "off"}}
  - {{name: test, duration_s: {third}, mode: closed_loop}}
  - {{name: post-test, duration_s: {third}, mode: "off"}}
"""


def make_archive(base: Path, duration_s: float, n_sessions: int) -> Path:
    import cv2

    from rig.devices.synthetic import SyntheticArena
    from rig.protocol.load import load_default_protocol
    from rig.rescore.batch import Scheduler, run_batch  # noqa: F401  (import cost paid here)
    from rig.cli import main

    loaded = load_default_protocol()
    video = base / "test_video.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter.fourcc(*"MJPG"), 30.0, (640, 480), True)
    with SyntheticArena(loaded.calibration, fps=30, seed=7, duration_s=duration_s) as source:
        while (frame := source.read()) is not None:
            writer.write(cv2.cvtColor(frame.image, cv2.COLOR_GRAY2BGR))
    writer.release()
    protocol = base / "bench.yaml"
    protocol.write_text(PROTOCOL.format(third=duration_s / 3))
    data = base / "data"
    import contextlib
    import io

    for i in range(n_sessions):
        with contextlib.redirect_stdout(io.StringIO()):
            code = main(["replay", str(video), "--protocol", str(protocol), "--out", str(data), "--animal", f"b{i:03d}"])
        assert code == 0
    return data


def run(config: str, data: Path, zones: Path, out: Path) -> dict[str, object]:
    from rig.rescore.batch import find_sessions, parse_scheduler, run_batch
    from rig.rescore.model import RescoreOptions, RescoreTask

    from rig.rescore.model import RescoreMode

    mode = RescoreMode.VIDEO
    if config.startswith("positions:"):  # the saved positions instead of the video
        mode = RescoreMode.POSITIONS
        config = config.removeprefix("positions:")
    if config == "local:1":
        scheduler = parse_scheduler(None, 1)
    elif config == "local:2":
        scheduler = parse_scheduler(None, 2)
    else:
        scheduler = parse_scheduler("local:2", None)
    options = RescoreOptions(out_dir=out, zones_path=zones, mode=mode)
    tasks = [RescoreTask(s, options) for s in find_sessions([data])]
    started = time.perf_counter()
    results = run_batch(tasks, scheduler)
    wall_s = time.perf_counter() - started
    failed = [r.error for r in results if not r.ok]
    for error in failed:
        print(f"{config}: a session failed: {error}", file=sys.stderr)
    frames = sum(r.frames for r in results)
    return {
        "config": scheduler.describe() + (", positions" if mode is RescoreMode.POSITIONS else ", video"),
        "sessions": len(tasks),
        "failed": len(failed),
        "frames": frames,
        "wall_s": round(wall_s, 2),
        "frames_per_s": round(frames / wall_s, 1),
        "mean_session_s": round(sum(r.wall_s for r in results) / len(results), 2),
    }


def main() -> None:
    duration_s = float(sys.argv[1]) if len(sys.argv) > 1 else 30.0
    n_sessions = int(sys.argv[2]) if len(sys.argv) > 2 else 12
    with tempfile.TemporaryDirectory(prefix="bench-rescore-") as tmp:
        base = Path(tmp)
        t0 = time.perf_counter()
        data = make_archive(base, duration_s, n_sessions)
        print(f"archive: {n_sessions} replays of a {duration_s:g}-s 640x480 MJPG video made in "
              f"{time.perf_counter() - t0:.1f} s", file=sys.stderr)
        zones = base / "zones.yaml"
        zones.write_text("arena: {neutral_band_cm: 8}\n")
        rows = []
        configs = sys.argv[3].split(",") if len(sys.argv) > 3 else ["local:1", "local:2", "dask:local:2"]
        for config in configs:
            row = run(config, data, zones, base / f"out-{config.replace(':', '_')}")
            rows.append(row)
            print(json.dumps(row), file=sys.stderr)
        if any(c.startswith("dask") for c in configs):
            from distributed import Client, LocalCluster

            t0 = time.perf_counter()
            with LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None) as cluster, Client(cluster) as client:
                client.run(lambda: __import__("rig.rescore.engine"))
            print(f"Dask LocalCluster(2) start + import on workers + stop alone: {time.perf_counter() - t0:.1f} s")
        base_wall = float(rows[0]["wall_s"])  # type: ignore[arg-type]
        children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        print(f"machine: {platform.node()} {platform.machine()}, {os.cpu_count()} cores, "
              f"Python {platform.python_version()}; load average {os.getloadavg()[0]:.1f} "
              "(shared machine: other jobs ran meanwhile)")
        print(f"{n_sessions} re-scores of a {duration_s:g}-s video ({int(duration_s * 30)} frames each)")
        print(f"{'configuration':<48} {'wall s':>7} {'speed-up':>8} {'frames/s':>9} {'s/session':>9} {'failed':>6}")
        for row in rows:
            speed_up = base_wall / float(row["wall_s"])  # type: ignore[arg-type]
            print(f"{row['config']:<48} {row['wall_s']:>7} {speed_up:>8.2f} {row['frames_per_s']:>9} "
                  f"{row['mean_session_s']:>9} {row['failed']:>6}")
        print(f"peak memory of one worker process (largest child ru_maxrss): {children:.0f} MiB")


if __name__ == "__main__":
    main()
