"""Arming: a median background must not swallow an animal that rested while it was sampled."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from rig.devices.mock_board import MockBoard
from rig.session.runner import EndReason, SessionRunner
from tests.conftest import protocol_variant
from tests.session.helpers import ScriptedSource, ScriptedTracker, read_csv

REST_PX = (320, 240)


def _frames(rest_frames: int) -> Any:
    def image_at(index: int) -> NDArray[np.uint8]:
        image = np.full((480, 640), 200, np.uint8)
        if index < rest_frames:
            centre = REST_PX
        else:  # walks along the arena after its rest
            centre = (60 + (index * 9) % 520, 150 + (index * 5) % 200)
        cv2.circle(image, centre, 25, 40, -1)
        return image

    return image_at


def _run(default_loaded: Any, out: Path, rest_frames: int) -> tuple[SessionRunner, ScriptedTracker]:
    loaded = protocol_variant(
        default_loaded,
        phases=[{"name": "only", "duration_s": 1.0, "mode": "off"}],
        tracking={"background": {"source": "median", "duration_s": 0.5, "n_frames": 10}},
    )
    tracker = ScriptedTracker([(100.0, 100.0)])
    runner = SessionRunner(
        loaded,
        ScriptedSource(image_at=_frames(rest_frames)),
        MockBoard(),
        out,
        "m1",
        speed=None,
        tracker_factory=lambda _loaded, _size: tracker,
    )
    assert runner.run() is EndReason.COMPLETED
    return runner, tracker


def test_resting_animal_extends_sampling_until_it_moved(default_loaded: Any, tmp_path: Path) -> None:
    runner, tracker = _run(default_loaded, tmp_path, rest_frames=40)  # rests 1.3 s
    assert tracker.background is not None
    x, y = REST_PX
    # The resting animal (grey 40) stands out against the background where it rested, by
    # more than the automatic threshold's floor (AUTO_THRESHOLD_FLOOR grey levels).
    assert int(tracker.background[y, x]) - 40 > 25
    events = read_csv(runner.session_dir / "events.csv")  # type: ignore[operator]
    extended = [e for e in events if e["kind"] == "background_extended"]
    assert 1 <= len(extended) <= 5
    assert not any(e["kind"] == "background_warning" for e in events)


def test_moving_animal_needs_one_window(default_loaded: Any, tmp_path: Path) -> None:
    runner, tracker = _run(default_loaded, tmp_path, rest_frames=0)
    assert tracker.background is not None and int(tracker.background[REST_PX[1], REST_PX[0]]) > 150
    kinds = [e["kind"] for e in read_csv(runner.session_dir / "events.csv")]  # type: ignore[operator]
    assert "background_extended" not in kinds


def test_animal_that_never_moves_is_warned_about(default_loaded: Any, tmp_path: Path) -> None:
    runner, _ = _run(default_loaded, tmp_path, rest_frames=10**9)
    kinds = [e["kind"] for e in read_csv(runner.session_dir / "events.csv")]  # type: ignore[operator]
    assert kinds.count("background_extended") == 5 and "background_warning" in kinds
