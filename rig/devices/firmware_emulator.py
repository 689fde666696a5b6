"""A Python model of the optorig firmware's rules, and a serial-protocol emulator of it.

``FirmwareRules`` is the firmware's gate state machine (arming, host watchdog, continuous-on
cap, interlock, pulse counting) driven by explicit microsecond times, so ``MockBoard`` and
``EmulatedUno`` share one model of what the real firmware does. ``EmulatedUno`` speaks the
firmware's Firmata + sysex protocol on the master side of a pseudo-terminal (``os.openpty``),
so the real ``FirmataBoard`` and pyfirmata2 can be tested without hardware or simavr.
The C firmware (firmware/optorig_fw) stays the reference; tests/firmware runs it in simavr.
"""

from __future__ import annotations

import logging
import os
import select
import threading
import time
import tty
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from rig.devices import firmata_codes as fc
from rig.devices.limits import LASER_PIN_DEFAULT
from rig.devices.limits import (
    FIRMWARE_MAX_FREQUENCY_HZ,
    FIRMWARE_MIN_PULSE_GAP_MS,
    FIRMWARE_MIN_PULSE_WIDTH_MS,
    WATCHDOG_TIMEOUT_MS_MAX,
    WATCHDOG_TIMEOUT_MS_MIN,
)

MAX_FREQUENCY_HZ = int(FIRMWARE_MAX_FREQUENCY_HZ)
MIN_PULSE_WIDTH_US = int(round(FIRMWARE_MIN_PULSE_WIDTH_MS * 1000))
MIN_PULSE_GAP_US = int(round(FIRMWARE_MIN_PULSE_GAP_MS * 1000))

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RuleEvent:
    """One firmware event report (codes from firmware/optorig_fw/config.h)."""

    kind: int
    device_us: int
    pulses: int = 0
    pin_level: int = 0
    reason: int = 0
    #: the laser channel (protocol 3), or fc.CHANNEL_BOARD for a board-level event
    channel: int = 0


@dataclass(frozen=True, slots=True)
class RulesConfig:
    mode: int = fc.MODE_PULSE_TRAIN
    period_us: int = 50_000
    width_us: int = 15_000
    max_on_ms: int = 30_000
    watchdog_ms: int = 300
    interlock_enabled: bool = False
    active_low: bool = False


PWM_CAPABLE = (3, 5, 6, 11)
NUM_PINS = 20


def _valid_pin(pin: int) -> bool:
    return 2 <= pin < NUM_PINS


@dataclass(frozen=True, slots=True)
class ChannelPinRoles:
    """The pins another laser channel holds (fc.*_PIN_NONE = none)."""

    laser: int = fc.INTERLOCK_PIN_NONE
    pwm: int = fc.PWM_PIN_NONE
    interlock: int = fc.INTERLOCK_PIN_NONE
    trip_level: int = 1


def config_pins(payload: bytes) -> ChannelPinRoles:
    """The pins a (protocol 3) CONFIG payload gives its channel."""
    body = payload[1:]
    return ChannelPinRoles(body[1], body[16], body[21], 1 if body[22] else 0)


def config_refusal(
    payload: bytes, sync_pins: tuple[int, ...] = (), others: Sequence[ChannelPinRoles] = ()
) -> int | None:
    """The firmware's CONFIG check (optorig_fw.c handle_config): None if accepted, else the
    REFUSED reason. ``payload`` starts with the channel byte; ``sync_pins`` are the pins of an
    enabled camera sync output, ``others`` the pins of the board's other channels."""
    if len(payload) != fc.CONFIG_PAYLOAD_BYTES or payload[0] >= fc.OPTORIG_CHANNELS:
        return fc.REASON_BAD_CONFIG
    payload = payload[1:]
    mode, ttl = payload[0], payload[1]
    period_us, width_us = fc.from7(payload[2:6]), fc.from7(payload[6:10])
    max_on_ms, watchdog_ms = fc.from7(payload[10:14]), fc.from7(payload[14:16])
    pwm_pin, pwm_level, ramp_ms = payload[16], fc.from7(payload[17:19]), fc.from7(payload[19:21])
    interlock, trip_level, polarity = payload[21], payload[22], payload[23]
    ok = (
        mode in (fc.MODE_CONTINUOUS, fc.MODE_PULSE_TRAIN)
        and fc_limits_watchdog(watchdog_ms)
        and max_on_ms > 0
        and pwm_level <= 255
        and trip_level <= 1
        and polarity <= 1
        and ramp_ms <= 10_000
    )
    if mode == fc.MODE_PULSE_TRAIN:
        ok = ok and (
            width_us >= MIN_PULSE_WIDTH_US
            and period_us >= 1_000_000 // MAX_FREQUENCY_HZ
            and width_us + MIN_PULSE_GAP_US <= period_us
            and period_us <= 10_000_000
        )
    if not ok:
        return fc.REASON_BAD_CONFIG
    held = {p for o in others for p in (o.laser, o.pwm, o.interlock) if p < NUM_PINS}
    outputs = {p for o in others for p in (o.laser, o.pwm) if p < NUM_PINS}
    level = 1 if trip_level else 0
    shared_ok = all(o.trip_level == level for o in others if o.interlock == interlock)
    pins_ok = (
        _valid_pin(ttl)
        and ttl not in sync_pins
        and ttl not in held
        and (
            pwm_pin == fc.PWM_PIN_NONE
            or (pwm_pin in PWM_CAPABLE and pwm_pin != ttl and pwm_pin not in sync_pins and pwm_pin not in held)
        )
        and (
            interlock == fc.INTERLOCK_PIN_NONE
            or (
                _valid_pin(interlock)
                and interlock not in (ttl, pwm_pin)
                and interlock not in sync_pins
                and interlock not in outputs
                and shared_ok
            )
        )
    )
    return None if pins_ok else fc.REASON_PIN_CONFLICT


def sync_refusal(payload: bytes, role_pins: tuple[int, ...]) -> int | None:
    """The firmware's SYNC check (handle_sync): ``role_pins`` = laser, PWM, interlock pins."""
    if len(payload) != fc.SYNC_PAYLOAD_BYTES:
        return fc.REASON_BAD_CONFIG
    min_ms, max_ms, width_ms = fc.from7(payload[3:5]), fc.from7(payload[5:7]), fc.from7(payload[7:9])
    if width_ms == 0 or min_ms <= width_ms or max_ms < min_ms:
        return fc.REASON_BAD_CONFIG
    if payload[0]:
        sync_pin, led = payload[1], payload[2]
        if not _valid_pin(sync_pin) or sync_pin in role_pins:
            return fc.REASON_PIN_CONFLICT
        if led != fc.PWM_PIN_NONE and (not _valid_pin(led) or led == sync_pin or led in role_pins):
            return fc.REASON_PIN_CONFLICT
    return None


def trigger_refusal(payload: bytes, role_pins: tuple[int, ...]) -> int | None:
    """The firmware's TRIGGER check (handle_trigger): ``role_pins`` = laser, PWM, interlock,
    sync and LED pins. None = accepted (also a stop, enable 0)."""
    if len(payload) != fc.TRIGGER_PAYLOAD_BYTES:
        return fc.REASON_BAD_CONFIG
    if not payload[0]:
        return None
    period_us, width_us, every = fc.from7(payload[2:6]), fc.from7(payload[6:9]), fc.from7(payload[9:11])
    ok = (
        payload[0] == 1
        and fc.TRIGGER_MIN_PERIOD_US <= period_us <= fc.TRIGGER_MAX_PERIOD_US
        and width_us >= fc.TRIGGER_MIN_WIDTH_US
        and width_us + fc.TRIGGER_MIN_GAP_US <= period_us
        and every >= 1
    )
    if not ok:
        return fc.REASON_BAD_CONFIG
    if not _valid_pin(payload[1]) or payload[1] in role_pins:
        return fc.REASON_PIN_CONFLICT
    return None


@dataclass
class TriggerSchedule:
    """The firmware's camera trigger: rising edge k (from 1) at ``first_us + (k - 1) *
    period_us``; an EVENT_TRIGGER for triggers 1, 1 + every, ...; the count wraps like the
    wire's 3 x 7-bit field."""

    first_us: int
    period_us: int
    every: int
    made: int = 0

    def count_at(self, now_us: int) -> int:
        return 0 if now_us < self.first_us else (now_us - self.first_us) // self.period_us + 1

    def poll(self, now_us: int) -> list[RuleEvent]:
        events = []
        for k in range(self.made + 1, self.count_at(now_us) + 1):
            if (k - 1) % self.every == 0:
                edge_us = self.first_us + (k - 1) * self.period_us
                events.append(RuleEvent(fc.EVENT_TRIGGER, edge_us, k % fc.TRIGGER_COUNT_MODULO, 1, fc.REASON_HOST))
        self.made = max(self.made, self.count_at(now_us))
        return events

    def stop(self, now_us: int) -> list[RuleEvent]:
        events = self.poll(now_us)
        return events + [RuleEvent(fc.EVENT_TRIGGER, now_us, self.made % fc.TRIGGER_COUNT_MODULO, 0, fc.REASON_HOST)]


#: The firmware makes the first trigger edge this long after the TRIGGER command.
TRIGGER_FIRST_EDGE_US = 2000


def fc_limits_watchdog(watchdog_ms: int) -> bool:
    return WATCHDOG_TIMEOUT_MS_MIN <= watchdog_ms <= WATCHDOG_TIMEOUT_MS_MAX


class FirmwareRules:
    """The firmware's gate rules. Not thread-safe: callers hold their own lock."""

    def __init__(self) -> None:
        self.config = RulesConfig()
        self.armed = False
        self.gate_open = False
        self.opened_us = 0
        self.last_heartbeat_us = 0
        self.interlock_tripped = False
        #: The interlock input itself (True = at its trip level), as the firmware reads it.
        self.interlock_input_tripped = False

    def pulses_at(self, now_us: int) -> int:
        if not self.gate_open:
            return 0
        if self.config.mode == fc.MODE_CONTINUOUS:
            return 1
        # rising edges strictly before now (the first one at the opening instant)
        return max(0, now_us - self.opened_us - 1) // self.config.period_us + 1

    def level_at(self, now_us: int) -> int:
        if not self.gate_open:
            return 0
        if self.config.mode == fc.MODE_CONTINUOUS:
            return 1
        return int((now_us - self.opened_us) % self.config.period_us < self.config.width_us)

    def close(self, now_us: int, reason: int) -> list[RuleEvent]:
        if not self.gate_open:
            return []
        pulses = self.pulses_at(now_us)
        self.gate_open = False
        return [RuleEvent(fc.EVENT_GATE_CLOSED, now_us, pulses, 0, reason)]

    def configure(self, config: RulesConfig, now_us: int) -> list[RuleEvent]:
        events = self.close(now_us, fc.REASON_CONFIG)
        self.config = config
        # the firmware reads the interlock at CONFIG rather than assuming it closed
        self.interlock_tripped = False
        events.append(RuleEvent(fc.EVENT_CONFIG_ACK, now_us, reason=fc.REASON_CONFIG))
        return events + self._read_interlock(now_us)

    def arm(self, now_us: int) -> list[RuleEvent]:
        self.armed = True
        self.last_heartbeat_us = now_us
        return [RuleEvent(fc.EVENT_ARMED, now_us)] + self._read_interlock(now_us)

    def _read_interlock(self, now_us: int) -> list[RuleEvent]:
        if not self.config.interlock_enabled or self.interlock_input_tripped == self.interlock_tripped:
            return []
        self.interlock_tripped = self.interlock_input_tripped
        if self.interlock_tripped:
            return self.close(now_us, fc.REASON_INTERLOCK) + [
                RuleEvent(fc.EVENT_INTERLOCK, now_us, reason=fc.REASON_INTERLOCK)
            ]
        return [RuleEvent(fc.EVENT_INTERLOCK_CLEARED, now_us, reason=fc.REASON_INTERLOCK)]

    def heartbeat(self, now_us: int, seq: int = 0) -> list[RuleEvent]:
        self.last_heartbeat_us = now_us
        return [RuleEvent(fc.EVENT_HEARTBEAT_ACK, now_us, 0, self.level_at(now_us), seq)]

    def set_gate(self, open_: bool, now_us: int) -> list[RuleEvent]:
        events = self.poll(now_us)
        if not open_:
            return events + self.close(now_us, fc.REASON_HOST)
        if self.gate_open:
            return events
        if not self.armed:
            return events + [RuleEvent(fc.EVENT_REFUSED, now_us, reason=fc.REASON_NOT_ARMED)]
        events += self._read_interlock(now_us)  # every gate-open reads the input
        if self.interlock_tripped:
            return events + [RuleEvent(fc.EVENT_REFUSED, now_us, reason=fc.REASON_INTERLOCK)]
        self.gate_open = True
        self.opened_us = now_us
        return events + [RuleEvent(fc.EVENT_GATE_OPENED, now_us, 0, 1, fc.REASON_HOST)]

    def set_interlock(self, tripped: bool, now_us: int) -> list[RuleEvent]:
        """The interlock input changed (the firmware's pin-change interrupt)."""
        self.interlock_input_tripped = tripped
        return self._read_interlock(now_us)

    def poll(self, now_us: int) -> list[RuleEvent]:
        """Apply the watchdog and the cap as of ``now_us`` (at the exact expiry time)."""
        events: list[RuleEvent] = []
        watchdog_at = self.last_heartbeat_us + self.config.watchdog_ms * 1000
        cap_at = self.opened_us + self.config.max_on_ms * 1000
        if self.armed and now_us > watchdog_at:
            if self.gate_open and cap_at <= watchdog_at:
                events += self.close(cap_at, fc.REASON_CAP)
                events.append(RuleEvent(fc.EVENT_CAP, cap_at, reason=fc.REASON_CAP))
            self.armed = False
            events += self.close(watchdog_at, fc.REASON_WATCHDOG)
            events.append(RuleEvent(fc.EVENT_WATCHDOG, watchdog_at, reason=fc.REASON_WATCHDOG))
        if self.gate_open and now_us >= cap_at:
            events += self.close(cap_at, fc.REASON_CAP)
            events.append(RuleEvent(fc.EVENT_CAP, cap_at, reason=fc.REASON_CAP))
        return events


def tag(events: list[RuleEvent], channel: int) -> list[RuleEvent]:
    """``events`` of one channel's FirmwareRules, marked with that channel."""
    return [replace(e, channel=channel) for e in events]


def encode_event(event: RuleEvent) -> bytes:
    body = bytearray([fc.SYSEX_OPTORIG_EVENT, event.kind])
    body += fc.to7(event.device_us, fc.EVENT_US_BYTES) + fc.to7(event.pulses, fc.EVENT_PULSES_BYTES)
    body += bytes([event.pin_level & 0x7F, event.reason & 0x7F, event.channel & 0x7F])
    return bytes([fc.START_SYSEX]) + bytes(body) + bytes([fc.END_SYSEX])


class EmulatedUno:
    """The optorig firmware's serial protocol on a pty; ``port`` is the path to open.

    Runs one daemon thread (``optorig-emulated-uno``). ``unplug()`` closes the master side,
    as pulling the USB cable does; ``replug()`` makes a fresh pty (a new ``port``).
    """

    def __init__(
        self,
        *,
        firmware_name: str = "optorig",
        standard_firmata: bool = False,
        link: str | None = None,
        protocol: int = fc.OPTORIG_PROTOCOL_VERSION,
        version: tuple[int, int, int] = (
            fc.OPTORIG_FW_VERSION_MAJOR,
            fc.OPTORIG_FW_VERSION_MINOR,
            fc.OPTORIG_FW_VERSION_PATCH,
        ),
    ) -> None:
        self.firmware_name = firmware_name
        #: the extension protocol and version IDENTIFY reports (an older firmware: 2, (1, 1, 0))
        self.protocol = protocol
        self.version = version
        self.link = link
        self.standard_firmata = standard_firmata
        #: one FirmwareRules per laser channel, and the pins each channel's CONFIG gave it
        self.channel_rules = [FirmwareRules() for _ in range(fc.OPTORIG_CHANNELS)]
        self.channel_pins: list[ChannelPinRoles | None] = [None] * fc.OPTORIG_CHANNELS
        self.trigger: TriggerSchedule | None = None
        self.received: list[bytes] = []
        self._lock = threading.Lock()
        self._t0 = time.monotonic_ns()
        self._master = -1
        self._slave = -1
        self.port = ""
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.digital_ports = [0, 0, 0]
        #: When True the device ignores what the host sends (a stalled or killed host).
        self.deaf = False
        #: When False the device stops reading the port at all (a stuck USB link): the
        #: host's writes fill the buffer and then block.
        self.reading = True

    @property
    def rules(self) -> FirmwareRules:
        """Channel 0's rules (the board as a single-channel board)."""
        return self.channel_rules[0]

    def now_us(self) -> int:
        return (time.monotonic_ns() - self._t0) // 1000

    def start(self) -> EmulatedUno:
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)
        self.port = os.ttyname(self._slave)
        if self.link:
            tmp = self.link + ".new"
            os.symlink(self.port, tmp)
            os.replace(tmp, self.link)
            self.port = self.link
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="optorig-emulated-uno", daemon=True)
        self._thread.start()
        return self

    def unplug(self) -> None:
        """Close the pty, as a pulled cable would; the host sees I/O errors."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
        for fd in (self._master, self._slave):
            if fd >= 0:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self._master = self._slave = -1
        with self._lock:
            for rules in self.channel_rules:
                rules.close(self.now_us(), fc.REASON_RESET)
                rules.armed = False

    def replug(self) -> str:
        self.unplug()
        self.start()
        return self.port

    def set_interlock(self, tripped: bool) -> None:
        """The interlock input changed: every channel wired to it (a shared interlock)."""
        with self._lock:
            for k, rules in enumerate(self.channel_rules):
                self._send(tag(rules.set_interlock(tripped, self.now_us()), k))

    def reset(self) -> None:
        """The device resets (as the firmware does after a brown-out): gate closed, not
        armed, configuration back to defaults, and a READY event."""
        with self._lock:
            now_us = self.now_us()
            for rules in self.channel_rules:
                rules.close(now_us, fc.REASON_RESET)
            self.channel_rules = [FirmwareRules() for _ in range(fc.OPTORIG_CHANNELS)]
            self.channel_pins = [None] * fc.OPTORIG_CHANNELS
            self.trigger = None
            self._send([RuleEvent(fc.EVENT_READY, now_us, reason=fc.REASON_RESET, channel=fc.CHANNEL_BOARD)])

    def __enter__(self) -> EmulatedUno:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.unplug()

    # ---- device side -------------------------------------------------------------------
    def _write(self, data: bytes) -> None:
        if self._master >= 0:
            try:
                os.write(self._master, data)
            except OSError:
                pass

    def _send(self, events: list[RuleEvent]) -> None:
        for event in events:
            self._write(encode_event(event))

    def _run(self) -> None:
        parser = fc.FirmataParser()
        while not self._stop.is_set():
            if not self.reading:
                time.sleep(0.005)
                continue
            try:
                ready, _, _ = select.select([self._master], [], [], 0.005)
                data = os.read(self._master, 1024) if ready else b""
            except OSError:
                return
            with self._lock:
                if data and self.deaf:
                    data = b""
                if data:
                    self.received.append(data)
                for message in parser.feed(data):
                    self._handle(message)
                if not self.standard_firmata:
                    for k, rules in enumerate(self.channel_rules):
                        self._send(tag(rules.poll(self.now_us()), k))
                    if self.trigger is not None:
                        self._send(tag(self.trigger.poll(self.now_us()), fc.CHANNEL_BOARD))

    def _handle(self, message: tuple[int, bytes]) -> None:
        command, payload = message
        now_us = self.now_us()
        if command == fc.REPORT_VERSION:
            self._write(bytes([fc.REPORT_VERSION, 2, 5]))
        elif command == fc.SYSEX_QUERY_FIRMWARE:
            name = self.firmware_name if not self.standard_firmata else "StandardFirmata.ino"
            body = bytearray([fc.START_SYSEX, fc.SYSEX_QUERY_FIRMWARE, 2, 5])
            for ch in name.encode():
                body += bytes([ch & 0x7F, ch >> 7])
            self._write(bytes(body) + bytes([fc.END_SYSEX]))
        elif command & 0xF0 == fc.DIGITAL_MESSAGE:
            self.digital_ports[command & 0x0F] = payload[0] | (payload[1] << 7)
        elif self.standard_firmata:
            return
        elif command == fc.SYSEX_OPTORIG_IDENTIFY:
            identity = bytes(
                [
                    fc.START_SYSEX,
                    fc.SYSEX_OPTORIG_IDENTIFY,
                    self.protocol,
                    *self.version,
                ]
            )
            armed = sum(1 << k for k, r in enumerate(self.channel_rules) if r.armed)
            gates = sum(1 << k for k, r in enumerate(self.channel_rules) if r.gate_open)
            identity += bytes([armed, gates, fc.OPTORIG_CHANNELS])
            identity += bytes(2 * fc.IDENTIFY_DROPPED_BYTES) + b"emulated"  # nothing dropped
            self._write(identity + bytes([fc.END_SYSEX]))
        elif command == fc.SYSEX_OPTORIG_CONFIG:
            if not payload or payload[0] >= fc.OPTORIG_CHANNELS:
                for k, rules in enumerate(self.channel_rules):
                    self._send(tag(rules.close(now_us, fc.REASON_CONFIG), k))
                self._send([RuleEvent(fc.EVENT_REFUSED, now_us, reason=fc.REASON_BAD_CONFIG, channel=fc.CHANNEL_BOARD)])
                return
            k = payload[0]
            rules = self.channel_rules[k]
            others = [p for i, p in enumerate(self.channel_pins) if i != k and p is not None]
            refusal = config_refusal(payload, others=others)
            if refusal is not None:
                events = rules.close(now_us, fc.REASON_CONFIG)
                self._send(tag(events + [RuleEvent(fc.EVENT_REFUSED, now_us, reason=refusal)], k))
                return
            fields = payload[1:]
            config = RulesConfig(
                mode=fields[0],
                period_us=fc.from7(fields[2:6]),
                width_us=fc.from7(fields[6:10]),
                max_on_ms=fc.from7(fields[10:14]),
                watchdog_ms=fc.from7(fields[14:16]),
                interlock_enabled=fields[21] != fc.INTERLOCK_PIN_NONE,
                active_low=fields[23] == fc.POLARITY_ACTIVE_LOW,
            )
            self.channel_pins[k] = config_pins(payload)
            self._send(tag(rules.configure(config, now_us), k))
        elif command == fc.SYSEX_OPTORIG_GATE:
            if len(payload) == 2 and payload[0] < fc.OPTORIG_CHANNELS:
                k = payload[0]
                self._send(tag(self.channel_rules[k].set_gate(bool(payload[1]), now_us), k))
            else:  # malformed: every gate closes, as the firmware does
                for k, rules in enumerate(self.channel_rules):
                    self._send(tag(rules.set_gate(False, now_us), k))
        elif command == fc.SYSEX_OPTORIG_HEARTBEAT:
            mask, token = (payload[0], payload[1]) if len(payload) == 2 else (0, 0)
            for k, rules in enumerate(self.channel_rules):
                if mask & (1 << k):
                    rules.heartbeat(now_us, token)
            self._send([RuleEvent(fc.EVENT_HEARTBEAT_ACK, now_us, 0, mask, token, fc.CHANNEL_BOARD)])
        elif command == fc.SYSEX_OPTORIG_ARM:
            if len(payload) != 1 or payload[0] >= fc.OPTORIG_CHANNELS:
                self._send([RuleEvent(fc.EVENT_REFUSED, now_us, reason=fc.REASON_BAD_CONFIG, channel=fc.CHANNEL_BOARD)])
                return
            k = payload[0]
            if k != 0 and self.channel_pins[k] is None:  # no laser pin: never armed
                self._send([RuleEvent(fc.EVENT_REFUSED, now_us, reason=fc.REASON_BAD_CONFIG, channel=k)])
                return
            self._send(tag(self.channel_rules[k].arm(now_us), k))
        elif command == fc.SYSEX_OPTORIG_TRIGGER:
            if self.trigger is not None:
                self._send(tag(self.trigger.stop(now_us), fc.CHANNEL_BOARD))
                self.trigger = None
            # the emulation has no sync output; channel 0 holds D9 until configured
            roles = {LASER_PIN_DEFAULT} if self.channel_pins[0] is None else set()
            for pins in self.channel_pins:
                if pins is not None:
                    roles |= {p for p in (pins.laser, pins.pwm, pins.interlock) if p < NUM_PINS}
            refusal = trigger_refusal(payload, tuple(sorted(roles)))
            if refusal is not None:
                self._send([RuleEvent(fc.EVENT_REFUSED, now_us, reason=refusal, channel=fc.CHANNEL_BOARD)])
                return
            if payload[0]:
                self.trigger = TriggerSchedule(
                    now_us + TRIGGER_FIRST_EDGE_US, fc.from7(payload[2:6]), fc.from7(payload[9:11])
                )
            self._send([RuleEvent(fc.EVENT_CONFIG_ACK, now_us, reason=fc.REASON_CONFIG, channel=fc.CHANNEL_BOARD)])


FIRMWARE_DIR = __import__("pathlib").Path(__file__).resolve().parents[2] / "firmware"
CYCLES_PER_S = 16_000_000


def build_firmware(build_dir: str | None = None) -> tuple[str, str]:
    """``make`` the firmware ELF and the simavr harness; returns their paths."""
    import subprocess

    args = ["make", "-s", "-C", str(FIRMWARE_DIR)]
    if build_dir:
        args.append(f"BUILD={build_dir}")
    subprocess.run(args, check=True, capture_output=True, text=True)
    build = build_dir or str(FIRMWARE_DIR / "build")
    return f"{build}/optorig_fw.elf", f"{build}/optorig_sim"


@dataclass(frozen=True, slots=True)
class SimLine:
    kind: str  # P, D, R, M
    cycle: int
    fields: tuple[str, ...]


#: A host process that opens the gate and then hangs until it is killed: run with
#: ``python -c HOST_OPENS_GATE_SCRIPT PORT``, wait for "open", SIGKILL it, and watch the
#: firmware watchdog close the gate.
HOST_OPENS_GATE_SCRIPT = """
import sys, threading
from rig.devices.board import LaserConfig
from rig.devices.firmata_board import FirmataBoard
board = FirmataBoard(sys.argv[1])
board.open()
board.configure(LaserConfig(mode="continuous", max_on_s=60))
board.set_gate(True)
print("open", flush=True)
threading.Event().wait()
"""


class SimavrUno:
    """The real firmware in simavr (firmware/sim/optorig_sim.c), UART0 on a pty."""

    def __init__(self, elf: str, harness: str, log_path: str) -> None:
        self._elf, self._harness, self.log_path = elf, harness, log_path
        self._proc: Any = None
        self.port = ""

    def start(self) -> SimavrUno:
        import subprocess

        self._proc = subprocess.Popen(
            [self._harness, self._elf, self.log_path],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert self._proc.stdout is not None
        for line in self._proc.stdout:
            if line.startswith("PTY "):
                self.port = line.split()[1]
                break
        if not self.port:
            raise RuntimeError("simavr harness did not start")
        return self

    def command(self, text: str) -> None:
        assert self._proc is not None and self._proc.stdin is not None
        self._proc.stdin.write(text + "\n")
        self._proc.stdin.flush()

    def cycle(self) -> int:
        self.command("cycle")
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline()
        return int(line.split()[1])

    def stop(self) -> None:
        if self._proc is None:
            return
        try:
            self.command("quit")
        except (BrokenPipeError, OSError):
            pass
        try:
            self._proc.wait(timeout=5)
        except Exception:  # noqa: BLE001 - last resort for a hung emulator
            self._proc.kill()
            self._proc.wait()
        for stream in (self._proc.stdin, self._proc.stdout):
            if stream is not None:
                try:
                    stream.close()
                except OSError:
                    pass
        self._proc = None

    def lines(self) -> list[SimLine]:
        out = []
        with open(self.log_path) as f:
            for raw in f:
                parts = raw.split()
                if len(parts) >= 2 and parts[1].isdigit():
                    out.append(SimLine(parts[0], int(parts[1]), tuple(parts[2:])))
        return out

    def edges(self, pin: int) -> list[tuple[int, int]]:
        """(cycle, level) of every change of ``pin``."""
        return [
            (line.cycle, int(line.fields[1]))
            for line in self.lines()
            if line.kind == "P" and int(line.fields[0]) == pin
        ]

    def __enter__(self) -> SimavrUno:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
