"""Widgets in isolation: set-up validation, laser indicator, plots, banner, camera check."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rig.gui.bridge import FrameSample
from rig.gui.camera_check import compare_views
from rig.gui.settings import SetupChoices, load_choices, save_choices
from rig.gui.widgets.laser_indicator import LaserIndicator
from rig.gui.widgets.live_plots import LivePlots
from rig.gui.widgets.setup_panel import DEMO_PROTOCOL, SetupPanel

REPO = Path(__file__).resolve().parents[2]


def _panel(qtbot, tmp_path: Path) -> SetupPanel:
    panel = SetupPanel(port_lister=lambda: [("/dev/ttyACM0", "Arduino Uno")])
    qtbot.addWidget(panel)
    return panel


def test_valid_protocol_enables_start_when_everything_is_filled(qtbot, tmp_path: Path) -> None:
    panel = _panel(qtbot, tmp_path)
    assert not panel.start_button.isEnabled()
    panel.set_protocol_path(str(REPO / "protocols" / "rtpp_redondo2014.yaml"))
    assert panel.loaded is not None
    assert "rtpp" in panel.protocol_status.text()
    assert "Enter the animal ID." in panel.start_reason.text()
    panel.animal_edit.setText("m017")
    panel.output_edit.setText(str(tmp_path))
    assert panel.problems() == []
    assert panel.start_button.isEnabled()
    with qtbot.waitSignal(panel.start_requested) as blocker:
        panel.start_button.click()
    choices, loaded = blocker.args
    assert choices.animal_id == "m017" and loaded is panel.loaded


def test_invalid_protocol_shows_file_line_field_and_disables_start(qtbot, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    text = (REPO / "protocols" / "rtpp_redondo2014.yaml").read_text()
    text = text.replace("pulse_width_ms: 15", "pulse_width_ms: 60", 1)
    assert "pulse_width_ms: 60" in text
    bad.write_text(text)
    panel = _panel(qtbot, tmp_path)
    panel.animal_edit.setText("m017")
    panel.output_edit.setText(str(tmp_path))
    panel.set_protocol_path(str(bad))
    assert panel.loaded is None
    message = panel.protocol_status.text()
    assert "bad.yaml:" in message and "stimulation.pulse_width_ms" in message
    assert not panel.start_button.isEnabled()
    assert "Fix the protocol errors." in panel.start_reason.text()


def test_missing_protocol_file_is_reported(qtbot, tmp_path: Path) -> None:
    panel = _panel(qtbot, tmp_path)
    panel.set_protocol_path(str(tmp_path / "nope.yaml"))
    assert "nope.yaml" in panel.protocol_status.text()
    assert not panel.start_button.isEnabled()


def test_other_reasons_block_start(qtbot, tmp_path: Path) -> None:
    panel = _panel(qtbot, tmp_path)
    panel.set_protocol_path(DEMO_PROTOCOL)
    panel.animal_edit.setText("m/01")
    panel.output_edit.setText(str(tmp_path / "missing" / "deeper"))
    panel.source_combo.setCurrentIndex(panel.source_combo.findData("video"))
    panel.video_edit.setText(str(tmp_path / "none.mp4"))
    panel.board_combo.setCurrentIndex(panel.board_combo.findData("/dev/ttyACM0"))
    problems = "\n".join(panel.problems())
    assert "animal ID may not contain" in problems
    assert "Video file not found" in problems
    assert "Connect to the board on /dev/ttyACM0" in problems
    assert "not writable" in problems
    assert not panel.start_button.isEnabled()


def test_board_probe_shows_firmware_version(qtbot, tmp_path: Path) -> None:
    panel = SetupPanel(
        port_lister=lambda: [("/dev/ttyACM0", "Arduino Uno"), ("/dev/ttyS0", "")],
        board_prober=lambda port: "optorig-firmata 1.2.0",
    )
    qtbot.addWidget(panel)
    assert panel.board_combo.itemData(0) == "mock"
    assert panel.board_combo.itemData(1) == "/dev/ttyACM0"
    panel.board_combo.setCurrentIndex(1)
    panel.connect_button.click()
    assert "firmware optorig-firmata 1.2.0" in panel.board_status.text()
    assert not any("Connect to the board" in p for p in panel.problems())


def test_choices_are_remembered(qtbot, tmp_path: Path) -> None:
    choices = SetupChoices(protocol_path=DEMO_PROTOCOL, animal_id="m042", output_dir=str(tmp_path), speed="2")
    save_choices(choices)
    assert load_choices() == choices
    panel = _panel(qtbot, tmp_path)
    panel.apply_choices(load_choices())
    assert panel.animal_edit.text() == "m042"
    assert panel.loaded is not None


def test_counterbalancing_result_is_shown(qtbot, tmp_path: Path) -> None:
    panel = _panel(qtbot, tmp_path)
    panel.set_protocol_path(str(REPO / "protocols" / "counterbalanced_reversal.yaml"))
    panel.output_edit.setText(str(tmp_path))
    panel.animal_edit.setText("m017")
    assert "by rule 'animal_id'" in panel.side_result.text()
    panel.animal_edit.setText("mouse")
    assert any("digit" in p for p in panel.problems())


def test_cohort_file_gives_the_side(qtbot, tmp_path: Path) -> None:
    """The set-up panel takes the animal's side from the cohort file (as `--cohort`)."""
    cohort = tmp_path / "cohort.csv"
    cohort.write_text("animal_id,group,stim_side\nm017,ChR2,right\nm018,eYFP,\n")
    panel = _panel(qtbot, tmp_path)
    panel.set_protocol_path(str(REPO / "protocols" / "rtpp_redondo2014.yaml"))
    panel.output_edit.setText(str(tmp_path))
    panel.animal_edit.setText("m017")
    panel.cohort_edit.setText(str(cohort))
    assert "right from the cohort file (group ChR2)" in panel.side_result.text()
    assert panel.problems() == [] and panel.choices().cohort_path == str(cohort)
    panel.animal_edit.setText("m018")
    assert any("stim_side: empty" in p for p in panel.problems())
    panel.animal_edit.setText("m099")
    assert any("not listed" in p for p in panel.problems())


def test_laser_indicator(qtbot) -> None:
    indicator = LaserIndicator()
    qtbot.addWidget(indicator)
    indicator.set_laser_on(True)
    assert indicator.text() == "LASER ON" and "#1e78ff" in indicator.styleSheet()
    indicator.set_laser_on(False)
    assert indicator.text() == "LASER OFF"


def test_live_plots_accumulate_time_per_zone(qtbot) -> None:
    plots = LivePlots()
    qtbot.addWidget(plots)
    plots.reset(["baseline", "test"], [24.0, 26.0], 50.0)
    samples = [FrameSample(i * 0.5, 10.0, "left", 0, "baseline", False) for i in range(5)]
    samples += [FrameSample(2.5 + i * 0.5, 40.0, "right", 1, "test", i % 2 == 0) for i in range(5)]
    plots.add_samples(samples)
    plots.redraw()
    assert plots.time_s[0, 0] == pytest.approx(2.5)  # the last baseline frame lasts to 2.5 s
    assert plots.time_s[1, 1] == pytest.approx(2.0)
    assert plots.n_samples == 10


def test_camera_check_detects_a_moved_view() -> None:
    rng = np.random.default_rng(0)
    reference = np.full((120, 160), 200, np.uint8)
    reference[20:100, 20:140] = 230
    reference[55:65, 70:90] = 40
    noisy = np.clip(reference + rng.normal(0, 2, reference.shape), 0, 255).astype(np.uint8)
    corners = [(20, 20), (140, 20), (140, 100), (20, 100)]
    assert not compare_views(reference, noisy, corners).moved
    shifted = np.roll(reference, 12, axis=1)
    assert compare_views(reference, shifted, corners).moved


def test_bridge_asks_for_redraws_after_frames_at_display_rate(qtbot) -> None:
    """Redraws follow frames (so they fall in the loop's idle time), at most one pending."""
    from types import SimpleNamespace

    from rig.gui.bridge import SessionBridge

    bridge = SessionBridge()
    bridge.set_display_hz(30)
    asked: list[int] = []
    bridge.frame_ready.connect(lambda: asked.append(1))
    update = SimpleNamespace(t_s=0.0, x_cm=1.0, zone="left", phase_index=0, phase="p", laser_on=False)
    bridge.on_frame(update)  # type: ignore[arg-type]
    assert asked == [1]
    bridge.on_frame(update)  # type: ignore[arg-type]  # the first redraw is still pending
    assert asked == [1]
    bridge.display_done()
    bridge.on_frame(update)  # type: ignore[arg-type]  # within the display interval
    assert asked == [1]
    bridge._last_display_ns -= bridge.display_interval_ns  # one display period later
    bridge.on_frame(update)  # type: ignore[arg-type]
    assert asked == [1, 1]
    assert len(bridge.drain_samples()) == 4  # every frame still reaches the plots
