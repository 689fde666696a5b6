"""Geometry checks of a protocol's named zones (``rig validate`` and protocol loading).

Shapely does the polygon arithmetic (validity, intersection areas, distances); this module
only turns its answers into messages people can act on. The checks:

- a polygon is simple (its edges do not cross) and encloses an area;
- every zone lies inside the arena (0..width x 0..length cm, from the calibration);
- two zones overlap (share more than an edge) only when the pair is in ``arena.overlaps``;
- a zone that gets light and one that does not are at least ``arena.min_neutral_band_cm``
  apart (the neutral band between them), unless their overlap is declared.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from shapely.geometry import Point, Polygon, box
from shapely.geometry.base import BaseGeometry
from shapely.validation import explain_validity

if TYPE_CHECKING:
    from rig.protocol.models import Arena, ZoneSpec

#: Areas smaller than this (cm2) are edges touching, not overlaps.
OVERLAP_TOLERANCE_CM2 = 1e-6
#: Distances this close (cm) to a limit pass (floating point).
TOLERANCE_CM = 1e-6


@dataclass(frozen=True, slots=True)
class GeometryIssue:
    """One problem: the field path inside the protocol file and the reason."""

    loc: tuple[str | int, ...]
    message: str


def polygon_problem(points: Sequence[tuple[float, float]]) -> str:
    """Why ``points`` is not a usable zone polygon, or '' when it is."""
    poly = Polygon(points)
    if not poly.is_valid:
        return f"the polygon's edges cross or touch ({explain_validity(poly)})"
    if poly.area <= OVERLAP_TOLERANCE_CM2:
        return "the polygon encloses no area"
    return ""


def _geometry(spec: ZoneSpec) -> BaseGeometry:
    if spec.points_cm is not None:
        return Polygon(spec.points_cm)
    assert spec.centre_cm is not None and spec.radius_cm is not None
    # 256 segments: the area error is < 0.01 %, far below any meaningful overlap.
    return Point(spec.centre_cm).buffer(spec.radius_cm, quad_segs=64)


def check_zones(arena: Arena, width_cm: float, length_cm: float) -> list[GeometryIssue]:
    """Every geometry problem of ``arena.zones`` in an arena of the given size."""
    if arena.zones is None:
        return []
    issues: list[GeometryIssue] = []
    outline = box(0.0, 0.0, width_cm, length_cm)
    size = f"the arena is {width_cm:g} cm wide x {length_cm:g} cm long"
    shapes = [_geometry(z) for z in arena.zones]
    for i, (spec, shape) in enumerate(zip(arena.zones, shapes, strict=True)):
        outside = shape.difference(outline).area
        if outside > OVERLAP_TOLERANCE_CM2:
            minx, miny, maxx, maxy = shape.bounds
            issues.append(
                GeometryIssue(
                    ("arena", "zones", i),
                    f"zone {spec.name!r} reaches outside the arena ({outside:.3g} cm2 outside; "
                    f"it spans x {minx:g} to {maxx:g} cm, y {miny:g} to {maxy:g} cm): {size}",
                )
            )
    declared = {frozenset(pair) for pair in arena.overlaps}
    # Either side may be lit (counterbalancing, reversal phases): check both assignments.
    lit_sets = [arena.light_zones("left"), arena.light_zones("right")]
    for i in range(len(shapes)):
        for j in range(i + 1, len(shapes)):
            a, b = arena.zones[i].name, arena.zones[j].name
            pair_declared = frozenset((a, b)) in declared
            shared = shapes[i].intersection(shapes[j]).area
            if shared > OVERLAP_TOLERANCE_CM2 and not pair_declared:
                issues.append(
                    GeometryIssue(
                        ("arena", "zones", j),
                        f"zone {b!r} overlaps zone {a!r} by {shared:.3g} cm2; list "
                        f"[{a}, {b}] under arena.overlaps if that is intended (a point in "
                        f"both belongs to {a!r}, listed first)",
                    )
                )
                continue
            band = arena.min_neutral_band_cm
            if band > 0 and not pair_declared and any(
                (a in lit) != (b in lit) for lit in lit_sets
            ):
                gap = shapes[i].distance(shapes[j])
                if gap < band - TOLERANCE_CM:
                    issues.append(
                        GeometryIssue(
                            ("arena", "zones", j),
                            f"zone {b!r} is {gap:.3g} cm from zone {a!r}, less than "
                            f"arena.min_neutral_band_cm ({band:g} cm) between a zone that gets "
                            "light and one that does not",
                        )
                    )
    return issues


def neutral_area_cm2(arena: Arena, width_cm: float, length_cm: float) -> float:
    """Area of the arena outside every zone (the neutral space), for the summary."""
    if arena.zones is None:
        return 0.0
    outline = box(0.0, 0.0, width_cm, length_cm)
    covered = outline.intersection(_union([_geometry(z) for z in arena.zones]))
    return float(outline.area - covered.area)


def _union(shapes: list[BaseGeometry]) -> BaseGeometry:
    from shapely import union_all

    return union_all(shapes)
