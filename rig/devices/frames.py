"""Frames and the FrameSource interface shared by camera, recorded video and synthetic arena."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from types import TracebackType
from typing import Protocol

import numpy as np
from numpy.typing import NDArray


class SourceKind(enum.Enum):
    """What a frame source is (recorded in session.json ``source.kind``)."""

    CAMERA = "camera"
    VIDEO = "video"
    SYNTHETIC = "synthetic"
    #: Saved positions of a recorded session re-scored without images (``rig rescore``).
    POSITIONS = "positions"


def to_grey(image: NDArray[np.uint8]) -> NDArray[np.uint8]:
    """A grey-level view of a decoded image (BGR, BGRA, single-channel or already grey)."""
    import cv2

    if image.ndim == 2:
        return image
    if image.shape[2] == 1:
        return np.ascontiguousarray(image[:, :, 0])
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2GRAY)  # type: ignore[return-value]
    return cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)  # type: ignore[return-value]


@dataclass(frozen=True, slots=True)
class GroundTruth:
    """Where the animal really is (known only to the synthetic arena)."""

    x_px: float
    y_px: float
    x_cm: float
    y_cm: float


@dataclass(frozen=True, slots=True)
class Frame:
    """One grey-level frame.

    ``index`` counts frames the source produced (0-based, gaps mean drops upstream).
    ``t_s`` is the source's own time: seconds since the camera opened, the frame's position
    in a recorded video (so a re-score is reproducible), or index / fps for the synthetic
    arena. ``captured_ns`` is ``time.perf_counter_ns()`` when the source returned the frame
    to the host; latency is measured from it.

    A lab camera also gives its own ``cam_frame_id`` (the camera's frame counter: a gap is
    a frame the camera exposed that never reached the host) and ``cam_t_s`` (seconds on the
    camera's clock since the first frame, or arrival time when the camera has no clock);
    both are ``None`` for sources without them.
    """

    index: int
    t_s: float
    captured_ns: int
    image: NDArray[np.uint8]
    truth: GroundTruth | None = None
    cam_frame_id: int | None = None
    cam_t_s: float | None = None


class FrameSource(Protocol):
    """A source of frames. Constructors do no I/O; ``open()`` does.

    ``read()`` returns the next frame, ``None`` at the end of a finite stream, and raises
    ``rig.errors.CameraLost`` when a live camera stops delivering. Sources never sleep to
    imitate a camera: pacing is the runner's job (``is_live`` tells it whether to pace).
    """

    @property
    def name(self) -> str: ...

    @property
    def fps(self) -> float:
        """Nominal frames per second."""
        ...

    @property
    def frame_size(self) -> tuple[int, int]:
        """(width_px, height_px); valid after open()."""
        ...

    @property
    def is_live(self) -> bool:
        """True for a camera (frames arrive in real time by themselves)."""
        ...

    @property
    def kind(self) -> SourceKind:
        """Camera, recorded video or synthetic arena (for the record, not for dispatch)."""
        ...

    def open(self) -> None: ...

    def read(self) -> Frame | None: ...

    def close(self) -> None: ...

    def __enter__(self) -> FrameSource: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...
