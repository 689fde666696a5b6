"""build_report: folder handling, HTML content, extra metrics with known answers."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from rig.analysis.fake import protocol_yaml, simulate_rtpp_session, write_fake_session
from rig.analysis.records import read_events, read_frames
from rig.analysis.report import build_report, gate_windows, report_metrics
from rig.analysis.summary import compute_summary_from
from rig.errors import ConfigError


@pytest.fixture(scope="module")
def sim_session(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from rig.analysis.fake import SimulatedPhase

    return simulate_rtpp_session(
        tmp_path_factory.mktemp("r") / "sim", animal_id="m007", rng=np.random.default_rng(5),
        avoidance=0.6,
        phases=(SimulatedPhase("baseline", 60.0, "off"), SimulatedPhase("test", 120.0, "closed_loop")),
    )


def test_report_folder_contents_and_never_overwrites(sim_session: Path) -> None:
    first = build_report(sim_session)
    assert first == sim_session / "report" / "report.html"
    names = {p.name for p in first.parent.iterdir()}
    for fig in ("trajectory", "occupancy", "stim_time_bins", "laser_raster", "latency", "phases"):
        assert f"{fig}.png" in names and f"{fig}.pdf" in names
    assert {"phases.csv", "stim_time_bins.csv"} <= names
    html = first.read_text()
    images = re.findall(r"src='data:image/png;base64,([A-Za-z0-9+/=]+)'", html)
    assert len(images) >= 7
    assert base64.b64decode(images[0])[:8] == b"\x89PNG\r\n\x1a\n"
    assert "src='http" not in html and "<script" not in html  # self-contained
    assert "laser-follow audit" in html and "Audit passed" in html and "Difference score" in html
    assert "pulses delivered (board echo)" in html
    second = build_report(sim_session)
    assert second == sim_session / "report-2" / "report.html"
    assert first.read_text() == html
    assert json.loads((sim_session / "summary.json").read_text())["animal_id"] == "m007"


def test_report_out_option(sim_session: Path, tmp_path: Path) -> None:
    out = build_report(sim_session, tmp_path / "elsewhere")
    assert out.parent == tmp_path / "elsewhere"
    assert build_report(sim_session, tmp_path / "elsewhere").parent == tmp_path / "elsewhere-2"


def test_bias_flag_threshold(sim_session: Path, tmp_path: Path) -> None:
    bias = json.loads((sim_session / "summary.json").read_text()) if (sim_session / "summary.json").exists() else None
    html_low = build_report(sim_session, tmp_path / "a", bias_threshold=0.51).read_text()
    summary = json.loads((sim_session / "summary.json").read_text())
    pct = summary["baseline_side_bias_pct"]
    assert pct is not None and pct > 51
    assert "Consider excluding this animal" in html_low
    html_high = build_report(sim_session, tmp_path / "b", bias_threshold=1.0).read_text()
    assert "not flagged" in html_high
    del bias


def test_bad_threshold_changes_nothing(sim_session: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="--bias-threshold"):
        build_report(sim_session, tmp_path / "x", bias_threshold=65)
    assert not (tmp_path / "x").exists()


def _frames_and_events(tmp_path: Path) -> tuple[Path, list[dict[str, Any]]]:
    # 10 fps; closed loop, stim left; debounce 1 so gates follow zones directly
    xs = [45, 45, 5, 5, 5, 5, 45, 45, 45, 5, 5, 45]
    laser = [0, 0, 1, 1, 1, 1, 0, 0, 0, 1, 1, 0]
    frames = [
        {"t_s": round(0.1 * i, 3), "x_cm": float(x), "phase": "test", "mode": "closed_loop", "laser_on": bool(on)}
        for i, (x, on) in enumerate(zip(xs, laser, strict=True))
    ]
    events = [
        {"t_s": 0.25, "kind": "board_gate_opened", "detail": {"pin_level": 1}},
        {"t_s": 0.65, "kind": "board_gate_closed", "detail": {"pulses": 8}},
        {"t_s": 0.93, "kind": "board_gate_opened", "detail": {"pin_level": 1}},
        {"t_s": 1.15, "kind": "board_gate_closed", "detail": {"pulses": 4}},
    ]
    proto = protocol_yaml([{"name": "test", "duration_s": 1.2, "mode": "closed_loop"}], debounce_frames=1)
    return write_fake_session(tmp_path / "s", frames, events, protocol_text=proto), frames


def test_extra_metrics_known_answers(tmp_path: Path) -> None:
    d, _ = _frames_and_events(tmp_path)
    frames, events = read_frames(d / "frames.csv"), read_events(d / "events.csv")
    from rig.analysis.records import read_protocol_dict

    protocol = read_protocol_dict(d)
    summary = compute_summary_from(frames, events, {}, protocol)
    extra = report_metrics(frames, events, summary, protocol)
    gates = extra["gates"]
    assert gates.source == "board echo"
    assert gates.windows == [(0.25, 0.65), (0.93, 1.15)]
    phase = extra["phases"][0]
    assert phase["pulses_delivered"] == 12
    assert phase["pulses_expected"] == 8 + 5  # ceil(0.4*20)=8, ceil(0.22*20)=5
    # entries: stim at 0.2 and 0.9 (gate opens 50 ms and 30 ms later); nonstim at 0.6 and 1.1
    assert extra["entry_delay_ms"] == pytest.approx([50.0, 50.0, 30.0, 50.0])
    # visits: starts in nonstim (1) + 2 nonstim entries; 2 stim entries
    assert phase["visits"] == {"stim": 2, "nonstim": 3}
    assert phase["mean_visit_s"]["stim"] == pytest.approx(0.6 / 2)
    assert phase["mean_visit_s"]["nonstim"] == pytest.approx(0.6 / 3)
    # light (echo windows at frame midpoints) vs the rule: frame at 0.2 (mid 0.25 -> on) ok...
    ft = extra["follow_time"]
    # the change frame of each of the 5 zone changes (debounce 1) is not checked
    assert ft["checked_s"] == pytest.approx(0.7)
    assert ft["match_fraction"] == pytest.approx(1.0)


def test_gate_windows_fall_back_to_commands_then_frames(tmp_path: Path) -> None:
    frames = [
        {"t_s": 0.1 * i, "x_cm": 5.0, "phase": "p", "mode": "closed_loop", "laser_on": 2 <= i < 5}
        for i in range(8)
    ]
    d = write_fake_session(tmp_path / "a", frames)
    g = gate_windows(read_frames(d / "frames.csv"), read_events(d / "events.csv"))
    assert g.source == "commanded (frames.csv)"
    assert g.windows == [pytest.approx((0.2, 0.5))]
    events = [{"t_s": 0.2, "kind": "laser_on"}, {"t_s": 0.5, "kind": "laser_off"}]
    d2 = write_fake_session(tmp_path / "b", frames, events)
    g2 = gate_windows(read_frames(d2 / "frames.csv"), read_events(d2 / "events.csv"))
    assert g2.source == "commanded (events.csv)" and g2.windows == [(0.2, 0.5)]


def test_crashed_session_reports(tmp_path: Path) -> None:
    d, frames = _frames_and_events(tmp_path)
    with open(d / "frames.csv", "a") as handle:
        handle.write("12,1.2,5")
    header = json.loads((d / "session.json").read_text())
    header["end_reason"] = None
    (d / "session.json").write_text(json.dumps(header))
    html = build_report(d).read_text()
    assert "Incomplete session" in html
    assert json.loads((d / "summary.json").read_text())["complete"] is False
