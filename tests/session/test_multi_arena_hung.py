"""A hung arena loop under a live (camera-paced) source, four arenas: that arena's light
goes off within its loop-stall limit and its heartbeat stops (its own board's watchdog
would close the gate even if the host's close were lost), its record is finished by its
supervisor, and the other three arenas run on to the end, undisturbed: the camera reader
never waits for the hung arena (docs/arenas.md). Fails on the old code: each arena read
its region through its own acquisition thread in lock step, so a hung arena's run never
ended (``MultiArenaRunner.run`` waited for its thread as long as the loop stayed hung)
and its camera view was never released."""

from __future__ import annotations

import dataclasses
import threading
import time
from pathlib import Path
from typing import Any

import yaml

from rig.devices.mock_board import MockBoard
from rig.devices.regions import PacedLive, TiledSynthetic, grid_regions, region_calibration
from rig.protocol.load import load_default_protocol
from rig.session.multi import ArenaSpec, MultiArenaRunner
from rig.session.runner import FrameUpdate
from rig.session.status import EndReason
from tests.conftest import protocol_variant
from tests.session.helpers import generous_rig, read_csv, read_json

SIZE = (1280, 1024)
FPS = 30.0


class _HangWhenLit:
    """Blocks the arena's control loop (an observer runs on it) at the first lit frame
    after ``after`` frames, until released."""

    def __init__(self, after: int = 30) -> None:
        self.after = after
        self.frames = 0
        self.hung = threading.Event()
        self.release = threading.Event()

    def on_frame(self, update: FrameUpdate) -> None:
        self.frames += 1
        if self.frames >= self.after and update.laser_on and not self.hung.is_set():
            self.hung.set()
            self.release.wait(180.0)  # longer than the test waits for the run


def _loaded(region: Any) -> Any:
    cal = region_calibration(region)
    raw = yaml.safe_dump(cal.model_dump(mode="json"), sort_keys=False).encode()
    loaded = protocol_variant(
        load_default_protocol(),
        phases=[{"name": "test", "duration_s": 10, "mode": "closed_loop"}],
        safety={"max_continuous_on_s": 600, "max_total_on_s": 3000},
        tracking={"background": {"source": "median", "duration_s": 1, "n_frames": 10}},
    )
    return dataclasses.replace(loaded, calibration=cal, calibration_raw=raw)


def test_a_hung_arena_closes_its_light_and_the_others_go_on(tmp_path: Path) -> None:
    regions = grid_regions(4, SIZE)
    loaded = [_loaded(r) for r in regions]
    # seeds whose mice start on the stimulated (left) side soon: arena B hangs lit
    tiled = TiledSynthetic(SIZE, regions, [lo.calibration for lo in loaded], (21, 22, 23, 24), fps=FPS)
    boards = [MockBoard(f"mock{i}") for i in range(4)]
    hang = _HangWhenLit()
    arenas = [
        ArenaSpec(
            r, lo, b, f"m{i}", "left",
            observers=(hang,) if i == 1 else (),
            # B: a 300 ms loop-stall limit; the others: a limit a loaded machine cannot reach
            rig=generous_rig(300.0) if i == 1 else generous_rig(),
        )
        for i, (r, lo, b) in enumerate(zip(regions, loaded, boards, strict=True))
    ]
    multi = MultiArenaRunner(PacedLive(tiled), arenas, tmp_path, speed=1.0, simulated=True)
    ends: dict[str, EndReason] = {}
    worker = threading.Thread(target=lambda: ends.update(multi.run()), daemon=True)
    worker.start()
    try:
        assert hang.hung.wait(60.0), "arena B never had its light on"
        hung_at = time.monotonic()
        assert boards[1].gate_open  # lit when its loop hung
        while boards[1].gate_open and time.monotonic() - hung_at < 10.0:
            time.sleep(0.01)
        assert not boards[1].gate_open, "the hung arena's light stayed on"
        assert multi.runners[1].loop_alive() is False  # its heartbeat stopped
        worker.join(45.0)  # the others end ~10 s in; the hung loop stays blocked for 180 s
        assert not worker.is_alive(), "the run waited for the hung arena"
    finally:
        hang.release.set()
    assert ends["B"] is EndReason.LOOP_STALLED
    assert {ends[n] for n in "ACD"} == {EndReason.COMPLETED}
    b_dir = multi.runners[1].session_dir
    assert b_dir is not None and read_json(b_dir / "session.json")["end_reason"] == "loop_stalled"
    for i in (0, 2, 3):
        d = multi.runners[i].session_dir
        assert d is not None
        rows = read_csv(d / "frames.csv")
        # the others kept their frames (a live camera on a loaded machine may drop a few)
        assert len(rows) + int(rows[-1]["dropped"]) >= 10 * FPS - 2
        assert int(rows[-1]["dropped"]) < 0.2 * 10 * FPS
    assert not any(b.gate_open for b in boards)
