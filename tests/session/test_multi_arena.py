"""Four arenas under one 1280x1024 camera (synthetic, four mice), four mock laser
channels: one frame feeds every arena, each arena's record equals a single-arena run of
the same mouse, a board fault in one arena ends only that arena with its light off, and
the emergency stop closes every light. Fails on the old code (no multi-arena engine)."""

from __future__ import annotations

import dataclasses
import threading
from pathlib import Path
from typing import Any

import pytest
import yaml

from rig.devices.mock_board import MockBoard
from rig.devices.regions import TiledSynthetic, grid_regions, region_calibration
from rig.devices.synthetic import SyntheticArena
from rig.protocol.load import load_default_protocol
from rig.session.multi import ArenaSpec, MultiArenaRunner
from rig.session.runner import SessionRunner
from rig.session.status import EndReason
from tests.conftest import protocol_variant
from tests.session.helpers import generous_rig, read_csv, read_json

SIZE = (1280, 1024)
SEEDS = (11, 12, 13, 14)
SIDES = ("left", "right", "left", "right")


def _loaded_for(region: Any, duration_s: float = 30.0) -> Any:
    cal = region_calibration(region)
    raw = yaml.safe_dump(cal.model_dump(mode="json"), sort_keys=False).encode()
    loaded = protocol_variant(
        load_default_protocol(),
        phases=[
            {"name": "baseline", "duration_s": 5, "mode": "off"},
            {"name": "test", "duration_s": duration_s - 5, "mode": "closed_loop"},
        ],
        safety={"max_continuous_on_s": 600, "max_total_on_s": 3000},
        tracking={"background": {"source": "median", "duration_s": 10, "n_frames": 30}},
    )
    return dataclasses.replace(loaded, calibration=cal, calibration_raw=raw)


def _multi(out: Path, boards: list[MockBoard], duration_s: float = 30.0) -> MultiArenaRunner:
    regions = grid_regions(4, SIZE)
    loaded = [_loaded_for(r, duration_s) for r in regions]
    source = TiledSynthetic(SIZE, regions, [lo.calibration for lo in loaded], SEEDS, fps=30.0, noise=2.0)
    arenas = [
        ArenaSpec(r, lo, b, f"m{seed}", side)
        for r, lo, b, seed, side in zip(regions, loaded, boards, SEEDS, SIDES, strict=True)
    ]
    # rig: a loop-stall limit a loaded CI machine cannot reach (four arenas at speed max on
    # two cores); the limit has its own tests in test_host_safety*.py.
    return MultiArenaRunner(source, arenas, out, speed=None, simulated=True, rig=generous_rig())


@pytest.fixture(scope="module")
def run4(tmp_path_factory: pytest.TempPathFactory) -> tuple[MultiArenaRunner, list[MockBoard], Path]:
    out = tmp_path_factory.mktemp("multi")
    boards = [MockBoard(f"mock{i}") for i in range(4)]
    multi = _multi(out, boards)
    ends = multi.run()
    assert ends == {name: EndReason.COMPLETED for name in "ABCD"}
    return multi, boards, out


_SAME = ("frame", "t_s", "x_px", "y_px", "x_cm", "y_cm", "tracked", "zone", "phase",
         "laser_on", "stim_side", "mode", "truth_x_cm", "truth_y_cm")


def test_each_arena_record_equals_a_single_arena_run_of_the_same_mouse(
    run4: tuple[MultiArenaRunner, list[MockBoard], Path], tmp_path: Path
) -> None:
    multi, boards, _ = run4
    for i in (0, 3):  # two arenas (top-left and bottom-right) keep the test short
        region = multi.arenas[i].region
        loaded = multi.arenas[i].loaded
        single = SessionRunner(
            loaded, SyntheticArena(loaded.calibration, fps=30.0, seed=SEEDS[i], noise=2.0),
            MockBoard(), tmp_path / region.name, f"m{SEEDS[i]}", speed=None, simulated=True,
            stim_side=SIDES[i], rig=generous_rig(),
        )
        assert single.run() is EndReason.COMPLETED
        assert single.session_dir is not None and multi.runners[i].session_dir is not None
        alone = read_csv(single.session_dir / "frames.csv")
        shared = read_csv(multi.runners[i].session_dir / "frames.csv")
        assert len(alone) == len(shared) == 30 * 30
        for a, b in zip(alone, shared, strict=True):
            assert {k: a[k] for k in _SAME} == {k: b[k] for k in _SAME}
        assert sum(int(r["laser_on"]) for r in shared) > 0


def test_run_id_links_the_session_folders_and_latency_is_per_arena(
    run4: tuple[MultiArenaRunner, list[MockBoard], Path],
) -> None:
    multi, boards, out = run4
    run = read_json(out / f"run_{multi.run_id}.json")
    assert [a["arena"] for a in run["arenas"]] == list("ABCD")
    # One read per frame for all four arenas (10 s of background arming + 30 s session),
    # not one per arena.
    assert 30 * 30 <= run["frames_read"] <= (10 + 30) * 30 + 8 + 2
    for arena, runner, board in zip(run["arenas"], multi.runners, boards, strict=True):
        assert runner.session_dir is not None and arena["session_dir"] == str(runner.session_dir)
        header = read_json(runner.session_dir / "session.json")
        assert header["source"]["run_id"] == multi.run_id
        assert header["source"]["arena"] == arena["arena"]
        assert header["source"]["region_px"] == arena["region_px"]
        rows = read_csv(runner.session_dir / "frames.csv")
        assert all(float(r["latency_ms"]) >= 0 for r in rows)
        gate = [c.kind for c in board.commands if c.kind.startswith("gate")]
        assert gate and gate[-1] == "gate_close"


def test_board_fault_in_one_arena_ends_only_that_arena(tmp_path: Path) -> None:
    boards = [MockBoard(f"mock{i}") for i in range(4)]
    multi = _multi(tmp_path, boards, duration_s=20.0)
    # Arena B's board fails on its first gate opening (simulated unplug).
    boards[1].fail_next_write = True
    ends = multi.run()
    assert ends["B"] is EndReason.BOARD_LOST
    assert {ends[n] for n in "ACD"} == {EndReason.COMPLETED}
    assert not boards[1].gate_open
    b_dir = multi.runners[1].session_dir
    assert b_dir is not None
    assert read_json(b_dir / "session.json")["end_reason"] == "board_lost"
    for i in (0, 2, 3):
        d = multi.runners[i].session_dir
        assert d is not None and len(read_csv(d / "frames.csv")) == 20 * 30


def test_emergency_stop_closes_every_arena(tmp_path: Path) -> None:
    boards = [MockBoard(f"mock{i}") for i in range(4)]
    multi = _multi(tmp_path, boards, duration_s=600.0)
    timer = threading.Timer(6.0, multi.emergency_stop)
    timer.start()
    try:
        ends = multi.run()
    finally:
        timer.cancel()
    assert set(ends.values()) == {EndReason.EMERGENCY_STOP}
    assert not any(b.gate_open for b in boards)


class _DeadBoard(MockBoard):
    """A board that is not there: opening it fails (unplugged before the run)."""

    def open(self) -> None:
        from rig.errors import BoardLost

        raise BoardLost("mock board: not connected")


def test_an_arena_whose_board_never_opens_does_not_hold_the_others(tmp_path: Path) -> None:
    """Arena C never opens its camera region (its board is missing); the other arenas run
    to the end instead of waiting for it."""
    boards: list[MockBoard] = [MockBoard("mock0"), MockBoard("mock1"), _DeadBoard("dead"), MockBoard("mock3")]
    multi = _multi(tmp_path, boards, duration_s=12.0)
    ends = multi.run()
    assert ends["C"] is EndReason.BOARD_LOST
    assert {ends[n] for n in "ABD"} == {EndReason.COMPLETED}
    for i in (0, 1, 3):
        d = multi.runners[i].session_dir
        assert d is not None and len(read_csv(d / "frames.csv")) == 12 * 30


def test_each_arena_session_log_holds_only_its_own_lines(tmp_path: Path) -> None:
    """Several arenas, one session.log each: arena A's log names arena A's session only.
    Fails on the old code, where every handler hung on the shared loggers and each arena's
    session.log also held the other arenas' lifecycle lines ("session ...", phases, end)."""
    from rig.session.logfile import attach_session_log

    boards = [MockBoard(f"mock{i}") for i in range(4)]
    multi = _multi(tmp_path, boards, duration_s=8.0)
    for runner in multi.runners:
        attach_session_log(runner)
    assert set(multi.run().values()) == {EndReason.COMPLETED}
    names = []
    for runner in multi.runners:
        assert runner.session_dir is not None
        names.append(runner.session_dir.name)
    for runner, name in zip(multi.runners, names, strict=True):
        assert runner.session_dir is not None
        text = (runner.session_dir / "session.log").read_text(encoding="utf-8")
        assert f"session {name}:" in text
        for other in names:
            if other != name:
                assert other not in text, f"{name}'s session.log holds {other}'s lines"
        assert text.count("session ended:") == 1
        assert text.count("phase 1/2") == 1
