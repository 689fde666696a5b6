from __future__ import annotations

from rig.calibration import ArenaCalibration, PixelMapper
from rig.protocol.models import Arena, Compartments, Rect
from rig.zones import ZoneId, ZoneMap


def _calibration() -> ArenaCalibration:
    return ArenaCalibration(
        schema_version=1,
        kind="arena",
        name="test",
        camera={"width_px": 640, "height_px": 480},
        corners_px=[(20, 90), (620, 90), (620, 390), (20, 390)],
        width_cm=50,
        length_cm=25,
    )


def test_split_middle_with_neutral_band() -> None:
    zones = ZoneMap.from_protocol(Arena(calibration="x", neutral_band_cm=4), _calibration())
    assert zones.locate(10, 10) is ZoneId.LEFT
    assert zones.locate(22.9, 10) is ZoneId.LEFT
    assert zones.locate(23.5, 10) is ZoneId.NEUTRAL
    assert zones.locate(26.9, 24) is ZoneId.NEUTRAL
    assert zones.locate(27.1, 1) is ZoneId.RIGHT
    # jitter just outside the outer walls still belongs to the compartment on that side
    assert zones.locate(-0.5, 10) is ZoneId.LEFT
    assert zones.locate(50.5, -0.3) is ZoneId.RIGHT
    assert zones.locate(None, None) is ZoneId.LOST
    assert zones.locate(float("nan"), 3.0) is ZoneId.LOST


def test_zero_neutral_band_has_no_neutral_polygon() -> None:
    zones = ZoneMap.from_protocol(Arena(calibration="x", neutral_band_cm=0), _calibration())
    assert zones.locate(24.99, 3) is ZoneId.LEFT
    assert zones.locate(25.01, 3) is ZoneId.RIGHT
    assert set(zones.polygons_cm()) == {ZoneId.LEFT, ZoneId.RIGHT}


def test_explicit_compartments_outside_is_neutral() -> None:
    arena = Arena(
        calibration="x",
        compartments=Compartments(
            left=Rect(x_min_cm=0, x_max_cm=20, y_min_cm=0, y_max_cm=25),
            right=Rect(x_min_cm=30, x_max_cm=50, y_min_cm=0, y_max_cm=25),
        ),
    )
    zones = ZoneMap.from_protocol(arena, _calibration())
    assert zones.locate(5, 5) is ZoneId.LEFT
    assert zones.locate(25, 5) is ZoneId.NEUTRAL
    assert zones.locate(40, 5) is ZoneId.RIGHT
    assert zones.locate(-1, 5) is ZoneId.NEUTRAL


def test_polygons_in_cm_and_px() -> None:
    calibration = _calibration()
    zones = ZoneMap.from_protocol(Arena(calibration="x", neutral_band_cm=4), calibration)
    polygons = zones.polygons_cm()
    assert polygons[ZoneId.LEFT] == [(0.0, 0.0), (23.0, 0.0), (23.0, 25.0), (0.0, 25.0)]
    assert polygons[ZoneId.NEUTRAL][0] == (23.0, 0.0)
    px = zones.polygons_px(PixelMapper(calibration))
    x0, y0 = px[ZoneId.LEFT][0]
    assert abs(x0 - 20) < 1e-6 and abs(y0 - 90) < 1e-6
    x1, y1 = px[ZoneId.RIGHT][2]
    assert abs(x1 - 620) < 1e-6 and abs(y1 - 390) < 1e-6
