"""Zones of a chamber, in arena cm (pure, no I/O): rectangles, polygons and circles.

Coordinate convention (the only one in optorig): origin at the arena's top-left corner as
seen by the camera, x to the right, y downward, in cm.

Three ways a protocol describes its zones (``arena`` section):

- **split** (the default two-compartment box): the arena's width split at its middle with
  ``arena.neutral_band_cm`` centred on the midline. A position just outside the arena walls
  (tracking jitter at a wall) still belongs to the compartment on its side.
- **compartments**: explicit ``left`` and ``right`` rectangles; anything outside both is
  neutral.
- **zones**: any number of named polygons and circles (3-chamber boxes, round open fields
  with an inner zone, ...); anything outside every zone is neutral.

Tie rule (documented in docs/protocol.md): a point exactly on a zone's edge is inside that
zone (edges are closed, with a tolerance of ``EDGE_TOLERANCE_CM``); where zones share an
edge or overlap (declared in ``arena.overlaps``), the point belongs to the zone listed
first.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    from rig.calibration import ArenaCalibration, PixelMapper
    from rig.protocol.models import Arena

PointCm = tuple[float, float]

#: A point this close to a zone's edge (cm) counts as on the edge, hence inside the zone.
EDGE_TOLERANCE_CM = 1e-9

#: Vertices used to draw a circle as a polygon (drawing only; locating uses the circle).
CIRCLE_DRAW_VERTICES = 72


class ZoneId:
    """A zone's name: ``left``, ``right``, ``neutral``, ``lost`` or a named zone of the
    protocol (e.g. ``centre``, ``inner``).

    Instances are interned (``ZoneId("left") is ZoneId.LEFT``), so the control loop
    compares them with ``is`` as it did the former enum; ``.value`` is the name written to
    frames.csv.
    """

    __slots__ = ("value",)
    value: str
    _interned: ClassVar[dict[str, ZoneId]] = {}
    LEFT: ClassVar[ZoneId]
    RIGHT: ClassVar[ZoneId]
    NEUTRAL: ClassVar[ZoneId]
    LOST: ClassVar[ZoneId]

    def __new__(cls, value: str) -> ZoneId:
        existing = cls._interned.get(value)
        if existing is not None:
            return existing
        if not value:
            raise ValueError("a zone name cannot be empty")
        zone = object.__new__(cls)
        object.__setattr__(zone, "value", value)
        cls._interned[value] = zone
        return zone

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("ZoneId is immutable")

    def __reduce__(self) -> tuple[type[ZoneId], tuple[str]]:
        return (ZoneId, (self.value,))

    def __repr__(self) -> str:
        return f"ZoneId({self.value!r})"

    def __str__(self) -> str:
        return self.value

    @classmethod
    def from_side(cls, side: str) -> ZoneId:
        return cls.LEFT if side == "left" else cls.RIGHT

    @property
    def is_compartment(self) -> bool:
        """A real zone (not the neutral band, not lost tracking)."""
        return self is not ZoneId.NEUTRAL and self is not ZoneId.LOST


ZoneId.LEFT = ZoneId("left")
ZoneId.RIGHT = ZoneId("right")
ZoneId.NEUTRAL = ZoneId("neutral")
ZoneId.LOST = ZoneId("lost")

#: Names a protocol cannot give its own zones.
RESERVED_ZONE_NAMES = frozenset({"neutral", "lost"})


@dataclass(frozen=True, slots=True)
class RectCm:
    """An axis-aligned rectangle in arena cm (edges may be infinite for locating)."""

    x_min_cm: float
    x_max_cm: float
    y_min_cm: float
    y_max_cm: float

    def contains(self, x_cm: float, y_cm: float) -> bool:
        t = EDGE_TOLERANCE_CM
        return (
            self.x_min_cm - t <= x_cm <= self.x_max_cm + t
            and self.y_min_cm - t <= y_cm <= self.y_max_cm + t
        )

    def polygon(self) -> list[PointCm]:
        """Corners clockwise from the top-left (in image orientation)."""
        return [
            (self.x_min_cm, self.y_min_cm),
            (self.x_max_cm, self.y_min_cm),
            (self.x_max_cm, self.y_max_cm),
            (self.x_min_cm, self.y_max_cm),
        ]


def _on_segment(x: float, y: float, a: PointCm, b: PointCm) -> bool:
    """Whether (x, y) lies on segment a-b within ``EDGE_TOLERANCE_CM``."""
    (ax, ay), (bx, by) = a, b
    dx, dy = bx - ax, by - ay
    length_sq = dx * dx + dy * dy
    if length_sq == 0.0:
        return math.hypot(x - ax, y - ay) <= EDGE_TOLERANCE_CM
    # Projection parameter clamped to the segment, then the distance to that point.
    t = max(0.0, min(1.0, ((x - ax) * dx + (y - ay) * dy) / length_sq))
    return math.hypot(x - (ax + t * dx), y - (ay + t * dy)) <= EDGE_TOLERANCE_CM


@dataclass(frozen=True, slots=True)
class PolygonCm:
    """A simple polygon in arena cm (vertices in order, closed implicitly)."""

    points: tuple[PointCm, ...]

    def __post_init__(self) -> None:
        if len(self.points) < 3:
            raise ValueError("a polygon needs at least 3 points")

    def contains(self, x_cm: float, y_cm: float) -> bool:
        """Inside or on an edge (even-odd rule; edges closed, see the module docstring)."""
        pts = self.points
        n = len(pts)
        inside = False
        j = n - 1
        for i in range(n):
            xi, yi = pts[i]
            xj, yj = pts[j]
            if _on_segment(x_cm, y_cm, pts[j], pts[i]):
                return True
            if (yi > y_cm) != (yj > y_cm):
                x_cross = xj + (y_cm - yj) * (xi - xj) / (yi - yj)
                if x_cm < x_cross:
                    inside = not inside
            j = i
        return inside

    def polygon(self) -> list[PointCm]:
        return list(self.points)


@dataclass(frozen=True, slots=True)
class CircleCm:
    """A disc in arena cm."""

    x_cm: float
    y_cm: float
    radius_cm: float

    def contains(self, x_cm: float, y_cm: float) -> bool:
        """Inside or on the circle (the rim is closed, see the module docstring)."""
        return math.hypot(x_cm - self.x_cm, y_cm - self.y_cm) <= self.radius_cm + EDGE_TOLERANCE_CM

    def polygon(self) -> list[PointCm]:
        step = 2.0 * math.pi / CIRCLE_DRAW_VERTICES
        return [
            (self.x_cm + self.radius_cm * math.cos(i * step), self.y_cm + self.radius_cm * math.sin(i * step))
            for i in range(CIRCLE_DRAW_VERTICES)
        ]


ShapeCm = RectCm | PolygonCm | CircleCm


@dataclass(frozen=True, slots=True)
class Zone:
    """One named zone: the shape used to locate and the shape drawn (they differ only in
    the split layout, whose locate rectangles extend past the outer walls)."""

    zone: ZoneId
    locate_shape: ShapeCm
    draw_shape: ShapeCm


@dataclass(frozen=True, slots=True)
class ZoneMap:
    """Zone geometry of one chamber; ``locate`` maps a position to a ``ZoneId``."""

    width_cm: float
    length_cm: float
    #: Zones in locate order (first match wins).
    zones: tuple[Zone, ...]
    split: bool = False
    #: The split layout's neutral band (drawing only), else None.
    band: RectCm | None = None

    @classmethod
    def split_middle(cls, width_cm: float, length_cm: float, neutral_band_cm: float) -> ZoneMap:
        """Halves of the arena's width with a neutral band of ``neutral_band_cm`` centred."""
        half_band = min(neutral_band_cm, width_cm) / 2.0
        middle = width_cm / 2.0
        inf = math.inf
        left = RectCm(0.0, middle - half_band, 0.0, length_cm)
        right = RectCm(middle + half_band, width_cm, 0.0, length_cm)
        zones = (
            Zone(ZoneId.LEFT, RectCm(-inf, middle - half_band, -inf, inf), left),
            Zone(ZoneId.RIGHT, RectCm(middle + half_band, inf, -inf, inf), right),
        )
        band = RectCm(left.x_max_cm, right.x_min_cm, 0.0, length_cm) if half_band > 0 else None
        return cls(width_cm, length_cm, zones, split=True, band=band)

    @classmethod
    def from_protocol(cls, arena: Arena, calibration: ArenaCalibration) -> ZoneMap:
        return cls.from_arena(arena, calibration.width_cm, calibration.length_cm)

    @classmethod
    def from_arena(cls, arena: Arena, width_cm: float, length_cm: float) -> ZoneMap:
        """The zones an ``arena`` section describes, for an arena of the given size."""
        if arena.zones is not None:
            zones = tuple(
                Zone(ZoneId(spec.name), shape, shape)
                for spec in arena.zones
                for shape in (spec.shape_cm(),)
            )
            return cls(width_cm, length_cm, zones)
        if arena.compartments is None:
            return cls.split_middle(width_cm, length_cm, arena.neutral_band_cm)
        lr, rr = arena.compartments.left, arena.compartments.right
        left = RectCm(lr.x_min_cm, lr.x_max_cm, lr.y_min_cm, lr.y_max_cm)
        right = RectCm(rr.x_min_cm, rr.x_max_cm, rr.y_min_cm, rr.y_max_cm)
        return cls(
            width_cm, length_cm, (Zone(ZoneId.LEFT, left, left), Zone(ZoneId.RIGHT, right, right))
        )

    @property
    def names(self) -> tuple[ZoneId, ...]:
        """The named zones in locate order (without neutral and lost)."""
        return tuple(z.zone for z in self.zones)

    def locate(self, x_cm: float | None, y_cm: float | None) -> ZoneId:
        """Zone of a position in cm; ``LOST`` when there is no (finite) position."""
        if x_cm is None or y_cm is None or not (math.isfinite(x_cm) and math.isfinite(y_cm)):
            return ZoneId.LOST
        for zone in self.zones:
            if zone.locate_shape.contains(x_cm, y_cm):
                return zone.zone
        return ZoneId.NEUTRAL

    def draw_shape(self, zone: ZoneId) -> ShapeCm | None:
        for z in self.zones:
            if z.zone is zone:
                return z.draw_shape
        return None

    def neutral_polygon(self) -> list[PointCm]:
        """The band between the compartments (split layout) or an empty list."""
        return self.band.polygon() if self.band is not None else []

    def polygons_cm(self) -> dict[ZoneId, list[PointCm]]:
        """Polygons for drawing, in cm (circles as many-sided polygons; the neutral band
        only in the split layout)."""
        polygons = {z.zone: z.draw_shape.polygon() for z in self.zones}
        neutral = self.neutral_polygon()
        if neutral:
            polygons[ZoneId.NEUTRAL] = neutral
        return polygons

    def polygons_px(self, mapper: PixelMapper) -> dict[ZoneId, list[tuple[float, float]]]:
        """The same polygons in image pixels (for overlays)."""
        return {
            zone: [mapper.to_px(x, y) for x, y in points]
            for zone, points in self.polygons_cm().items()
        }

    def x_boundaries_cm(self) -> list[float]:
        """Vertical lines between left and right (for x-position plots); empty when the
        layout has no left/right rectangles."""
        left, right = self.draw_shape(ZoneId.LEFT), self.draw_shape(ZoneId.RIGHT)
        if isinstance(left, RectCm) and isinstance(right, RectCm):
            return [left.x_max_cm, right.x_min_cm]
        return []


def polygon_points(points: Sequence[Sequence[float]]) -> tuple[PointCm, ...]:
    return tuple((float(p[0]), float(p[1])) for p in points)
