"""VideoRecorder: the session's video file, encoded by PyAV on a thread of its own.

The control loop only ever calls :meth:`VideoRecorder.offer`, which never blocks and never
raises: the frame goes into a queue bounded in bytes (default 256 MB); when the encoder
cannot keep up (or has failed) the frame is dropped and counted instead. Frame rows in
frames.csv are written by the session writer whatever happens here, so a slow or broken
encoder costs video frames, never rows, and never delays the laser decision.

Codecs (``recording.codec``; docs/record-format.md):

=======  ==========  =========================================================
codec    file        use
=======  ==========  =========================================================
MJPG     video.avi   default: small CPU cost, lossy (quality 2 of 31)
FFV1     video.mkv   lossless: exactly the frames the tracker saw (re-scoring)
H264     video.mp4   near-lossless (x264 CRF 12): small files, more CPU
MP4V     video.mp4   MPEG-4 part 2, lossy
=======  ==========  =========================================================

Each frame is stamped with its session time (pts in 1/1000 s for mkv/mp4, the frame
slot ``round(t_s * fps)`` for avi), so dropped frames leave gaps in time instead of
shifting the rest of the video.

Threads: ``offer`` on the control thread; encoding on "rig-video".
"""

from __future__ import annotations

import collections
import logging
import threading
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

log = logging.getLogger(__name__)

#: Default bound of the encoder's queue (bytes of raw frames waiting).
DEFAULT_QUEUE_BYTES = 256 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class VideoCodec:
    """How one ``recording.codec`` value is written."""

    fourcc: str
    codec: str
    suffix: str
    pix_fmt: str
    options: tuple[tuple[str, str], ...] = ()
    lossless: bool = False


CODECS: dict[str, VideoCodec] = {
    "MJPG": VideoCodec("MJPG", "mjpeg", ".avi", "yuvj420p", (("q:v", "2"),)),
    "FFV1": VideoCodec("FFV1", "ffv1", ".mkv", "gray", (("level", "3"),), lossless=True),
    "H264": VideoCodec("H264", "libx264", ".mp4", "yuv420p", (("crf", "12"), ("preset", "veryfast"))),
    "MP4V": VideoCodec("MP4V", "mpeg4", ".mp4", "yuv420p", (("q:v", "3"),)),
}


def video_codec(fourcc: str) -> VideoCodec:
    """The codec for a ``recording.codec`` value (case-insensitive); KeyError if unknown."""
    return CODECS[fourcc.upper()]


@dataclass(frozen=True, slots=True)
class VideoStats:
    """What reached the video file (recorded in session.json at the end)."""

    file: str
    codec: str
    frames_offered: int
    frames_written: int
    frames_dropped: int
    failed: str | None


class VideoRecorder:
    """Encodes frames offered by the control loop; see the module docstring."""

    def __init__(
        self,
        path_stem: Path,
        fourcc: str,
        fps: float,
        *,
        max_queue_bytes: int = DEFAULT_QUEUE_BYTES,
    ) -> None:
        self.codec = video_codec(fourcc)
        self.path = path_stem.with_suffix(self.codec.suffix)
        self._fps = fps if fps > 0 else 30.0
        self._max_bytes = max_queue_bytes
        self._cond = threading.Condition()
        self._queue: collections.deque[tuple[float, NDArray[np.uint8]]] = collections.deque()
        self._queued_bytes = 0
        self._closing = False
        self._thread: threading.Thread | None = None
        self._failed: str | None = None
        self._offered = 0
        self._written = 0
        self._dropped = 0
        self._last_pts = -1

    # --- control thread ---------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="rig-video", daemon=True)
        self._thread.start()

    def offer(self, image: NDArray[np.uint8], t_s: float) -> bool:
        """Queue a frame for encoding; False (frame dropped and counted) when the queue is
        full or the encoder has failed. Never blocks, never raises."""
        with self._cond:
            self._offered += 1
            if self._failed is not None or self._closing:
                self._dropped += 1
                return False
            if self._queued_bytes + image.nbytes > self._max_bytes:
                self._dropped += 1
                return False
            self._queue.append((t_s, image))
            self._queued_bytes += image.nbytes
            self._cond.notify()
            return True

    @property
    def dropped(self) -> int:
        with self._cond:
            return self._dropped

    def stats(self) -> VideoStats:
        with self._cond:
            return VideoStats(
                self.path.name, self.codec.fourcc, self._offered, self._written, self._dropped,
                self._failed,
            )

    def close(self, timeout_s: float = 30.0) -> VideoStats:
        """Encode what is queued (up to ``timeout_s``), then finish the file. Frames still
        queued after the timeout are dropped and counted. Never raises."""
        with self._cond:
            self._closing = True
            self._cond.notify()
        thread = self._thread
        if thread is not None:
            thread.join(timeout_s)
            if thread.is_alive():
                with self._cond:
                    self._fail("the encoder did not finish in time")
                    self._dropped += len(self._queue)
                    self._queue.clear()
                    self._queued_bytes = 0
                    self._cond.notify()
                thread.join(5.0)
        return self.stats()

    # --- encoder thread ---------------------------------------------------------
    def _fail(self, message: str) -> None:
        if self._failed is None:
            self._failed = message
            log.error("video recording stopped (frames rows continue): %s", message)

    def _run(self) -> None:
        container: Any = None
        stream: Any = None
        try:
            while True:
                with self._cond:
                    while not self._queue and not self._closing:
                        self._cond.wait(0.5)
                    if not self._queue:
                        break
                    t_s, image = self._queue.popleft()
                    self._queued_bytes -= image.nbytes
                    if self._failed is not None:
                        self._dropped += 1
                        continue
                try:
                    if container is None:
                        container, stream = self._open(image)
                    self._encode(container, stream, image, t_s)
                except Exception as err:  # the encoder must never take the session down
                    with self._cond:
                        self._dropped += 1
                        self._fail(f"{type(err).__name__}: {err}")
        finally:
            if container is not None:
                try:
                    for packet in stream.encode(None):
                        container.mux(packet)
                    container.close()
                except Exception as err:
                    with self._cond:
                        self._fail(f"finishing {self.path.name}: {type(err).__name__}: {err}")
            with self._cond:
                self._dropped += len(self._queue)
                self._queue.clear()
                self._queued_bytes = 0

    def _open(self, image: NDArray[np.uint8]) -> tuple[Any, Any]:
        import av

        height, width = image.shape[:2]
        container: Any = av.open(str(self.path), mode="w")
        rate = Fraction(self._fps).limit_denominator(1001)
        stream: Any = container.add_stream(self.codec.codec, rate=rate)
        stream.width = width
        stream.height = height
        stream.pix_fmt = self.codec.pix_fmt
        stream.options = dict(self.codec.options)
        stream.codec_context.time_base = self._time_base()
        return container, stream

    def _time_base(self) -> Fraction:
        if self.codec.suffix == ".avi":
            return 1 / Fraction(self._fps).limit_denominator(1001)
        return Fraction(1, 1000)

    def _encode(self, container: Any, stream: Any, image: NDArray[np.uint8], t_s: float) -> None:
        import av

        pts = int(round(t_s / float(self._time_base())))
        if pts <= self._last_pts:
            pts = self._last_pts + 1
        self._last_pts = pts
        grey = image if image.ndim == 2 else image[:, :, 0]
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(grey), format="gray")
        if self.codec.pix_fmt != "gray":
            frame = frame.reformat(format=self.codec.pix_fmt)
        frame.pts = pts
        frame.time_base = self._time_base()
        for packet in stream.encode(frame):
            container.mux(packet)
        with self._cond:
            self._written += 1
