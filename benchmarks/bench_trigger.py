"""The firmware's camera trigger, measured in simavr (emulated cycles, script mode).

    python benchmarks/bench_trigger.py [--triggers 300]

For 30, 60, 100, 200 and 500 frames/s, with a 500 Hz / 1 ms laser train running, the sync
LED flashing and heartbeats every 100 ms: the worst trigger period and width error, the
worst drift of rise k from first + (k - 1) x period, the worst difference between an
EVENT_TRIGGER's device time and its pin edge (after one constant offset), the laser train's
worst period and width error, the firmware's worst safety-tick lateness and events dropped;
and the same laser/tick numbers without the trigger for comparison. Prints numbers; asserts
nothing.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from rig.devices.firmware_emulator import build_firmware
from rig.devices.firmware_fuzz import measure_trigger

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--triggers", type=int, default=300, help="triggers per rate (default 300)")
    args = parser.parse_args()
    elf, harness = build_firmware()
    for sync in (False, True):
      with tempfile.TemporaryDirectory() as tmp:
        print("with the sync LED flashing every 30-60 ms:" if sync else "without the sync LED:")
        base = measure_trigger(harness, elf, Path(tmp), None, 3.0, sync)
        print(f"  no trigger: laser 500 Hz period err {base['laser_period_err_us']:.2f} us, width err "
              f"{base['laser_width_err_us']:.2f} us; safety tick worst late {base['tick_late_us']:.1f} us")
        for fps in (30.0, 60.0, 100.0, 200.0, 500.0):
            r = measure_trigger(harness, elf, Path(tmp), fps, args.triggers / fps, sync)
            print(
                f"  {fps:5.0f} fps: {int(r['triggers'])} triggers, period err {r['period_err_us']:.2f} us, "
                f"width err {r['width_err_us']:.2f} us, drift {r['drift_us']:.2f} us, "
                f"event-edge err {r['event_err_us']:.2f} us ({int(r['events'])} events, "
                f"{int(r['events_dropped'])} dropped); laser period err {r['laser_period_err_us']:.2f} us, "
                f"width err {r['laser_width_err_us']:.2f} us; safety tick worst late {r['tick_late_us']:.1f} us"
            )


if __name__ == "__main__":
    main()
