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
from rig.errors import BoardFault, BoardLost, ConfigError, FirmwareMismatch


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


@pytest.fixture(params=["mock", "firmata_pty", "mock_channel_2", "firmata_pty_channel_2"])
def board(request: pytest.FixtureRequest) -> Iterator[LaserBoard]:
    """The board itself (= channel 0), or a view of channel 2 (issue 16): a channel view
    is a full LaserBoard and passes the same contract."""
    if request.param == "mock":
        with MockBoard() as mock:
            yield mock
    elif request.param == "mock_channel_2":
        with MockBoard().channel(2) as view:
            yield view
    elif request.param == "firmata_pty":
        with EmulatedUno() as emu, FirmataBoard(emu.port, ready_timeout_s=3.0) as real:
            yield real
    else:
        with EmulatedUno() as emu, FirmataBoard(emu.port, ready_timeout_s=3.0).channel(2) as view:
            yield view


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
        with pytest.raises(BoardFault):
            mock.set_gate(True)  # never a silent re-arm
        assert not mock.gate_open
        mock.configure(LaserConfig())  # an explicit configure arms again
        mock.set_gate(True)
        assert mock.gate_open


def test_mock_heartbeat_follows_liveness() -> None:
    """Fails on the old code: every MockBoard call counted as a heartbeat, so a hung
    control loop (liveness False) never let the emulated watchdog fire."""
    clock = ManualClock()
    alive = [True]
    with MockBoard(clock=clock) as mock:
        mock.set_liveness(lambda: alive[0])
        mock.set_gate(True)
        clock.advance_s(1.0)
        assert mock.gate_open
        alive[0] = False
        clock.advance_s(0.301)
        assert not mock.gate_open
        assert BoardEventKind.WATCHDOG in [e.kind for e in mock.events()]


def test_firmata_heartbeat_follows_liveness() -> None:
    """Fails on the old code: FirmataBoard's heartbeat thread fed the firmware watchdog
    whatever the control loop did. Here the emulated firmware (which counts only explicit
    HEARTBEAT messages) closes the gate once liveness says the loop is not alive."""
    alive = [True]
    with EmulatedUno() as emu, FirmataBoard(emu.port) as real:
        real.set_liveness(lambda: alive[0])
        # A long watchdog: a busy test machine must not starve the heartbeat thread into
        # a trip while "alive" (the 300 ms default is measured in simavr).
        real.configure(LaserConfig(watchdog_timeout_ms=1500))
        seen: list[BoardEvent] = []
        real.set_gate(True)
        wait_for(real, BoardEventKind.GATE_OPENED, seen)
        time.sleep(2.0)  # > watchdog: heartbeats keep it open while alive
        assert emu.rules.gate_open
        alive[0] = False
        wait_for(real, BoardEventKind.WATCHDOG, seen)
        assert not emu.rules.gate_open
        with pytest.raises(BoardFault):
            real.set_gate(True)


def test_firmata_device_reset_is_never_rearmed_silently() -> None:
    """Fails on the old code: after a device reset (READY) the driver still believed the
    gate open and re-sent nothing; now the gate state follows the board and gate-open
    raises BoardFault until configure()."""
    with EmulatedUno() as emu, FirmataBoard(emu.port) as real:
        seen: list[BoardEvent] = []
        real.set_gate(True)
        wait_for(real, BoardEventKind.GATE_OPENED, seen)
        emu.reset()
        wait_for(real, BoardEventKind.READY, seen)
        assert not real.gate_open
        with pytest.raises(BoardFault):
            real.set_gate(True)
        assert not emu.rules.gate_open
        real.configure(LaserConfig())
        real.set_gate(True)
        wait_for(real, BoardEventKind.GATE_OPENED, seen)


def test_second_process_on_the_port_is_refused_and_sends_nothing() -> None:
    """Fails on the old code (port not exclusive): a second FirmataBoard on the same port
    opened it and its connect sequence reached the device."""
    with EmulatedUno() as emu, FirmataBoard(emu.port) as first:
        seen: list[BoardEvent] = []
        first.set_gate(True)
        wait_for(first, BoardEventKind.GATE_OPENED, seen)
        before = len(emu.received)
        received_before = b"".join(emu.received)
        second = FirmataBoard(emu.port, ready_timeout_s=0.5)
        with pytest.raises(BoardLost, match="port busy: in use by another program"):
            second.open()
        second.laser_off()
        time.sleep(0.3)
        # Only the first board's heartbeats arrived meanwhile; the gate stayed open.
        assert emu.rules.gate_open and first.gate_open
        later = b"".join(emu.received)[len(received_before):]
        assert bytes([0xF0, 0x01]) not in later  # no IDENTIFY from the second process
        assert len(emu.received) >= before


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


def test_firmata_watchdog_event_then_explicit_rearm() -> None:
    """Fails on the old code: set_gate(True) silently re-armed after a watchdog trip."""
    with EmulatedUno() as emu, FirmataBoard(emu.port) as real:
        seen: list[BoardEvent] = []
        real.set_gate(True)
        wait_for(real, BoardEventKind.GATE_OPENED, seen)
        emu.deaf = True  # the device hears no heartbeat: a stalled host
        wait_for(real, BoardEventKind.WATCHDOG, seen)
        emu.deaf = False
        assert not emu.rules.gate_open
        with pytest.raises(BoardFault):
            real.set_gate(True)
        assert not emu.rules.gate_open
        real.configure(LaserConfig())
        real.set_gate(True)
        wait_for(real, BoardEventKind.GATE_OPENED, seen)
        assert emu.rules.gate_open


def test_standard_firmata_refused_by_default() -> None:
    """Fails on the old code: StandardFirmata (no watchdog) was accepted by default."""
    with EmulatedUno(standard_firmata=True) as emu:
        board = FirmataBoard(emu.port, ready_timeout_s=1.0)
        with pytest.raises(FirmwareMismatch, match="allow_host_timed_pulses"):
            board.open()


def test_old_firmware_refused() -> None:
    with EmulatedUno() as emu:  # reports 1.0.0
        board = FirmataBoard(emu.port, ready_timeout_s=1.0, min_firmware_version="9.0.0")
        with pytest.raises(FirmwareMismatch, match="older than 9.0.0"):
            board.open()


def test_standard_firmata_fallback_is_host_timed(caplog: pytest.LogCaptureFixture) -> None:
    with EmulatedUno(standard_firmata=True) as emu, FirmataBoard(
        emu.port, ready_timeout_s=1.0, allow_standard_firmata=True
    ) as real:
        assert real.info.kind == "standard_firmata" and not real.info.device_timed
        assert "HOST-SIDE ONLY" in caplog.text
        real.configure(LaserConfig(mode="continuous"))
        real.set_gate(True)
        assert wait_until(lambda: emu.digital_ports[1] & 0b10 != 0)  # D9 high (host-timed)
        real.set_gate(False)
        assert not real.gate_open
        # The emulator handles bytes on its own thread: wait (bounded) for the write to land.
        assert wait_until(lambda: emu.digital_ports[1] & 0b10 == 0)  # D9 low


def test_laser_off_does_not_wait_on_a_stuck_write() -> None:
    """Fails on the old code: writes had no timeout, so laser_off waited for ever behind a
    write stuck under the driver's lock (a USB link that takes no more bytes)."""
    from rig.devices.firmata_board import WRITE_TIMEOUT_S

    with EmulatedUno() as emu:
        real = FirmataBoard(emu.port, auto_reconnect=False)
        real.open()
        try:
            emu.reading = False
            stuck = threading.Thread(target=lambda: _write_junk(real), daemon=True)
            stuck.start()
            time.sleep(0.05)
            done = threading.Event()
            took: list[float] = []

            def off() -> None:
                start = time.monotonic()
                real.laser_off()
                took.append(time.monotonic() - start)
                done.set()

            threading.Thread(target=off, daemon=True).start()
            assert done.wait(5.0), "laser_off hung behind the stuck write"
            # the stuck write gives up after WRITE_TIMEOUT_S without progress, then
            # laser_off's own write does; generous bound for a busy machine
            assert took[0] < 10 * WRITE_TIMEOUT_S + 1.0
            stuck.join(5.0)
        finally:
            emu.reading = True
            real.close()


def _write_junk(board: FirmataBoard) -> None:
    """Hold the driver's lock in a write that the device never takes."""
    with board._lock:
        try:
            board._board.sp.write(bytes(1_000_000))
        except Exception:  # noqa: BLE001 - the timeout is what we expect
            pass
