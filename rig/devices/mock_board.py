"""MockBoard: an in-process laser board that records every command with its time.

It is production code: the simulated session (``rig demo``, ``rig replay``) runs on it.
It emulates the firmware's rules (``rig.devices.firmware_emulator.FirmwareRules``): the
host watchdog, the continuous-on cap and the interlock, on an injectable clock, so tests
never sleep.

Heartbeats follow the real driver: the emulated heartbeat thread sends one only while the
liveness check given to ``set_liveness`` (the session's control loop) says alive, and
only those heartbeats reset the emulated firmware watchdog; ``stall_host()`` stops them
all (a frozen or killed process). A watchdog trip or ``simulate_reset()`` is never
re-armed silently: ``set_gate(True)`` then raises ``BoardFault`` until ``configure()``.

Like the firmware (protocol 3) it has ``channel_count`` independent laser channels:
``channel(k)`` is a view (a full LaserBoard) with its own rules, events and liveness check,
so a hung arena loop starves only its own channel's watchdog; the board itself is channel 0.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

from rig.clock import Clock, SystemClock
from rig.devices import firmata_codes as fc
from rig.devices.board import BoardEvent, BoardEventKind, BoardInfo, LaserConfig, TriggerConfig
from rig.devices.firmware_emulator import (
    TRIGGER_FIRST_EDGE_US,
    FirmwareRules,
    RuleEvent,
    RulesConfig,
    TriggerSchedule,
    trigger_refusal,
)
from rig.devices.limits import LASER_CHANNELS
from rig.devices.channel_view import ChannelView
from rig.devices.lifecycle import OpenedByWith
from rig.devices.limits import INTERLOCK_PIN_DEFAULT, LASER_PIN_DEFAULT
from rig.errors import BoardFault, BoardLost, ConfigError

CommandKind = Literal["open", "configure", "gate_open", "gate_close", "sync", "trigger", "close"]

#: The firmware's xorshift32 seed for the sync intervals (optorig_fw.c ``rng_state``).
SYNC_RNG_SEED = 0x6F707469


@dataclass(frozen=True, slots=True)
class SyncConfig:
    """The SYNC command's payload, as the firmware takes it (rig.devices.firmata_board
    ``configure_sync``): random rising-edge intervals in [min, max] ms, ``width_ms`` high."""

    enabled: bool = True
    sync_pin: int = 7
    led_pin: int | None = 12
    min_interval_ms: int = 1000
    max_interval_ms: int = 5000
    width_ms: int = 10


class _SyncSchedule:
    """The sync/LED output of the firmware as a function of time: the first rising edge
    ``min_interval_ms`` after the command, then one every ``min + xorshift32 % (max - min + 1)``
    ms (the firmware's own generator and seed), each ``width_ms`` long. Edges are generated
    lazily, so a synthetic camera can ask for the LED level at any time, even ahead of the
    board's clock (the schedule is fixed when the command is taken, as on the device)."""

    def __init__(self, config: SyncConfig, start_ns: int, rng_state: int = SYNC_RNG_SEED) -> None:
        self.config = config
        self._start_rng = rng_state
        self._rng = rng_state
        self.edges_ns: list[int] = [start_ns + config.min_interval_ms * 1_000_000]
        #: generator state after the interval that follows each edge was drawn
        self._rng_after: list[int] = []
        self.reported = 0

    def rng_state_at(self, t_ns: int) -> int:
        """The device's generator state at ``t_ns``: it draws one interval per edge that
        has happened (the schedule may have been generated further ahead)."""
        state = self._start_rng
        for edge, after in zip(self.edges_ns, self._rng_after):
            if edge > t_ns:
                break
            state = after
        return state

    def _next_interval_ms(self) -> int:
        x = self._rng
        x ^= (x << 13) & 0xFFFFFFFF
        x ^= x >> 17
        x ^= (x << 5) & 0xFFFFFFFF
        self._rng = x
        span = self.config.max_interval_ms - self.config.min_interval_ms + 1
        return self.config.min_interval_ms + x % span

    def extend_to(self, t_ns: int) -> None:
        while self.edges_ns[-1] <= t_ns:
            interval_ms = self._next_interval_ms()
            self._rng_after.append(self._rng)
            self.edges_ns.append(self.edges_ns[-1] + interval_ms * 1_000_000)

    def lit_during(self, start_ns: int, end_ns: int) -> bool:
        """True when the output is high at any time in ``[start_ns, end_ns]``."""
        self.extend_to(end_ns)
        width_ns = self.config.width_ms * 1_000_000
        for edge in reversed(self.edges_ns):
            if edge <= end_ns:
                return edge + width_ns > start_ns
        return False


_KIND_MAP = {
    fc.EVENT_READY: BoardEventKind.READY,
    fc.EVENT_GATE_OPENED: BoardEventKind.GATE_OPENED,
    fc.EVENT_GATE_CLOSED: BoardEventKind.GATE_CLOSED,
    fc.EVENT_WATCHDOG: BoardEventKind.WATCHDOG,
    fc.EVENT_CAP: BoardEventKind.CAP,
    fc.EVENT_INTERLOCK: BoardEventKind.INTERLOCK,
    fc.EVENT_INTERLOCK_CLEARED: BoardEventKind.INTERLOCK,
    fc.EVENT_SYNC: BoardEventKind.SYNC,
    fc.EVENT_TRIGGER: BoardEventKind.TRIGGER,
    fc.EVENT_REFUSED: BoardEventKind.FAULT,
}


def rules_config(config: LaserConfig, *, interlock_enabled: bool = False) -> RulesConfig:
    """The firmware-side view of a LaserConfig."""
    continuous = config.mode == "continuous"
    return RulesConfig(
        mode=fc.MODE_CONTINUOUS if continuous else fc.MODE_PULSE_TRAIN,
        period_us=int(round(1e6 / config.frequency_hz)),
        width_us=int(round(config.pulse_width_ms * 1000)),
        max_on_ms=int(round(config.max_on_s * 1000)),
        watchdog_ms=config.watchdog_timeout_ms,
        interlock_enabled=interlock_enabled,
        active_low=config.active_low,
    )


def to_board_event(event: RuleEvent, host_ns: int) -> BoardEvent | None:
    kind = _KIND_MAP.get(event.kind)
    if kind is None:
        return None
    detail = fc.REASON_NAMES.get(event.reason, str(event.reason))
    if event.kind == fc.EVENT_INTERLOCK_CLEARED:
        detail = "cleared"
    elif event.kind == fc.EVENT_INTERLOCK:
        detail = "tripped"
    elif event.kind == fc.EVENT_TRIGGER:
        detail = "stopped" if event.pin_level == 0 else ""
    return BoardEvent(kind, host_ns, event.device_us, event.pulses, event.pin_level, detail)


@dataclass(frozen=True, slots=True)
class MockCommand:
    """One command the host sent, with the clock's ``now_ns()`` at the time."""

    t_ns: int
    kind: CommandKind
    config: LaserConfig | None = None
    channel: int = 0


class _MockChannel:
    """One emulated laser channel: the firmware's rules for it plus the host-side state."""

    def __init__(self, index: int) -> None:
        self.index = index
        self.rules = FirmwareRules()
        self.config = LaserConfig()
        self.liveness: Callable[[], bool] | None = None
        self.events: list[BoardEvent] = []
        self.active = index == 0
        self.views = 0


class MockBoard(OpenedByWith):
    """Records every command; can be told to fail (``fail_next_write``)."""

    def __init__(
        self,
        port: str = "mock",
        *,
        clock: Clock | None = None,
        interlock: bool = False,
        interlock_pins: Mapping[int, int | None] | None = None,
    ) -> None:
        """``interlock``: every channel has the (one) emulated door switch.
        ``interlock_pins``: per channel, the pin of its door switch or None (as the rig file
        wires them, ``rig_channel_pins``); ``set_interlock(tripped, pin)`` then trips only the
        channels on that pin, as the firmware does."""
        self._port = port
        self._clock: Clock = clock if clock is not None else SystemClock()
        pins: dict[int, int | None] = {
            k: (INTERLOCK_PIN_DEFAULT if interlock else None) for k in range(LASER_CHANNELS)
        }
        pins.update(interlock_pins or {})
        self._interlock_pins = pins
        self._lock = threading.Lock()
        self._is_open = False
        self._self_open = False
        self._channels = [_MockChannel(k) for k in range(LASER_CHANNELS)]
        self._host_alive = True
        self._t0_ns = self._clock.now_ns()
        self.commands: list[MockCommand] = []
        self._sync: _SyncSchedule | None = None
        self._sync_rng = SYNC_RNG_SEED  # the firmware's generator state survives re-configuring
        self._trigger: TriggerConfig | None = None
        self._trigger_schedule: TriggerSchedule | None = None
        #: When True, the next set_gate(True) raises BoardLost (as a pulled cable would).
        self.fail_next_write = False

    @property
    def info(self) -> BoardInfo:
        return BoardInfo(
            kind="mock", port=self._port, firmware_name="optorig-mock", firmware_version="0"
        )

    @property
    def is_open(self) -> bool:
        return self._is_open

    @property
    def gate_open(self) -> bool:
        return self._channel_gate_open(0)

    def _channel_gate_open(self, k: int) -> bool:
        with self._lock:
            self._poll_locked()
            return self._channels[k].rules.gate_open

    @property
    def _rules(self) -> FirmwareRules:
        return self._channels[0].rules

    @property
    def config(self) -> LaserConfig:
        return self._channels[0].config

    @property
    def last_gate_command(self) -> MockCommand | None:
        for command in reversed(self.commands):
            if command.kind in ("gate_open", "gate_close") and command.channel == 0:
                return command
        return None

    # ---- channels (ChannelBoard) -------------------------------------------------------
    @property
    def channel_count(self) -> int:
        return LASER_CHANNELS

    def channel(self, index: int) -> MockChannel:
        if not 0 <= index < LASER_CHANNELS:
            raise ConfigError(f"channel: must be in 0..{LASER_CHANNELS - 1}, got {index}")
        return MockChannel(self, index)

    def all_off(self) -> None:
        """Emergency stop: every channel's gate closed. Never raises."""
        with self._lock:
            self._poll_locked()
            for k in range(LASER_CHANNELS):
                self._close_gate_locked(k)

    def heartbeat_mask(self) -> int:
        """The channels whose heartbeat bit the emulated heartbeat thread sends now."""
        return sum(1 << ch.index for ch in self._channels if ch.active and self._heartbeat_allowed(ch))

    def set_liveness(self, check: Callable[[], bool] | None) -> None:
        """Heartbeats only while ``check()`` is True, as ``FirmataBoard`` does."""
        self._channels[0].liveness = check

    def _heartbeat_allowed(self, ch: _MockChannel) -> bool:
        if not self._host_alive:
            return False
        check = ch.liveness
        if check is None:
            return True
        try:
            return bool(check())
        except Exception:  # noqa: BLE001 - a broken check means "not alive"
            return False

    # ---- emulation controls (tests, demo) ----------------------------------------------
    def simulate_reset(self) -> None:
        """The device resets itself (brown-out, USB glitch): gates closed, not armed, READY."""
        with self._lock:
            self._poll_locked()
            now_us = self._now_us()
            for ch in self._channels:
                self._emit(ch, ch.rules.close(now_us, fc.REASON_RESET))
                ch.rules.armed = False
            self._emit_board([RuleEvent(fc.EVENT_READY, now_us, reason=fc.REASON_RESET)])

    def stall_host(self) -> None:
        """Stop the emulated host heartbeats; the firmware watchdog then expires."""
        with self._lock:
            self._poll_locked()
            self._host_alive = False

    def resume_host(self) -> None:
        with self._lock:
            self._host_alive = True

    def set_interlock(self, tripped: bool, pin: int | None = None) -> None:
        """Drive the emulated door switch on ``pin`` (None: every wired one); only channels
        wired to it see it. Channels without an interlock never do."""
        with self._lock:
            self._poll_locked()
            for ch in self._channels:
                wired = self._interlock_pins[ch.index]
                if wired is None or (pin is not None and wired != pin):
                    continue
                self._emit(ch, ch.rules.set_interlock(tripped, self._now_us()))

    def _interlock_on(self, k: int) -> bool:
        return self._interlock_pins[k] is not None
    # ---- camera sync (the firmware's SYNC command) ------------------------------------
    def configure_sync(
        self,
        enabled: bool = True,
        *,
        sync_pin: int = 7,
        led_pin: int | None = 12,
        min_interval_ms: int = 1000,
        max_interval_ms: int = 5000,
        width_ms: int = 10,
    ) -> None:
        """Sync TTL + LED pulses at random intervals, as ``FirmataBoard.configure_sync``:
        each rising edge is reported as a SYNC event carrying the edge's device time.
        Refused (ConfigError) on the payloads the firmware refuses."""
        config = SyncConfig(enabled, sync_pin, led_pin, min_interval_ms, max_interval_ms, width_ms)
        with self._lock:
            self._require_open()
            self._poll_locked()
            if width_ms <= 0 or min_interval_ms <= width_ms or max_interval_ms < min_interval_ms:
                if self._sync is not None:
                    self._sync_rng = self._sync.rng_state_at(self._clock.now_ns())
                self._sync = None
                raise ConfigError(
                    f"{self._port}: board refused the sync configuration (need 0 < width_ms "
                    f"< min_interval_ms <= max_interval_ms, got {width_ms}, {min_interval_ms}, "
                    f"{max_interval_ms})"
                )
            self._record("sync")
            now_ns = self._clock.now_ns()
            if self._sync is not None:
                self._sync_rng = self._sync.rng_state_at(now_ns)
            self._sync = _SyncSchedule(config, now_ns, self._sync_rng) if enabled else None

    @property
    def sync_config(self) -> SyncConfig | None:
        sync = self._sync
        return None if sync is None else sync.config

    def sync_led_lit(self, start_ns: int, end_ns: int) -> bool:
        """Whether the sync LED is on at any time in ``[start_ns, end_ns]`` on this board's
        clock (False when sync is off or has no LED). A synthetic camera renders the LED
        from this over each frame's exposure; it may ask ahead of the clock."""
        with self._lock:
            sync = self._sync
            if sync is None or sync.config.led_pin is None:
                return False
            return sync.lit_during(start_ns, end_ns)

    # ---- camera trigger (the firmware's TRIGGER command) -------------------------------
    def configure_trigger(self, config: TriggerConfig | None) -> None:
        """The camera trigger, as ``FirmataBoard.configure_trigger`` and the firmware make
        it (``TriggerSchedule``): the first rising edge 2 ms after the command, then one
        every ``period_us`` on an exact grid of the board's clock; a TRIGGER event for every
        ``reports_every``-th (count from 1, modulo 2**21 like the wire); stopping reports the
        count sent (level 0). Refused (ConfigError) on a pin the laser, interlock or sync
        output uses, or values the firmware refuses."""
        from rig.devices.trigger import trigger_payload, validate_trigger_config

        if config is not None:
            validate_trigger_config(config)
        with self._lock:
            self._require_open()
            self._poll_locked()
            now_us = self._now_us()
            if self._trigger_schedule is not None:
                self._record("trigger")
                self._emit_board(self._trigger_schedule.stop(now_us))
            self._trigger, self._trigger_schedule = None, None
            if config is None:
                return
            # the mock's laser is on the default pin (LaserConfig names no pin)
            taken = {LASER_PIN_DEFAULT} | {p for p in self._interlock_pins.values() if p is not None}
            sync = self._sync
            if sync is not None:
                taken |= {sync.config.sync_pin} | ({sync.config.led_pin} if sync.config.led_pin is not None else set())
            refusal = trigger_refusal(trigger_payload(config), tuple(taken))
            if refusal is not None:
                raise ConfigError(
                    f"{self._port}: board refused the camera trigger on pin {config.pin} "
                    f"({fc.REASON_NAMES.get(refusal, refusal)}: pin in use or values out of range)"
                )
            self._record("trigger")
            self._trigger = config
            self._trigger_schedule = TriggerSchedule(
                now_us + TRIGGER_FIRST_EDGE_US, config.period_us, config.reports_every
            )

    def _emit_trigger_edges_locked(self) -> None:
        if self._trigger_schedule is not None:
            self._emit_board(self._trigger_schedule.poll(self._now_us()))

    @property
    def trigger_first_edge_us(self) -> int | None:
        """Device time of the first trigger edge since the last enable (None when off)."""
        schedule = self._trigger_schedule
        return None if schedule is None else schedule.first_us

    @property
    def trigger_config(self) -> TriggerConfig | None:
        return self._trigger

    def clock_ns_at(self, device_us: int) -> int:
        """The time on this board's clock at which its device clock reads ``device_us``."""
        return self._t0_ns + device_us * 1000

    # ---- internals ---------------------------------------------------------------------
    def _now_us(self) -> int:
        return (self._clock.now_ns() - self._t0_ns) // 1000

    def _emit(self, ch: _MockChannel, events: list[RuleEvent]) -> None:
        for event in events:
            board_event = to_board_event(event, self._t0_ns + event.device_us * 1000)
            if board_event is not None:
                ch.events.append(board_event)

    def _emit_board(self, events: list[RuleEvent]) -> None:
        """Board-level events (READY, SYNC): every channel's view sees them."""
        for ch in self._channels:
            self._emit(ch, events)

    def _poll_locked(self) -> None:
        if not self._is_open:
            return
        now_us = self._now_us()
        for ch in self._channels:
            if ch.active and self._heartbeat_allowed(ch):
                # the heartbeat thread of an alive host sent this channel's bit every 100 ms
                ch.rules.heartbeat(now_us)
            self._emit(ch, ch.rules.poll(now_us))
        self._emit_sync_edges_locked()
        self._emit_trigger_edges_locked()

    def _emit_sync_edges_locked(self) -> None:
        sync = self._sync
        if sync is None:
            return
        now_ns = self._clock.now_ns()
        sync.extend_to(now_ns)
        while sync.reported < len(sync.edges_ns) and sync.edges_ns[sync.reported] <= now_ns:
            edge_ns = sync.edges_ns[sync.reported]
            sync.reported += 1
            device_us = (edge_ns - self._t0_ns) // 1000
            # As the firmware: the edge's own device time, the running count, level 1.
            event = RuleEvent(fc.EVENT_SYNC, device_us, sync.reported, 1, fc.REASON_HOST)
            self._emit_board([event])

    def _record(self, kind: CommandKind, config: LaserConfig | None = None, channel: int = 0) -> int:
        t_ns = self._clock.now_ns()
        self.commands.append(MockCommand(t_ns, kind, config, channel))
        return t_ns

    # ---- LaserBoard (channel 0; views call the _channel_* forms) ---------------------
    def open(self) -> None:
        with self._lock:
            self._acquire_locked()
            self._self_open = True

    def _acquire_locked(self) -> None:
        if self._is_open:
            return
        self._record("open")
        self._is_open = True
        self._host_alive = True
        now_us = self._now_us()
        self._sync = None  # opening resets the board: no sync output until commanded
        self._trigger, self._trigger_schedule = None, None
        self._sync_rng = SYNC_RNG_SEED
        for ch in self._channels:
            # Opening resets the MCU, not the door: the interlock input keeps its level.
            door_open = ch.rules.interlock_input_tripped
            ch.rules = FirmwareRules()
            ch.rules.interlock_input_tripped = door_open
            if ch.active:
                ch.rules.configure(rules_config(ch.config, interlock_enabled=self._interlock_on(ch.index)), now_us)
                ch.rules.arm(now_us)
        for ch in self._channels:
            ch.events.append(BoardEvent(BoardEventKind.READY, self._clock.now_ns(), now_us))

    def _open_view(self, k: int) -> None:
        with self._lock:
            self._acquire_locked()
            ch = self._channels[k]
            ch.views += 1
            if not ch.active:
                ch.active = True
                now_us = self._now_us()
                ch.rules.configure(rules_config(ch.config, interlock_enabled=self._interlock_on(ch.index)), now_us)
                ch.rules.arm(now_us)

    def configure(self, config: LaserConfig) -> None:
        self._channel_configure(0, config)

    def _channel_configure(self, k: int, config: LaserConfig) -> None:
        ch = self._channels[k]
        with self._lock:
            self._require_open()
            self._poll_locked()
            self._close_gate_locked(k)
            ch.config = config
            ch.active = True
            self._record("configure", config, k)
            now_us = self._now_us()
            self._emit(ch, ch.rules.configure(rules_config(config, interlock_enabled=self._interlock_on(k)), now_us))
            ch.rules.arm(now_us)

    def set_gate(self, open_: bool) -> None:
        self._channel_set_gate(0, open_)

    def _channel_set_gate(self, k: int, open_: bool) -> None:
        ch = self._channels[k]
        with self._lock:
            self._require_open()
            self._poll_locked()
            if open_:
                if self.fail_next_write:
                    self.fail_next_write = False
                    for i in range(LASER_CHANNELS):
                        self._close_gate_locked(i)
                    self._is_open = False
                    lost = BoardEvent(BoardEventKind.DISCONNECTED, self._clock.now_ns(), detail="simulated unplug")
                    for c in self._channels:
                        c.events.append(lost)
                    raise BoardLost("mock board: write failed (simulated unplug)")
                if not ch.rules.gate_open:
                    if not ch.rules.armed:
                        # as FirmataBoard: never a silent re-arm after a trip or a reset
                        raise BoardFault(
                            f"mock board: laser channel {k} tripped its watchdog or the board "
                            "was reset; gate-open refused until it is configured again"
                        )
                    self._record("gate_open", channel=k)
                    self._emit(ch, ch.rules.set_gate(True, self._now_us()))
            else:
                self._close_gate_locked(k)

    def _close_gate_locked(self, k: int = 0) -> None:
        ch = self._channels[k]
        if ch.rules.gate_open:
            self._record("gate_close", channel=k)
            self._emit(ch, ch.rules.set_gate(False, self._now_us()))

    def laser_off(self) -> None:
        self._channel_laser_off(0)

    def _channel_laser_off(self, k: int) -> None:
        with self._lock:
            self._poll_locked()
            self._close_gate_locked(k)

    def events(self) -> list[BoardEvent]:
        return self._channel_events(0)

    def _channel_events(self, k: int) -> list[BoardEvent]:
        ch = self._channels[k]
        with self._lock:
            self._poll_locked()
            drained, ch.events = ch.events, []
            return drained

    def _channel_set_liveness(self, k: int, check: Callable[[], bool] | None) -> None:
        self._channels[k].liveness = check

    def close(self) -> None:
        self.laser_off()
        with self._lock:
            self._self_open = False
            self._release_locked()

    def _release_view(self, k: int) -> None:
        self._channel_laser_off(k)
        with self._lock:
            self._channels[k].views = max(0, self._channels[k].views - 1)
            self._release_locked()

    def _release_locked(self) -> None:
        if self._self_open or any(ch.views for ch in self._channels):
            return
        self._poll_locked()
        for k in range(LASER_CHANNELS):
            self._close_gate_locked(k)
        if self._is_open:
            self._record("close")
        self._is_open = False

    def _require_open(self) -> None:
        if not self._is_open:
            raise BoardLost("mock board is not open")


class MockChannel(ChannelView["MockBoard"]):
    """Laser channel ``index`` of a MockBoard as a LaserBoard of its own (as FirmataChannel)."""

    @property
    def config(self) -> LaserConfig:
        return self._board._channels[self._index].config

