"""Safety bounds of the host paths against the real firmware in simavr (prints numbers,
asserts nothing; the tests in tests/firmware/test_host_safety_simavr.py assert the bounds).

All delays are emulated CPU cycles from the harness's pin log (16 MHz), not wall time.
- loop stall: a tracker hangs with the gate open (continuous light); delay from the hang
  (a harness mark written by the hanging call) to the laser pin going low, with the
  supervisor's gate command working, and with it lost (only the stopped heartbeats and the
  firmware watchdog can close the gate). Bound: loop_stall_ms + heartbeat_timeout_ms.
- signal: SIGTERM / SIGHUP to `rig board test-pulse`; delay from the signal (a harness mark
  written just before it is sent) to the pin's last change. Bound: 100 ms.

    python benchmarks/bench_safety_bounds.py [--trials N]
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rig.devices.firmware_emulator import CYCLES_PER_S, SimavrUno, build_firmware  # noqa: E402

MS = CYCLES_PER_S // 1000


def _loop_stall(elf: str, harness: str, tmp: str, host_close_works: bool) -> float:
    from rig.devices.registry import make_rig_board
    from rig.protocol.load import load_protocol
    from rig.rigfile.load import load_rig
    from rig.session.runner import SessionRunner
    from tests.firmware.test_host_safety_simavr import HangingTracker, protocol_file, rig_file
    from tests.session.helpers import ScriptedSource

    with SimavrUno(elf, harness, f"{tmp}/pins.log") as sim:
        rig = load_rig(rig_file(Path(tmp), sim.port))
        loaded = load_protocol(protocol_file(Path(tmp)))
        tracker = HangingTracker(sim, hang_at=40)
        runner = SessionRunner(
            loaded, ScriptedSource(), make_rig_board(rig.config), Path(tmp) / "out", "b1",
            speed=1.0, simulated=True, rig=rig, tracker_factory=lambda _l, _s: tracker,
        )
        if not host_close_works:
            board: Any = runner._board
            board.laser_off = lambda: None
        done = threading.Event()
        runner.on_takeover = lambda end: done.set()
        thread = threading.Thread(target=runner.run, daemon=True)
        thread.start()
        tracker.hung.wait(60)
        done.wait(30)
        start = sim.cycle()
        while sim.cycle() - start < 600 * MS:
            time.sleep(0.02)
        tracker.release.set()
        thread.join(30)
        hang = next(l.cycle for l in sim.lines() if l.kind == "M" and l.fields[:1] == ("hang",))
        fall = next(c for c, v in sim.edges(9) if v == 0 and c >= hang)
        return (fall - hang) / MS


def _signal(elf: str, harness: str, tmp: str, signum: int) -> float:
    with SimavrUno(elf, harness, f"{tmp}/pins.log") as sim:
        proc = subprocess.Popen(
            [sys.executable, "-m", "rig", "board", "test-pulse", "--port", sim.port, "--duration-s", "60", "--yes"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        while not any(v == 1 for _, v in sim.edges(9)):
            time.sleep(0.05)
        time.sleep(0.3)
        sim.command("mark signal")
        proc.send_signal(signum)
        proc.wait(30)
        sent = next(l.cycle for l in sim.lines() if l.kind == "M" and l.fields[:1] == ("signal",))
        return (sim.edges(9)[-1][0] - sent) / MS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--trials", type=int, default=3)
    args = parser.parse_args()
    os.chdir(Path(__file__).resolve().parents[1])
    elf, harness = build_firmware()
    rows: list[tuple[str, list[float], str]] = []
    for label, works in (("loop stall, host command works", True), ("loop stall, host command lost", False)):
        values = []
        for _ in range(args.trials):
            with tempfile.TemporaryDirectory() as tmp:
                values.append(_loop_stall(elf, harness, tmp, works))
        rows.append((label, values, "<= 450 ms (150 + 300)"))
    for signum in (signal.SIGTERM, signal.SIGHUP):
        values = []
        for _ in range(args.trials):
            with tempfile.TemporaryDirectory() as tmp:
                values.append(_signal(elf, harness, tmp, signum))
        rows.append((f"{signal.Signals(signum).name} to test-pulse", values, "<= 100 ms"))
    print(f"{'path':36s} {'median ms':>10s} {'max ms':>8s}  bound")
    for label, values, bound in rows:
        print(f"{label:36s} {statistics.median(values):10.1f} {max(values):8.1f}  {bound}")


if __name__ == "__main__":
    main()
