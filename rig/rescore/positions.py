"""Feed known positions (from frames.csv or imported pose tracks) through the engine.

The engine is unchanged: ``PositionsSource`` is a ``FrameSource`` that yields one frame per
known position, with the original frame index and time; ``PositionTracker`` is the
``TrackerLike`` that "finds" the known position instead of tracking pixels. Everything after
the tracker (pixel -> cm mapping, zones, decision rules, safety limits, the record) is the
same code as a live session or ``rig replay``.

Why the row number travels inside the image: ``TrackerLike.track`` receives only the image,
and the acquisition thread may read ahead of the control loop, so a shared "current row"
would race. Each placeholder image carries its row number in its first 8 pixels (the image
is otherwise black and never saved: ``recording.save_video`` is forced off in this mode).
``np.zeros`` maps untouched pages lazily, so a full-size placeholder costs one page.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from rig.devices.frames import Frame, SourceKind
from rig.progress import ProgressFn, no_progress
from rig.devices.lifecycle import OpenedByWith
from rig.tracking.detect import TrackResult

_ROW_BYTES = 8


@dataclass(frozen=True)
class KnownPositions:
    """Positions on a session's frames, in image pixels (NaN = not found)."""

    frame: NDArray[np.int64]  # source frame index of each row
    t_s: NDArray[np.float64]  # session time of each row (the original frames.csv t_s)
    x_px: NDArray[np.float64]
    y_px: NDArray[np.float64]
    found: NDArray[np.bool_]

    def __post_init__(self) -> None:
        n = self.frame.size
        if not (self.t_s.size == self.x_px.size == self.y_px.size == self.found.size == n):
            raise ValueError("KnownPositions: all columns must have the same length")

    def __len__(self) -> int:
        return int(self.frame.size)


def _encode_row(image: NDArray[np.uint8], row: int) -> None:
    image.reshape(-1)[:_ROW_BYTES] = np.frombuffer(row.to_bytes(_ROW_BYTES, "little"), np.uint8)


def _decode_row(image: NDArray[np.uint8]) -> int:
    return int.from_bytes(image.reshape(-1)[:_ROW_BYTES].tobytes(), "little")


class PositionsSource(OpenedByWith):
    """A finite, non-live frame source over ``KnownPositions`` (see the module docstring)."""

    def __init__(
        self, positions: KnownPositions, frame_size: tuple[int, int], fps: float, name: str
    ) -> None:
        if len(positions) == 0:
            raise ValueError(f"{name}: no positions to replay")
        self._positions = positions
        self._size = (int(frame_size[0]), int(frame_size[1]))
        self._fps = float(fps) if fps and math.isfinite(fps) and fps > 0 else 30.0
        self._name = name
        self._row = 0
        self._opened = False

    @property
    def name(self) -> str:
        return self._name

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
        return SourceKind.POSITIONS

    def open(self) -> None:
        self._row = 0
        self._opened = True

    def close(self) -> None:
        self._opened = False

    def _placeholder(self, row: int) -> NDArray[np.uint8]:
        width, height = self._size
        image = np.zeros((height, width), dtype=np.uint8)
        _encode_row(image, row)
        return image

    def read(self) -> Frame | None:
        if not self._opened:
            raise RuntimeError("PositionsSource.read() before open()")
        row = self._row
        if row >= len(self._positions):
            return None
        self._row += 1
        return Frame(
            index=int(self._positions.frame[row]),
            t_s=float(self._positions.t_s[row]),
            captured_ns=time.perf_counter_ns(),
            image=self._placeholder(row),
        )

    def sample_frames(
        self, n: int, progress: ProgressFn = no_progress, step: str = "sampling frames"
    ) -> list[NDArray[np.uint8]]:
        """For a median background: a few placeholders; nothing is consumed (the tracker
        ignores the background)."""
        return [self._placeholder(0) for _ in range(min(max(n, 1), 3))]


class PositionTracker:
    """``TrackerLike`` that returns the known position of the frame it is given."""

    def __init__(self, positions: KnownPositions) -> None:
        self._positions = positions

    def set_background(self, image: NDArray[np.uint8]) -> None:
        """Known positions need no background."""

    def reset(self) -> None:
        """Stateless."""

    def track(self, image: NDArray[np.uint8]) -> TrackResult:
        row = _decode_row(image)
        if not 0 <= row < len(self._positions):
            raise RuntimeError(f"position tracker: frame carries no valid row ({row})")
        if not self._positions.found[row]:
            return TrackResult.lost("no_blob")
        x_px = float(self._positions.x_px[row])
        y_px = float(self._positions.y_px[row])
        if not (math.isfinite(x_px) and math.isfinite(y_px)):
            return TrackResult.lost("no_blob")
        return TrackResult(True, x_px, y_px, 0.0)


class RecordedVideoSource(OpenedByWith):
    """A session's own ``video.avi`` with each frame given back its original frame index
    and time from frames.csv.

    Why: the writer saves every processed frame in order, but a live camera's frames carry
    capture times (and index gaps where frames were dropped) that the video file, played at
    its nominal rate, does not know. Row *i* of frames.csv is video frame *i*; a video
    longer than the record stops at the record's last row.
    """

    def __init__(self, path: Path, frame: NDArray[np.int64], t_s: NDArray[np.float64]) -> None:
        from rig.devices.video_replay import VideoReplay

        if frame.size != t_s.size or frame.size == 0:
            raise ValueError(f"{path}: frames.csv gives no frames to align the video with")
        self._video = VideoReplay(path)
        self._frame = frame
        self._t_s = t_s
        self._row = 0

    @property
    def name(self) -> str:
        return self._video.name

    @property
    def fps(self) -> float:
        return self._video.fps

    @property
    def frame_size(self) -> tuple[int, int]:
        return self._video.frame_size

    @property
    def is_live(self) -> bool:
        return False

    @property
    def kind(self) -> SourceKind:
        return SourceKind.VIDEO

    @property
    def frame_count(self) -> int:
        return self._video.frame_count

    def open(self) -> None:
        self._video.open()
        self._row = 0

    def close(self) -> None:
        self._video.close()

    def read(self) -> Frame | None:
        if self._row >= self._frame.size:
            return None
        frame = self._video.read()
        if frame is None:
            return None
        row = self._row
        self._row += 1
        return Frame(
            index=int(self._frame[row]),
            t_s=float(self._t_s[row]),
            captured_ns=frame.captured_ns,
            image=frame.image,
        )

    def sample_frames(
        self, n: int, progress: ProgressFn = no_progress, step: str = "sampling frames"
    ) -> list[NDArray[np.uint8]]:
        return self._video.sample_frames(n, progress, step)
