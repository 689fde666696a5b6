"""Clocks injected into the runner and the policy, so tests never sleep.

All times are integer nanoseconds on a monotonic clock (``time.perf_counter_ns``).
"""

from __future__ import annotations

import threading
import time
from typing import Protocol


class Clock(Protocol):
    def now_ns(self) -> int:
        """Monotonic time in nanoseconds."""
        ...

    def sleep_until_ns(self, t_ns: int) -> None:
        """Block until ``now_ns() >= t_ns`` (returns at once if already past)."""
        ...


class SystemClock:
    """The real monotonic clock (``perf_counter_ns``)."""

    def now_ns(self) -> int:
        return time.perf_counter_ns()

    def sleep_until_ns(self, t_ns: int) -> None:
        delay_ns = t_ns - time.perf_counter_ns()
        if delay_ns > 0:
            time.sleep(delay_ns / 1e9)


class ManualClock:
    """A clock that only moves when told to; sleeping advances it. Thread-safe."""

    def __init__(self, start_ns: int = 0) -> None:
        self._t_ns = start_ns
        self._lock = threading.Lock()

    def now_ns(self) -> int:
        with self._lock:
            return self._t_ns

    def advance_s(self, seconds: float) -> None:
        with self._lock:
            self._t_ns += int(round(seconds * 1e9))

    def set_ns(self, t_ns: int) -> None:
        with self._lock:
            self._t_ns = t_ns

    def sleep_until_ns(self, t_ns: int) -> None:
        with self._lock:
            self._t_ns = max(self._t_ns, t_ns)


class MediaClock(ManualClock):
    """The time of the media being processed, advanced by the runner to each frame's
    source time. A device emulated on it (the MockBoard beside a recorded or synthetic
    source) then counts pulses and watchdog time in session time, even when a replay runs
    many times faster than real time. ``advance_to_s`` never goes backwards. Thread-safe."""

    def advance_to_s(self, t_s: float) -> None:
        self.sleep_until_ns(int(round(t_s * 1e9)))
