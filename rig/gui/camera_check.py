"""Has the camera view moved since the calibration? (numpy + OpenCV, no Qt; used by the GUI.)

Compares the current frame with the calibration's reference image over the arena's bounding
box (grown by a margin): the normalised cross-correlation of their edge images (gradient
magnitude after a small blur; 1 = the same edges in the same places) and the mean absolute
grey-level difference, plus the translation between the two edge images estimated by phase
correlation. A bumped camera or a moved chamber shows as a shift of a few pixels (measured
directly, in px) or, for a rotation or zoom, a low edge correlation (the same view scores
~0.8 on the synthetic arena with the animal present); a lighting change moves the mean
difference.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray

#: Warn above this shift (px), below this edge correlation, or above this mean difference.
MAX_SHIFT_PX = 3.0
MIN_CORRELATION = 0.5
MAX_MEAN_ABS_DIFF = 25.0


@dataclass(frozen=True, slots=True)
class ViewCheck:
    correlation: float
    mean_abs_diff: float
    moved: bool
    shift_px: tuple[float, float] = (0.0, 0.0)

    def describe(self) -> str:
        verdict = (
            "This frame differs from the calibration's reference image: the camera or the "
            "chamber has probably been moved (or the light changed). Re-calibrate."
            if self.moved
            else "This frame matches the calibration's reference image: the camera has not moved."
        )
        dx, dy = self.shift_px
        return (
            f"{verdict} (shift {dx:+.1f}, {dy:+.1f} px; edge correlation {self.correlation:.2f}; "
            f"mean difference {self.mean_abs_diff:.1f} grey levels)"
        )


def _edges(image: NDArray[np.uint8]) -> NDArray[np.float32]:
    blurred = cv2.GaussianBlur(image, (0, 0), 2.0).astype(np.float32)
    gx = cv2.Sobel(blurred, cv2.CV_32F, 1, 0)
    gy = cv2.Sobel(blurred, cv2.CV_32F, 0, 1)
    return np.asarray(cv2.magnitude(gx, gy), dtype=np.float32)


def compare_views(
    reference: NDArray[np.uint8],
    current: NDArray[np.uint8],
    corners_px: Sequence[tuple[float, float]],
    margin_px: int = 20,
) -> ViewCheck:
    """Compare two grey images over the arena's bounding box; sizes must match."""
    if reference.shape != current.shape:
        return ViewCheck(0.0, 255.0, True)
    xs = [p[0] for p in corners_px]
    ys = [p[1] for p in corners_px]
    height, width = reference.shape[:2]
    x0, x1 = max(0, int(min(xs)) - margin_px), min(width, int(max(xs)) + margin_px)
    y0, y1 = max(0, int(min(ys)) - margin_px), min(height, int(max(ys)) + margin_px)
    mean_abs_diff = float(
        np.mean(np.abs(reference[y0:y1, x0:x1].astype(np.float64) - current[y0:y1, x0:x1]))
    )
    a = _edges(reference)[y0:y1, x0:x1].astype(np.float64)
    b = _edges(current)[y0:y1, x0:x1].astype(np.float64)
    a -= a.mean()
    b -= b.mean()
    denominator = float(np.sqrt(np.sum(a * a) * np.sum(b * b)))
    correlation = float(np.sum(a * b) / denominator) if denominator > 0 else 0.0
    (dx, dy), _response = cv2.phaseCorrelate(a.astype(np.float32), b.astype(np.float32))
    moved = (
        float(np.hypot(dx, dy)) > MAX_SHIFT_PX
        or correlation < MIN_CORRELATION
        or mean_abs_diff > MAX_MEAN_ABS_DIFF
    )
    return ViewCheck(correlation, mean_abs_diff, moved, (float(dx), float(dy)))
