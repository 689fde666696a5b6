"""A Basler camera armed for the board's trigger (issue 14), on pylon's camera emulation:
TriggerMode On with TriggerSource = the rig file's trigger_line is applied and read back,
and the camera then waits for line edges (no frame without one). What the emulation cannot
show: it has no input lines, so a frame per board edge is tested with the simulated
triggered camera (tests/firmware/test_trigger_session_simavr.py) instead."""

from __future__ import annotations

import os

os.environ.setdefault("PYLON_CAMEMU", "2")  # read by pylon when its factory starts

import pytest  # noqa: E402

pytest.importorskip("pypylon")

from rig.devices.camera_settings import CameraSettings, TriggerMode  # noqa: E402
from rig.devices.lab_camera import LabCamera  # noqa: E402
from rig.devices.pylon_camera import PylonDriver  # noqa: E402
from rig.errors import CameraLost  # noqa: E402


def test_hardware_trigger_is_applied_read_back_and_waits_for_edges() -> None:
    settings = CameraSettings(
        width=640, height=480, fps=30.0, exposure_us=8000.0, trigger=TriggerMode.HARDWARE, trigger_line="Line1"
    )
    camera = LabCamera(PylonDriver("0815-0000"), settings)
    with camera:
        applied = camera.applied_settings
        assert applied is not None
        assert applied.trigger is TriggerMode.HARDWARE and applied.trigger_line == "Line1"
        with pytest.raises(CameraLost, match="no frame"):
            camera.read()  # no edge on Line1: the camera exposes nothing
