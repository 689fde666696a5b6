"""Shared by the simavr tests: the emulator may run far slower than real time on a loaded
machine, so the host must not call the board lost after its usual 1 s without a heartbeat
ack (wall clock). Every firmware test measures in emulated cycles instead."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from rig.devices.firmware_emulator import SimavrUno, build_firmware
from tests.firmware.raw_client import RawUno, firmware_elf


@pytest.fixture(autouse=True)
def patient_host(monkeypatch: pytest.MonkeyPatch) -> None:
    from rig.devices import firmata_board

    monkeypatch.setattr(firmata_board, "ACK_TIMEOUT_S", 600.0)


@pytest.fixture(scope="module")
def built() -> tuple[str, str]:
    """(firmware ELF, simavr harness): this tree's firmware, or the build named by
    OPTORIG_TEST_FIRMWARE_ELF (to show a test fails on an old firmware)."""
    elf, harness = build_firmware()
    return firmware_elf(elf), harness


@pytest.fixture
def sim(built: tuple[str, str], tmp_path: Path) -> Iterator[SimavrUno]:
    """The firmware running in simavr on a pseudo-terminal, pin edges logged in cycles."""
    with SimavrUno(built[0], built[1], str(tmp_path / "pins.log")) as uno:
        yield uno


@pytest.fixture
def uno(sim: SimavrUno) -> Iterator[RawUno]:
    """A raw serial client on ``sim``, after the boot messages."""
    with RawUno(sim) as raw:
        raw.wait_emulated(0.05)  # boot messages
        yield raw
