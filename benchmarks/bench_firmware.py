"""Gate latency and pulse timing of the real firmware in simavr (prints numbers, asserts nothing).

Latency = emulated time from the harness reading the host's `gate open` sysex off the pty
(written by pyfirmata2 via FirmataBoard) to the laser pin's first rising edge, in cycles.
"""

from __future__ import annotations

import platform
import statistics
import tempfile
import threading

from rig.devices.board import LaserConfig
from rig.devices.firmata_board import FirmataBoard
from rig.devices.firmware_emulator import CYCLES_PER_S, SimavrUno, build_firmware

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


if __name__ == "__main__":
    main()
