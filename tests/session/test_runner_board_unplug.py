"""A real FirmataBoard (over a pty to the firmware emulator) unplugged mid-session."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from rig.devices.firmata_board import FirmataBoard
from rig.devices.firmware_emulator import EmulatedUno
from rig.devices.synthetic import SyntheticArena
from rig.session.runner import EndReason, RunState, SessionRunner
from tests.conftest import protocol_variant
from tests.session.helpers import read_csv, read_json


def test_unplugged_board_ends_the_session_with_the_laser_off(default_loaded: Any, tmp_path: Path) -> None:
    loaded = protocol_variant(
        default_loaded,
        phases=[{"name": "light", "duration_s": 60.0, "mode": "open_loop"}],
        tracking={"background": {"source": "median", "duration_s": 2.0, "n_frames": 20}},
    )
    link = str(tmp_path / "ttyOPTORIG")
    emu = EmulatedUno(link=link).start()
    board = FirmataBoard(link, ready_timeout_s=2.0)
    runner = SessionRunner(
        loaded, SyntheticArena(loaded.calibration, fps=30.0), board, tmp_path / "out", "m1",
        speed=1.0, simulated=True,
    )
    result: list[EndReason] = []
    worker = threading.Thread(target=lambda: result.append(runner.run()))
    worker.start()
    try:
        pause = threading.Event()
        deadline = time.monotonic() + 20
        while not emu.rules.gate_open and time.monotonic() < deadline:  # open loop: light on
            pause.wait(0.02)
        assert emu.rules.gate_open and runner.status.state is RunState.RUNNING
        emu.unplug()  # the USB cable is pulled
        worker.join(15)
        assert not worker.is_alive()
    finally:
        runner.request_stop()
        worker.join(5)
        emu.unplug()
    assert result == [EndReason.BOARD_LOST]
    assert not emu.rules.gate_open  # the device side: laser off
    assert not board.gate_open
    session_dir = runner.session_dir
    assert session_dir is not None
    assert read_json(session_dir / "session.json")["end_reason"] == "board_lost"
    events = read_csv(session_dir / "events.csv")
    kinds = [e["kind"] for e in events]
    assert "board_disconnected" in kinds
    assert any(e["kind"] == "fault" and "BoardLost" in e["detail"] for e in events)
    laser = [e for e in events if e["kind"] in ("laser_on", "laser_off")]
    assert laser and laser[-1]["kind"] == "laser_off"
    assert (session_dir / "summary.json").is_file()
