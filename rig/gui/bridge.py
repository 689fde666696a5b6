"""The one adapter between the engine and Qt: SessionObserver callbacks -> queued pyqtSignals.

The engine calls the observer from its own threads; the bridge re-emits state changes,
events and the end of the session as signals that Qt delivers on the GUI thread (queued,
because the emitting thread is not the receiver's). Frames are NOT pushed through the
event queue: ``on_frame`` only appends a small tuple to a lock-free deque (a few hundred
nanoseconds on the control thread) that the GUI drains when it redraws, and the video view
pulls ``runner.latest_update()`` for the image.

When the GUI redraws matters: some Qt drawing calls (e.g. ``QPainter.fillPath``) hold the
GIL for milliseconds, and a frame arriving meanwhile waits for it. So the bridge signals
``frame_ready`` right after the control thread has finished a frame (at most
``display_hz`` times a second, and never while a redraw is still pending): the GUI then
draws in the loop's idle time between frames instead of at a moment unrelated to them.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from PyQt6.QtCore import QObject, pyqtSignal

if TYPE_CHECKING:
    from rig.session.runner import FrameUpdate, RunnerStatus
    from rig.session.status import EndReason

log = logging.getLogger(__name__)

#: At most this many frame samples wait for the GUI (older ones are discarded first).
MAX_PENDING_SAMPLES = 100_000


@dataclass(frozen=True, slots=True)
class FrameSample:
    """The few numbers of one processed frame the live plots need."""

    t_s: float
    x_cm: float | None
    zone: str
    phase_index: int
    phase: str
    laser_on: bool


class RunnerLike(Protocol):
    """What the GUI needs from a session runner (``rig.session.runner.SessionRunner``)."""

    def run(self) -> Any: ...

    def request_stop(self) -> None: ...

    def emergency_stop(self, reason: EndReason = ...) -> None: ...

    @property
    def status(self) -> RunnerStatus: ...

    def latest_update(self) -> FrameUpdate | None: ...


class SessionBridge(QObject):
    """A SessionObserver whose callbacks become Qt signals (thread-safe)."""

    state_changed = pyqtSignal(object)  # RunnerStatus
    event_received = pyqtSignal(str, float, object)  # kind, t_s, detail dict
    finished = pyqtSignal(object)  # RunnerStatus
    crashed = pyqtSignal(str)  # run() raised: message
    frame_ready = pyqtSignal()  # a frame was just processed: redraw now (see module doc)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.samples: collections.deque[FrameSample] = collections.deque(
            maxlen=MAX_PENDING_SAMPLES
        )
        self.display_interval_ns = int(1e9 / 30)
        self._last_display_ns = 0
        # Plain bools: a lost race costs at most one skipped or one extra redraw.
        self._display_pending = False

    def set_display_hz(self, display_hz: float) -> None:
        # 80 % of the period: frames that come at exactly the display rate, with jitter,
        # must each get their redraw rather than every other one.
        self.display_interval_ns = int(0.8e9 / display_hz)

    def display_done(self) -> None:
        """The GUI finished the redraw that ``frame_ready`` asked for (GUI thread)."""
        self._display_pending = False

    # --- SessionObserver (called from engine threads) ---
    def on_state(self, status: RunnerStatus) -> None:
        self.state_changed.emit(status)

    def on_frame(self, update: FrameUpdate) -> None:
        # Control thread: must return at once. deque.append is atomic in CPython.
        self.samples.append(
            FrameSample(
                update.t_s,
                update.x_cm,
                _zone_name(update.zone),
                update.phase_index,
                update.phase,
                update.laser_on,
            )
        )
        now_ns = time.perf_counter_ns()
        if not self._display_pending and now_ns - self._last_display_ns >= self.display_interval_ns:
            self._display_pending = True
            self._last_display_ns = now_ns
            self.frame_ready.emit()

    def on_event(self, kind: str, t_s: float, detail: dict[str, object]) -> None:
        self.event_received.emit(kind, t_s, dict(detail))

    def on_finished(self, status: RunnerStatus) -> None:
        self.finished.emit(status)

    def drain_samples(self) -> list[FrameSample]:
        """Take every pending frame sample (GUI thread)."""
        drained = []
        pop = self.samples.popleft
        try:
            while True:
                drained.append(pop())
        except IndexError:
            pass
        return drained


def _zone_name(zone: object) -> str:
    value = getattr(zone, "value", zone)
    return str(value).lower()


class SessionWorker:
    """Runs ``runner.run()`` on a named Python thread and reports a crash via the bridge."""

    def __init__(self, runner: RunnerLike, bridge: SessionBridge) -> None:
        self.runner = runner
        self._bridge = bridge
        self.result: object | None = None
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="session-runner", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def is_alive(self) -> bool:
        return self._thread.is_alive()

    def join(self, timeout_s: float) -> bool:
        self._thread.join(timeout_s)
        return not self._thread.is_alive()

    def _run(self) -> None:
        try:
            self.result = self.runner.run()
        except BaseException as err:
            self.error = err
            log.exception("session runner raised")
            self._bridge.crashed.emit(f"{type(err).__name__}: {err}")


RunnerFactory = Callable[..., RunnerLike]
