"""The real firmware (avr-gcc build) in simavr, driven through pyfirmata2 / FirmataBoard.

Timing assertions use emulated CPU cycles from the harness's pin log (16 MHz), and waits are
counted in emulated time too, never the wall clock: on a shared 2-core machine the emulation
can lag far behind real time. For the same reason the host's heartbeat-ack timeout is raised
here (the host would otherwise call a lagging emulator lost), and tests that do not test the
watchdog give it its longest timeout, so a host thread starved by the machine's load cannot
close the gate in the middle of a timing measurement.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from rig.devices import firmata_codes as fc
from rig.devices.board import BoardEvent, BoardEventKind, LaserConfig
from rig.devices.firmata_board import FirmataBoard
from rig.devices.firmware_emulator import (
    CYCLES_PER_S,
    HOST_OPENS_GATE_SCRIPT,
    SimavrUno,
    build_firmware,
)
from tests.firmware.raw_client import NEEDS_SIMAVR

pytestmark = [pytest.mark.emulator, NEEDS_SIMAVR]
LASER = 9
US = CYCLES_PER_S // 1_000_000  # cycles per microsecond


PATIENT_WATCHDOG_MS = 5000


def wait_for(board: FirmataBoard, kind: BoardEventKind, sim: SimavrUno, emulated_s: float = 5.0) -> BoardEvent:
    """The next ``kind`` event, within ``emulated_s`` of emulated time."""
    pause = threading.Event()
    end = sim.cycle() + int(emulated_s * CYCLES_PER_S)
    wall_net = time.monotonic() + 600  # only for a hung emulator
    while time.monotonic() < wall_net:
        for event in board.events():
            if event.kind is kind:
                return event
        if sim.cycle() > end:
            break
        pause.wait(0.005)
    raise AssertionError(f"no {kind} within {emulated_s} s of emulated time")


def run_emulated_until(sim: SimavrUno, done: object, emulated_s: float) -> None:
    """Poll ``done()`` until it is true or ``emulated_s`` of emulated time passed."""
    pause = threading.Event()
    end = sim.cycle() + int(emulated_s * CYCLES_PER_S)
    wall_net = time.monotonic() + 600
    while not done() and sim.cycle() < end and time.monotonic() < wall_net:  # type: ignore[operator]
        pause.wait(0.02)


def rising_falling(edges: list[tuple[int, int]]) -> tuple[list[int], list[int]]:
    return [c for c, v in edges if v == 1], [c for c, v in edges if v == 0]


def test_laser_pin_driven_low_first_thing_after_reset(sim: SimavrUno) -> None:
    with FirmataBoard(sim.port) as board:
        board.set_gate(True)
        wait_for(board, BoardEventKind.GATE_OPENED, sim)
        sim.command("reset")
        board.laser_off()
    lines = sim.lines()
    ddr_b = [line for line in lines if line.kind == "D" and line.fields[0] == "B"]
    assert ddr_b[0].cycle < 100 and int(ddr_b[0].fields[1]) & 0b10  # D9 output in .init3
    edges = sim.edges(LASER)
    assert edges[0][1] == 0 and edges[0][0] < 100
    first_gate = next(line.cycle for line in lines if line.kind == "R" and "f0030001f7" in line.fields[0])
    assert all(c > first_gate for c, v in edges if v == 1)  # never high before a gate command
    reset_cycle = next(line.cycle for line in lines if line.kind == "M" and line.fields[0] == "reset")
    after = [(c, v) for c, v in edges if c >= reset_cycle]
    assert after and after[0][1] == 0 and after[0][0] - reset_cycle < 100 * US


@pytest.mark.parametrize(("frequency_hz", "width_ms"), [(20.0, 15.0), (40.0, 5.0)])
def test_pulse_train_frequency_and_width_within_10us(sim: SimavrUno, frequency_hz: float, width_ms: float) -> None:
    with FirmataBoard(sim.port) as board:
        board.configure(
            LaserConfig(
                frequency_hz=frequency_hz, pulse_width_ms=width_ms, max_on_s=60,
                watchdog_timeout_ms=PATIENT_WATCHDOG_MS,
            )
        )
        board.set_gate(True)
        wait_for(board, BoardEventKind.GATE_OPENED, sim)
        target = 102
        run_emulated_until(sim, lambda: len(rising_falling(sim.edges(LASER))[0]) >= target, 60.0)
        board.set_gate(False)
        closed = wait_for(board, BoardEventKind.GATE_CLOSED, sim)
    rises, falls = rising_falling(sim.edges(LASER))
    assert len(rises) >= target
    falls = [c for c in falls if c > rises[0]]
    rises, falls = rises[:target - 1], falls[:target - 1]  # the last pulse may be cut by the close
    period_cycles = CYCLES_PER_S / frequency_hz
    width_cycles = width_ms * CYCLES_PER_S / 1000
    periods = [b - a for a, b in zip(rises, rises[1:])]
    widths = [f - r for r, f in zip(rises, falls)]
    assert max(abs(p - period_cycles) for p in periods) <= 10 * US
    assert max(abs(w - width_cycles) for w in widths) <= 10 * US
    assert closed.pulses is not None and closed.pulses >= target


def test_watchdog_closes_gate_after_host_is_sigkilled(sim: SimavrUno) -> None:
    host = subprocess.Popen([sys.executable, "-c", HOST_OPENS_GATE_SCRIPT, sim.port], stdout=subprocess.PIPE, text=True)
    assert host.stdout is not None
    assert host.stdout.readline().strip() == "open"
    pause = threading.Event()
    pause.wait(0.5)  # let a few heartbeats through
    os.kill(host.pid, signal.SIGKILL)
    host.wait()
    host.stdout.close()
    start = sim.cycle()
    while sim.cycle() - start < CYCLES_PER_S // 2:  # 0.5 s emulated
        pause.wait(0.05)
    lines = sim.lines()
    last_rx = max(line.cycle for line in lines if line.kind == "R")
    rises, falls = rising_falling(sim.edges(LASER))
    assert rises, "the gate never opened"
    off = [c for c in falls if c > rises[-1]]
    assert off, "the laser stayed on after the host died"
    delay_ms = (off[0] - last_rx) / (CYCLES_PER_S / 1000)
    assert 300 <= delay_ms <= 310, delay_ms


def test_firmware_cap_forces_gate_closed(sim: SimavrUno) -> None:
    with FirmataBoard(sim.port) as board:
        board.configure(LaserConfig(mode="continuous", max_on_s=0.5, watchdog_timeout_ms=PATIENT_WATCHDOG_MS))
        board.set_gate(True)
        cap = wait_for(board, BoardEventKind.CAP, sim)
        assert cap.pin_level == 0
    rises, falls = rising_falling(sim.edges(LASER))
    on_ms = (falls[-1] - rises[-1]) / (CYCLES_PER_S / 1000)
    assert 499 <= on_ms <= 501, on_ms  # the cap runs on the 1 ms main-loop clock


def test_interlock_forces_gate_closed_and_refuses_reopen(sim: SimavrUno) -> None:
    with FirmataBoard(sim.port, interlock_pin=2, interlock_trip_level=1) as board:
        board.configure(LaserConfig(mode="continuous", watchdog_timeout_ms=PATIENT_WATCHDOG_MS))
        # the pull-up reads an unwired switch as HIGH (tripped) until the key closes it
        sim.command("pin 2 0")
        pause = threading.Event()
        end = sim.cycle() + 10 * CYCLES_PER_S
        opened = False
        while not opened and sim.cycle() < end:
            board.set_gate(True)  # refused until the firmware sees the switch closed
            pause.wait(0.05)
            opened = any(e.kind is BoardEventKind.GATE_OPENED for e in board.events())
        assert opened
        sim.command("pin 2 1")  # door opened
        event = wait_for(board, BoardEventKind.INTERLOCK, sim)
        assert event.detail == "tripped" and event.pin_level == 0
        board.set_gate(True)
        assert wait_for(board, BoardEventKind.FAULT, sim).detail == "interlock"
    lines = sim.lines()
    trip = next(line.cycle for line in lines if line.kind == "M" and line.fields[:3] == ("pin", "2", "1"))
    rises, falls = rising_falling(sim.edges(LASER))
    off = [c for c in falls if c >= trip]
    assert off and off[0] - trip < 1000 * US  # < 1 ms


@pytest.mark.slow
def test_plain_pyfirmata2_reads_and_writes_ordinary_pins(sim: SimavrUno) -> None:
    import pyfirmata2

    board = pyfirmata2.Arduino(sim.port)  # waits its fixed 5 s
    try:
        values: list[float] = []
        got = threading.Event()
        board.samplingOn(20)
        board.send_sysex(0x79, [])
        board.analog[0].register_callback(lambda v: (values.append(v), got.set()))
        board.analog[0].enable_reporting()
        board.get_pin("d:4:o").write(1)
        board.get_pin("d:9:o").write(1)  # the laser pin is reserved: ignored
        assert got.wait(10)
        start = sim.cycle()
        pause = threading.Event()
        while sim.cycle() - start < CYCLES_PER_S // 10:
            pause.wait(0.02)
        assert board.firmware == "optorig" and board.firmware_version == (fc.OPTORIG_FW_VERSION_MAJOR, fc.OPTORIG_FW_VERSION_MINOR)
    finally:
        board.exit()
    assert (1 in [v for _, v in sim.edges(4)])
    assert all(v == 0 for _, v in sim.edges(LASER))


def test_camera_sync_pulses_at_random_intervals_are_reported_with_the_firmware_clock(sim: SimavrUno) -> None:
    with FirmataBoard(sim.port) as board:
        board.configure_sync(sync_pin=7, led_pin=12, min_interval_ms=100, max_interval_ms=300, width_ms=10)
        syncs: list[BoardEvent] = []

        def five_syncs() -> bool:
            syncs.extend(e for e in board.events() if e.kind is BoardEventKind.SYNC)
            return len(syncs) >= 5

        run_emulated_until(sim, five_syncs, 30.0)
        run_emulated_until(sim, lambda: False, 0.05)  # let the 5th pulse end before disabling
        board.configure_sync(False)
    assert len(syncs) >= 5
    rises, falls = rising_falling(sim.edges(7))
    led_rises, _ = rising_falling(sim.edges(12))
    falls = [c for c in falls if c > rises[0]]
    widths_ms = [(f - r) / (CYCLES_PER_S / 1000) for r, f in zip(rises[:5], falls[:5])]
    assert all(abs(w - 10) < 0.01 for w in widths_ms), widths_ms
    intervals_ms = [(b - a) / (CYCLES_PER_S / 1000) for a, b in zip(rises[:5], rises[1:5])]
    assert all(99 <= i <= 311 for i in intervals_ms), intervals_ms  # + the 10 ms pulse
    assert len(set(round(i) for i in intervals_ms)) > 1  # random, not periodic
    assert led_rises[:5] == pytest.approx(rises[:5], abs=1000 * US)  # the LED flashes with it
    # Each event carries the firmware's microsecond clock of its rising edge: the gaps between
    # reported times equal the gaps between the emulated edges.
    device_gaps_us = [b.device_us - a.device_us for a, b in zip(syncs[:5], syncs[1:5])]  # type: ignore[operator]
    edge_gaps_us = [(b - a) / US for a, b in zip(rises[:5], rises[1:5])]
    assert device_gaps_us == pytest.approx(edge_gaps_us, abs=20)


PWM_PERIOD_CYCLES = 16384  # Timer2 fast PWM at 976.6 Hz


def _pwm_duty_at(edges: list[tuple[int, int]], cycle: int) -> float:
    """Duty cycle of the PWM period that contains ``cycle``; a pin that stopped toggling
    counts as 0 (low) or 1 (high)."""
    rises, falls = rising_falling(edges)
    start = max((r for r in rises if r <= cycle), default=None)
    if start is None or cycle - start > 2 * PWM_PERIOD_CYCLES:
        level = max(((c, v) for c, v in edges if c <= cycle), default=(0, 0))[1]
        return float(level)
    next_rise = min((r for r in rises if r > start), default=None)
    fall = min(f for f in falls if f > start)
    assert next_rise is not None and next_rise - start <= 2 * PWM_PERIOD_CYCLES
    return (fall - start) / (next_rise - start)


def test_ramp_down_on_host_close_and_step_off_on_fault(sim: SimavrUno) -> None:
    ms = CYCLES_PER_S // 1000
    with FirmataBoard(sim.port, pwm_pin=3, pwm_level=200) as board:
        board.configure(
            LaserConfig(mode="continuous", ramp_down_ms=200, max_on_s=0.6, watchdog_timeout_ms=PATIENT_WATCHDOG_MS)
        )
        board.set_gate(True)
        wait_for(board, BoardEventKind.GATE_OPENED, sim)
        start = sim.cycle()
        run_emulated_until(sim, lambda: False, 0.3)
        board.set_gate(False)  # host close: TTL low at once, PWM ramps down over 200 ms
        wait_for(board, BoardEventKind.GATE_CLOSED, sim)
        run_emulated_until(sim, lambda: False, 0.3)
        board.set_gate(True)  # then a fault (the 0.6 s cap): PWM drops at once
        wait_for(board, BoardEventKind.CAP, sim)
        run_emulated_until(sim, lambda: False, 0.05)
    ttl_rises, ttl_falls = rising_falling(sim.edges(LASER))
    pwm = sim.edges(3)
    close, cap = [f for f in ttl_falls if f > ttl_rises[0]][:2]
    assert _pwm_duty_at(pwm, close - 20 * ms) == pytest.approx(200 / 255, abs=0.01)
    for after_ms, expected in ((50, 0.75), (100, 0.5), (150, 0.25)):
        duty = _pwm_duty_at(pwm, close + after_ms * ms)
        assert duty == pytest.approx(expected * 200 / 255, abs=0.04), (after_ms, duty)
    assert _pwm_duty_at(pwm, close + 210 * ms) == 0.0
    # The cap is a fault: no ramp, the analog output is low within about a PWM period.
    assert _pwm_duty_at(pwm, cap - 20 * ms) == pytest.approx(200 / 255, abs=0.01)
    # (The firmware may drop the PWM output a few cycles before the TTL pin, or within the
    # running PWM period after it.)
    last_cycle, last_level = pwm[-1]
    assert last_level == 0 and last_cycle - cap < 2 * ms
    assert _pwm_duty_at(pwm, cap + 5 * ms) == 0.0


def test_closed_loop_session_drives_the_real_firmware(sim: SimavrUno, tmp_path: Path) -> None:
    """The whole engine (synthetic arena, tracker, policy) with the real firmware: every gate
    window the engine commanded shows up as a 20 Hz / 15 ms train on the emulated laser pin."""
    from rig.devices.synthetic import SyntheticArena
    from rig.protocol.load import load_default_protocol
    from rig.session.runner import EndReason, SessionRunner
    from tests.conftest import protocol_variant
    from tests.session.helpers import read_csv

    loaded = protocol_variant(
        load_default_protocol(),
        phases=[{"name": "test", "duration_s": 8.0, "mode": "closed_loop"}],
        tracking={"background": {"source": "median", "duration_s": 2.0, "n_frames": 20}},
    )
    from rig.rigfile.load import load_rig

    # Generous liveness limits: the real tracker on a busy test machine must not trip them
    # (the default bounds have their own tests in test_host_safety_simavr.py).
    rig_path = tmp_path / "rig.yaml"
    rig_path.write_text(
        f"schema_version: 1\nboard:\n  kind: firmata\n  port: {sim.port}\n"
        "loop_stall_ms: 1000\nheartbeat_timeout_ms: 1000\n"
    )
    runner = SessionRunner(
        loaded, SyntheticArena(loaded.calibration, fps=30.0, seed=0), FirmataBoard(sim.port),
        tmp_path, "m1", speed=1.0, stim_side="right", simulated=True, rig=load_rig(rig_path),
    )
    assert runner.run() is EndReason.COMPLETED
    assert runner.session_dir is not None
    events = read_csv(runner.session_dir / "events.csv")
    opened = [e for e in events if e["kind"] == "board_gate_opened"]
    closed = [e for e in events if e["kind"] == "board_gate_closed"]
    assert len(opened) == len([e for e in events if e["kind"] == "laser_on"]) >= 1
    assert len(closed) == len(opened)  # every window closed, the last one by the teardown
    rises, falls = rising_falling(sim.edges(LASER))
    falls = [c for c in falls if c > rises[0]]
    assert len(falls) == len(rises)  # the pin ends low
    # Pulses on the pin are those the firmware reported per window (device-timed train).
    reported = sum(int(json.loads(e["detail"])["pulses"]) for e in closed)
    assert reported == len(rises)
    widths_ms = [(f - r) / (CYCLES_PER_S / 1000) for r, f in zip(rises, falls)]
    # The last pulse of every gate window may be cut by its close (a loaded machine flips the
    # gate more often): judge the pulses followed by the next rise of the same 20 Hz train.
    period_ms = [(b - a) / (CYCLES_PER_S / 1000) for a, b in zip(rises, rises[1:])]
    uncut = [w for w, p in zip(widths_ms, period_ms) if p <= 50.0 + 0.05]
    assert uncut and all(abs(w - 15.0) < 0.01 for w in uncut)


def test_firmata_board_sends_active_low_polarity(sim: SimavrUno) -> None:
    """LaserConfig(active_low=True) reaches the firmware as CONFIG's polarity byte: the pin idles
    HIGH and goes LOW only while the gate is open. (Old host and firmware: no polarity.)"""
    with FirmataBoard(sim.port) as board:
        board.configure(LaserConfig(mode="continuous", active_low=True, watchdog_timeout_ms=PATIENT_WATCHDOG_MS))
        assert sim.edges(LASER)[-1][1] == 1
        board.set_gate(True)
        wait_for(board, BoardEventKind.GATE_OPENED, sim)
        board.set_gate(False)
        closed = wait_for(board, BoardEventKind.GATE_CLOSED, sim)
        assert closed.pin_level == 0  # the event reports the laser off (polarity applied)
        assert board.dropped_by_firmware == (0, 0)  # IDENTIFY of protocol 2 parsed
    levels = [v for _, v in sim.edges(LASER)]
    assert levels[-3:] == [1, 0, 1]
