"""The tracker on a real recording with hand labels (tests/data/README.md)."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np

from rig.devices.video_replay import VideoReplay
from rig.tracking.background import median_background
from rig.tracking.detect import Tracker, TrackerSettings

DATA = Path(__file__).resolve().parents[1] / "data"
VIDEO = DATA / "m4s1_labelled_frames.mp4"
LABELS = DATA / "m4s1_labels.csv"

#: Settings for this video, in px (no calibration): a dark mouse, body ~ 4000 px.
SETTINGS = TrackerSettings(
    animal_dark=True,
    threshold=None,
    min_area_px=500,
    max_area_px=20000,
    max_jump_px=math.inf,  # frames are not consecutive in time
    open_kernel_px=7,
    blur_px=5,
)


def _labels() -> np.ndarray:
    with LABELS.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [int(r["frame"]) for r in rows] == list(range(len(rows)))
    return np.array([[float(r["centre_x"]), float(r["centre_y"])] for r in rows])


def test_tracker_matches_hand_labels_on_real_video() -> None:
    centres = _labels()
    replay = VideoReplay(VIDEO)
    tracker = Tracker(SETTINGS)
    tracker.set_background(median_background(replay.sample_frames(60)))
    errors = []
    with replay:
        while (frame := replay.read()) is not None:
            tracker.reset()  # not consecutive in time: no memory between frames
            result = tracker.track(frame.image)
            assert result.found, f"frame {frame.index}: {result.reason}"
            label_x, label_y = centres[frame.index]
            errors.append(math.hypot(result.x_px - label_x, result.y_px - label_y))
    errors_px = np.asarray(errors)
    assert len(errors_px) == len(centres) == 116
    median, p95 = float(np.median(errors_px)), float(np.percentile(errors_px, 95))
    print(
        f"real video: median {median:.2f} px, p95 {p95:.2f} px, max {errors_px.max():.2f} px, "
        f"> 20 px {np.mean(errors_px > 20):.1%}"
    )
    assert median <= 5.0
    assert p95 <= 12.0
    assert np.mean(errors_px > 20) == 0.0
