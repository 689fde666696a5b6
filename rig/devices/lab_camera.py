"""LabCamera: a machine-vision camera (Basler, GenICam) behind the FrameSource interface.

The vendor-specific part is a small ``CameraDriver`` (open and apply settings, retrieve one
frame, close); everything else is shared here so every backend counts and reports alike:

- A grab thread retrieves frames as the camera delivers them and keeps only the newest for
  ``read()`` (as ``OpenCVCamera`` does), so the tracker never works on a stale frame.
- **Camera-level drops** come from the camera's own frame counter: a gap in ``frame_id``
  between two retrieved frames is frames the camera exposed that never reached the host
  (link bandwidth, full buffers, a stalled host). They are counted here, separate from the
  engine's drops (frames the host received but the loop replaced by a newer one).
- The delivered frame rate is measured from the camera's timestamps (or arrival times).
- A failed or missing frame for ``timeout_s`` raises ``CameraLost``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from rig.devices.camera_settings import AppliedCameraSettings, CameraSettings, TriggerMode
from rig.devices.frames import Frame, SourceKind
from rig.devices.lifecycle import OpenedByWith
from rig.devices.newest_frame import NewestFrameSlot
from rig.errors import CameraLost

log = logging.getLogger(__name__)

#: Consecutive failed grabs (incomplete buffers) that count as a lost camera.
MAX_FAILED_GRABS = 10


@dataclass(frozen=True, slots=True)
class RawFrame:
    """One frame as a driver retrieved it."""

    image: NDArray[np.uint8]  # 8-bit grey (the driver converts)
    frame_id: int | None  # the camera's frame counter (BlockID / FrameID)
    cam_t_s: float | None  # camera clock in seconds (any origin), None without one
    ok: bool = True  # False: the camera delivered an incomplete/failed buffer


class CameraDriver(Protocol):
    """The vendor-specific part of a lab camera."""

    @property
    def description(self) -> str: ...

    def open(self, settings: CameraSettings) -> AppliedCameraSettings:
        """Connect, apply ``settings``, read them back, start acquisition."""
        ...

    def retrieve(self, timeout_s: float) -> RawFrame | None:
        """The next frame, or None after ``timeout_s`` without one."""
        ...

    def software_trigger(self) -> None:
        """Start one frame (trigger = software)."""
        ...

    def close(self) -> None: ...


class LabCamera(OpenedByWith):
    """A live machine-vision camera (FrameSource with ``is_live``) on a ``CameraDriver``."""

    def __init__(
        self,
        driver: CameraDriver,
        settings: CameraSettings,
        *,
        timeout_s: float = 2.0,
        max_failed_grabs: int = MAX_FAILED_GRABS,
        convert: Callable[[NDArray[np.uint8]], NDArray[np.uint8]] | None = None,
    ) -> None:
        if timeout_s <= 0:
            raise ValueError(f"timeout_s: must be > 0, got {timeout_s}")
        self._driver = driver
        self._settings = settings
        self._timeout_s = timeout_s
        self._max_failed = max_failed_grabs
        # Called on the grab thread for each frame; tests slow it down to force real drops.
        self._convert = convert
        self._applied: AppliedCameraSettings | None = None
        self._thread: threading.Thread | None = None
        # Only the newest frame is kept; read() returns each at most once (newest_frame.py).
        self._hand = NewestFrameSlot()
        self._open_ns = 0
        self._reset_counters()

    def _reset_counters(self) -> None:
        self._frames_retrieved = 0
        self._frames_skipped = 0
        self._camera_dropped = 0
        self._failed_grabs = 0
        self._first_id: int | None = None
        self._last_id: int | None = None
        self._first_t: float | None = None
        self._last_t: float | None = None
        self._t0: float | None = None  # origin of cam_t_s (the first frame), never reset
        self._non_monotonic = 0
        #: "camera" or "host", decided by the first frame (a driver only claims it).
        self._timestamp_source: str | None = None

    # ------------------------------------------------------------- properties
    @property
    def name(self) -> str:
        return self._driver.description

    @property
    def fps(self) -> float:
        """The rate the camera reported after the settings were applied (else requested)."""
        if self._applied is not None and self._applied.fps:
            return float(self._applied.fps)
        return float(self._settings.fps)

    @property
    def frame_size(self) -> tuple[int, int]:
        if self._applied is not None:
            return (self._applied.width, self._applied.height)
        return (self._settings.width or 0, self._settings.height or 0)

    @property
    def is_live(self) -> bool:
        return True

    @property
    def kind(self) -> SourceKind:
        return SourceKind.CAMERA

    @property
    def settings(self) -> CameraSettings:
        return self._settings

    @property
    def applied_settings(self) -> AppliedCameraSettings | None:
        """What the camera runs at (read back in ``open()``); None before."""
        return self._applied

    @property
    def camera_dropped(self) -> int:
        """Frames the camera exposed that never reached the host (frame-ID gaps)."""
        with self._hand.cond:
            return self._camera_dropped

    @property
    def frames_retrieved(self) -> int:
        with self._hand.cond:
            return self._frames_retrieved

    @property
    def frames_skipped(self) -> int:
        """Frames retrieved but replaced by a newer one before ``read()`` took them."""
        with self._hand.cond:
            return self._frames_skipped

    @property
    def measured_fps(self) -> float:
        """Delivered frame rate over the whole run (camera clock; 0 before two frames)."""
        with self._hand.cond:
            if self._first_t is None or self._last_t is None or self._last_t <= self._first_t:
                return 0.0
            assert self._first_id is not None and self._last_id is not None
            # Frames exposed over the interval, from the IDs (drops included), when known.
            n = self._last_id - self._first_id if self._last_id > self._first_id else (
                self._frames_retrieved - 1
            )
            return n / (self._last_t - self._first_t)

    def camera_report(self) -> dict[str, object]:
        """Counters and read-back settings for session.json / summary / ``rig camera check``."""
        with self._hand.cond:
            counters = {
                "frames_retrieved": self._frames_retrieved,
                "camera_dropped": self._camera_dropped,
                "failed_grabs": self._failed_grabs,
                "non_monotonic_timestamps": self._non_monotonic,
            }
        return {
            "requested": self._settings.model_dump(mode="json"),
            "applied": None if self._applied is None else self._applied.record(),
            "measured_fps": round(self.measured_fps, 3),
            **counters,
        }

    # ------------------------------------------------------------- lifecycle
    def open(self) -> None:
        self._applied = self._driver.open(self._settings)
        differences = self._applied.differences(self._settings)
        if differences:
            log.warning(
                "%s: the camera runs at different settings than asked: %s",
                self.name,
                "; ".join(differences),
            )
        self._hand.stop.clear()
        with self._hand.cond:  # a Condition on an RLock: reset() may take it again
            self._hand.reset()
            self._reset_counters()
        self._open_ns = time.perf_counter_ns()
        self._thread = threading.Thread(target=self._grab_loop, name="camera-grab", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop the grab thread and release the camera. Idempotent."""
        self._hand.stop.set()
        with self._hand.cond:
            self._hand.cond.notify_all()
        thread = self._thread
        if thread is not None:
            thread.join(timeout=self._timeout_s + 2.0)
            if thread.is_alive():
                log.warning("%s: grab thread did not stop within the timeout", self.name)
            self._thread = None
        self._driver.close()

    # ------------------------------------------------------------- grab thread
    def _grab_loop(self) -> None:
        failures = 0
        software = self._settings.trigger is TriggerMode.SOFTWARE
        period_ns = int(1e9 / self._settings.fps)
        next_trigger_ns = time.perf_counter_ns()
        try:
            while not self._hand.stop.is_set():
                if software:
                    # Host-timed frames: the trigger is paced on the host clock.
                    delay_s = (next_trigger_ns - time.perf_counter_ns()) / 1e9
                    if delay_s > 0 and self._hand.stop.wait(delay_s):
                        break
                    next_trigger_ns = max(next_trigger_ns + period_ns, time.perf_counter_ns())
                    self._driver.software_trigger()
                raw = self._driver.retrieve(min(self._timeout_s, 0.5))
                if self._hand.stop.is_set():
                    break
                if raw is None:
                    if (time.perf_counter_ns() - self._last_arrival_ns()) / 1e9 > self._timeout_s:
                        self._fail(f"no frame within {self._timeout_s:g} s")
                        return
                    continue
                if not raw.ok:
                    failures += 1
                    with self._hand.cond:
                        self._failed_grabs += 1
                    if failures >= self._max_failed:
                        self._fail(f"{failures} consecutive failed grabs")
                        return
                    continue
                failures = 0
                self._accept(raw)
        except Exception as err:  # a driver error ends the stream; read() raises CameraLost
            log.debug("%s: grab loop error", self.name, exc_info=True)
            self._fail(f"driver error: {err}")

    def _last_arrival_ns(self) -> int:
        with self._hand.cond:
            newest = self._hand.newest
        return newest.captured_ns if newest is not None else self._open_ns

    def _fail(self, reason: str) -> None:
        with self._hand.cond:
            self._hand.failure = reason
            self._hand.cond.notify_all()

    def _decide_timestamp_source(self, raw: RawFrame) -> str:
        """The first frame says whether the camera stamps its frames; the read-back
        settings then say so (a driver's guess, such as GenICam's "camera" on a producer
        without timestamps, is corrected). Called with the lock held."""
        source = "camera" if raw.cam_t_s is not None else "host"
        self._timestamp_source = source
        applied = self._applied
        if applied is not None and applied.timestamp_source != source:
            note = (
                "the camera's frames carry no timestamp: cam_t_s is arrival time"
                if source == "host"
                else "the camera's frames carry timestamps: cam_t_s is the camera clock"
            )
            self._applied = applied.model_copy(
                update={"timestamp_source": source, "notes": (*applied.notes, note)}
            )
            log.info("%s: %s", self.name, note)
        return source

    def _accept(self, raw: RawFrame) -> None:
        now_ns = time.perf_counter_ns()
        image = raw.image if self._convert is None else self._convert(raw.image)
        host_t_s = (now_ns - self._open_ns) / 1e9
        with self._hand.cond:
            source = self._timestamp_source or self._decide_timestamp_source(raw)
        # One clock for the whole run: never mix camera stamps with arrival times.
        cam_t = raw.cam_t_s if source == "camera" and raw.cam_t_s is not None else host_t_s
        with self._hand.cond:
            if raw.frame_id is not None:
                if self._last_id is not None:
                    gap = raw.frame_id - self._last_id - 1
                    if gap > 0:
                        self._camera_dropped += gap
                    elif gap < 0:  # counter wrapped or reset: restart the ID baseline
                        log.info("%s: frame counter went from %d to %d", self.name, self._last_id, raw.frame_id)
                        self._first_id, self._first_t = raw.frame_id, cam_t
                if self._first_id is None:
                    self._first_id = raw.frame_id
                self._last_id = raw.frame_id
            if self._first_t is None:
                self._first_t = cam_t
            if self._t0 is None:
                self._t0 = cam_t
            if self._last_t is not None and cam_t <= self._last_t:
                self._non_monotonic += 1
            self._last_t = cam_t
            index = self._frames_retrieved_total()
            self._frames_retrieved += 1
            if self._hand.newest is not None and self._hand.newest.index > self._hand.returned_index:
                self._frames_skipped += 1
            self._hand.newest = Frame(
                index=index,
                t_s=host_t_s,
                captured_ns=now_ns,
                image=image,
                cam_frame_id=raw.frame_id,
                cam_t_s=cam_t - self._t0,
            )
            self._hand.cond.notify_all()

    def _frames_retrieved_total(self) -> int:
        # Host index keeps counting across a counter reset (called with the lock held).
        return 0 if self._hand.newest is None else self._hand.newest.index + 1

    # ------------------------------------------------------------- consumer
    def read(self) -> Frame:
        """The newest frame not yet returned; waits up to ``timeout_s``; raises CameraLost."""
        if self._thread is None:
            raise RuntimeError(f"{type(self).__name__}.read() before open()")
        return self._hand.take(self._timeout_s, self.name)


def to_grey8(image: NDArray[Any], pixel_format: str) -> NDArray[np.uint8]:
    """8-bit grey from a camera buffer (mono 8..16 bit, or packed BGR/RGB)."""
    import cv2

    fmt = pixel_format.lower()
    if image.ndim == 3 and image.shape[2] == 3:
        code = cv2.COLOR_RGB2GRAY if fmt.startswith("rgb") else cv2.COLOR_BGR2GRAY
        image = cv2.cvtColor(image, code)
    if image.dtype == np.uint8:
        return np.ascontiguousarray(image)
    bits = {"mono10": 10, "mono12": 12}.get(fmt, 16)
    shifted = np.right_shift(image.astype(np.uint16), bits - 8)
    return np.clip(shifted, 0, 255).astype(np.uint8)
