"""A large laser indicator: blue with "LASER ON" while the gate is open, grey otherwise."""

from __future__ import annotations

from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import QLabel, QSizePolicy, QWidget

_ON = "background:#1e78ff; color:white; border:3px solid #9cc4ff;"
_OFF = "background:#3a3a40; color:#bbbbbb; border:3px solid #55555c;"
_IDLE = "background:#2a2a2e; color:#777777; border:3px dashed #55555c;"


class LaserIndicator(QLabel):
    """Shows the gate state commanded by the engine (GUI thread)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setMinimumSize(180, 64)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self._state: bool | None = None
        self.set_idle()

    @property
    def laser_on(self) -> bool:
        return bool(self._state)

    def _style(self, colours: str) -> None:
        self.setStyleSheet(
            f"QLabel {{ {colours} border-radius:10px; font-size:22px; font-weight:bold; }}"
        )

    def set_idle(self) -> None:
        self._state = None
        self.setText("LASER —")
        self._style(_IDLE)

    def set_laser_on(self, laser_on: bool) -> None:
        if laser_on == self._state:
            return
        self._state = laser_on
        self.setText("LASER ON" if laser_on else "LASER OFF")
        self._style(_ON if laser_on else _OFF)
