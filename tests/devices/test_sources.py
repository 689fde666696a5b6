"""Frame-source contract suite (synthetic arena, video replay) and source-specific tests.

The OpenCV camera is tested without a camera through an injected fake capture; the test
that needs a real camera is marked ``hardware``.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from rig.devices.frames import Frame, FrameSource, SourceKind
from rig.devices.opencv_camera import OpenCVCamera
from rig.devices.synthetic import SyntheticArena, synthetic_calibration
from rig.devices.video_replay import VideoReplay
from rig.errors import CameraLost, ConfigError

VIDEO_FPS = 25.0
VIDEO_FRAMES = 40
VIDEO_SIZE = (160, 120)


def write_test_video(path: Path, n_frames: int = VIDEO_FRAMES, fps: float = VIDEO_FPS) -> Path:
    """An MJPG avi whose frame i has grey level 5 * i (so frames can be identified)."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, VIDEO_SIZE)
    assert writer.isOpened()
    for i in range(n_frames):
        grey = np.full((VIDEO_SIZE[1], VIDEO_SIZE[0]), 5 * i, dtype=np.uint8)
        cv2.circle(grey, (20 + 2 * i, 60), 8, 255, -1)
        writer.write(cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR))
    writer.release()
    return path


def frame_number(image: np.ndarray) -> int:
    """Recover i from a frame written by write_test_video (corner grey level 5 * i)."""
    return int(round(float(np.median(image[:20, 100:])) / 5))


@pytest.fixture
def test_video(tmp_path: Path) -> Path:
    return write_test_video(tmp_path / "clip.avi")


def make_source(kind: str, tmp_path: Path) -> tuple[FrameSource, int]:
    """A finite source and the number of frames it yields."""
    if kind == "synthetic":
        source = SyntheticArena(synthetic_calibration(320, 240), fps=30.0, duration_s=1.0, seed=1)
        return source, 30
    if kind == "replay":
        return VideoReplay(write_test_video(tmp_path / "contract.avi")), VIDEO_FRAMES
    raise AssertionError(kind)


@pytest.fixture(params=["synthetic", "replay"])
def source_and_count(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[FrameSource, int]]:
    source, count = make_source(request.param, tmp_path)
    yield source, count
    source.close()


# ---------------------------------------------------------------------- contract suite
def test_contract_frames_are_grey_ordered_and_end_with_none(
    source_and_count: tuple[FrameSource, int],
) -> None:
    source, count = source_and_count
    with source as opened:
        assert opened is source
        assert not source.is_live
        assert source.kind in (SourceKind.SYNTHETIC, SourceKind.VIDEO)  # an enum, not a class name
        assert source.fps > 0
        assert isinstance(source.name, str) and source.name
        width_px, height_px = source.frame_size
        frames: list[Frame] = []
        while (frame := source.read()) is not None:
            frames.append(frame)
            assert frame.image.dtype == np.uint8 and frame.image.ndim == 2
            assert frame.image.shape == (height_px, width_px)
        assert source.read() is None  # stays at the end
    assert len(frames) == count
    assert [f.index for f in frames] == list(range(count))
    assert frames[0].t_s == pytest.approx(0.0, abs=1e-6)
    t_s = [f.t_s for f in frames]
    assert all(b > a for a, b in zip(t_s, t_s[1:]))
    assert t_s[-1] == pytest.approx((count - 1) / source.fps, rel=0.02)
    captured = [f.captured_ns for f in frames]
    assert all(b >= a for a, b in zip(captured, captured[1:]))


def test_contract_frames_are_independent_arrays(source_and_count: tuple[FrameSource, int]) -> None:
    source, _ = source_and_count
    with source:
        first = source.read()
        assert first is not None
        kept = first.image.copy()
        second = source.read()
        assert second is not None
        assert not np.shares_memory(first.image, second.image)
        np.testing.assert_array_equal(first.image, kept)


def test_contract_read_before_open_raises_and_close_is_idempotent(
    source_and_count: tuple[FrameSource, int],
) -> None:
    source, _ = source_and_count
    with pytest.raises(RuntimeError):
        source.read()
    source.close()
    source.open()
    assert source.read() is not None
    source.close()
    source.close()


# ---------------------------------------------------------------------- synthetic arena
def test_synthetic_is_deterministic_per_seed() -> None:
    calibration = synthetic_calibration(320, 240)

    def run(seed: int) -> list[tuple[float, float, bytes]]:
        out = []
        with SyntheticArena(calibration, duration_s=0.5, seed=seed, tether=True, flicker=0.05) as s:
            while (f := s.read()) is not None:
                assert f.truth is not None
                out.append((f.truth.x_px, f.truth.y_px, f.image.tobytes()))
        return out

    assert run(4) == run(4)
    assert run(4) != run(5)


def test_synthetic_motion_is_mouse_like() -> None:
    """Walking speeds, pauses, wall following and compartment crossings over 2 minutes."""
    calibration = synthetic_calibration(320, 240, width_cm=50, length_cm=25)
    positions = []
    with SyntheticArena(calibration, duration_s=120.0, seed=7, noise=0.0, divider=True) as source:
        while (frame := source.read()) is not None:
            assert frame.truth is not None
            positions.append((frame.truth.x_cm, frame.truth.y_cm))
    xy = np.asarray(positions)
    assert np.all((xy[:, 0] > 0) & (xy[:, 0] < 50) & (xy[:, 1] > 0) & (xy[:, 1] < 25))
    speed_cm_s = np.hypot(*np.diff(xy, axis=0).T) * 30.0
    moving = speed_cm_s > 3.0
    assert 0.3 < moving.mean() < 0.95  # walks and pauses
    assert 8.0 < np.median(speed_cm_s[moving]) < 25.0
    assert np.percentile(speed_cm_s, 99.5) < 45.0  # no teleporting
    to_wall = np.minimum.reduce([xy[:, 0], 50 - xy[:, 0], xy[:, 1], 25 - xy[:, 1]])
    assert np.mean(to_wall < 5.0) > 0.4  # thigmotaxis
    left = xy[:, 0] < 25.0
    crossings = int(np.sum(left[1:] != left[:-1]))
    assert crossings >= 4  # several per minute


def test_synthetic_empty_arena_has_no_animal_and_hidden_frames_have_no_truth() -> None:
    calibration = synthetic_calibration(320, 240)
    with SyntheticArena(calibration, duration_s=1.0, noise=0.0, hidden_s=[(0.5, 2.0)]) as source:
        frames = []
        while (frame := source.read()) is not None:
            frames.append(frame)
        empty = source.empty_arena()
    assert all(f.truth is None for f in frames if f.t_s >= 0.5)
    assert all(f.truth is not None for f in frames if f.t_s < 0.5)
    np.testing.assert_array_equal(frames[-1].image, empty)
    assert np.count_nonzero(frames[0].image != empty) > 100


# ---------------------------------------------------------------------- video replay
def test_replay_timestamps_come_from_the_file(test_video: Path) -> None:
    with VideoReplay(test_video) as replay:
        assert replay.fps == pytest.approx(VIDEO_FPS)
        assert replay.frame_size == VIDEO_SIZE
        assert replay.frame_count == VIDEO_FRAMES
        frames = []
        while (frame := replay.read()) is not None:
            frames.append(frame)
    assert [frame_number(f.image) for f in frames] == list(range(VIDEO_FRAMES))
    for f in frames:
        assert f.t_s == pytest.approx(f.index / VIDEO_FPS, abs=1e-3)


def test_replay_sample_frames_spans_the_file_without_moving_read(test_video: Path) -> None:
    with VideoReplay(test_video) as replay:
        for _ in range(3):
            replay.read()
        samples = replay.sample_frames(5)
        assert [frame_number(s) for s in samples] == [0, 10, 20, 29, 39]
        following = replay.read()
        assert following is not None and frame_number(following.image) == 3
        assert len(replay.sample_frames(1000)) == VIDEO_FRAMES


def test_replay_loop_keeps_counting(test_video: Path) -> None:
    with VideoReplay(test_video, loop=True) as replay:
        frames = [replay.read() for _ in range(VIDEO_FRAMES * 2 + 5)]
    assert all(f is not None for f in frames)
    indices = [f.index for f in frames if f is not None]
    assert indices == list(range(len(frames)))
    t_s = [f.t_s for f in frames if f is not None]
    assert all(b > a for a, b in zip(t_s, t_s[1:]))
    assert t_s[VIDEO_FRAMES] == pytest.approx(VIDEO_FRAMES / VIDEO_FPS, abs=1e-3)
    assert frame_number(frames[VIDEO_FRAMES].image) == 0  # type: ignore[union-attr]


def test_replay_missing_or_unreadable_file_is_a_config_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope.mp4"
    with pytest.raises(ConfigError, match="nope.mp4"):
        VideoReplay(missing).open()
    with pytest.raises(ConfigError, match="nope.mp4"):
        VideoReplay(missing).sample_frames(3)
    garbage = tmp_path / "garbage.avi"
    garbage.write_bytes(b"this is not a video" * 100)
    with pytest.raises(ConfigError, match="garbage.avi"):
        VideoReplay(garbage).open()


def test_replay_constructor_does_no_io(tmp_path: Path) -> None:
    VideoReplay(tmp_path / "not-yet-recorded.avi")  # no error until open()


# ---------------------------------------------------------------------- OpenCV camera (fake)
class FakeCapture:
    """A cv2.VideoCapture stand-in: delivers ``frames``, then blocks (a stalled camera) or
    fails (``then_fail``). ``exhausted`` is set once every frame has been handed over."""

    def __init__(self, frames: list[np.ndarray], then_fail: bool = False, opened: bool = True):
        self._frames = list(frames)
        self._then_fail = then_fail
        self._opened = opened
        self.exhausted = threading.Event()
        self.unblock = threading.Event()
        self.props: dict[int, float] = {}
        self.released = False

    def isOpened(self) -> bool:  # noqa: N802
        return self._opened

    def read(self) -> tuple[bool, Any]:
        if self._frames:
            return True, self._frames.pop(0)
        self.exhausted.set()
        if not self._then_fail:
            self.unblock.wait(timeout=0.2)  # a stalled camera: a read that times out
        return False, None

    def set(self, prop_id: int, value: float) -> bool:
        self.props[prop_id] = value
        return True

    def get(self, prop_id: int) -> float:
        if prop_id == cv2.CAP_PROP_FRAME_WIDTH:
            return 64.0
        if prop_id == cv2.CAP_PROP_FRAME_HEIGHT:
            return 48.0
        return self.props.get(prop_id, 0.0)

    def release(self) -> None:
        self.released = True


def colour_frames(n: int) -> list[np.ndarray]:
    return [np.full((48, 64, 3), 10 * i, dtype=np.uint8) for i in range(n)]


def test_camera_hands_over_only_the_newest_frame_and_counts_skips() -> None:
    fake = FakeCapture(colour_frames(6))
    camera = OpenCVCamera(0, width_px=64, height_px=48, fps=30, timeout_s=1.0,
                          capture_factory=lambda device: fake)
    assert camera.is_live
    with camera:
        assert fake.props[cv2.CAP_PROP_BUFFERSIZE] == 1
        assert fake.exhausted.wait(timeout=5.0)
        frame = camera.read()
        assert frame.index == 5
        assert frame.image.ndim == 2 and frame.image.shape == (48, 64)
        assert int(frame.image[0, 0]) == 50
        assert camera.frames_grabbed == 6
        assert camera.frames_skipped == 5
        assert camera.frame_size == (64, 48)
        fake.unblock.set()
    assert fake.released


def test_camera_raises_camera_lost_when_frames_stop() -> None:
    fake = FakeCapture(colour_frames(1))
    camera = OpenCVCamera(0, timeout_s=0.05, capture_factory=lambda device: fake)
    with camera:
        assert camera.read().index == 0
        with pytest.raises(CameraLost, match="camera 0"):
            camera.read()  # nothing newer than frame 0 arrives
        fake.unblock.set()


def test_camera_raises_camera_lost_after_repeated_failed_reads() -> None:
    fake = FakeCapture([], then_fail=True)
    camera = OpenCVCamera("rtsp://cam", timeout_s=5.0, capture_factory=lambda device: fake,
                          max_failed_reads=5)
    with camera:
        with pytest.raises(CameraLost, match="failed reads"):
            camera.read()


def test_camera_that_cannot_open_is_lost() -> None:
    fake = FakeCapture([], opened=False)
    with pytest.raises(CameraLost, match="cannot be opened"):
        OpenCVCamera(3, capture_factory=lambda device: fake).open()
    assert fake.released


def test_camera_warns_once_when_the_frame_rate_drops(caplog: pytest.LogCaptureFixture) -> None:
    camera = OpenCVCamera(0, fps=30.0, capture_factory=lambda device: FakeCapture([]))
    camera._frames_grabbed = 100  # past the warm-up
    with caplog.at_level(logging.WARNING, logger="rig.devices.opencv_camera"):
        for _ in range(50):
            camera._update_fps(int(1e9 / 30))
        assert not caplog.records
        for _ in range(200):
            camera._update_fps(int(1e9 / 20))
    assert camera.measured_fps == pytest.approx(20.0, rel=0.05)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "below 90%" in warnings[0].getMessage()


@pytest.mark.hardware
def test_real_camera_delivers_grey_frames(request: pytest.FixtureRequest) -> None:
    if not request.config.getoption("--hardware", default=False):
        pytest.skip("needs a camera; run with --hardware")
    with OpenCVCamera(0, timeout_s=5.0) as camera:
        frames = [camera.read() for _ in range(30)]
    assert all(f.image.ndim == 2 for f in frames)
    assert [f.index for f in frames] == sorted({f.index for f in frames})
    assert math.isfinite(camera.measured_fps)
