"""OpenCVCamera: a live camera through ``cv2.VideoCapture`` (FrameSource, ``is_live``).

A grab thread reads the camera continuously and keeps only the newest frame, so the
tracker never sees a stale frame from OpenCV's buffer (``CAP_PROP_BUFFERSIZE`` is set to
1 as well). ``read()`` waits up to ``timeout_s`` for a frame newer than the last one it
returned and raises ``CameraLost`` after the timeout or after repeated failed reads.

Frames: ``index`` counts frames grabbed since ``open()`` (gaps are frames the consumer
skipped, also counted in ``frames_skipped``), ``captured_ns`` is ``perf_counter_ns()``
when the frame reached the host (the grab thread), ``t_s`` is seconds since ``open()``.
The real frame rate is measured (exponential average) and a WARNING is logged when it
falls below 90 % of the requested rate (webcams lengthen the exposure in dim light).

The capture is made by ``capture_factory`` (default ``cv2.VideoCapture``), so the grab
logic is tested with a fake capture and no camera.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from rig.devices.frames import Frame, SourceKind, to_grey
from rig.devices.lifecycle import OpenedByWith
from rig.devices.newest_frame import NewestFrameSlot
from rig.errors import CameraLost

log = logging.getLogger(__name__)

#: Consecutive failed ``read()`` calls of the capture that count as a lost camera.
MAX_FAILED_READS = 10
#: Frames averaged (roughly) by the frame-rate estimate.
_FPS_SMOOTHING = 0.05
#: Frames after open before a low frame rate is reported.
_FPS_WARMUP_FRAMES = 30
LOW_FPS_FRACTION = 0.9


class CaptureLike(Protocol):
    """The part of ``cv2.VideoCapture`` the camera uses."""

    def isOpened(self) -> bool: ...  # noqa: N802 (OpenCV's name)

    def read(self) -> tuple[bool, Any]: ...

    def set(self, prop_id: int, value: float) -> bool: ...

    def get(self, prop_id: int) -> float: ...

    def release(self) -> None: ...


def _default_factory(device: int | str) -> CaptureLike:
    import cv2

    return cv2.VideoCapture(device)


class OpenCVCamera(OpenedByWith):
    """A live camera. ``device`` is an index (0) or a path/URL. Sizes and fps are requests."""

    def __init__(
        self,
        device: int | str,
        width_px: int | None = None,
        height_px: int | None = None,
        fps: float | None = None,
        timeout_s: float = 2.0,
        capture_factory: Callable[[int | str], CaptureLike] | None = None,
        max_failed_reads: int = MAX_FAILED_READS,
    ) -> None:
        if timeout_s <= 0:
            raise ValueError(f"timeout_s: must be > 0, got {timeout_s}")
        self._device = device
        self._width_px = width_px
        self._height_px = height_px
        self._requested_fps = fps
        self._timeout_s = timeout_s
        self._factory = capture_factory or _default_factory
        self._max_failed_reads = max_failed_reads
        self._capture: CaptureLike | None = None
        self._thread: threading.Thread | None = None
        # Only the newest frame is kept; read() returns each at most once (newest_frame.py).
        self._hand = NewestFrameSlot()
        self._fps = float(fps) if fps else 30.0
        self._size = (width_px or 0, height_px or 0)
        self._measured_fps = 0.0
        self._frames_grabbed = 0
        self._frames_skipped = 0
        self._low_fps_warned = False
        self._open_ns = 0
        self._driver_fps: float | None = None
        self._exposure_auto: str | None = None

    # ------------------------------------------------------------- properties
    @property
    def name(self) -> str:
        return f"camera({self._device})"

    @property
    def fps(self) -> float:
        """Requested fps, or the driver's reported fps when none was requested."""
        return self._fps

    @property
    def frame_size(self) -> tuple[int, int]:
        return self._size

    @property
    def is_live(self) -> bool:
        return True

    @property
    def kind(self) -> SourceKind:
        return SourceKind.CAMERA

    @property
    def measured_fps(self) -> float:
        """Frame rate actually delivered (exponential average; 0 before two frames)."""
        with self._hand.cond:
            return self._measured_fps

    @property
    def frames_grabbed(self) -> int:
        with self._hand.cond:
            return self._frames_grabbed

    @property
    def frames_skipped(self) -> int:
        """Frames grabbed but replaced by a newer one before ``read()`` took them."""
        with self._hand.cond:
            return self._frames_skipped

    def camera_report(self) -> dict[str, object]:
        """What the driver reported after open, and the grab counters (session.json, check).

        OpenCV exposes no camera frame counter, so camera-level drops are unknown here;
        ``frames_skipped`` counts frames the host grabbed but the loop never took."""
        with self._hand.cond:
            counters = {
                "frames_grabbed": self._frames_grabbed,
                "frames_skipped": self._frames_skipped,
                "measured_fps": round(self._measured_fps, 3),
            }
        return {
            "requested": {"width": self._width_px, "height": self._height_px, "fps": self._requested_fps},
            "applied": {
                "backend": "opencv",
                "width": self._size[0],
                "height": self._size[1],
                "fps": self._driver_fps,
                "exposure_us": None,
                "exposure_auto": self._exposure_auto,
                "timestamp_source": "host",
            },
            **counters,
        }

    # ------------------------------------------------------------- lifecycle
    def open(self) -> None:
        import cv2

        capture = self._factory(self._device)
        if not capture.isOpened():
            capture.release()
            raise CameraLost(f"camera {self._device!r}: cannot be opened (not connected or in use)")
        capture.set(cv2.CAP_PROP_BUFFERSIZE, 1)
        # Ask for manual exposure (V4L2: 1); a session refuses a camera still on auto.
        capture.set(cv2.CAP_PROP_AUTO_EXPOSURE, 1)
        if self._width_px:
            capture.set(cv2.CAP_PROP_FRAME_WIDTH, self._width_px)
        if self._height_px:
            capture.set(cv2.CAP_PROP_FRAME_HEIGHT, self._height_px)
        if self._requested_fps:
            capture.set(cv2.CAP_PROP_FPS, self._requested_fps)
        else:
            reported = float(capture.get(cv2.CAP_PROP_FPS) or 0.0)
            self._fps = reported if 0 < reported <= 1000 else 30.0
        reported_fps = float(capture.get(cv2.CAP_PROP_FPS) or 0.0)
        self._driver_fps = reported_fps if reported_fps > 0 else None
        # V4L2 reports 1 = manual, 3 = aperture priority (auto); other drivers vary.
        auto = float(capture.get(cv2.CAP_PROP_AUTO_EXPOSURE) or 0.0)
        self._exposure_auto = {1.0: "Off", 3.0: "Continuous"}.get(auto)
        width = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH) or 0)
        height = int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT) or 0)
        if width > 0 and height > 0:
            self._size = (width, height)
        self._capture = capture
        self._hand.stop.clear()
        with self._hand.cond:  # a Condition on an RLock: reset() may take it again
            self._hand.reset()
            self._frames_grabbed = 0
            self._frames_skipped = 0
            self._measured_fps = 0.0
        self._open_ns = time.perf_counter_ns()
        self._thread = threading.Thread(
            target=self._grab_loop, name=f"camera-grab-{self._device}", daemon=True
        )
        self._thread.start()

    def close(self) -> None:
        """Stop the grab thread and release the camera. Idempotent."""
        self._hand.stop.set()
        with self._hand.cond:
            self._hand.cond.notify_all()
        thread = self._thread
        if thread is not None:
            thread.join(timeout=self._timeout_s + 1.0)
            if thread.is_alive():
                log.warning("camera %r: grab thread did not stop within the timeout", self._device)
            self._thread = None
        capture = self._capture
        self._capture = None
        if capture is not None:
            capture.release()


    # ------------------------------------------------------------- grab thread
    def _grab_loop(self) -> None:
        """Runs on the grab thread: read, convert to grey, keep only the newest frame."""
        import cv2

        capture = self._capture
        assert capture is not None
        failures = 0
        last_ns = 0
        while not self._hand.stop.is_set():
            try:
                ok, image = capture.read()
            except cv2.error as err:  # a driver error is a failed read
                log.debug("camera %r: read raised %s", self._device, err)
                ok, image = False, None
            if self._hand.stop.is_set():
                break
            if not ok or image is None:
                failures += 1
                if failures >= self._max_failed_reads:
                    with self._hand.cond:
                        self._hand.failure = f"{failures} consecutive failed reads"
                        self._hand.cond.notify_all()
                    return
                self._hand.stop.wait(0.005)  # back off a little before retrying a failing camera
                continue
            failures = 0
            now_ns = time.perf_counter_ns()
            grey = to_grey(image)
            with self._hand.cond:
                index = self._frames_grabbed
                self._frames_grabbed += 1
                if self._hand.newest is not None and self._hand.newest.index > self._hand.returned_index:
                    self._frames_skipped += 1
                self._hand.newest = Frame(
                    index=index,
                    t_s=(now_ns - self._open_ns) / 1e9,
                    captured_ns=now_ns,
                    image=grey,
                )
                if last_ns:
                    self._update_fps(now_ns - last_ns)
                self._size = (grey.shape[1], grey.shape[0])
                self._hand.cond.notify_all()
            last_ns = now_ns

    def _update_fps(self, interval_ns: int) -> None:
        """Called with the lock held."""
        if interval_ns <= 0:
            return
        instant_fps = 1e9 / interval_ns
        if self._measured_fps <= 0:
            self._measured_fps = instant_fps
        else:
            self._measured_fps += _FPS_SMOOTHING * (instant_fps - self._measured_fps)
        if self._frames_grabbed < _FPS_WARMUP_FRAMES:
            return
        low = self._measured_fps < LOW_FPS_FRACTION * self._fps
        if low and not self._low_fps_warned:
            self._low_fps_warned = True
            log.warning(
                "camera %r: delivering %.1f fps, below 90%% of the requested %.1f fps "
                "(too little light lengthens the exposure?)",
                self._device,
                self._measured_fps,
                self._fps,
            )
        elif not low and self._measured_fps > 0.95 * self._fps:
            self._low_fps_warned = False  # re-arm after recovery

    # ------------------------------------------------------------- consumer
    def read(self) -> Frame:
        """The newest frame not yet returned; waits up to ``timeout_s``; raises CameraLost."""
        if self._capture is None:
            raise RuntimeError("OpenCVCamera.read() before open()")
        return self._hand.take(self._timeout_s, f"camera {self._device!r}")

