"""`rig run / replay / demo` end to end, including kills and signals mid-session."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rig.cli import main

PROTOCOL = """\
schema_version: 1
metadata: {name: cli-test}
arena:
  calibration: synthetic_arena.yaml
  stimulated: {rule: fixed, side: left}
phases:
  - {name: light, duration_s: 120, mode: open_loop}
tracking:
  background: {source: median, duration_s: 1, n_frames: 10}
"""


@pytest.fixture
def protocol_file(tmp_path: Path) -> Path:
    path = tmp_path / "cli-test.yaml"
    path.write_text(PROTOCOL)
    return path


def _start(protocol: Path, out: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "rig", "run", str(protocol), "--animal", "m1", "--source", "synthetic",
         "--board", "mock", "--out", str(out), "--speed", "1"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def _session_dir(out: Path) -> Path:
    dirs = list(out.glob("sessions/*"))
    assert len(dirs) == 1, dirs
    return dirs[0]


def _wait_for_rows(proc: subprocess.Popen[str], out: Path, n_rows: int, timeout_s: float = 60) -> Path:
    """Poll the record of a running subprocess (no other way to observe another process)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        frames = list(out.glob("sessions/*/frames.csv"))
        if frames and frames[0].read_text().count("\n") > n_rows:
            return frames[0].parent
        time.sleep(0.05)
    raise AssertionError("the session did not produce frames in time")


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_sigkill_leaves_a_readable_record(protocol_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    proc = _start(protocol_file, out)
    session_dir = _wait_for_rows(proc, out, 30)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    text = (session_dir / "frames.csv").read_text()
    lines = text.splitlines()
    complete = lines if text.endswith("\n") else lines[:-1]  # a torn last line is ignored
    rows = list(csv.DictReader(complete))
    assert len(rows) >= 30
    for row in rows:
        assert row["latency_ms"] and row["phase"] == "light" and row["laser_on"] == "1"
    frames = [int(r["frame"]) for r in rows]
    assert frames == sorted(frames)
    events = _rows(session_dir / "events.csv")
    assert events[0]["kind"] == "session_start"
    assert json.loads((session_dir / "session.json").read_text())["end_reason"] is None
    assert not (session_dir / "summary.json").exists()


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_signal_ends_cleanly_with_gate_closed(protocol_file: Path, tmp_path: Path, signum: int) -> None:
    out = tmp_path / "out"
    proc = _start(protocol_file, out)
    session_dir = _wait_for_rows(proc, out, 20)
    proc.send_signal(signum)
    stdout, stderr = proc.communicate(timeout=60)
    # Ctrl-C is an operator's stop (0); other stop signals exit 128 + signum (rig.cli.signals).
    assert proc.returncode == (0 if signum == signal.SIGINT else 128 + signum), stderr
    commands = _rows(session_dir / "board_commands.csv")
    gate = [c["kind"] for c in commands if c["kind"].startswith("gate")]
    assert gate[0] == "gate_open" and gate[-1] == "gate_close"
    assert commands[-1]["kind"] == "close"
    header = json.loads((session_dir / "session.json").read_text())
    assert header["end_reason"] == "stopped_by_user"
    assert (session_dir / "summary.json").exists()
    events = _rows(session_dir / "events.csv")
    laser = [e for e in events if e["kind"] in ("laser_on", "laser_off")]
    assert laser[-1]["kind"] == "laser_off"
    assert "stopped_by_user" in stdout
    # Issue 18: on a non-terminal too, the stop is acknowledged at once, in words.
    name = "Ctrl-C" if signum == signal.SIGINT else "SIGTERM"
    assert f"{name}: stopping after the current frame, laser off" in stderr
    assert stderr.startswith("run: protocol cli-test") and "\r" not in stderr


def test_demo_runs_and_prints_summary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--out", str(tmp_path), "--duration-s", "12"]) == 0
    printed = capsys.readouterr().out
    assert "baseline" in printed and "record in" in printed
    session_dir = _session_dir(tmp_path)
    header = json.loads((session_dir / "session.json").read_text())
    assert header["end_reason"] == "completed" and header["simulated"] is True
    assert len(_rows(session_dir / "frames.csv")) == 12 * 30


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--source", "webcam", "--board", "mock"], "--source"),
        (["--source", "video:/nonexistent.mp4", "--board", "mock"], "not found"),
        (["--source", "synthetic", "--board", "arduino"], "--board"),
        (["--source", "synthetic", "--board", "mock", "--speed", "fast"], "--speed"),
    ],
)
def test_bad_input_changes_nothing(
    protocol_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    out = tmp_path / "never"
    code = main(["run", str(protocol_file), "--animal", "m1", "--out", str(out), *argv])
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_missing_protocol_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["run", str(tmp_path / "nope.yaml"), "--animal", "m1", "--source", "synthetic",
                 "--board", "mock", "--out", str(tmp_path / "o")])
    assert code == 2
    assert not (tmp_path / "o").exists()


def test_replay_of_a_recorded_video(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import cv2

    from rig.devices.synthetic import SyntheticArena
    from rig.protocol.load import load_default_protocol

    loaded = load_default_protocol()
    video = tmp_path / "rec.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter.fourcc(*"MJPG"), 30.0, (640, 480), True)
    with SyntheticArena(loaded.calibration, fps=30, seed=2, duration_s=8) as source:
        while (frame := source.read()) is not None:
            writer.write(cv2.cvtColor(frame.image, cv2.COLOR_GRAY2BGR))
    writer.release()
    protocol = tmp_path / "p.yaml"
    protocol.write_text(PROTOCOL.replace("duration_s: 120", "duration_s: 8"))
    assert main(["replay", str(video), "--protocol", str(protocol), "--out", str(tmp_path / "o")]) == 0
    session_dir = _session_dir(tmp_path / "o")
    header = json.loads((session_dir / "session.json").read_text())
    assert header["simulated"] is True and header["source"]["kind"] == "video"
    assert header["animal_id"] == "rec"
    rows = _rows(session_dir / "frames.csv")
    assert len(rows) == 8 * 30  # every frame of the file, none dropped at speed max
    assert sum(r["tracked"] == "1" for r in rows) >= 0.95 * len(rows)


def test_demo_arenas_runs_one_session_per_arena_linked_by_a_run_id(tmp_path: Path) -> None:
    """``rig demo --arenas 2``: two chambers under one synthetic camera, one folder each and
    a run file listing them (fails on the old code: no --arenas)."""
    import json

    assert main(["demo", "--arenas", "2", "--out", str(tmp_path), "--duration-s", "12"]) == 0
    (run_file,) = tmp_path.glob("run_*.json")
    run = json.loads(run_file.read_text())
    assert [a["arena"] for a in run["arenas"]] == ["A", "B"]
    for arena in run["arenas"]:
        assert arena["end_reason"] == "completed"
        header = json.loads((Path(arena["session_dir"]) / "session.json").read_text())
        assert header["source"]["run_id"] == run["run_id"]


def test_run_takes_the_side_from_the_cohort_file_and_records_its_sha256(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Day 1 and day 2 of an animal get the cohort file's side (the old `alternate` rule
    swapped it because it counted earlier sessions); a schema-1 protocol's conversion is
    recorded."""
    import hashlib

    protocol = tmp_path / "p.yaml"
    protocol.write_text(PROTOCOL.replace("duration_s: 120", "duration_s: 3").replace(
        "tracking:", "decision: {debounce_frames: 2}\ntracking:"))
    cohort = tmp_path / "cohort.csv"
    cohort.write_text("animal_id,group,stim_side\nm7,ChR2,right\nm8,eYFP,\n")
    sides = []
    for day in (1, 2):
        out = tmp_path / f"day{day}"
        assert main(["run", str(protocol), "--animal", "m7", "--source", "synthetic", "--board", "mock",
                     "--speed", "max", "--cohort", str(cohort), "--out", str(out)]) == 0
        header = json.loads((_session_dir(out) / "session.json").read_text())
        sides.append(header["stimulated_side"])
        assert header["side_rule"] == "cohort"
        assert header["cohort"]["sha256"] == hashlib.sha256(cohort.read_bytes()).hexdigest()
        assert header["cohort"]["group"] == "ChR2"
        assert any("debounce_frames 2 -> debounce_s" in n for n in header["protocol_conversion"])
    assert sides == ["right", "right"]
    capsys.readouterr()
    out = tmp_path / "never"
    assert main(["run", str(protocol), "--animal", "m8", "--source", "synthetic", "--board", "mock",
                 "--cohort", str(cohort), "--out", str(out)]) == 2
    assert "stim_side: empty" in capsys.readouterr().err and not out.exists()
