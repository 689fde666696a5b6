"""Camera numbers of a session from frames.csv: delivered fps, camera-level and engine drops.

- ``camera_dropped``: frames the camera numbered that never reached the host. From the gaps
  in ``cam_frame_id`` between recorded rows, minus the frames the engine itself dropped
  (gaps in the host's ``frame`` index: received but replaced by a newer frame).
- ``engine_dropped``: gaps in ``frame``.
- ``measured_fps``: frames the camera produced per second of its own clock (``cam_t_s``),
  or of ``t_s`` for sources without a camera clock.

A record without the camera columns (older sessions, recorded video) gives ``None`` for
what it cannot know: the summary never claims "0 drops" when drops could not be counted.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np


def camera_stats(
    frame: list[int], t_s: list[float], cam_frame_id: list[int | None], cam_t_s: list[float | None]
) -> dict[str, Any]:
    n = len(frame)
    engine_dropped = int(sum(max(0, b - a - 1) for a, b in zip(frame, frame[1:])))
    has_ids = n > 0 and all(i is not None for i in cam_frame_id)
    camera_dropped: int | None = None
    if has_ids:
        ids = [int(i) for i in cam_frame_id if i is not None]
        id_missing = int(sum(max(0, b - a - 1) for a, b in zip(ids, ids[1:])))
        camera_dropped = max(0, id_missing - engine_dropped)
    has_cam_t = n > 0 and all(t is not None for t in cam_t_s)
    times = [float(t) for t in cam_t_s if t is not None] if has_cam_t else list(t_s)
    measured_fps: float | None = None
    if n > 1 and times[-1] > times[0]:
        produced = (
            int(cam_frame_id[-1]) - int(cam_frame_id[0])  # type: ignore[arg-type]
            if has_ids
            else frame[-1] - frame[0]
        )
        measured_fps = round(produced / (times[-1] - times[0]), 3)
    intervals = np.diff(np.asarray(times, dtype=float)) if n > 1 else np.zeros(0)
    return {
        "measured_fps": measured_fps,
        "clock": "camera" if has_cam_t else "source",
        "camera_dropped": camera_dropped,
        "engine_dropped": engine_dropped,
        "frame_ids": has_ids,
        "timestamps_monotonic": bool(np.all(intervals > 0)) if intervals.size else None,
    }


def camera_summary(frames_csv: Path) -> dict[str, Any]:
    """``camera_stats`` of a frames.csv (torn last line ignored)."""
    frame: list[int] = []
    t_s: list[float] = []
    ids: list[int | None] = []
    cam_t: list[float | None] = []
    with open(frames_csv, encoding="utf-8", newline="") as handle:
        text = handle.read()
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines = lines[:-1]  # torn last row
    reader = csv.DictReader(lines)
    for row in reader:
        try:
            frame.append(int(row["frame"]))
            t_s.append(float(row["t_s"]))
        except (KeyError, TypeError, ValueError):
            continue
        raw_id = (row.get("cam_frame_id") or "").strip()
        raw_t = (row.get("cam_t_s") or "").strip()
        ids.append(int(raw_id) if raw_id else None)
        cam_t.append(float(raw_t) if raw_t else None)
    return camera_stats(frame, t_s, ids, cam_t)
