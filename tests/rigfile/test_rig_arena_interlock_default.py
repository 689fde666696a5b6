"""Fails on the code before its fix (found in a sceptical review of the merge): a rig whose room-door
``interlock`` is wired and ``required``, with arenas that do not repeat ``interlock:``,
runs every arena's laser channel with NO interlock at all. ``rig validate`` still prints
"interlock pin 2 (required, ...)", so the user believes the door guards the light.
The rig's interlock is silently ignored (rig_channel_pins / RigConfig.for_arena treat an
omitted arena ``interlock`` as "none"). Either an omitted arena interlock must mean the
rig's (shared) interlock, or the file must be refused naming the arena and field."""

from __future__ import annotations

from pathlib import Path


from rig.devices.registry import rig_channel_pins
from rig.errors import ConfigError
from rig.rigfile.load import load_rig

ROOT = Path(__file__).resolve().parents[2]


def _rig_without_arena_interlocks(tmp_path: Path) -> Path:
    text = (ROOT / "rigs" / "four-box.yaml").read_text(encoding="utf-8")
    lines = [
        line
        for line in text.splitlines()
        if not line.strip().startswith("interlock: {pin: ") and line.strip() != "interlock: shared"
    ]
    text = "\n".join(lines).replace("../protocols/", str(ROOT / "protocols") + "/")
    path = tmp_path / "four-box-room-door-only.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_rig_interlock_is_not_silently_dropped_by_arenas(tmp_path: Path) -> None:
    path = _rig_without_arena_interlocks(tmp_path)
    try:
        rig = load_rig(path)
    except ConfigError as err:  # refusing the file, naming the arena's field, is fine too
        assert "interlock" in str(err) and "arenas[" in str(err)
        return
    assert rig.config.interlock is not None and rig.config.interlock.required
    pins = rig_channel_pins(rig.config)
    unguarded = [k for k, p in pins.items() if p.interlock_pin is None]
    assert not unguarded, (
        f"rig interlock pin {rig.config.interlock.pin} is required, but laser channels "
        f"{unguarded} get no interlock at all"
    )
    for arena in rig.config.arenas:
        assert rig.config.for_arena(arena.name).interlock is not None, arena.name


