"""Tracker unit tests on hand-made images (positions known exactly)."""

from __future__ import annotations

import dataclasses
import math

import cv2
import numpy as np
import pytest

from rig.calibration import PixelMapper
from rig.devices.synthetic import synthetic_calibration
from rig.protocol.models import Tracking
from rig.tracking.detect import Tracker, TrackerSettings, TrackResult, arena_mask

FLOOR = 200
W, H = 320, 240


def settings(**changes: object) -> TrackerSettings:
    base = TrackerSettings(
        animal_dark=True,
        threshold=None,
        min_area_px=100,
        max_area_px=5000,
        max_jump_px=30,
        open_kernel_px=5,
        blur_px=3,
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def floor() -> np.ndarray:
    return np.full((H, W), FLOOR, dtype=np.uint8)


def with_animal(x: float, y: float, grey: int = 40, axes: tuple[int, int] = (20, 9)) -> np.ndarray:
    image = floor()
    cv2.ellipse(image, (int(x * 16), int(y * 16)), (axes[0] * 16, axes[1] * 16), 30, 0, 360,
                grey, -1, cv2.LINE_AA, 4)
    return image


def tracker(**changes: object) -> Tracker:
    t = Tracker(settings(**changes))
    t.set_background(floor())
    return t


def test_finds_the_animal_centre() -> None:
    image = with_animal(100.5, 120.25)
    result = tracker().track(image)
    assert result.found and result.reason == ""
    assert math.hypot(result.x_px - 100.5, result.y_px - 120.25) < 0.5
    assert result.area_px == pytest.approx(np.count_nonzero(image < 120), rel=0.05)
    assert result.contour is not None and result.contour.dtype == np.int32
    assert result.contour.ndim == 3 and result.contour.shape[1:] == (1, 2)


def test_no_background_is_reported_not_invented() -> None:
    result = Tracker(settings()).track(with_animal(50, 50))
    assert not result.found and result.reason == "no_background"
    assert math.isnan(result.x_px) and math.isnan(result.y_px) and result.area_px == 0
    assert result.contour is None
    assert isinstance(result, TrackResult)


@pytest.mark.parametrize("threshold", [None, 30])
def test_empty_arena_gives_no_blob(threshold: int | None) -> None:
    rng = np.random.default_rng(1)
    noisy = np.clip(floor() + rng.normal(0, 3, (H, W)), 0, 255).astype(np.uint8)
    result = tracker(threshold=threshold).track(noisy)
    assert not result.found and result.reason == "no_blob"
    assert math.isnan(result.x_px) and math.isnan(result.y_px) and result.area_px == 0


def test_too_small_and_too_large() -> None:
    small = tracker(min_area_px=1000).track(with_animal(100, 100))
    assert not small.found and small.reason == "too_small" and small.area_px > 0
    assert math.isnan(small.x_px)
    large = tracker(max_area_px=200).track(with_animal(100, 100))
    assert not large.found and large.reason == "too_large"


def test_light_animal_on_dark_floor() -> None:
    t = Tracker(settings(animal_dark=False))
    t.set_background(np.full((H, W), 40, np.uint8))
    image = np.full((H, W), 40, np.uint8)
    cv2.circle(image, (200, 60), 12, 220, -1)
    result = t.track(image)
    assert result.found and math.hypot(result.x_px - 200, result.y_px - 60) < 0.5
    # A dark object is not a light animal.
    dark = np.full((H, W), 40, np.uint8)
    cv2.circle(dark, (200, 60), 12, 0, -1)
    assert not t.track(dark).found


def test_mask_ignores_everything_outside_the_arena() -> None:
    mask = np.zeros((H, W), np.uint8)
    mask[40:200, 60:260] = 255
    t = Tracker(settings(), mask=mask)
    t.set_background(floor())
    outside = with_animal(30, 20)  # a hand at the image corner
    assert t.track(outside).reason == "no_blob"
    inside = with_animal(150, 120)
    result = t.track(inside)
    assert result.found and math.hypot(result.x_px - 150, result.y_px - 120) < 0.5
    # Contour coordinates are in the full image.
    assert result.contour is not None
    assert 120 < result.contour[:, 0, 0].mean() < 180


def test_thin_tether_is_erased_but_tail_does_not_bias_centre() -> None:
    image = with_animal(150, 120)
    cv2.line(image, (150, 120), (150, 0), 50, 2)  # tether to the image edge
    cv2.line(image, (130, 110), (80, 90), 45, 3)  # a tail behind the body
    result = tracker().track(image)
    assert result.found
    assert math.hypot(result.x_px - 150, result.y_px - 120) < 1.5


def test_lighting_change_is_compensated() -> None:
    image = with_animal(150, 120).astype(np.int16) - 30  # lamp dims by 30 grey levels
    result = tracker(threshold=20).track(np.clip(image, 0, 255).astype(np.uint8))
    assert result.found and math.hypot(result.x_px - 150, result.y_px - 120) < 0.5
    uncompensated = tracker(threshold=20, compensate_lighting=False)
    assert uncompensated.track(np.clip(image, 0, 255).astype(np.uint8)).reason == "too_large"


def test_jump_is_rejected_then_accepted_when_it_persists() -> None:
    t = tracker(max_jump_px=30, jump_confirm_frames=3)
    assert t.track(with_animal(80, 120)).found
    far = with_animal(240, 120)
    first = t.track(far)
    assert not first.found and first.reason == "jump" and math.isnan(first.x_px)
    assert t.track(far).reason == "jump"
    third = t.track(far)  # the third consistent frame re-locks
    assert third.found and abs(third.x_px - 240) < 1
    assert t.track(with_animal(245, 122)).found


def test_single_frame_glitch_is_dropped_and_tracking_continues() -> None:
    t = tracker(max_jump_px=30)
    assert t.track(with_animal(80, 120)).found
    assert t.track(with_animal(250, 40)).reason == "jump"
    back = t.track(with_animal(85, 120))
    assert back.found and abs(back.x_px - 85) < 1


def test_allowed_jump_grows_while_the_animal_is_lost() -> None:
    t = tracker(max_jump_px=30)
    assert t.track(with_animal(80, 120)).found
    for _ in range(2):
        assert t.track(floor()).reason == "no_blob"
    # 3 frames later the animal may be up to 3 x 30 px away.
    assert t.track(with_animal(160, 120)).found


def test_reset_forgets_the_last_position_but_not_the_background() -> None:
    t = tracker(max_jump_px=30)
    assert t.track(with_animal(80, 120)).found
    t.reset()
    assert t.has_background
    assert t.track(with_animal(250, 60)).found


def test_infinite_max_jump_disables_the_check() -> None:
    t = tracker(max_jump_px=math.inf)
    assert t.track(with_animal(40, 40)).found
    assert t.track(with_animal(280, 200)).found


def test_image_size_mismatch_raises() -> None:
    with pytest.raises(ValueError, match="shape"):
        tracker().track(np.zeros((10, 10), np.uint8))


@pytest.mark.parametrize(
    "changes",
    [
        {"threshold": 0},
        {"min_area_px": 10, "max_area_px": 5},
        {"max_jump_px": 0},
        {"tail_open_fraction": 1.5},
        {"jump_confirm_frames": 0},
    ],
)
def test_bad_settings_are_refused(changes: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        settings(**changes)


def test_from_protocol_converts_cm_to_px() -> None:
    calibration = synthetic_calibration(640, 480, width_cm=50, length_cm=25)
    mapper = PixelMapper(calibration)
    scale = mapper.px_per_cm
    tracking = Tracking(threshold=35, animal="light", min_area_cm2=2, max_area_cm2=80,
                        max_speed_cm_s=300, camera_fps=30, tether_removal_cm=0.5)  # 10 cm per frame
    converted = TrackerSettings.from_protocol(tracking, mapper)
    assert converted.threshold == 35 and not converted.animal_dark
    assert converted.min_area_px == pytest.approx(2 * scale**2)
    assert converted.max_area_px == pytest.approx(80 * scale**2)
    assert converted.max_jump_px == pytest.approx(10 * scale)
    assert converted.open_kernel_px == round(0.5 * scale)
    assert converted.blur_px % 2 == 1
    assert TrackerSettings.from_protocol(Tracking(), mapper).threshold is None


def test_arena_mask_fills_the_calibrated_polygon_and_scales() -> None:
    calibration = synthetic_calibration(640, 480)
    mask = arena_mask(calibration, (640, 480))
    assert mask.shape == (480, 640) and mask.dtype == np.uint8
    (x0, y0), _, (x2, y2), _ = calibration.corners_px
    assert mask[int((y0 + y2) / 2), int((x0 + x2) / 2)] == 255
    assert mask[2, 2] == 0
    half = arena_mask(calibration, (320, 240))
    assert half.shape == (240, 320)
    assert abs(int(np.count_nonzero(half)) * 4 - int(np.count_nonzero(mask))) < 0.02 * np.count_nonzero(mask)
