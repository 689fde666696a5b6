"""A mock board beside a replayed/synthetic source counts pulses in session time."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from rig.devices.registry import make_session_devices
from rig.session.runner import EndReason, SessionRunner
from tests.conftest import protocol_variant
from tests.session.helpers import read_csv


def test_mock_board_pulses_follow_session_time_at_max_speed(default_loaded: Any, tmp_path: Path) -> None:
    loaded = protocol_variant(
        default_loaded, phases=[{"name": "on", "duration_s": 3.0, "mode": "open_loop"}]
    )
    devices = make_session_devices("synthetic", "mock", loaded.calibration, 30.0)
    assert devices.media_clock is not None
    runner = SessionRunner(
        loaded, devices.source, devices.board, tmp_path, "m1", speed=None,
        media_clock=devices.media_clock, simulated=True,
    )
    assert runner.run() is EndReason.COMPLETED
    events = read_csv(runner.session_dir / "events.csv")  # type: ignore[operator]
    opened = [float(e["t_s"]) for e in events if e["kind"] == "board_gate_opened"]
    closed = [(float(e["t_s"]), json.loads(e["detail"])["pulses"]) for e in events
              if e["kind"] == "board_gate_closed"]
    assert len(opened) == len(closed) == 1
    on_s = closed[0][0] - opened[0]
    # 20 Hz for the whole phase, counted on the media clock although the run took ~0.1 s
    assert on_s > 2.9
    assert abs(closed[0][1] - math.ceil(on_s * 20)) <= 1


def test_live_camera_keeps_the_real_clock(default_loaded: Any) -> None:
    devices = make_session_devices("camera:0", "mock", default_loaded.calibration, 30.0)
    assert devices.media_clock is None
    devices = make_session_devices("synthetic", "firmata:/dev/null", default_loaded.calibration)
    assert devices.media_clock is None
