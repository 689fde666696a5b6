"""Fuzz the real firmware in simavr for 60 s of emulated time and print what was checked.

    python benchmarks/bench_firmware_fuzz.py [--seconds 60] [--seed 11] [--firmware ELF]

Random bytes, malformed and valid sysex, standard Firmata on every pin (role pins included),
heartbeats that stall, query floods, a bouncing interlock and MCU resets
(rig/devices/firmware_fuzz.py). Every 10 us of emulated time is checked: laser never on with
the gate closed or without a standing gate-open, never past the watchdog or the cap, never on
(nor the PWM output high) once the interlock has been open for 1 ms. Also prints the
firmware's own worst main-loop iteration and worst safety-tick lateness (RAM counters read
by the harness at the end) and flash/RAM use. Prints numbers; asserts nothing.
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
import time
from pathlib import Path

from rig.devices.firmware_emulator import build_firmware
from rig.devices.firmware_fuzz import fuzz


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--firmware", help="ELF to fuzz instead of the current build")
    args = parser.parse_args()
    elf, harness = build_firmware()
    elf = args.firmware or elf
    size = subprocess.run(["avr-size", elf], capture_output=True, text=True).stdout.splitlines()[-1].split()
    text, data, bss = (int(v) for v in size[:3])
    print(f"firmware {elf}: flash {text + data} B of 32256, RAM (static) {data + bss} B of 2048")
    start = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        report = fuzz(harness, elf, Path(tmp), args.seconds, args.seed)
    wall = time.monotonic() - start
    print(f"emulated {report.emulated_s:.1f} s in {wall:.0f} s wall, seed {args.seed}")
    print(f"  host bytes received by the UART: {report.bytes_received}")
    print(f"  10-us samples checked: {report.samples}")
    print(f"  gate windows: {report.gate_windows}, interlock trips: {report.interlock_trips} "
          f"({report.interlock_trips_with_light_on} with the light on), resets: {report.resets}")
    print(f"  violations: {len(report.violations)}")
    for violation in report.violations[:10]:
        print(f"    {violation}")
    print(f"  worst interlock edge -> laser off: {report.worst_interlock_latency_us:.1f} us")
    print(f"  worst on-time past the watchdog (vs the harness's feed time of the last keepalive): "
          f"{report.worst_watchdog_overrun_ms:.3f} ms")
    print(f"  worst on-time past the cap: {report.worst_cap_overrun_ms:.3f} ms")
    stats = report.stats
    if "stat_loop_max" in stats:
        print(f"  worst main-loop iteration: {stats['stat_loop_max'] / 2:.1f} us")
        print(f"  worst safety-tick lateness: {stats['stat_tick_late_max'] / 2:.1f} us")
        print(f"  replies dropped (transmit queue full): {stats.get('replies_dropped')}, "
              f"events dropped: {stats.get('events_dropped')}")


if __name__ == "__main__":
    main()
