"""Summary metrics on hand-built sessions with hand-computed answers."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from rig.analysis.fake import protocol_yaml, simulate_rtpp_session, write_fake_session
from rig.analysis.records import RecordError
from rig.analysis.summary import compute_summary, format_summary_table, write_summary

# (t_s, x_cm or None for lost, y_cm, laser_on, dropped)
BASELINE = [
    (0.0, 5.0, 12.5, 0, 0),
    (0.1, 6.0, 12.5, 0, 0),
    (0.2, 25.0, 12.5, 0, 0),
    (0.4, 45.0, 12.5, 0, 1),  # one frame dropped before this one: row 2 lasts 0.2 s
    (0.5, None, None, 0, 1),
    (0.6, 45.0, 15.5, 0, 1),
    (0.7, 5.0, 12.5, 0, 1),
]
TEST = [
    (0.8, 5.0, 12.5, 1, 1),
    (0.9, 5.0, 12.5, 1, 1),
    (1.0, 5.0, 12.5, 1, 1),
    (1.1, 45.0, 12.5, 1, 1),
    (1.2, 45.0, 12.5, 0, 1),
    (1.3, 45.0, 12.5, 0, 1),
    (1.4, 45.0, 12.5, 1, 1),  # wrong: on in the non-stimulated side
    (1.5, 25.0, 12.5, 1, 1),
    (1.6, 25.0, 12.5, 1, 3),
    (1.7, 25.0, 12.5, 1, 3),
    (1.8, None, None, 1, 3),
    (1.9, None, None, 0, 3),
    (2.0, None, None, 1, 3),  # wrong: on after the grace period
    (2.1, 5.0, 12.5, 1, 3),
    (2.2, 5.0, 12.5, 1, 3),
    (2.3, 5.0, 12.5, 1, 3),
]


def hand_frames() -> list[dict[str, Any]]:
    rows = []
    for phase, mode, table in (("baseline", "off", BASELINE), ("test", "closed_loop", TEST)):
        for t, x, y, laser, dropped in table:
            row: dict[str, Any] = {
                "t_s": t, "phase": phase, "mode": mode, "laser_on": bool(laser),
                "dropped": dropped, "latency_ms": 5.0,
            }
            if x is None:
                row["zone"] = "lost"
            else:
                row.update(x_cm=x, y_cm=y)
            rows.append(row)
    rows[-1]["latency_ms"] = 20.0
    return rows


HAND_EVENTS = [
    {"t_s": 0.0, "kind": "session_start", "detail": {"animal": "m001"}},
    {"t_s": 1.0, "frame": 9, "kind": "board_cap", "detail": {}},
    {"t_s": 2.3, "frame": 22, "kind": "session_end", "detail": {"reason": "completed"}},
]
HAND_PROTOCOL = protocol_yaml(
    [{"name": "baseline", "duration_s": 0.8}, {"name": "test", "duration_s": 1.6, "mode": "closed_loop"}],
    debounce_frames=2,
    grace_frames=1,
)


@pytest.fixture
def hand_session(tmp_path: Path) -> Path:
    return write_fake_session(
        tmp_path / "s", hand_frames(), HAND_EVENTS, protocol_text=HAND_PROTOCOL
    )


def test_hand_session_phase_metrics(hand_session: Path) -> None:
    s = compute_summary(hand_session)
    base, test = s["phases"]
    assert base["phase"] == "baseline" and base["mode"] == "off" and base["stim_side"] == "left"
    assert base["frames"] == 7 and test["frames"] == 16
    assert base["duration_s"] == pytest.approx(0.8)
    assert base["time_s"] == pytest.approx({"stim": 0.3, "nonstim": 0.2, "neutral": 0.2, "lost": 0.1})
    assert base["time_pct"] == pytest.approx({"stim": 37.5, "nonstim": 25.0, "neutral": 25.0, "lost": 12.5})
    assert base["preference_index"] == pytest.approx(0.2)
    assert base["entries"] == {"stim": 1, "nonstim": 1}
    assert base["crossings"] == 2
    # started inside: latency counted from the first moment outside (0.2 s, neutral) to
    # the next entry (0.7 s); the old definition gave 0 whenever a phase started inside
    assert base["started_inside"] is True and base["latency_to_stim_s"] == pytest.approx(0.5)
    expected_distance = 1 + 19 + 20 + 3 + float(np.hypot(40, 3))
    assert base["distance_cm"] == pytest.approx(expected_distance, abs=1e-4)
    assert base["mean_speed_cm_s"] == pytest.approx(expected_distance / 0.8, abs=1e-3)
    assert base["laser_on_s"] == 0.0
    assert base["lost_tracking_pct"] == pytest.approx(100 / 7, abs=1e-4)
    assert base["dropped_frames"] == 1
    assert base["safety_events"] == 0

    assert test["duration_s"] == pytest.approx(1.6)
    assert test["time_s"] == pytest.approx({"stim": 0.6, "nonstim": 0.4, "neutral": 0.3, "lost": 0.3})
    assert test["preference_index"] == pytest.approx(0.2)
    assert test["entries"] == {"stim": 1, "nonstim": 1}
    assert test["crossings"] == 2
    assert test["started_inside"] is True and test["latency_to_stim_s"] == pytest.approx(1.0)
    # debounce 1 frame here: every raw entry is also a debounced one
    assert test["entries_debounced"] == {"stim": 1, "nonstim": 1}
    assert test["distance_cm"] == pytest.approx(80.0)
    assert test["mean_speed_cm_s"] == pytest.approx(50.0)
    assert test["laser_on_s"] == pytest.approx(1.3)
    assert test["dropped_frames"] == 2
    assert test["safety_events"] == 1


def test_hand_session_laser_follow_and_session_fields(hand_session: Path) -> None:
    s = compute_summary(hand_session)
    follow = s["laser_follow"]
    assert follow["frames_checked"] == 13
    assert follow["frames_matched"] == 11
    assert follow["match_fraction"] == pytest.approx(11 / 13, abs=1e-4)
    assert follow["frames_transition"] == 10
    assert follow["frames_neutral_hold"] == 1
    assert follow["mismatch_on"] == 2 and follow["mismatch_off"] == 0
    assert follow["rule"]["debounce_frames"] == 2
    assert follow["latency_ms"]["p50"] == 5.0 and follow["latency_ms"]["max"] == 20.0
    assert s["phases"][0]["laser_follow_match_fraction"] == 1.0
    assert s["phases"][1]["laser_follow_match_fraction"] == pytest.approx(4 / 6, abs=1e-4)
    assert s["complete"] is True and s["end_reason"] == "completed"
    assert s["baseline_phase"] == "baseline" and s["test_phase"] == "test"
    assert s["difference_score_pct"] == pytest.approx(0.0)
    assert s["baseline_side_bias_pct"] == pytest.approx(60.0)
    assert s["baseline_preferred_side"] == "left"
    assert s["dropped_frames"] == 3 and s["frames"] == 23


def test_latency_to_stim_is_null_when_never_entered(tmp_path: Path) -> None:
    frames = [{"t_s": i * 0.1, "x_cm": 45.0, "phase": "p"} for i in range(5)]
    s = compute_summary(write_fake_session(tmp_path / "s", frames))
    assert s["phases"][0]["latency_to_stim_s"] is None
    assert s["phases"][0]["preference_index"] == -1.0


def test_latency_to_stim_measured_from_phase_start(tmp_path: Path) -> None:
    xs = [45.0, 45.0, 25.0, 5.0, 5.0]
    frames = [{"t_s": 10 + i * 0.5, "x_cm": x, "phase": "p"} for i, x in enumerate(xs)]
    s = compute_summary(write_fake_session(tmp_path / "s", frames))
    assert s["phases"][0]["latency_to_stim_s"] == pytest.approx(1.5)
    assert s["phases"][0]["started_inside"] is False


def test_debounced_entries_ignore_hovering_at_the_edge(tmp_path: Path) -> None:
    """Raw entries count every frame that dips into a compartment; with the protocol's
    debounce (3 frames at 10 fps = 0.2 s) a 1-frame dip is not an entry."""
    xs = [45.0, 45.0, 45.0, 22.0, 25.0, 22.0, 25.0, 22.0, 22.0, 22.0, 22.0]
    frames = [{"t_s": i * 0.1, "x_cm": x, "phase": "p"} for i, x in enumerate(xs)]
    proto = protocol_yaml([{"name": "p", "duration_s": 1.1, "mode": "off"}], debounce_frames=3,
                          camera_fps=10)
    s = compute_summary(write_fake_session(tmp_path / "s", frames, protocol_text=proto))
    phase = s["phases"][0]
    assert phase["entries"]["stim"] == 3
    assert phase["entries_debounced"]["stim"] == 1


def test_crashed_session_with_torn_last_line_still_summarised(tmp_path: Path) -> None:
    d = write_fake_session(
        tmp_path / "s", hand_frames(), HAND_EVENTS[:2], protocol_text=HAND_PROTOCOL,
        end_reason=None, torn_tail="23,2.4,100.0,1",
    )
    with open(d / "events.csv", "a", encoding="utf-8") as handle:
        handle.write('2.35,22,laser_of')
    s = compute_summary(d)
    assert s["complete"] is False and s["end_reason"] is None
    assert s["torn_rows"] == {"frames": 1, "events": 1}
    assert s["frames"] == 23
    assert s["phases"][1]["time_s"]["stim"] == pytest.approx(0.6)
    assert not (d / "summary.json").exists()
    assert "INCOMPLETE" in format_summary_table(s)


def test_nul_filled_tail_is_torn(tmp_path: Path) -> None:
    d = write_fake_session(tmp_path / "s", hand_frames(), torn_tail="23,2.4\x00\x00\x00\x00")
    s = compute_summary(d)
    assert s["frames"] == 23 and s["torn_rows"]["frames"] == 1


def test_corrupt_middle_row_is_an_error_naming_line_and_column(tmp_path: Path) -> None:
    d = write_fake_session(tmp_path / "s", hand_frames())
    lines = (d / "frames.csv").read_text().splitlines(keepends=True)
    lines[3] = lines[3].replace("0.2", "zero.two", 1)
    (d / "frames.csv").write_text("".join(lines))
    with pytest.raises(RecordError, match=r"frames.csv: line 4: column t_s: not a number: 'zero.two'"):
        compute_summary(d)


def test_unknown_schema_version_rejected(tmp_path: Path) -> None:
    d = write_fake_session(tmp_path / "s", hand_frames())
    header = json.loads((d / "session.json").read_text())
    header["schema_version"] = 7
    (d / "session.json").write_text(json.dumps(header))
    with pytest.raises(RecordError, match="schema_version.*found 7"):
        compute_summary(d)


def test_missing_frames_file_is_named(tmp_path: Path) -> None:
    d = write_fake_session(tmp_path / "s", hand_frames())
    (d / "frames.csv").unlink()
    with pytest.raises(RecordError, match="frames.csv: file not found"):
        compute_summary(d)


def test_header_only_frames_gives_empty_summary(tmp_path: Path) -> None:
    s = compute_summary(write_fake_session(tmp_path / "s", [], end_reason=None))
    assert s["phases"] == [] and s["frames"] == 0 and s["complete"] is False
    assert "no frames" in format_summary_table(s)


def test_write_summary_atomic_and_replaces_only_summary(hand_session: Path) -> None:
    before = {p.name: p.read_bytes() for p in hand_session.iterdir()}
    first = write_summary(hand_session)
    assert json.loads((hand_session / "summary.json").read_text()) == first
    write_summary(hand_session)  # rewriting the derived file is allowed
    after = {p.name for p in hand_session.iterdir()}
    assert after == set(before) | {"summary.json"}  # no temp files left behind
    for name, data in before.items():
        assert (hand_session / name).read_bytes() == data


def test_format_summary_table_has_one_row_per_phase(hand_session: Path) -> None:
    text = format_summary_table(compute_summary(hand_session))
    lines = text.splitlines()
    assert lines[0].startswith("phase")
    assert lines[2].startswith("baseline") and lines[3].startswith("test")
    assert "laser follow: 84.6 %" in text and "p99" in text


def test_summary_module_is_light() -> None:
    import subprocess

    code = (
        "import sys, rig.analysis.summary; "
        "bad=[m for m in ('matplotlib','scipy','pynwb','PyQt6','cv2') if m in sys.modules]; "
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def _independent(frames_csv: Path) -> dict[str, dict[str, float]]:
    """A separate numpy re-implementation of time per side, PI and distance per phase."""
    data = np.genfromtxt(frames_csv, delimiter=",", names=True, dtype=None, encoding="utf-8")
    t = data["t_s"].astype(float)
    result = {}
    median = float(np.median(np.diff(t)))
    for phase in dict.fromkeys(data["phase"].tolist()):
        rows = np.flatnonzero(data["phase"] == phase)
        dur = np.append(np.diff(t[rows]), median)
        zone = data["zone"][rows]
        stim = data["stim_side"][rows]
        s = dur[zone == stim].sum()
        other = dur[(zone != stim) & np.isin(zone, ["left", "right"])].sum()
        tracked = rows[data["tracked"][rows] == 1]
        dist = np.hypot(np.diff(data["x_cm"][tracked]), np.diff(data["y_cm"][tracked])).sum()
        result[phase] = {"stim": s, "nonstim": other, "pi": (s - other) / (s + other), "dist": dist}
    return result


def test_simulated_session_matches_independent_computation(tmp_path: Path) -> None:
    d = simulate_rtpp_session(
        tmp_path / "sim", animal_id="m002", rng=np.random.default_rng(3), avoidance=1.0,
    )
    s = compute_summary(d)
    reference = _independent(d / "frames.csv")
    for p in s["phases"]:
        ref = reference[p["phase"]]
        assert p["time_s"]["stim"] == pytest.approx(ref["stim"], abs=1e-3)
        assert p["time_s"]["nonstim"] == pytest.approx(ref["nonstim"], abs=1e-3)
        assert p["preference_index"] == pytest.approx(ref["pi"], abs=1e-3)
        assert p["distance_cm"] == pytest.approx(ref["dist"], abs=1e-2)
    # the simulated policy is the rule: everything checked must match
    assert s["laser_follow"]["match_fraction"] == 1.0
    assert s["difference_score_pct"] < -10
