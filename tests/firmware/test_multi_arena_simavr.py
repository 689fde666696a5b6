"""Four arenas on ONE board running the real firmware in simavr (issue 16): each arena's
session drives ``board.channel(k)`` of a single FirmataBoard, the firmware runs four
independent trains on four pins, and every arena's record matches its own channel: the
pulses the firmware reported for the arena's gate windows are exactly the rises on that
channel's pin in the emulated pin log, every full pulse is the configured 20 Hz / 15 ms,
and each arena's laser_on frames come from that channel's echo. Fails on the old code
(no channel views; one firmware channel)."""

from __future__ import annotations

import dataclasses
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from rig.devices.firmata_board import FirmataBoard
from rig.devices.firmware_emulator import CYCLES_PER_S, SimavrUno, build_firmware
from rig.devices.limits import CHANNEL_LASER_PINS_DEFAULT
from tests.firmware.raw_client import NEEDS_SIMAVR

pytestmark = [pytest.mark.emulator, NEEDS_SIMAVR]
SIZE = (1280, 1024)
SEEDS = (11, 12, 13, 14)
SIDES = ("left", "right", "left", "right")
MS = CYCLES_PER_S // 1000


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[SimavrUno]:
    elf, harness = build_firmware()
    with SimavrUno(elf, harness, str(tmp_path / "pins.log")) as uno:
        yield uno


def _loaded_for(region: Any) -> Any:
    from rig.devices.regions import region_calibration
    from rig.protocol.load import load_default_protocol
    from tests.conftest import protocol_variant

    cal = region_calibration(region)
    raw = yaml.safe_dump(cal.model_dump(mode="json"), sort_keys=False).encode()
    loaded = protocol_variant(
        load_default_protocol(),
        phases=[
            {"name": "baseline", "duration_s": 1, "mode": "off"},
            {"name": "test", "duration_s": 11, "mode": "closed_loop"},
        ],
        safety={"max_continuous_on_s": 600, "max_total_on_s": 3000},
        tracking={"background": {"source": "median", "duration_s": 2, "n_frames": 20}},
    )
    return dataclasses.replace(loaded, calibration=cal, calibration_raw=raw)


def test_four_arenas_on_four_channels_of_one_board(sim: SimavrUno, tmp_path: Path) -> None:
    from rig.devices.regions import TiledSynthetic, grid_regions
    from rig.session.multi import ArenaSpec, MultiArenaRunner
    from rig.session.status import EndReason
    from tests.session.helpers import generous_rig, read_csv

    regions = grid_regions(4, SIZE)
    loaded = [_loaded_for(r) for r in regions]
    source = TiledSynthetic(SIZE, regions, [lo.calibration for lo in loaded], SEEDS, fps=30.0, noise=2.0)
    board = FirmataBoard(sim.port)
    arenas = [
        ArenaSpec(r, lo, board.channel(k), f"m{seed}", side)
        for k, (r, lo, seed, side) in enumerate(zip(regions, loaded, SEEDS, SIDES, strict=True))
    ]
    multi = MultiArenaRunner(source, arenas, tmp_path, speed=1.0, simulated=True, rig=generous_rig())
    ends = multi.run()
    assert ends == {name: EndReason.COMPLETED for name in "ABCD"}
    assert not board.is_open  # the last arena's view closed the shared link
    windows_seen = 0
    for k, runner in enumerate(multi.runners):
        pin = CHANNEL_LASER_PINS_DEFAULT[k]
        assert runner.session_dir is not None
        events = read_csv(runner.session_dir / "events.csv")
        closed = [json.loads(e["detail"]) for e in events if e["kind"] == "board_gate_closed"]
        opened = [e for e in events if e["kind"] == "board_gate_opened"]
        edges = sim.edges(pin)
        rises = [c for c, v in edges if v == 1]
        falls = [c for c, v in edges if v == 0 and rises and c > rises[0]]
        # the firmware's echo for this arena's windows counts exactly this pin's pulses
        assert sum(int(d["pulses"]) for d in closed) == len(rises), k
        assert len(opened) == len(closed) and len(rises) == len(falls), k
        windows_seen += len(opened)
        # full pulses are the 20 Hz / 15 ms train (a gate close may cut the last pulse)
        widths = [(f - r) / MS for r, f in zip(rises, falls)]
        followed = [w for (r, w), nxt in zip(zip(rises, widths), rises[1:]) if (nxt - r) / MS <= 50.01]
        assert all(abs(w - 15.0) <= 0.01 for w in followed), k
        frames = read_csv(runner.session_dir / "frames.csv")
        lit = sum(int(f["laser_on"]) for f in frames)
        assert (lit > 0) == bool(rises), k  # laser_on only where this channel echoed light
    assert windows_seen >= 4  # the mice crossed into their stimulated sides
