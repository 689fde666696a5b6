"""Issue 15 through the real window offscreen (synthetic arena, mock board, real engine).

Each test names what failed before: Esc in another optorig window, Esc closing a dialog,
closing the window recorded as emergency_stop, the gate border left on after close-Yes,
Pause clickable without a session, the calibration editor's file never used, a window
larger than a 1280x800 screen with clipped labels."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import QDialog, QLabel

from rig.gui.main_window import MainWindow
from rig.gui.preflight import Check, CheckState, PreflightResult
from rig.gui.states import HeaderState
from rig.gui.widgets.setup_panel import DEMO_PROTOCOL

from rig.devices.mock_board import MockBoard
from rig.gui.controller import make_runner


class Rig:
    """A runner factory that keeps the mock board and shortens the protocol."""

    def __init__(self, duration_scale: float) -> None:
        self.duration_scale = duration_scale
        self.boards: list[MockBoard] = []

    def __call__(self, choices: Any, loaded: Any, observers: Any) -> Any:
        runner = make_runner(choices, loaded, observers, duration_scale=self.duration_scale)
        self.boards.append(runner._board)
        return runner

    @property
    def board(self) -> MockBoard:
        return self.boards[-1]

GREEN = PreflightResult((Check("disk", "Disk space", CheckState.OK, "plenty"),))


def _window(qtbot: Any, tmp_path: Path, rig: Rig, speed: str = "2", **kw: Any) -> MainWindow:
    window = MainWindow(runner_factory=rig, opener=lambda p: None, build_report=False, **kw)
    window.setup_panel._preflight_fn = lambda c, l: GREEN
    qtbot.addWidget(window)
    panel = window.setup_panel
    panel.set_protocol_path(DEMO_PROTOCOL)
    panel.animal_edit.setText("m007")
    panel.output_edit.setText(str(tmp_path))
    window.live_view.sim_controls.set_speed(speed)
    window.show()
    return window


def _start_and_wait_running(qtbot: Any, window: MainWindow, rig: Rig) -> None:
    window.setup_panel.start_button.click()
    qtbot.waitUntil(lambda: rig.boards and window.controller.runner.status.frames > 5, timeout=60_000)


def test_esc_in_another_optorig_window_stops_the_session(qtbot: Any, tmp_path: Path) -> None:
    rig = Rig(duration_scale=1.0)
    window = _window(qtbot, tmp_path, rig)
    other = QDialog(window)  # e.g. the summary or a message box: another optorig window
    other.setWindowTitle("another optorig window")
    qtbot.addWidget(other)
    other.show()
    _start_and_wait_running(qtbot, window, rig)
    with qtbot.waitSignal(window.session_finished, timeout=30_000) as blocker:
        qtbot.keyClick(other, Qt.Key.Key_Escape)
    assert blocker.args[0].end_reason.value == "emergency_stop"
    assert other.isVisible()  # Esc went to the stop, not to closing the dialog
    assert not rig.board.gate_open
    assert window.live_view.header.state is HeaderState.E_STOPPED


def test_esc_still_closes_a_dialog_when_no_session_runs(qtbot: Any, tmp_path: Path) -> None:
    window = _window(qtbot, tmp_path, Rig(1.0))
    dialog = QDialog(window)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.keyClick(dialog, Qt.Key.Key_Escape)
    assert not dialog.isVisible()
    assert window.escape_filter.stops == 0


def test_closing_the_window_is_recorded_as_closed_by_user(qtbot: Any, tmp_path: Path) -> None:
    rig = Rig(duration_scale=1.0)
    asked: list[str] = []
    window = _window(qtbot, tmp_path, rig, confirm=lambda p, t, q: asked.append(q) or True)
    _start_and_wait_running(qtbot, window, rig)
    with qtbot.waitSignal(window.session_finished, timeout=30_000) as blocker:
        window.close()
    status = blocker.args[0]
    assert status.end_reason.value == "closed_by_user"
    header = json.loads((Path(status.session_dir) / "session.json").read_text())
    assert header["end_reason"] == "closed_by_user"
    assert not rig.board.gate_open
    assert not window.live_view.video.gate_border  # no blue "gate open" frame left
    assert not window.live_view.laser.laser_on


def test_close_dialog_buttons_say_what_they_do() -> None:
    from rig.gui import main_window

    assert main_window.CLOSE_YES == "Stop session and close"
    assert main_window.CLOSE_NO == "Keep running"


def test_pause_overlay_header_and_no_pause_without_session(qtbot: Any, tmp_path: Path) -> None:
    rig = Rig(duration_scale=1.0)
    window = _window(qtbot, tmp_path, rig)
    pause = window.live_view.sim_controls.pause_button
    assert not pause.isEnabled()  # no session: nothing to pause
    _start_and_wait_running(qtbot, window, rig)
    assert pause.isEnabled()
    pause.click()
    qtbot.waitUntil(lambda: window.live_view.header.state is HeaderState.PAUSED, timeout=5_000)
    assert window.live_view.video.paused
    pause.click()
    qtbot.waitUntil(lambda: window.live_view.header.state is HeaderState.RUNNING, timeout=5_000)
    with qtbot.waitSignal(window.session_finished, timeout=30_000):
        window.stop_session()
    assert window.live_view.header.state is HeaderState.STOPPED
    assert "left" not in window.live_view.header.progress.format()
    assert window.status_bar.labels["board"].text() == "board closed"
    assert not pause.isEnabled()
    # The history lists the session with its end.
    assert "Stopped by the user" in window.setup_panel.history.item(0).text()


def test_calibration_saved_in_the_editor_is_used_by_the_next_session(qtbot: Any, tmp_path: Path) -> None:
    from rig.gui.widgets.calibration_editor import CalibrationEditor, grab_frame

    rig = Rig(duration_scale=0.05)
    targets: list[str] = []
    window = _window(qtbot, tmp_path, rig, speed="max",
                     choose_target=lambda p, path, name: targets.append(name) or "protocol")
    panel = window.setup_panel
    (tmp_path / "cal").mkdir()
    editor = CalibrationEditor(None, choices=panel.choices(), loaded=panel.loaded,
                               calibration_dir=tmp_path / "cal")
    qtbot.addWidget(editor)
    editor.saved.connect(window.calibration_saved)
    editor.set_image(grab_frame(panel.choices(), panel.loaded))
    for x, y in [(30, 100), (610, 100), (610, 380), (30, 380)]:
        editor.add_corner(x, y)
    editor.width_spin.setValue(58.0)
    editor.length_spin.setValue(28.0)
    editor.name_edit.setText("bench-2")
    path = editor.save()
    assert path is not None and targets == ["demo-rtpp"]
    assert panel.loaded.calibration_path == path
    assert "bench-2" in panel.protocol_status.text()
    assert window.live_view.video._arena_px[0] == (30.0, 100.0)  # the preview's outline
    with qtbot.waitSignal(window.session_finished, timeout=120_000) as blocker:
        panel.start_button.click()
    session_dir = Path(blocker.args[0].session_dir)
    header = json.loads((session_dir / "session.json").read_text())
    assert header["calibration"]["source_path"] == str(path)
    assert (session_dir / "calibration.yaml").read_bytes() == path.read_bytes()
    if window.summary_dialog is not None:
        window.summary_dialog.close()


def test_editor_warns_when_cm_disagree_with_the_corners() -> None:
    from rig.gui.widgets.calibration_editor import size_disagreement

    corners = [(20.0, 90.0), (620.0, 90.0), (620.0, 390.0), (20.0, 390.0)]  # 600 x 300 px
    assert size_disagreement(corners, 50.0, 25.0) == ""  # 12 px/cm both ways
    warning = size_disagreement(corners, 50.0, 18.75)  # 12 vs 16 px/cm
    assert "12.0 px/cm across" in warning and "16.0 px/cm along" in warning


def test_preview_shows_the_zones_and_flags_a_resolution_mismatch(qtbot: Any, tmp_path: Path) -> None:
    window = _window(qtbot, tmp_path, Rig(1.0))
    assert window.live_view.video._zones  # zones drawn from the protocol before Start
    window.toggle_preview("synthetic")
    qtbot.waitUntil(lambda: window.live_view.video.frames_shown > 2, timeout=10_000)
    assert window.preview_warning == ""
    window.stop_preview()
    import numpy as np

    text = window._check_preview_frame(np.zeros((1024, 1280), np.uint8))
    assert "1280x1024" in text and window.live_view.banner.isVisible()


def _clipped_labels(widget: Any) -> list[str]:
    clipped = []
    for label in widget.findChildren(QLabel):
        if not label.isVisibleTo(widget) or label.wordWrap() or not label.text() or "<" in label.text():
            continue
        needed = label.fontMetrics().horizontalAdvance(label.text())
        if label.width() + 1 < needed:
            clipped.append(f"{label.text()!r}: {label.width()} < {needed}")
    return clipped


def test_layout_at_1280x800_fits_and_clips_no_label(qtbot: Any, tmp_path: Path) -> None:
    window = _window(qtbot, tmp_path, Rig(1.0))
    window.resize(1280, 800)
    qtbot.waitUntil(lambda: window.width() == 1280)
    assert window.minimumWidth() <= 1280 and window.minimumHeight() <= 800
    assert window.right_splitter.orientation() is Qt.Orientation.Vertical  # plots under the video
    assert window.plots.width() > 600
    assert _clipped_labels(window) == []
    window.resize(1920, 1080)
    qtbot.waitUntil(lambda: window.width() == 1920)
    assert window.right_splitter.orientation() is Qt.Orientation.Horizontal
    assert window.plots.width() > 450
    assert _clipped_labels(window) == []


def test_calibration_written_into_the_rig_file_is_used_by_the_next_session(qtbot: Any, tmp_path: Path) -> None:
    """Issue 15: "Write into the rig file" was offered after saving a calibration but not
    handled (the rig file kept the old calibration; the session used the protocol's). Now
    the rig file's ``calibration:`` line is rewritten (comments kept), the rig re-validated
    and the next session records the new file. Fails on the old code."""
    from rig.gui.widgets.calibration_editor import CalibrationEditor, grab_frame

    rig_file = tmp_path / "rig.yaml"
    rig_file.write_text(
        "# bench rig, room 2.14\nschema_version: 1\nname: bench\nboard:\n  kind: mock\n"
        "calibration: synthetic_arena.yaml   # the bundled one\n", encoding="utf-8")
    rig = Rig(duration_scale=0.05)
    window = _window(qtbot, tmp_path, rig, speed="max", choose_target=lambda p, path, name: "rig")
    panel = window.setup_panel
    panel.rig_edit.setText(str(rig_file))
    assert window.rig_path == str(rig_file) and not panel.rig_error
    (tmp_path / "cal").mkdir()
    editor = CalibrationEditor(None, choices=panel.choices(), loaded=panel.loaded,
                               calibration_dir=tmp_path / "cal")
    qtbot.addWidget(editor)
    editor.saved.connect(window.calibration_saved)
    editor.set_image(grab_frame(panel.choices(), panel.loaded))
    for x, y in [(30, 100), (610, 100), (610, 380), (30, 380)]:
        editor.add_corner(x, y)
    editor.width_spin.setValue(58.0)
    editor.length_spin.setValue(28.0)
    editor.name_edit.setText("bench-3")
    path = editor.save()
    assert path is not None
    text = rig_file.read_text(encoding="utf-8")
    assert 'calibration: "cal/bench-3.yaml"   # the bundled one' in text and "# bench rig" in text
    assert panel.rig is not None and panel.rig.calibration_path.resolve() == path.resolve()
    assert panel.loaded.calibration_path == path
    banner = window.live_view.banner
    assert banner.severity == "info" and "rig.yaml now names it" in banner.text and "rig.yaml.bak" in banner.text
    with qtbot.waitSignal(window.session_finished, timeout=120_000) as blocker:
        panel.start_button.click()
    session_dir = Path(blocker.args[0].session_dir)
    header = json.loads((session_dir / "session.json").read_text())
    assert header["calibration"]["source_path"] == str(path)
    assert (session_dir / "calibration.yaml").read_bytes() == path.read_bytes()
    assert "cal/bench-3.yaml" in (session_dir / "rig.yaml").read_text(encoding="utf-8")
    if window.summary_dialog is not None:
        window.summary_dialog.close()


def test_writing_into_an_invalid_rig_file_changes_nothing(qtbot: Any, tmp_path: Path) -> None:
    """A rig file that no longer validates is left as it was, and the banner says so."""
    rig_file = tmp_path / "rig.yaml"
    rig_file.write_text("schema_version: 1\nboard:\n  kind: mock\n", encoding="utf-8")
    window = _window(qtbot, tmp_path, Rig(1.0), choose_target=lambda p, path, name: "rig")
    window.setup_panel.rig_edit.setText(str(rig_file))
    bad = "schema_version: 1\nlaser:\n  pin: 1\n"
    rig_file.write_text(bad, encoding="utf-8")  # broken after it was picked
    calibration = tmp_path / "c.yaml"
    calibration.write_bytes(window.setup_panel.loaded.calibration_path.read_bytes())
    assert window.calibration_saved(calibration) == "none"
    assert rig_file.read_text(encoding="utf-8") == bad
    assert window.live_view.banner.severity == "error" and "pin 1" in window.live_view.banner.text
