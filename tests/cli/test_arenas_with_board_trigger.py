"""Fails on the code before its fix (found in a sceptical review of the merge): a rig file with ``arenas:`` AND
a board camera trigger (``trigger: {source: board}``, camera ``trigger: hardware``) passes
``rig validate``, but every arena's session then fails at start with
"the mock board cannot generate a camera trigger (needs the optorig firmware or the mock
board)" (self-contradictory; on hardware the same with "firmata"): the arena's laser board is
a channel view (rig/devices/channel_view.py), which has no ``configure_trigger``
(rig/session/runner.py ``_start_trigger``). Were it forwarded, each arena would send its own
TRIGGER and restart the one shared trigger, so the arenas' trigger counts would not match
their frames. Expected: refused by ``rig validate``/load naming ``trigger`` and ``arenas``
before anything starts, or one trigger for the run that every arena's record follows."""

from __future__ import annotations

from pathlib import Path

import pytest

from rig.cli import main
from rig.errors import ConfigError
from rig.rigfile.load import load_rig

RIG = """schema_version: 1
name: two-box-mock-trigger
board:
  kind: mock
laser:
  channels: [{pin: 9}, {pin: 10}]
loop_stall_ms: 3000
camera:
  source: synthetic
  width: 1280
  height: 480
  fps: 60
  trigger: hardware
  trigger_line: Line1
trigger:
  source: board
  pin: 8
  fps: 60
arenas:
  - {name: left-box, region: {x: 0, y: 0, width: 640, height: 480}, channel: 0}
  - {name: right-box, region: {x: 640, y: 0, width: 640, height: 480}, channel: 1}
"""


def test_arenas_with_a_board_trigger_are_refused_up_front_or_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rig = tmp_path / "rig.yaml"
    rig.write_text(RIG)
    try:
        load_rig(rig)
    except ConfigError as err:
        text = " ".join(getattr(i, "message", str(i)) for i in getattr(err, "issues", [])) or str(err)
        assert "trigger" in text and "arenas" in text
        return
    code = main(["demo", "--rig", str(rig), "--out", str(tmp_path / "out"), "--duration-s", "3"])
    text = capsys.readouterr()
    assert code == 0, text.out + text.err
    assert "cannot generate a camera trigger" not in text.out + text.err
