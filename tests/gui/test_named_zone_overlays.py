"""The live view draws named zones (3 chambers, open-field circles) with their own colours
and marks the lit ones. Fails on the old code (KeyError on a zone colour other than
left/right/neutral/lost)."""

from __future__ import annotations

from pathlib import Path

from rig.gui.main_window import zone_overlays
from rig.protocol.load import load_protocol

REPO = Path(__file__).resolve().parents[2]


def test_three_chamber_and_open_field_overlays() -> None:
    _, three = zone_overlays(load_protocol(REPO / "protocols" / "three_chamber.yaml"), "left")
    assert [o.name for o in three] == ["left", "centre", "right"]
    assert [o.label for o in three] == ["LEFT (stim)", "CENTRE", "RIGHT"]
    assert len({o.colour for o in three}) == 3
    _, field = zone_overlays(load_protocol(REPO / "protocols" / "open_field_inner.yaml"), "left")
    inner = next(o for o in field if o.name == "inner")
    assert inner.label == "INNER (stim)" and len(inner.polygon_px) >= 36
