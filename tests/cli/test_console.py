"""What a user sees on the console (issue 18), through the real `rig` command in a
subprocess with stdout/stderr as pipes (a non-terminal)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def rig(*args: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "OPENCV_LOG_LEVEL"}
    return subprocess.run(
        [sys.executable, "-m", "rig", *args], cwd=cwd, capture_output=True, text=True,
        timeout=timeout, env=env,
    )


def test_missing_camera_is_one_clear_message(tmp_path: Path) -> None:
    """Old code: OpenCV's `[ WARN:0@0.014] ... can't open camera by index` lines, then the
    same error twice (an `ERROR rig.session.runner` log line and an `error:` line)."""
    result = rig(
        "run", str(ROOT / "protocols" / "rtpp_redondo2014.yaml"), "--animal", "m1",
        "--source", "camera:97", "--board", "mock", "--out", str(tmp_path), cwd=tmp_path,
    )
    assert result.returncode == 3
    assert "WARN" not in result.stderr and "VIDEOIO" not in result.stderr
    assert result.stderr.count("cannot be opened") == 1, result.stderr
    assert "camera 97" in result.stderr


# ----------------------------------------------------------------------------- units
import io  # noqa: E402
import json  # noqa: E402
from types import SimpleNamespace  # noqa: E402

from rig.cli._console import StatusLine, StepProgress  # noqa: E402
from rig.cli.run import ProgressLine  # noqa: E402
from rig.session.status import RunnerStatus, RunState  # noqa: E402
from rig.zones import ZoneId  # noqa: E402


class FakeClock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def _status(frames: int, session_s: float, simulated: bool = True) -> RunnerStatus:
    return RunnerStatus(
        state=RunState.RUNNING, phase="test", phase_index=1, n_phases=3, phase_elapsed_s=0.0,
        phase_duration_s=60.0, session_elapsed_s=session_s, total_duration_s=120.0,
        zone=ZoneId.LEFT, laser_on=True, stim_side="left", fps=30.0, dropped_frames=0,
        latency_p50_ms=1.0, latency_p99_ms=2.0, board_connected=True, frames=frames,
        session_dir=None, end_reason=None, fault=None, simulated=simulated,
    )


def test_status_line_on_a_pipe_has_no_carriage_returns_and_is_throttled() -> None:
    clock = FakeClock()
    stream = io.StringIO()
    line = StatusLine(stream, terminal=False, plain_interval_s=10.0, clock=clock)
    for i in range(1000):  # 100 s of updates every 0.1 s
        line.update(f"status {i}")
        if i % 250 == 0:
            line.print(f"event {i}")
        clock.t += 0.1
    line.end()
    text = stream.getvalue()
    assert "\r" not in text
    lines = text.splitlines()
    assert 10 <= len([x for x in lines if x.startswith("status")]) <= 12
    assert lines[-1] == "status 999"  # the final state is always shown
    assert [x for x in lines if x.startswith("event")] == [f"event {i}" for i in (0, 250, 500, 750)]


def test_status_line_on_a_terminal_redraws_in_place() -> None:
    clock = FakeClock()
    stream = io.StringIO()
    line = StatusLine(stream, terminal=True, clock=clock)
    line.update("a long status text")
    clock.t += 1
    line.update("short")
    line.print("phase 2")
    line.end()
    assert stream.getvalue() == (
        "\ra long status text" + "\rshort" + " " * 13 + "\rphase 2" + " " * 0 + "\n" + "short" + "\n"
    )


def test_progress_line_shows_the_real_processing_rate() -> None:
    """Issue 18: the replay's progress line showed the media rate (`30.0 fps`, frames per
    second of video) while it processed ~270 frames per wall-clock second."""
    clock = FakeClock()
    stream = io.StringIO()
    runner = SimpleNamespace(status=_status(0, 0.0), session_dir=None)
    progress = ProgressLine(runner, StatusLine(stream, terminal=False, clock=clock), clock=clock)  # type: ignore[arg-type]
    progress.on_frame(None)  # type: ignore[arg-type]
    clock.t += 2.0
    runner.status = _status(600, 20.0)  # 600 frames (20 s of video) in 2 s of wall time
    progress.on_frame(None)  # type: ignore[arg-type]
    progress.on_finished(runner.status)
    text = stream.getvalue()
    assert "300.0 fps (10.0x real time)" in text
    assert "30.0 fps" not in text
    assert progress.rate(runner.status) == pytest.approx((300.0, 2.0))


def test_step_progress_reports_rate_and_time_left() -> None:
    clock = FakeClock()
    stream = io.StringIO()
    report = StepProgress(StatusLine(stream, terminal=False, plain_interval_s=1.0, clock=clock), clock=clock)
    report("background: median of 60 frames", 0, 60, "frames")
    for done in range(1, 61):
        clock.t += 0.5
        report("background: median of 60 frames", done, 60, "frames")
    lines = stream.getvalue().splitlines()
    assert lines[0] == "background: median of 60 frames: 0/60 frames (0 %)"
    assert "30/60 frames (50 %), 2.0 frames/s, 0:15 left" in "\n".join(lines)
    assert lines[-1] == "background: median of 60 frames: 60/60 frames (100 %), 2.0 frames/s in 30.0 s"
    assert "\r" not in stream.getvalue()


# ----------------------------------------------------------------------------- end to end
SHORT_PROTOCOL = """\
schema_version: 1
metadata: {name: console-test}
arena:
  calibration: synthetic_arena.yaml
  stimulated: {rule: fixed, side: left}
phases:
  - {name: baseline, duration_s: 2, mode: "off"}
  - {name: test, duration_s: 3, mode: closed_loop}
tracking:
  background: {source: median, duration_s: 1, n_frames: 10}
"""


def _no_carriage_returns(result: subprocess.CompletedProcess[str]) -> None:
    assert "\r" not in result.stderr and "\r" not in result.stdout


@pytest.fixture(scope="module")
def demo_session(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], Path]:
    out = tmp_path_factory.mktemp("demo")
    result = rig("demo", "--duration-s", "6", "--out", str(out), cwd=out)
    sessions = sorted((out / "sessions").iterdir())
    assert result.returncode == 0, result.stderr
    return result, sessions[0]


def test_demo_on_a_pipe_says_what_where_progress_and_end(
    demo_session: tuple[subprocess.CompletedProcess[str], Path],
) -> None:
    """Issue 18: `rig run/demo` printed nothing to a non-terminal until the end."""
    result, session = demo_session
    _no_carriage_returns(result)
    err = result.stderr.splitlines()
    assert err[0].startswith("demo: protocol demo-rtpp (3 phases, 0:06), synthetic arena")
    assert err[0].endswith("as fast as possible; record under " + str(session.parent.parent))
    assert f"record: {session}" in err
    assert any(x.startswith("background: reading") and "in " in x for x in err)
    assert any(x.startswith("phase 1/3 baseline") for x in err)
    assert any(x.startswith("[") and "fps" in x for x in err)  # the final status line
    out = result.stdout.splitlines()
    assert out[-1].startswith("session: completed, 180 frames in ")
    assert out[-1].endswith(f"record in {session}")


def test_replay_on_a_pipe(tmp_path: Path) -> None:
    import cv2

    from rig.calibration_io import load_arena_calibration
    from rig.devices.synthetic import SyntheticArena
    from rig.protocol.load import bundled_data_dir

    calibration = load_arena_calibration(bundled_data_dir() / "synthetic_arena.yaml")
    video = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 30.0, (640, 480))
    with SyntheticArena(calibration, fps=30.0, duration_s=5.5, seed=2) as source:
        while (frame := source.read()) is not None:
            writer.write(cv2.cvtColor(frame.image, cv2.COLOR_GRAY2BGR))
    writer.release()
    protocol = tmp_path / "short.yaml"
    protocol.write_text(SHORT_PROTOCOL)
    result = rig("replay", str(video), "--protocol", str(protocol), "--out", str(tmp_path / "o"),
                 cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    _no_carriage_returns(result)
    err = result.stderr.splitlines()
    assert err[0] == (f"replay: {video} with protocol console-test (2 phases, 0:05), mock board, "
                      f"as fast as possible; record under {tmp_path / 'o'}")
    assert any(x.startswith("background: median of 10 frames sampled over the file: 10/10") for x in err)
    assert result.stdout.splitlines()[-1].startswith("session: completed, 150 frames in ")


def test_report_on_a_pipe(demo_session: tuple[subprocess.CompletedProcess[str], Path]) -> None:
    """Issue 18: `rig report` (39 s on a long session) showed no progress."""
    _, session = demo_session
    result = rig("report", str(session), "--out", str(session.parent / "r1"), cwd=session)
    assert result.returncode == 0, result.stderr
    _no_carriage_returns(result)
    err = result.stderr.splitlines()
    assert err[0].startswith(f"report: {session}")
    assert any(x.startswith("drawing figures: 7/7 figures (100 %)") for x in err)
    assert any(x.startswith("writing figures (PNG + PDF)") and "7/7" in x for x in err)
    assert result.stdout.splitlines()[-1].startswith("report:  ")


def test_export_nwb_refuses_an_existing_file_before_any_work(
    demo_session: tuple[subprocess.CompletedProcess[str], Path], tmp_path: Path,
) -> None:
    """Issue 18: export-nwb refused an existing file only after seconds of imports (old
    code: pynwb and matplotlib were imported first)."""
    _, session = demo_session
    target = tmp_path / "m.nwb"
    target.write_bytes(b"keep")
    code = (
        "import sys\nfrom rig.cli import main\n"
        f"rc = main(['export-nwb', {str(session)!r}, '--out', {str(target)!r}])\n"
        "print(rc, 'pynwb' in sys.modules, 'matplotlib' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.stdout.split() == ["2", "False", "False"], result.stderr
    assert "already exists" in result.stderr
    assert target.read_bytes() == b"keep"


def test_export_nwb_on_a_pipe(
    demo_session: tuple[subprocess.CompletedProcess[str], Path], tmp_path: Path,
) -> None:
    _, session = demo_session
    result = rig("export-nwb", str(session), "--out", str(tmp_path / "s.nwb"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    _no_carriage_returns(result)
    err = result.stderr.splitlines()
    assert err[0] == f"export-nwb: {session} -> {tmp_path / 's.nwb'}"
    assert any("3/3 steps (100 %)" in x for x in err)
    assert result.stdout.strip() == f"NWB file written: {tmp_path / 's.nwb'}"
    json.dumps(err)  # plain text
