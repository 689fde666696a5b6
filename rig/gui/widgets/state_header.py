"""The state header: one big word (ARMING, RUNNING, PAUSED, COMPLETE, STOPPED, E-STOPPED,
INCOMPLETE) on its own colour, a line of detail and a progress bar. It freezes in a final
state: later status snapshots do not change it until :meth:`reset` (the next Start)."""

from __future__ import annotations

from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QSizePolicy, QVBoxLayout, QWidget

from rig.gui import palette
from rig.gui.states import HeaderState, HeaderText, header_for


class StateHeader(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.badge = QLabel()
        self.badge.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.badge.setMinimumWidth(170)
        self.badge.setMinimumHeight(56)
        self.badge.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Expanding)
        layout.addWidget(self.badge)
        column = QVBoxLayout()
        self.detail = QLabel()
        self.detail.setWordWrap(True)
        self.detail.setStyleSheet("font-size:14px;")
        column.addWidget(self.detail)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setTextVisible(True)
        column.addWidget(self.progress)
        layout.addLayout(column, 1)
        self.state = HeaderState.IDLE
        self.show_text(header_for(None))

    @property
    def frozen(self) -> bool:
        return self.state.final

    def reset(self) -> None:
        self.state = HeaderState.IDLE
        self.show_text(header_for(None))

    def show_status(self, status: object, paused: bool = False, arming: object = None) -> None:
        """Show a status snapshot; ignored once a final state is shown (frozen)."""
        if self.frozen:
            return
        self.show_text(header_for(status, paused, arming))

    def show_text(self, text: HeaderText) -> None:
        self.state = text.state
        background, foreground = palette.STATE_COLOURS[text.state.value]
        self.badge.setText(text.state.value)
        self.badge.setStyleSheet(
            f"QLabel {{ background:{background}; color:{foreground}; font-size:24px;"
            " font-weight:bold; border-radius:8px; padding:4px 12px; }"
        )
        self.detail.setText(text.detail)
        self.progress.setVisible(text.progress is not None)
        self.progress.setValue(int(1000 * (text.progress or 0.0)))
        self.progress.setFormat(text.progress_text)
