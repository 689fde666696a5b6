"""The rig file's laser channels and arena interlocks reach the board: ``make_rig_board``
gives the FirmataBoard each channel's pins (before, every channel but 0 ran on the driver's
default pins, whatever the rig file said), and no laser may sit on D13, which the Uno's
bootloader flashes at every reset before the firmware can hold it off."""

from __future__ import annotations

from pathlib import Path

import pytest

from rig.devices.board import ChannelPins
from rig.devices.registry import make_rig_board, rig_channel_pins
from rig.errors import ConfigError
from rig.rigfile.load import load_rig

ROOT = Path(__file__).resolve().parents[2]


def test_four_box_rig_gives_each_channel_its_pins_and_door_switch() -> None:
    rig = load_rig(ROOT / "rigs" / "four-box.yaml")
    pins = rig_channel_pins(rig.config)
    assert pins == {
        0: ChannelPins(9, interlock_pin=4, interlock_trip_level=1),
        1: ChannelPins(10, interlock_pin=5, interlock_trip_level=1),
        2: ChannelPins(11, interlock_pin=6, interlock_trip_level=1),
        3: ChannelPins(14, interlock_pin=2, interlock_trip_level=1),  # shared room door
    }
    board = make_rig_board(rig.config)
    channel_pins = [board._channels[k].pins for k in range(4)]  # type: ignore[attr-defined]
    assert channel_pins == [pins[k] for k in range(4)]


def test_laser_on_pin_13_is_refused_with_the_reason(tmp_path: Path) -> None:
    text = (ROOT / "rigs" / "four-box.yaml").read_text(encoding="utf-8")
    bad = tmp_path / "four-box.yaml"
    bad.write_text(text.replace("- {pin: 14}", "- {pin: 13}"), encoding="utf-8")
    for protocol in ("rtpp_redondo2014.yaml", "three_chamber.yaml"):
        (tmp_path.parent / "protocols").mkdir(exist_ok=True)
        (tmp_path.parent / "protocols" / protocol).write_bytes((ROOT / "protocols" / protocol).read_bytes())
    with pytest.raises(ConfigError) as err:
        load_rig(bad)
    message = str(err.value)
    assert "four-box.yaml" in message and "channels" in message and "bootloader" in message
