"""Adversarial tests of the firmware's safety core (issue 11), the real firmware in simavr.

Every test drives the emulated Uno with exact bytes (tests/firmware/raw_client.py) and judges
only the harness's cycle-stamped pin log: all bounds are in emulated cycles. Each test failed
on the firmware before issue 11 (commit ac73aec); to check again, build that firmware and run
``OPTORIG_TEST_FIRMWARE_ELF=/tmp/old/optorig_fw.elf pytest tests/firmware/test_firmware_safety_core.py``.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from rig.devices import firmata_codes as fc
from rig.devices.firmware_emulator import SimavrUno, build_firmware
from tests.firmware.raw_client import (
    ARM,
    CAPABILITY_QUERY,
    GATE_CLOSE,
    GATE_OPEN,
    IDENTIFY,
    MS,
    US,
    VERSION_QUERY,
    RawUno,
    command_cycle,
    config_payload,
    firmware_elf,
    level_at,
    mark,
    rises_falls,
    sync_payload,
    sysex,
)
from tests.firmware.raw_client import NEEDS_SIMAVR

pytestmark = [pytest.mark.emulator, NEEDS_SIMAVR]
LASER = 9
BAUD_BYTES_PER_S = 5760  # 57600 baud, 10 bits a byte


def close_interlock(uno: RawUno) -> None:
    """Drive the interlock input (D2) to closed. In simavr an external level must be applied
    after the firmware enabled the pull-up: that PORT write sets the emulated pin HIGH."""
    uno.sim.command("pin 2 0")
    cleared = uno.wait_event(fc.EVENT_INTERLOCK_CLEARED, 0.1)
    assert cleared, "the firmware did not see the interlock close"


def flood(message: bytes, seconds: float) -> bytes:
    """``message`` repeated for ``seconds`` of line time at 57600 baud."""
    return message * max(1, int(seconds * BAUD_BYTES_PER_S / len(message)))


# ---- query floods -------------------------------------------------------------------------


@pytest.mark.parametrize("query", [CAPABILITY_QUERY, VERSION_QUERY, IDENTIFY], ids=["capability", "version", "identify"])
def test_query_flood_with_heartbeats_stopped_still_trips_the_watchdog(uno: RawUno, query: bytes) -> None:
    """Gate open, heartbeats stopped, the port flooded with queries the firmware answers: the
    laser is off within the watchdog timeout + 10 ms. (Old firmware: 3.1-4.0 s, because
    serial_write spun on a full transmit buffer and the checks ran only after the receive loop.)"""
    uno.start_session(config_payload(watchdog_ms=300))
    uno.send(GATE_OPEN + flood(query, 1.5))
    uno.wait_emulated(1.8)
    rises, falls = rises_falls(uno.sim.edges(LASER))
    assert rises, "the gate never opened"
    off = [f for f in falls if f > rises[0]]
    assert off, "the laser stayed on during the flood"
    on_ms = (off[0] - rises[0]) / MS
    assert on_ms <= 300 + 10, on_ms  # the ARM (watchdog start) came before the rising edge


def test_interlock_opened_during_a_flood_turns_the_laser_off_within_1_ms(uno: RawUno) -> None:
    """The door opens while the port is flooded with capability queries: laser off within 1 ms.
    (Old firmware: the light stayed on 3.5 s with the door open.)"""
    uno.start_session(config_payload(watchdog_ms=5000, interlock_pin=2))
    close_interlock(uno)
    uno.send(GATE_OPEN + flood(CAPABILITY_QUERY, 2.0))
    uno.wait_emulated(0.5)
    uno.sim.command("pin 2 1")
    trip = command_cycle(uno.sim, "pin", "2", "1")
    uno.wait_emulated(0.2)
    rises, falls = rises_falls(uno.sim.edges(LASER))
    assert rises and rises[0] < trip
    off = [f for f in falls if f >= trip]
    assert off and off[0] - trip < 1 * MS, [(f - trip) / MS for f in off[:1]]


def test_cap_holds_during_a_flood(uno: RawUno) -> None:
    """Continuous-on cap of 500 ms under a capability-query flood: on for 499-501 ms.
    (Old firmware: the 1 s cap was missed by seconds.)"""
    uno.start_session(config_payload(watchdog_ms=5000, max_on_ms=500))
    uno.send(GATE_OPEN + flood(CAPABILITY_QUERY, 1.5))
    uno.wait_emulated(1.8)
    rises, falls = rises_falls(uno.sim.edges(LASER))
    assert rises
    off = [f for f in falls if f > rises[0]]
    assert off
    on_ms = (off[0] - rises[0]) / MS
    assert 499 <= on_ms <= 501, on_ms


def test_replies_dropped_during_a_flood_are_counted_in_identify(uno: RawUno) -> None:
    """A flood of capability queries overflows the transmit queue: the surplus replies are
    dropped (never waited for) and IDENTIFY reports how many. (Old firmware: no counter.)"""
    uno.send(flood(CAPABILITY_QUERY, 0.5))
    uno.wait_emulated(0.7)
    uno.send(IDENTIFY)
    uno.wait_emulated(0.05)
    identity = [r for r in uno.replies() if r.command == fc.SYSEX_OPTORIG_IDENTIFY][-1].payload
    assert len(identity) > fc.IDENTIFY_FIXED_BYTES
    assert identity[0] == fc.OPTORIG_PROTOCOL_VERSION
    dropped = fc.from7(identity[7 : 7 + fc.IDENTIFY_DROPPED_BYTES])
    answered = len([r for r in uno.replies() if r.command == 0x6C])
    assert dropped > 0 and answered > 0
    assert dropped + answered == len(flood(CAPABILITY_QUERY, 0.5)) // len(CAPABILITY_QUERY)


# ---- pin roles ----------------------------------------------------------------------------


def test_config_refuses_the_laser_on_an_enabled_sync_pin(uno: RawUno) -> None:
    """SYNC on D7, then CONFIG with the laser on D7: refused (pin conflict); the laser stays on
    D9 and is never driven. (Old firmware: accepted; sync pulsed the laser pin with the gate
    closed.)"""
    uno.send(sysex(fc.SYSEX_OPTORIG_SYNC, sync_payload(1, 7)))
    uno.wait_event(fc.EVENT_CONFIG_ACK)
    uno.send(sysex(fc.SYSEX_OPTORIG_CONFIG, config_payload(laser_pin=7)))
    refused = uno.wait_event(fc.EVENT_REFUSED)
    assert refused and refused[-1].reason == fc.REASON_PIN_CONFLICT
    assert not uno.events(fc.EVENT_CONFIG_ACK)[1:]  # only the SYNC was acknowledged
    uno.wait_emulated(0.3)
    assert all(v == 0 for _, v in uno.sim.edges(LASER))


def test_sync_refused_on_the_laser_pwm_or_interlock_pin(uno: RawUno) -> None:
    """SYNC on the interlock pin (door open) is refused, so the sync output cannot pull the
    interlock input to "closed" and gate-open stays refused. (Old firmware: SYNC on D2 drove
    the interlock LOW, the firmware reported it cleared and the gate opened.)"""
    uno.sim.command("pin 2 1")  # door open
    uno.start_session(config_payload(watchdog_ms=5000, interlock_pin=2, pwm_pin=3))
    for pin in (2, 3, LASER):
        uno.send(sysex(fc.SYSEX_OPTORIG_SYNC, sync_payload(1, pin)))
        uno.wait_emulated(0.02)
    uno.wait_emulated(0.05)
    refusals = uno.events(fc.EVENT_REFUSED)
    assert [r.reason for r in refusals] == [fc.REASON_PIN_CONFLICT] * 3
    uno.wait_emulated(0.1)
    uno.send(ARM + GATE_OPEN)
    uno.wait_emulated(0.1)
    assert all(v == 0 for _, v in uno.sim.edges(LASER))
    assert uno.events(fc.EVENT_REFUSED)[-1].reason == fc.REASON_INTERLOCK


@pytest.mark.parametrize("pin", [11, 3])
def test_pwm_left_on_a_pin_is_cut_when_it_becomes_the_laser_pin(uno: RawUno, pin: int) -> None:
    """SET_PIN_MODE(pin, PWM) + analog write 200, then CONFIG with the laser on that pin: the
    timer output is disconnected and the pin held low at once. (Old firmware: ~977 Hz PWM at
    78 % duty with the gate closed.)"""
    uno.send(bytes([0xF4, pin, 3, 0xE0 | pin, 200 & 0x7F, 200 >> 7]))
    uno.wait_emulated(0.05)
    assert len(uno.sim.edges(pin)) > 10  # the PWM runs
    start = mark(uno.sim, "config")
    uno.send(sysex(fc.SYSEX_OPTORIG_CONFIG, config_payload(laser_pin=pin)))
    uno.wait_emulated(0.1)
    config_done = [line.cycle for line in uno.sim.lines() if line.kind == "R" and line.cycle >= start][0] + 8 * MS
    after = [(c, v) for c, v in uno.sim.edges(pin) if c > config_done]
    assert after == [] and level_at(uno.sim.edges(pin), config_done) == 0


def test_laser_pulses_keep_their_width_while_firmata_toggles_a_pin_on_the_same_port(uno: RawUno) -> None:
    """500 Hz / 1 ms pulses on D9 while a client toggles D13 (same port B) as fast as Firmata
    allows: every width and period within 10 us. (Old firmware: the non-atomic port write
    raced the pulse interrupt, stretching pulses and losing others.)"""
    uno.start_session(config_payload(mode=fc.MODE_PULSE_TRAIN, period_us=2000, width_us=1000, watchdog_ms=5000))
    uno.send(bytes([0xF4, 13, 1]))
    toggles = bytes([0xF5, 13, 1, 0xF5, 13, 0])
    uno.send(GATE_OPEN + flood(toggles, 3.0))
    uno.wait_emulated(3.2)
    uno.send(GATE_CLOSE)
    uno.wait_emulated(0.05)
    assert len(uno.sim.edges(13)) > 4000  # D13 really toggled ~1900 times a second
    rises, falls = rises_falls(uno.sim.edges(LASER))
    falls = [f for f in falls if f > rises[0]]
    rises, falls = rises[: len(rises) - 1], falls[: len(rises) - 1]
    assert len(rises) > 1200
    widths = [f - r for r, f in zip(rises, falls)]
    periods = [b - a for a, b in zip(rises, rises[1:])]
    assert max(abs(w - 1000 * US) for w in widths) <= 10 * US
    assert max(abs(p - 2000 * US) for p in periods) <= 10 * US


# ---- interlock and ramp -------------------------------------------------------------------


def test_gate_open_refused_when_the_interlock_is_open_at_config(uno: RawUno) -> None:
    """CONFIG + ARM + GATE open in one write with the door already open: refused, no light.
    (A regression guard for the interlock read at CONFIG: in simavr the old firmware also
    refused here, because its main loop ran its checks between the messages; the failing case
    of the old firmware is the next test.)"""
    uno.sim.command("pin 2 1")
    uno.wait_emulated(0.01)
    payload = config_payload(watchdog_ms=5000, interlock_pin=2)
    uno.send(sysex(fc.SYSEX_OPTORIG_CONFIG, payload) + ARM + GATE_OPEN)
    uno.wait_emulated(0.1)
    assert all(v == 0 for _, v in uno.sim.edges(LASER))
    assert [r.reason for r in uno.events(fc.EVENT_REFUSED)] == [fc.REASON_INTERLOCK]


def test_gate_open_refused_when_the_door_opened_while_the_firmware_was_busy(uno: RawUno) -> None:
    """The door opens while the firmware works through a backlog of queries, and GATE open is
    next in the queue: refused, the light never comes on. (Old firmware: gate-open trusted a
    trip flag that only the main loop updated, so the gate opened with the door open.)"""
    uno.start_session(config_payload(watchdog_ms=5000, interlock_pin=2))
    close_interlock(uno)
    # 38 queries + GATE open fit the 128-byte receive buffer; their ~150-byte replies keep
    # the transmit side busy for about a second
    uno.send(CAPABILITY_QUERY * 38 + GATE_OPEN)
    uno.wait_emulated(0.3)
    uno.sim.command("pin 2 1")  # door opens mid-backlog (old firmware: GATE open still queued)
    trip = command_cycle(uno.sim, "pin", "2", "1")
    uno.wait_emulated(1.5)
    edges = uno.sim.edges(LASER)
    # (the new firmware answers the backlog at once, so its gate opened before the door did)
    assert [c for c, v in edges if v == 1 and c > trip] == []
    assert level_at(edges, trip + 1 * MS) == 0


def test_interlock_trip_during_a_ramp_drops_the_pwm_within_1_ms(uno: RawUno) -> None:
    """Host close starts a 1 s ramp-down on D3; the door opens 200 ms into it: PWM at 0 within
    1 ms. (Old firmware: the PWM kept ramping for 1.9 s.)"""
    uno.start_session(config_payload(watchdog_ms=5000, interlock_pin=2, pwm_pin=3, pwm_level=200, ramp_down_ms=1000))
    close_interlock(uno)
    uno.send(GATE_OPEN)
    uno.wait_emulated(0.1)
    uno.send(GATE_CLOSE)
    uno.wait_emulated(0.2)
    uno.sim.command("pin 2 1")
    trip = command_cycle(uno.sim, "pin", "2", "1")
    uno.wait_emulated(0.1)
    pwm = uno.sim.edges(3)
    assert len([c for c, _ in pwm if trip - 50 * MS < c < trip]) > 20  # it was ramping
    assert [c for c, _ in pwm if c > trip + 1 * MS] == []
    assert level_at(pwm, trip + 1 * MS) == 0


def test_watchdog_during_a_ramp_drops_the_pwm_within_1_ms(uno: RawUno) -> None:
    """Heartbeats stop during a ramp-down: the watchdog is a fault, the PWM drops at once.
    (Old firmware: the ramp ignored the watchdog.)"""
    uno.start_session(config_payload(watchdog_ms=300, pwm_pin=3, pwm_level=200, ramp_down_ms=2000))
    uno.send(GATE_OPEN)
    uno.wait_emulated(0.05)
    uno.send(GATE_CLOSE)
    uno.wait_emulated(0.6)
    rises, _ = rises_falls(uno.sim.edges(LASER))
    pwm = uno.sim.edges(3)
    # the ARM came before the gate opened; the watchdog fires within 300 ms (+ a tick) of it
    assert pwm and pwm[-1][1] == 0
    assert pwm[-1][0] - rises[0] <= 302 * MS


def test_config_during_a_ramp_stops_it(uno: RawUno) -> None:
    """CONFIG (new PWM pin D11) while D3 ramps down: both silent at once. (Old firmware: the
    ramp carried on, on the new pin.)"""
    uno.start_session(config_payload(watchdog_ms=5000, pwm_pin=3, pwm_level=200, ramp_down_ms=2000))
    uno.send(GATE_OPEN)
    uno.wait_emulated(0.05)
    uno.send(GATE_CLOSE)
    uno.wait_emulated(0.2)
    start = mark(uno.sim, "config")
    uno.send(sysex(fc.SYSEX_OPTORIG_CONFIG, config_payload(watchdog_ms=5000, pwm_pin=11, pwm_level=200, ramp_down_ms=2000)))
    uno.wait_emulated(0.2)
    received = [line.cycle for line in uno.sim.lines() if line.kind == "R" and line.cycle >= start][0]
    done = received + 6 * MS  # 25 bytes on the wire (4.3 ms) and the handling
    for pin in (3, 11):
        assert [c for c, _ in uno.sim.edges(pin) if c > done] == [], pin
        assert level_at(uno.sim.edges(pin), done) == 0


# ---- smaller items ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"pwm_pin": 3, "pwm_level": 300}, fc.REASON_BAD_CONFIG),  # old: accepted as 44
        ({"pwm_pin": 3, "interlock_pin": 3}, fc.REASON_PIN_CONFLICT),  # old: accepted
        ({"laser_pin": 1}, fc.REASON_PIN_CONFLICT),  # old: bad_config (serial pin)
    ],
    ids=["pwm_level_300", "pwm_equals_interlock", "laser_on_serial_pin"],
)
def test_config_refusals(uno: RawUno, changes: dict[str, int], reason: int) -> None:
    """Out-of-range or colliding CONFIG values are refused with a reason. (Old firmware: the
    first two were accepted; every refusal said bad_config.)"""
    uno.send(sysex(fc.SYSEX_OPTORIG_CONFIG, config_payload(**changes)))
    refused = uno.wait_event(fc.EVENT_REFUSED)
    assert refused and refused[-1].reason == reason
    assert not uno.events(fc.EVENT_CONFIG_ACK)


def test_config_with_the_wrong_byte_count_is_refused(uno: RawUno) -> None:
    """CONFIG is exactly CONFIG_PAYLOAD_BYTES long: 23 or 25 bytes are refused. (Old firmware:
    a 25-byte CONFIG was accepted.)"""
    good = config_payload()
    uno.send(sysex(fc.SYSEX_OPTORIG_CONFIG, good[:-1]) + sysex(fc.SYSEX_OPTORIG_CONFIG, good + b"\x00"))
    uno.wait_emulated(0.05)
    assert [r.reason for r in uno.events(fc.EVENT_REFUSED)] == [fc.REASON_BAD_CONFIG] * 2


def test_pin_modes_at_boot_match_the_direction_registers(uno: RawUno) -> None:
    """At boot a free pin is an input (DDR = 0), and the pin-state query says so; the laser pin
    is an output. (Old firmware: pin_mode[] said OUTPUT for every pin.)"""
    uno.send(bytes([0xF0, 0x6D, 4, 0xF7, 0xF0, 0x6D, LASER, 0xF7]))
    uno.wait_emulated(0.05)
    states = {r.payload[0]: r.payload[1] for r in uno.replies() if r.command == 0x6E}
    assert states == {4: 0, LASER: 1}


def test_events_carry_a_49_bit_microsecond_clock(uno: RawUno) -> None:
    """EVENT payloads are EVENT_PAYLOAD_BYTES long with a 7-byte device_us (wraps after 17.8
    years, not 51 days). (Old firmware: 6 bytes.)"""
    uno.send(sysex(fc.SYSEX_OPTORIG_HEARTBEAT, b"\x01\x05"))  # [channel mask, token]
    acks = uno.wait_event(fc.EVENT_HEARTBEAT_ACK)
    assert acks and len(acks[-1].payload) == fc.EVENT_PAYLOAD_BYTES
    decoded = fc.decode_event(acks[-1].payload)
    assert decoded is not None and decoded[4] == 5 and decoded[1] > 0


def test_active_low_laser_is_high_when_off_and_after_a_reset(uno: RawUno) -> None:
    """CONFIG with polarity active-low: the pin goes HIGH (off) at once, LOW only while the gate
    is open, and after a reset .init3 drives it HIGH within 100 cycles from the EEPROM record.
    (Old firmware: ignored the polarity byte, so an active-low laser was on whenever closed.)"""
    start = mark(uno.sim, "config")
    uno.start_session(config_payload(watchdog_ms=5000, polarity=fc.POLARITY_ACTIVE_LOW))
    edges = uno.sim.edges(LASER)
    assert edges and edges[-1][1] == 1 and edges[-1][0] > start
    uno.send(GATE_OPEN)
    uno.wait_emulated(0.05)
    uno.send(GATE_CLOSE)
    uno.wait_emulated(0.05)
    uno.wait_emulated(0.05)  # EEPROM write (~3.4 ms a byte)
    uno.sim.command("reset")
    uno.wait_emulated(0.1)
    reset = command_cycle(uno.sim, "reset")
    edges = uno.sim.edges(LASER)
    lows = [c for c, v in edges if v == 0 and start < c < reset]
    assert len(lows) == 1  # the gate window only
    # (simavr shows the port's reset value, 0, for the instant before .init3 runs; on a real
    # Uno the pin is an input then and the pull-up of docs/wiring.md holds the line HIGH)
    after = [(c, v) for c, v in edges if c >= reset]
    # the register reset may show as one edge to 0; .init3 restores HIGH within 200 cycles
    # (protocol 3 firmware: simavr shows no blip at all, the pin stays HIGH)
    if after:
        assert after[0][1] == 0 and after[1][1] == 1 and after[1][0] - after[0][0] < 200
        assert all(v == 1 for _, v in after[1:])
    assert level_at(edges, reset + 1000) == 1
    uno.send(sysex(fc.SYSEX_OPTORIG_CONFIG, config_payload()))  # back to active high
    uno.wait_emulated(0.05)
    assert uno.sim.edges(LASER)[-1][1] == 0
