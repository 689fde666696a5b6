"""`rig validate`: summaries for valid files, error lines and exit 2 for invalid ones."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from rig.cli import main

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((REPO / "protocols").glob("*.yaml"))

PROTOCOL = """\
schema_version: 1
metadata: {name: p}
arena: {calibration: synthetic_arena.yaml}
phases:
  - {name: test, duration_s: 30, mode: closed_loop}
"""


def test_validate_all_examples_exits_0(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(REPO)
    paths = [f"protocols/{p.name}" for p in EXAMPLES]
    assert main(["validate", *paths]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    assert (
        "OK protocols/rtpp_redondo2014.yaml: rtpp-redondo2014 v1, 3 phases, 40 min, "
        "pulse_train 20 Hz 15 ms 473 nm 15 mW, stimulated: left (fixed), "
        "calibration synthetic_arena.yaml"
    ) in out.splitlines()
    assert len(out.splitlines()) == len(EXAMPLES)


def test_validate_in_a_subprocess(tmp_path: Path) -> None:
    """The installed entry point: exit codes and plain error lines, no traceback."""
    bad = tmp_path / "bad.yaml"
    bad.write_text(PROTOCOL.replace("30", "-5"))
    cmd = [sys.executable, "-m", "rig", "validate"]
    good = subprocess.run(
        [*cmd, *(str(p) for p in EXAMPLES)], capture_output=True, text=True, check=False
    )
    assert good.returncode == 0, good.stderr
    failed = subprocess.run([*cmd, str(bad)], capture_output=True, text=True, check=False)
    assert failed.returncode == 2
    assert f"{bad}:5 phases[0].duration_s: must be greater than 0, got -5" in failed.stderr
    assert "Traceback" not in failed.stderr


def test_validate_calibration_files(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(REPO)
    code = main(
        ["validate", "calibration/synthetic_arena.yaml", "calibration/laser_473nm_example.yaml"]
    )
    out = capsys.readouterr().out.splitlines()
    assert code == 0
    assert out[0] == (
        "OK calibration/synthetic_arena.yaml: arena calibration synthetic-arena, 640x480 px, "
        "50 x 25 cm, 12.00 px/cm"
    )
    assert out[1].startswith("OK calibration/laser_473nm_example.yaml: laser power calibration")


def test_validate_invalid_calibration_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    text = (REPO / "calibration" / "synthetic_arena.yaml").read_text()
    Path("cal.yaml").write_text(text.replace("length_cm: 25", "length_cm: zero"))
    assert main(["validate", "cal.yaml"]) == 2
    err = capsys.readouterr().err
    assert "error: cal.yaml:20 length_cm: expected a number, got 'zero'" in err
    assert "Traceback" not in err


def test_validate_help_has_description_and_examples(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["validate", "--help"])
    out = capsys.readouterr().out
    assert "examples:" in out and "rig validate protocols/*.yaml" in out


def test_open_loop_period_longer_than_safety_limit_is_noted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("p.yaml").write_text(
        PROTOCOL.replace(
            "  - {name: test, duration_s: 30, mode: closed_loop}\n",
            "  - name: recond\n    duration_s: 720\n    mode: open_loop\n"
            "    schedule: {on_s: 180, off_s: 180}\n",
        )
        + "safety: {max_total_on_s: 300}\n"
    )
    assert main(["validate", "p.yaml"]) == 0  # legal, but probably not what was meant
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("OK p.yaml: p v1, 1 phase, 12 min")
    assert lines[1].startswith(
        "  note: p.yaml:8 phases[0]: light on for 180 s at a time in open-loop phase 'recond'"
    )
    assert lines[2] == (
        "  note: p.yaml:9 safety.max_total_on_s: the open-loop phases alone plan 360 s of light, "
        "more than the 300 s limit"
    )
