"""Session index at scale: build, no-change update, update after a few changes, a query,
and the index size, for N session folders (session.json + summary.json only, copied from
one real replay with varied animals, dates and protocols). Asserts nothing.

Usage: python benchmarks/bench_index.py [N_SESSIONS]   (default 2000)
"""

from __future__ import annotations

import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path


def make_record(base: Path) -> tuple[dict[str, object], dict[str, object]]:
    import contextlib
    import io

    import cv2

    from rig.cli import main
    from rig.devices.synthetic import SyntheticArena
    from rig.protocol.load import load_default_protocol

    loaded = load_default_protocol()
    video = base / "v.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter.fourcc(*"MJPG"), 30.0, (640, 480), True)
    with SyntheticArena(loaded.calibration, fps=30, seed=1, duration_s=6) as source:
        while (frame := source.read()) is not None:
            writer.write(cv2.cvtColor(frame.image, cv2.COLOR_GRAY2BGR))
    writer.release()
    protocol = base / "p.yaml"
    protocol.write_text(
        "schema_version: 1\nmetadata: {name: idx}\narena: {calibration: synthetic_arena.yaml}\n"
        "phases:\n  - {name: baseline, duration_s: 2, mode: 'off'}\n"
        "  - {name: test, duration_s: 2, mode: closed_loop}\n  - {name: post, duration_s: 2, mode: 'off'}\n"
    )
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["replay", str(video), "--protocol", str(protocol), "--out", str(base / "one"), "--animal", "m1"]) == 0
    session = next((base / "one" / "sessions").iterdir())
    return (
        json.loads((session / "session.json").read_text()),
        json.loads((session / "summary.json").read_text()),
    )


def main() -> None:
    from rig.index import Query, SessionIndex

    n = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    with tempfile.TemporaryDirectory(prefix="bench-index-") as tmp:
        base = Path(tmp)
        header, summary = make_record(base)
        root = base / "data"
        for i in range(n):
            folder = root / f"cohort{i // 500}" / "sessions" / f"2026-{1 + i % 12:02d}-{1 + i % 28:02d}_s{i:05d}"
            folder.mkdir(parents=True)
            h = dict(header, animal_id=f"m{i % 200:03d}", started_at=f"2026-{1 + i % 12:02d}-{1 + i % 28:02d}T10:00:00+00:00")
            h["protocol"] = dict(header["protocol"], name=f"rtpp-{i % 5}")  # type: ignore[arg-type]
            (folder / "session.json").write_text(json.dumps(h))
            (folder / "summary.json").write_text(json.dumps(summary))
        with SessionIndex(root) as index:
            t0 = time.perf_counter()
            stats = index.update()
            build_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            again = index.update()
            noop_s = time.perf_counter() - t0
            for folder in sorted(root.rglob("summary.json"))[:10]:
                folder.write_text(json.dumps(dict(summary, difference_score_pct=1.0)))
            t0 = time.perf_counter()
            changed = index.update()
            changed_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            rows = index.query(Query(protocol="rtpp-1", since="2026-06-01", complete=True))
            query_s = time.perf_counter() - t0
        size = (root / "optorig-index.sqlite").stat().st_size
        print(f"machine: {platform.node()}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} (shared)")
        print(f"{n} sessions: build {build_s:.2f} s ({stats.describe()}); no-change update {noop_s:.2f} s "
              f"({again.unchanged} unchanged); update after 10 changes {changed_s:.2f} s ({changed.updated} updated)")
        print(f"query protocol+since+complete: {len(rows)} rows in {query_s * 1000:.0f} ms; "
              f"index size {size / 1024:.0f} KiB = {size / n:.0f} bytes/session")


if __name__ == "__main__":
    main()
