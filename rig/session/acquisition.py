"""Acquisition: one thread reads the frame source into a one-slot hand-over.

- Live sources (cameras) deliver frames in real time by themselves: each new frame
  replaces an unread one in the slot (the replaced frame is counted as dropped), so the
  control loop always sees the newest frame and latency cannot grow.
- Recorded and synthetic sources are paced at their own timestamps times ``speed``
  (1 = real time, 2 = twice as fast); pacing uses the injected clock. They never drop a
  frame: the hand-over waits for the loop, and a source running late (a busy machine)
  re-bases its schedule instead of bursting to catch up. After pacing, the
  frame's ``captured_ns`` is re-stamped (the moment it "arrives", as from a camera), so
  latency never includes the pacing wait.
- ``speed=None`` (max) hands frames over with back-pressure: the thread waits until the
  slot is empty, so no frame is dropped and a re-score is exactly reproducible.

Thread: ``AcquisitionThread`` runs on its own named thread; ``LatestFrameSlot`` is shared.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from typing import Protocol

from rig.clock import Clock
from rig.devices.frames import Frame, FrameSource

log = logging.getLogger(__name__)

#: A paced (speed N) recorded source more than this late re-bases its schedule.
LATE_REBASE_NS = 250_000_000


class FrameFeed(Protocol):
    """What the control loop takes frames from: ``LatestFrameSlot`` (fed by an
    ``AcquisitionThread``) or a shared camera's region feed (``RegionView.direct_feed``)."""

    def take(self, timeout_s: float) -> Frame | None: ...

    @property
    def error(self) -> BaseException | None: ...

    @property
    def closed(self) -> bool: ...

    @property
    def dropped(self) -> int: ...


class LatestFrameSlot:
    """A one-frame hand-over: newest frame wins, replaced frames are counted as dropped."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._frame: Frame | None = None
        self._closed = False
        self.error: BaseException | None = None
        self.dropped = 0
        self.delivered = 0

    def put(self, frame: Frame) -> None:
        """Offer a frame; an unread older frame is replaced (and counted as dropped)."""
        with self._cond:
            if self._frame is not None:
                self.dropped += 1
            self._frame = frame
            self.delivered += 1
            self._cond.notify_all()

    def put_wait(self, frame: Frame, stop: threading.Event, poll_s: float = 0.1) -> bool:
        """Wait until the slot is empty (back-pressure), then put. False if stopped first."""
        with self._cond:
            while self._frame is not None:
                if stop.is_set() or self._closed:
                    return False
                self._cond.wait(poll_s)
            self._frame = frame
            self.delivered += 1
            self._cond.notify_all()
            return True

    def take(self, timeout_s: float) -> Frame | None:
        """The newest frame, or None after ``timeout_s`` or when the stream has ended."""
        with self._cond:
            if self._frame is None and not self._closed:
                self._cond.wait_for(lambda: self._frame is not None or self._closed, timeout_s)
            frame, self._frame = self._frame, None
            if frame is not None:
                self._cond.notify_all()
            return frame

    def wait_taken(self, timeout_s: float) -> None:
        """Wait (bounded) until the frame in the slot has been taken by the control loop."""
        with self._cond:
            if self._frame is not None:
                self._cond.wait_for(lambda: self._frame is None or self._closed, timeout_s)

    def close(self, error: BaseException | None = None) -> None:
        """No more frames will come (end of stream, or ``error``)."""
        with self._cond:
            if error is not None and self.error is None:
                self.error = error
            self._closed = True
            self._cond.notify_all()

    @property
    def closed(self) -> bool:
        with self._cond:
            return self._closed and self._frame is None


class AcquisitionThread(threading.Thread):
    """Reads ``source`` into ``slot`` until the stream ends, an error, or ``stop``."""

    def __init__(
        self,
        source: FrameSource,
        slot: LatestFrameSlot,
        clock: Clock,
        *,
        speed: float | None,
        stop: threading.Event,
    ) -> None:
        super().__init__(name="rig-acquisition", daemon=True)
        if speed is not None and speed <= 0:
            raise ValueError(f"speed must be > 0 or None (max), got {speed}")
        self._source = source
        self._slot = slot
        self._clock = clock
        self._speed = speed
        self._stop_event = stop
        self._live = bool(source.is_live)
        self._resume = threading.Event()
        self._resume.set()
        self._rebase = True
        self.frames_read = 0

    # --- controls (any thread) -------------------------------------------------
    def set_paused(self, paused: bool) -> None:
        """Pause/resume a non-live source (simulation); a live camera cannot be paused."""
        if paused:
            self._resume.clear()
        else:
            self._rebase = True
            self._resume.set()

    @property
    def paused(self) -> bool:
        return not self._resume.is_set()

    def set_speed(self, speed: float | None) -> None:
        """Change pacing of a non-live source (None = as fast as possible)."""
        if speed is not None and speed <= 0:
            raise ValueError(f"speed must be > 0 or None (max), got {speed}")
        self._speed = speed
        self._rebase = True

    # --- thread body -------------------------------------------------------------
    def run(self) -> None:
        base_ns = 0
        base_t_s = 0.0
        try:
            while not self._stop_event.is_set():
                if not self._live and not self._resume.is_set():
                    self._resume.wait(0.1)
                    continue
                frame = self._source.read()
                if frame is None:
                    log.info("source %s ended after %d frames", self._source.name, self.frames_read)
                    break
                self.frames_read += 1
                if self._live:
                    self._slot.put(frame)
                    continue
                speed = self._speed
                if speed is None:
                    if not self._slot.put_wait(frame, self._stop_event):
                        break
                    continue
                if self._rebase:
                    base_ns, base_t_s, self._rebase = self._clock.now_ns(), frame.t_s, False
                due_ns = base_ns + int((frame.t_s - base_t_s) / speed * 1e9)
                self._clock.sleep_until_ns(due_ns)
                if self._clock.now_ns() - due_ns > LATE_REBASE_NS:
                    # Behind schedule (a busy machine): slow down instead of bursting to
                    # catch up. A simulation has no deadline to meet.
                    base_ns, base_t_s = self._clock.now_ns(), frame.t_s
                # A recorded source waits for the loop (never drops): it is slow, not lost.
                if not self._slot.put_wait(
                    dataclasses.replace(frame, captured_ns=time.perf_counter_ns()),
                    self._stop_event,
                ):
                    break
                # A simulated camera renders its next frame in this thread, holding the GIL
                # for most of a millisecond; let the control loop pick this frame up first,
                # as it would from a real camera whose next frame comes a period later.
                self._slot.wait_taken(min(0.5 / max(self._source.fps, 1.0) / speed, 0.05))
        except BaseException as err:  # handed to the control loop, which ends the session
            self._slot.close(err)
            return
        self._slot.close()
