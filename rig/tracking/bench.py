"""Tracker speed on this machine (used by ``rig bench`` and ``benchmarks/bench_tracking.py``).

Measures ``Tracker.track`` alone on synthetic-arena frames rendered beforehand, so neither
rendering nor decoding is counted. Prints nothing and asserts nothing.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from rig.calibration import PixelMapper
from rig.devices.synthetic import SyntheticArena, synthetic_calibration
from rig.protocol.models import Tracking
from rig.tracking.detect import Tracker, TrackerSettings, arena_mask


def bench_tracker(
    size: tuple[int, int], n_frames: int = 600, *, tether: bool = False, noise: float = 2.0,
    flicker: float = 0.0,
) -> dict[str, Any]:
    """ms per ``track()`` call at ``size`` (w, h) on a 50 x 25 cm synthetic arena."""
    calibration = synthetic_calibration(*size, width_cm=50, length_cm=25)
    source = SyntheticArena(
        calibration, fps=30.0, duration_s=n_frames / 30.0, seed=1, tether=tether, noise=noise,
        flicker=flicker,
    )
    settings = TrackerSettings.from_protocol(Tracking(), PixelMapper(calibration))
    tracker = Tracker(settings, mask=arena_mask(calibration, size))
    with source:
        tracker.set_background(source.empty_arena())
        frames = []
        while (frame := source.read()) is not None:
            frames.append(frame.image)
    for image in frames[:20]:  # warm-up
        tracker.track(image)
    tracker.reset()
    times_ms = []
    found = 0
    for image in frames:
        t0 = time.perf_counter_ns()
        result = tracker.track(image)
        times_ms.append((time.perf_counter_ns() - t0) / 1e6)
        found += result.found
    a = np.asarray(times_ms)
    return {
        "size": f"{size[0]}x{size[1]}",
        "px_per_cm": round(calibration.px_per_cm, 2),
        "variant": "+".join(k for k, v in (("tether", tether), ("flicker", flicker)) if v) or "plain",
        "frames": len(frames),
        "found": found,
        "ms_per_frame": {
            "p50": round(float(np.percentile(a, 50)), 3),
            "p95": round(float(np.percentile(a, 95)), 3),
            "p99": round(float(np.percentile(a, 99)), 3),
            "max": round(float(a.max()), 3),
            "mean": round(float(a.mean()), 3),
        },
    }
