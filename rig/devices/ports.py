"""Serial port discovery: Arduino boards first."""

from __future__ import annotations

from dataclasses import dataclass

from rig.errors import ConfigError

#: USB vendor ids of Arduino boards and of the USB-serial chips on common clones.
ARDUINO_VIDS = {
    0x2341: "Arduino",
    0x2A03: "Arduino (.org)",
    0x1A86: "CH340 (clone)",
    0x0403: "FTDI",
    0x10C4: "CP210x",
}


@dataclass(frozen=True, slots=True)
class SerialPortInfo:
    device: str
    description: str
    vid: int | None
    pid: int | None
    serial_number: str | None
    is_arduino: bool


def list_ports() -> list[SerialPortInfo]:
    """All serial ports, Arduino-like ones first (then by device name)."""
    from serial.tools import list_ports as lp

    found = []
    for p in lp.comports():
        vid = p.vid
        found.append(
            SerialPortInfo(
                device=p.device,
                description=p.description or "",
                vid=vid,
                pid=p.pid,
                serial_number=p.serial_number,
                is_arduino=vid in ARDUINO_VIDS or "arduino" in (p.description or "").lower(),
            )
        )
    found.sort(key=lambda info: (not info.is_arduino, info.device))
    return found


def resolve_port(port: str) -> str:
    """Return ``port``, or for ``auto`` the single Arduino-like port. Raises ConfigError."""
    if port != "auto":
        return port
    arduinos = [p for p in list_ports() if p.is_arduino]
    if not arduinos:
        raise ConfigError("--port auto: no Arduino-like serial port found (see `rig board ports`)")
    if len(arduinos) > 1:
        names = ", ".join(p.device for p in arduinos)
        raise ConfigError(f"--port auto: several Arduino-like ports ({names}); pass --port explicitly")
    return arduinos[0].device
