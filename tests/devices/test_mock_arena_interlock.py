"""Fails on the code before its fix (found in a sceptical review of the merge): on a mock rig (``board.kind:
mock``, as ``rig demo --rig`` and tests use) an arena's OWN door switch is ignored: the
MockBoard is built with ``interlock=config.interlock is not None`` (rig/devices/registry.py
``make_rig_board``), i.e. only the rig-level interlock, and ``MockBoard.set_interlock`` trips
every channel alike. The FirmataBoard gives each channel its own interlock pin
(``rig_channel_pins``), so the mock does not behave like the real device for arenas."""

from __future__ import annotations

from pathlib import Path

from rig.devices.board import LaserConfig
from rig.devices.mock_board import MockBoard
from rig.devices.registry import make_rig_board
from rig.rigfile.load import load_rig
from rig.session.arena_boards import arena_boards

RIG = """schema_version: 1
name: two-box-mock-doors
board: {kind: mock}
laser:
  channels: [{pin: 9}, {pin: 10}]
camera: {source: synthetic, width: 1280, height: 480}
arenas:
  - {name: A, region: {x: 0, y: 0, width: 640, height: 480}, channel: 0, interlock: {pin: 4}}
  - {name: B, region: {x: 640, y: 0, width: 640, height: 480}, channel: 1}
"""


def test_mock_rig_honours_an_arena_own_interlock(tmp_path: Path) -> None:
    path = tmp_path / "rig.yaml"
    path.write_text(RIG)
    rig = load_rig(path)
    board = make_rig_board(rig.config)
    assert isinstance(board, MockBoard)
    a, b = arena_boards(board, rig.config.arenas)
    for view in (a, b):
        view.open()
        view.configure(LaserConfig(mode="continuous"))
        view.set_gate(True)
    board.set_interlock(True)  # the only door the mock knows; A's switch opens
    assert not a.gate_open, "arena A has its own door switch, yet its light stays on when it opens"
    for view in (a, b):
        view.close()


def test_mock_door_switch_trips_only_the_channels_wired_to_it(tmp_path: Path) -> None:
    """Own switches on different pins: opening A's door closes A only; the shared room door
    (pin 2) closes every channel wired to it, as the firmware does."""
    board = MockBoard(interlock_pins={0: 4, 1: 5, 2: 2, 3: 2})
    views = [board.channel(k) for k in range(4)]
    for view in views:
        view.open()
        view.configure(LaserConfig(mode="continuous"))
        view.set_gate(True)
    board.set_interlock(True, pin=4)
    assert [v.gate_open for v in views] == [False, True, True, True]
    board.set_interlock(True, pin=2)
    assert [v.gate_open for v in views] == [False, True, False, False]
    for view in views:
        view.close()
