"""The rig file's ``camera`` section holds the lab camera settings (CameraSettings) and its
``sync`` section the latency self-test. Before this, the section knew only source, size and
fps: exposure, gain, pixel format and trigger could not be set from the rig file, and a
rig could not ask for the camera-to-light self-test. Each test fails on that code."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rig.devices.camera_settings import PixelFormat, TriggerMode
from rig.devices.registry import make_rig_session_devices
from rig.protocol.load import load_default_protocol
from rig.rigfile import RigFileError, load_rig

CAMERA = """schema_version: 1
board:
  kind: mock
camera:
  source: pylon:0815-0000
  width: 640
  height: 480
  fps: 50
  exposure_us: 4000
  gain_db: 3
  pixel_format: mono12
  trigger: hardware
  trigger_line: Line3
  strobe_line: Line2
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "rig.yaml"
    path.write_text(text)
    return path


def test_camera_settings_come_from_the_rig_file(tmp_path: Path) -> None:
    rig = load_rig(write(tmp_path, CAMERA)).config
    settings = rig.camera.settings_for(None, 30.0)
    assert (settings.width, settings.height, settings.fps) == (640, 480, 50.0)
    assert settings.exposure_us == 4000 and settings.gain_db == 3
    assert settings.pixel_format is PixelFormat.MONO12
    assert settings.trigger is TriggerMode.HARDWARE and settings.trigger_line == "Line3"
    assert settings.strobe_line == "Line2"


def test_defaults_are_the_calibration_size_and_the_protocol_rate(tmp_path: Path) -> None:
    rig = load_rig(write(tmp_path, "schema_version: 1\ncamera:\n  source: camera:0\n  width_px: 800\n")).config
    calibration = load_default_protocol().calibration
    settings = rig.camera.settings_for(calibration, 60.0)
    assert settings.width == 800  # width_px still accepted
    assert settings.height == calibration.camera.height_px
    assert settings.fps == 60.0 and settings.exposure_us < 1e6 / 60


def test_an_exposure_longer_than_a_frame_names_file_line_and_field(tmp_path: Path) -> None:
    path = write(tmp_path, "schema_version: 1\ncamera:\n  fps: 100\n  exposure_us: 20000\n")
    with pytest.raises(RigFileError) as err:
        load_rig(path)
    message = str(err.value)
    assert str(path) in message and "camera" in message and "does not fit in one frame" in message


def test_automatic_exposure_cannot_be_asked_for(tmp_path: Path) -> None:
    with pytest.raises(RigFileError, match="exposure_auto"):
        load_rig(write(tmp_path, "schema_version: 1\ncamera:\n  exposure_auto: Continuous\n"))


def test_a_live_camera_gets_the_rig_files_settings(tmp_path: Path) -> None:
    pytest.importorskip("pypylon")
    rig = load_rig(write(tmp_path, CAMERA)).config
    devices = make_rig_session_devices("pylon:0815-0000", rig, load_default_protocol().calibration, 30.0)
    settings = devices.source.settings  # type: ignore[attr-defined]
    assert settings.exposure_us == 4000 and settings.trigger is TriggerMode.HARDWARE
    assert settings.fps == 50.0


def test_latency_test_needs_an_led_box(tmp_path: Path) -> None:
    with pytest.raises(RigFileError, match="led_roi"):
        load_rig(write(tmp_path, "schema_version: 1\nsync:\n  latency_test: true\n"))


def test_latency_test_pins_take_part_in_the_pin_roles(tmp_path: Path) -> None:
    text = "schema_version: 1\nlaser:\n  pin: 12\nsync:\n  latency_test: true\n  led_roi: [6, 6, 20, 20]\n"
    with pytest.raises(RigFileError, match="already used"):
        load_rig(write(tmp_path, text))


def test_rig_file_latency_test_runs_in_the_session(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from rig.cli import main

    rig = write(
        tmp_path,
        # a generous loop-stall limit: this machine is shared with other test runs
        "schema_version: 1\nboard:\n  kind: mock\ncamera:\n  source: synthetic\n"
        "loop_stall_ms: 3000\nsync:\n  latency_test: true\n  led_roi: [6, 6, 20, 20]\n",
    )
    out = tmp_path / "out"
    code = main(["demo", "--rig", str(rig), "--out", str(out), "--duration-s", "20",
                 "--camera-delay-ms", "33"])
    assert code == 0, capsys.readouterr().err
    (summary_path,) = out.rglob("summary.json")
    test = json.loads(summary_path.read_text())["latency_test"]
    assert test["seen"] >= 5 and test["missed"] == 0 and test["led_roi"] == [6, 6, 20, 20]
    assert 33 <= test["led_to_frame_ms"]["p50"] < 33 + 1000 / 30
