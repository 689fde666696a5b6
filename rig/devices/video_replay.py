"""VideoReplay: frames of a recorded video as a FrameSource (simulation mode, re-scoring).

Timestamps come from the file (the decoder's position of each frame), so a re-score is
reproducible; ``captured_ns`` is when ``read()`` returned. The source never sleeps: the
runner decides whether to pace playback in real time or run as fast as possible.
"""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from rig.devices.frames import Frame, SourceKind, to_grey
from rig.devices.lifecycle import OpenedByWith
from rig.errors import ConfigError
from rig.progress import ProgressFn, no_progress

log = logging.getLogger(__name__)

FALLBACK_FPS = 30.0



class VideoReplay(OpenedByWith):
    """A recorded video file read frame by frame (grey). ``loop`` restarts it at the end.

    ``start_s`` / ``end_s`` choose a part of a longer file (``rig replay --start-s/--end-s``):
    frames before ``start_s`` are decoded and skipped, the stream ends at the first frame at
    or after ``end_s``. Frame indices and times stay those of the file.
    """

    def __init__(
        self,
        path: Path | str,
        loop: bool = False,
        *,
        start_s: float = 0.0,
        end_s: float | None = None,
    ) -> None:
        if not (math.isfinite(start_s) and start_s >= 0):
            raise ConfigError(f"--start-s: must be >= 0 s, got {start_s:g}")
        if end_s is not None and not (math.isfinite(end_s) and end_s > start_s):
            raise ConfigError(f"--end-s: must be after --start-s ({start_s:g} s), got {end_s:g}")
        if loop and (start_s > 0 or end_s is not None):
            raise ConfigError("--start-s/--end-s: not with a looping replay")
        self._path = Path(path)
        self._loop = loop
        self._start_s = start_s
        self._end_s = end_s
        self._capture: Any = None
        self._fps = FALLBACK_FPS
        self._size = (0, 0)
        self._frame_count = -1
        self._pending_first: NDArray[np.uint8] | None = None
        self._reset_position()

    # ------------------------------------------------------------- helpers
    def _open_capture(self) -> Any:
        import cv2

        if not self._path.is_file():
            raise ConfigError(f"{self._path}: video file not found")
        capture = cv2.VideoCapture(str(self._path))
        if not capture.isOpened():
            capture.release()
            raise ConfigError(f"{self._path}: cannot open as a video (unknown or damaged format)")
        return capture

    # ------------------------------------------------------------- FrameSource
    @property
    def name(self) -> str:
        return f"replay({self._path.name})"

    @property
    def path(self) -> Path:
        return self._path

    @property
    def fps(self) -> float:
        return self._fps

    @property
    def frame_size(self) -> tuple[int, int]:
        return self._size

    @property
    def is_live(self) -> bool:
        return False

    @property
    def kind(self) -> SourceKind:
        return SourceKind.VIDEO

    @property
    def frame_count(self) -> int:
        """Frames in the file as the container reports it (opens the file if needed)."""
        if self._frame_count < 0:
            import cv2

            capture = self._open_capture()
            try:
                self._frame_count = max(0, int(capture.get(cv2.CAP_PROP_FRAME_COUNT)))
            finally:
                capture.release()
        return self._frame_count

    def open(self) -> None:
        import cv2

        capture = self._open_capture()
        fps = float(capture.get(cv2.CAP_PROP_FPS) or 0.0)
        if not (math.isfinite(fps) and 0 < fps <= 1000):
            log.warning("%s: the file gives no frame rate; assuming %g fps", self._path, FALLBACK_FPS)
            fps = FALLBACK_FPS
        self._fps = fps
        self._frame_count = max(0, int(capture.get(cv2.CAP_PROP_FRAME_COUNT)))
        ok, first = capture.read()
        if not ok or first is None:
            capture.release()
            raise ConfigError(f"{self._path}: no frame could be decoded")
        height, width = first.shape[:2]
        self._capture = capture
        self._size = (width, height)
        self._reset_position()
        self._pending_first = first  # decoded to check the file; returned by the first read()
        if self._frame_count > 0 and self._start_s >= self._frame_count / fps:
            capture.release()
            self._capture = None
            raise ConfigError(
                f"--start-s: {self._start_s:g} s is past the end of {self._path.name} "
                f"({self._frame_count / fps:.1f} s)"
            )
        log.info("%s: %dx%d, %.3f fps, %d frames", self._path, width, height, fps, self._frame_count)

    def _reset_position(self) -> None:
        """Read position and timestamp state of a freshly opened file."""
        self._index = 0
        self._file_index = 0
        self._loops = 0
        self._use_file_time = True
        self._last_file_t_s = -1.0
        self._loop_offset_s = 0.0

    def _file_time_s(self, capture: Any) -> float:
        """Position of the frame just decoded; index / fps when the container has none."""
        import cv2

        index_t_s = self._file_index / self._fps
        if self._use_file_time:
            t_s = float(capture.get(cv2.CAP_PROP_POS_MSEC)) / 1000.0
            if math.isfinite(t_s) and (t_s > self._last_file_t_s or self._file_index == 0):
                self._last_file_t_s = t_s
                return t_s
            # Not increasing: this container has no usable timestamps; switch for good.
            log.info("%s: no usable frame timestamps; using index / fps", self._path)
            self._use_file_time = False
        return index_t_s

    def read(self) -> Frame | None:
        """The next frame as grey, or ``None`` at the end (of the file or of ``end_s``)."""
        while True:
            frame = self._read_any()
            if frame is None:
                return None
            if self._end_s is not None and frame.t_s >= self._end_s:
                return None
            if frame.t_s >= self._start_s:
                return frame

    def _read_any(self) -> Frame | None:
        capture = self._capture
        if capture is None:
            raise RuntimeError("VideoReplay.read() before open()")
        if self._pending_first is not None:
            image: NDArray[np.uint8] | None = self._pending_first
            self._pending_first = None
            ok = True
        else:
            ok, image = capture.read()
        if not ok or image is None:
            if not self._loop or self._file_index == 0:
                return None
            import cv2

            # The next pass starts one frame interval after the last frame of this one.
            last_t_s = self._last_file_t_s if self._use_file_time else (self._file_index - 1) / self._fps
            self._loop_offset_s += last_t_s + 1.0 / self._fps
            capture.set(cv2.CAP_PROP_POS_FRAMES, 0)
            self._file_index = 0
            self._last_file_t_s = -1.0
            self._loops += 1
            ok, image = capture.read()
            if not ok or image is None:
                return None
        t_s = self._loop_offset_s + self._file_time_s(capture)
        frame = Frame(
            index=self._index,
            t_s=t_s,
            captured_ns=time.perf_counter_ns(),
            image=to_grey(image),
        )
        self._index += 1
        self._file_index += 1
        return frame

    def close(self) -> None:
        if self._capture is not None:
            self._capture.release()
            self._capture = None


    # ------------------------------------------------------------- background
    def sample_frames(
        self, n: int, progress: ProgressFn = no_progress, step: str = "sampling frames"
    ) -> list[NDArray[np.uint8]]:
        """``n`` grey frames evenly spaced over the whole file (for a median background).

        Uses a second capture, so the ``read()`` position is not disturbed. Short gaps are
        decoded through; long ones are seeked (seeking in H.264 decodes from the previous
        key frame, so this can take tens of seconds: ``progress`` hears of each frame).
        """
        import cv2

        if n < 1:
            raise ValueError(f"n: must be >= 1, got {n}")
        capture = self._open_capture()
        try:
            count = max(0, int(capture.get(cv2.CAP_PROP_FRAME_COUNT)))
            if count <= 0:
                frames = []
                while True:
                    ok, image = capture.read()
                    if not ok or image is None:
                        break
                    frames.append(to_grey(image))
                if not frames:
                    raise ConfigError(f"{self._path}: no frame could be decoded")
                picks = np.unique(np.linspace(0, len(frames) - 1, min(n, len(frames))).round())
                return [frames[int(i)] for i in picks]
            first = min(count - 1, int(math.ceil(self._start_s * self._fps)))
            last = count - 1
            if self._end_s is not None:
                last = max(first, min(count - 1, int(math.ceil(self._end_s * self._fps)) - 1))
            span = last - first + 1
            wanted = [
                int(i) for i in np.unique(np.linspace(first, last, min(n, span)).round())
            ]
            out: list[NDArray[np.uint8]] = []
            position = 0
            progress(step, 0, len(wanted), "frames")
            for target in wanted:
                if target - position > 30:
                    capture.set(cv2.CAP_PROP_POS_FRAMES, target)
                    position = target
                while position < target:
                    if not capture.grab():
                        break
                    position += 1
                ok, image = capture.read()
                if not ok or image is None:
                    break  # the container over-reported its length
                position += 1
                out.append(to_grey(image))
                progress(step, len(out), len(wanted), "frames")
            if not out:
                raise ConfigError(f"{self._path}: no frame could be decoded")
            return out
        finally:
            capture.release()
