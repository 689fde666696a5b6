"""The rig hardware file: examples load, bad choices are errors with file:line."""

from __future__ import annotations

from pathlib import Path

import pytest

from rig.devices import firmata_codes as fc
from rig.protocol.load import load_protocol
from rig.rigfile import RigConfig, RigFileError, load_default_rig, load_rig
from rig.rigfile.load import check_protocol_on_rig
from rig.rigfile.models import BoardFaultAction, InterlockAction, parse_version

ROOT = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "rig.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("name", sorted(p.name for p in (ROOT / "rigs").glob("*.yaml")))
def test_every_example_rig_loads(name: str) -> None:
    loaded = load_rig(ROOT / "rigs" / name)
    assert loaded.raw == (ROOT / "rigs" / name).read_bytes()
    assert len(loaded.sha256) == 64


def test_embedded_default_rig_is_a_mock() -> None:
    loaded = load_default_rig()
    assert loaded.embedded
    assert loaded.config.board.kind.value == "mock"
    assert loaded.config.on_board_fault is BoardFaultAction.END_SESSION


def test_defaults_follow_the_firmware_constants() -> None:
    config = RigConfig(schema_version=1)
    expected = f"{fc.OPTORIG_FW_VERSION_MAJOR}.{fc.OPTORIG_FW_VERSION_MINOR}.{fc.OPTORIG_FW_VERSION_PATCH}"
    assert config.board.min_firmware_version == expected
    assert config.board.firmware_name == fc.OPTORIG_FW_NAME
    assert config.board.allow_host_timed_pulses is False
    # max(150 ms, 4 frame periods)
    assert config.effective_loop_stall_ms(30.0) == 150.0
    assert config.effective_loop_stall_ms(10.0) == 400.0
    assert parse_version("1.10.0") > parse_version("1.9.3")


def test_same_pin_twice_is_an_error_on_its_line(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "schema_version: 1\nlaser:\n  pin: 9\ninterlock:\n  pin: 9\n",
    )
    with pytest.raises(RigFileError) as err:
        load_rig(path)
    message = str(err.value)
    assert f"{path}:5 interlock.pin: pin 9 is already used as laser.pin" in message


def test_serial_pin_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, "schema_version: 1\nlaser:\n  pin: 1\n")
    with pytest.raises(RigFileError, match=r"rig.yaml:3 laser.pin: pin 1 is the USB serial link"):
        load_rig(path)


def test_pwm_on_a_pin_without_pwm_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, "schema_version: 1\nlaser:\n  pin: 9\n  pwm_pin: 10\n")
    with pytest.raises(RigFileError, match=r"rig.yaml:4 laser.pwm_pin: pin 10 has no PWM output"):
        load_rig(path)


def test_heartbeat_timeout_below_two_periods_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, "schema_version: 1\nheartbeat_timeout_ms: 120\n")
    with pytest.raises(RigFileError, match=r"rig.yaml:2 heartbeat_timeout_ms: must be at least 200"):
        load_rig(path)


def test_unknown_field_and_bad_enum(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "schema_version: 1\ninterlock:\n  pin: 2\n  on_trip: pause\nlazer: {}\n",
    )
    with pytest.raises(RigFileError) as err:
        load_rig(path)
    text = str(err.value)
    assert "rig.yaml:4 interlock.on_trip" in text
    assert "rig.yaml:5 lazer: unknown field 'lazer' (did you mean 'laser'?)" in text


def test_interlock_defaults(tmp_path: Path) -> None:
    path = write(tmp_path, "schema_version: 1\ninterlock:\n  pin: 2\n")
    interlock = load_rig(path).config.interlock
    assert interlock is not None
    assert interlock.required and interlock.on_trip is InterlockAction.STOP_SESSION
    assert interlock.trip_level == 1  # closed = LOW (switch to ground), open wire reads HIGH


def test_ramp_down_protocol_refused_on_a_rig_without_pwm() -> None:
    """Fails on the old code: a ramp_down_ms protocol ran on any rig and the record
    claimed a ramp that no output could deliver."""
    protocol = load_protocol(ROOT / "protocols" / "inhibition_rtpp_continuous.yaml")
    issues = check_protocol_on_rig(load_rig(ROOT / "rigs" / "uno_basic.yaml"), protocol)
    assert len(issues) == 1
    assert issues[0].field == "stimulation.ramp_down_ms" and issues[0].line is not None
    assert "laser.pwm_pin" in issues[0].reason
    assert check_protocol_on_rig(load_rig(ROOT / "rigs" / "uno_interlock_pwm.yaml"), protocol) == []
