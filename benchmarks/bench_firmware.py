"""Gate latency, pulse timing and watchdog of the real firmware in simavr (prints numbers,
asserts nothing).

All times are emulated CPU cycles from the harness's pin log (16 MHz), not wall-clock time.
- Gate latency: from the harness reading the host's `gate open` sysex off the pty (written by
  pyfirmata2 via FirmataBoard) to the laser pin's first rising edge.
- Pulse timing: period and width of 100 consecutive pulses at 20 Hz / 15 ms and 40 Hz / 5 ms,
  worst absolute error against the requested values.
- Watchdog: from the last byte a SIGKILLed host process wrote to the laser pin going low.
"""

from __future__ import annotations

import os
import platform
import signal
import subprocess
import sys
import time
import statistics
import tempfile
import threading

from rig.devices.board import LaserConfig
from rig.devices.firmata_board import FirmataBoard
from rig.devices.firmware_emulator import (
    CYCLES_PER_S,
    HOST_OPENS_GATE_SCRIPT,
    SimavrUno,
    build_firmware,
)

TRIALS = 50


def main() -> None:
    elf, harness = build_firmware()
    pause = threading.Event()
    with tempfile.TemporaryDirectory() as tmp, SimavrUno(elf, harness, f"{tmp}/pins.log") as sim:
        with FirmataBoard(sim.port) as board:
            board.configure(LaserConfig(frequency_hz=20.0, pulse_width_ms=15.0, max_on_s=60))
            for _ in range(TRIALS):
                board.set_gate(True)
                pause.wait(0.06)
                board.set_gate(False)
                pause.wait(0.04)
            board.events()
        lines = sim.lines()
    gate_open_rx = [line.cycle for line in lines if line.kind == "R" and "f00301f7" in line.fields[0]]
    rises = [line.cycle for line in lines if line.kind == "P" and line.fields == ("9", "1")]
    latencies_us = []
    for rx in gate_open_rx:
        first = next((c for c in rises if c >= rx), None)
        if first is not None:
            latencies_us.append((first - rx) / (CYCLES_PER_S / 1e6))
    latencies_us.sort()
    p99 = latencies_us[min(len(latencies_us) - 1, int(0.99 * len(latencies_us)))]
    print(f"machine: {platform.machine()} {platform.processor()} python {platform.python_version()}")
    print(f"gate-open command (pty read) -> first laser edge, emulated, n={len(latencies_us)}:")
    print(
        f"  median {statistics.median(latencies_us):.1f} us  p99 {p99:.1f} us  "
        f"min {latencies_us[0]:.1f} us  max {latencies_us[-1]:.1f} us"
    )
    print("  (4-byte sysex at 57600 baud = 694 us of wire time is included)")
    for frequency_hz, width_ms in ((20.0, 15.0), (40.0, 5.0)):
        pulse_timing(elf, harness, frequency_hz, width_ms)
    watchdog(elf, harness)


def _edges(sim: SimavrUno, pin: int) -> tuple[list[int], list[int]]:
    edges = sim.edges(pin)
    return [c for c, v in edges if v == 1], [c for c, v in edges if v == 0]


def pulse_timing(elf: str, harness: str, frequency_hz: float, width_ms: float, n: int = 100) -> None:
    pause = threading.Event()
    with tempfile.TemporaryDirectory() as tmp, SimavrUno(elf, harness, f"{tmp}/pins.log") as sim:
        with FirmataBoard(sim.port) as board:
            board.configure(LaserConfig(frequency_hz=frequency_hz, pulse_width_ms=width_ms, max_on_s=60))
            board.set_gate(True)
            deadline = time.monotonic() + 60
            while len(_edges(sim, 9)[0]) < n + 2 and time.monotonic() < deadline:
                pause.wait(0.05)
            board.set_gate(False)
        rises, falls = _edges(sim, 9)
    falls = [c for c in falls if c > rises[0]]
    rises, falls = rises[: n + 1], falls[:n]
    us = CYCLES_PER_S / 1e6
    period_err = [abs((b - a) / us - 1e6 / frequency_hz) for a, b in zip(rises, rises[1:])]
    width_err = [abs((f - r) / us - width_ms * 1000) for r, f in zip(rises, falls)]
    print(
        f"pulse train {frequency_hz:g} Hz / {width_ms:g} ms over {len(width_err)} pulses: "
        f"worst period error {max(period_err):.2f} us, worst width error {max(width_err):.2f} us"
    )


def watchdog(elf: str, harness: str, trials: int = 3) -> None:
    pause = threading.Event()
    delays_ms = []
    for _ in range(trials):
        with tempfile.TemporaryDirectory() as tmp, SimavrUno(elf, harness, f"{tmp}/pins.log") as sim:
            host = subprocess.Popen([sys.executable, "-c", HOST_OPENS_GATE_SCRIPT, sim.port], stdout=subprocess.PIPE, text=True)
            assert host.stdout is not None
            host.stdout.readline()
            pause.wait(0.5)
            os.kill(host.pid, signal.SIGKILL)
            host.wait()
            host.stdout.close()
            start = sim.cycle()
            while sim.cycle() - start < CYCLES_PER_S // 2:
                pause.wait(0.05)
            lines = sim.lines()
            last_rx = max(line.cycle for line in lines if line.kind == "R")
            rises, falls = _edges(sim, 9)
            off = [c for c in falls if rises and c > rises[-1]]
            if off:
                delays_ms.append((off[0] - last_rx) / (CYCLES_PER_S / 1000))
    print(
        f"watchdog (host SIGKILLed, timeout 300 ms): laser off {', '.join(f'{d:.1f}' for d in delays_ms)} ms "
        "after the host's last byte"
    )


if __name__ == "__main__":
    main()
