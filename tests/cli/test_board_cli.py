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
                     "--frequency-hz", "20", "--pulse-width-ms", "15", "--yes"])
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
                     "--pulse-width-ms", "60", "--yes"])
        assert not emu.rules.gate_open
    err = capsys.readouterr().err
    assert code != 0 and "Traceback" not in err and err.startswith("error:")


def test_board_ports_lists_or_says_none(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["board", "ports"]) == 0
    assert capsys.readouterr().out.strip()


def test_test_pulse_needs_yes_when_stdin_is_not_a_terminal(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 18: `test-pulse` fired the laser without saying so or asking (old code: exit 0
    and pulses delivered). Not on a terminal and without --yes, it refuses before opening
    the port."""
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO("yes\n"))
    opened: list[str] = []
    monkeypatch.setattr(
        "rig.devices.firmata_board.FirmataBoard.__init__",
        lambda self, port, *a, **k: opened.append(port),  # never reached
    )
    code = main(["board", "test-pulse", "--port", "/dev/null"])
    err = capsys.readouterr().err
    assert code == 2 and not opened
    assert "fires the laser" in err and "--yes" in err


def test_test_pulse_on_a_terminal_asks_and_a_no_fires_nothing(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import io

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr("sys.stdin", Tty("no\n"))
    opened: list[str] = []
    monkeypatch.setattr(
        "rig.devices.firmata_board.FirmataBoard.__init__",
        lambda self, port, *a, **k: opened.append(port),
    )
    code = main(["board", "test-pulse", "--port", "/dev/null"])
    captured = capsys.readouterr()
    assert code == 2 and not opened
    assert "Type yes to fire" in captured.out and "not confirmed" in captured.err
