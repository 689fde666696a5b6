"""A raw serial client for the firmware in simavr: exact bytes out, events in, and every wait
counted in emulated cycles (the harness never runs ahead of the wall clock, but on a loaded
machine it can lag far behind it, so no wall-clock deadline may decide a test).

Replies are parsed loosely on purpose (event kind = first byte, reason = last byte), so the
same tests can run against the old firmware (protocol 1) to show they fail there:
``OPTORIG_TEST_FIRMWARE_ELF=/path/old.elf pytest tests/firmware``.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import serial

from rig.devices import firmata_codes as fc
from rig.devices.firmware_emulator import CYCLES_PER_S, SimavrUno

#: Every simavr test module: ``pytestmark = [pytest.mark.emulator, NEEDS_SIMAVR]``.
NEEDS_SIMAVR = pytest.mark.skipif(
    shutil.which("avr-gcc") is None or not Path("/usr/include/simavr/sim_avr.h").exists(),
    reason="needs gcc-avr, avr-libc, libsimavr-dev",
)
MS = CYCLES_PER_S // 1000
US = CYCLES_PER_S // 1_000_000
#: Last-resort wall-clock bound for a wait (a hung emulator), far above any emulated wait.
WALL_SAFETY_NET_S = 600.0


@dataclass(frozen=True)
class Reply:
    command: int
    payload: bytes

    @property
    def kind(self) -> int:
        return self.payload[0] if self.payload else -1

    @property
    def reason(self) -> int:
        if self.command == fc.SYSEX_OPTORIG_EVENT and len(self.payload) >= fc.EVENT_PAYLOAD_BYTES:
            return self.payload[fc.EVENT_PAYLOAD_BYTES - 2]  # protocol 3: the channel follows
        return self.payload[-1] if self.payload else -1

    @property
    def channel(self) -> int:
        """The event's channel (protocol 3), CHANNEL_BOARD for board events, -1 if none."""
        if self.command == fc.SYSEX_OPTORIG_EVENT and len(self.payload) >= fc.EVENT_PAYLOAD_BYTES:
            return self.payload[fc.EVENT_PAYLOAD_BYTES - 1]
        return -1


def config_payload(
    *,
    channel: int = 0,
    mode: int = fc.MODE_CONTINUOUS,
    laser_pin: int = 9,
    period_us: int = 50_000,
    width_us: int = 15_000,
    max_on_ms: int = 60_000,
    watchdog_ms: int = 300,
    pwm_pin: int = fc.PWM_PIN_NONE,
    pwm_level: int = 255,
    ramp_down_ms: int = 0,
    interlock_pin: int = fc.INTERLOCK_PIN_NONE,
    trip_level: int = 1,
    polarity: int = 0,
) -> bytes:
    return (
        bytes([channel, mode, laser_pin])
        + fc.to7(period_us, 4)
        + fc.to7(width_us, 4)
        + fc.to7(max_on_ms, 4)
        + fc.to7(watchdog_ms, 2)
        + bytes([pwm_pin])
        + fc.to7(pwm_level, 2)
        + fc.to7(ramp_down_ms, 2)
        + bytes([interlock_pin, trip_level, polarity])
    )


def sync_payload(enable: int, sync_pin: int, led_pin: int = fc.PWM_PIN_NONE, min_ms: int = 30, max_ms: int = 40, width_ms: int = 10) -> bytes:
    return bytes([enable, sync_pin, led_pin]) + fc.to7(min_ms, 2) + fc.to7(max_ms, 2) + fc.to7(width_ms, 2)


def sysex(command: int, payload: bytes = b"") -> bytes:
    return bytes([fc.START_SYSEX, command]) + payload + bytes([fc.END_SYSEX])


def gate(channel: int, open_: bool) -> bytes:
    return sysex(fc.SYSEX_OPTORIG_GATE, bytes([channel, int(open_)]))


def arm(channel: int) -> bytes:
    return sysex(fc.SYSEX_OPTORIG_ARM, bytes([channel]))


def heartbeat(mask: int, token: int = 1) -> bytes:
    return sysex(fc.SYSEX_OPTORIG_HEARTBEAT, bytes([mask, token]))


GATE_OPEN = gate(0, True)
GATE_CLOSE = gate(0, False)
ARM = arm(0)
HEARTBEAT = heartbeat(0x01)
IDENTIFY = sysex(fc.SYSEX_OPTORIG_IDENTIFY)
CAPABILITY_QUERY = bytes([0xF0, 0x6B, 0xF7])
VERSION_QUERY = bytes([0xF9])


def firmware_elf(default: str) -> str:
    """The ELF under test: the current build, or OPTORIG_TEST_FIRMWARE_ELF (e.g. an old one)."""
    return os.environ.get("OPTORIG_TEST_FIRMWARE_ELF", default)


class RawUno:
    """Bytes to and from the emulated Uno's UART through the harness's pty."""

    def __init__(self, sim: SimavrUno) -> None:
        self.sim = sim
        self._serial = serial.Serial(sim.port, 57600, timeout=0.05)
        self._parser = fc.FirmataParser()
        self._replies: list[Reply] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, name="raw-uno-reader", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while not self._stop.is_set():
            try:
                data = self._serial.read(4096)
            except (serial.SerialException, OSError):
                return
            if data:
                messages = self._parser.feed(data)
                with self._lock:
                    self._replies += [Reply(c, p) for c, p in messages]

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._serial.close()

    def __enter__(self) -> RawUno:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def send(self, data: bytes) -> None:
        self._serial.write(data)
        self._serial.flush()

    def replies(self) -> list[Reply]:
        with self._lock:
            return list(self._replies)

    def events(self, kind: int | None = None, channel: int | None = None) -> list[Reply]:
        return [
            r for r in self.replies()
            if r.command == fc.SYSEX_OPTORIG_EVENT
            and (kind is None or r.kind == kind)
            and (channel is None or r.channel == channel)
        ]

    def wait_emulated(self, seconds: float) -> None:
        """Let ``seconds`` of emulated time pass."""
        target = self.sim.cycle() + int(seconds * CYCLES_PER_S)
        self._wait(lambda: self.sim.cycle() >= target)

    def wait_event(
        self, kind: int, emulated_s: float = 2.0, count: int = 1, channel: int | None = None
    ) -> list[Reply]:
        """Wait until ``count`` events of ``kind`` (of ``channel``, if given) arrived, or
        ``emulated_s`` of emulated time passed (then the events so far are returned)."""
        target = self.sim.cycle() + int(emulated_s * CYCLES_PER_S)
        self._wait(lambda: len(self.events(kind, channel)) >= count or self.sim.cycle() >= target)
        return self.events(kind, channel)

    def _wait(self, done: object) -> None:
        pause = threading.Event()
        wall_deadline = time.monotonic() + WALL_SAFETY_NET_S
        while not done():  # type: ignore[operator]
            if time.monotonic() > wall_deadline:
                raise AssertionError("the emulator stopped advancing")
            pause.wait(0.01)

    def start_session(self, payload: bytes) -> None:
        """CONFIG then ARM of the payload's channel, and wait for both answers (emulated time)."""
        channel = payload[0]
        acks = len(self.events(fc.EVENT_CONFIG_ACK, channel))
        armed = len(self.events(fc.EVENT_ARMED, channel))
        self.send(sysex(fc.SYSEX_OPTORIG_CONFIG, payload))
        self.wait_event(fc.EVENT_CONFIG_ACK, count=acks + 1, channel=channel)
        self.send(arm(channel))
        self.wait_event(fc.EVENT_ARMED, count=armed + 1, channel=channel)


def rises_falls(edges: list[tuple[int, int]]) -> tuple[list[int], list[int]]:
    return [c for c, v in edges if v == 1], [c for c, v in edges if v == 0]


def level_at(edges: list[tuple[int, int]], cycle: int, initial: int = 0) -> int:
    level = initial
    for c, v in edges:
        if c > cycle:
            break
        level = v
    return level


def mark(sim: SimavrUno, text: str) -> int:
    """Write a mark into the pin log and return its emulated cycle."""
    sim.command(f"mark {text}")
    cycle = sim.cycle()  # answered after the mark was logged
    lines = [line for line in sim.lines() if line.kind == "M" and line.fields[:1] == (text,)]
    return lines[-1].cycle if lines else cycle


def command_cycle(sim: SimavrUno, *fields: str) -> int:
    """Emulated cycle of the last harness mark whose fields start with ``fields``."""
    sim.cycle()  # answered after every earlier command was handled (and logged)
    return [line.cycle for line in sim.lines() if line.kind == "M" and line.fields[: len(fields)] == fields][-1]


def trigger_payload(enable: int, pin: int = 8, period_us: int = 33_333, width_us: int = 1000, report_every: int = 1) -> bytes:
    """SYSEX TRIGGER payload: enable, pin, period_us (4 x 7 bits), width_us (3), report_every (2)."""
    return bytes([enable, pin]) + fc.to7(period_us, 4) + fc.to7(width_us, 3) + fc.to7(report_every, 2)
