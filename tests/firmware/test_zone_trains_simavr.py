"""Per-zone pulse trains through the real firmware in simavr: the engine reconfigures the
board (gate closed, CONFIG acknowledged) when the light comes on in a zone with its own
train, and the emulated laser pin shows exactly those trains. Timing from emulated CPU
cycles, never the wall clock. Fails on the old code (one train per session)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from rig.devices.firmata_board import FirmataBoard
from rig.devices.firmware_emulator import CYCLES_PER_S, SimavrUno, build_firmware
from tests.firmware.raw_client import NEEDS_SIMAVR

pytestmark = [pytest.mark.emulator, NEEDS_SIMAVR]
LASER = 9
US = CYCLES_PER_S // 1_000_000
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[SimavrUno]:
    hex_path, elf_path = build_firmware()
    with SimavrUno(hex_path, elf_path, str(tmp_path / "pins.log")) as uno:
        yield uno


def test_zone_trains_on_the_real_firmware(sim: SimavrUno, tmp_path: Path) -> None:
    from rig.devices.synthetic import SyntheticArena
    from rig.protocol.load import load_protocol
    from rig.session.runner import EndReason, SessionRunner
    from tests.conftest import protocol_variant
    from tests.session.helpers import read_csv

    loaded = protocol_variant(
        load_protocol(REPO / "protocols" / "open_field_inner.yaml"),
        arena={"stimulated_zones": ["inner", "outer"]},
        stimulation={"zones": {"inner": {"frequency_hz": 40, "pulse_width_ms": 10}}},
        phases=[{"name": "test", "duration_s": 10.0, "mode": "closed_loop"}],
        tracking={"background": {"source": "median", "duration_s": 2.0, "n_frames": 20}},
        safety={"max_continuous_on_s": 600, "max_total_on_s": 3000},
    )
    from rig.rigfile.load import load_rig

    # Generous liveness limits: the real tracker on a busy test machine must not trip them
    # (the default bounds have their own tests in test_host_safety_simavr.py).
    rig_path = tmp_path / "rig.yaml"
    rig_path.write_text(
        f"schema_version: 1\nboard:\n  kind: firmata\n  port: {sim.port}\n"
        "loop_stall_ms: 1000\nheartbeat_timeout_ms: 1000\n"
    )
    runner = SessionRunner(
        loaded, SyntheticArena(loaded.calibration, fps=30.0, seed=2), FirmataBoard(sim.port),
        tmp_path, "m1", speed=1.0, simulated=True, rig=load_rig(rig_path),
    )
    assert runner.run() is EndReason.COMPLETED
    assert runner.session_dir is not None
    events = read_csv(runner.session_dir / "events.csv")
    configs = [json.loads(e["detail"]) for e in events if e["kind"] == "laser_config"]
    assert configs and all(c["acknowledged"] for c in configs)
    assert {c["zone"] for c in configs} == {"inner", "outer"}  # both trains were used
    edges = sim.edges(LASER)
    rises = [c for c, v in edges if v == 1]
    falls = [c for c, v in edges if v == 0 and rises and c > rises[0]]
    assert len(rises) == len(falls)  # the pin ends low
    widths_ms = [(f - r) / (CYCLES_PER_S / 1000) for r, f in zip(rises, falls)]
    # Every full pulse is one of the two trains. A pulse cut by a gate close (or by the
    # train change at a zone switch) is the last of its window, so only pulses followed by
    # the next rise of the same train (within its 50 ms period) are judged; on a loaded
    # machine gate windows are shorter and cut pulses of 10-15 ms are common.
    followed = [
        w for (r, f), w, nxt in zip(zip(rises, falls), widths_ms, rises[1:])
        if (nxt - r) / (CYCLES_PER_S / 1000) <= 50.0 + 0.05
    ]
    full = [w for w in followed if w > 9.99]
    assert all(abs(w - 10.0) <= 10 / 1000 or abs(w - 15.0) <= 10 / 1000 for w in full)
    seen = {round(w) for w in full}
    expected = {10 if c["zone"] == "inner" else 15 for c in configs}
    assert expected <= seen | {15}
    closed = [e for e in events if e["kind"] == "board_gate_closed"]
    assert sum(int(json.loads(e["detail"])["pulses"]) for e in closed) == len(rises)
