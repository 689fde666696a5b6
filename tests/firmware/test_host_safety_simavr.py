"""Host safety paths against the real firmware in simavr, through the real FirmataBoard.

Every bound is measured in emulated CPU cycles (16 MHz) from the harness's pin log, never
on the wall clock: the emulation may lag behind real time on a busy machine. Each test
names the old behaviour it fails on.
"""

from __future__ import annotations

import dataclasses
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
from typing import Any

import pytest

from rig.devices.board import BoardEventKind
from rig.devices.firmware_emulator import CYCLES_PER_S, SimavrUno, build_firmware
from rig.devices.registry import make_rig_board
from rig.rigfile.load import LoadedRig, load_rig
from rig.session.runner import SessionRunner
from rig.session.status import EndReason
from rig.tracking.detect import TrackResult
from tests.session.helpers import ScriptedSource, read_csv, read_json
from tests.firmware.raw_client import NEEDS_SIMAVR

pytestmark = [pytest.mark.emulator, NEEDS_SIMAVR]
LASER = 9
PWM = 3
MS = CYCLES_PER_S // 1000

PROTOCOL = """\
schema_version: 2
metadata: {name: host-safety}
arena:
  calibration: synthetic_arena.yaml
  stimulated: {rule: fixed, side: left}
stimulation: {mode: continuous, ramp_down_ms: RAMP}
safety: {max_duty_cycle: 1.0, max_continuous_on_s: 600, max_total_on_s: 3600}
phases:
  - {name: light, duration_s: DURATION, mode: open_loop}
decision: {debounce_s: 0, tracking_loss_grace_s: 0}
tracking:
  background: {source: first_frames, duration_s: 0.3, n_frames: 5}
"""


def protocol_file(tmp_path: Path, duration_s: float = 120, ramp_ms: int = 0) -> Path:
    path = tmp_path / "host-safety.yaml"
    path.write_text(PROTOCOL.replace("DURATION", str(duration_s)).replace("RAMP", str(ramp_ms)))
    return path


def rig_file(tmp_path: Path, port: str, extra: str = "") -> Path:
    path = tmp_path / "rig.yaml"
    path.write_text(
        f"schema_version: 1\nname: sim-rig\nboard:\n  kind: firmata\n  port: {port}\n{extra}"
    )
    return path


def edges(sim: SimavrUno, pin: int) -> list[tuple[int, int]]:
    return sim.edges(pin)


def first_fall_after(sim: SimavrUno, pin: int, cycle: int) -> int | None:
    return next((c for c, v in sim.edges(pin) if v == 0 and c >= cycle), None)


def mark_cycle(sim: SimavrUno, text: str) -> int:
    return next(line.cycle for line in sim.lines() if line.kind == "M" and " ".join(line.fields) == text)


def wait_pin_high(sim: SimavrUno, pin: int = LASER, timeout_s: float = 60, proc: Any = None) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise AssertionError(proc.communicate())
        if any(v == 1 for _, v in sim.edges(pin)):
            return
        time.sleep(0.05)
    raise AssertionError("the laser pin never went high")


def wait_emulated(sim: SimavrUno, ms: int) -> None:
    start = sim.cycle()
    pause = threading.Event()
    while sim.cycle() - start < ms * MS:
        pause.wait(0.02)


def make_runner(loaded_path: Path, rig: LoadedRig, out: Path, *, tracker: Any = None, **kwargs: Any) -> SessionRunner:
    """A session on the real board; frames and tracking are cheap (blank frames, a fixed
    position) so a busy test machine does not starve the heartbeat."""
    from rig.protocol.load import load_protocol

    loaded = load_protocol(loaded_path)
    tracker = tracker or FixedTracker()
    return SessionRunner(
        loaded, ScriptedSource(), make_rig_board(rig.config),
        out, "m1", speed=1.0, simulated=True, rig=rig, tracker_factory=lambda _l, _s: tracker, **kwargs,
    )


class FixedTracker:
    def set_background(self, image: Any) -> None: ...

    def reset(self) -> None: ...

    def track(self, image: Any) -> TrackResult:
        return TrackResult(True, 140.0, 240.0, 500.0)


class ClosedSwitch:
    """A door switch that holds its pin low: simavr lets the firmware's pull-up (enabled at
    each CONFIG) read the pin high again, so the level is re-driven every 10 ms, as a real
    switch to ground would hold it."""

    def __init__(self, sim: SimavrUno, pin: int = 2) -> None:
        self.sim, self.pin = sim, pin
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.01):
            self.sim.command(f"pin {self.pin} 0")

    def __enter__(self) -> ClosedSwitch:
        self.sim.command(f"pin {self.pin} 0")
        self._thread.start()
        return self

    def open_door(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.sim.command(f"pin {self.pin} 1")

    def __exit__(self, *exc: object) -> None:
        self._stop.set()


class HangingTracker:
    """Tracks nothing useful; at call ``hang_at`` marks the emulator's log and hangs."""

    def __init__(self, sim: SimavrUno, hang_at: int) -> None:
        self.sim, self.hang_at, self.calls = sim, hang_at, 0
        self.release = threading.Event()
        self.hung = threading.Event()

    def set_background(self, image: Any) -> None: ...

    def reset(self) -> None: ...

    def track(self, image: Any) -> TrackResult:
        self.calls += 1
        if self.calls == self.hang_at:
            self.sim.command("mark hang")
            self.hung.set()
            self.release.wait(60)
        return TrackResult(True, 140.0, 240.0, 500.0)


@pytest.mark.parametrize("host_close_works", [True, False])
def test_hung_control_loop_laser_low_within_stall_plus_heartbeat_timeout(
    sim: SimavrUno, tmp_path: Path, host_close_works: bool
) -> None:
    """Fails on the old code: a tracker hung with the gate open left the laser pin on (the
    heartbeat thread kept the watchdog fed; 3 s observed). Now the pin is low within
    loop_stall_ms + heartbeat timeout (150 + 300 ms <= 500 ms) of the hang, by the
    supervisor's command or, when that cannot reach the board, by the firmware watchdog
    because the heartbeats stopped; the record says loop_stalled."""
    rig = load_rig(rig_file(tmp_path, sim.port))
    tracker = HangingTracker(sim, hang_at=15)
    runner = make_runner(protocol_file(tmp_path), rig, tmp_path / "out", tracker=tracker)
    if not host_close_works:
        # A stuck link from the hang on: nothing the host writes reaches the board, neither
        # the supervisor's gate command nor the teardown's (on a loaded machine emulated time
        # runs slower than the host's clock, so the teardown 1 s later could otherwise close
        # the gate before the watchdog does); only the firmware watchdog can.
        board: Any = runner._board
        real_send = board._send

        def stuck_send(command: int, data: Any) -> None:
            if not tracker.hung.is_set():
                real_send(command, data)

        board._send = stuck_send
        board.laser_off = lambda: None
    takeover = threading.Event()
    runner.on_takeover = lambda end: takeover.set()
    thread = threading.Thread(target=runner.run, daemon=True)
    thread.start()
    try:
        assert tracker.hung.wait(60)
        assert takeover.wait(30)
        wait_emulated(sim, 600)
    finally:
        tracker.release.set()
        thread.join(30)
    hang = mark_cycle(sim, "hang")
    rises = [c for c, v in sim.edges(LASER) if v == 1]
    assert rises and rises[0] < hang  # on when the loop hung
    fall = first_fall_after(sim, LASER, hang)
    assert fall is not None, "the laser stayed on after the control loop hung"
    delay_ms = (fall - hang) / MS
    assert delay_ms <= 500, delay_ms
    assert runner.session_dir is not None
    assert read_json(runner.session_dir / "session.json")["end_reason"] == "loop_stalled"
    events = read_csv(runner.session_dir / "events.csv")
    assert "loop_stalled" in [e["kind"] for e in events]
    if not host_close_works:
        assert "board_watchdog" in [e["kind"] for e in events] or delay_ms >= 300


def _start_run(protocol: Path, rig: Path, out: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "rig", "run", str(protocol), "--rig", str(rig), "--animal", "m1",
         "--source", "synthetic", "--out", str(out), "--speed", "1"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


@pytest.mark.parametrize("signum", [signal.SIGHUP, signal.SIGTERM])
def test_signal_to_rig_run_pin_low_within_100ms_and_record_complete(
    sim: SimavrUno, tmp_path: Path, signum: int
) -> None:
    """Fails on the old code: SIGHUP had no handler (end_reason null, laser on until the
    watchdog, 253 ms) and SIGTERM only requested a stop at the next frame."""
    out = tmp_path / "out"
    proc = _start_run(protocol_file(tmp_path), rig_file(tmp_path, sim.port), out)
    try:
        wait_pin_high(sim, proc=proc)
        time.sleep(0.3)
        sim.command("mark signal")
        proc.send_signal(signum)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 128 + signum, stderr
    sent = mark_cycle(sim, "signal")
    fall = first_fall_after(sim, LASER, sent)
    assert fall is not None and (fall - sent) / MS <= 100, (fall, sent)
    session_dir = next(out.glob("sessions/*"))
    header = read_json(session_dir / "session.json")
    assert header["end_reason"] == "stopped_by_user"
    assert header["rig"]["sha256"] and (session_dir / "rig.yaml").read_bytes() == (tmp_path / "rig.yaml").read_bytes()
    assert (session_dir / "summary.json").exists()
    events = read_csv(session_dir / "events.csv")
    assert [e for e in events if e["kind"] in ("laser_on", "laser_off")][-1]["kind"] == "laser_off"
    stop = next(e for e in events if e["kind"] == "stop_signal")
    assert signal.Signals(signum).name in stop["detail"]
    assert events[-1]["kind"] == "session_end"


@pytest.mark.parametrize("signum", [signal.SIGHUP, signal.SIGTERM])
def test_signal_to_board_test_pulse_pin_low_within_100ms(sim: SimavrUno, signum: int) -> None:
    """Fails on the old code: `rig board test-pulse` had no SIGTERM/SIGHUP handler; the pin
    went low only through the firmware watchdog (215 ms)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "rig", "board", "test-pulse", "--port", sim.port, "--duration-s", "60", "--yes"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        wait_pin_high(sim, proc=proc)
        time.sleep(0.3)
        sim.command("mark signal")
        proc.send_signal(signum)
        stdout, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 128 + signum, stderr
    sent = mark_cycle(sim, "signal")
    pin = sim.edges(LASER)
    assert [c for c, v in pin if v == 1 and c < sent]  # the train was running
    last_cycle, last_level = pin[-1]
    # The pin ends low, and its last change (a pulse cut short, or the end of the last
    # pulse) is within 100 ms of the signal: no pulse after that.
    assert last_level == 0
    assert (last_cycle - sent) / MS <= 100, (last_cycle - sent) / MS
    assert "stopped by" in stdout + stderr


def test_second_process_refused_and_first_session_undisturbed(sim: SimavrUno, tmp_path: Path) -> None:
    """Fails on the old code: `rig board info` on the same port closed a running session's
    gate (the session kept recording laser_on=1) or ended it."""
    # Starting a second Python process loads a busy test machine: generous liveness limits
    # here, as this test is about the port (the liveness bound has its own test).
    rig = load_rig(rig_file(tmp_path, sim.port, "loop_stall_ms: 1500\nheartbeat_timeout_ms: 1500\n"))
    runner = make_runner(protocol_file(tmp_path, duration_s=6), rig, tmp_path / "out")
    result: list[EndReason] = []
    thread = threading.Thread(target=lambda: result.append(runner.run()), daemon=True)
    thread.start()
    wait_pin_high(sim)
    sim.command("mark second")
    second = subprocess.run(
        [sys.executable, "-m", "rig", "board", "info", "--port", sim.port],
        capture_output=True, text=True, timeout=60,
    )
    thread.join(60)
    assert second.returncode != 0
    assert "port busy: in use by another program" in second.stderr
    assert result == [EndReason.COMPLETED]
    second_at = mark_cycle(sim, "second")
    # The second process sent nothing: no firmware query or identify reached the device
    # after it started, until the first session's own teardown (its IDENTIFY at close).
    after = [line for line in sim.lines() if line.kind == "R" and line.cycle > second_at]
    assert not [line for line in after if "f079" in line.fields[0]]
    assert runner.session_dir is not None
    events = read_csv(runner.session_dir / "events.csv")
    kinds = [e["kind"] for e in events]
    assert not {"board_disconnected", "board_fault", "board_watchdog"} & set(kinds)
    # Every gate window on the pin is one the session commanded and recorded.
    rises = [c for c, v in sim.edges(LASER) if v == 1]
    assert len(rises) == kinds.count("board_gate_opened") == kinds.count("laser_on")
    assert kinds.count("board_gate_closed") == kinds.count("laser_off")


@pytest.mark.parametrize("action", ["end_session", "continue_without_light"])
def test_device_reset_mid_session_is_a_board_fault(sim: SimavrUno, tmp_path: Path, action: str) -> None:
    """Fails on the old code: after a reset (READY) CONFIG/ARM were never re-sent, every
    later gate-open was refused, and the engine still recorded the light on."""
    rig = load_rig(rig_file(tmp_path, sim.port, f"on_board_fault: {action}\n"))
    runner = make_runner(protocol_file(tmp_path, duration_s=5), rig, tmp_path / "out")
    result: list[EndReason] = []
    thread = threading.Thread(target=lambda: result.append(runner.run()), daemon=True)
    thread.start()
    wait_pin_high(sim)
    time.sleep(0.5)
    sim.command("reset")
    thread.join(60)
    expected = EndReason.BOARD_FAULT if action == "end_session" else EndReason.COMPLETED
    assert result == [expected]
    assert runner.session_dir is not None
    events = read_csv(runner.session_dir / "events.csv")
    fault = next(e for e in events if e["kind"] == "board_fault")
    assert "reset" in fault["detail"]
    rows = read_csv(runner.session_dir / "frames.csv")
    after = [r for r in rows if float(r["t_s"]) > float(fault["t_s"])]
    assert all(r["laser_on"] == "0" for r in after)
    if action == "continue_without_light":
        assert len(after) > 30
    reset = mark_cycle(sim, "reset")
    assert not [c for c, v in sim.edges(LASER) if v == 1 and c > reset]  # never on again
    assert read_json(runner.session_dir / "session.json")["end_reason"] == expected.value


def test_pause_with_gate_open_closes_it(sim: SimavrUno, tmp_path: Path) -> None:
    """Fails on the old code: pausing a recorded or synthetic source left the gate open
    until the firmware cap."""
    rig = load_rig(rig_file(tmp_path, sim.port))
    runner = make_runner(protocol_file(tmp_path, duration_s=60), rig, tmp_path / "out")
    thread = threading.Thread(target=runner.run, daemon=True)
    thread.start()
    try:
        wait_pin_high(sim)
        time.sleep(0.3)
        sim.command("mark pause")
        runner.set_paused(True)
        wait_emulated(sim, 1500)  # paused well past the watchdog: no trip, no fault
        sim.command("mark resume")
        runner.set_paused(False)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and len([v for _, v in sim.edges(LASER) if v == 1]) < 2:
            time.sleep(0.05)
    finally:
        runner.request_stop()
        thread.join(60)
    paused = mark_cycle(sim, "pause")
    fall = first_fall_after(sim, LASER, paused)
    assert fall is not None and (fall - paused) / MS <= 100
    resumed = mark_cycle(sim, "resume")
    assert not [c for c, v in sim.edges(LASER) if v == 1 and paused < c < resumed]
    assert [c for c, v in sim.edges(LASER) if v == 1 and c > resumed]  # light again after resume
    assert runner.session_dir is not None
    kinds = [e["kind"] for e in read_csv(runner.session_dir / "events.csv")]
    assert "paused" in kinds and "resumed" in kinds and "board_fault" not in kinds


def test_interlock_open_at_start_refused_and_trip_mid_session(sim: SimavrUno, tmp_path: Path) -> None:
    """Fails on the old code: no path configured the interlock (BoardSpec had only kind and
    port), so an open door neither refused Start nor stopped the light."""
    interlock = "interlock:\n  pin: 2\n  closed_level: low\n  required: true\n  on_trip: stop_session\n"
    rig = load_rig(rig_file(tmp_path, sim.port, interlock))
    # the unwired switch reads HIGH through the pull-up: open
    refused = make_runner(protocol_file(tmp_path, duration_s=30), rig, tmp_path / "out")
    assert refused.run() is EndReason.INTERLOCK
    assert "interlock (pin 2) is open" in (refused.status.fault or "")
    assert refused.session_dir is None
    assert not [c for c, v in sim.edges(LASER) if v == 1]
    runner = make_runner(protocol_file(tmp_path, duration_s=30), rig, tmp_path / "out")
    result: list[EndReason] = []
    thread = threading.Thread(target=lambda: result.append(runner.run()), daemon=True)
    with ClosedSwitch(sim) as door:  # door closed
        thread.start()
        wait_pin_high(sim)
        time.sleep(0.3)
        door.open_door()  # opened mid-session
        thread.join(60)
    assert result == [EndReason.INTERLOCK]
    trip = next(line.cycle for line in sim.lines() if line.kind == "M" and line.fields[:3] == ("pin", "2", "1"))
    fall = first_fall_after(sim, LASER, trip)
    assert fall is not None and (fall - trip) / MS < 2
    assert runner.session_dir is not None
    assert read_json(runner.session_dir / "session.json")["end_reason"] == "interlock"
    events = read_csv(runner.session_dir / "events.csv")
    trip_event = next(e for e in events if e["kind"] == "interlock_tripped")
    rows = read_csv(runner.session_dir / "frames.csv")
    assert all(r["laser_on"] == "0" for r in rows if float(r["t_s"]) > float(trip_event["t_s"]))


def test_interlock_trip_with_pause_light_resumes_after_closing(sim: SimavrUno, tmp_path: Path) -> None:
    interlock = "interlock:\n  pin: 2\n  required: true\n  on_trip: pause_light\n"
    rig = load_rig(rig_file(tmp_path, sim.port, interlock))
    runner = make_runner(protocol_file(tmp_path, duration_s=30), rig, tmp_path / "out")
    thread = threading.Thread(target=runner.run, daemon=True)
    door = ClosedSwitch(sim).__enter__()
    thread.start()
    try:
        wait_pin_high(sim)
        time.sleep(0.3)
        door.open_door()
        wait_emulated(sim, 500)
        door = ClosedSwitch(sim).__enter__()  # closed again
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and len([v for _, v in sim.edges(LASER) if v == 1]) < 2:
            time.sleep(0.05)
    finally:
        runner.request_stop()
        thread.join(60)
        door.__exit__()
    lines = sim.lines()
    trip = next(l.cycle for l in lines if l.kind == "M" and l.fields[:3] == ("pin", "2", "1"))
    cleared = next(l.cycle for l in lines if l.kind == "M" and l.fields[:3] == ("pin", "2", "0") and l.cycle > trip)
    assert not [c for c, v in sim.edges(LASER) if v == 1 and trip < c < cleared]
    assert [c for c, v in sim.edges(LASER) if v == 1 and c > cleared]  # light again
    assert runner.session_dir is not None
    kinds = [e["kind"] for e in read_csv(runner.session_dir / "events.csv")]
    assert "interlock_tripped" in kinds and "interlock_cleared" in kinds


def test_ramp_down_delivered_on_a_pwm_rig(sim: SimavrUno, tmp_path: Path) -> None:
    """Fails on the old code: no rig path set a PWM pin, so ramp_down_ms was sent to a board
    with no analog output and nothing ramped, while the record said it did."""
    rig = load_rig(rig_file(tmp_path, sim.port, "laser:\n  pin: 9\n  pwm_pin: 3\n  pwm_level: 255\n"))
    runner = make_runner(protocol_file(tmp_path, duration_s=2.5, ramp_ms=200), rig, tmp_path / "out")
    assert runner.run() is EndReason.COMPLETED
    wait_emulated(sim, 300)
    ttl_rises = [c for c, v in sim.edges(LASER) if v == 1]
    close = [c for c, v in sim.edges(LASER) if v == 0 and c > ttl_rises[-1]][0]  # the last window
    pwm = sim.edges(PWM)
    toggles_after = [c for c, v in pwm if close < c < close + 250 * MS]
    assert len(toggles_after) > 50  # the PWM output kept modulating through the ramp
    assert pwm[-1][1] == 0 and close + 150 * MS < pwm[-1][0] < close + 260 * MS
    assert runner.session_dir is not None
    header = read_json(runner.session_dir / "session.json")
    assert header["rig"]["pwm_pin"] == 3
