"""FirmwareRules / config_refusal mirror the firmware's rules of issue 11 (the simavr tests in
tests/firmware check the firmware itself)."""

from __future__ import annotations

from rig.devices import firmata_codes as fc
from rig.devices.firmware_emulator import FirmwareRules, RulesConfig, config_refusal, sync_refusal
from tests.firmware.raw_client import config_payload, sync_payload


def test_interlock_input_is_read_at_config_arm_and_gate_open() -> None:
    """Before: CONFIG cleared the trip flag and gate-open trusted it."""
    rules = FirmwareRules()
    rules.set_interlock(True, 0)  # the door is open before the interlock is configured
    events = rules.configure(RulesConfig(interlock_enabled=True), 10)
    assert [e.kind for e in events] == [fc.EVENT_CONFIG_ACK, fc.EVENT_INTERLOCK]
    rules.arm(20)
    refused = rules.set_gate(True, 30)
    assert [e.reason for e in refused if e.kind == fc.EVENT_REFUSED] == [fc.REASON_INTERLOCK]
    assert not rules.gate_open
    rules.set_interlock(False, 40)
    assert [e.kind for e in rules.set_gate(True, 50)] == [fc.EVENT_GATE_OPENED]


def test_config_refusal_mirrors_the_firmware() -> None:
    assert config_refusal(config_payload()) is None
    assert config_refusal(config_payload()[:-1]) == fc.REASON_BAD_CONFIG  # 23 bytes
    assert config_refusal(config_payload(pwm_pin=3, pwm_level=300)) == fc.REASON_BAD_CONFIG
    assert config_refusal(config_payload(pwm_pin=3, interlock_pin=3)) == fc.REASON_PIN_CONFLICT
    assert config_refusal(config_payload(laser_pin=7), sync_pins=(7, 12)) == fc.REASON_PIN_CONFLICT
    assert config_refusal(config_payload(polarity=fc.POLARITY_ACTIVE_LOW)) is None
    assert config_refusal(config_payload(polarity=2)) == fc.REASON_BAD_CONFIG


def test_sync_refusal_mirrors_the_firmware() -> None:
    roles = (9, 3, 2)
    assert sync_refusal(sync_payload(1, 7, 12), roles) is None
    for pin in roles:
        assert sync_refusal(sync_payload(1, pin), roles) == fc.REASON_PIN_CONFLICT
    assert sync_refusal(sync_payload(1, 7, 9), roles) == fc.REASON_PIN_CONFLICT
    assert sync_refusal(sync_payload(0, 9), roles) is None  # disabling never conflicts
