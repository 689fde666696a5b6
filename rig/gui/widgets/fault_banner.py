"""A banner over the live view: what happened, and what the software did about it."""

from __future__ import annotations

from PyQt6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QWidget

_STYLES = {
    "error": "background:#8b1a1a; color:white;",
    "warning": "background:#8a6d00; color:white;",
    "info": "background:#1d4d7a; color:white;",
}

#: What the software does for each way a session can end (shown under the fault).
END_ACTIONS = {
    "camera_lost": "No frame arrived in time: the laser gate was closed at once and the "
    "session was stopped. The record up to the last frame is saved.",
    "board_lost": "The laser board stopped answering: the host stopped commanding it and "
    "the firmware watchdog closes the gate by itself. The record is saved.",
    "safety_limit": "A protocol safety limit was reached: the laser gate was closed and the "
    "session was stopped as the protocol requires. The record is saved.",
    "recorder_fault": "The record could not be written fast enough or at all: the laser gate "
    "was closed and the session was stopped rather than lose data silently.",
    "error": "An unexpected error: the laser gate was closed and the session was stopped. "
    "The record up to this moment is saved; please report session.log.",
    "source_ended": "INCOMPLETE: the video or simulated source ended before the protocol "
    "did; the phases listed were not run (or not in full). The record of what ran is saved.",
    "emergency_stop": "Emergency stop: the laser gate was closed at once, then the session "
    "was stopped. The record is saved.",
}


class FaultBanner(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("FaultBanner")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(10, 6, 10, 6)
        self.label = QLabel()
        self.label.setWordWrap(True)
        layout.addWidget(self.label, 1)
        self.dismiss_button = QPushButton("Dismiss")
        self.dismiss_button.clicked.connect(self.hide)
        layout.addWidget(self.dismiss_button)
        self.severity = ""
        self.hide()

    def show_message(self, severity: str, what: str, action: str = "") -> None:
        """Show ``what`` happened and ``action`` (what the software did)."""
        self.severity = severity
        self.setStyleSheet(f"#FaultBanner, #FaultBanner QLabel {{ {_STYLES[severity]} }}")
        self.setAutoFillBackground(True)
        html = f"<b>{what}</b>"
        if action:
            html += f"<br>{action}"
        self.label.setText(html)
        self.show()

    @property
    def text(self) -> str:
        return self.label.text()
