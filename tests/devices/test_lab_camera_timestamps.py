"""The read-back says which clock ``cam_t_s`` is on, decided by the first frame.

Before this, the GenICam driver labelled ``timestamp_source="camera"`` on any producer,
also one whose buffers carry no timestamp (viky, many USB3 producers in some modes); then
session.json claimed a camera clock for what were arrival times. Both tests fail on that
code (the label stayed "camera").
"""

from __future__ import annotations

import time

import numpy as np
import pytest

from rig.devices.camera_settings import AppliedCameraSettings, CameraSettings
from rig.devices.lab_camera import LabCamera, RawFrame


class _Driver:
    """A driver that claims a camera clock and delivers frames with or without stamps."""

    def __init__(self, stamped: bool) -> None:
        self._stamped = stamped
        self._n = 0

    @property
    def description(self) -> str:
        return "fake"

    def open(self, settings: CameraSettings) -> AppliedCameraSettings:
        return AppliedCameraSettings(
            backend="genicam", model="fake", serial="1", width=8, height=8, fps=30.0,
            timestamp_source="camera",
        )

    def retrieve(self, timeout_s: float) -> RawFrame | None:
        time.sleep(0.01)
        self._n += 1
        stamp = 1000.0 + self._n / 30 if self._stamped else None
        return RawFrame(np.zeros((8, 8), np.uint8), self._n, stamp)

    def software_trigger(self) -> None:
        pass

    def close(self) -> None:
        pass


@pytest.mark.parametrize("stamped", [False, True])
def test_first_frame_decides_the_timestamp_source(stamped: bool) -> None:
    camera = LabCamera(_Driver(stamped), CameraSettings(fps=30.0, exposure_us=5000.0))
    with camera:
        frames = [camera.read() for _ in range(3)]
        applied = camera.applied_settings
        report = camera.camera_report()
    assert applied is not None
    assert applied.timestamp_source == ("camera" if stamped else "host")
    assert report["applied"]["timestamp_source"] == applied.timestamp_source  # type: ignore[index]
    if not stamped:
        assert any("no timestamp" in note for note in applied.notes)
    times = [f.cam_t_s for f in frames]
    assert times[0] == 0.0 and all(b > a for a, b in zip(times, times[1:]))  # type: ignore[operator]


def test_genicam_producer_without_timestamps_is_labelled_host(monkeypatch: pytest.MonkeyPatch) -> None:
    """Through harvesters and the real viky GenTL producer, which stamps nothing."""
    pytest.importorskip("harvesters")
    monkeypatch.setenv("OPTORIG_GENTL", "viky")
    from rig.devices.genicam_camera import GenICamDriver

    camera = LabCamera(GenICamDriver("0"), CameraSettings(fps=20.0, exposure_us=5000.0))
    with camera:
        first = camera.read()
        applied = camera.applied_settings
    assert applied is not None
    raw_has_stamp = applied.timestamp_source == "camera"
    # viky's buffers have no timestamp: the label must say arrival time
    assert not raw_has_stamp, applied.notes
    assert first.cam_t_s is not None and first.cam_t_s >= 0.0
