"""A closed-loop session with the camera triggered by the real firmware in simavr (issue 14):
FirmataBoard starts the trigger, a simulated camera wired to the emulated trigger pin
exposes one frame per rising edge it sees in the harness's pin log, and the record puts
every frame and every laser edge on the board's clock. Timing is judged in emulated cycles.
Fails on the old code: no trigger section, no SYSEX TRIGGER, no ``board_t_s`` columns."""

from __future__ import annotations

import json
import shutil
import statistics
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from rig.devices.firmata_board import FirmataBoard
from rig.devices.firmware_emulator import CYCLES_PER_S, SimavrUno, build_firmware
from rig.devices.frames import Frame, FrameSource, SourceKind
from rig.devices.lifecycle import OpenedByWith
from rig.errors import CameraLost
from tests.firmware.raw_client import NEEDS_SIMAVR

pytestmark = [pytest.mark.emulator, NEEDS_SIMAVR]
LASER = 9
TRIG = 8
US = CYCLES_PER_S // 1_000_000
REPO = Path(__file__).resolve().parents[2]


class PinTriggeredCamera(OpenedByWith):
    """A hardware-triggered camera on the emulated trigger pin: frame k is exposed at the
    k-th rising edge in the simavr pin log (frame ID = k, camera time = the edge's cycle)."""

    frame_id_is_trigger_count = True

    def __init__(self, inner: FrameSource, sim: SimavrUno) -> None:
        self._inner, self._sim = inner, sim
        self._k = 0
        self.edge_cycles: list[int] = []

    name = "pin-triggered"
    is_live = False
    kind = SourceKind.SYNTHETIC

    @property
    def fps(self) -> float:
        return self._inner.fps

    @property
    def frame_size(self) -> tuple[int, int]:
        return self._inner.frame_size

    def open(self) -> None:
        self._inner.open()

    def close(self) -> None:
        self._inner.close()

    def read(self) -> Frame | None:
        self._k += 1
        pause = threading.Event()
        wall_net = time.monotonic() + 120  # a hung emulator only
        while True:
            rises = [c for c, v in self._sim.edges(TRIG) if v == 1]
            if len(rises) >= self._k:
                break
            if time.monotonic() > wall_net:
                raise CameraLost("no trigger edge from the emulated board")
            pause.wait(0.005)
        self.edge_cycles = rises
        inner = self._inner.read()
        if inner is None:
            return None
        t_s = (rises[self._k - 1] - rises[0]) / CYCLES_PER_S
        return Frame(self._k - 1, t_s, inner.captured_ns, inner.image, inner.truth, self._k, t_s)


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[SimavrUno]:
    elf, harness = build_firmware()
    with SimavrUno(elf, harness, str(tmp_path / "pins.log")) as uno:
        yield uno


def test_closed_loop_session_with_the_board_trigger_puts_frames_and_laser_on_one_clock(
    sim: SimavrUno, tmp_path: Path
) -> None:
    """frames.csv ``board_t_s`` of every frame equals its trigger edge in the simavr log
    (one constant offset between the board clock and the emulator's cycles, within 10 us);
    the GATE_OPENED reports' ``board_t_s`` in events.csv fall on laser rising edges with the
    same offset; session.json counts the triggers sent and the frames received."""
    from rig.devices.synthetic import SyntheticArena
    from rig.protocol.load import load_protocol
    from rig.rigfile.load import load_rig
    from rig.session.runner import EndReason, SessionRunner
    from tests.conftest import protocol_variant
    from tests.session.helpers import read_csv

    loaded = protocol_variant(
        load_protocol(REPO / "protocols" / "open_field_inner.yaml"),
        arena={"stimulated_zones": ["inner", "outer"]},
        phases=[{"name": "test", "duration_s": 6.0, "mode": "closed_loop"}],
        tracking={"background": {"source": "median", "duration_s": 1.0, "n_frames": 10}},
        safety={"max_continuous_on_s": 600, "max_total_on_s": 3000},
    )
    rig_path = tmp_path / "rig.yaml"
    rig_path.write_text(
        f"schema_version: 1\nboard:\n  kind: firmata\n  port: {sim.port}\n"
        "loop_stall_ms: 1000\nheartbeat_timeout_ms: 1000\n"
        "camera:\n  fps: 30\n  trigger: hardware\n"
        "trigger:\n  source: board\n  pin: 8\n  width_ms: 2\n"
    )
    camera = PinTriggeredCamera(SyntheticArena(loaded.calibration, fps=30.0, seed=2), sim)
    runner = SessionRunner(
        loaded, camera, FirmataBoard(sim.port), tmp_path, "m1", speed=1.0, simulated=True,
        rig=load_rig(rig_path),
    )
    assert runner.run() is EndReason.COMPLETED
    assert runner.session_dir is not None
    rises = [c for c, v in sim.edges(TRIG) if v == 1]
    frames = read_csv(runner.session_dir / "frames.csv")
    assert len(frames) > 100
    offsets_us = []
    for row in frames:
        k = int(row["trigger_index"])
        assert int(row["cam_frame_id"]) == k
        offsets_us.append(float(row["board_t_s"]) * 1e6 - rises[k - 1] / US)
    offset = statistics.median(offsets_us)
    bad = [(row["trigger_index"], round(o - offset)) for row, o in zip(frames, offsets_us) if abs(o - offset) > 10]
    assert not bad, bad
    # the laser's edges on the same clock
    events = read_csv(runner.session_dir / "events.csv")
    opened = [float(e["board_t_s"]) for e in events if e["kind"] == "board_gate_opened"]
    assert opened, "the light never came on"
    laser_rises_us = [c / US for c, v in sim.edges(LASER) if v == 1]
    for t in opened:
        assert min(abs(t * 1e6 - offset - r) for r in laser_rises_us) <= 10
    # the trigger stopped with the board's count: every edge on the pin was counted
    header = json.loads((runner.session_dir / "session.json").read_text())
    trigger = header["trigger"]
    assert trigger["final_count_confirmed"] is True
    assert trigger["triggers_sent"] == len(rises)
    assert trigger["triggers_missed"] == 0
    assert trigger["frames_received"] + trigger["triggers_after_last_frame"] == trigger["triggers_sent"]
    assert sim.edges(TRIG)[-1][1] == 0
