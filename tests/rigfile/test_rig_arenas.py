"""The rig file names the arenas of a multi-box rig (issue 16): regions, channels, pins,
interlocks, default protocols and animals; every bad case is an error naming file:line and
the field. Each test fails on the old code (the rig file had no ``arenas`` nor
``laser.channels``: both were refused as unknown keys)."""

from __future__ import annotations

from pathlib import Path

import pytest

from rig.devices.mock_board import MockBoard
from rig.rigfile import RigFileError, load_rig
from rig.rigfile.models import InterlockSection, SharedInterlock
from rig.session.arena_boards import arena_boards

ROOT = Path(__file__).resolve().parents[2]

HEAD = """schema_version: 1
board:
  kind: mock
laser:
  channels:
    - {pin: 9}
    - {pin: 10}
    - {pin: 11}
    - {pin: 12}
interlock:
  pin: 2
camera:
  source: synthetic
  width: 1280
  height: 1024
arenas:
"""

GOOD_ARENAS = """  - name: A
    region: {x: 0, y: 0, width: 640, height: 512}
    channel: 0
    interlock: {pin: 4}
    animal: m1
  - name: B
    region: {x: 640, y: 0, width: 640, height: 512}
    channel: 1
    interlock: shared
  - name: C
    region: {x: 0, y: 512, width: 640, height: 512}
    channel: 2
  - name: D
    region: {x: 640, y: 512, width: 640, height: 512}
    channel: 3
    interlock: none
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "rig.yaml"
    path.write_text(text)
    return path


def errors(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(RigFileError) as info:
        load_rig(write(tmp_path, text))
    return [i.message for i in info.value.issues]


def test_four_box_example_validates_from_the_cli(capsys: pytest.CaptureFixture[str]) -> None:
    """``rig validate rigs/four-box.yaml`` passes and lists the arenas."""
    from rig.cli import main

    assert main(["validate", str(ROOT / "rigs" / "four-box.yaml")]) == 0
    out = capsys.readouterr().out
    assert "4 arenas" in out and "D: channel 3 pin 14" in out


def test_good_arenas_load_and_each_arena_sees_its_own_channel(tmp_path: Path) -> None:
    config = load_rig(write(tmp_path, HEAD + GOOD_ARENAS)).config
    assert [a.name for a in config.arenas] == ["A", "B", "C", "D"]
    assert config.laser.pin == 9 and config.laser.channel_pins == (9, 10, 11, 12)
    a, b, c = config.for_arena("A"), config.for_arena("B"), config.for_arena("C")
    assert a.laser.pin == 9 and b.laser.pin == 10 and c.laser.pin == 11
    assert a.interlock is not None and a.interlock.pin == 4  # its own door
    assert b.interlock is not None and b.interlock.pin == 2  # the rig's (shared)
    # no interlock line: the rig's door still guards the box (never dropped by omission)
    assert c.interlock is not None and c.interlock.pin == 2
    assert config.for_arena("D").interlock is None  # `interlock: none`, said explicitly
    assert isinstance(config.arenas[0].interlock, InterlockSection)
    assert config.arenas[1].interlock is SharedInterlock.SHARED
    assert config.arenas[0].animal == "m1"


def test_single_pin_form_stays_valid(tmp_path: Path) -> None:
    text = "schema_version: 1\nlaser:\n  pin: 10\n"
    config = load_rig(write(tmp_path, text)).config
    assert config.laser.channel_pins == (10,) and config.arenas == ()


@pytest.mark.parametrize(
    ("arenas", "field", "reason"),
    [
        (GOOD_ARENAS.replace("x: 640, y: 512, width: 640", "x: 700, y: 512, width: 640"),
         "arenas[3].region", "reaches outside the 1280x1024 camera image"),
        (GOOD_ARENAS.replace("{x: 640, y: 0,", "{x: 600, y: 0,"),
         "arenas[1].region", "overlaps arena A's"),
        (GOOD_ARENAS.replace("channel: 3", "channel: 1"), "arenas[3].channel", "already arena B's"),
        (GOOD_ARENAS.replace("channel: 3", "channel: 4"), "arenas[3].channel", "less than 4"),
        (GOOD_ARENAS.replace("name: D", "name: A"), "arenas[3].name", "used twice"),
        (GOOD_ARENAS.replace("interlock: {pin: 4}", "interlock: {pin: 10}"),
         "arenas[0].interlock.pin", "already used as laser.channels[1].pin"),
        (GOOD_ARENAS.replace("interlock: {pin: 4}\n    animal: m1", "animal: m1\n    protocol: nowhere.yaml"),
         "arenas[0].protocol", "protocol file 'nowhere.yaml' not found"),
    ],
    ids=["outside-image", "overlap", "channel-twice", "channel-4", "name-twice", "pin-conflict", "no-protocol"],
)
def test_bad_arenas_are_named_with_file_line_and_field(
    tmp_path: Path, arenas: str, field: str, reason: str
) -> None:
    found = errors(tmp_path, HEAD + arenas)
    assert any(f"rig.yaml:" in m and field in m and reason in m for m in found), found
    line = [m for m in found if field in m][0].split("rig.yaml:")[1].split(" ")[0]
    assert line.isdigit() and int(line) > HEAD.count("\n")  # points into the arenas list


def test_channel_without_a_pin_is_refused(tmp_path: Path) -> None:
    text = HEAD.replace("    - {pin: 11}\n    - {pin: 12}\n", "") + GOOD_ARENAS
    found = errors(tmp_path, text)
    assert any("arenas[2].channel" in m and "channel 2 has no pin" in m for m in found), found
    assert any("arenas[3].channel" in m for m in found), found


def test_channel_1_on_the_single_pin_form_is_refused(tmp_path: Path) -> None:
    text = (
        "schema_version: 1\nlaser:\n  pin: 9\ncamera:\n  width: 640\n  height: 480\narenas:\n"
        "  - {name: A, region: {x: 0, y: 0, width: 320, height: 480}, channel: 1}\n"
    )
    (message,) = errors(tmp_path, text)
    assert "rig.yaml:8 arenas[0].channel" in message and "one pin (channel 0)" in message


def test_arenas_need_the_camera_size(tmp_path: Path) -> None:
    text = HEAD.replace("  width: 1280\n  height: 1024\n", "") + GOOD_ARENAS
    found = errors(tmp_path, text)
    assert any("camera" in m and "camera.width and camera.height" in m for m in found), found


def test_shared_interlock_needs_the_rigs_interlock(tmp_path: Path) -> None:
    text = HEAD.replace("interlock:\n  pin: 2\n", "") + GOOD_ARENAS
    found = errors(tmp_path, text)
    assert any("arenas[1].interlock" in m and "no interlock section" in m for m in found), found


def test_pin_and_differing_channel_0_is_refused(tmp_path: Path) -> None:
    text = "schema_version: 1\nlaser:\n  pin: 8\n  channels: [{pin: 9}]\n"
    found = errors(tmp_path, text)
    assert any("laser" in m and "differs from channels[0].pin" in m for m in found), found


def test_two_channels_on_one_pin_are_refused(tmp_path: Path) -> None:
    text = "schema_version: 1\nlaser:\n  channels: [{pin: 9}, {pin: 9}]\n"
    found = errors(tmp_path, text)
    assert any("laser.channels[1].pin" in m and "already used as laser.pin" in m for m in found), found


def test_more_than_four_channels_are_refused(tmp_path: Path) -> None:
    text = "schema_version: 1\nlaser:\n  channels: [{pin: 3}, {pin: 4}, {pin: 5}, {pin: 6}, {pin: 7}]\n"
    found = errors(tmp_path, text)
    assert any("laser.channels" in m for m in found), found


def test_arena_boards_give_each_mock_arena_its_own_channel(tmp_path: Path) -> None:
    config = load_rig(write(tmp_path, HEAD + GOOD_ARENAS)).config
    board = MockBoard()
    boards = arena_boards(board, config.arenas)
    assert [b.index for b in boards] == [0, 1, 2, 3]  # type: ignore[attr-defined]
    assert all(b.board is board for b in boards)  # type: ignore[attr-defined]


def test_arena_boards_use_channel_views_when_the_board_has_them(tmp_path: Path) -> None:
    config = load_rig(write(tmp_path, HEAD + GOOD_ARENAS)).config

    class Channels(MockBoard):
        def channel(self, index: int) -> MockBoard:
            return MockBoard(f"view{index}")

    boards = arena_boards(Channels(), config.arenas)
    assert [b.info.port for b in boards] == ["view0", "view1", "view2", "view3"]


def test_arena_protocol_calibrated_at_another_size_is_refused(tmp_path: Path) -> None:
    """The protocol's calibration must be at the region's size (a box calibrated on the
    whole frame would put the mouse in the wrong zone)."""
    proto = ROOT / "protocols" / "three_chamber.yaml"  # calibrated for 640x480
    text = HEAD + GOOD_ARENAS.replace("    channel: 3\n", f"    channel: 3\n    protocol: {proto}\n")
    found = errors(tmp_path, text)
    assert any("arenas[3].protocol" in m and "640x480 px image" in m and "640x512 px" in m for m in found), found
