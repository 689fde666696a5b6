"""Every fault path ends with the laser gate closed and the reason recorded."""

from __future__ import annotations

import json

import threading
from pathlib import Path
from typing import Any

import pytest

import rig.session.writer as writer_module
from rig.devices.mock_board import MockBoard
from rig.errors import CameraLost
from rig.session.observer import BaseObserver
from rig.session.runner import SessionRunner
from rig.session.status import EndReason, FrameUpdate
from tests.conftest import protocol_variant
from tests.session.helpers import ScriptedSource, ScriptedTracker, read_csv, read_json

LEFT_PX = (140.0, 240.0)  # x = 10 cm in the default calibration
RIGHT_PX = (500.0, 240.0)  # x = 40 cm


def _loaded(default_loaded: Any, mode: str = "open_loop", duration_s: float = 10, **extra: Any) -> Any:
    return protocol_variant(
        default_loaded,
        phases=[{"name": "only", "duration_s": duration_s, "mode": mode}],
        decision={"debounce_s": 0, "tracking_loss_grace_s": 0},
        tracking={"background": {"source": "first_frames", "duration_s": 0.5, "n_frames": 5}},
        **extra,
    )


def _runner(
    loaded: Any,
    out: Path,
    board: MockBoard,
    *,
    source: ScriptedSource | None = None,
    tracker: ScriptedTracker | None = None,
    observers: tuple[Any, ...] = (),
    **kwargs: Any,
) -> SessionRunner:
    tracker = tracker or ScriptedTracker([LEFT_PX])
    return SessionRunner(
        loaded,
        source or ScriptedSource(),
        board,
        out,
        "m9",
        speed=None,
        observers=observers,
        tracker_factory=lambda _loaded, _size: tracker,
        **kwargs,
    )


def _assert_off_and_recorded(runner: SessionRunner, board: MockBoard, reason: str) -> list[dict[str, str]]:
    assert board.last_gate_command is not None
    assert board.last_gate_command.kind == "gate_close"
    assert not board.gate_open and not board.is_open
    assert runner.session_dir is not None
    header = read_json(runner.session_dir / "session.json")
    assert header["end_reason"] == reason
    events = read_csv(runner.session_dir / "events.csv")
    assert events[-1]["kind"] == "session_end"
    laser = [e for e in events if e["kind"] in ("laser_on", "laser_off")]
    assert laser[-1]["kind"] == "laser_off"
    assert (runner.session_dir / "summary.json").exists()
    return events


class OnFrame(BaseObserver):
    def __init__(self, at: int, action: Any) -> None:
        self.at, self.action, self.count = at, action, 0

    def on_frame(self, update: FrameUpdate) -> None:
        self.count += 1
        if self.count == self.at:
            self.action()


def test_tracker_exception(default_loaded: Any, session_dir: Path, mock_board: MockBoard) -> None:
    runner = _runner(_loaded(default_loaded), session_dir, mock_board, tracker=ScriptedTracker([LEFT_PX], raise_at=10))
    assert runner.run() is EndReason.ERROR
    events = _assert_off_and_recorded(runner, mock_board, "error")
    assert any(e["kind"] == "fault" and "tracker exploded" in e["detail"] for e in events)
    assert "RuntimeError" in (runner.status.fault or "")


def test_camera_stall_is_camera_lost(default_loaded: Any, session_dir: Path, mock_board: MockBoard) -> None:
    source = ScriptedSource(live=True, stall_after=40)
    runner = _runner(_loaded(default_loaded), session_dir, mock_board, source=source, camera_timeout_s=0.2)
    try:
        assert runner.run() is EndReason.CAMERA_LOST
    finally:
        source.release.set()
    _assert_off_and_recorded(runner, mock_board, "camera_lost")
    status = runner.status
    assert 1 <= status.frames and status.frames + status.dropped_frames <= 40 - 15  # 15 arming frames


def test_camera_error_is_camera_lost(default_loaded: Any, session_dir: Path, mock_board: MockBoard) -> None:
    source = ScriptedSource(fail_after=30, error=CameraLost("camera unplugged"))
    runner = _runner(_loaded(default_loaded), session_dir, mock_board, source=source)
    assert runner.run() is EndReason.CAMERA_LOST
    events = _assert_off_and_recorded(runner, mock_board, "camera_lost")
    assert any(e["kind"] == "fault" and "unplugged" in e["detail"] for e in events)


def test_board_failure_mid_session(default_loaded: Any, session_dir: Path, mock_board: MockBoard) -> None:
    # left (on) x5, right (off) x5, left again: the second opening fails (cable pulled).
    script = [LEFT_PX] * 5 + [RIGHT_PX] * 5 + [LEFT_PX] * 100
    board = mock_board

    class PullCable(BaseObserver):
        def on_event(self, kind: str, t_s: float, detail: dict[str, object]) -> None:
            if kind == "laser_off":
                board.fail_next_write = True

    runner = _runner(
        _loaded(default_loaded, mode="closed_loop"), session_dir, board,
        tracker=ScriptedTracker(script), observers=(PullCable(),),
    )
    assert runner.run() is EndReason.BOARD_LOST
    _assert_off_and_recorded(runner, board, "board_lost")
    assert [c.kind for c in board.commands if c.kind.startswith("gate")] == ["gate_open", "gate_close"]
    assert runner.status.frames == 10  # the 11th frame's command failed


def test_stop_request(default_loaded: Any, session_dir: Path, mock_board: MockBoard) -> None:
    holder: dict[str, SessionRunner] = {}
    runner = _runner(
        _loaded(default_loaded), session_dir, mock_board,
        observers=(OnFrame(10, lambda: holder["r"].request_stop()),),
    )
    holder["r"] = runner
    assert runner.run() is EndReason.STOPPED_BY_USER
    events = _assert_off_and_recorded(runner, mock_board, "stopped_by_user")
    assert runner.status.frames == 10
    assert [e["detail"] for e in events if e["kind"] == "laser_off"] == ['{"reason":"stop"}']


def test_keyboard_interrupt(default_loaded: Any, session_dir: Path, mock_board: MockBoard) -> None:
    def interrupt() -> None:
        raise KeyboardInterrupt

    runner = _runner(_loaded(default_loaded), session_dir, mock_board, observers=(OnFrame(5, interrupt),))
    with pytest.raises(KeyboardInterrupt):
        runner.run()
    _assert_off_and_recorded(runner, mock_board, "stopped_by_user")
    assert runner.status.end_reason is EndReason.STOPPED_BY_USER


def test_emergency_stop_from_another_thread(default_loaded: Any, session_dir: Path, mock_board: MockBoard) -> None:
    holder: dict[str, SessionRunner] = {}

    def from_other_thread() -> None:
        thread = threading.Thread(target=holder["r"].emergency_stop)
        thread.start()
        thread.join()
        assert not mock_board.gate_open  # off at once, before the loop even noticed

    runner = _runner(_loaded(default_loaded), session_dir, mock_board, observers=(OnFrame(8, from_other_thread),))
    holder["r"] = runner
    assert runner.run() is EndReason.EMERGENCY_STOP
    _assert_off_and_recorded(runner, mock_board, "emergency_stop")
    assert runner.status.frames == 8


def test_raising_observer_is_detached(default_loaded: Any, session_dir: Path, mock_board: MockBoard, caplog: pytest.LogCaptureFixture) -> None:
    calls = []

    def boom() -> None:
        calls.append(1)
        raise ValueError("display broke")

    class Boom(BaseObserver):
        def on_frame(self, update: FrameUpdate) -> None:
            boom()

    runner = _runner(_loaded(default_loaded, duration_s=2), session_dir, mock_board, observers=(Boom(),))
    assert runner.run() is EndReason.COMPLETED
    assert calls == [1]
    assert runner.status.frames == 60
    assert any("detached" in r.getMessage() and r.exc_info for r in caplog.records)


def test_total_limit_stop_session(default_loaded: Any, session_dir: Path, mock_board: MockBoard) -> None:
    loaded = _loaded(default_loaded, safety={"max_total_on_s": 0.5, "on_total_limit": "stop_session"})
    runner = _runner(loaded, session_dir, mock_board)
    assert runner.run() is EndReason.SAFETY_LIMIT
    events = _assert_off_and_recorded(runner, mock_board, "safety_limit")
    assert [e["kind"] for e in events].count("safety_total_limit") == 1
    rows = read_csv(runner.session_dir / "frames.csv")  # type: ignore[operator]
    assert [r["laser_on"] for r in rows] == ["1"] * 15 + ["0"]


def test_continuous_limit_in_session(default_loaded: Any, session_dir: Path, mock_board: MockBoard) -> None:
    loaded = _loaded(default_loaded, duration_s=3, safety={"max_continuous_on_s": 1.0, "forced_off_s": 0.5})
    runner = _runner(loaded, session_dir, mock_board)
    assert runner.run() is EndReason.COMPLETED
    rows = read_csv(runner.session_dir / "frames.csv")  # type: ignore[operator]
    lit = "".join(r["laser_on"] for r in rows)
    assert lit == "1" * 30 + "0" * 15 + "1" * 30 + "0" * 15
    kinds = [e["kind"] for e in read_csv(runner.session_dir / "events.csv")]  # type: ignore[operator]
    assert kinds.count("safety_continuous_limit") == 2 and kinds.count("safety_resume") == 1
    gate = [c.kind for c in mock_board.commands if c.kind.startswith("gate")]
    assert gate == ["gate_open", "gate_close", "gate_open", "gate_close"]


def test_recorder_fault_stops_session(default_loaded: Any, session_dir: Path, mock_board: MockBoard, monkeypatch: pytest.MonkeyPatch) -> None:
    original = writer_module.format_frame_row
    count = {"n": 0}

    def failing(row: Any) -> str:
        count["n"] += 1
        if count["n"] > 5:
            raise OSError(28, "No space left on device")
        return original(row)

    monkeypatch.setattr(writer_module, "format_frame_row", failing)
    holder: dict[str, Any] = {}

    class WaitForWriter(BaseObserver):
        def on_frame(self, update: FrameUpdate) -> None:
            if update.frame_index == 40:  # let the writer thread hit the error
                writer = holder["r"]._writer
                writer._thread.join(5)

    runner = _runner(_loaded(default_loaded), session_dir, mock_board, observers=(WaitForWriter(),))
    holder["r"] = runner
    assert runner.run() is EndReason.RECORDER_FAULT
    assert mock_board.last_gate_command is not None and mock_board.last_gate_command.kind == "gate_close"
    header = read_json(runner.session_dir / "session.json")  # type: ignore[operator]
    assert header["end_reason"] == "recorder_fault"
    assert "No space left" in (runner.status.fault or "")


def test_source_end_before_protocol_is_source_ended_and_frame_size_checked(default_loaded: Any, session_dir: Path, mock_board: MockBoard) -> None:
    """A 10 s protocol on a source of 1.5 s (0.5 s go to arming): ends ``source_ended``
    (the old code said ``completed``), the record says what is missing, the light is off."""
    runner = _runner(_loaded(default_loaded), session_dir, mock_board, source=ScriptedSource(n_frames=45))
    assert runner.run() is EndReason.SOURCE_ENDED
    assert runner.status.frames == 30
    assert "only 9.0 of 10.0 s" in (runner.status.fault or "")
    events = _assert_off_and_recorded(runner, mock_board, "source_ended")
    assert "source_ended" in [e["kind"] for e in events]
    assert len(read_csv(runner.session_dir / "frames.csv")) == 30  # type: ignore[operator]
    summary = read_json(runner.session_dir / "summary.json")  # type: ignore[operator]
    assert summary["complete"] is False and summary["end_reason"] == "source_ended"

    board = MockBoard()
    bad = _runner(_loaded(default_loaded), session_dir / "x", board, source=ScriptedSource(size=(320, 240)))
    assert bad.run() is EndReason.ERROR
    assert "320x240" in (bad.status.fault or "")
    assert bad.session_dir is None  # nothing was created


def test_background_from_image_and_saved_video(default_loaded: Any, tmp_path: Path, mock_board: MockBoard) -> None:
    import cv2
    import numpy as np

    image_path = tmp_path / "empty.png"
    cv2.imwrite(str(image_path), np.full((480, 640), 200, np.uint8))
    loaded = protocol_variant(
        _loaded(default_loaded, duration_s=1),
        tracking={"background": {"source": "image", "image": str(image_path)}},
        recording={"save_video": True},
    )
    tracker = ScriptedTracker([LEFT_PX])
    runner = _runner(loaded, tmp_path / "out", mock_board, tracker=tracker)
    assert runner.run() is EndReason.COMPLETED
    assert tracker.background is not None and int(tracker.background[0, 0]) == 200
    assert runner.status.frames == 30  # no arming frames consumed
    video = cv2.VideoCapture(str(runner.session_dir / "video.avi"))  # type: ignore[operator]
    assert int(video.get(cv2.CAP_PROP_FRAME_COUNT)) == 30
    video.release()


def test_missing_background_image_is_refused_before_anything_opens(default_loaded: Any, tmp_path: Path, mock_board: MockBoard) -> None:
    from rig.errors import ConfigError

    loaded = protocol_variant(
        _loaded(default_loaded), tracking={"background": {"source": "image", "image": "nope.png"}}
    )
    with pytest.raises(ConfigError, match="nope.png"):
        _runner(loaded, tmp_path / "out", mock_board)
    assert not mock_board.commands and not (tmp_path / "out").exists()


def test_first_frames_background(default_loaded: Any, session_dir: Path, mock_board: MockBoard) -> None:
    loaded = protocol_variant(
        _loaded(default_loaded, duration_s=1),
        tracking={"background": {"source": "first_frames", "duration_s": 1, "n_frames": 10}},
    )
    tracker = ScriptedTracker([LEFT_PX])
    runner = _runner(loaded, session_dir, mock_board, tracker=tracker)
    assert runner.run() is EndReason.COMPLETED
    assert tracker.background is not None
    rows = read_csv(runner.session_dir / "frames.csv")  # type: ignore[operator]
    # The first second went to the background: not in frames.csv (numbered from the first
    # session frame), counted in session.json.
    assert int(rows[0]["frame"]) == 0
    header = json.loads((runner.session_dir / "session.json").read_text())  # type: ignore[operator]
    assert header["preroll_frames"] >= 30
