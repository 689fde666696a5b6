"""Soak benchmark: a long synthetic session at --speed max, with and without save_video.

Runs ``rig run`` in a subprocess (the real CLI, engine and writer threads) on the default
protocol scaled to ``--duration-s`` (default 2 h) and prints: wall time, RSS at start
(first frame row on disk), end and peak (VmHWM), rows written vs frames processed, and
video frames written/dropped. Asserts nothing (speed targets are not tests).

    .venv/bin/python benchmarks/bench_soak.py                 # 2 h, both variants
    .venv/bin/python benchmarks/bench_soak.py --duration-s 600 --video only
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _rss_kb(pid: int, field: str) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except (OSError, ValueError):
        return None
    return None


def _protocol(folder: Path, duration_s: float, save_video: bool, codec: str) -> Path:
    from rig.protocol.load import default_protocol_path

    data = yaml.safe_load(default_protocol_path().read_text())
    total = sum(float(p["duration_s"]) for p in data["phases"])
    for phase in data["phases"]:
        phase["duration_s"] = float(phase["duration_s"]) * duration_s / total
    data["recording"] = {**data.get("recording", {}), "save_video": save_video, "codec": codec}
    data["metadata"]["name"] = "soak"
    path = folder / "soak.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    # the default protocol names its calibration relative to the bundled data folder
    calibration = data["arena"]["calibration"]
    source = default_protocol_path().parent / calibration
    if source.exists():
        (folder / Path(calibration).name).write_bytes(source.read_bytes())
    return path


def run_one(duration_s: float, save_video: bool, codec: str) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="optorig-soak-") as tmp:
        folder = Path(tmp)
        protocol = _protocol(folder, duration_s, save_video, codec)
        out = folder / "out"
        command = [
            sys.executable, "-m", "rig", "run", str(protocol), "--animal", "soak", "--source",
            "synthetic", "--board", "mock", "--out", str(out), "--speed", "max",
        ]
        t0 = time.monotonic()
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
        rss_start = rss_end = peak = None
        while proc.poll() is None:
            rss = _rss_kb(proc.pid, "VmRSS")
            if rss_start is None and any(out.glob("*/*/frames.csv")) and rss is not None:
                frames = next(out.glob("*/*/frames.csv"))
                if frames.stat().st_size > 10_000:
                    rss_start = rss
            if rss is not None:
                rss_end = rss
            hwm = _rss_kb(proc.pid, "VmHWM")
            if hwm is not None:
                peak = hwm
            time.sleep(0.2)
        stdout, stderr = proc.communicate()
        wall_s = time.monotonic() - t0
        session = next(out.glob("*/*/session.json")).parent
        header = json.loads((session / "session.json").read_text())
        with (session / "frames.csv").open("rb") as handle:
            rows = sum(1 for _ in handle) - 1
        video = header.get("video") or {}
        return {
            "duration_s": duration_s,
            "save_video": save_video,
            "codec": codec if save_video else None,
            "exit_code": proc.returncode,
            "end_reason": header.get("end_reason"),
            "wall_s": round(wall_s, 1),
            "rss_start_mb": round((rss_start or 0) / 1024, 1),
            "rss_end_mb": round((rss_end or 0) / 1024, 1),
            "rss_peak_mb": round((peak or 0) / 1024, 1),
            "frames_processed": header.get("frames"),
            "rows_written": rows,
            "video_frames_written": video.get("frames_written"),
            "video_frames_dropped": video.get("frames_dropped"),
            "video_failed": video.get("failed"),
            "stderr_tail": stderr.strip().splitlines()[-3:] if proc.returncode else [],
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration-s", type=float, default=7200.0)
    parser.add_argument("--video", choices=("both", "only", "none"), default="both")
    parser.add_argument("--codec", default="MJPG")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    variants = {"both": (False, True), "only": (True,), "none": (False,)}[args.video]
    print(f"machine: {platform.node()} {platform.machine()} {os.cpu_count()} CPUs, "
          f"load {os.getloadavg()[0]:.1f}; python {platform.python_version()}", flush=True)
    results = []
    for save_video in variants:
        result = run_one(args.duration_s, save_video, args.codec)
        results.append(result)
        if args.json:
            print(json.dumps(result), flush=True)
        else:
            print(
                f"{args.duration_s:.0f} s synthetic, speed max, save_video={save_video}"
                f"{' (' + args.codec + ')' if save_video else ''}: exit {result['exit_code']} "
                f"{result['end_reason']}, wall {result['wall_s']} s, RSS start/end/peak "
                f"{result['rss_start_mb']}/{result['rss_end_mb']}/{result['rss_peak_mb']} MB, "
                f"rows {result['rows_written']} = frames {result['frames_processed']}: "
                f"{result['rows_written'] == result['frames_processed']}, video written "
                f"{result['video_frames_written']} dropped {result['video_frames_dropped']}"
                f"{' failed ' + str(result['video_failed']) if result['video_failed'] else ''}",
                flush=True,
            )
            for line in result["stderr_tail"]:  # type: ignore[union-attr]
                print("   ", line)


if __name__ == "__main__":
    main()
