"""Fuzz the real firmware in simavr and check its safety invariants every 10 us.

``make_script`` writes a random but reproducible timeline for the harness's script mode
(firmware/sim/optorig_sim.c ``--script``): random bytes, malformed and valid sysex, standard
Firmata messages, heartbeats that stall, a bouncing interlock and MCU resets. The harness runs
it unpaced and logs, with emulated cycles, every byte the UART received (U), every pin edge
(P), and the firmware's own ``gate_is_open`` byte sampled every 10 us (G).

``check`` judges that log against an independent model of what the host sent (the bytes as
the UART received them, parsed like the firmware parses them), at every 10 us sample:

- the laser pin is never on while the firmware's gate is closed, nor unless a gate-open
  command arrived and no close (GATE 0, CONFIG, SYSTEM_RESET, reset) was received before;
- never on later than the watchdog timeout after the last ARM/HEARTBEAT received;
- never on longer than the cap after its gate window opened;
- never on, and the PWM output never high, once the interlock has been at its trip level
  for 1 ms (the measured worst latency is reported).

Slack: host commands take effect after the main loop parsed them; ``HOST_SLACK_CYCLES`` (2 ms)
covers that. The fault bounds get one safety tick (250 us) plus that slack for the firmware
having received a keepalive up to a byte time later than the harness fed it.
"""

from __future__ import annotations

import random
import statistics
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from rig.devices import firmata_codes as fc
from rig.devices.firmware_emulator import CYCLES_PER_S, config_refusal, sync_refusal

MS = CYCLES_PER_S // 1000
SAMPLE_CYCLES = 160  # 10 us
BYTE_CYCLES = 2778  # one byte at 57600 baud, 10 bits
HOST_SLACK_CYCLES = 2 * MS
#: The host waits this long after power-up before it talks to the firmware.
BOOT_CYCLES = 2 * MS
#: The harness samples the gate variable every 160 cycles, after whole instructions, and
#: gate_open() sets it ~70 cycles after the pin: a logged rise may lag the pin by this much.
G_LAG_CYCLES = SAMPLE_CYCLES + 128
INTERLOCK_PIN = 2
LASER_PIN = 9
PWM_PIN = 3
#: The fuzz drives laser channel 0 (protocol 3); the watched byte is chans[0].gate_is_open:
#: channel_t starts with laser_config_t (23 bytes on the AVR: no padding), then port_idx,
#: mask, train_running, laser_level, gate_is_open (optorig_fw.c).
CHANNEL = 0
GATE_IS_OPEN_OFFSET = 27


def _sysex(command: int, payload: bytes = b"") -> bytes:
    return bytes([fc.START_SYSEX, command]) + payload + bytes([fc.END_SYSEX])


def _config(rng: random.Random, *, valid: bool = True) -> bytes:
    mode = rng.choice([fc.MODE_CONTINUOUS, fc.MODE_PULSE_TRAIN])
    period_us = rng.choice([2_000, 10_000, 50_000])
    width_us = rng.choice([500, 1_000, period_us // 2])
    payload = (
        bytes([CHANNEL, mode, LASER_PIN])
        + fc.to7(period_us, 4)
        + fc.to7(width_us, 4)
        + fc.to7(rng.choice([50, 200, 1_000]), 4)  # max_on_ms
        + fc.to7(rng.choice([50, 100, 300]), 2)  # watchdog_ms
        + bytes([rng.choice([PWM_PIN, fc.PWM_PIN_NONE])])
        + fc.to7(rng.choice([0, 128, 255]), 2)
        + fc.to7(rng.choice([0, 0, 100]), 2)
        + bytes([rng.choice([INTERLOCK_PIN, INTERLOCK_PIN, fc.INTERLOCK_PIN_NONE]), 1, 0])
    )
    if not valid:
        data = bytearray(payload)
        i = rng.randrange(len(data) + 2)
        if i == len(data) - 1 or i == 0:
            # the polarity byte has its own tests (keep the fuzz's laser active-high); the
            # channel byte too (tests/firmware/test_channels_simavr.py)
            i = 1
        if i < len(data):
            data[i] = rng.randrange(128)
        elif i == len(data):
            data = data[:-1]
        else:
            data.append(0)
        payload = bytes(data)
    return _sysex(fc.SYSEX_OPTORIG_CONFIG, payload)


def _random_message(rng: random.Random) -> bytes:
    r = rng.random()
    if r < 0.10:
        return bytes(rng.randrange(256) for _ in range(rng.randrange(1, 24)))
    if r < 0.16:  # malformed sysex: unterminated, over-long, interrupted
        body = bytes(rng.randrange(128) for _ in range(rng.choice([3, 30, 70, 90])))
        return bytes([fc.START_SYSEX, rng.randrange(8)]) + body + rng.choice([b"", b"\xf7", b"\x90", b"\xf0"])
    if r < 0.22:  # a whole session start, so gate windows meet interlock trips and faults
        return _config(rng) + _sysex(fc.SYSEX_OPTORIG_ARM, bytes([CHANNEL])) + _sysex(fc.SYSEX_OPTORIG_GATE, bytes([CHANNEL, 1]))
    if r < 0.30:
        if rng.random() < 0.1:  # malformed or another channel's gate
            return _sysex(fc.SYSEX_OPTORIG_GATE, bytes(rng.randrange(8) for _ in range(rng.randrange(4))))
        return _sysex(fc.SYSEX_OPTORIG_GATE, bytes([CHANNEL, rng.choice([0, 1, 1])]))
    if r < 0.36:
        return _config(rng, valid=rng.random() < 0.7)
    if r < 0.42:
        return _sysex(fc.SYSEX_OPTORIG_ARM, bytes([rng.choice([CHANNEL, CHANNEL, CHANNEL, 1, 5])]))
    if r < 0.47:
        sync_pin = rng.choice([7, 7, 7, INTERLOCK_PIN, LASER_PIN, PWM_PIN, 13])
        return _sysex(
            fc.SYSEX_OPTORIG_SYNC,
            bytes([rng.choice([0, 1, 1]), sync_pin, rng.choice([12, fc.PWM_PIN_NONE, LASER_PIN])])
            + fc.to7(rng.choice([20, 40]), 2) + fc.to7(rng.choice([40, 80]), 2) + fc.to7(5, 2),
        )
    if r < 0.55:  # queries the firmware answers
        return rng.choice([b"\xf9", b"\xf0\x6b\xf7", b"\xf0\x01\xf7", b"\xf0\x79\xf7", b"\xf0\x69\xf7", bytes([0xF0, 0x6D, rng.randrange(20), 0xF7])])
    if r < 0.75:  # standard Firmata on any pin, role pins included
        pin = rng.choice([2, 3, 4, 5, 9, 11, 13, rng.randrange(20)])
        return rng.choice(
            [
                bytes([0xF4, pin, rng.choice([0, 1, 2, 3, 11])]),
                bytes([0xF5, pin, rng.randrange(2)]),
                bytes([0xE0 | (pin & 0x0F), rng.randrange(128), rng.randrange(2)]),
                bytes([0x90 | rng.randrange(3), rng.randrange(128), rng.randrange(2)]),
                bytes([0xD0 | rng.randrange(3), rng.randrange(2)]),
                bytes([0xC0 | rng.randrange(6), rng.randrange(2)]),
            ]
        )
    if r < 0.77:
        return b"\xff"  # SYSTEM_RESET
    if r < 0.80:  # the camera trigger: valid, refused values, on the laser pin, bad pins
        pin = rng.choice([8, 8, 8, LASER_PIN, 0, 40])
        period_us = rng.choice([2_000, 5_000, 33_333, 1_000, 3_000_000])
        width_us = rng.choice([100, 1_000, 50, period_us])
        payload = (
            bytes([rng.choice([0, 1, 1, 2]), pin]) + fc.to7(period_us & 0x0FFFFFFF, 4)
            + fc.to7(width_us & 0x1FFFFF, 3) + fc.to7(rng.choice([1, 1, 3, 0]), 2)
        )
        return _sysex(fc.SYSEX_OPTORIG_TRIGGER, payload[: rng.choice([len(payload)] * 5 + [len(payload) - 1])])
    return _sysex(fc.SYSEX_OPTORIG_HEARTBEAT, bytes([rng.randrange(16), rng.randrange(128)]))


def make_script(path: Path, seconds: float, seed: int) -> None:
    """Write a fuzz timeline of ``seconds`` of emulated time."""
    rng = random.Random(seed)
    end = int(seconds * CYCLES_PER_S)
    actions: list[tuple[int, str]] = []
    # host traffic: bursts of messages; heartbeats every 100 ms except during stalls. It starts
    # once the firmware is up (UART enabled ~0.5 ms after power-up): bytes fed before that are
    # lost, and the model here would count them as received.
    t = BOOT_CYCLES
    heartbeat_on = True
    next_heartbeat = t
    next_stall_toggle = rng.randrange(200, 2000) * MS
    while t < end:
        if t >= next_stall_toggle:
            heartbeat_on = not heartbeat_on
            next_stall_toggle = t + (rng.randrange(200, 1500) if not heartbeat_on else rng.randrange(300, 3000)) * MS
        if heartbeat_on and t >= next_heartbeat:
            actions.append((t, "tx " + _sysex(fc.SYSEX_OPTORIG_HEARTBEAT, bytes([1 << CHANNEL, 1])).hex()))
            next_heartbeat = t + 100 * MS
        if rng.random() < 0.05:  # a flood of one query
            actions.append((t, "tx " + (rng.choice([b"\xf0\x6b\xf7", b"\xf9", b"\xf0\x01\xf7"]) * rng.randrange(20, 200)).hex()))
        else:
            burst = b"".join(_random_message(rng) for _ in range(rng.randrange(1, 4)))
            actions.append((t, "tx " + burst.hex()))
        t += rng.randrange(1, 40) * MS
    # a bouncing interlock
    t = rng.randrange(100, 500) * MS
    level = 0
    actions.append((1, f"pin {INTERLOCK_PIN} 0"))
    while t < end:
        if rng.random() < 0.3:  # bounce: a few fast toggles
            for _ in range(rng.randrange(2, 12)):
                level ^= 1
                actions.append((t, f"pin {INTERLOCK_PIN} {level}"))
                t += rng.randrange(1, 2000) * 16  # 1 us .. 2 ms
        else:
            level ^= 1
            actions.append((t, f"pin {INTERLOCK_PIN} {level}"))
        # open (1 = trip level) for short spells, closed for longer ones
        t += (rng.randrange(5, 150) if level else rng.randrange(50, 800)) * MS
    # resets, rarely
    t = rng.randrange(1, 6) * CYCLES_PER_S
    while t < end:
        actions.append((t, "reset"))
        actions.append((t + 1, f"pin {INTERLOCK_PIN} {level}"))
        t += rng.randrange(2, 8) * CYCLES_PER_S
    actions.sort(key=lambda a: a[0])
    with open(path, "w") as f:
        for cycle, action in actions:
            f.write(f"{cycle} {action}\n")
        f.write(f"{end} end\n")


def symbol_addresses(elf: str, names: tuple[str, ...]) -> dict[str, int]:
    """Data-space addresses of the firmware's variables (avr-nm)."""
    out = subprocess.run(["avr-nm", elf], capture_output=True, text=True, check=True).stdout
    found: dict[str, int] = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[2] in names:
            found[parts[2]] = int(parts[0], 16) & 0xFFFF
    return found


def run_script(harness: str, elf: str, script: Path, log: Path) -> None:
    syms = symbol_addresses(elf, ("chans", "stat_loop_max", "stat_tick_late_max", "replies_dropped", "events_dropped"))
    args = [harness, "--script", str(script), "--watch", hex(0x800000 | (syms["chans"] + GATE_IS_OPEN_OFFSET))]
    for name, size in (("stat_loop_max", 2), ("stat_tick_late_max", 2), ("replies_dropped", 4), ("events_dropped", 4)):
        if name in syms:
            args += ["--dump", f"{name}:{syms[name]:x}:{size}"]
    subprocess.run(args + [elf, str(log)], check=True, timeout=3600)


@dataclass
class _Config:
    laser_pin: int = LASER_PIN
    active_low: bool = False
    watchdog_ms: int = 300
    max_on_ms: int = 30_000
    interlock_pin: int = fc.INTERLOCK_PIN_NONE
    trip_level: int = 1
    pwm_pin: int = fc.PWM_PIN_NONE


@dataclass
class FuzzReport:
    emulated_s: float
    bytes_received: int
    samples: int
    gate_windows: int
    interlock_trips: int
    resets: int
    violations: list[str] = field(default_factory=list)
    interlock_trips_with_light_on: int = 0
    worst_interlock_latency_us: float = 0.0
    worst_watchdog_overrun_ms: float = float("-inf")
    worst_cap_overrun_ms: float = float("-inf")
    stats: dict[str, int] = field(default_factory=dict)


def _parse_log(log: Path) -> Iterator[tuple[str, int, list[str]]]:
    with open(log) as f:
        for raw in f:
            parts = raw.split()
            if len(parts) >= 2 and parts[1].isdigit():
                yield parts[0], int(parts[1]), parts[2:]


def _levels_at(times: np.ndarray, edges: list[tuple[int, int]], initial: int = 0) -> np.ndarray:
    if not edges:
        return np.full(times.shape, initial, dtype=np.int8)
    cycles = np.array([c for c, _ in edges], dtype=np.int64)
    values = np.array([initial] + [v for _, v in edges], dtype=np.int8)
    return values[np.searchsorted(cycles, times, side="right")]


def check(log: Path) -> FuzzReport:
    """Replay the host's messages against the log and check every 10 us sample."""
    pins: dict[int, list[tuple[int, int]]] = {}
    gate_var: list[tuple[int, int]] = []
    fed: list[tuple[int, int]] = []
    resets: list[int] = []
    stats: dict[str, int] = {}
    end = 0
    for kind, cycle, fields in _parse_log(log):
        end = max(end, cycle)
        if kind == "P":
            pins.setdefault(int(fields[0]), []).append((cycle, int(fields[1])))
        elif kind == "G":
            gate_var.append((cycle, int(fields[1])))
        elif kind == "U":
            fed.append((cycle, int(fields[0], 16)))
        elif kind == "M" and fields[:1] == ["reset"]:
            resets.append(cycle)
        elif kind == "V":
            stats[fields[0]] = int(fields[1])
    # ---- the host's side: messages as the firmware's parser sees them ----------------------
    # (time = when the last byte was fully received)
    opens: list[int] = []  # GATE open received
    closes: list[int] = []  # anything that closes the gate
    keepalives: list[int] = []
    config_changes: list[tuple[int, _Config]] = [(0, _Config())]
    events = sorted([(c + BYTE_CYCLES, b, 0) for c, b in fed] + [(c, -1, 1) for c in resets], key=lambda e: (e[0], e[2]))
    parser = fc.FirmataParser()
    current = _Config()
    sync_pins: tuple[int, ...] = ()
    sysex_len = 0
    in_sysex = False
    for t, byte, is_reset in events:
        if is_reset:
            parser = fc.FirmataParser()
            current = _Config(laser_pin=current.laser_pin, active_low=current.active_low)  # EEPROM record
            sync_pins = ()
            config_changes.append((t, current))
            closes.append(t)
            in_sysex = False
            continue
        # the firmware keeps 64 sysex bytes and refuses an over-long message
        if byte == fc.START_SYSEX:
            in_sysex, sysex_len = True, 0
        elif in_sysex and byte < 0x80:
            sysex_len += 1
        overflow = sysex_len > 64
        for command, payload in parser.feed(bytes([byte])):
            if byte == fc.END_SYSEX:
                in_sysex = False
            if command == fc.SYSTEM_RESET:
                closes.append(t)
            elif command == fc.SYSEX_OPTORIG_GATE:
                well_formed = len(payload) == 2 and payload[0] < fc.OPTORIG_CHANNELS and not overflow
                if well_formed and payload[0] != CHANNEL:
                    pass  # another channel's gate
                elif well_formed and payload[1]:
                    opens.append(t)
                else:
                    closes.append(t)  # a close, or malformed: every gate closes
            elif command == fc.SYSEX_OPTORIG_ARM:
                if payload == bytes([CHANNEL]) and not overflow:
                    keepalives.append(t)
            elif command == fc.SYSEX_OPTORIG_HEARTBEAT:
                if len(payload) == 2 and payload[0] & (1 << CHANNEL) and not overflow:
                    keepalives.append(t)
            elif command == fc.SYSEX_OPTORIG_CONFIG:
                if overflow or not payload or payload[0] >= fc.OPTORIG_CHANNELS or payload[0] == CHANNEL:
                    closes.append(t)
                if payload[:1] == bytes([CHANNEL]) and not overflow and config_refusal(payload, sync_pins) is None:
                    body = payload[1:]
                    current = _Config(
                        laser_pin=body[1],
                        active_low=body[23] == 1,
                        watchdog_ms=fc.from7(body[14:16]),
                        max_on_ms=fc.from7(body[10:14]),
                        interlock_pin=body[21],
                        trip_level=body[22],
                        pwm_pin=body[16],
                    )
                    config_changes.append((t, current))
            elif command == fc.SYSEX_OPTORIG_SYNC:
                roles = tuple(p for p in (current.laser_pin, current.pwm_pin, current.interlock_pin) if p < 127)
                sync_pins = ()
                if not overflow and sync_refusal(payload, roles) is None and payload[0]:
                    sync_pins = tuple(p for p in payload[1:3] if p != fc.PWM_PIN_NONE)
    # ---- samples -------------------------------------------------------------------------
    times = np.arange(0, end, SAMPLE_CYCLES, dtype=np.int64)
    report = FuzzReport(end / CYCLES_PER_S, len(fed), int(times.size), 0, 0, len(resets), stats=stats)
    cfg_times = np.array([t for t, _ in config_changes], dtype=np.int64)
    cfg_index = np.searchsorted(cfg_times, times, side="right") - 1
    # a new CONFIG takes effect once the main loop parsed it: limits may be the old ones then
    cfg_prev = np.searchsorted(cfg_times, times - HOST_SLACK_CYCLES, side="right") - 1
    def laser_on(index: np.ndarray) -> np.ndarray:
        result = np.zeros(times.shape, dtype=bool)
        for i, (_, cfg) in enumerate(config_changes):
            sel = index == i
            if sel.any():
                level = _levels_at(times[sel], pins.get(cfg.laser_pin, []))
                result[sel] = (level == 0) if cfg.active_low else (level == 1)
        return result

    # In the HOST_SLACK after a CONFIG that moved the laser pin or flipped its polarity, the
    # firmware may still drive the old one: a sample counts as "on" only if it is on under both.
    on = laser_on(cfg_index) & laser_on(np.clip(cfg_prev, 0, None))
    # The G log shows a change at the first sample after it: a rise may have happened up to one
    # sample period (plus the few cycles between the pin write and the variable) earlier.
    gate_early = [(c - G_LAG_CYCLES if v else c, v) for c, v in gate_var]
    gate = _levels_at(times, sorted(gate_early)).astype(bool)
    # 1. pin on only while the firmware's gate is open
    bad = on & ~gate
    if bad.any():
        report.violations.append(f"laser on with the gate closed at {times[bad][0]} cycles ({int(bad.sum())} samples)")
    # 2. pin on only after a gate-open that no close followed
    last_open = _last_before(np.array(opens, dtype=np.int64), times)
    last_close = _last_before(np.array(closes, dtype=np.int64), times - HOST_SLACK_CYCLES)
    bad = on & ((last_open < 0) | (last_close > last_open))
    if bad.any():
        report.violations.append(f"laser on without a standing gate-open at {times[bad][0]} cycles ({int(bad.sum())} samples)")
    # 3. watchdog: on only within watchdog_ms (+ tick and slack) of the last keepalive
    watchdog_by_cfg = np.array([cfg.watchdog_ms for _, cfg in config_changes], dtype=np.int64)
    watchdog = np.maximum(watchdog_by_cfg[cfg_index], watchdog_by_cfg[np.clip(cfg_prev, 0, None)])
    last_keep = _last_before(np.array(keepalives, dtype=np.int64), times)
    overrun = (times - last_keep) - watchdog * MS
    if on.any():
        report.worst_watchdog_overrun_ms = float(overrun[on].max()) / MS
    bad = on & ((last_keep < 0) | (overrun > MS // 4 + HOST_SLACK_CYCLES))
    if bad.any():
        report.violations.append(f"laser on past the watchdog at {times[bad][0]} cycles ({int(bad.sum())} samples)")
    # 4. cap: on only within max_on_ms of the window's opening
    # (a G sample can be up to one sample period after the real change)
    rises = np.array([c - G_LAG_CYCLES for c, v in gate_var if v == 1], dtype=np.int64)
    report.gate_windows = int(rises.size)
    window_start = _last_before(rises, times)
    cap_by_cfg = np.array([cfg.max_on_ms for _, cfg in config_changes], dtype=np.int64)
    cap = np.maximum(cap_by_cfg[cfg_index], cap_by_cfg[np.clip(cfg_prev, 0, None)])
    cap_overrun = (times - window_start) - cap * MS
    if on.any():
        report.worst_cap_overrun_ms = float(cap_overrun[on].max()) / MS
    bad = on & (cap_overrun > MS // 4 + SAMPLE_CYCLES)
    if bad.any():
        report.violations.append(f"laser on past the cap at {times[bad][0]} cycles ({int(bad.sum())} samples)")
    # 5. interlock: once at its trip level for 1 ms, laser and PWM off
    lock_level = _levels_at(times, pins.get(INTERLOCK_PIN, []))
    lock_cfg = np.array([cfg.interlock_pin == INTERLOCK_PIN for _, cfg in config_changes])[cfg_index]
    trip_level = np.array([cfg.trip_level for _, cfg in config_changes], dtype=np.int8)[cfg_index]
    tripped = lock_cfg & (lock_level == trip_level)
    starts = np.flatnonzero(tripped & ~np.roll(tripped, 1))
    report.interlock_trips = int(starts.size)
    # time since the current tripped run began (-1 while not tripped)
    run_ids = np.cumsum(tripped & ~np.roll(tripped, 1))
    first_time = np.zeros(int(run_ids.max()) + 2, dtype=np.int64)
    first_time[run_ids[starts]] = times[starts]
    tripped_since = np.where(tripped, times - first_time[run_ids], -1)
    pwm_high = np.zeros(times.shape, dtype=bool)
    for i, (_, cfg) in enumerate(config_changes):
        if cfg.pwm_pin == fc.PWM_PIN_NONE:
            continue
        # until the firmware parsed the CONFIG that made it the PWM pin, it may be a free pin
        prev_pwm = np.array([c.pwm_pin for _, c in config_changes])[np.clip(cfg_prev, 0, None)]
        sel = (cfg_index == i) & (prev_pwm == cfg.pwm_pin)
        pwm_high[sel] = _levels_at(times[sel], pins.get(cfg.pwm_pin, [])) == 1
    late = tripped_since >= MS
    bad = late & (on | pwm_high)
    if bad.any():
        report.violations.append(f"light on with the interlock open > 1 ms at {times[bad][0]} cycles ({int(bad.sum())} samples)")
    # exact latency from the edges: interlock edge to trip level -> laser edge to off
    cfg_at = np.searchsorted(cfg_times, np.array([c for c, _ in pins.get(INTERLOCK_PIN, [])], dtype=np.int64), side="right") - 1
    latencies: list[int] = []
    for (cycle, edge_level), ci in zip(pins.get(INTERLOCK_PIN, []), cfg_at):
        lock_config = config_changes[int(ci)][1]
        if lock_config.interlock_pin != INTERLOCK_PIN or edge_level != lock_config.trip_level:
            continue
        laser = pins.get(lock_config.laser_pin, [])
        on_level = 0 if lock_config.active_low else 1
        before = [v for c, v in laser if c <= cycle]
        if before and before[-1] == on_level:
            off = next((c for c, v in laser if c > cycle and v != on_level), end)
            latencies.append(off - cycle)
    report.interlock_trips_with_light_on = len(latencies)
    if latencies:
        report.worst_interlock_latency_us = max(latencies) / (CYCLES_PER_S / 1e6)
    return report


def _last_before(events: np.ndarray, times: np.ndarray) -> np.ndarray:
    """For each time, the last event at or before it (-1 if none)."""
    if events.size == 0:
        return np.full(times.shape, -1, dtype=np.int64)
    events = np.sort(events)
    idx = np.searchsorted(events, times, side="right") - 1
    return np.where(idx >= 0, events[np.clip(idx, 0, None)], -1)


def fuzz(harness: str, elf: str, workdir: Path, seconds: float, seed: int) -> FuzzReport:
    script = workdir / f"fuzz-{seed}.script"
    log = workdir / f"fuzz-{seed}.log"
    make_script(script, seconds, seed)
    run_script(harness, elf, script, log)
    return check(log)


# ---- camera trigger timing (benchmarks/bench_trigger.py, tests/firmware) -----------------
_US = CYCLES_PER_S // 1_000_000
_MS = CYCLES_PER_S // 1000
_LASER, _TRIG = 9, 8



def _train_config() -> bytes:
    return (
        bytes([CHANNEL, fc.MODE_PULSE_TRAIN, _LASER]) + fc.to7(2000, 4) + fc.to7(1000, 4) + fc.to7(600_000, 4)
        + fc.to7(5000, 2) + bytes([fc.PWM_PIN_NONE]) + fc.to7(255, 2) + fc.to7(0, 2)
        + bytes([fc.INTERLOCK_PIN_NONE, 1, 0])
    )


def measure_trigger(harness: str, elf: str, tmp: Path, fps: float | None, seconds: float, sync: bool = True) -> dict[str, float]:
    """Run the firmware unpaced (script mode) with a 500 Hz / 1 ms laser train, heartbeats,
    optionally the sync LED and a camera trigger at ``fps``; return the worst errors in us
    (trigger period/width/drift, event time vs edge, laser period/width), the firmware's
    worst safety-tick lateness and events dropped (benchmarks/bench_trigger.py)."""
    script = tmp / "script.txt"
    end = int((seconds + 0.3) * CYCLES_PER_S)
    lines = [
        f"{10 * _MS} tx {_sysex(fc.SYSEX_OPTORIG_CONFIG, _train_config()).hex()}",
        f"{20 * _MS} tx {_sysex(fc.SYSEX_OPTORIG_ARM, bytes([CHANNEL])).hex()}",
    ]
    if sync:
        sync_payload = bytes([1, 7, 12]) + fc.to7(30, 2) + fc.to7(60, 2) + fc.to7(10, 2)
        lines.append(f"{30 * _MS} tx {_sysex(fc.SYSEX_OPTORIG_SYNC, sync_payload).hex()}")
    if fps is not None:
        period = int(round(1e6 / fps))
        every = max(1, -(-int(fps) // 100))
        payload = bytes([1, _TRIG]) + fc.to7(period, 4) + fc.to7(1000 if period > 1200 else 500, 3) + fc.to7(every, 2)
        lines.append(f"{40 * _MS} tx {_sysex(fc.SYSEX_OPTORIG_TRIGGER, payload).hex()}")
    lines.append(f"{50 * _MS} tx {_sysex(fc.SYSEX_OPTORIG_GATE, bytes([CHANNEL, 1])).hex()}")
    t = 100 * _MS
    while t < end - 200 * _MS:
        lines.append(f"{t} tx {_sysex(fc.SYSEX_OPTORIG_HEARTBEAT, bytes([1 << CHANNEL, 1])).hex()}")
        t += 100 * _MS
    lines.append(f"{end - 100 * _MS} tx {_sysex(fc.SYSEX_OPTORIG_GATE, bytes([CHANNEL, 0])).hex()}")
    lines.append(f"{end} end")
    script.write_text("\n".join(lines) + "\n")
    syms = symbol_addresses(elf, ("stat_tick_late_max", "events_dropped"))
    log = tmp / "log.txt"
    args = [harness, "--script", str(script)]
    args += ["--dump", f"stat_tick_late_max:{syms['stat_tick_late_max']:x}:2"]
    args += ["--dump", f"events_dropped:{syms['events_dropped']:x}:4"]
    subprocess.run(args + [elf, str(log)], check=True, timeout=3600)
    pins: dict[int, list[tuple[int, int]]] = {_LASER: [], _TRIG: []}
    stats: dict[str, int] = {}
    parser = fc.FirmataParser()
    events: list[tuple[int, int]] = []  # (count, device_us)
    for raw in log.read_text().splitlines():
        parts = raw.split()
        if len(parts) < 3:
            continue
        if parts[0] == "P" and int(parts[2]) in pins:
            pins[int(parts[2])].append((int(parts[1]), int(parts[3])))
        elif parts[0] == "O":
            for command, data in parser.feed(bytes.fromhex("".join(parts[2:]))):
                decoded = fc.decode_event(data) if command == fc.SYSEX_OPTORIG_EVENT else None
                if decoded is not None and decoded[0] == fc.EVENT_TRIGGER and decoded[3] == 1:
                    events.append((decoded[2], decoded[1]))
        elif parts[0] == "V":
            stats[parts[2]] = int(parts[3])
    out: dict[str, float] = {"tick_late_us": stats.get("stat_tick_late_max", 0) / 2, "events_dropped": stats.get("events_dropped", 0)}
    rises = [c for c, v in pins[_LASER] if v == 1]
    falls = [c for c, v in pins[_LASER] if v == 0 and rises and c > rises[0]]
    rises, falls = rises[:-1], falls[: len(rises) - 1]
    out["laser_period_err_us"] = max(abs(b - a - 2000 * _US) for a, b in zip(rises, rises[1:])) / _US
    out["laser_width_err_us"] = max(abs(f - r - 1000 * _US) for r, f in zip(rises, falls)) / _US
    if fps is not None:
        period = int(round(1e6 / fps))
        width = 1000 if period > 1200 else 500
        trises = [c for c, v in pins[_TRIG] if v == 1]
        tfalls = [c for c, v in pins[_TRIG] if v == 0 and c > trises[0]]
        out["triggers"] = len(trises)
        out["period_err_us"] = max(abs(b - a - period * _US) for a, b in zip(trises, trises[1:])) / _US
        out["width_err_us"] = max(abs(f - r - width * _US) for r, f in zip(trises, tfalls)) / _US
        out["drift_us"] = max(abs(r - trises[0] - k * period * _US) for k, r in enumerate(trises)) / _US
        offsets = [trises[k - 1] / _US - us for k, us in events if k <= len(trises)]
        middle = statistics.median(offsets)
        out["event_err_us"] = max(abs(o - middle) for o in offsets)
        out["events"] = len(events)
    return out
