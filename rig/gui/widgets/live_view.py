"""The live view: phase, progress and time left, the laser indicator, the fault banner, the
video with overlays, and the Stop / Emergency stop / simulation controls."""

from __future__ import annotations

from collections.abc import Sequence

from PyQt6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from rig.gui.widgets.fault_banner import FaultBanner
from rig.gui.widgets.laser_indicator import LaserIndicator
from rig.gui.widgets.live_video import LiveVideoView
from rig.gui.widgets.sim_controls import SimulationControls
from rig.gui.widgets.video_view import ZoneOverlay


def format_duration(seconds: float) -> str:
    whole_s = max(0, round(seconds))
    hours, rest = divmod(whole_s, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class LiveView(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        self.banner = FaultBanner()
        layout.addWidget(self.banner)
        header = QHBoxLayout()
        info = QVBoxLayout()
        self.phase_label = QLabel("No session")
        self.phase_label.setStyleSheet("font-size:18px; font-weight:bold;")
        info.addWidget(self.phase_label)
        self.detail_label = QLabel("")
        info.addWidget(self.detail_label)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setValue(0)
        self.progress.setFormat("")
        self.progress.setTextVisible(True)
        info.addWidget(self.progress)
        header.addLayout(info, 1)
        self.laser = LaserIndicator()
        self.laser.setFixedWidth(220)
        header.addWidget(self.laser)
        layout.addLayout(header)
        self.video = LiveVideoView()
        layout.addWidget(self.video, 1)
        controls = QHBoxLayout()
        self.stop_button = QPushButton("Stop")
        self.stop_button.setToolTip("End the session cleanly after the current frame")
        self.stop_button.setMinimumHeight(40)
        controls.addWidget(self.stop_button)
        self.estop_button = QPushButton("EMERGENCY STOP  (Esc)")
        self.estop_button.setToolTip("Close the laser gate at once, then stop the session")
        self.estop_button.setMinimumHeight(40)
        self.estop_button.setStyleSheet(
            "QPushButton { background:#c62828; color:white; font-weight:bold; font-size:15px; }"
            "QPushButton:disabled { background:#5a2a2a; color:#aaa; }"
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
        self.calibrate_button.setEnabled(not running)

    def set_overlays(self, arena_px: Sequence[tuple[float, float]], zones: Sequence[ZoneOverlay]) -> None:
        self.video.set_overlays(arena_px, zones)

    def show_status(self, status: object) -> None:
        """Phase, progress and time left from a RunnerStatus."""
        state = getattr(status, "state", None)
        state_name = str(getattr(state, "value", state) or "")
        phase = getattr(status, "phase", None)
        n_phases = int(getattr(status, "n_phases", 0) or 0)
        index = int(getattr(status, "phase_index", 0) or 0)
        if state_name == "arming":
            self.phase_label.setText("Arming: building the background…")
        elif phase:
            self.phase_label.setText(f"Phase {index + 1}/{n_phases}: {phase}")
        elif state_name:
            self.phase_label.setText(state_name.capitalize())
        total = float(getattr(status, "total_duration_s", 0.0) or 0.0)
        elapsed = float(getattr(status, "session_elapsed_s", 0.0) or 0.0)
        phase_elapsed = float(getattr(status, "phase_elapsed_s", 0.0) or 0.0)
        phase_duration = float(getattr(status, "phase_duration_s", 0.0) or 0.0)
        if total > 0:
            self.progress.setValue(int(1000 * min(1.0, elapsed / total)))
            self.progress.setFormat(
                f"{format_duration(elapsed)} / {format_duration(total)}   "
                f"— {format_duration(total - elapsed)} left"
            )
        side = getattr(status, "stim_side", "")
        self.detail_label.setText(
            f"phase {format_duration(phase_elapsed)} / {format_duration(phase_duration)}"
            + (f"   stimulated side: {side}" if side else "")
        )
        self.laser.set_laser_on(bool(getattr(status, "laser_on", False)))
