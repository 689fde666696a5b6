"""Delivered light and the laser-follow audit (rule from positions vs the board's echo)."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from rig.analysis.fake import calibration_yaml, protocol_yaml, write_fake_session
from rig.analysis.summary import compute_summary
from rig.clock import MediaClock
from rig.devices.mock_board import MockBoard
from rig.devices.synthetic import SyntheticArena
from rig.session.runner import SessionRunner
from rig.session.status import EndReason
from tests.conftest import protocol_variant


@pytest.fixture(scope="module")
def engine_session(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real closed-loop session: SessionRunner, synthetic arena, mock board (echoes)."""
    from rig.protocol.load import load_default_protocol

    loaded = protocol_variant(
        load_default_protocol(),
        phases=[
            {"name": "baseline", "duration_s": 5, "mode": "off"},
            {"name": "test", "duration_s": 40, "mode": "closed_loop"},
            {"name": "reversal", "duration_s": 15, "mode": "closed_loop", "swap_sides": True},
        ],
        decision={"debounce_s": 0.066666, "neutral_band": "hold", "tracking_loss_grace_s": 0.1333},
        safety={"max_continuous_on_s": 600, "max_total_on_s": 3000},
        tracking={"background": {"source": "median", "duration_s": 20, "n_frames": 40}},
    )
    out = tmp_path_factory.mktemp("fidelity")
    source = SyntheticArena(loaded.calibration, fps=30.0, seed=5, noise=3.0, tether=True)
    clock = MediaClock()  # as `rig demo` / `rig replay` wire a mock board
    board = MockBoard(clock=clock)
    runner = SessionRunner(
        loaded, source, board, out, "m005", speed=None, simulated=True, media_clock=clock,
        camera_timeout_s=120,  # a synthetic source on a loaded machine is slow, not lost
    )
    assert runner.run() is EndReason.COMPLETED
    return next(out.rglob("session.json")).parent


def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    (dst / "summary.json").unlink(missing_ok=True)
    return dst


def test_engine_session_passes_the_audit(engine_session: Path) -> None:
    summary = compute_summary(engine_session)
    delivered = summary["delivered_light"]
    assert delivered["light_source"] == "board echo (board clock)"
    audit = delivered["audit"]
    assert audit["status"] == "pass", audit
    assert audit["frames_judged"] > 0.9 * summary["frames"]
    test = next(p for p in delivered["phases"] if p["phase"] == "test")
    assert test["light_s"]["stim"] > 1.0 and test["pulses_delivered"] and test["pulses_delivered"] > 0
    assert test["entry_to_first_pulse"]["n"] > 0
    assert test["entry_to_first_pulse"]["p50_ms"] < 200
    # hold: some light falls outside the stimulated compartment, and it is reported
    assert test["light_s"]["neutral"] is not None


def _shift_events(session: Path, edit: Any) -> None:
    path = session / "events.csv"
    with open(path, newline="") as handle:
        reader = csv.DictReader(handle)
        rows = list(reader)
        fieldnames = list(reader.fieldnames or [])
    rows = edit(rows)
    rows.sort(key=lambda r: float(r["t_s"]))
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fieldnames, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def _frames(session: Path) -> list[dict[str, str]]:
    with open(session / "frames.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def _offset(session: Path) -> float:
    """session t_s - device_us/1e6 of the echo (the mock board's clock)."""
    with open(session / "events.csv", newline="") as handle:
        for row in csv.DictReader(handle):
            if row["kind"] == "board_gate_opened":
                return float(row["t_s"]) - json.loads(row["detail"])["device_us"] / 1e6
    raise AssertionError("no echo")


def _echo(t: float, kind: str, offset: float, pulses: int | None = None) -> dict[str, str]:
    detail: dict[str, Any] = {"device_us": int(round((t - offset) * 1e6)), "pin_level": int(kind == "board_gate_opened")}
    if pulses is not None:
        detail["pulses"] = pulses
    return {"t_s": f"{t:.4f}", "frame": "", "kind": kind, "detail": json.dumps(detail)}


def test_tampered_light_on_where_positions_say_off(engine_session: Path, tmp_path: Path) -> None:
    """Old code compared the commanded column with a rule rebuilt from the same zone column
    (and counted every neutral frame as matched): a session with extra light still
    reported 100 %. The audit must flag it with the frame count."""
    session = _copy(engine_session, tmp_path / "tampered_on")
    frames = _frames(session)
    summary = compute_summary(engine_session)
    # a run of 30 baseline frames (light must be off): add a delivered window over them
    base = [r for r in frames if r["phase"] == "baseline"]
    t0, t1 = float(base[40]["t_s"]) - 0.005, float(base[70]["t_s"]) - 0.005
    offset = _offset(session)
    _shift_events(session, lambda rows: rows + [
        _echo(t0, "board_gate_opened", offset), _echo(t1, "board_gate_closed", offset, 600)
    ])
    audit = compute_summary(session)["delivered_light"]["audit"]
    assert audit["status"] == "fail"
    assert audit["frames_light_on_rule_off"] == 30
    assert audit["frames_light_off_rule_on"] == 0
    assert summary["delivered_light"]["audit"]["status"] == "pass"


def test_tampered_light_off_where_positions_say_on(engine_session: Path, tmp_path: Path) -> None:
    """A delivered window cut short (light off while the animal is on the stimulated side)."""
    session = _copy(engine_session, tmp_path / "tampered_off")
    offset = _offset(session)
    with open(session / "events.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    # the longest delivered window; close it 1 s after it opened
    windows = []
    opened = None
    for row in rows:
        if row["kind"] == "board_gate_opened":
            opened = row
        elif row["kind"] == "board_gate_closed" and opened is not None:
            windows.append((opened, row))
            opened = None
    start, end = max(windows, key=lambda w: float(w[1]["t_s"]) - float(w[0]["t_s"]))
    t_start = json.loads(start["detail"])["device_us"] / 1e6 + offset
    t_end = json.loads(end["detail"])["device_us"] / 1e6 + offset
    assert t_end - t_start > 1.5
    new_close = t_start + 1.0
    detail = json.loads(end["detail"])
    detail["device_us"] = int(round((new_close - offset) * 1e6))
    end["detail"] = json.dumps(detail)
    end["t_s"] = f"{new_close:.4f}"
    _shift_events(session, lambda r: rows)
    frames = _frames(session)
    # frames whose decision lies after the shortened close and before the real one
    cut = [r for r in frames if new_close + 0.001 < float(r["t_s"]) and float(r["t_s"]) + 0.034 < t_end]
    audit = compute_summary(session)["delivered_light"]["audit"]
    assert audit["status"] == "fail"
    assert audit["frames_light_on_rule_off"] == 0
    assert abs(audit["frames_light_off_rule_on"] - len(cut)) <= 2


def test_light_outside_compartment_on_a_hand_built_session(tmp_path: Path) -> None:
    """10 frames/s: 2 s in left (stim), 1 s in the neutral band, 2 s in right; the board's
    window covers 1.0-3.5 s: 1.0 s in stim, 1.0 s neutral, 0.5 s in the other compartment."""
    frames = []
    for i in range(50):
        t = i / 10
        x = 10.0 if t < 2.0 else (25.0 if t < 3.0 else 40.0)
        zone = "left" if t < 2.0 else ("neutral" if t < 3.0 else "right")
        frames.append({"frame": i, "t_s": t, "x_cm": x, "y_cm": 12.0, "zone": zone,
                       "phase": "test", "laser_on": 1.0 <= t < 3.5, "latency_ms": 5.0,
                       "stim_side": "left", "mode": "closed_loop"})
    events = [
        {"t_s": 1.0, "frame": 10, "kind": "board_gate_opened", "detail": {"device_us": 1_000_000, "pin_level": 1}},
        {"t_s": 3.5, "frame": 35, "kind": "board_gate_closed", "detail": {"device_us": 3_500_000, "pulses": 50, "pin_level": 0}},
        {"t_s": 5.0, "frame": 49, "kind": "session_end", "detail": {"reason": "completed"}},
    ]
    proto = protocol_yaml([{"name": "test", "duration_s": 5, "mode": "closed_loop"}], debounce_frames=1)
    session = write_fake_session(tmp_path / "hand", frames, events, animal_id="h1",
                                 protocol_text=proto, calibration_text=calibration_yaml(),
                                 stimulated_side="left")
    p = compute_summary(session)["delivered_light"]["phases"][0]
    assert p["light_s"]["stim"] == pytest.approx(1.0, abs=1e-6)
    assert p["light_s"]["neutral"] == pytest.approx(1.0, abs=1e-6)
    assert p["light_s"]["other"] == pytest.approx(0.5, abs=1e-6)
    assert p["stim_without_light_s"] == pytest.approx(1.0, abs=1e-6)
    assert p["pulses_delivered"] == 50

