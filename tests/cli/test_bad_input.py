"""Bad input fails fast with exit 2 naming file, field and reason, and changes nothing
(issue 12). Each case names what the old code did."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import tty
from collections.abc import Iterator
from pathlib import Path

import pytest

from rig.cli import main
from rig.session.status import EndReason

PROTOCOL = """\
schema_version: 1
metadata: {name: bad-input}
arena:
  calibration: synthetic_arena.yaml
  stimulated: {rule: fixed, side: left}
phases:
  - {name: light, duration_s: 5, mode: open_loop}
tracking:
  background: {source: first_frames, duration_s: 0.5, n_frames: 5}
"""


def _protocol(tmp_path: Path, text: str = PROTOCOL, name: str = "p.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _run(tmp_path: Path, *extra: str, protocol: Path | None = None, out: str | None = None) -> list[str]:
    return [
        "run", str(protocol or _protocol(tmp_path)), "--animal", "m1", "--board", "mock",
        "--out", str(tmp_path / "out") if out is None else out, *extra,
    ]


def test_yaml_alias_bomb_is_refused_quickly(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A 9-level alias bomb kept `rig validate` busy for more than 5 min."""
    lines = ['a0: &a0 ["x","x","x","x","x","x","x","x","x"]']
    for level in range(1, 10):
        refs = ",".join([f"*a{level - 1}"] * 9)
        lines.append(f"a{level}: &a{level} [{refs}]")
    path = _protocol(tmp_path, "\n".join(lines) + "\n")
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert str(path) in err and "aliases" in err


def test_oversized_protocol_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A 5 MB protocol took 72 s; now: refused by size before parsing."""
    path = _protocol(tmp_path, PROTOCOL + "#" + "x" * 1_100_000 + "\n")
    assert main(["validate", str(path)]) == 2
    assert "at most 1 MB" in capsys.readouterr().err


@pytest.mark.parametrize("special", ["/dev/zero", "fifo"])
def test_device_or_fifo_is_not_a_protocol(tmp_path: Path, special: str, capsys: pytest.CaptureFixture[str]) -> None:
    """/dev/zero ended in MemoryError with a traceback; a named pipe hung for ever."""
    path = special
    if special == "fifo":
        path = str(tmp_path / "pipe.yaml")
        os.mkfifo(path)
    assert main(["validate", path]) == 2
    assert "not a regular file" in capsys.readouterr().err
    assert main(_run(tmp_path, "--source", "synthetic", protocol=Path(path))) == 2
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("output_dir", ["", ".", "../escape", "/tmp/abs", "sessions/../../x"])
def test_output_dir_outside_out_is_refused_by_validate(tmp_path: Path, output_dir: str, capsys: pytest.CaptureFixture[str]) -> None:
    """`recording.output_dir: ""` or "." put the session outside --out and `rig validate`
    did not check it."""
    path = _protocol(tmp_path, PROTOCOL + f"recording: {{output_dir: {output_dir!r}}}\n")
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert "recording.output_dir" in err
    assert main(_run(tmp_path, "--source", "synthetic", protocol=path)) == 2
    assert not (tmp_path / "out").exists()


def test_phase_shorter_than_a_frame_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A 1 ns phase was accepted."""
    path = _protocol(tmp_path, PROTOCOL.replace("duration_s: 5,", "duration_s: 1.0e-9,"))
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert "phases[0].duration_s" in err and "shorter than one camera frame" in err


@pytest.mark.parametrize("speed", ["1e-300", "0", "-1", "nan", "inf", "1e6", "fast"])
def test_speed_out_of_bounds(tmp_path: Path, speed: str, capsys: pytest.CaptureFixture[str]) -> None:
    """`--speed 1e-300` raised OverflowError."""
    assert main(_run(tmp_path, "--source", "synthetic", "--speed", speed)) == 2
    assert "--speed" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("spec", ["camera:abc", "camera:", "camera:-1", "camera:0x"])
def test_malformed_camera_spec_is_exit_2(tmp_path: Path, spec: str, capsys: pytest.CaptureFixture[str]) -> None:
    """`camera:abc` exited 3 (device lost) instead of 2 (bad input)."""
    assert main(_run(tmp_path, "--source", spec)) == 2
    assert "--source" in capsys.readouterr().err


def test_empty_out_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """`--out ""` wrote into the current folder."""
    monkeypatch.chdir(tmp_path)
    assert main(_run(tmp_path, "--source", "synthetic", out="")) == 2
    assert "--out" in capsys.readouterr().err
    assert not (tmp_path / "sessions").exists()


def test_calibration_name_cannot_escape(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """`rig calibrate arena --name ../../evil` wrote outside calibration/."""
    import cv2
    import numpy as np

    monkeypatch.chdir(tmp_path)
    cv2.imwrite("frame.png", np.zeros((480, 640), np.uint8))
    for name in ("../../evil", "a/b", ".hidden", ""):
        code = main(["calibrate", "arena", "--image", "frame.png", "--corners",
                     "20,90,620,90,620,390,20,390", "--width-cm", "50", "--length-cm", "25", "--name", name])
        assert code == 2, name
        assert "--name" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["frame.png"]


def test_unopenable_video_is_checked_before_the_board(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A video that cannot be decoded exited 1 with "record in None", after opening the
    board (an Arduino resets when its port opens). Now exit 2 before any board: with a
    board port that does not exist, the error is still about the video."""
    video = tmp_path / "broken.avi"
    video.write_bytes(b"RIFF" + os.urandom(4000))
    args = ["run", str(_protocol(tmp_path)), "--animal", "m1", "--board", "firmata:/dev/does-not-exist",
            "--source", f"video:{video}", "--out", str(tmp_path / "out")]
    assert main(args) == 2
    captured = capsys.readouterr()
    assert "broken.avi" in captured.err and "does-not-exist" not in captured.err
    assert "None" not in captured.out + captured.err
    assert not (tmp_path / "out").exists()
    assert main(["replay", str(video), "--protocol", str(_protocol(tmp_path)), "--out", str(tmp_path / "out")]) == 2


@pytest.fixture
def echo_port() -> Iterator[str]:
    """A serial port whose device echoes every byte back (not the firmware)."""
    master, slave = os.openpty()
    tty.setraw(master)
    tty.setraw(slave)
    stop = threading.Event()

    def echo() -> None:
        while not stop.is_set():
            try:
                data = os.read(master, 1024)
                os.write(master, data)
            except OSError:
                return

    thread = threading.Thread(target=echo, daemon=True)
    thread.start()
    yield os.ttyname(slave)
    stop.set()
    os.close(slave)
    os.close(master)


def test_echoing_port_is_a_clear_error_without_tracebacks(tmp_path: Path, echo_port: str) -> None:
    """A port that echoes gave IndexError and pyfirmata2 reader-thread tracebacks. Now one
    line saying it is not the firmware, exit 3, no traceback from any thread, and no
    session folder."""
    protocol = _protocol(tmp_path)
    result = subprocess.run(
        [sys.executable, "-m", "rig", "run", str(protocol), "--animal", "m1", "--source", "synthetic",
         "--board", f"firmata:{echo_port}", "--out", str(tmp_path / "out")],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 3, result.stderr
    assert "Traceback" not in result.stderr and "Exception in thread" not in result.stderr, result.stderr
    assert "not Firmata" in result.stderr or "no Firmata firmware" in result.stderr
    assert "None" not in result.stdout
    assert EndReason.BOARD_LOST.value in result.stdout + result.stderr
