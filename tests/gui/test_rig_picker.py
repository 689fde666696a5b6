"""The rig-file picker of the set-up panel (the GUI face of docs/rig.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rig.gui.controller import choices_rig
from rig.gui.widgets.setup_panel import SetupPanel

REPO = Path(__file__).resolve().parents[2]


def _ready_panel(qtbot: Any, tmp_path: Path, protocol: str) -> SetupPanel:
    panel = SetupPanel(port_lister=lambda: [])
    qtbot.addWidget(panel)
    panel.set_protocol_path(str(REPO / "protocols" / protocol))
    panel.animal_edit.setText("m1")
    panel.output_edit.setText(str(tmp_path))
    return panel


def test_invalid_rig_file_blocks_start_with_its_line(qtbot: Any, tmp_path: Path) -> None:
    bad = tmp_path / "rig.yaml"
    bad.write_text("schema_version: 1\nlaser:\n  pin: 9\ninterlock:\n  pin: 9\n")
    panel = _ready_panel(qtbot, tmp_path, "rtpp_redondo2014.yaml")
    assert panel.start_button.isEnabled()
    panel.rig_edit.setText(str(bad))
    assert not panel.start_button.isEnabled()
    assert any("rig.yaml:5 interlock.pin" in p for p in panel.problems())
    panel.rig_edit.setText(str(REPO / "rigs" / "uno_interlock_pwm.yaml"))
    assert "interlock pin 2" in panel.rig_status.text()
    assert panel.choices().rig_path.endswith("uno_interlock_pwm.yaml")


def test_ramp_protocol_on_a_rig_without_pwm_blocks_start(qtbot: Any, tmp_path: Path) -> None:
    panel = _ready_panel(qtbot, tmp_path, "inhibition_rtpp_continuous.yaml")
    panel.rig_edit.setText(str(REPO / "rigs" / "uno_basic.yaml"))
    assert not panel.start_button.isEnabled()
    assert any("ramp_down_ms" in p for p in panel.problems())
    panel.rig_edit.setText(str(REPO / "rigs" / "uno_interlock_pwm.yaml"))
    assert not any("ramp_down_ms" in p for p in panel.problems())


def test_session_uses_the_picked_rig(qtbot: Any, tmp_path: Path) -> None:
    panel = _ready_panel(qtbot, tmp_path, "rtpp_redondo2014.yaml")
    panel.rig_edit.setText(str(REPO / "rigs" / "mock.yaml"))
    rig = choices_rig(panel.choices())
    assert rig.config.name == "mock" and rig.path.name == "mock.yaml"
