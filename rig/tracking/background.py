"""Background images for the tracker: per-pixel median of sampled frames.

A median of frames spread over time removes a moving animal (each pixel is covered by
the animal in fewer than half of the frames), so the background can be built with the
animal in the arena, as long as it moves.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray


def median_background(images: Sequence[NDArray[np.uint8]]) -> NDArray[np.uint8]:
    """Per-pixel median of 2-D uint8 images of one size (rounded to uint8)."""
    if len(images) == 0:
        raise ValueError("median_background needs at least one image")
    shape = images[0].shape
    for i, image in enumerate(images):
        if image.ndim != 2 or image.dtype != np.uint8 or image.shape != shape:
            raise ValueError(
                f"image {i}: expected 2-D uint8 {shape}, got {image.dtype} {image.shape}"
            )
    stack = np.stack(images, axis=0)
    # Median of uint8 in row blocks keeps the float temporaries small for large frames.
    out = np.empty(shape, dtype=np.uint8)
    rows_per_block = max(1, 2_000_000 // max(1, stack.shape[0] * shape[1]))
    for y0 in range(0, shape[0], rows_per_block):
        block = np.median(stack[:, y0 : y0 + rows_per_block], axis=0)
        out[y0 : y0 + rows_per_block] = np.clip(np.rint(block), 0, 255).astype(np.uint8)
    return out


class BackgroundModel:
    """Collects every ``every_nth`` frame offered until it holds ``n_frames``, then gives
    their median. ``add`` copies the frames it keeps (the caller may reuse buffers).
    """

    def __init__(self, n_frames: int = 60, every_nth: int = 1) -> None:
        if n_frames < 1:
            raise ValueError(f"n_frames: must be >= 1, got {n_frames}")
        if every_nth < 1:
            raise ValueError(f"every_nth: must be >= 1, got {every_nth}")
        self.n_frames = n_frames
        self.every_nth = every_nth
        self._frames: list[NDArray[np.uint8]] = []
        self._offered = 0
        self._median: NDArray[np.uint8] | None = None

    @classmethod
    def for_duration(cls, n_frames: int, duration_s: float, fps: float) -> BackgroundModel:
        """A model that spreads ``n_frames`` samples over ``duration_s`` at ``fps``."""
        every_nth = max(1, int(duration_s * fps / n_frames))
        return cls(n_frames=n_frames, every_nth=every_nth)

    @property
    def count(self) -> int:
        return len(self._frames)

    @property
    def ready(self) -> bool:
        return len(self._frames) >= self.n_frames

    def add(self, image: NDArray[np.uint8]) -> bool:
        """Offer a frame; returns True when it was kept."""
        if self.ready:
            return False
        offered = self._offered
        self._offered += 1
        if offered % self.every_nth != 0:
            return False
        if self._frames and image.shape != self._frames[0].shape:
            raise ValueError(f"frame size changed: {image.shape} vs {self._frames[0].shape}")
        self._frames.append(np.array(image, dtype=np.uint8, copy=True))
        self._median = None
        return True

    def image(self) -> NDArray[np.uint8]:
        """Median of the frames kept so far (raises ValueError when none)."""
        if self._median is None:
            self._median = median_background(self._frames)
        return self._median

    def reset(self) -> None:
        self._frames = []
        self._offered = 0
        self._median = None


def animal_visible_fraction(
    images: Sequence[NDArray[np.uint8]],
    background: NDArray[np.uint8],
    *,
    animal_dark: bool,
    threshold: int,
    min_area_px: float,
    mask: NDArray[np.uint8] | None = None,
) -> float:
    """Share of ``images`` that differ from ``background`` by an animal-sized area.

    A median background built while the animal sat still contains the animal; then the
    animal no longer stands out in the very frames the median came from. This check is
    cheap (one subtraction per sampled frame) and independent of the tracker's state.
    """
    if len(images) == 0:
        return 0.0
    visible = 0
    for image in images:
        if animal_dark:
            diff = np.subtract(background, image, dtype=np.int16)
        else:
            diff = np.subtract(image, background, dtype=np.int16)
        foreground = diff > threshold
        if mask is not None:
            foreground &= mask > 0
        if int(np.count_nonzero(foreground)) >= min_area_px:
            visible += 1
    return visible / len(images)
