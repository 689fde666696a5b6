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


def test_grid_takes_the_arenas_from_the_rig_file(qtbot: Any, tmp_path: Path) -> None:
    """``python -m rig.gui.arena_demo --rig rigs/four-box.yaml``: one tile per arena of the
    rig file, with its region and its channel's pin. Fails on the old code (no --rig)."""
    root = Path(__file__).resolve().parents[2]
    multi = build_demo(4, tmp_path, speed=1.0, rig_path=root / "rigs" / "four-box.yaml")
    grid = ArenaGrid(multi, refresh_ms=40)
    qtbot.addWidget(grid)
    assert len(grid.tiles) == 4
    assert [(a.region.name, a.region.x_px, a.region.y_px) for a in multi.arenas] == [
        ("A", 0, 16), ("B", 640, 16), ("C", 0, 528), ("D", 640, 528)
    ]
    pins = [a.rig.config.laser.pin for a in multi.arenas if a.rig is not None]
    assert pins == [9, 10, 11, 14]
    for view in multi.shared.views:
        view.close()
