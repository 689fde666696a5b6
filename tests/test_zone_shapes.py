"""Named polygon and circle zones: locating (edges, vertices, ties), layouts and geometry
checks with file:line errors. Each test fails on the old code, which only knew two
axis-aligned compartments (no ``arena.zones``)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from rig.errors import ProtocolError
from rig.policy import ZonePolicy
from rig.protocol.load import load_protocol
from rig.protocol.models import Arena, Decision, Phase, Safety
from rig.zones import CircleCm, PolygonCm, ZoneId, ZoneMap

REPO = Path(__file__).resolve().parents[1]
THREE = REPO / "protocols" / "three_chamber.yaml"
OPEN_FIELD = REPO / "protocols" / "open_field_inner.yaml"


def test_polygon_contains_edges_vertices_and_concave_notch() -> None:
    # An L shape (concave): the notch at the top right is outside.
    ell = PolygonCm(((0, 0), (10, 0), (10, 5), (5, 5), (5, 10), (0, 10)))
    assert ell.contains(2, 2) and ell.contains(2, 8) and ell.contains(8, 2)
    assert not ell.contains(8, 8)  # the notch
    # every vertex and points on every edge are inside (closed edges)
    for x, y in ell.points:
        assert ell.contains(x, y)
    assert ell.contains(10, 2.5) and ell.contains(7.5, 5) and ell.contains(5, 7.5)
    assert ell.contains(0, 3) and ell.contains(3, 10) and ell.contains(4, 0)
    # just outside
    assert not ell.contains(10.001, 2.5) and not ell.contains(-0.001, 3)
    assert not ell.contains(7.5, 5.001)


def test_circle_contains_rim() -> None:
    disc = CircleCm(20, 20, 10)
    assert disc.contains(20, 20)
    assert disc.contains(30, 20) and disc.contains(20, 10)
    rim = (20 + 10 * math.cos(1.0), 20 + 10 * math.sin(1.0))
    assert disc.contains(*rim)
    assert not disc.contains(30.0001, 20)


def test_three_chamber_tie_rule_first_listed_zone_wins() -> None:
    loaded = load_protocol(THREE)
    zones = ZoneMap.from_protocol(loaded.protocol.arena, loaded.calibration)
    assert zones.names == (ZoneId.LEFT, ZoneId("centre"), ZoneId.RIGHT)
    assert zones.locate(10, 12) is ZoneId.LEFT
    assert zones.locate(25, 12) is ZoneId("centre")
    assert zones.locate(40, 12) is ZoneId.RIGHT
    # on the wall between left and centre: left (listed first); centre|right: centre
    assert zones.locate(20, 12) is ZoneId.LEFT
    assert zones.locate(30, 12) is ZoneId("centre")
    # outside every zone (tracking jitter past the outer wall) is neutral
    assert zones.locate(-0.5, 12) is ZoneId.NEUTRAL
    assert zones.locate(None, 3) is ZoneId.LOST


def test_open_field_inner_zone_wins_in_the_declared_overlap() -> None:
    loaded = load_protocol(OPEN_FIELD)
    zones = ZoneMap.from_protocol(loaded.protocol.arena, loaded.calibration)
    inner, outer = ZoneId("inner"), ZoneId("outer")
    assert zones.locate(20, 20) is inner
    assert zones.locate(30, 20) is inner  # on the inner rim
    assert zones.locate(35, 20) is outer
    assert zones.locate(2, 2) is ZoneId.NEUTRAL  # corner of the square, outside the field
    assert set(zones.polygons_cm()) == {inner, outer}


def test_existing_two_compartment_protocols_keep_loading_unchanged() -> None:
    for path in sorted((REPO / "protocols").glob("*.yaml")):
        loaded = load_protocol(path)
        if loaded.protocol.arena.zones is None:
            zones = ZoneMap.from_protocol(loaded.protocol.arena, loaded.calibration)
            assert zones.names == (ZoneId.LEFT, ZoneId.RIGHT)


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "p.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def _with_zones(zones_yaml: str, extra: str = "") -> str:
    head = THREE.read_text(encoding="utf-8").split("  zones:\n")[0]
    tail = THREE.read_text(encoding="utf-8").split("  stimulated:\n")[1]
    return head + "  zones:\n" + zones_yaml + extra + "  stimulated:\n" + tail


def test_validate_zone_outside_the_arena_names_file_line_and_zone(tmp_path: Path) -> None:
    text = _with_zones(
        "    - name: left\n      shape: polygon\n      points_cm: [[0, 0], [20, 0], [20, 25], [0, 25]]\n"
        "    - name: right\n      shape: circle\n      centre_cm: [45, 12]\n      radius_cm: 8\n"
    )
    path = _write(tmp_path, text)
    with pytest.raises(ProtocolError) as err:
        load_protocol(path)
    msg = str(err.value)
    line = text.splitlines().index("    - name: right") + 1
    assert f"p.yaml:{line} arena.zones[1]" in msg
    assert "'right' reaches outside the arena" in msg


def test_validate_undeclared_overlap_is_an_error_declared_is_fine(tmp_path: Path) -> None:
    zones = (
        "    - name: left\n      shape: polygon\n      points_cm: [[0, 0], [26, 0], [26, 25], [0, 25]]\n"
        "    - name: right\n      shape: polygon\n      points_cm: [[24, 0], [50, 0], [50, 25], [24, 25]]\n"
    )
    with pytest.raises(ProtocolError, match=r"'right' overlaps zone 'left' by 50 cm2"):
        load_protocol(_write(tmp_path, _with_zones(zones)))
    loaded = load_protocol(_write(tmp_path, _with_zones(zones, "  overlaps: [[left, right]]\n")))
    assert loaded.protocol.arena.overlaps == [("left", "right")]


def test_validate_neutral_band_between_lit_and_unlit_zones(tmp_path: Path) -> None:
    zones = (
        "    - name: left\n      shape: polygon\n      points_cm: [[0, 0], [20, 0], [20, 25], [0, 25]]\n"
        "    - name: right\n      shape: polygon\n      points_cm: [[22, 0], [50, 0], [50, 25], [22, 25]]\n"
    )
    with pytest.raises(ProtocolError, match=r"'right' is 2 cm from zone 'left', less than"):
        load_protocol(_write(tmp_path, _with_zones(zones, "  min_neutral_band_cm: 4\n")))
    assert load_protocol(_write(tmp_path, _with_zones(zones, "  min_neutral_band_cm: 2\n")))


def test_validate_refuses_crossing_polygon_unknown_and_reserved_names(tmp_path: Path) -> None:
    bow = "    - name: left\n      shape: polygon\n      points_cm: [[0, 0], [20, 25], [20, 0], [0, 25]]\n"
    with pytest.raises(ProtocolError, match="edges cross"):
        load_protocol(_write(tmp_path, _with_zones(bow)))
    neutral = "    - name: neutral\n      shape: circle\n      centre_cm: [5, 5]\n      radius_cm: 2\n"
    with pytest.raises(ProtocolError, match="reserved"):
        load_protocol(_write(tmp_path, _with_zones(neutral)))
    only_left = "    - name: left\n      shape: circle\n      centre_cm: [5, 5]\n      radius_cm: 2\n"
    with pytest.raises(ProtocolError, match="stimulated_zones"):
        load_protocol(_write(tmp_path, _with_zones(only_left)))


def test_policy_three_chambers_light_only_in_the_stimulated_side() -> None:
    policy = ZonePolicy(Decision(debounce_s=0), Safety(), "left")
    policy.start_phase(Phase(name="t", duration_s=100, mode="closed_loop"), 0.0)
    centre = ZoneId("centre")
    assert policy.step(ZoneId.LEFT, 0.1).laser_on
    assert not policy.step(centre, 0.2).laser_on  # centre is a chamber, not a neutral band
    assert not policy.step(ZoneId.RIGHT, 0.3).laser_on
    assert not policy.step(ZoneId.NEUTRAL, 0.4).laser_on  # hold: last chamber was right
    policy.start_phase(Phase(name="r", duration_s=100, mode="closed_loop", swap_sides=True), 1.0)
    assert policy.step(ZoneId.RIGHT, 1.1).laser_on


def test_policy_named_light_zones_open_field() -> None:
    policy = ZonePolicy(Decision(debounce_s=0.1), Safety(), "left", frozenset({"inner"}))
    policy.start_phase(Phase(name="t", duration_s=100, mode="closed_loop"), 0.0)
    inner, outer = ZoneId("inner"), ZoneId("outer")
    assert not policy.step(inner, 0.1).laser_on
    assert policy.step(inner, 0.2).laser_on
    assert policy.step(outer, 0.3).laser_on  # debounce: one frame out is not enough
    assert not policy.step(outer, 0.4).laser_on


def test_arena_model_refuses_zones_and_compartments_together() -> None:
    with pytest.raises(ValueError, match="either `zones` or `compartments`"):
        Arena.model_validate(
            {
                "calibration": "x",
                "zones": [{"name": "left", "shape": "circle", "centre_cm": [1, 1], "radius_cm": 1},
                          {"name": "right", "shape": "circle", "centre_cm": [5, 1], "radius_cm": 1}],
                "compartments": {
                    "left": {"x_min_cm": 0, "x_max_cm": 1, "y_min_cm": 0, "y_max_cm": 1},
                    "right": {"x_min_cm": 2, "x_max_cm": 3, "y_min_cm": 0, "y_max_cm": 1},
                },
            }
        )
