"""Simulation controls: playback speed (1x, 2x, 10x, max) and pause, for recorded videos
and the synthetic arena. They call the runner's optional ``set_speed`` / ``set_paused``."""

from __future__ import annotations

from PyQt6.QtCore import pyqtSignal
from PyQt6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QPushButton, QWidget

SPEEDS = (("1x", "1"), ("2x", "2"), ("10x", "10"), ("max", "max"))


class SimulationControls(QWidget):
    speed_changed = pyqtSignal(str)  # "1", "2", "10", "max"
    pause_toggled = pyqtSignal(bool)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(QLabel("Playback"))
        self.speed_combo = QComboBox()
        for label, value in SPEEDS:
            self.speed_combo.addItem(label, value)
        self.speed_combo.setToolTip("Playback speed of the recorded video / synthetic arena")
        self.speed_combo.currentIndexChanged.connect(
            lambda _i: self.speed_changed.emit(self.speed)
        )
        layout.addWidget(self.speed_combo)
        self.pause_button = QPushButton("Pause")
        self.pause_button.setCheckable(True)
        self.pause_button.toggled.connect(self._toggled)
        layout.addWidget(self.pause_button)

    @property
    def speed(self) -> str:
        return str(self.speed_combo.currentData())

    def set_speed(self, speed: str) -> None:
        index = self.speed_combo.findData(speed)
        if index >= 0:
            self.speed_combo.setCurrentIndex(index)

    def _toggled(self, paused: bool) -> None:
        self.pause_button.setText("Resume" if paused else "Pause")
        self.pause_toggled.emit(paused)
