"""An image to check an arena calibration by eye: the frame with the four corners, a cm
grid with labelled axes, and the compartments drawn through the calibration's mapping.

A corner clicked one wall off, or top-left and top-right swapped, shows at once as a grid
that does not follow the arena's walls. ``rig calibrate arena`` writes it beside the
calibration file; ``rig calibrate show --overlay`` writes it for an existing file.
No Qt: OpenCV drawing only.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import NDArray

from rig.calibration import ArenaCalibration, PixelMapper
from rig.zones import ZoneId, ZoneMap

#: Grid spacing candidates (cm); the first giving at most ~12 lines across the width is used.
_GRID_STEPS_CM = (1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0)
#: BGR colours: corners, grid, axes labels, compartments.
_CORNER = (0, 220, 255)
_GRID = (170, 170, 170)
_ZONE = {ZoneId.LEFT: (255, 160, 60), ZoneId.RIGHT: (60, 200, 60), ZoneId.NEUTRAL: (160, 160, 160)}
_CORNER_LABELS = ("TL", "TR", "BR", "BL")


def grid_step_cm(width_cm: float) -> float:
    """A round grid spacing giving at most about 12 lines across ``width_cm``."""
    for step in _GRID_STEPS_CM:
        if width_cm / step <= 12:
            return step
    return _GRID_STEPS_CM[-1]


def _text(image: NDArray[np.uint8], text: str, origin: tuple[int, int], colour: tuple[int, int, int],
          scale: float) -> None:
    import cv2

    thickness = max(1, int(round(scale * 2)))
    cv2.putText(image, text, origin, cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), thickness + 2,
                cv2.LINE_AA)
    cv2.putText(image, text, origin, cv2.FONT_HERSHEY_SIMPLEX, scale, colour, thickness, cv2.LINE_AA)


def draw_calibration_overlay(
    image: NDArray[np.uint8], calibration: ArenaCalibration, zones: ZoneMap | None = None
) -> NDArray[np.uint8]:
    """A BGR copy of ``image`` (grey or colour) with corners, cm grid and compartments.

    ``zones`` default: the arena split at its middle (no neutral band), as a protocol
    without ``compartments`` does.
    """
    import cv2

    converted: Any
    if image.ndim == 2:
        converted = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    elif image.shape[2] == 1:
        converted = cv2.cvtColor(image[:, :, 0], cv2.COLOR_GRAY2BGR)
    elif image.shape[2] == 4:
        converted = cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    else:
        converted = image.copy()
    out: NDArray[np.uint8] = np.ascontiguousarray(converted, dtype=np.uint8)
    mapper = PixelMapper(calibration)
    zones = zones or ZoneMap.split_middle(calibration.width_cm, calibration.length_cm, 0.0)
    height_px = out.shape[0]
    scale = max(0.35, height_px / 900.0)
    line = max(1, int(round(height_px / 400.0)))

    def px(points: list[tuple[float, float]]) -> NDArray[np.int32]:
        return np.asarray([[round(x), round(y)] for x, y in points], dtype=np.int32)

    # Compartments (filled, translucent) under everything else.
    fill = out.copy()
    for zone, polygon in zones.polygons_px(mapper).items():
        cv2.fillPoly(fill, [px(polygon)], _ZONE[zone])
    out = np.asarray(cv2.addWeighted(fill, 0.25, out, 0.75, 0.0), dtype=np.uint8)
    for zone, polygon in zones.polygons_px(mapper).items():
        cv2.polylines(out, [px(polygon)], True, _ZONE[zone], line, cv2.LINE_AA)
        cx = sum(p[0] for p in polygon) / len(polygon)
        cy = sum(p[1] for p in polygon) / len(polygon)
        _text(out, zone.value, (int(cx) - int(30 * scale), int(cy)), _ZONE[zone], scale)

    # cm grid through the mapping, labelled along the top (x) and left (y) walls.
    step = grid_step_cm(max(calibration.width_cm, calibration.length_cm))
    n_x = int(math.floor(calibration.width_cm / step + 1e-9))
    n_y = int(math.floor(calibration.length_cm / step + 1e-9))
    for i in range(n_x + 1):
        x_cm = i * step
        a, b = mapper.to_px(x_cm, 0.0), mapper.to_px(x_cm, calibration.length_cm)
        cv2.line(out, (round(a[0]), round(a[1])), (round(b[0]), round(b[1])), _GRID, 1, cv2.LINE_AA)
        _text(out, f"{x_cm:g}", (round(a[0]) + 2, round(a[1]) - 4), _GRID, scale * 0.8)
    for j in range(n_y + 1):
        y_cm = j * step
        a, b = mapper.to_px(0.0, y_cm), mapper.to_px(calibration.width_cm, y_cm)
        cv2.line(out, (round(a[0]), round(a[1])), (round(b[0]), round(b[1])), _GRID, 1, cv2.LINE_AA)
        if j > 0:
            _text(out, f"{y_cm:g}", (round(a[0]) + 3, round(a[1]) - 3), _GRID, scale * 0.8)

    # The clicked corners, on top.
    cv2.polylines(out, [px(list(calibration.corners_px))], True, _CORNER, line, cv2.LINE_AA)
    cx = sum(p[0] for p in calibration.corners_px) / 4
    cy = sum(p[1] for p in calibration.corners_px) / 4
    for label, (x, y) in zip(_CORNER_LABELS, calibration.corners_px, strict=True):
        cv2.circle(out, (round(x), round(y)), 3 * line + 2, _CORNER, line, cv2.LINE_AA)
        # Label outside the arena (away from its centre), clear of the grid labels.
        dx = -int(34 * scale) if x < cx else int(8 * scale)
        dy = -int(8 * scale) if y < cy else int(26 * scale)
        _text(out, label, (round(x) + dx, round(y) + dy), _CORNER, scale)
    title = (f"{calibration.name}: {calibration.width_cm:g} x {calibration.length_cm:g} cm, "
             f"{calibration.px_per_cm:.2f} px/cm, grid {step:g} cm (x along the top, y down the left)")
    _text(out, title, (6, out.shape[0] - 8), (255, 255, 255), scale * 0.8)
    return out


def write_calibration_overlay(
    image: NDArray[np.uint8], calibration: ArenaCalibration, path: str, zones: ZoneMap | None = None
) -> None:
    """Draw and write the overlay PNG to ``path`` (OSError when it cannot be written)."""
    import cv2

    if not cv2.imwrite(path, draw_calibration_overlay(image, calibration, zones)):
        raise OSError(f"{path}: could not write the overlay image")
