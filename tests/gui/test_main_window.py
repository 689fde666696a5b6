"""The main window driven as a technician would: synthetic arena + mock board, real engine."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest
from PyQt6.QtCore import Qt

from rig.devices.mock_board import MockBoard
from rig.gui.controller import make_runner
from rig.gui.main_window import MainWindow
from rig.gui.widgets.setup_panel import DEMO_PROTOCOL


class Rig:
    """A runner factory that keeps the mock board and shortens the protocol."""

    def __init__(self, duration_scale: float) -> None:
        self.duration_scale = duration_scale
        self.boards: list[MockBoard] = []

    def __call__(self, choices: Any, loaded: Any, observers: Any) -> Any:
        runner = make_runner(choices, loaded, observers, duration_scale=self.duration_scale)
        self.boards.append(runner._board)  # the factory's MockBoard
        return runner

    @property
    def board(self) -> MockBoard:
        return self.boards[-1]


def _window(qtbot: Any, tmp_path: Path, rig: Rig, speed: str, confirm: bool = True) -> MainWindow:
    answers: list[str] = []

    def confirm_fn(parent: Any, title: str, text: str) -> bool:
        answers.append(text)
        return confirm

    window = MainWindow(
        runner_factory=rig, confirm=confirm_fn, opener=lambda path: None, build_report=False
    )
    window.confirm_questions = answers  # type: ignore[attr-defined]
    qtbot.addWidget(window)
    panel = window.setup_panel
    panel.set_protocol_path(DEMO_PROTOCOL)
    panel.animal_edit.setText("m002")
    panel.output_edit.setText(str(tmp_path))
    window.live_view.sim_controls.set_speed(speed)
    window.show()
    assert panel.start_button.isEnabled(), panel.problems()
    return window


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_short_synthetic_session_runs_to_the_end(qtbot: Any, tmp_path: Path) -> None:
    rig = Rig(duration_scale=0.1)  # 5 s of arena time
    window = _window(qtbot, tmp_path, rig, speed="max")
    with qtbot.waitSignal(window.session_finished, timeout=120_000) as blocker:
        window.setup_panel.start_button.click()
        assert not window.setup_panel.start_button.isEnabled()
    status = blocker.args[0]
    assert status.end_reason.value == "completed"
    session_dir = Path(status.session_dir)
    assert tmp_path in session_dir.parents
    header = json.loads((session_dir / "session.json").read_text())
    assert header["end_reason"] == "completed" and header["animal_id"] == "m002"
    assert header["simulated"] is True
    frames = _rows(session_dir / "frames.csv")
    assert len(frames) > 100
    assert (session_dir / "summary.json").exists()
    assert rig.board.last_gate_command is None or rig.board.last_gate_command.kind == "gate_close"
    dialog = window.summary_dialog
    assert dialog is not None and dialog.isVisible()
    assert dialog.table.rowCount() == 3
    assert dialog.table.item(0, 0).text() == "baseline"
    assert window.plots.n_samples > 0
    assert window.setup_panel.start_button.isEnabled()
    window.summary_dialog.close()


def test_emergency_stop_closes_the_gate_at_once(qtbot: Any, tmp_path: Path) -> None:
    rig = Rig(duration_scale=1.0)
    window = _window(qtbot, tmp_path, rig, speed="10")
    window.setup_panel.start_button.click()
    qtbot.waitUntil(lambda: rig.boards and rig.board.gate_open, timeout=60_000)
    runner = window.controller.runner
    frame_before = runner.status.frames
    qtbot.keyClick(window, Qt.Key.Key_Escape)
    # Closed synchronously on the GUI thread, before the loop processes another frame.
    assert not rig.board.gate_open
    assert rig.board.last_gate_command.kind == "gate_close"
    assert runner.status.frames <= frame_before + 1
    estop_ns = rig.board.last_gate_command.t_ns
    with qtbot.waitSignal(window.session_finished, timeout=30_000) as blocker:
        pass
    status = blocker.args[0]
    assert status.end_reason.value == "emergency_stop"
    assert not any(c.kind == "gate_open" and c.t_ns > estop_ns for c in rig.board.commands)
    assert window.live_view.banner.isVisible()
    assert "laser gate was closed" in window.live_view.banner.text.lower()
    header = json.loads((Path(status.session_dir) / "session.json").read_text())
    assert header["end_reason"] == "emergency_stop"


@pytest.mark.parametrize("answer", [True, False])
def test_closing_the_window_mid_session(qtbot: Any, tmp_path: Path, answer: bool) -> None:
    rig = Rig(duration_scale=1.0)
    window = _window(qtbot, tmp_path, rig, speed="2", confirm=answer)
    window.setup_panel.start_button.click()
    qtbot.waitUntil(lambda: window.controller.runner.status.frames > 30, timeout=60_000)
    if answer:
        with qtbot.waitSignal(window.session_finished, timeout=30_000) as blocker:
            window.close()
        assert window.confirm_questions  # type: ignore[attr-defined]
        qtbot.waitUntil(lambda: not window.isVisible(), timeout=10_000)
        status = blocker.args[0]
        assert not rig.board.gate_open
        assert rig.board.commands[-1].kind == "close"
        session_dir = Path(status.session_dir)
        header = json.loads((session_dir / "session.json").read_text())
        assert header["end_reason"] is not None
        assert (session_dir / "summary.json").exists()
        events = _rows(session_dir / "events.csv")
        assert events[-1]["kind"] == "session_end"
    else:
        window.close()
        assert window.isVisible()  # kept running: the technician said no
        assert window.controller.is_running
        with qtbot.waitSignal(window.session_finished, timeout=30_000):
            window.stop_session()
        assert not rig.board.gate_open


def test_summary_dialog_shows_report_plots(qtbot: Any, tmp_path: Path) -> None:
    from rig.gui.widgets.summary_dialog import SummaryDialog

    rig = Rig(duration_scale=0.1)
    window = _window(qtbot, tmp_path, rig, speed="max")
    window._show_summary = False
    with qtbot.waitSignal(window.session_finished, timeout=120_000) as blocker:
        window.setup_panel.start_button.click()
    session_dir = Path(blocker.args[0].session_dir)
    opened: list[Path] = []
    dialog = SummaryDialog(session_dir, "completed", opener=opened.append, build_report=False)
    qtbot.addWidget(dialog)
    with qtbot.waitSignal(dialog.report_finished, timeout=120_000):
        dialog.load_report()
    assert dialog.n_report_images > 0
    assert dialog.report_path is not None and dialog.report_path.exists()
    dialog.open_folder_button.click()
    dialog.open_report_button.click()
    assert opened == [session_dir, dialog.report_path]


def test_source_preview_shows_frames_before_a_session(qtbot: Any, tmp_path: Path) -> None:
    window = _window(qtbot, tmp_path, Rig(duration_scale=1.0), speed="1")
    video = window.live_view.video
    window.toggle_preview("synthetic")
    assert window.preview is not None
    qtbot.waitUntil(lambda: video.frames_shown >= 3, timeout=10_000)
    window.toggle_preview("synthetic")  # second press stops it
    assert window.preview is None and not window.preview_timer.isActive()


def test_simulation_pause_and_speed_controls(qtbot: Any, tmp_path: Path) -> None:
    rig = Rig(duration_scale=0.2)
    window = _window(qtbot, tmp_path, rig, speed="1")
    controls = window.live_view.sim_controls
    assert controls.isVisible()
    window.setup_panel.start_button.click()
    runner = window.controller.runner
    qtbot.waitUntil(lambda: runner.status.state.value == "running" and runner.status.frames > 5, timeout=60_000)
    controls.pause_button.click()
    assert runner._acquisition.paused
    assert controls.pause_button.text() == "Resume"
    controls.pause_button.click()
    assert not runner._acquisition.paused
    with qtbot.waitSignal(window.session_finished, timeout=60_000) as blocker:
        controls.set_speed("max")  # the rest of the session runs as fast as possible
    status = blocker.args[0]
    assert status.end_reason.value == "completed" and status.simulated
    assert window.summary_dialog is not None
    window.summary_dialog.close()


def test_board_lost_is_shown_as_a_banner(qtbot: Any, tmp_path: Path) -> None:
    rig = Rig(duration_scale=1.0)
    window = _window(qtbot, tmp_path, rig, speed="10")
    window.setup_panel.start_button.click()
    qtbot.waitUntil(lambda: bool(rig.boards), timeout=10_000)
    rig.board.fail_next_write = True  # the next gate opening fails, as an unplugged cable would
    with qtbot.waitSignal(window.session_finished, timeout=60_000) as blocker:
        pass
    status = blocker.args[0]
    assert status.end_reason.value == "board_lost"
    banner = window.live_view.banner
    assert banner.isVisible() and banner.severity == "error"
    assert "BoardLost" in banner.text and "watchdog" in banner.text
    assert not rig.board.gate_open
