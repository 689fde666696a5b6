"""Pulse timing of four laser channels of the real firmware in simavr (prints numbers, asserts
nothing). Issue 16: every channel's edges within 10 us, also when edges of different
channels coincide.

Runs the harness in script mode (unpaced; all times are emulated cycles from the pin log,
16 MHz). Per scenario and channel it prints the worst rise-to-rise period error, the worst
width error and the worst absolute edge error (|edge - (first rise + n period [+ width])|),
in microseconds, plus the firmware's flash and RAM use.

    .venv/bin/python benchmarks/bench_channels.py [--seconds 7.3]
"""

from __future__ import annotations

import argparse
import subprocess

from rig.devices.firmware_emulator import build_firmware
from rig.devices.firmware_script import (
    MS,
    Script,
    arm_message,
    config_message,
    gate_message,
    train_timing,
)

PINS = (9, 10, 8, 4)

#: (name, [(period_us, width_us) per channel])
SCENARIOS = (
    # all four 20 Hz / 15 ms, opened in one write: edges ~0.7 ms apart for the whole run
    ("4 x 20 Hz/15 ms, opened together", [(50_000, 15_000)] * 4),
    # 50.00/49.99/49.98/49.97 ms: every channel's edges slide through the others' (around
    # the 70th pulse all four coincide within microseconds): the worst case
    ("4 x ~20 Hz/15 ms sweeping through coinciding edges", [(50_000 - 10 * k, 15_000) for k in range(4)]),
    ("500 Hz/1 ms + 130 Hz/2 ms + 50 Hz/5 ms + 20 Hz/15 ms", [(2_000, 1_000), (7_690, 2_000), (20_000, 5_000), (50_000, 15_000)]),
    ("4 x ~500 Hz/1 ms (periods 2.000/2.001/2.002/2.003 ms)", [(2_000 + k, 1_000) for k in range(4)]),
)


def run(elf: str, harness: str, trains: list[tuple[int, int]], seconds: float) -> list[str]:
    script = Script()
    script.tx(10, b"".join(config_message(k, PINS[k], period_us=p, width_us=w) for k, (p, w) in enumerate(trains)))
    script.tx(40, b"".join(arm_message(k) for k in range(4)))
    script.tx(100, b"".join(gate_message(k, True) for k in range(4)))
    end_ms = 100 + seconds * 1000
    script.heartbeats(50, end_ms, 0x0F)
    result = script.run(elf, harness, end_ms)
    rows = []
    for k, (period, width) in enumerate(trains):
        t = train_timing(result, PINS[k], period, width)
        rows.append(
            f"  channel {k} (D{PINS[k]}): {t.pulses:5d} pulses, worst period error {t.worst_period_error_us:5.2f} us, "
            f"width {t.worst_width_error_us:5.2f} us, edge {t.worst_edge_error_us:5.2f} us"
        )
    rises = sorted((c, k) for k in range(4) for c in result.rises(PINS[k]))
    closest = min((b[0] - a[0] for a, b in zip(rises, rises[1:]) if a[1] != b[1]), default=0)
    rows.append(f"  closest rises of two channels: {closest / (MS / 1000):.2f} us apart")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=7.3, help="emulated seconds per scenario (default 7.3)")
    args = parser.parse_args()
    elf, harness = build_firmware()
    size = subprocess.run(["avr-size", elf], capture_output=True, text=True, check=True).stdout.splitlines()[1].split()
    text, data, bss = int(size[0]), int(size[1]), int(size[2])
    print(f"firmware: flash {text + data} of 32256 bytes, RAM (static) {data + bss} of 2048 bytes")
    for name, trains in SCENARIOS:
        print(name)
        for row in run(elf, harness, trains, args.seconds):
            print(row)


if __name__ == "__main__":
    main()
