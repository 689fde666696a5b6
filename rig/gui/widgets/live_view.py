"""The live view: the state header (state word, phase, progress), the laser indicator, the
fault banner, the video with overlays, and the Stop / Emergency stop / simulation controls."""

from __future__ import annotations

from collections.abc import Sequence

from PyQt6.QtWidgets import QHBoxLayout, QPushButton, QSizePolicy, QVBoxLayout, QWidget

from rig.gui import palette
from rig.gui.states import format_duration
from rig.gui.widgets.fault_banner import FaultBanner
from rig.gui.widgets.laser_indicator import LaserIndicator
from rig.gui.widgets.live_video import LiveVideoView
from rig.gui.widgets.sim_controls import SimulationControls
from rig.gui.widgets.state_header import StateHeader
from rig.gui.widgets.video_view import ZoneOverlay

__all__ = ["LiveView", "format_duration"]


class LiveView(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        header = QHBoxLayout()
        self.header = StateHeader()
        header.addWidget(self.header, 1)
        self.laser = LaserIndicator()
        self.laser.setFixedWidth(190)
        header.addWidget(self.laser)
        layout.addLayout(header)
        self.banner = FaultBanner()
        layout.addWidget(self.banner)
        self.video = LiveVideoView()
        layout.addWidget(self.video, 1)
        controls = QHBoxLayout()
        self.stop_button = QPushButton("Stop")
        self.stop_button.setToolTip("End the session cleanly after the current frame")
        self.stop_button.setMinimumHeight(40)
        controls.addWidget(self.stop_button)
        self.estop_button = QPushButton("EMERGENCY STOP (Esc)")
        self.estop_button.setToolTip(
            "Close the laser gate at once, then stop the session. Esc works in every optorig window."
        )
        self.estop_button.setMinimumHeight(40)
        self.estop_button.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.estop_button.setStyleSheet(
            f"QPushButton {{ background:{palette.ESTOP_BG}; color:{palette.BADGE_TEXT};"
            " font-weight:bold; font-size:15px; padding:4px 10px; }"
            f"QPushButton:disabled {{ background:{palette.BUTTON}; color:{palette.DISABLED_TEXT}; }}"
        )
        controls.addWidget(self.estop_button, 2)
        self.sim_controls = SimulationControls()
        controls.addWidget(self.sim_controls)
        self.calibrate_button = QPushButton("Arena calibration…")
        controls.addWidget(self.calibrate_button)
        layout.addLayout(controls)
        self.set_running(False)

    def set_running(self, running: bool) -> None:
        self.stop_button.setEnabled(running)
        self.estop_button.setEnabled(running)
        self.sim_controls.pause_button.setEnabled(running)
        if not running and self.sim_controls.pause_button.isChecked():
            self.sim_controls.pause_button.setChecked(False)
        self.calibrate_button.setEnabled(not running)

    def set_overlays(self, arena_px: Sequence[tuple[float, float]], zones: Sequence[ZoneOverlay]) -> None:
        self.video.set_overlays(arena_px, zones)

    def show_status(self, status: object, paused: bool = False, arming: object = None) -> None:
        """The state header from a RunnerStatus (frozen once the session ended)."""
        self.header.show_status(status, paused, arming)

    def set_gate(self, laser_on: bool) -> None:
        """The indicator and the video's gate border together (they must never disagree)."""
        self.laser.set_laser_on(laser_on)
        self.video.set_gate(laser_on)

    def set_paused(self, paused: bool) -> None:
        self.video.set_paused(paused)
