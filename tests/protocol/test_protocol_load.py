"""Loading valid protocols: exact bytes, calibration lookup, the embedded default, examples."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from rig.errors import CalibrationError, ProtocolError
from rig.protocol.load import (
    calibration_search_paths,
    default_protocol_path,
    load_default_protocol,
    load_protocol,
    parse_protocol,
)

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((REPO / "protocols").glob("*.yaml"))

PROTOCOL = """\
schema_version: 1
metadata: {name: p}
arena: {calibration: CAL}
phases:
  - {name: test, duration_s: 30, mode: closed_loop}
"""

OTHER_ARENA = (REPO / "calibration" / "synthetic_arena.yaml").read_text().replace(
    "name: synthetic-arena", "name: other-arena"
)


def write_protocol(path: Path, calibration: str = "arena.yaml") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(PROTOCOL.replace("CAL", calibration))
    return path


def test_loaded_protocol_keeps_exact_bytes_and_hash(tmp_path: Path) -> None:
    path = write_protocol(tmp_path / "p.yaml", "synthetic_arena.yaml")
    loaded = load_protocol(path)
    assert loaded.raw == path.read_bytes()
    assert loaded.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert loaded.path == path
    assert loaded.protocol.metadata.name == "p"
    assert loaded.calibration.name == "synthetic-arena"
    assert loaded.calibration_raw == loaded.calibration_path.read_bytes()
    assert loaded.power_calibration is None and loaded.power_calibration_path is None


def test_calibration_beside_the_protocol_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    proto = write_protocol(tmp_path / "study" / "protocols" / "p.yaml")
    (tmp_path / "study" / "calibration").mkdir()
    (tmp_path / "study" / "calibration" / "arena.yaml").write_text(OTHER_ARENA)
    assert load_protocol(proto).calibration_path == tmp_path / "study" / "calibration" / "arena.yaml"
    (tmp_path / "study" / "protocols" / "arena.yaml").write_text(OTHER_ARENA)
    assert load_protocol(proto).calibration_path == tmp_path / "study" / "protocols" / "arena.yaml"


def test_calibration_in_current_folder_then_bundled(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    proto = write_protocol(tmp_path / "a" / "b" / "p.yaml")
    (tmp_path / "calibration").mkdir()
    (tmp_path / "calibration" / "arena.yaml").write_text(OTHER_ARENA)
    assert load_protocol(proto).calibration.name == "other-arena"
    places = calibration_search_paths("arena.yaml", proto)
    assert places[0] == tmp_path / "a" / "b" / "arena.yaml"
    assert places[1] == tmp_path / "a" / "calibration" / "arena.yaml"
    assert places[2] == Path("calibration") / "arena.yaml"
    bundled = write_protocol(tmp_path / "a" / "b" / "q.yaml", "synthetic_arena.yaml")
    assert load_protocol(bundled).calibration.name == "synthetic-arena"


def test_absolute_calibration_path(tmp_path: Path) -> None:
    cal = tmp_path / "cals" / "mine.yaml"
    cal.parent.mkdir()
    cal.write_text(OTHER_ARENA)
    proto = write_protocol(tmp_path / "p.yaml", str(cal))
    assert load_protocol(proto).calibration_path == cal


def test_invalid_named_calibration_reports_the_calibration_file(tmp_path: Path) -> None:
    (tmp_path / "arena.yaml").write_text(OTHER_ARENA.replace("width_cm: 50", "width_cm: -50"))
    proto = write_protocol(tmp_path / "p.yaml")
    with pytest.raises(CalibrationError, match=r"arena\.yaml:\d+ width_cm: must be greater than 0"):
        load_protocol(proto)


def test_power_calibration_is_loaded(tmp_path: Path) -> None:
    loaded = load_protocol(REPO / "protocols" / "rtpp_redondo2014.yaml")
    assert loaded.power_calibration is not None
    assert loaded.power_calibration.max_power_mw == pytest.approx(24.9)
    assert loaded.power_calibration_raw == (REPO / "calibration" / "laser_473nm_example.yaml").read_bytes()


def test_wavelength_must_match_power_calibration(tmp_path: Path) -> None:
    (tmp_path / "power.yaml").write_text(
        (REPO / "calibration" / "laser_473nm_example.yaml").read_text()
    )
    proto = tmp_path / "p.yaml"
    proto.write_text(
        PROTOCOL.replace("CAL", "synthetic_arena.yaml")
        + "stimulation:\n  wavelength_nm: 532\n  power_calibration: power.yaml\n"
    )
    with pytest.raises(ProtocolError, match=r"p\.yaml:7 stimulation\.wavelength_nm: 532 nm, but"):
        load_protocol(proto)


def test_default_protocol_loads_from_any_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    loaded = load_default_protocol()
    p = loaded.protocol
    assert p.metadata.name == "demo-rtpp"
    assert [(ph.name, ph.duration_s, ph.mode) for ph in p.phases] == [
        ("baseline", 30, "off"),
        ("test", 60, "closed_loop"),
        ("post-test", 30, "off"),
    ]
    assert p.duration_s == 120
    assert (p.stimulation.frequency_hz, p.stimulation.pulse_width_ms) == (20, 15)
    assert p.arena.stimulated.rule == "fixed" and p.arena.stimulated.side == "left"
    assert loaded.calibration.name == "synthetic-arena"
    assert loaded.path == default_protocol_path()


def test_bundled_synthetic_arena_is_identical_to_repository_copy() -> None:
    repo_copy = REPO / "calibration" / "synthetic_arena.yaml"
    package_copy = REPO / "rig" / "data" / "synthetic_arena.yaml"
    assert repo_copy.read_bytes() == package_copy.read_bytes()


def test_synthetic_arena_numbers() -> None:
    cal = load_default_protocol().calibration
    assert (cal.camera.width_px, cal.camera.height_px) == (640, 480)
    assert (cal.width_cm, cal.length_cm) == (50, 25)
    assert [tuple(c) for c in cal.corners_px] == [(20, 90), (620, 90), (620, 390), (20, 390)]
    assert cal.px_per_cm == pytest.approx(12.0)


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_every_example_parses(path: Path) -> None:
    loaded = load_protocol(path)
    assert loaded.protocol.schema_version == 2 and loaded.file_schema_version == 2
    assert parse_protocol(path).phases


def test_examples_cover_the_documented_designs() -> None:
    names = {p.name for p in EXAMPLES}
    assert {
        "rtpp_redondo2014.yaml",
        "reconditioning_redondo2014.yaml",
        "inhibition_rtpp_continuous.yaml",
        "counterbalanced_reversal.yaml",
    } <= names
    recond = parse_protocol(REPO / "protocols" / "reconditioning_redondo2014.yaml")
    schedule = recond.phases[0].schedule
    assert schedule is not None and (schedule.on_s, schedule.off_s) == (180, 180)
    assert recond.duration_s == 720
    reversal = parse_protocol(REPO / "protocols" / "counterbalanced_reversal.yaml")
    assert reversal.arena.stimulated.rule == "animal_id"
    assert [p.swap_sides for p in reversal.phases] == [False, False, True, False]
    inhibition = parse_protocol(REPO / "protocols" / "inhibition_rtpp_continuous.yaml")
    assert inhibition.stimulation.mode == "continuous" and inhibition.safety.max_duty_cycle == 1.0
