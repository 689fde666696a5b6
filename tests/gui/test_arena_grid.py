"""The arena grid: one tile per arena with its own laser indicator and state, a per-arena
stop that ends only that arena, and one emergency stop that closes every arena's light.
Fails on the old code (no multi-arena GUI)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from rig.gui.arena_demo import build_demo
from rig.gui.widgets.arena_grid import ArenaGrid
from rig.session.status import EndReason, RunState


def test_grid_stop_one_then_emergency_stop_all(qtbot: Any, tmp_path: Path) -> None:
    multi = build_demo(4, tmp_path, speed=1.0)
    grid = ArenaGrid(multi, refresh_ms=40)
    qtbot.addWidget(grid)
    grid.show()
    worker = threading.Thread(target=multi.run, daemon=True)
    worker.start()
    try:
        qtbot.waitUntil(
            lambda: all(t.runner.status.state is RunState.RUNNING for t in grid.tiles)
            and all(t.video.frames_shown > 0 for t in grid.tiles),
            timeout=60000,
        )
        grid.tiles[1].stop_button.click()  # arena B only
        qtbot.waitUntil(lambda: grid.tiles[1].runner.status.state is RunState.FINISHED, timeout=20000)
        assert all(t.runner.status.state is RunState.RUNNING for t in (grid.tiles[0], *grid.tiles[2:]))
        grid.estop.click()
        worker.join(30)
    finally:
        multi.request_stop()
        worker.join(30)
    assert multi.end_reasons["B"] is EndReason.STOPPED_BY_USER
    assert {multi.end_reasons[n] for n in "ACD"} == {EndReason.EMERGENCY_STOP}
    assert not any(a.board.gate_open for a in multi.arenas)
    grid.refresh()
    assert all(not t.laser.laser_on for t in grid.tiles)
    assert all("finished" in t.state.text() for t in grid.tiles)
    assert "B" in grid.tiles[1].state.text() and not grid.tiles[1].stop_button.isEnabled()
