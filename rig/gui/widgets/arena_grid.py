"""A grid of arenas (multi-box rig): each tile shows its arena's live video with zones, its
own laser indicator, state line and stop button; one emergency stop closes every arena's
light.

The grid pulls each arena's newest frame and status on a timer (like the main window), so
the engine threads never wait for the GUI.
"""

from __future__ import annotations

from PyQt6.QtCore import QTimer
from PyQt6.QtWidgets import (
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from rig.gui.widgets.laser_indicator import LaserIndicator
from rig.gui.widgets.live_video import LiveVideoView
from rig.session.multi import ArenaSpec, MultiArenaRunner
from rig.session.runner import SessionRunner
from rig.session.status import RunState

_ESTOP_STYLE = (
    "QPushButton { background:#c62828; color:white; font-size:20px; font-weight:bold;"
    " border-radius:8px; padding:10px; }"
)


class ArenaTile(QFrame):
    """One arena: video, laser indicator, state and a stop button (ends this arena only)."""

    def __init__(self, arena: ArenaSpec, runner: SessionRunner, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.arena = arena
        self.runner = runner
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.video = LiveVideoView(trail_length=30)
        self.video.setMinimumSize(240, 180)
        self.laser = LaserIndicator()
        self.laser.setMinimumSize(120, 40)
        self.state = QLabel(f"{arena.region.name} · {arena.animal_id} · waiting")
        self.stop_button = QPushButton(f"Stop {arena.region.name}")
        self.stop_button.setToolTip("End this arena's session (light off); the others go on.")
        self.stop_button.clicked.connect(runner.request_stop)
        row = QHBoxLayout()
        row.addWidget(self.laser, 1)
        row.addWidget(self.stop_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.state)
        layout.addWidget(self.video, 1)
        layout.addLayout(row)
        self._overlays_for: str | None = None

    def refresh(self) -> None:
        status = self.runner.status
        if self._overlays_for != status.stim_side and status.stim_side:
            from rig.gui.main_window import zone_overlays

            arena_px, zones = zone_overlays(self.arena.loaded, status.stim_side)
            self.video.set_overlays(arena_px, zones)
            self._overlays_for = status.stim_side
        update = self.runner.latest_update()
        if update is not None:
            track = update.track
            position = (track.x_px, track.y_px) if track.found else None
            self.video.show_frame(update.image, position, track.contour, update.laser_on)
        if status.state is RunState.RUNNING:
            self.laser.set_laser_on(status.laser_on)
        elif status.state is RunState.FINISHED:
            self.laser.set_laser_on(False)
        phase = status.phase or "-"
        end = f" · {status.end_reason.value}" if status.end_reason is not None else ""
        self.state.setText(
            f"<b>{self.arena.region.name}</b> · {self.arena.animal_id} · {status.state.value}{end}"
            f" · {phase} · zone {status.zone.value} · stimulated {status.stim_side or '-'}"
        )
        self.stop_button.setEnabled(status.state is not RunState.FINISHED)


class ArenaGrid(QWidget):
    """Tiles for every arena of a ``MultiArenaRunner`` and one emergency stop for all."""

    def __init__(self, multi: MultiArenaRunner, refresh_ms: int = 50, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.multi = multi
        self.setWindowTitle(f"optorig — run {multi.run_id} ({len(multi.arenas)} arenas)")
        self.estop = QPushButton("EMERGENCY STOP — all arenas (Esc)")
        self.estop.setStyleSheet(_ESTOP_STYLE)
        self.estop.setShortcut("Esc")
        self.estop.clicked.connect(multi.emergency_stop)
        grid = QGridLayout()
        cols = 1 if len(multi.arenas) == 1 else 2
        self.tiles = [ArenaTile(a, r) for a, r in zip(multi.arenas, multi.runners, strict=True)]
        for i, tile in enumerate(self.tiles):
            grid.addWidget(tile, i // cols, i % cols)
        layout = QVBoxLayout(self)
        layout.addWidget(self.estop)
        layout.addLayout(grid, 1)
        self._timer = QTimer(self)
        self._timer.timeout.connect(self.refresh)
        self._timer.start(refresh_ms)

    def refresh(self) -> None:
        for tile in self.tiles:
            tile.refresh()
