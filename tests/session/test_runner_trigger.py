"""Sessions with the camera triggered by the board (issue 14), on the mock board and the
simulated triggered camera: every frame carries its trigger index and the trigger edge's
board time, frames the camera missed are gaps that session.json counts, and laser reports
are on the same clock. Fails on the old code: no trigger section, no such columns."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from rig.clock import MediaClock
from rig.devices.mock_board import MockBoard
from rig.devices.synthetic import SyntheticArena
from rig.devices.triggered import BoardTriggeredCamera
from rig.rigfile.load import load_default_rig
from rig.rigfile.models import RigConfig
from rig.session.runner import SessionRunner
from rig.session.status import EndReason
from tests.conftest import protocol_variant
from tests.session.helpers import read_csv

MISSED = (40, 41, 97)


def triggered_rig(**trigger: Any) -> Any:
    base = load_default_rig()
    data = base.config.model_dump(mode="json")
    data["loop_stall_ms"] = 5000.0
    data["camera"]["trigger"] = "hardware"
    data["trigger"] = {"source": "board", "pin": 8, "width_ms": 1.0, **trigger}
    return dataclasses.replace(base, config=RigConfig.model_validate(data), embedded=False)


def _run(default_loaded: Any, out: Path, miss: tuple[int, ...] = ()) -> tuple[SessionRunner, MockBoard]:
    from rig.protocol.load import load_protocol

    # light on everywhere in the arena, so the laser reports are many
    loaded = protocol_variant(
        load_protocol(Path(__file__).resolve().parents[2] / "protocols" / "open_field_inner.yaml"),
        arena={"stimulated_zones": ["inner", "outer"]},
        phases=[{"name": "test", "duration_s": 8, "mode": "closed_loop"}],
        safety={"max_continuous_on_s": 600, "max_total_on_s": 3000},
        tracking={"background": {"source": "median", "duration_s": 1, "n_frames": 10}},
    )
    clock = MediaClock()
    board = MockBoard(clock=clock)
    camera = BoardTriggeredCamera(SyntheticArena(loaded.calibration, fps=30.0, seed=4), board, clock, miss=miss)
    runner = SessionRunner(loaded, camera, board, out, "m1", speed=None, simulated=True, media_clock=clock, rig=triggered_rig())
    assert runner.run() is EndReason.COMPLETED
    return runner, board


def test_missed_triggers_are_gaps_in_frames_csv_and_counted(default_loaded: Any, tmp_path: Path) -> None:
    """The camera ignores triggers 40, 41 and 97: frames.csv skips those trigger indices,
    every other frame's board_t_s is its trigger edge on the board's grid (first edge +
    (k - 1) x 33.333 ms), and session.json counts 3 triggers missed."""
    runner, _ = _run(default_loaded, tmp_path, MISSED)
    assert runner.session_dir is not None
    frames = read_csv(runner.session_dir / "frames.csv")
    indices = [int(r["trigger_index"]) for r in frames]
    assert not set(MISSED) & set(indices)
    assert indices == sorted(indices)
    first_edge_s = float(frames[0]["board_t_s"]) - (indices[0] - 1) * 0.033333
    for r, k in zip(frames, indices):
        assert float(r["board_t_s"]) == pytest.approx(first_edge_s + (k - 1) * 0.033333, abs=2e-6)
    trigger = json.loads((runner.session_dir / "session.json").read_text())["trigger"]
    assert trigger["triggers_missed"] == len(MISSED)
    assert trigger["final_count_confirmed"] is True
    assert trigger["frames_received"] + len(MISSED) + trigger["triggers_after_last_frame"] == trigger["triggers_sent"]
    # the laser's reports are on the same clock, inside the frames' span
    events = read_csv(runner.session_dir / "events.csv")
    opened = [float(e["board_t_s"]) for e in events if e["kind"] == "board_gate_opened"]
    assert opened
    assert all(float(frames[0]["board_t_s"]) <= t <= float(frames[-1]["board_t_s"]) + 0.1 for t in opened)


def test_no_missed_triggers_without_gaps(default_loaded: Any, tmp_path: Path) -> None:
    runner, _ = _run(default_loaded, tmp_path)
    assert runner.session_dir is not None
    frames = read_csv(runner.session_dir / "frames.csv")
    indices = [int(r["trigger_index"]) for r in frames]
    assert indices == list(range(indices[0], indices[0] + len(indices)))
    trigger = json.loads((runner.session_dir / "session.json").read_text())["trigger"]
    assert trigger["triggers_missed"] == 0


def test_untriggered_sessions_leave_the_columns_empty(default_loaded: Any, tmp_path: Path) -> None:
    loaded = protocol_variant(
        default_loaded,
        phases=[{"name": "test", "duration_s": 2, "mode": "closed_loop"}],
        tracking={"background": {"source": "median", "duration_s": 1, "n_frames": 10}},
    )
    runner = SessionRunner(
        loaded, SyntheticArena(loaded.calibration, fps=30.0, seed=4), MockBoard(), tmp_path, "m1",
        speed=None, simulated=True,
    )
    assert runner.run() is EndReason.COMPLETED
    assert runner.session_dir is not None
    frames = read_csv(runner.session_dir / "frames.csv")
    assert all(r["trigger_index"] == "" and r["board_t_s"] == "" for r in frames)
    assert "trigger" not in json.loads((runner.session_dir / "session.json").read_text())


def test_rig_demo_with_a_board_trigger_records_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``rig demo --rig`` with ``trigger.source: board``: the synthetic camera is triggered by
    the mock board; frames.csv carries trigger indices and board times, session.json and the
    printed summary the counts."""
    from rig.cli import main

    rig_path = tmp_path / "rig.yaml"
    rig_path.write_text(
        "schema_version: 1\nboard:\n  kind: mock\nlaser:\n  pin: 9\n"
        "camera:\n  source: synthetic\n  fps: 30\n  trigger: hardware\n"
        "trigger:\n  source: board\n  pin: 8\n"
    )
    assert main(["demo", "--rig", str(rig_path), "--out", str(tmp_path), "--duration-s", "6", "--speed", "max"]) == 0
    session = next(tmp_path.rglob("session.json")).parent
    frames = read_csv(session / "frames.csv")
    assert all(r["trigger_index"] and r["board_t_s"] for r in frames)
    trigger = json.loads((session / "session.json").read_text())["trigger"]
    assert trigger["triggers_missed"] == 0 and trigger["triggers_sent"] >= len(frames)
    assert "camera trigger from the board:" in capsys.readouterr().out
