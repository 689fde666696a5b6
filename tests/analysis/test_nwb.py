"""NWB export: validates with pynwb, round-trips positions and laser windows, never overwrites."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from rig.analysis.fake import SimulatedPhase, protocol_yaml, simulate_rtpp_session, write_fake_session
from rig.analysis.nwb import export_nwb
from rig.analysis.records import RecordError, read_events, read_frames
from rig.errors import ConfigError

pynwb = pytest.importorskip("pynwb")


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return simulate_rtpp_session(
        tmp_path_factory.mktemp("nwb") / "2026-01-15_10-00-00_m042_rtpp", animal_id="m042",
        rng=np.random.default_rng(2), avoidance=0.5, fps=10.0,
        phases=(SimulatedPhase("baseline", 20.0, "off"), SimulatedPhase("test", 40.0, "closed_loop")),
    )


def test_export_validates_and_round_trips(session: Path, tmp_path: Path) -> None:
    out = export_nwb(session, tmp_path / "m042.nwb")
    assert out == tmp_path / "m042.nwb"
    assert list(pynwb.validate(path=str(out))) == []
    frames = read_frames(session / "frames.csv")
    events = read_events(session / "events.csv")
    opened = [e.t_s for e in events.of_kind("board_gate_opened")]
    closed = [(e.t_s, e.detail["pulses"]) for e in events.of_kind("board_gate_closed")]
    with pynwb.NWBHDF5IO(str(out), "r") as io:
        nwb = io.read()
        assert nwb.subject.subject_id == "m042"
        assert nwb.session_start_time.utcoffset() is not None
        assert "schema_version: 1" in nwb.protocol
        series = nwb.processing["behavior"]["Position"]["position"]
        assert series.unit == "cm" and "px_per_cm=10.0000" in series.reference_frame
        np.testing.assert_allclose(series.timestamps[:], frames.t_s)
        np.testing.assert_allclose(series.data[:, 0], frames.x_cm, equal_nan=True)
        np.testing.assert_allclose(series.data[:, 1], frames.y_cm, equal_nan=True)
        gate = nwb.intervals["laser_gate"].to_dataframe()
        np.testing.assert_allclose(gate["start_time"], opened)
        np.testing.assert_allclose(gate["stop_time"], [t for t, _ in closed])
        assert list(gate["pulses"]) == [p for _, p in closed]
        power = nwb.stimulus["laser_power"]
        assert power.site.excitation_lambda == 473.0
        assert set(np.unique(power.data[:])) <= {0.0, 0.01}
        occupancy = nwb.intervals["compartment_occupancy"].to_dataframe()
        assert set(occupancy["zone"]) <= {"left", "right", "neutral", "lost"}
        assert occupancy["start_time"].iloc[0] == 0.0
        # stimulation epochs through ndx-optogenetics, from the board's echo
        ogen = nwb.intervals["optogenetic_epochs"].to_dataframe()
        assert len(ogen) == len(closed)
        assert list(ogen["number_pulses_per_pulse_train"]) == [p for _, p in closed]
        assert set(ogen["pulse_length_in_ms"]) == {15.0} and set(ogen["period_in_ms"]) == {50.0}
        assert set(ogen["wavelength_in_nm"]) == {473.0}
        np.testing.assert_allclose(ogen["start_time"], opened, atol=0.01)
        epochs = nwb.epochs.to_dataframe()
        assert [tags[0] for tags in epochs["tags"]] == ["baseline", "test"]


def test_export_never_overwrites(session: Path, tmp_path: Path) -> None:
    target = tmp_path / "x.nwb"
    target.write_bytes(b"precious")
    with pytest.raises(ConfigError, match="already exists"):
        export_nwb(session, target)
    assert target.read_bytes() == b"precious"
    assert [p.name for p in tmp_path.iterdir()] == ["x.nwb"]


def test_default_path_and_unknown_power(tmp_path: Path) -> None:
    frames = [{"t_s": 0.1 * i, "x_cm": 5.0, "phase": "p", "mode": "closed_loop", "laser_on": i > 2}
              for i in range(10)]
    proto = protocol_yaml([{"name": "p", "duration_s": 1.0, "mode": "closed_loop"}], target_power_mw=None)
    d = write_fake_session(tmp_path / "sess", frames, protocol_text=proto)
    out = export_nwb(d)
    assert out == d / "sess.nwb"
    assert list(pynwb.validate(path=str(out))) == []
    with pynwb.NWBHDF5IO(str(out), "r") as io:
        nwb = io.read()
        power = nwb.stimulus["laser_power"]
        assert np.isnan(power.data[0]) and power.data[1] == 0.0
        assert "power unknown" in power.description
        gate = nwb.intervals["laser_gate"].to_dataframe()
        assert list(gate["source"]) == ["commanded (frames.csv)"]


def test_start_time_without_offset_rejected(tmp_path: Path) -> None:
    d = write_fake_session(tmp_path / "s", [{"t_s": 0.0, "x_cm": 5.0, "phase": "p"}],
                           started_at="2026-01-15T10:00:00")
    with pytest.raises(RecordError, match="started_at: no UTC offset"):
        export_nwb(d)
    assert not any(p.suffix == ".nwb" for p in d.iterdir())
    header = json.loads((d / "session.json").read_text())
    assert header["started_at"] == "2026-01-15T10:00:00"


def test_rig_export_nwb_cli(session: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from rig.cli import main

    assert main(["export-nwb", str(session), "--out", str(tmp_path / "c.nwb")]) == 0
    assert "NWB file written" in capsys.readouterr().out
    assert main(["export-nwb", str(session), "--out", str(tmp_path / "c.nwb")]) == 2
