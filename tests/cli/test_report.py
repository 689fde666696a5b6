"""The report / group / export-nwb commands through rig.cli.main."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rig.analysis.fake import SimulatedPhase, simulate_rtpp_session, write_fake_session
from rig.cli import main

SHORT = (SimulatedPhase("baseline", 20.0, "off"), SimulatedPhase("test", 40.0, "closed_loop"))


def test_rig_report_prints_table_and_paths(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d = simulate_rtpp_session(tmp_path / "s", animal_id="m1", rng=np.random.default_rng(0),
                              avoidance=0.5, phases=SHORT)
    assert main(["report", str(d)]) == 0
    out = capsys.readouterr().out
    assert "baseline" in out and "laser follow" in out
    assert str(d / "report" / "report.html") in out


def test_rig_report_bad_folder_is_one_line_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "not a session folder" in err and err.count("\n") == 1


def test_rig_report_corrupt_frames_names_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d = write_fake_session(tmp_path / "s", [{"t_s": 0.0, "x_cm": 5.0, "phase": "p"},
                                            {"t_s": 0.1, "x_cm": 5.0, "phase": "p"}])
    text = (d / "frames.csv").read_text().splitlines(keepends=True)
    # Named zones (left, centre, inner ...) are valid; a value no zone can be called is not.
    text[1] = text[1].replace(",left,", ",Kitchen 2,")
    (d / "frames.csv").write_text("".join(text))
    assert main(["report", str(d)]) == 2
    err = capsys.readouterr().err
    assert "frames.csv: line 2: column zone" in err and "'Kitchen 2'" in err
    assert not (d / "report").exists() and not (d / "summary.json").exists()
