"""Four independent laser channels in the real firmware (issue 16), in simavr script mode.

Every timing is read from the harness's pin log in emulated cycles (16 MHz); the script runs
unpaced, so nothing depends on the wall clock. All of these fail on the old firmware
(protocol 2, one channel): it reads the channel byte of CONFIG as the mode and refuses it,
and GATE/ARM/HEARTBEAT have no channel, so no second train ever starts.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from rig.devices import firmata_codes as fc
from rig.devices.firmware_emulator import build_firmware
from rig.devices.firmware_script import (
    MS,
    Script,
    ScriptRun,
    arm_message,
    config_message,
    gate_message,
    train_timing,
)
from tests.firmware.raw_client import firmware_elf
from tests.firmware.raw_client import NEEDS_SIMAVR

pytestmark = [pytest.mark.emulator, NEEDS_SIMAVR]

PINS = (9, 10, 8, 4)  # ports B, B, B, D
TOLERANCE_US = 10.0


def _start(script: Script, configs: list[bytes], open_at_ms: float = 100.0, channels: tuple[int, ...] = (0, 1, 2, 3)) -> None:
    script.tx(10, b"".join(configs) + b"".join(arm_message(k) for k in channels))
    script.tx(open_at_ms, b"".join(gate_message(k, True) for k in channels))


def _assert_train(run: ScriptRun, pin: int, period_us: int, width_us: int, min_pulses: int) -> None:
    timing = train_timing(run, pin, period_us, width_us)
    assert timing.pulses >= min_pulses, (pin, timing)
    assert timing.worst_period_error_us <= TOLERANCE_US, (pin, timing)
    assert timing.worst_width_error_us <= TOLERANCE_US, (pin, timing)


def test_four_20hz_trains_sweeping_through_coinciding_edges_stay_within_10us(built: tuple[str, str]) -> None:
    """Four 20 Hz / 15 ms trains opened in one write (edges ~0.7 ms apart), with periods 50.00,
    49.99, 49.98 and 49.97 ms: every channel's edges slide through every other's, so around
    the 70th pulse all four rise (and fall) within microseconds of each other. Every
    rise-to-rise period and every width stays within 10 us of the configured value."""
    elf, harness = built
    periods = (50_000, 49_990, 49_980, 49_970)
    script = Script()
    _start(script, [config_message(k, PINS[k], period_us=periods[k]) for k in range(4)])
    script.heartbeats(50, 7300, 0x0F)
    run = script.run(elf, harness, 7300)
    for k in range(4):
        _assert_train(run, PINS[k], periods[k], 15_000, min_pulses=140)
    # the sweep really made edges of different channels coincide (within 20 us)
    rises = sorted((c, k) for k in range(4) for c in run.rises(PINS[k]))
    close = [b[0] - a[0] for a, b in zip(rises, rises[1:]) if a[1] != b[1]]
    assert min(close) <= 20 * 16


def test_four_trains_of_different_frequencies_stay_within_10us(built: tuple[str, str]) -> None:
    """500 Hz / 1 ms, 130 Hz / 2 ms, 50 Hz / 5 ms and 20 Hz / 15 ms on four pins at once."""
    elf, harness = built
    trains = ((2_000, 1_000), (7_690, 2_000), (20_000, 5_000), (50_000, 15_000))
    script = Script()
    _start(script, [config_message(k, PINS[k], period_us=p, width_us=w) for k, (p, w) in enumerate(trains)])
    script.heartbeats(50, 2100, 0x0F)
    run = script.run(elf, harness, 2100)
    for k, (period, width) in enumerate(trains):
        _assert_train(run, PINS[k], period, width, min_pulses=int(1.9e6 / period))


def test_one_channel_without_heartbeats_trips_alone(built: tuple[str, str]) -> None:
    """Heartbeats feed channels 0, 2 and 3 only (mask 0b1101): channel 1 trips its watchdog
    (WATCHDOG event with channel 1, its light off for good) while the other three keep
    pulsing exactly, before and after the trip."""
    elf, harness = built
    script = Script()
    _start(script, [config_message(k, PINS[k], watchdog_ms=300) for k in range(4)])
    script.heartbeats(20, 2100, 0b1101)
    run = script.run(elf, harness, 2100)
    trips = run.of(fc.EVENT_WATCHDOG)
    assert [e.channel for e in trips] == [1]
    closed = run.of(fc.EVENT_GATE_CLOSED, channel=1)
    assert closed and closed[0].reason == fc.REASON_WATCHDOG
    trip_cycle = closed[0].cycle
    assert run.level_at(PINS[1], run.end) == 0
    assert not run.rises(PINS[1], after=trip_cycle)
    for k in (0, 2, 3):
        assert not run.of(fc.EVENT_GATE_CLOSED, channel=k)
        _assert_train(run, PINS[k], 50_000, 15_000, min_pulses=39)
        assert run.rises(PINS[k], after=trip_cycle + 1000 * MS)


def test_one_channel_hitting_its_cap_leaves_the_others_alone(built: tuple[str, str]) -> None:
    """Channel 2 has a 300 ms cap: CAP with channel 2 and its light off; the others run on."""
    elf, harness = built
    script = Script()
    configs = [config_message(k, PINS[k], max_on_ms=300 if k == 2 else 60_000) for k in range(4)]
    _start(script, configs)
    script.heartbeats(20, 1600, 0x0F)
    run = script.run(elf, harness, 1600)
    caps = run.of(fc.EVENT_CAP)
    assert [e.channel for e in caps] == [2]
    opened = run.rises(PINS[2])[0]
    last_fall = run.falls(PINS[2])[-1]
    assert last_fall - opened <= 301 * MS and run.level_at(PINS[2], run.end) == 0
    for k in (0, 1, 3):
        assert not run.of(fc.EVENT_CAP, channel=k)
        _assert_train(run, PINS[k], 50_000, 15_000, min_pulses=29)


def test_a_shared_interlock_trips_every_channel_that_uses_it(built: tuple[str, str]) -> None:
    """Channels 0 and 1 share the door switch on A0 (D14), channel 2 has its own on A1 (D15),
    channel 3 none. A0 opens: channels 0 and 1 report INTERLOCK and go dark within 1 ms; 2 and
    3 keep their trains. The pin-change mask covers both switches (A1 trips channel 2 later).
    (The switches sit on port C: simavr 1.6 re-applies the pull-up of every input of a port on
    each write to that port, overriding the harness's drive, and port B/D carry laser pins.)"""
    elf, harness = built
    script = Script()
    # doors closed (the trip level is HIGH) once CONFIG switched the pull-ups on
    script.pin(60, 14, 0).pin(60, 15, 0)
    configs = [
        config_message(0, PINS[0], mode=fc.MODE_CONTINUOUS, interlock_pin=14),
        config_message(1, PINS[1], interlock_pin=14),
        config_message(2, PINS[2], interlock_pin=15),
        config_message(3, PINS[3]),
    ]
    _start(script, configs)
    script.heartbeats(20, 1600, 0x0F)
    script.pin(500, 14, 1)
    script.pin(1200, 15, 1)
    run = script.run(elf, harness, 1600)
    door = 500 * MS
    trips = run.of(fc.EVENT_INTERLOCK)
    assert sorted(e.channel for e in trips if 100 * MS < e.cycle < 1200 * MS) == [0, 1]
    for k in (0, 1):
        assert run.level_at(PINS[k], door + 1 * MS) == 0
        assert not run.rises(PINS[k], after=door)
    assert [e.channel for e in trips if e.cycle >= 1200 * MS] == [2]
    _assert_train(run, PINS[3], 50_000, 15_000, min_pulses=29)
    assert run.rises(PINS[2], after=door, before=1200 * MS)  # A0 did not touch channel 2


def test_pin_conflicts_across_channels_are_refused(built: tuple[str, str]) -> None:
    """Laser and PWM pins are distinct across channels and never an interlock; an interlock
    pin may be shared (same trip level). Each refused CONFIG names its channel."""
    elf, harness = built
    script = Script()
    script.tx(10, config_message(0, 9, interlock_pin=2, pwm_pin=3))
    cases = [
        config_message(1, 9),  # channel 0's laser pin
        config_message(1, 2),  # channel 0's interlock as a laser
        config_message(1, 10, interlock_pin=9),  # channel 0's laser as an interlock
        config_message(1, 10, pwm_pin=3),  # channel 0's PWM pin
        config_message(1, 3),  # channel 0's PWM pin as a laser
        config_message(1, 10, interlock_pin=2, trip_level=0),  # shared pin, other trip level
        config_message(1, 10, interlock_pin=2),  # shared interlock: accepted
        config_message(2, 10),  # now channel 1's laser pin
        config_message(4, 11),  # no channel 4
    ]
    for i, message in enumerate(cases):
        script.tx(50 + 20 * i, message)
    run = script.run(elf, harness, 50 + 20 * len(cases) + 50)
    answers = [e for e in run.events if e.kind in (fc.EVENT_CONFIG_ACK, fc.EVENT_REFUSED)]
    assert [(e.kind, e.channel) for e in answers][0] == (fc.EVENT_CONFIG_ACK, 0)
    got = [(e.kind, e.reason, e.channel) for e in answers[1:]]
    refused = (fc.EVENT_REFUSED, fc.REASON_PIN_CONFLICT)
    assert got == [
        (*refused, 1),
        (*refused, 1),
        (*refused, 1),
        (*refused, 1),
        (*refused, 1),
        (*refused, 1),
        (fc.EVENT_CONFIG_ACK, fc.REASON_CONFIG, 1),
        (*refused, 2),
        (fc.EVENT_REFUSED, fc.REASON_BAD_CONFIG, fc.CHANNEL_BOARD),
    ]


def test_reset_drives_all_four_laser_pins_off_first(built: tuple[str, str]) -> None:
    """Four channels with mixed polarity, all lit (continuous), then an MCU reset: .init3
    drives every recorded laser pin to its own off level (HIGH for active-low, LOW for
    active-high) within 1000 cycles of the reset, before the C runtime, from the per-channel
    EEPROM records. (Old firmware: one record, so three of the four stayed lit.)"""
    elf, harness = built
    polarity = (fc.POLARITY_ACTIVE_LOW, fc.POLARITY_ACTIVE_HIGH, fc.POLARITY_ACTIVE_LOW, fc.POLARITY_ACTIVE_HIGH)
    script = Script()
    configs = [config_message(k, PINS[k], mode=fc.MODE_CONTINUOUS, polarity=polarity[k]) for k in range(4)]
    _start(script, configs, open_at_ms=200)  # the 4 records take 4 x 5 x 3.4 ms to write
    script.heartbeats(20, 500, 0x0F)
    script.reset(300)
    run = script.run(elf, harness, 400)
    reset = [c for c, text in run.marks if text == "reset"][0]
    for k in range(4):
        on, off = (0, 1) if polarity[k] == fc.POLARITY_ACTIVE_LOW else (1, 0)
        assert run.level_at(PINS[k], reset - 1) == on  # it was lit
        after = [(c, v) for c, v in run.pin(PINS[k]) if c >= reset]
        assert after and after[0][1] == off and after[0][0] - reset < 1000, (k, after)
        assert all(v == off for _, v in after)
