"""The rig file's ``trigger`` section (issue 14): the board triggers the camera. ``rig
validate`` refuses a trigger pin another role uses and a camera that is not set to
hardware trigger, each on its own line. Fails on the old code: no ``trigger`` section."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from rig.rigfile.load import RigFileError, load_rig

HEADER = "schema_version: 1\nboard:\n  kind: mock\nlaser:\n  pin: 9\n"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "rig.yaml"
    path.write_text(text)
    return path


def test_board_trigger_section_loads(tmp_path: Path) -> None:
    path = write(tmp_path, HEADER + "camera:\n  fps: 60\n  trigger: hardware\ntrigger:\n  source: board\n  pin: 8\n")
    rig = load_rig(path)
    config = rig.config.trigger_config()
    assert config is not None and (config.fps, config.pin, config.width_ms) == (60.0, 8, 1.0)
    assert "camera triggered by the board: pin 8, 60 fps" in rig.summary()


@pytest.mark.parametrize(
    ("extra", "line", "message"),
    [
        ("camera:\n  trigger: hardware\ntrigger:\n  source: board\n  pin: 9\n", 10, "trigger.pin: pin 9 is already used as laser.pin"),
        (
            "sync:\n  enabled: true\n  pin: 7\ncamera:\n  trigger: hardware\ntrigger:\n  source: board\n  pin: 7\n",
            13,
            "trigger.pin: pin 7 is already used as sync.pin",
        ),
        ("camera:\n  fps: 30\ntrigger:\n  source: board\n", 6, "camera.trigger: trigger.source board needs camera.trigger: hardware"),
        (
            "camera:\n  fps: 30\n  trigger: hardware\ntrigger:\n  source: board\n  fps: 60\n",
            11,
            "trigger.fps: 60 differs from camera.fps 30",
        ),
        (
            "camera:\n  fps: 400\n  exposure_us: 1000\n  trigger: hardware\ntrigger:\n  source: board\n  width_ms: 2.45\n",
            12,
            "trigger.width_ms: 2.45 ms does not fit a 2.500 ms frame period",
        ),
    ],
)
def test_trigger_problems_are_errors_on_their_line(tmp_path: Path, extra: str, line: int, message: str) -> None:
    path = write(tmp_path, HEADER + extra)
    with pytest.raises(RigFileError) as err:
        load_rig(path)
    assert f"{path}:{line} {message}" in str(err.value)


def test_rig_validate_names_the_file_line_and_reason(tmp_path: Path) -> None:
    path = write(tmp_path, HEADER + "camera:\n  fps: 30\ntrigger:\n  source: board\n")
    result = subprocess.run(
        [sys.executable, "-m", "rig", "validate", str(path)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode != 0
    assert f"{path}:6 camera.trigger: trigger.source board needs camera.trigger: hardware" in result.stdout + result.stderr
