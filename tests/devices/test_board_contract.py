"""One contract suite for every LaserBoard: MockBoard and FirmataBoard over a pty."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from rig.clock import ManualClock
from rig.devices.board import BoardEvent, BoardEventKind, LaserBoard, LaserConfig
from rig.devices.firmata_board import FirmataBoard
from rig.devices.firmware_emulator import EmulatedUno
from rig.devices.mock_board import MockBoard
from rig.errors import BoardLost, ConfigError


def wait_for(board: LaserBoard, kind: BoardEventKind, seen: list[BoardEvent], timeout_s: float = 5.0) -> BoardEvent:
    """Drain events until one of ``kind`` arrives (bounded); keeps everything in ``seen``."""
    pause = threading.Event()
    deadline = time.monotonic() + timeout_s
    while True:
        for event in board.events():
            seen.append(event)
            if event.kind is kind:
                return event
        if time.monotonic() > deadline:
            raise AssertionError(f"no {kind} within {timeout_s} s; saw {[e.kind for e in seen]}")
        pause.wait(0.005)


def wait_until(condition: Callable[[], bool], timeout_s: float = 5.0) -> bool:
    """Poll ``condition`` until it holds or ``timeout_s`` passes; returns its last value."""
    pause = threading.Event()
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            return condition()
        pause.wait(0.005)
    return True


@pytest.fixture(params=["mock", "firmata_pty"])
def board(request: pytest.FixtureRequest) -> Iterator[LaserBoard]:
    if request.param == "mock":
        with MockBoard() as mock:
            yield mock
    else:
        with EmulatedUno() as emu, FirmataBoard(emu.port, ready_timeout_s=3.0) as real:
            yield real


def test_open_reports_ready_and_gate_closed(board: LaserBoard) -> None:
    assert board.is_open
    assert not board.gate_open
    wait_for(board, BoardEventKind.READY, [])


def test_gate_open_close_reports_device_events(board: LaserBoard) -> None:
    seen: list[BoardEvent] = []
    board.set_gate(True)
    assert board.gate_open
    opened = wait_for(board, BoardEventKind.GATE_OPENED, seen)
    assert opened.pin_level == 1 and opened.device_us is not None
    board.set_gate(False)
    closed = wait_for(board, BoardEventKind.GATE_CLOSED, seen)
    assert closed.pin_level == 0
    assert closed.pulses is not None and closed.pulses >= 1
    assert not board.gate_open


def test_laser_off_is_idempotent_and_safe_after_close(board: LaserBoard) -> None:
    board.set_gate(True)
    board.laser_off()
    board.laser_off()
    assert not board.gate_open
    board.close()
    board.laser_off()  # must not raise
    assert not board.is_open


def test_set_gate_after_close_raises_board_lost(board: LaserBoard) -> None:
    board.close()
    with pytest.raises(BoardLost):
        board.set_gate(True)


def test_configure_closes_gate(board: LaserBoard) -> None:
    board.set_gate(True)
    board.configure(LaserConfig(frequency_hz=40.0, pulse_width_ms=5.0))
    assert not board.gate_open
    board.set_gate(True)
    assert board.gate_open
    board.laser_off()


def test_firmata_rejects_config_the_firmware_cannot_generate() -> None:
    with EmulatedUno() as emu, FirmataBoard(emu.port) as real:
        with pytest.raises(ConfigError, match="pulse_width_ms"):
            real.configure(LaserConfig(frequency_hz=100.0, pulse_width_ms=15.0))
        with pytest.raises(ConfigError, match="frequency_hz"):
            real.configure(LaserConfig(frequency_hz=1000.0, pulse_width_ms=0.5))


# ---- MockBoard's emulation of the firmware rules (injected clock, no sleeps) --------------


def test_mock_watchdog_closes_gate_when_host_stalls() -> None:
    clock = ManualClock()
    with MockBoard(clock=clock) as mock:
        mock.set_gate(True)
        clock.advance_s(10.0)  # an alive host keeps the watchdog fed
        assert mock.gate_open
        mock.stall_host()
        clock.advance_s(0.299)
        assert mock.gate_open
        clock.advance_s(0.002)
        assert not mock.gate_open
        kinds = [e.kind for e in mock.events()]
        assert BoardEventKind.WATCHDOG in kinds
        mock.resume_host()
        mock.set_gate(True)  # the driver re-arms
        assert mock.gate_open


def test_mock_cap_and_interlock() -> None:
    clock = ManualClock()
    with MockBoard(clock=clock, interlock=True) as mock:
        mock.configure(LaserConfig(max_on_s=2.0))
        mock.set_gate(True)
        clock.advance_s(2.0)
        assert not mock.gate_open
        events = mock.events()
        cap = [e for e in events if e.kind is BoardEventKind.CAP]
        closed = [e for e in events if e.kind is BoardEventKind.GATE_CLOSED]
        assert cap and closed[-1].pulses == 40
        mock.set_gate(True)
        mock.set_interlock(True)
        assert not mock.gate_open
        mock.set_gate(True)  # refused while the interlock is tripped
        assert not mock.gate_open
        assert any(e.kind is BoardEventKind.FAULT for e in mock.events())
        mock.set_interlock(False)
        mock.set_gate(True)
        assert mock.gate_open


def test_mock_fail_next_write_reports_disconnect() -> None:
    with MockBoard() as mock:
        mock.fail_next_write = True
        with pytest.raises(BoardLost):
            mock.set_gate(True)
        assert not mock.gate_open
        assert BoardEventKind.DISCONNECTED in [e.kind for e in mock.events()]


# ---- FirmataBoard specifics over the pty ------------------------------------------------


@pytest.mark.slow
def test_unplug_reports_fault_laser_off_and_reconnects(tmp_path: Path) -> None:
    link = str(tmp_path / "ttyOPTORIG")
    emu = EmulatedUno(link=link).start()
    try:
        with FirmataBoard(link, ready_timeout_s=1.0) as real:
            seen: list[BoardEvent] = []
            real.set_gate(True)
            wait_for(real, BoardEventKind.GATE_OPENED, seen)
            emu.unplug()
            assert not emu.rules.gate_open  # the device side ends with the laser off
            wait_for(real, BoardEventKind.DISCONNECTED, seen)
            with pytest.raises(BoardLost):
                real.set_gate(True)
            assert not real.gate_open
            emu.start()  # plug back in (same path)
            wait_for(real, BoardEventKind.RECONNECTED, seen, timeout_s=10.0)
            assert not real.gate_open and not emu.rules.gate_open
            real.set_gate(True)
            wait_for(real, BoardEventKind.GATE_OPENED, seen)
    finally:
        emu.unplug()


def test_firmata_watchdog_event_then_rearm() -> None:
    with EmulatedUno() as emu, FirmataBoard(emu.port) as real:
        seen: list[BoardEvent] = []
        real.set_gate(True)
        wait_for(real, BoardEventKind.GATE_OPENED, seen)
        emu.deaf = True  # the device hears no heartbeat: a stalled host
        wait_for(real, BoardEventKind.WATCHDOG, seen)
        emu.deaf = False
        assert not emu.rules.gate_open
        real.set_gate(True)
        wait_for(real, BoardEventKind.GATE_OPENED, seen)
        assert emu.rules.gate_open


def test_standard_firmata_fallback_is_host_timed(caplog: pytest.LogCaptureFixture) -> None:
    with EmulatedUno(standard_firmata=True) as emu, FirmataBoard(emu.port, ready_timeout_s=1.0) as real:
        assert real.info.kind == "standard_firmata" and not real.info.device_timed
        assert "HOST-SIDE ONLY" in caplog.text
        real.configure(LaserConfig(mode="continuous"))
        real.set_gate(True)
        assert wait_until(lambda: emu.digital_ports[1] & 0b10 != 0)  # D9 high (host-timed)
        real.set_gate(False)
        assert not real.gate_open
        # The emulator handles bytes on its own thread: wait (bounded) for the write to land.
        assert wait_until(lambda: emu.digital_ports[1] & 0b10 == 0)  # D9 low
