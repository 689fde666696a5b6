"""Arena calibration: px <-> cm mapping, and loading/saving/rejecting calibration files."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from rig.calibration import ArenaCalibration, PixelMapper
from rig.calibration_io import (
    load_any_calibration,
    load_arena_calibration,
    load_power_calibration,
    save_arena_calibration,
)
from rig.errors import CalibrationError

REPO = Path(__file__).resolve().parents[1]

# A perspective-distorted view: the far (top) edge is shorter than the near one.
SKEWED = [(112.0, 64.0), (530.0, 80.0), (598.0, 420.0), (40.0, 396.0)]


def arena(corners: list[tuple[float, float]], width_cm: float = 50, length_cm: float = 25) -> ArenaCalibration:
    return ArenaCalibration(
        schema_version=1,
        kind="arena",
        name="test",
        camera={"width_px": 640, "height_px": 480},  # type: ignore[arg-type]
        corners_px=corners,
        width_cm=width_cm,
        length_cm=length_cm,
    )


@pytest.mark.parametrize("corners", [SKEWED, [(20, 90), (620, 90), (620, 390), (20, 390)]])
def test_corners_map_to_arena_corners(corners: list[tuple[float, float]]) -> None:
    mapper = PixelMapper(arena(corners, 50, 25))
    expected = [(0, 0), (50, 0), (50, 25), (0, 25)]
    for (x_px, y_px), (x_cm, y_cm) in zip(corners, expected, strict=True):
        got = mapper.to_cm(x_px, y_px)
        assert got == pytest.approx((x_cm, y_cm), abs=0.01)


def test_interior_points_match_opencv_perspective_transform() -> None:
    mapper = PixelMapper(arena(SKEWED, 40, 30))
    src = np.array(SKEWED, dtype=np.float32)
    dst = np.array([[0, 0], [40, 0], [40, 30], [0, 30]], dtype=np.float32)
    matrix = cv2.getPerspectiveTransform(src, dst)
    points = np.array([[[300, 240]], [[150, 120]], [[500, 380]], [[320, 100]]], dtype=np.float32)
    expected = cv2.perspectiveTransform(points, matrix).reshape(-1, 2)
    for (x_px, y_px), (x_cm, y_cm) in zip(points.reshape(-1, 2), expected, strict=True):
        assert mapper.to_cm(float(x_px), float(y_px)) == pytest.approx((x_cm, y_cm), abs=0.01)


def test_synthetic_arena_centre_and_scale() -> None:
    cal = load_arena_calibration(REPO / "calibration" / "synthetic_arena.yaml")
    mapper = PixelMapper(cal)
    assert mapper.to_cm(320, 240) == pytest.approx((25.0, 12.5), abs=1e-9)
    assert mapper.to_px(10, 5) == pytest.approx((140.0, 150.0), abs=1e-9)
    assert cal.px_per_cm == pytest.approx(12.0)


def test_round_trip_cm_px_cm() -> None:
    mapper = PixelMapper(arena(SKEWED))
    for x_cm in np.linspace(0, 50, 7):
        for y_cm in np.linspace(0, 25, 5):
            x_px, y_px = mapper.to_px(float(x_cm), float(y_cm))
            assert mapper.to_cm(x_px, y_px) == pytest.approx((x_cm, y_cm), abs=1e-6)


# ---- files -------------------------------------------------------------------------

GOOD = (REPO / "calibration" / "synthetic_arena.yaml").read_text()


def test_save_then_load_round_trip_and_never_overwrite(tmp_path: Path) -> None:
    cal = arena(SKEWED, 42.5, 21)
    path = save_arena_calibration(cal, tmp_path / "box.yaml")
    assert load_arena_calibration(path) == cal
    before = path.read_bytes()
    with pytest.raises(CalibrationError, match="already exists"):
        save_arena_calibration(arena(SKEWED, 10, 10), path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["box.yaml"]  # no temporary left behind


def test_missing_calibration_file(tmp_path: Path) -> None:
    with pytest.raises(CalibrationError, match=r"nope\.yaml: calibration file not found"):
        load_arena_calibration(tmp_path / "nope.yaml")


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "cal.yaml"
    path.write_text(text)
    return path


def test_corners_in_wrong_order_are_rejected(tmp_path: Path) -> None:
    text = GOOD.replace("  - [620, 390]\n  - [20, 390]\n", "  - [20, 390]\n  - [620, 390]\n")
    with pytest.raises(CalibrationError) as info:
        load_arena_calibration(write(tmp_path, text))
    message = str(info.value)
    assert message.startswith(f"{tmp_path / 'cal.yaml'}:14 corners_px: ")
    assert "top-left, top-right, bottom-right, bottom-left" in message


def test_mirrored_corner_order_is_rejected(tmp_path: Path) -> None:
    text = GOOD.replace(
        "  - [20, 90]\n  - [620, 90]\n  - [620, 390]\n  - [20, 390]\n",
        "  - [20, 90]\n  - [20, 390]\n  - [620, 390]\n  - [620, 90]\n",
    )
    with pytest.raises(CalibrationError, match=r"cal\.yaml:14 corners_px: corners must be in order"):
        load_arena_calibration(write(tmp_path, text))


def test_corner_outside_the_image_is_rejected(tmp_path: Path) -> None:
    text = GOOD.replace("  - [620, 90]\n", "  - [700, 90]\n")
    with pytest.raises(CalibrationError) as info:
        load_arena_calibration(write(tmp_path, text))
    assert str(info.value) == (
        f"{tmp_path / 'cal.yaml'}:16 corners_px[1]: (700, 90) is outside the 640x480 camera image"
    )


def test_unknown_key_is_rejected_with_suggestion(tmp_path: Path) -> None:
    text = GOOD.replace("width_cm: 50", "widht_cm: 50")
    with pytest.raises(CalibrationError) as info:
        load_arena_calibration(write(tmp_path, text))
    lines = str(info.value).splitlines()
    assert lines == [
        f"{tmp_path / 'cal.yaml'}:19 widht_cm: unknown field 'widht_cm' (did you mean 'width_cm'?)"
    ]


def test_corner_that_is_not_a_pair(tmp_path: Path) -> None:
    text = GOOD.replace("  - [620, 90]\n", "  - [620]\n")
    with pytest.raises(CalibrationError, match=r"cal\.yaml:16 corners_px\[1\]: expected a pair"):
        load_arena_calibration(write(tmp_path, text))


def test_power_calibration_example_and_kind_mismatch(tmp_path: Path) -> None:
    power = load_power_calibration(REPO / "calibration" / "laser_473nm_example.yaml")
    assert power.wavelength_nm == 473 and power.max_power_mw == pytest.approx(24.9)
    assert len(power.points) >= 5
    with pytest.raises(CalibrationError, match=r"kind: this is a arena calibration"):
        load_power_calibration(REPO / "calibration" / "synthetic_arena.yaml")
    with pytest.raises(CalibrationError, match=r"cal\.yaml:\d+ kind: must be one of"):
        load_any_calibration(write(tmp_path, GOOD.replace("kind: arena", "kind: lens")))


def test_power_calibration_bad_date(tmp_path: Path) -> None:
    text = (REPO / "calibration" / "laser_473nm_example.yaml").read_text()
    text = text.replace("measured_on: 2026-01-15", "measured_on: last tuesday")
    with pytest.raises(CalibrationError, match=r"cal\.yaml:\d+ measured_on: expected a date like"):
        load_power_calibration(write(tmp_path, text))
