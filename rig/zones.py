"""Zones of the place-preference chamber, in arena cm (pure, no I/O).

Coordinate convention (the only one in optorig): origin at the arena's top-left corner as
seen by the camera, x to the right, y downward, in cm.

The chamber has two compartments, ``left`` and ``right``, and a neutral band between them.
They come from the protocol: explicit rectangles (``arena.compartments``), or the arena's
width split at its middle with ``arena.neutral_band_cm`` centred on the midline. In the
split layout a position just outside the arena walls (tracking jitter at a wall) still
belongs to the compartment on its side; with explicit rectangles anything outside both
rectangles is neutral.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass

from rig.calibration import ArenaCalibration, PixelMapper
from rig.protocol.models import Arena

PointCm = tuple[float, float]


class ZoneId(enum.Enum):
    """Where the animal is: a compartment, the neutral band, or not tracked."""

    LEFT = "left"
    RIGHT = "right"
    NEUTRAL = "neutral"
    LOST = "lost"

    @classmethod
    def from_side(cls, side: str) -> ZoneId:
        return cls.LEFT if side == "left" else cls.RIGHT


@dataclass(frozen=True, slots=True)
class RectCm:
    """An axis-aligned rectangle in arena cm (edges may be infinite for locating)."""

    x_min_cm: float
    x_max_cm: float
    y_min_cm: float
    y_max_cm: float

    def contains(self, x_cm: float, y_cm: float) -> bool:
        return self.x_min_cm <= x_cm <= self.x_max_cm and self.y_min_cm <= y_cm <= self.y_max_cm

    def polygon(self) -> list[PointCm]:
        """Corners clockwise from the top-left (in image orientation)."""
        return [
            (self.x_min_cm, self.y_min_cm),
            (self.x_max_cm, self.y_min_cm),
            (self.x_max_cm, self.y_max_cm),
            (self.x_min_cm, self.y_max_cm),
        ]


@dataclass(frozen=True, slots=True)
class ZoneMap:
    """Compartment geometry of one chamber; ``locate`` maps a position to a ``ZoneId``."""

    width_cm: float
    length_cm: float
    left: RectCm
    right: RectCm
    #: Rectangles used by ``locate`` (the split layout extends them past the outer walls).
    left_locate: RectCm
    right_locate: RectCm
    split: bool

    @classmethod
    def split_middle(cls, width_cm: float, length_cm: float, neutral_band_cm: float) -> ZoneMap:
        """Halves of the arena's width with a neutral band of ``neutral_band_cm`` centred."""
        half_band = min(neutral_band_cm, width_cm) / 2.0
        middle = width_cm / 2.0
        left = RectCm(0.0, middle - half_band, 0.0, length_cm)
        right = RectCm(middle + half_band, width_cm, 0.0, length_cm)
        inf = math.inf
        return cls(
            width_cm=width_cm,
            length_cm=length_cm,
            left=left,
            right=right,
            left_locate=RectCm(-inf, middle - half_band, -inf, inf),
            right_locate=RectCm(middle + half_band, inf, -inf, inf),
            split=True,
        )

    @classmethod
    def from_protocol(cls, arena: Arena, calibration: ArenaCalibration) -> ZoneMap:
        if arena.compartments is None:
            return cls.split_middle(calibration.width_cm, calibration.length_cm, arena.neutral_band_cm)
        lr, rr = arena.compartments.left, arena.compartments.right
        left = RectCm(lr.x_min_cm, lr.x_max_cm, lr.y_min_cm, lr.y_max_cm)
        right = RectCm(rr.x_min_cm, rr.x_max_cm, rr.y_min_cm, rr.y_max_cm)
        return cls(
            width_cm=calibration.width_cm,
            length_cm=calibration.length_cm,
            left=left,
            right=right,
            left_locate=left,
            right_locate=right,
            split=False,
        )

    def locate(self, x_cm: float | None, y_cm: float | None) -> ZoneId:
        """Zone of a position in cm; ``LOST`` when there is no (finite) position."""
        if x_cm is None or y_cm is None or not (math.isfinite(x_cm) and math.isfinite(y_cm)):
            return ZoneId.LOST
        if self.left_locate.contains(x_cm, y_cm):
            return ZoneId.LEFT
        if self.right_locate.contains(x_cm, y_cm):
            return ZoneId.RIGHT
        return ZoneId.NEUTRAL

    def neutral_polygon(self) -> list[PointCm]:
        """The band between the compartments (split layout) or an empty list."""
        if not self.split:
            return []
        return RectCm(self.left.x_max_cm, self.right.x_min_cm, 0.0, self.length_cm).polygon()

    def polygons_cm(self) -> dict[ZoneId, list[PointCm]]:
        """Polygons for drawing, in cm (the neutral band only in the split layout)."""
        polygons = {ZoneId.LEFT: self.left.polygon(), ZoneId.RIGHT: self.right.polygon()}
        neutral = self.neutral_polygon()
        if neutral and self.right.x_min_cm > self.left.x_max_cm:
            polygons[ZoneId.NEUTRAL] = neutral
        return polygons

    def polygons_px(self, mapper: PixelMapper) -> dict[ZoneId, list[tuple[float, float]]]:
        """The same polygons in image pixels (for overlays)."""
        return {
            zone: [mapper.to_px(x, y) for x, y in points]
            for zone, points in self.polygons_cm().items()
        }
