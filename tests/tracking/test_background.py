"""Median background and the sampling BackgroundModel."""

from __future__ import annotations

import numpy as np
import pytest

from rig.tracking.background import BackgroundModel, median_background


def _frames_with_moving_square(n: int) -> list[np.ndarray]:
    frames = []
    for i in range(n):
        image = np.full((60, 80), 200, dtype=np.uint8)
        x = 5 + i * 6
        image[20:30, x : x + 8] = 30
        frames.append(image)
    return frames


def test_median_removes_a_moving_animal() -> None:
    background = median_background(_frames_with_moving_square(9))
    assert background.dtype == np.uint8
    assert background.shape == (60, 80)
    assert np.all(background == 200)


def test_median_rejects_mixed_sizes_and_empty_input() -> None:
    with pytest.raises(ValueError, match="image 1"):
        median_background([np.zeros((4, 4), np.uint8), np.zeros((4, 5), np.uint8)])
    with pytest.raises(ValueError):
        median_background([])
    with pytest.raises(ValueError, match="uint8"):
        median_background([np.zeros((4, 4), np.float32)])


def test_median_of_large_frames_is_exact() -> None:
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, size=(300, 400), dtype=np.uint8) for _ in range(7)]
    expected = np.median(np.stack(images), axis=0).round().astype(np.uint8)
    np.testing.assert_array_equal(median_background(images), expected)


def test_model_samples_every_nth_until_ready_and_resets() -> None:
    model = BackgroundModel(n_frames=3, every_nth=2)
    frames = _frames_with_moving_square(9)
    kept = [model.add(f) for f in frames]
    assert kept[:6] == [True, False, True, False, True, False]
    assert model.ready and model.count == 3
    assert not any(kept[6:])
    assert np.all(model.image() == 200)
    model.reset()
    assert not model.ready and model.count == 0
    with pytest.raises(ValueError):
        model.image()


def test_model_copies_frames_it_keeps() -> None:
    model = BackgroundModel(n_frames=1)
    buffer = np.full((4, 4), 100, np.uint8)
    model.add(buffer)
    buffer[:] = 0
    assert np.all(model.image() == 100)


def test_model_for_duration_spreads_samples() -> None:
    model = BackgroundModel.for_duration(n_frames=60, duration_s=10.0, fps=30.0)
    assert model.every_nth == 5
    assert BackgroundModel.for_duration(60, 1.0, 30.0).every_nth == 1
