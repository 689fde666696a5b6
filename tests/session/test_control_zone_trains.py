"""ControlLoop with per-zone trains: the board is reconfigured with the gate closed before
the light comes on in a zone with its own train, and the loop's own continuous-on account
is not reset by that brief close (defence in depth; fails on the old code, which had no
per-zone trains)."""

from __future__ import annotations

import numpy as np

from rig.calibration import PixelMapper
from rig.devices.board import LaserConfig
from rig.devices.mock_board import MockBoard
from rig.devices.synthetic import synthetic_calibration
from rig.policy import ZonePolicy
from rig.protocol.models import Arena, Decision, Phase, Safety
from rig.session.control import ControlLoop
from rig.tracking.detect import TrackResult
from rig.zones import ZoneId, ZoneMap


class _Scripted:
    """A tracker that reports the next scripted pixel position."""

    def __init__(self, points: list[tuple[float, float]]) -> None:
        self.points = list(points)

    def set_background(self, image: object) -> None: ...

    def reset(self) -> None: ...

    def track(self, image: object) -> TrackResult:
        x, y = self.points.pop(0)
        return TrackResult(True, x, y, 100.0)


def test_zone_switch_reconfigures_with_gate_closed_and_keeps_on_time() -> None:
    cal = synthetic_calibration(640, 480, 40.0, 40.0)
    mapper = PixelMapper(cal)
    arena = Arena.model_validate(
        {
            "calibration": "x",
            "zones": [
                {"name": "inner", "shape": "circle", "centre_cm": [20, 20], "radius_cm": 10},
                {"name": "outer", "shape": "circle", "centre_cm": [20, 20], "radius_cm": 20},
            ],
            "overlaps": [["inner", "outer"]],
            "stimulated_zones": ["inner", "outer"],
        }
    )
    zones = ZoneMap.from_arena(arena, 40.0, 40.0)
    safety = Safety(max_continuous_on_s=2.0, forced_off_s=1.0)
    policy = ZonePolicy(Decision(debounce_s=0), safety, "left", frozenset({"inner", "outer"}))
    policy.start_phase(Phase(name="t", duration_s=100, mode="closed_loop"), 0.0)
    base = LaserConfig(frequency_hz=20, pulse_width_ms=15, max_on_s=2.0)
    inner = LaserConfig(frequency_hz=40, pulse_width_ms=10, max_on_s=2.0)
    path_cm = [(20, 20)] * 10 + [(20, 35)] * 10 + [(20, 20)] * 10
    tracker = _Scripted([mapper.to_px(x, y) for x, y in path_cm])
    board = MockBoard()
    board.open()
    board.configure(base)
    loop = ControlLoop(tracker, mapper, zones, policy, board, safety, {ZoneId("inner"): inner}, base)
    image = np.zeros((480, 640), dtype=np.uint8)
    results = [loop.process(image, 0, 0.1 * i) for i in range(30)]
    kinds = [e.kind for r in results for e in r.extra_events]
    assert kinds.count("laser_config") == 2  # inner, then outer (then forced off at 2 s)
    # every configure came with the gate closed, and each opening used the zone's train
    gate, config, opened = False, None, []
    for c in board.commands[2:]:
        if c.kind == "configure":
            assert not gate
            config = c.config
        elif c.kind == "gate_open":
            gate = True
            opened.append(config)
        elif c.kind == "gate_close":
            gate = False
    assert opened == [inner, base]
    # continuous light from t=0: the 2 s limit applies across the zone switches
    on = [r.laser_on for r in results]
    assert all(on[:20]) and not any(on[20:])  # forced off at 2.0 s, not reset by the switch
    assert loop._on_since_s == 0.0  # the loop's own account also counts from t = 0
    assert any(e.kind == "safety_continuous_limit" for r in results for e in r.decision.events)
    board.close()
