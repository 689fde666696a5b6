"""End to end on the synthetic arena (ground truth known): tracking, laser rule, record."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from rig.devices.mock_board import MockBoard
from rig.devices.synthetic import SyntheticArena
from rig.session.logfile import attach_session_log
from rig.session.runner import SessionRunner
from rig.session.status import EndReason
from rig.session.writer import FRAME_COLUMNS
from rig.zones import ZoneMap
from tests.conftest import protocol_variant
from tests.session.helpers import read_csv, read_json

DEBOUNCE = 3
GRACE = 4


def _protocol(loaded: Any) -> Any:
    return protocol_variant(
        loaded,
        phases=[
            {"name": "baseline", "duration_s": 10, "mode": "off"},
            {"name": "test", "duration_s": 40, "mode": "closed_loop"},
            {"name": "reversal", "duration_s": 20, "mode": "closed_loop", "swap_sides": True},
        ],
        # frame counts at 30 fps as seconds (the schema-1 conversion)
        decision={"debounce_s": (DEBOUNCE - 1) / 30, "neutral_band": "hold", "tracking_loss_grace_s": GRACE / 30},
        safety={"max_continuous_on_s": 600, "max_total_on_s": 3000},
        tracking={"background": {"source": "median", "duration_s": 30, "n_frames": 60}},
    )


def _run(loaded: Any, out: Path, seed: int = 3, **kwargs: Any) -> tuple[SessionRunner, MockBoard]:
    source = SyntheticArena(loaded.calibration, fps=30.0, seed=seed, noise=3.0, tether=True)
    board = MockBoard()
    runner = SessionRunner(loaded, source, board, out, "m002", speed=None, simulated=True, **kwargs)
    attach_session_log(runner)  # as the CLI and the GUI do
    assert runner.run() is EndReason.COMPLETED
    return runner, board


def expected_laser(rows: list[dict[str, str]]) -> list[int]:
    """Independent re-implementation of the closed-loop rule from the recorded zones."""
    accepted: str | None = None
    last_compartment: str | None = None
    candidate, count, lost = None, 0, 0
    out = []
    for row in rows:
        zone = row["zone"]
        if zone == "lost":
            lost += 1
            candidate, count = None, 0
        else:
            lost = 0
            if zone == accepted:
                candidate, count = None, 0
            else:
                count = count + 1 if zone == candidate else 1
                candidate = zone
                if count >= DEBOUNCE:
                    accepted, candidate, count = zone, None, 0
                    if zone in ("left", "right"):
                        last_compartment = zone
        if row["mode"] != "closed_loop" or lost > GRACE:
            out.append(0)
            continue
        effective = last_compartment if accepted == "neutral" else accepted
        out.append(int(effective is not None and effective == row["stim_side"]))
    return out


@pytest.fixture(scope="module")
def record(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from rig.protocol.load import load_default_protocol

    loaded = _protocol(load_default_protocol())
    out = tmp_path_factory.mktemp("synthetic")
    runner, board = _run(loaded, out)
    assert runner.session_dir is not None
    return {"runner": runner, "board": board, "dir": runner.session_dir, "loaded": loaded, "out": out}


def test_record_layout_and_header(record: dict[str, Any]) -> None:
    session_dir: Path = record["dir"]
    names = {p.name for p in session_dir.iterdir()}
    assert {"protocol.yaml", "calibration.yaml", "session.json", "frames.csv", "events.csv",
            "summary.json", "session.log"} <= names
    assert (session_dir / "protocol.yaml").read_bytes() == record["loaded"].raw
    assert (session_dir / "calibration.yaml").read_bytes() == record["loaded"].calibration_raw
    header = read_json(session_dir / "session.json")
    assert header["format"] == "optorig-session" and header["schema_version"] == 1
    assert header["end_reason"] == "completed" and header["ended_at"]
    assert header["protocol"]["sha256"] == record["loaded"].sha256
    assert header["stimulated_side"] == "left" and header["side_rule"] == "fixed"
    assert header["simulated"] is True and header["source"]["kind"] == "synthetic"
    first_line = (session_dir / "frames.csv").read_text().splitlines()[0]
    assert first_line.split(",")[:11] == (
        "frame,t_s,x_px,y_px,x_cm,y_cm,tracked,zone,phase,laser_on,latency_ms".split(",")
    )
    assert tuple(first_line.split(",")) == FRAME_COLUMNS
    rows = read_csv(session_dir / "frames.csv")
    assert len(rows) == 70 * 30  # every frame of 70 s at 30 fps, none dropped (speed max)
    assert [int(r["frame"]) for r in rows] == list(range(rows[0] and int(rows[0]["frame"]), int(rows[0]["frame"]) + len(rows)))
    summary = read_json(session_dir / "summary.json")
    assert summary["end_reason"] == "completed"
    assert [p["phase"] for p in summary["phases"]] == ["baseline", "test", "reversal"]
    events = read_csv(session_dir / "events.csv")
    kinds = [e["kind"] for e in events]
    assert kinds[0] == "session_start" and kinds[-1] == "session_end"
    assert kinds.count("phase_start") == 3 and kinds.count("phase_end") == 3
    assert "board_gate_opened" in kinds


def test_tracking_error_below_1cm_for_99_percent(record: dict[str, Any]) -> None:
    rows = read_csv(record["dir"] / "frames.csv")
    errors = [
        math.hypot(float(r["x_cm"]) - float(r["truth_x_cm"]), float(r["y_cm"]) - float(r["truth_y_cm"]))
        if r["tracked"] == "1" else math.inf
        for r in rows if r["truth_x_cm"]
    ]
    assert len(errors) == len(rows)
    good = sum(e < 1.0 for e in errors) / len(errors)
    assert good >= 0.99, f"only {good:.2%} of frames within 1 cm"


def test_laser_follows_the_rule_on_every_frame(record: dict[str, Any]) -> None:
    rows = read_csv(record["dir"] / "frames.csv")
    recorded = [int(r["laser_on"]) for r in rows]
    assert recorded == expected_laser(rows)
    assert sum(recorded) > 100  # the light did come on
    reversal = [r for r in rows if r["phase"] == "reversal"]
    assert {r["stim_side"] for r in reversal} == {"right"}
    # The mock board saw exactly the recorded edges, and ended closed.
    board: MockBoard = record["board"]
    edges = [c.kind for c in board.commands if c.kind.startswith("gate")]
    changes = sum(1 for a, b in zip([0] + recorded, recorded) if a != b)
    assert len(edges) == changes + (1 if recorded[-1] else 0)
    assert board.last_gate_command is not None and board.last_gate_command.kind == "gate_close"


def test_time_per_compartment_within_1_percent_of_truth(record: dict[str, Any]) -> None:
    rows = read_csv(record["dir"] / "frames.csv")
    zones = ZoneMap.from_protocol(record["loaded"].protocol.arena, record["loaded"].calibration)
    truth = [zones.locate(float(r["truth_x_cm"]), float(r["truth_y_cm"])).value for r in rows]
    tracked = [r["zone"] for r in rows]
    for zone in ("left", "right", "neutral"):
        share_truth = truth.count(zone) / len(rows)
        share_tracked = tracked.count(zone) / len(rows)
        assert abs(share_truth - share_tracked) <= 0.01, (zone, share_truth, share_tracked)


def test_rescore_at_max_speed_is_reproducible(record: dict[str, Any], tmp_path: Path) -> None:
    runner, _ = _run(record["loaded"], tmp_path)
    assert runner.session_dir is not None

    def strip(path: Path) -> list[list[str]]:
        return [[v for k, v in row.items() if k != "latency_ms"] for row in read_csv(path)]

    assert strip(runner.session_dir / "frames.csv") == strip(record["dir"] / "frames.csv")


def test_status_after_run(record: dict[str, Any]) -> None:
    status = record["runner"].status
    assert status.end_reason is EndReason.COMPLETED
    assert status.frames == 70 * 30 and status.dropped_frames == 0
    assert status.state.value == "finished" and not status.laser_on
    assert status.latency_p50_ms > 0
    update = record["runner"].latest_update()
    assert update is not None and update.phase == "reversal"
