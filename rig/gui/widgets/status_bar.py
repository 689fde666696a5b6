"""The status bar: camera fps, dropped frames, loop latency p50/p99, board and heartbeat."""

from __future__ import annotations

import math
import time

from PyQt6.QtWidgets import QLabel, QStatusBar, QWidget

#: No new frame for this long while running -> the control loop is shown as stalled.
STALL_AFTER_S = 2.0


class SessionStatusBar(QStatusBar):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.labels: dict[str, QLabel] = {}
        for key in ("state", "fps", "dropped", "latency", "board", "heartbeat"):
            label = QLabel("")
            label.setMinimumWidth(90)
            self.addPermanentWidget(label)
            self.labels[key] = label
        self._last_frames = -1
        self._last_change = time.monotonic()
        self.show_status(None)

    def show_status(self, status: object | None, paused: bool = False) -> None:
        if status is None:
            self.labels["state"].setText("idle")
            for key in ("fps", "dropped", "latency", "board", "heartbeat"):
                self.labels[key].setText("")
            return
        state = getattr(status, "state", None)
        state_name = str(getattr(state, "value", state))
        simulated = " (simulated)" if getattr(status, "simulated", False) else ""
        self.labels["state"].setText(f"{state_name}{simulated}")
        self.labels["fps"].setText(f"camera {getattr(status, 'fps', 0.0):.1f} fps")
        dropped = int(getattr(status, "dropped_frames", 0))
        self.labels["dropped"].setText(f"dropped {dropped}")
        self.labels["dropped"].setStyleSheet("color:#ffb74d;" if dropped else "")
        p50 = _ms(getattr(status, "latency_p50_ms", math.nan))
        p99 = _ms(getattr(status, "latency_p99_ms", math.nan))
        self.labels["latency"].setText(f"loop latency p50 {p50} · p99 {p99}")
        connected = bool(getattr(status, "board_connected", False))
        self.labels["board"].setText("board connected" if connected else "board NOT connected")
        self.labels["board"].setStyleSheet("" if connected else "color:#ff6b6b; font-weight:bold;")
        frames = int(getattr(status, "frames", 0))
        now = time.monotonic()
        if frames != self._last_frames:
            self._last_frames, self._last_change = frames, now
        if paused:
            self._last_change = now
            self.labels["heartbeat"].setText("paused")
            self.labels["heartbeat"].setStyleSheet("color:#ffb74d;")
        elif state_name == "running" and now - self._last_change > STALL_AFTER_S:
            self.labels["heartbeat"].setText(f"loop STALLED {now - self._last_change:.0f} s")
            self.labels["heartbeat"].setStyleSheet("color:#ff6b6b; font-weight:bold;")
        else:
            self.labels["heartbeat"].setText("loop ♥ ok" if state_name == "running" else "")
            self.labels["heartbeat"].setStyleSheet("color:#8fd18f;")


def _ms(value: float) -> str:
    return f"{value:.2f} ms" if math.isfinite(value) else "—"
