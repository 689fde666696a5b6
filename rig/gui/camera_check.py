"""Has the camera view moved since the calibration? (numpy only; used by the GUI.)

Compares the current frame with the calibration's reference image over the arena's bounding
box (grown by a margin): normalised cross-correlation (1 = identical structure) and mean
absolute grey-level difference. The animal covers a small part of the arena, so it barely
moves either number; a bumped camera or a moved chamber shifts every wall edge and drops the
correlation sharply.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

#: Below this correlation, or above this mean difference (grey levels), warn.
MIN_CORRELATION = 0.80
MAX_MEAN_ABS_DIFF = 25.0


@dataclass(frozen=True, slots=True)
class ViewCheck:
    correlation: float
    mean_abs_diff: float
    moved: bool

    def describe(self) -> str:
        verdict = (
            "The camera view seems to have MOVED since the calibration: re-calibrate."
            if self.moved
            else "The camera view matches the calibration."
        )
        return f"{verdict} (correlation {self.correlation:.2f}, mean difference {self.mean_abs_diff:.1f} grey levels)"


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
    a = reference[y0:y1, x0:x1].astype(np.float64)
    b = current[y0:y1, x0:x1].astype(np.float64)
    mean_abs_diff = float(np.mean(np.abs(a - b)))
    a -= a.mean()
    b -= b.mean()
    denominator = float(np.sqrt(np.sum(a * a) * np.sum(b * b)))
    correlation = float(np.sum(a * b) / denominator) if denominator > 0 else 0.0
    moved = correlation < MIN_CORRELATION or mean_abs_diff > MAX_MEAN_ABS_DIFF
    return ViewCheck(correlation, mean_abs_diff, moved)
