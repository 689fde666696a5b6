"""One table of exit codes: in rig/exitcodes.py, `rig --help` and docs/engine.md."""

from __future__ import annotations

from pathlib import Path

import pytest

from rig.cli import main
from rig.exitcodes import EXIT_CODES, exit_code_for, exit_codes_markdown
from rig.session.status import EndReason

DOCS = Path(__file__).resolve().parents[2] / "docs" / "engine.md"


def test_every_end_reason_has_its_own_exit_code() -> None:
    """source_ended used to exit 0 like a completed session."""
    for reason in EndReason:
        code = exit_code_for(reason.value)
        assert code in {e.code for e in EXIT_CODES}
        if reason is not EndReason.ERROR:
            assert code != 1, reason
    assert exit_code_for("completed") == 0 and exit_code_for("source_ended") != 0
    assert exit_code_for("recorder_fault") == 5


def test_help_shows_the_table(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for entry in EXIT_CODES:
        assert f"  {entry.code:<4} {entry.meaning}" in " ".join(out.split("\n")) or entry.meaning[:30] in out


def test_docs_carry_the_same_table() -> None:
    assert exit_codes_markdown() in DOCS.read_text(encoding="utf-8"), (
        "docs/engine.md: paste rig.exitcodes.exit_codes_markdown() into the Exit codes section"
    )


def test_source_ended_exits_7_and_says_incomplete(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`rig replay` of a video shorter than the protocol exited 0 and said nothing."""
    import cv2

    from rig.devices.synthetic import SyntheticArena
    from rig.protocol.load import load_default_protocol

    loaded = load_default_protocol()
    video = tmp_path / "short.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter.fourcc(*"MJPG"), 30.0, (640, 480), True)
    with SyntheticArena(loaded.calibration, fps=30, seed=2, duration_s=4) as source:
        while (frame := source.read()) is not None:
            writer.write(cv2.cvtColor(frame.image, cv2.COLOR_GRAY2BGR))
    writer.release()
    protocol = tmp_path / "p.yaml"
    protocol.write_text(
        "schema_version: 1\nmetadata: {name: short}\narena:\n  calibration: synthetic_arena.yaml\n"
        "  stimulated: {rule: fixed, side: left}\nphases:\n"
        "  - {name: baseline, duration_s: 2, mode: off}\n  - {name: test, duration_s: 2, mode: closed_loop}\n"
        "  - {name: post, duration_s: 2, mode: off}\n"
        "tracking:\n  background: {source: median, duration_s: 1, n_frames: 10}\n"
    )
    code = main(["replay", str(video), "--protocol", str(protocol), "--out", str(tmp_path / "o")])
    assert code == 7
    captured = capsys.readouterr()
    assert "INCOMPLETE" in captured.out and "post: ran 0.0 of 2.0 s" in captured.out
    assert "INCOMPLETE" in captured.err

    # --start-s/--end-s: the part of the video from 1 s to 3 s, against a 2 s protocol
    protocol.write_text(protocol.read_text().replace("duration_s: 2, mode: off}\n  - {name: test, duration_s: 2, mode: closed_loop}\n  - {name: post, duration_s: 2, mode: off}", "duration_s: 2, mode: off}"))
    out = tmp_path / "w"
    assert main(["replay", str(video), "--protocol", str(protocol), "--out", str(out), "--start-s", "1", "--end-s", "3"]) == 0
    import csv
    import json

    session = next(out.glob("sessions/*"))
    rows = list(csv.DictReader((session / "frames.csv").read_text().splitlines()))
    # A replay keeps the video's frame numbers (no pre-roll read from the source).
    assert len(rows) == 60 and rows[0]["frame"] == "30" and rows[-1]["frame"] == "89"
    assert json.loads((session / "session.json").read_text())["preroll_frames"] == 0
    header = json.loads((session / "session.json").read_text())
    assert header["source"]["start_s"] == 1.0 and header["source"]["end_s"] == 3.0
    assert main(["replay", str(video), "--protocol", str(protocol), "--out", str(out), "--start-s", "9"]) == 2
    assert main(["replay", str(video), "--protocol", str(protocol), "--out", str(out), "--start-s", "2", "--end-s", "1"]) == 2
