"""The newest-frame hand-over shared by the live cameras (OpenCV, pylon, GenICam).

A grab thread keeps only the newest frame; ``read()`` returns each frame at most once and
waits (bounded) for a new one. Frames the consumer never took are not queued: a live loop
must work on the newest image, and the gaps show up in the frame indices.
"""

from __future__ import annotations

import threading

from rig.devices.frames import Frame
from rig.errors import CameraLost


class NewestFrameSlot:
    """State of the hand-over; the grab thread sets ``newest``/``failure`` under ``cond``."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.stop = threading.Event()
        self.newest: Frame | None = None
        self.returned_index = -1
        self.failure: str | None = None

    def reset(self) -> None:
        with self.cond:
            self.newest = None
            self.returned_index = -1
            self.failure = None

    def take(self, timeout_s: float, label: str) -> Frame:
        """The newest frame not yet returned; waits up to ``timeout_s``; raises CameraLost
        (naming ``label``) on a grab failure, a timeout or a closed camera."""
        with self.cond:
            has_new = self.cond.wait_for(
                lambda: self.failure is not None
                or self.stop.is_set()
                or (self.newest is not None and self.newest.index > self.returned_index),
                timeout=timeout_s,
            )
            newest = self.newest
            if newest is not None and newest.index > self.returned_index:
                self.returned_index = newest.index
                return newest
            if self.failure is not None:
                raise CameraLost(f"{label}: {self.failure}")
            if not has_new:
                raise CameraLost(f"{label}: no frame within {timeout_s:g} s")
            raise CameraLost(f"{label}: closed")
