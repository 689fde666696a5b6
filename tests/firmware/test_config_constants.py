"""firmware/optorig_fw/config.h and the Python constants must agree."""

from __future__ import annotations

import re
from pathlib import Path

from rig.devices import firmata_board, firmata_codes, limits

CONFIG_H = Path(__file__).resolve().parents[2] / "firmware" / "optorig_fw" / "config.h"


def parse_defines() -> dict[str, str]:
    defines = {}
    for match in re.finditer(r"^#define\s+(\w+)\s+(\S+)", CONFIG_H.read_text(), re.M):
        defines[match.group(1)] = match.group(2)
    return defines


def number(text: str) -> int:
    return int(text.rstrip("UL"), 0)


def test_limits_match_firmware() -> None:
    d = parse_defines()
    assert number(d["WATCHDOG_TIMEOUT_MS_DEFAULT"]) == limits.WATCHDOG_TIMEOUT_MS
    assert number(d["WATCHDOG_TIMEOUT_MS_MIN"]) == limits.WATCHDOG_TIMEOUT_MS_MIN
    assert number(d["WATCHDOG_TIMEOUT_MS_MAX"]) == limits.WATCHDOG_TIMEOUT_MS_MAX
    assert number(d["HEARTBEAT_PERIOD_MS"]) == limits.HEARTBEAT_PERIOD_MS
    assert number(d["MAX_FREQUENCY_HZ"]) == limits.FIRMWARE_MAX_FREQUENCY_HZ
    assert number(d["MIN_PULSE_WIDTH_US"]) / 1000 == limits.FIRMWARE_MIN_PULSE_WIDTH_MS
    assert number(d["MIN_PULSE_GAP_US"]) / 1000 == limits.FIRMWARE_MIN_PULSE_GAP_MS
    assert 1e6 / number(d["TRIGGER_MIN_PERIOD_US"]) == limits.TRIGGER_MAX_FPS
    assert 1e6 / number(d["TRIGGER_MAX_PERIOD_US"]) == limits.TRIGGER_MIN_FPS
    assert number(d["TRIGGER_MIN_WIDTH_US"]) / 1000 == limits.TRIGGER_MIN_WIDTH_MS
    assert number(d["TRIGGER_MIN_GAP_US"]) / 1000 == limits.TRIGGER_MIN_GAP_MS
    for name in ("LASER_PIN_DEFAULT", "INTERLOCK_PIN_DEFAULT", "PWM_PIN_DEFAULT", "SYNC_PIN_DEFAULT", "SYNC_LED_PIN_DEFAULT", "TRIGGER_PIN_DEFAULT"):
        assert number(d[name]) == getattr(limits, name), name


def test_sysex_ids_events_and_version_match_firmware() -> None:
    d = parse_defines()
    assert d["OPTORIG_FW_NAME"].strip('"') == firmata_board.OPTORIG_FW_NAME
    assert number(d["OPTORIG_PROTOCOL_VERSION"]) == firmata_board.OPTORIG_PROTOCOL_VERSION
    prefixes = (
        "SYSEX_OPTORIG_", "EVENT_", "REASON_", "MODE_", "PWM_PIN_NONE", "INTERLOCK_PIN_NONE",
        "POLARITY_", "CONFIG_PAYLOAD_BYTES", "SYNC_PAYLOAD_BYTES", "IDENTIFY_", "SAFETY_TICK_US",
        "RX_BUDGET_PER_LOOP", "OPTORIG_FW_VERSION_", "TRIGGER_", "OPTORIG_CHANNELS", "CHANNEL_BOARD",
    )
    checked = 0
    for name, value in d.items():
        if name.startswith(prefixes):
            assert getattr(firmata_codes, name) == number(value), name
            checked += 1
    assert checked >= 45
    for name in dir(firmata_board):
        if name.startswith("SYSEX_OPTORIG_"):
            assert getattr(firmata_board, name) == number(d[name])


def test_firmware_version_matches_config_h() -> None:
    """The default minimum firmware version of a rig file moves with the firmware."""
    d = parse_defines()
    for part in ("MAJOR", "MINOR", "PATCH"):
        name = f"OPTORIG_FW_VERSION_{part}"
        assert getattr(firmata_codes, name) == number(d[name]), name
