"""A 5 s fuzz run of the real firmware in simavr (benchmarks/bench_firmware_fuzz.py runs 60 s).

Random bytes, malformed and valid sysex, standard Firmata on every pin, heartbeats that stall,
a bouncing interlock and resets; rig.devices.firmware_fuzz.check tests every 10 us of emulated
time that the laser is never on with the gate closed, past the watchdog or the cap, or more
than 1 ms after the interlock opened. This run fails on the old firmware of ac73aec: laser on
without a standing gate-open, past the cap (by 153 ms) and with the interlock open
(`python benchmarks/bench_firmware_fuzz.py --seconds 5 --seed 2026 --firmware OLD.elf`).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from rig.devices.firmware_emulator import build_firmware
from rig.devices.firmware_fuzz import fuzz
from tests.firmware.raw_client import NEEDS_SIMAVR

pytestmark = [pytest.mark.emulator, NEEDS_SIMAVR]


def test_five_seconds_of_fuzz_break_no_safety_invariant(tmp_path: Path) -> None:
    elf, harness = build_firmware()
    report = fuzz(harness, elf, tmp_path, seconds=5.0, seed=2026)
    assert report.violations == []
    assert report.samples >= 500_000  # every 10 us of 5 s
    assert report.bytes_received > 3000 and report.gate_windows >= 1 and report.interlock_trips >= 5
    assert report.worst_watchdog_overrun_ms <= 2.25 and report.worst_cap_overrun_ms <= 0.25
    assert report.worst_interlock_latency_us < 1000
