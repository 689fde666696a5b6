"""Run the real firmware in simavr on a timeline (the harness's unpaced script mode) and read
back what it did: pin edges and the firmware's replies, every one with its emulated cycle.

Used by the multi-channel firmware tests (tests/firmware/test_channels_simavr.py) and by
benchmarks/bench_channels.py. Script mode runs as fast as the host can, so seconds of
emulated time cost about a second of CPU and nothing depends on the wall clock.
"""

from __future__ import annotations

import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from rig.devices import firmata_codes as fc
from rig.devices.firmware_emulator import CYCLES_PER_S

MS = CYCLES_PER_S // 1000
US = CYCLES_PER_S // 1_000_000


def sysex(command: int, payload: bytes = b"") -> bytes:
    return bytes([fc.START_SYSEX, command]) + payload + bytes([fc.END_SYSEX])


def config_message(
    channel: int,
    laser_pin: int,
    *,
    mode: int = fc.MODE_PULSE_TRAIN,
    period_us: int = 50_000,
    width_us: int = 15_000,
    max_on_ms: int = 60_000,
    watchdog_ms: int = 5000,
    pwm_pin: int = fc.PWM_PIN_NONE,
    interlock_pin: int = fc.INTERLOCK_PIN_NONE,
    trip_level: int = 1,
    polarity: int = fc.POLARITY_ACTIVE_HIGH,
) -> bytes:
    """A protocol-3 CONFIG sysex (channel byte first)."""
    payload = (
        bytes([channel, mode, laser_pin])
        + fc.to7(period_us, 4)
        + fc.to7(width_us, 4)
        + fc.to7(max_on_ms, 4)
        + fc.to7(watchdog_ms, 2)
        + bytes([pwm_pin])
        + fc.to7(255, 2)
        + fc.to7(0, 2)
        + bytes([interlock_pin, trip_level, polarity])
    )
    return sysex(fc.SYSEX_OPTORIG_CONFIG, payload)


def gate_message(channel: int, open_: bool) -> bytes:
    return sysex(fc.SYSEX_OPTORIG_GATE, bytes([channel, int(open_)]))


def arm_message(channel: int) -> bytes:
    return sysex(fc.SYSEX_OPTORIG_ARM, bytes([channel]))


def heartbeat_message(mask: int, token: int = 1) -> bytes:
    return sysex(fc.SYSEX_OPTORIG_HEARTBEAT, bytes([mask, token]))


@dataclass(frozen=True, slots=True)
class FwEvent:
    """One EVENT the firmware sent (cycle = when its first byte left the UART)."""

    cycle: int
    kind: int
    pulses: int
    level: int
    reason: int
    channel: int


@dataclass
class ScriptRun:
    """What the firmware did during a script."""

    edges: dict[int, list[tuple[int, int]]] = field(default_factory=dict)
    events: list[FwEvent] = field(default_factory=list)
    marks: list[tuple[int, str]] = field(default_factory=list)
    end: int = 0

    def pin(self, pin: int) -> list[tuple[int, int]]:
        return self.edges.get(pin, [])

    def rises(self, pin: int, after: int = 0, before: int | None = None) -> list[int]:
        return [c for c, v in self.pin(pin) if v == 1 and c >= after and (before is None or c < before)]

    def falls(self, pin: int, after: int = 0, before: int | None = None) -> list[int]:
        return [c for c, v in self.pin(pin) if v == 0 and c >= after and (before is None or c < before)]

    def level_at(self, pin: int, cycle: int, initial: int = 0) -> int:
        level = initial
        for c, v in self.pin(pin):
            if c > cycle:
                break
            level = v
        return level

    def of(self, kind: int, channel: int | None = None) -> list[FwEvent]:
        return [e for e in self.events if e.kind == kind and (channel is None or e.channel == channel)]


class Script:
    """A timeline of host actions in emulated milliseconds."""

    def __init__(self) -> None:
        self._actions: list[tuple[int, str]] = []

    def tx(self, at_ms: float, data: bytes) -> Script:
        self._actions.append((int(at_ms * MS), "tx " + data.hex()))
        return self

    def pin(self, at_ms: float, pin: int, level: int) -> Script:
        self._actions.append((int(at_ms * MS), f"pin {pin} {level}"))
        return self

    def reset(self, at_ms: float) -> Script:
        self._actions.append((int(at_ms * MS), "reset"))
        return self

    def heartbeats(self, from_ms: float, to_ms: float, mask: int, every_ms: float = 100.0) -> Script:
        t = from_ms
        while t < to_ms:
            self.tx(t, heartbeat_message(mask))
            t += every_ms
        return self

    def text(self, end_ms: float) -> str:
        actions = sorted(self._actions, key=lambda a: a[0]) + [(int(end_ms * MS), "end")]
        return "".join(f"{cycle} {action}\n" for cycle, action in actions)

    def run(self, elf: str, harness: str, end_ms: float, workdir: str | None = None) -> ScriptRun:
        with tempfile.TemporaryDirectory(dir=workdir) as tmp:
            script = Path(tmp) / "script.txt"
            log = Path(tmp) / "run.log"
            script.write_text(self.text(end_ms))
            subprocess.run([harness, "--script", str(script), elf, str(log)], check=True, capture_output=True)
            return parse_log(log)


def parse_log(log: Path) -> ScriptRun:
    run = ScriptRun()
    parser = fc.FirmataParser()
    with open(log) as f:
        for raw in f:
            parts = raw.split()
            if len(parts) < 2 or not parts[1].isdigit():
                continue
            kind, cycle = parts[0], int(parts[1])
            run.end = max(run.end, cycle)
            if kind == "P":
                run.edges.setdefault(int(parts[2]), []).append((cycle, int(parts[3])))
            elif kind == "M":
                run.marks.append((cycle, " ".join(parts[2:])))
            elif kind == "O" and len(parts) > 2:
                for command, payload in parser.feed(bytes.fromhex(parts[2])):
                    decoded = fc.decode_event(payload) if command == fc.SYSEX_OPTORIG_EVENT else None
                    if decoded is not None:
                        k, _us, pulses, level, reason, channel = decoded
                        run.events.append(FwEvent(cycle, k, pulses, level, reason, channel))
    return run


@dataclass(frozen=True, slots=True)
class TrainTiming:
    """Worst timing errors of one channel's pulse train, in microseconds."""

    pulses: int
    worst_period_error_us: float
    worst_width_error_us: float
    #: worst |edge - (first rise + n period [+ width])|: absolute schedule error of any edge
    worst_edge_error_us: float


def train_timing(run: ScriptRun, pin: int, period_us: int, width_us: int, active_low: bool = False) -> TrainTiming:
    """Judge the complete pulses of ``pin``'s train (each rise with its fall)."""
    on, off = (0, 1) if active_low else (1, 0)
    edges = run.pin(pin)
    rises = [c for c, v in edges if v == on]
    falls = [c for c, v in edges if v == off and rises and c > rises[0]]
    n = min(len(rises), len(falls))
    if n < 2:
        return TrainTiming(n, float("inf"), float("inf"), float("inf"))
    rises, falls = rises[:n], falls[:n]
    period, width = period_us * US, width_us * US
    periods = [b - a for a, b in zip(rises, rises[1:])]
    widths = [f - r for r, f in zip(rises, falls)]
    first = rises[0]
    edge_errors = [abs(r - (first + i * period)) for i, r in enumerate(rises)]
    edge_errors += [abs(f - (first + i * period + width)) for i, f in enumerate(falls)]
    return TrainTiming(
        n,
        max(abs(p - period) for p in periods) / US,
        max(abs(w - width) for w in widths) / US,
        max(edge_errors) / US,
    )
