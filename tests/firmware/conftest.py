"""Shared by the simavr tests: the emulator may run far slower than real time on a loaded
machine, so the host must not call the board lost after its usual 1 s without a heartbeat
ack (wall clock). Every firmware test measures in emulated cycles instead."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def patient_host(monkeypatch: pytest.MonkeyPatch) -> None:
    from rig.devices import firmata_board

    monkeypatch.setattr(firmata_board, "ACK_TIMEOUT_S", 600.0)
