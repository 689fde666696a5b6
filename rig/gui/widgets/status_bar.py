"""The status bar: camera fps, dropped frames, loop latency p50/p99 (coloured by
thresholds), replay speed requested vs achieved, board and heartbeat."""

from __future__ import annotations

import collections
import math
import time

from PyQt6.QtWidgets import QLabel, QStatusBar, QWidget

from rig.gui import palette

#: No new frame for this long while running -> the control loop is shown as stalled.
STALL_AFTER_S = 2.0
#: Loop latency p99 (ms): up to OK is green, up to WARN amber, above red. The closed loop
#: measures ~2-3 ms p99 on a loaded 2-core machine (docs/engine.md); 50 ms is more than a
#: frame at 30 fps, so the laser then lags the animal visibly.
LATENCY_P99_OK_MS = 20.0
LATENCY_P99_WARN_MS = 50.0
#: Dropped frames: any is amber; above this share of frames, red.
DROPPED_RED_FRACTION = 0.01
#: Achieved replay speed below this share of the requested one is flagged.
SPEED_SHORTFALL = 0.8
#: Achieved speed is measured over this much wall-clock time.
SPEED_WINDOW_S = 3.0


def latency_colour(p99_ms: float) -> str:
    if not math.isfinite(p99_ms) or p99_ms <= LATENCY_P99_OK_MS:
        return palette.OK if math.isfinite(p99_ms) else palette.MUTED
    return palette.WARN if p99_ms <= LATENCY_P99_WARN_MS else palette.ERROR


def dropped_colour(dropped: int, frames: int) -> str:
    if dropped <= 0:
        return palette.OK
    return palette.ERROR if dropped > DROPPED_RED_FRACTION * max(frames, 1) else palette.WARN


class SessionStatusBar(QStatusBar):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.labels: dict[str, QLabel] = {}
        for key in ("state", "fps", "dropped", "latency", "speed", "board", "heartbeat"):
            label = QLabel("")
            self.addPermanentWidget(label)
            self.labels[key] = label
        self._last_frames = -1
        self._last_change = time.monotonic()
        #: (wall s, session s) samples for the achieved replay speed.
        self._progress: collections.deque[tuple[float, float]] = collections.deque()
        #: Requested replay speed ("1", "2", "10", "max"; "" = live camera).
        self.requested_speed = ""
        self.achieved_speed: float | None = None
        self.show_status(None)

    def reset(self, requested_speed: str = "") -> None:
        self._progress.clear()
        self.achieved_speed = None
        self.requested_speed = requested_speed

    def _set(self, key: str, text: str, colour: str = "", bold: bool = False) -> None:
        label = self.labels[key]
        label.setText(text)
        label.setStyleSheet(palette.style(colour, bold) if colour else "")

    def show_status(self, status: object | None, paused: bool = False) -> None:
        if status is None:
            self._set("state", "no session")
            for key in ("fps", "dropped", "latency", "speed", "board", "heartbeat"):
                self._set(key, "")
            return
        state = getattr(status, "state", None)
        state_name = str(getattr(state, "value", state))
        finished = state_name in ("finished", "stopping")
        simulated = " (simulated)" if getattr(status, "simulated", False) else ""
        self._set("state", f"{state_name}{simulated}")
        self._set("fps", f"camera {getattr(status, 'fps', 0.0):.1f} fps")
        frames = int(getattr(status, "frames", 0))
        dropped = int(getattr(status, "dropped_frames", 0))
        self._set("dropped", f"dropped {dropped}", dropped_colour(dropped, frames))
        p50 = float(getattr(status, "latency_p50_ms", math.nan))
        p99 = float(getattr(status, "latency_p99_ms", math.nan))
        self._set("latency", f"loop latency p50 {_ms(p50)} · p99 {_ms(p99)}", latency_colour(p99))
        self._show_speed(status, state_name, paused)
        connected = bool(getattr(status, "board_connected", False))
        if connected:
            self._set("board", "board connected", palette.OK)
        elif finished:
            # A normal end closes the board: that is not a fault.
            self._set("board", "board closed", palette.MUTED)
        elif state_name in ("idle", "arming"):
            self._set("board", "board connecting…", palette.MUTED)
        else:
            self._set("board", "board NOT connected", palette.ERROR, bold=True)
        now = time.monotonic()
        if frames != self._last_frames:
            self._last_frames, self._last_change = frames, now
        if paused:
            self._last_change = now
            self._set("heartbeat", "paused", palette.WARN)
        elif state_name == "running" and now - self._last_change > STALL_AFTER_S:
            self._set("heartbeat", f"loop STALLED {now - self._last_change:.0f} s", palette.ERROR, True)
        else:
            self._set("heartbeat", "loop ♥ ok" if state_name == "running" else "", palette.OK)

    def _show_speed(self, status: object, state_name: str, paused: bool) -> None:
        requested = self.requested_speed
        if not requested:
            self._set("speed", "")
            return
        now = time.monotonic()
        elapsed = float(getattr(status, "session_elapsed_s", 0.0) or 0.0)
        if state_name == "running" and not paused:
            self._progress.append((now, elapsed))
            while self._progress and now - self._progress[0][0] > SPEED_WINDOW_S:
                self._progress.popleft()
            if len(self._progress) >= 2 and self._progress[-1][0] - self._progress[0][0] > 0.5:
                (w0, s0), (w1, s1) = self._progress[0], self._progress[-1]
                self.achieved_speed = (s1 - s0) / (w1 - w0)
        else:
            self._progress.clear()
        wanted = "as fast as possible" if requested == "max" else f"{requested}x"
        if self.achieved_speed is None:
            self._set("speed", f"speed {wanted}", palette.MUTED)
            return
        text = f"speed {wanted} requested · {self.achieved_speed:.1f}x achieved"
        short = requested != "max" and self.achieved_speed < SPEED_SHORTFALL * float(requested)
        self._set("speed", text + (" (this machine cannot keep up)" if short else ""),
                  palette.WARN if short else palette.OK)


def _ms(value: float) -> str:
    return f"{value:.1f} ms" if math.isfinite(value) else "—"
