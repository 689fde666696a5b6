"""The GUI says INCOMPLETE, loudly, with what did not run (issue 12)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rig.devices.mock_board import MockBoard
from rig.session.runner import SessionRunner
from rig.session.status import EndReason
from tests.conftest import protocol_variant
from tests.session.helpers import ScriptedSource, ScriptedTracker


def _session(default_loaded: Any, out: Path, n_frames: int) -> Path:
    loaded = protocol_variant(
        default_loaded,
        phases=[
            {"name": "baseline", "duration_s": 1, "mode": "off"},
            {"name": "test", "duration_s": 1, "mode": "closed_loop"},
            {"name": "post", "duration_s": 1, "mode": "off"},
        ],
        tracking={"background": {"source": "first_frames", "duration_s": 0.5, "n_frames": 5}},
    )
    tracker = ScriptedTracker([(140.0, 240.0)])
    runner = SessionRunner(
        loaded, ScriptedSource(n_frames=n_frames), MockBoard(), out, "m1", speed=None,
        tracker_factory=lambda _l, _s: tracker,
    )
    runner.run()
    assert runner.session_dir is not None
    return runner.session_dir


def test_summary_dialog_banner_for_a_source_that_ended_early(qtbot: Any, tmp_path: Path, default_loaded: Any) -> None:
    """The old dialog showed "ended: completed" for a video shorter than the protocol."""
    from rig.gui.widgets.summary_dialog import SummaryDialog

    session_dir = _session(default_loaded, tmp_path, 15 + 45)
    dialog = SummaryDialog(session_dir, EndReason.SOURCE_ENDED.value, build_report=False)
    qtbot.addWidget(dialog)
    assert not dialog.incomplete_banner.isHidden()
    text = dialog.incomplete_banner.text()
    assert text.startswith("INCOMPLETE") and "post: ran 0.0 of 1.0 s" in text and "source_ended" in text


def test_no_banner_for_a_complete_session(qtbot: Any, tmp_path: Path, default_loaded: Any) -> None:
    from rig.gui.widgets.summary_dialog import SummaryDialog

    session_dir = _session(default_loaded, tmp_path, 15 + 90)
    dialog = SummaryDialog(session_dir, EndReason.COMPLETED.value, build_report=False)
    qtbot.addWidget(dialog)
    assert dialog.incomplete_banner.isHidden()
