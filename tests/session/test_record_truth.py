"""The record never claims more than happened (issue 12): early ends, actual times,
non-live sources on a slow machine, a deleted folder, a full disk.

Each test names the old behaviour it fails on.
"""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rig.devices.frames import Frame
from rig.devices.mock_board import MockBoard
from rig.session.observer import BaseObserver
from rig.session.runner import SessionRunner
from rig.session.status import EndReason, FrameUpdate
from tests.conftest import protocol_variant
from tests.session.helpers import ScriptedSource, ScriptedTracker, generous_rig, read_csv, read_json

LEFT_PX = (140.0, 240.0)

THREE_PHASES = [
    {"name": "baseline", "duration_s": 1, "mode": "off"},
    {"name": "test", "duration_s": 1, "mode": "closed_loop"},
    {"name": "post", "duration_s": 1, "mode": "off"},
]


def _loaded(default_loaded: Any, phases: list[dict[str, Any]] | None = None, **extra: Any) -> Any:
    return protocol_variant(
        default_loaded,
        phases=phases or THREE_PHASES,
        decision={"debounce_s": 0, "tracking_loss_grace_s": 0},
        tracking={"background": {"source": "first_frames", "duration_s": 0.5, "n_frames": 5}},
        **extra,
    )


def _runner(loaded: Any, out: Path, board: MockBoard, source: Any, **kwargs: Any) -> SessionRunner:
    tracker = ScriptedTracker([LEFT_PX])
    kwargs.setdefault("speed", None)
    kwargs.setdefault("rig", generous_rig())  # these tests are about the record, not liveness
    return SessionRunner(
        loaded, source, board, out, "m9", tracker_factory=lambda _l, _s: tracker, **kwargs
    )


def _assert_light_off(board: MockBoard) -> None:
    assert board.last_gate_command is None or board.last_gate_command.kind == "gate_close"
    assert not board.gate_open


def test_source_ending_in_the_test_phase_is_incomplete_with_planned_and_actual(
    default_loaded: Any, session_dir: Path, mock_board: MockBoard
) -> None:
    """3 x 1 s protocol, a source with 0.5 s arming + 1.5 s of frames. The old code ended
    ``completed``, ``complete: true`` and stamped phase_end at its planned end (after
    session_end); now: source_ended, per-phase planned_s/actual_s, what is missing."""
    runner = _runner(_loaded(default_loaded), session_dir, mock_board, ScriptedSource(n_frames=15 + 45))
    assert runner.run() is EndReason.SOURCE_ENDED
    _assert_light_off(mock_board)
    assert runner.session_dir is not None
    assert len(read_csv(runner.session_dir / "frames.csv")) == 45
    summary = read_json(runner.session_dir / "summary.json")
    assert summary["end_reason"] == "source_ended" and summary["complete"] is False
    planned = {p["phase"]: p for p in summary["planned_phases"]}
    assert planned["baseline"]["ran_in_full"] is True
    assert planned["baseline"]["planned_s"] == 1.0 and planned["baseline"]["actual_s"] == pytest.approx(1.0, abs=0.04)
    assert planned["test"]["actual_s"] == pytest.approx(0.5, abs=0.04) and not planned["test"]["ran_in_full"]
    assert planned["post"]["actual_s"] == 0.0 and not planned["post"]["ran_in_full"]
    assert [p["planned_s"] for p in summary["phases"]] == [1.0, 1.0]
    assert any("post: ran 0.0 of 1.0 s" in r for r in summary["incomplete"])
    events = read_csv(runner.session_dir / "events.csv")
    end = next(float(e["t_s"]) for e in events if e["kind"] == "session_end")
    assert all(float(e["t_s"]) <= end for e in events if e["kind"] == "phase_end")
    header = read_json(runner.session_dir / "session.json")
    assert header["end_reason"] == "source_ended" and header["planned_duration_s"] == 3.0


def test_phase_events_carry_actual_frame_times(default_loaded: Any, session_dir: Path, mock_board: MockBoard) -> None:
    """With frames every 0.3 s a phase boundary planned at 1.0 s happens at the frame at
    1.2 s; the old code wrote the planned 1.0."""
    source = ScriptedSource(fps=1 / 0.3, n_frames=100)
    runner = _runner(_loaded(default_loaded), session_dir, mock_board, source)
    runner.run()
    assert runner.session_dir is not None
    events = read_csv(runner.session_dir / "events.csv")
    starts = {e["detail"]: float(e["t_s"]) for e in events if e["kind"] == "phase_start"}
    times = sorted(starts.values())
    assert times[0] == 0.0 and times[1] == pytest.approx(1.2) and times[2] == pytest.approx(2.1)


def test_source_covering_the_protocol_is_complete(default_loaded: Any, session_dir: Path, mock_board: MockBoard) -> None:
    """A source whose last frame covers the protocol's end is ``completed`` and complete."""
    runner = _runner(_loaded(default_loaded), session_dir, mock_board, ScriptedSource(n_frames=15 + 90))
    assert runner.run() is EndReason.COMPLETED
    assert runner.session_dir is not None
    summary = read_json(runner.session_dir / "summary.json")
    assert summary["complete"] is True and summary["incomplete"] == []
    assert all(p["ran_in_full"] for p in summary["planned_phases"])
    assert len(read_csv(runner.session_dir / "frames.csv")) == 90


def test_camera_lost_is_never_complete(default_loaded: Any, session_dir: Path, mock_board: MockBoard) -> None:
    """The old summary said ``complete: true`` for any session with an end reason."""
    source = ScriptedSource(live=True, stall_after=40)
    runner = _runner(_loaded(default_loaded), session_dir, mock_board, source, camera_timeout_s=0.2, speed=1.0)
    try:
        assert runner.run() is EndReason.CAMERA_LOST
    finally:
        source.release.set()
    assert runner.session_dir is not None
    summary = read_json(runner.session_dir / "summary.json")
    assert summary["complete"] is False and "ended camera_lost" in summary["incomplete"]
    _assert_light_off(mock_board)


class SlowSource(ScriptedSource):
    """A recorded source that takes ``pause_s`` of wall time over one frame (a busy machine)."""

    def __init__(self, pause_at: int, pause_s: float, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._pause_at, self._pause_s = pause_at, pause_s

    def read(self) -> Frame | None:
        if self._index == self._pause_at:
            threading.Event().wait(self._pause_s)
        return super().read()


@pytest.mark.parametrize("speed", [None, 1.0])
def test_non_live_source_never_times_out_on_wall_time(
    default_loaded: Any, session_dir: Path, mock_board: MockBoard, speed: float | None
) -> None:
    """A replay/synthetic source stalled 1 s (CPU load) with a 0.2 s camera timeout. The old
    code ended ``camera_lost``; now it completes with every frame."""
    loaded = _loaded(default_loaded, phases=[{"name": "only", "duration_s": 2, "mode": "open_loop"}])
    source = SlowSource(pause_at=40, pause_s=1.0, n_frames=15 + 60)
    runner = _runner(loaded, session_dir, mock_board, source, camera_timeout_s=0.2, speed=speed)
    assert runner.run() is EndReason.COMPLETED
    assert runner.session_dir is not None
    assert len(read_csv(runner.session_dir / "frames.csv")) == 60
    _assert_light_off(mock_board)


class DeleteAt(BaseObserver):
    def __init__(self, at: int, action: Any) -> None:
        self.at, self.action, self.count = at, action, 0

    def on_frame(self, update: FrameUpdate) -> None:
        self.count += 1
        if self.count == self.at:
            self.action()


@pytest.mark.parametrize("replace", [False, True])
def test_deleted_or_replaced_session_folder_is_a_recorder_fault(
    default_loaded: Any, session_dir: Path, mock_board: MockBoard, synthetic_source: Any, replace: bool
) -> None:
    """The old code ran to the end, exit 0, "record in" a folder that no longer existed.
    Now: recorder_fault within a second of session time (real-time pacing), light off."""
    loaded = _loaded(default_loaded, phases=[{"name": "only", "duration_s": 60, "mode": "open_loop"}])
    holder: dict[str, SessionRunner] = {}

    def delete() -> None:
        folder = holder["r"].session_dir
        assert folder is not None
        shutil.rmtree(folder)
        if replace:
            folder.mkdir()

    runner = _runner(loaded, session_dir, mock_board, synthetic_source, speed=1.0, observers=(DeleteAt(30, delete),))
    holder["r"] = runner
    assert runner.run() is EndReason.RECORDER_FAULT
    _assert_light_off(mock_board)
    status = runner.status
    assert "deleted" in (status.fault or "") or "replaced" in (status.fault or "")
    # generous: the check runs every 0.5 s; 10 s of frames after the deletion at most
    assert status.frames < 30 + 300


def test_disk_full_at_start_is_a_recorder_fault(
    default_loaded: Any, session_dir: Path, mock_board: MockBoard, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Injected ENOSPC while the first files are written. The old code ended ``error``."""
    import rig.session.runner as runner_module

    def full(*_a: Any, **_k: Any) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(runner_module, "write_json_atomic", full)
    runner = _runner(_loaded(default_loaded), session_dir, mock_board, ScriptedSource(n_frames=100))
    assert runner.run() is EndReason.RECORDER_FAULT
    assert "No space left" in (runner.status.fault or "")
    _assert_light_off(mock_board)


# ----------------------------------------------------------------------------- a real full disk
@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 400 KB tmpfs (a real ENOSPC); skipped where mounting is not allowed."""
    mount_point = tmp_path / "small"
    mount_point.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a small tmpfs needs root")
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=400k", "tmpfs", str(mount_point)],
        capture_output=True, text=True,
    )
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {result.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def _fill(folder: Path, leave_bytes: int) -> None:
    stat = os.statvfs(folder)
    free = stat.f_bavail * stat.f_frsize
    if free > leave_bytes:
        (folder / "filler").write_bytes(b"\0" * (free - leave_bytes))


def test_real_disk_full_mid_session_runner(default_loaded: Any, small_disk: Path, mock_board: MockBoard, synthetic_source: Any) -> None:
    """A 400 KB disk fills during a 60 s session: recorder_fault, light off, the rows that
    fitted are on disk. The old code let OSErrors escape the teardown (tracebacks)."""
    loaded = _loaded(default_loaded, phases=[{"name": "only", "duration_s": 600, "mode": "open_loop"}])
    runner = _runner(loaded, small_disk, mock_board, synthetic_source)
    assert runner.run() is EndReason.RECORDER_FAULT
    _assert_light_off(mock_board)
    assert runner.session_dir is not None
    rows = (runner.session_dir / "frames.csv").read_text().splitlines()
    assert 100 < len(rows) < runner.status.frames + 2


@pytest.mark.parametrize("leave_bytes", [0, 20_000])
def test_real_disk_full_cli_exit_5_without_traceback(small_disk: Path, leave_bytes: int) -> None:
    """``rig demo`` on a disk that is full at the start (0 bytes left) or fills up during
    the session: exit 5, recorder_fault, no traceback. The old code: exit 1 with 13-20
    tracebacks (full mid-session) or ``error`` (full at start)."""
    import sys

    out = small_disk / "out"
    out.mkdir()
    _fill(small_disk, leave_bytes)
    result = subprocess.run(
        [sys.executable, "-m", "rig", "demo", "--out", str(out), "--duration-s", "600", "--speed", "max"],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 5, result.stderr[-3000:]
    assert "Traceback" not in result.stderr and "Logging error" not in result.stderr, result.stderr[-3000:]
    assert "recorder_fault" in result.stdout + result.stderr
