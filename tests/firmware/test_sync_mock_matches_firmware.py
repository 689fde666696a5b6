"""The mock board's sync LED is the firmware's: same first edge, same random intervals
(the firmware's xorshift32 and seed), same pulse width, counted on the device's clock.
The latency self-test's simulation relies on it. Fails on the code before the self-test
(MockBoard had no SYNC command)."""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from rig.clock import ManualClock
from rig.devices.board import BoardEvent, BoardEventKind
from rig.devices.firmata_board import FirmataBoard
from rig.devices.firmware_emulator import CYCLES_PER_S, SimavrUno, build_firmware
from rig.devices.mock_board import MockBoard
from tests.firmware.raw_client import NEEDS_SIMAVR

pytestmark = [pytest.mark.emulator, NEEDS_SIMAVR]
SYNC = dict(sync_pin=7, led_pin=12, min_interval_ms=100, max_interval_ms=300, width_ms=40)


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[SimavrUno]:
    elf, hex_ = build_firmware()
    with SimavrUno(elf, hex_, str(tmp_path / "pins.log")) as uno:
        yield uno


def test_mock_sync_led_follows_the_firmware_schedule(sim: SimavrUno) -> None:
    with FirmataBoard(sim.port) as board:
        board.configure_sync(True, **SYNC)  # type: ignore[arg-type]
        syncs: list[BoardEvent] = []
        pause = threading.Event()
        deadline = time.monotonic() + 60
        while len(syncs) < 6 and time.monotonic() < deadline:
            syncs += [e for e in board.events() if e.kind is BoardEventKind.SYNC]
            pause.wait(0.02)
        board.configure_sync(False)
    assert len(syncs) >= 6
    ms = CYCLES_PER_S / 1000
    led = sim.edges(12)
    rises = [c for c, v in led if v == 1]
    falls = [c for c, v in led if v == 0 and c > rises[0]]
    fw_intervals = [(b - a) / ms for a, b in zip(rises[:6], rises[1:6])]
    fw_widths = [(f - r) / ms for r, f in zip(rises[:5], falls[:5])]
    # the firmware's reported edge times are its LED edges
    reported = [e.device_us for e in syncs[:6]]
    assert all(r is not None for r in reported)
    assert [(b - a) / 1000 for a, b in zip(reported, reported[1:])] == pytest.approx(fw_intervals, abs=0.05)  # type: ignore[operator]

    clock = ManualClock()
    mock = MockBoard(clock=clock)
    mock.open()
    mock.configure_sync(True, **SYNC)  # type: ignore[arg-type]
    clock.advance_s(5.0)
    mock_syncs = [e.device_us for e in mock.events() if e.kind is BoardEventKind.SYNC]
    mock_intervals = [(b - a) / 1000 for a, b in zip(mock_syncs[:6], mock_syncs[1:6])]  # type: ignore[operator]
    assert mock_intervals == pytest.approx(fw_intervals, abs=0.05)
    assert mock_syncs[0] == SYNC["min_interval_ms"] * 1000  # first edge min_interval after the command
    assert fw_widths == pytest.approx([SYNC["width_ms"]] * 5, abs=0.05)
    first = mock_syncs[0] * 1000  # type: ignore[operator]
    width_ns = SYNC["width_ms"] * 1_000_000
    assert mock.sync_led_lit(first + width_ns - 1_000_000, first + width_ns - 500_000)
    assert not mock.sync_led_lit(first + width_ns + 500_000, first + width_ns + 1_000_000)
