"""Bad protocol files: each error names the file, line, field and reason, through the CLI."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from rig.cli import main
from rig.errors import ProtocolError
from rig.protocol.load import load_protocol, parse_protocol

BASE = """\
schema_version: 1
metadata:
  name: t
arena:
  calibration: synthetic_arena.yaml
phases:
  - name: baseline
    duration_s: 10
    mode: "off"
  - name: test
    duration_s: 30
    mode: closed_loop
stimulation:
  frequency_hz: 20
  pulse_width_ms: 15
"""

POWER_CAL = """\
schema_version: 1
kind: laser_power
laser: test laser
wavelength_nm: 473
meter: test meter
measured_on: 2026-01-15
points:
  - {setting: "knob 50%", power_mw: 10}
  - {setting: "knob 100%", power_mw: 20}
"""


def edit(old: str, new: str) -> str:
    assert old in BASE, old
    return BASE.replace(old, new, 1)


@dataclass(frozen=True)
class Case:
    id: str
    text: str
    field: str  # expected field path ("" for whole-file problems)
    line: int | None  # expected line (None: no line)
    reason: str  # a fragment of the reason


CASES = [
    Case("empty_file", "", "", None, "empty"),
    Case("comments_only", "# nothing here\n", "", None, "empty"),
    Case("invalid_yaml", "schema_version: 1\nmetadata:\n  name: [t\n  x: 1\n", "", 4, "invalid YAML"),
    Case("not_a_mapping", "- a\n- b\n", "", 1, "expected `key: value` lines"),
    Case(
        "unknown_key",
        edit("    duration_s: 30", "    durations_s: 30"),
        "phases[1].durations_s",
        11,
        "unknown field 'durations_s' (did you mean 'duration_s'?)",
    ),
    Case("missing_required", edit("  name: t\n", "  author: me\n"), "metadata.name", 2, "required field is missing"),
    Case(
        "missing_section",
        edit("arena:\n  calibration: synthetic_arena.yaml\n", ""),
        "arena",
        1,
        "required field is missing",
    ),
    Case(
        "wrong_type",
        edit("duration_s: 10", "duration_s: abc"),
        "phases[0].duration_s",
        8,
        "expected a number, got 'abc'",
    ),
    Case(
        "negative_duration",
        edit("duration_s: 10", "duration_s: -5"),
        "phases[0].duration_s",
        8,
        "must be greater than 0, got -5",
    ),
    Case(
        "zero_duration",
        edit("duration_s: 30", "duration_s: 0"),
        "phases[1].duration_s",
        11,
        "must be greater than 0, got 0",
    ),
    Case(
        "pulse_width_over_period",
        edit("pulse_width_ms: 15", "pulse_width_ms: 60"),
        "stimulation.pulse_width_ms",
        15,
        "60 ms pulses do not fit a 20 Hz period (50 ms)",
    ),
    Case(
        "frequency_above_firmware",
        edit("frequency_hz: 20", "frequency_hz: 1000").replace("pulse_width_ms: 15", "pulse_width_ms: 0.5"),
        "stimulation.frequency_hz",
        14,
        "above what the firmware can generate",
    ),
    Case(
        "unknown_calibration",
        edit("synthetic_arena.yaml", "no_such_arena.yaml"),
        "arena.calibration",
        5,
        "calibration file 'no_such_arena.yaml' not found; looked in:",
    ),
    Case(
        "compartments_overlap",
        edit(
            "  calibration: synthetic_arena.yaml\n",
            "  calibration: synthetic_arena.yaml\n"
            "  compartments:\n"
            "    left: {x_min_cm: 0, x_max_cm: 30, y_min_cm: 0, y_max_cm: 25}\n"
            "    right: {x_min_cm: 20, x_max_cm: 50, y_min_cm: 0, y_max_cm: 25}\n",
        ),
        "arena.compartments",
        6,
        "overlap",
    ),
    Case(
        "compartment_outside_arena",
        edit(
            "  calibration: synthetic_arena.yaml\n",
            "  calibration: synthetic_arena.yaml\n"
            "  compartments:\n"
            "    left:\n"
            "      x_min_cm: 0\n"
            "      x_max_cm: 23\n"
            "      y_min_cm: 0\n"
            "      y_max_cm: 25\n"
            "    right:\n"
            "      x_min_cm: 27\n"
            "      x_max_cm: 60\n"
            "      y_min_cm: 0\n"
            "      y_max_cm: 25\n",
        ),
        "arena.compartments.right.x_max_cm",
        14,
        "60 cm is outside the arena (0 to 50 cm)",
    ),
    Case(
        "unsupported_schema_version",
        edit("schema_version: 1", "schema_version: 7"),
        "schema_version",
        1,
        "unsupported schema_version 7; this version of optorig reads schema_version 2",
    ),
    Case(
        "duty_cycle_over_max",
        edit("pulse_width_ms: 15", "pulse_width_ms: 40"),
        "stimulation",
        13,
        "duty cycle 80% exceeds safety.max_duty_cycle 50%",
    ),
    Case(
        "target_power_above_calibration",
        BASE + "  target_power_mw: 25\n  power_calibration: power.yaml\n",
        "stimulation.target_power_mw",
        16,
        "25 mW is above the most this laser delivered",
    ),
    Case(
        "duplicate_phase_names",
        edit("  - name: test", "  - name: baseline"),
        "phases",
        6,
        "phase names must be unique, repeated: baseline",
    ),
    Case(
        "schedule_in_closed_loop",
        edit(
            "    mode: closed_loop\n",
            "    mode: closed_loop\n    schedule: {on_s: 10, off_s: 10}\n",
        ),
        "phases[1].schedule",
        13,
        "a schedule is only used in open_loop phases",
    ),
    Case(
        "wrong_choice",
        edit("mode: closed_loop", "mode: closedloop"),
        "phases[1].mode",
        12,
        "did you mean 'closed_loop'?",
    ),
    Case(
        "duplicate_key",
        edit("  frequency_hz: 20\n", "  frequency_hz: 20\n  frequency_hz: 10\n"),
        "stimulation.frequency_hz",
        15,
        "appears twice (also on line 14)",
    ),
    Case(
        "bad_name",
        edit("  name: t\n", "  name: my protocol\n"),
        "metadata.name",
        3,
        "letters, digits",
    ),
    Case(
        "phases_not_a_list",
        edit(
            "  - name: baseline\n    duration_s: 10\n    mode: \"off\"\n"
            "  - name: test\n    duration_s: 30\n    mode: closed_loop\n",
            "  name: baseline\n",
        ),
        "phases",
        6,
        "expected a list",
    ),
    Case(
        "infinite_duration",
        edit("duration_s: 30", "duration_s: .inf"),
        "phases[1].duration_s",
        11,
        "must be a finite number, got inf",
    ),
    Case(
        "phase_not_a_mapping",
        edit('  - name: test\n    duration_s: 30\n    mode: closed_loop\n', "  - test\n"),
        "phases[1]",
        10,
        "expected a group of `key: value` lines, got 'test'",
    ),
    Case(
        "quoted_schema_version",
        edit("schema_version: 1", 'schema_version: "2"'),
        "schema_version",
        1,
        "must be the number 2, without quotes",
    ),
    Case(
        "threshold_union",
        BASE + "tracking:\n  threshold: bright\n",
        "tracking.threshold",
        17,
        "expected 'auto' or a whole number, got 'bright'",
    ),
]


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "protocols").mkdir()
    (tmp_path / "calibration").mkdir()
    (tmp_path / "calibration" / "power.yaml").write_text(POWER_CAL)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def expected_prefix(case: Case, label: str) -> str:
    where = f"{label}:{case.line}" if case.line is not None else label
    return f"{where} {case.field}: " if case.field else f"{where}: "


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_protocol_through_cli(
    case: Case, workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    label = "protocols/bad.yaml"
    Path(label).write_text(case.text)
    code = main(["validate", label])
    out, err = capsys.readouterr()
    assert code == 2
    assert out == ""
    assert "Traceback" not in err
    prefix = expected_prefix(case, label)
    matching = [line for line in err.splitlines() if line.startswith(f"error: {prefix}")]
    assert matching, f"no line starting with {prefix!r} in:\n{err}"
    assert any(case.reason in line for line in matching), err


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_protocol_raises_protocol_error(case: Case, workdir: Path) -> None:
    path = workdir / "protocols" / "bad.yaml"
    path.write_text(case.text)
    with pytest.raises(ProtocolError) as info:
        load_protocol(path)
    assert case.reason in str(info.value)


def test_missing_file_names_it_and_suggests(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    Path("protocols/rtpp.yaml").write_text(BASE)
    code = main(["validate", "protocols/rtpp.yml"])
    _, err = capsys.readouterr()
    assert code == 2
    assert "error: protocols/rtpp.yml: protocol file not found" in err
    assert "did you mean protocols/rtpp.yaml?" in err
    assert "Traceback" not in err


def test_several_errors_are_all_reported(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = edit("duration_s: 10", "duration_s: -1").replace("duration_s: 30", "duration_s: x")
    text = text.replace("  name: t\n", "  name: t\n  colour: red\n")
    Path("protocols/many.yaml").write_text(text)
    assert main(["validate", "protocols/many.yaml"]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert "error: protocols/many.yaml:4 metadata.colour: unknown field 'colour' (valid fields here: author, description, name, version)" in lines
    assert any(line.startswith("error: protocols/many.yaml:9 phases[0].duration_s:") for line in lines)
    assert any(line.startswith("error: protocols/many.yaml:12 phases[1].duration_s:") for line in lines)


def test_off_is_text_not_a_boolean(workdir: Path) -> None:
    """YAML 1.1 reads a bare `off` as false; protocol files read it as the mode name."""
    path = workdir / "protocols" / "p.yaml"
    path.write_text(BASE.replace('mode: "off"', "mode: off"))
    assert parse_protocol(path).phases[0].mode == "off"


def test_valid_and_invalid_files_together_exit_2(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    Path("protocols/good.yaml").write_text(BASE)
    Path("protocols/bad.yaml").write_text(edit("duration_s: 10", "duration_s: -5"))
    assert main(["validate", "protocols/good.yaml", "protocols/bad.yaml"]) == 2
    out, err = capsys.readouterr()
    assert out.startswith("OK protocols/good.yaml: t v1, 2 phases, 40 s, pulse_train 20 Hz 15 ms")
    assert "1 of 2 files are invalid" in err
