"""The state header, one state at a time (issue 15: "after Pause the state still reads
running", "after Stop the header still reads Phase 1/3 ... 39:54 left", arming showed
0:00 / 0:00 with no progress)."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from rig.gui.states import HeaderState, header_for
from rig.gui.widgets.state_header import StateHeader
from rig.gui.widgets.status_bar import SessionStatusBar, dropped_colour, latency_colour
from rig.gui import palette
from rig.session.status import ArmingProgress, EndReason, RunnerStatus, RunState
from rig.zones import ZoneId


def status(state: RunState = RunState.RUNNING, end: EndReason | None = None, **kw: Any) -> RunnerStatus:
    values: dict[str, Any] = dict(
        state=state, phase="baseline", phase_index=0, n_phases=3, phase_elapsed_s=6.0,
        phase_duration_s=600.0, session_elapsed_s=6.0, total_duration_s=2400.0, zone=ZoneId.LEFT,
        laser_on=False, stim_side="left", fps=30.0, dropped_frames=0, latency_p50_ms=1.0,
        latency_p99_ms=2.0, board_connected=state is RunState.RUNNING, frames=180,
        session_dir=Path("/tmp/x"), end_reason=end, fault=None, simulated=True,
    )
    values.update(kw)
    return RunnerStatus(**values)


@pytest.mark.parametrize(
    "snapshot,paused,expected",
    [
        (None, False, HeaderState.IDLE),
        (status(RunState.ARMING, phase=None, phase_index=-1), False, HeaderState.ARMING),
        (status(), False, HeaderState.RUNNING),
        (status(), True, HeaderState.PAUSED),
        (status(RunState.STOPPING), False, HeaderState.STOPPING),
        (status(RunState.FINISHED, EndReason.COMPLETED, session_elapsed_s=2400.0, phase_index=2), False, HeaderState.COMPLETE),
        (status(RunState.FINISHED, EndReason.STOPPED_BY_USER), False, HeaderState.STOPPED),
        (status(RunState.FINISHED, EndReason.CLOSED_BY_USER), False, HeaderState.STOPPED),
        (status(RunState.FINISHED, EndReason.EMERGENCY_STOP), False, HeaderState.E_STOPPED),
        (status(RunState.FINISHED, EndReason.CAMERA_LOST, fault="CameraLost: no frame"), False, HeaderState.INCOMPLETE),
    ],
)
def test_header_state_per_state(qtbot: Any, snapshot: Any, paused: bool, expected: HeaderState) -> None:
    header = StateHeader()
    qtbot.addWidget(header)
    header.show_status(snapshot, paused)
    assert header.state is expected
    assert header.badge.text() == expected.value
    if expected.final:
        assert "left" not in header.progress.format()  # no countdown after the end


def test_incomplete_says_what_is_missing() -> None:
    text = header_for(status(RunState.FINISHED, EndReason.CAMERA_LOST, fault="CameraLost: x"))
    assert text.state is HeaderState.INCOMPLETE
    assert "39:54 of the protocol not run" in text.detail
    assert "phases 2-3 missing" in text.detail
    assert "camera stopped" in text.detail.lower()


def test_source_ended_is_incomplete_in_plain_words() -> None:
    text = header_for(status(RunState.FINISHED, "source_ended"))
    assert text.state is HeaderState.INCOMPLETE
    assert "video ended before the protocol" in text.detail


def test_arming_shows_progress() -> None:
    text = header_for(status(RunState.ARMING, phase=None), arming=ArmingProgress(4.0, 10.0, 1, 6))
    assert text.state is HeaderState.ARMING
    assert text.progress == pytest.approx(0.4)
    assert "4.0 / 10 s" in text.progress_text


def test_header_freezes_in_the_final_state(qtbot: Any) -> None:
    header = StateHeader()
    qtbot.addWidget(header)
    header.show_status(status(RunState.FINISHED, EndReason.STOPPED_BY_USER))
    header.show_status(status())  # a late snapshot must not bring "RUNNING ... left" back
    assert header.state is HeaderState.STOPPED
    assert "left" not in header.progress.format()
    header.reset()
    assert header.state is HeaderState.IDLE


def test_board_reads_closed_after_a_normal_end(qtbot: Any) -> None:
    bar = SessionStatusBar()
    qtbot.addWidget(bar)
    bar.show_status(status(RunState.FINISHED, EndReason.COMPLETED, board_connected=False))
    assert bar.labels["board"].text() == "board closed"
    assert palette.ERROR not in bar.labels["board"].styleSheet()
    bar.show_status(status(RunState.RUNNING, board_connected=False))
    assert "NOT connected" in bar.labels["board"].text()


def test_latency_and_drops_are_coloured_by_thresholds() -> None:
    assert latency_colour(3.0) == palette.OK
    assert latency_colour(35.0) == palette.WARN
    assert latency_colour(120.0) == palette.ERROR
    assert latency_colour(math.nan) == palette.MUTED
    assert dropped_colour(0, 1000) == palette.OK
    assert dropped_colour(3, 1000) == palette.WARN
    assert dropped_colour(50, 1000) == palette.ERROR


def test_unreachable_speed_is_flagged(qtbot: Any, monkeypatch: Any) -> None:
    import rig.gui.widgets.status_bar as sb

    bar = SessionStatusBar()
    qtbot.addWidget(bar)
    bar.reset("10")
    clock = [100.0]
    monkeypatch.setattr(sb.time, "monotonic", lambda: clock[0])
    for i in range(5):  # 2x achieved while 10x was asked for
        clock[0] = 100.0 + i * 0.5
        bar.show_status(replace(status(), session_elapsed_s=6.0 + i * 1.0))
    assert bar.achieved_speed == pytest.approx(2.0)
    text = bar.labels["speed"].text()
    assert "10x requested" in text and "2.0x achieved" in text and "cannot keep up" in text
