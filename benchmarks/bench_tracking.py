"""Tracking benchmark: tracker ms/frame, synthetic render fps, video decode fps.

Prints numbers with the machine they ran on; asserts nothing (shared machines are noisy).

    .venv/bin/python benchmarks/bench_tracking.py [--frames 600]
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from rig.devices.synthetic import SyntheticArena, synthetic_calibration
from rig.devices.video_replay import VideoReplay
from rig.tracking.bench import bench_tracker

REAL_VIDEO = Path(__file__).resolve().parents[1] / "tests" / "data" / "m4s1_labelled_frames.mp4"
SIZES = ((640, 480), (1280, 1024))


def machine() -> str:
    return (
        f"machine: {platform.platform()}, {platform.machine()}, cpu_count={os.cpu_count()}, "
        f"python {platform.python_version()}, numpy {np.__version__}, opencv {cv2.__version__} "
        f"({cv2.getNumThreads()} threads)"
    )


def print_tracker(size: tuple[int, int], n_frames: int, **variant: object) -> None:
    result = bench_tracker(size, n_frames, **variant)  # type: ignore[arg-type]
    ms = result["ms_per_frame"]
    print(
        f"tracker {result['size']} ({result['variant']}, {result['px_per_cm']:.1f} px/cm): "
        f"p50 {ms['p50']:.3f} ms, p95 {ms['p95']:.3f} ms, p99 {ms['p99']:.3f} ms, "
        f"max {ms['max']:.3f} ms, mean {ms['mean']:.3f} ms; found {result['found']}/{result['frames']}"
    )


def bench_render(size: tuple[int, int], n_frames: int, **variant: object) -> None:
    calibration = synthetic_calibration(*size, width_cm=50, length_cm=25)
    source = SyntheticArena(calibration, fps=30.0, duration_s=n_frames / 30.0, seed=1, **variant)  # type: ignore[arg-type]
    with source:
        t0 = time.perf_counter()
        count = 0
        while source.read() is not None:
            count += 1
        elapsed = time.perf_counter() - t0
    label = "+".join(k for k, v in variant.items() if v) or "plain"
    print(f"synthetic render {size[0]}x{size[1]} ({label}): {count / elapsed:.0f} frames/s")


def bench_decode(path: Path, label: str, n_frames: int) -> None:
    replay = VideoReplay(path, loop=True)
    with replay:
        t0 = time.perf_counter()
        for _ in range(n_frames):
            replay.read()
        elapsed = time.perf_counter() - t0
    w, h = replay.frame_size
    print(f"video decode {label} {w}x{h} to grey: {n_frames / elapsed:.0f} frames/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--frames", type=int, default=600, help="frames per measurement")
    args = parser.parse_args()
    print(machine())
    for size in SIZES:
        print_tracker(size, args.frames)
        print_tracker(size, args.frames, tether=True, noise=4.0, flicker=0.05)
    for size in SIZES:
        bench_render(size, args.frames)
        bench_render(size, args.frames, tether=True, flicker=0.05)
    if REAL_VIDEO.is_file():
        bench_decode(REAL_VIDEO, "H.264 (tests/data)", args.frames)
    with tempfile.TemporaryDirectory() as folder:
        for size in SIZES:
            path = Path(folder) / f"synthetic_{size[0]}.avi"
            calibration = synthetic_calibration(*size)
            writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 30.0, size)
            with SyntheticArena(calibration, duration_s=100 / 30.0, seed=1) as source:
                while (frame := source.read()) is not None:
                    writer.write(cv2.cvtColor(frame.image, cv2.COLOR_GRAY2BGR))
            writer.release()
            bench_decode(path, "MJPG", args.frames)


if __name__ == "__main__":
    main()
