"""Several laser channels on one board (issue 16): FirmataBoard (over the firmware emulator)
and MockBoard behave alike. A hung arena loop starves only its own channel's heartbeat bit,
so only that channel's watchdog trips; the emergency stop closes every channel; a protocol-2
firmware is refused with both versions named. Fail on the old code: boards had no
``channel()`` and one heartbeat fed one watchdog."""

from __future__ import annotations

import time

import pytest

from rig.clock import ManualClock
from rig.devices import firmata_codes as fc
from rig.devices.board import BoardEvent, BoardEventKind, ChannelBoard, ChannelPins, LaserBoard, LaserConfig
from rig.devices.firmata_board import FirmataBoard
from rig.devices.firmware_emulator import EmulatedUno
from rig.devices.mock_board import MockBoard
from rig.errors import BoardFault, ConfigError, FirmwareMismatch
from tests.devices.test_board_contract import wait_for, wait_until


def test_both_boards_are_channel_boards() -> None:
    boards: list[ChannelBoard] = [MockBoard(), FirmataBoard("unused")]
    for board in boards:
        assert board.channel_count == fc.OPTORIG_CHANNELS == 4
        with pytest.raises(ConfigError):
            board.channel(4)


def test_mock_hung_arena_trips_only_its_channel() -> None:
    """Four views with their own liveness checks; arena 1's loop hangs: channel 1 trips its
    watchdog (WATCHDOG on its view, BoardFault on its next open) while the other three
    channels stay open; the board's heartbeat mask drops bit 1 only."""
    clock = ManualClock()
    board = MockBoard(clock=clock)
    alive = [True] * 4
    views = [board.channel(k) for k in range(4)]
    for k, view in enumerate(views):
        view.open()
        view.set_liveness(lambda k=k: alive[k])
        view.set_gate(True)
    clock.advance_s(5.0)
    assert all(v.gate_open for v in views) and board.heartbeat_mask() == 0b1111
    alive[1] = False
    assert board.heartbeat_mask() == 0b1101
    clock.advance_s(0.301)
    assert [v.gate_open for v in views] == [True, False, True, True]
    assert BoardEventKind.WATCHDOG in [e.kind for e in views[1].events()]
    for k in (0, 2, 3):
        assert BoardEventKind.WATCHDOG not in [e.kind for e in views[k].events()]
    with pytest.raises(BoardFault):
        views[1].set_gate(True)
    board.all_off()
    assert not any(v.gate_open for v in views)
    for view in views:
        view.close()
    assert not board.is_open  # the last view closed the shared link


def test_mock_views_are_reference_counted_and_the_board_is_channel_zero() -> None:
    board = MockBoard()
    a, b = board.channel(1), board.channel(3)
    a.open()
    b.open()
    board.open()
    board.set_gate(True)
    assert board.channel(0).gate_open and not a.gate_open
    board.close()  # channel 0 closed; the views keep the link
    assert board.is_open and not board.gate_open
    a.set_gate(True)
    a.close()
    assert board.is_open and not a.gate_open
    b.close()
    assert not board.is_open


def test_firmata_hung_arena_trips_only_its_channel() -> None:
    """The same over FirmataBoard and the emulated firmware: one HEARTBEAT per period with the
    mask of the live channels; the firmware trips channel 1 alone (WATCHDOG carries channel
    1 and reaches only channel 1's view)."""
    alive = [True] * 4
    with EmulatedUno() as emu:
        board = FirmataBoard(emu.port, ready_timeout_s=3.0)
        views = [board.channel(k) for k in range(4)]
        try:
            for k, view in enumerate(views):
                view.open()
                view.set_liveness(lambda k=k: alive[k])
                # a long watchdog: a busy machine must not starve the heartbeat thread
                view.configure(LaserConfig(watchdog_timeout_ms=1500, mode="continuous"))
                view.set_gate(True)
            assert wait_until(lambda: all(r.gate_open for r in emu.channel_rules))
            assert board.heartbeat_mask() == 0b1111
            alive[1] = False
            seen: list[BoardEvent] = []
            wait_for(views[1], BoardEventKind.WATCHDOG, seen, timeout_s=10.0)
            assert [r.gate_open for r in emu.channel_rules] == [True, False, True, True]
            time.sleep(0.3)
            for k in (0, 2, 3):
                assert BoardEventKind.WATCHDOG not in [e.kind for e in views[k].events()]
            with pytest.raises(BoardFault):
                views[1].set_gate(True)
            board.all_off()
            assert wait_until(lambda: not any(r.gate_open for r in emu.channel_rules))
        finally:
            for view in views:
                view.close()
        assert not board.is_open


def test_firmata_channel_pins_and_conflicts() -> None:
    """Each channel's CONFIG carries its own pins; a pin another channel holds is refused
    by the firmware and reported as a ConfigError naming the channel."""
    with EmulatedUno() as emu:
        board = FirmataBoard(emu.port, ready_timeout_s=3.0, channel_pins={1: ChannelPins(laser_pin=9)})
        with board:
            with pytest.raises(ConfigError, match="channel 1"):
                board.channel(1).open()
        ok = FirmataBoard(emu.replug(), ready_timeout_s=3.0, channel_pins={1: ChannelPins(laser_pin=12)})
        with ok, ok.channel(1) as view:
            view.configure(LaserConfig())
            assert emu.channel_pins[1] is not None and emu.channel_pins[1].laser == 12


def test_protocol_2_firmware_is_refused_with_both_versions_named() -> None:
    with EmulatedUno(protocol=2, version=(1, 1, 0)) as emu:
        board = FirmataBoard(emu.port, ready_timeout_s=2.0)
        with pytest.raises(FirmwareMismatch) as err:
            board.open()
    text = str(err.value)
    assert "1.1.0" in text and "protocol 2" in text and "protocol 3" in text and "1.2.0" in text
    assert "docs/firmware.md" in text


@pytest.mark.parametrize("make", ["mock", "firmata"])
def test_board_events_reach_every_view(make: str) -> None:
    """READY (board level) reaches each view; a channel's own events stay on its view."""
    emu = EmulatedUno().start() if make == "firmata" else None
    try:
        board: MockBoard | FirmataBoard = MockBoard() if emu is None else FirmataBoard(emu.port, ready_timeout_s=3.0)
        views: list[LaserBoard] = [board.channel(0), board.channel(3)]
        for view in views:
            view.open()
        seen0: list[BoardEvent] = []
        seen3: list[BoardEvent] = []
        wait_for(views[0], BoardEventKind.READY, seen0)
        wait_for(views[1], BoardEventKind.READY, seen3)
        views[1].set_gate(True)
        wait_for(views[1], BoardEventKind.GATE_OPENED, seen3)
        time.sleep(0.1)
        assert BoardEventKind.GATE_OPENED not in [e.kind for e in views[0].events()]
        for view in views:
            view.close()
    finally:
        if emu is not None:
            emu.unplug()
