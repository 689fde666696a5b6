"""Calibration files: what the camera sees (arena) and what the laser delivers (power).

Arena calibration: the image points of the arena's four corners (top-left, top-right,
bottom-right, bottom-left as seen in the image), the arena's real width (x, along the
top edge) and length (y, along the left edge) in cm and the camera resolution. They give
a pixel -> cm homography; the arena's top-left corner is (0, 0) cm, x to the right,
y downward.

Laser power calibration: a table of driver setting -> measured mW at the fibre tip.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field, model_validator

Point = tuple[float, float]


class _Model(BaseModel):
    model_config = ConfigDict(
        frozen=True, extra="forbid", validate_default=True, allow_inf_nan=False
    )


class CameraResolution(_Model):
    """The camera image size the corners were set on."""

    width_px: int = Field(gt=0, le=10000, description="Image width the calibration was made at.")
    height_px: int = Field(gt=0, le=10000, description="Image height.")


def _polygon_area(points: list[Point]) -> float:
    """Signed shoelace area (positive for clockwise in image coordinates, y down)."""
    area = 0.0
    for (x0, y0), (x1, y1) in zip(points, points[1:] + points[:1], strict=True):
        area += x0 * y1 - x1 * y0
    return area / 2.0


def _is_convex(points: list[Point]) -> bool:
    signs = []
    n = len(points)
    for i in range(n):
        (x0, y0), (x1, y1), (x2, y2) = points[i], points[(i + 1) % n], points[(i + 2) % n]
        cross = (x1 - x0) * (y2 - y1) - (y1 - y0) * (x2 - x1)
        signs.append(cross > 0)
    return all(signs) or not any(signs)


def homography(src: NDArray[np.float64], dst: NDArray[np.float64]) -> NDArray[np.float64]:
    """3x3 projective transform mapping 4 ``src`` points onto 4 ``dst`` points (DLT, numpy)."""
    rows = []
    rhs = []
    for (x, y), (u, v) in zip(src, dst, strict=True):
        rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        rows.append([0, 0, 0, x, y, 1, -v * x, -v * y])
        rhs.extend([u, v])
    h = np.linalg.solve(np.asarray(rows, dtype=np.float64), np.asarray(rhs, dtype=np.float64))
    return np.append(h, 1.0).reshape(3, 3)


class ArenaCalibration(_Model):
    """Pixel <-> cm mapping of one camera view of one chamber."""

    schema_version: Literal[1] = Field(description="Format version; must be 1.")
    kind: Literal["arena"] = Field(description="Always `arena`.")
    name: str = Field(min_length=1, description="Name of this camera/chamber set-up.")
    camera: CameraResolution
    corners_px: Annotated[list[Point], Field(min_length=4, max_length=4)] = Field(
        description="Image points (x_px, y_px) of the arena corners: top-left, top-right, "
        "bottom-right, bottom-left."
    )
    width_cm: float = Field(gt=0, le=1000, description="Real arena width (left to right wall).")
    length_cm: float = Field(gt=0, le=1000, description="Real arena length (top to bottom wall).")
    mask_px: list[Point] | None = Field(
        None,
        description="Optional polygon (image points) where the animal can be; default: the "
        "corner quadrilateral.",
    )
    measured_on: dt.date | None = Field(None, description="Date the corners were set.")
    reference_image: str | None = Field(
        None,
        description="Image the corners were clicked on (beside this file); used to warn when "
        "the camera has moved.",
    )

    @model_validator(mode="after")
    def _geometry(self) -> ArenaCalibration:
        w, h = self.camera.width_px, self.camera.height_px
        for i, (x, y) in enumerate(self.corners_px):
            if not (0 <= x <= w and 0 <= y <= h):
                raise ValueError(
                    f"corners_px[{i}]: ({x:g}, {y:g}) is outside the {w}x{h} camera image"
                )
        corners = list(self.corners_px)
        if not _is_convex(corners) or _polygon_area(corners) < 0:
            raise ValueError(
                "corners_px: corners must be in order top-left, top-right, bottom-right, "
                "bottom-left (clockwise in the image) and form a convex quadrilateral"
            )
        if abs(_polygon_area(corners)) < 100:
            raise ValueError("corners_px: the four corners enclose (almost) no area")
        if self.mask_px is not None and len(self.mask_px) < 3:
            raise ValueError("mask_px: a mask polygon needs at least 3 points")
        return self

    # Cached derived matrices: computed on first use (the model is frozen, so cache by id).
    def px_to_cm_matrix(self) -> NDArray[np.float64]:
        dst = np.array(
            [[0, 0], [self.width_cm, 0], [self.width_cm, self.length_cm], [0, self.length_cm]],
            dtype=np.float64,
        )
        return homography(np.asarray(self.corners_px, dtype=np.float64), dst)

    def cm_to_px_matrix(self) -> NDArray[np.float64]:
        return np.asarray(np.linalg.inv(self.px_to_cm_matrix()), dtype=np.float64)

    @property
    def px_per_cm(self) -> float:
        """Mean scale along the arena's edges (for converting areas and lengths)."""
        c = np.asarray(self.corners_px, dtype=np.float64)
        top = np.linalg.norm(c[1] - c[0])
        bottom = np.linalg.norm(c[2] - c[3])
        left = np.linalg.norm(c[3] - c[0])
        right = np.linalg.norm(c[2] - c[1])
        return float(((top + bottom) / self.width_cm + (left + right) / self.length_cm) / 4)

    def mask_polygon_px(self) -> list[Point]:
        return list(self.mask_px) if self.mask_px is not None else list(self.corners_px)


class PixelMapper:
    """Fast pixel <-> cm conversion for one calibration (matrices computed once)."""

    def __init__(self, calibration: ArenaCalibration) -> None:
        self.calibration = calibration
        self._to_cm = calibration.px_to_cm_matrix()
        self._to_px = np.asarray(np.linalg.inv(self._to_cm), dtype=np.float64)
        self.px_per_cm = calibration.px_per_cm

    @staticmethod
    def _apply(m: NDArray[np.float64], x: float, y: float) -> Point:
        w = m[2, 0] * x + m[2, 1] * y + m[2, 2]
        return (
            float((m[0, 0] * x + m[0, 1] * y + m[0, 2]) / w),
            float((m[1, 0] * x + m[1, 1] * y + m[1, 2]) / w),
        )

    def to_cm(self, x_px: float, y_px: float) -> Point:
        return self._apply(self._to_cm, x_px, y_px)

    def to_px(self, x_cm: float, y_cm: float) -> Point:
        return self._apply(self._to_px, x_cm, y_cm)

    def area_cm2_to_px(self, area_cm2: float) -> float:
        return area_cm2 * self.px_per_cm**2

    def length_cm_to_px(self, length_cm: float) -> float:
        return length_cm * self.px_per_cm


class PowerPoint(_Model):
    """One measurement: a driver setting and the power it gave at the fibre tip."""

    setting: str = Field(
        min_length=1,
        description="Driver setting or TTL mode, e.g. `knob 40%`, `analog 2.5 V`, `ttl continuous`.",
    )
    power_mw: float = Field(ge=0, description="Power measured at the fibre tip.")


class LaserPowerCalibration(_Model):
    """Measured laser power at the fibre tip for each driver setting."""

    schema_version: Literal[1] = Field(description="Format version; must be 1.")
    kind: Literal["laser_power"] = Field(description="Always `laser_power`.")
    laser: str = Field(min_length=1, description="Laser model / serial.")
    wavelength_nm: float = Field(gt=200, lt=1200, description="Laser wavelength.")
    fibre: str = Field("", description="Patch cord and implant (core diameter, NA).")
    meter: str = Field(min_length=1, description="Power meter and sensor used.")
    measured_on: dt.date = Field(description="Date of the measurement.")
    points: list[PowerPoint] = Field(min_length=1, description="Measured settings.")

    @property
    def max_power_mw(self) -> float:
        return max(p.power_mw for p in self.points)
