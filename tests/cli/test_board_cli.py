"""`rig board` against the firmware emulator on a pseudo-terminal (the real FirmataBoard path)."""

from __future__ import annotations

import re

import pytest

from rig.cli import main
from rig.devices.firmware_emulator import EmulatedUno


def test_board_info_names_the_firmware(capsys: pytest.CaptureFixture[str]) -> None:
    with EmulatedUno() as emu:
        assert main(["board", "info", "--port", emu.port]) == 0
    out = capsys.readouterr().out
    assert f"port:             {emu.port}" in out
    assert "firmware:         optorig" in out
    assert "device-timed:     yes" in out


def test_board_test_pulse_reports_delivered_pulses(capsys: pytest.CaptureFixture[str]) -> None:
    with EmulatedUno() as emu:
        code = main(["board", "test-pulse", "--port", emu.port, "--duration-s", "0.5",
                     "--frequency-hz", "20", "--pulse-width-ms", "15"])
        assert not emu.rules.gate_open  # the gate is closed again
    out = capsys.readouterr().out
    assert code == 0, out
    match = re.search(r"delivered pulses: (\d+) \(expected about 10\); laser pin now 0", out)
    assert match, out
    # The gate stays open at least 0.5 s (20 Hz: >= 10 pulses, the first at the opening);
    # a busy machine may oversleep, so the upper bound is generous.
    assert 10 <= int(match.group(1)) <= 40


def test_board_test_pulse_refuses_what_the_firmware_cannot_do(capsys: pytest.CaptureFixture[str]) -> None:
    with EmulatedUno() as emu:
        code = main(["board", "test-pulse", "--port", emu.port, "--frequency-hz", "20",
                     "--pulse-width-ms", "60"])
        assert not emu.rules.gate_open
    err = capsys.readouterr().err
    assert code != 0 and "Traceback" not in err and err.startswith("error:")


def test_board_ports_lists_or_says_none(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["board", "ports"]) == 0
    assert capsys.readouterr().out.strip()
