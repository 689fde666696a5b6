"""FirmataBoard: the laser board over pyfirmata2 and a serial port.

With the project's firmware (firmware/optorig_fw) pulse trains, the host watchdog, the
continuous-on cap and the interlock all run on the device; the host sends a heartbeat
every ``HEARTBEAT_PERIOD_MS`` from the thread ``optorig-board-heartbeat``, but only while
the liveness check set with ``set_liveness`` (the session's control loop) says it is
alive: a hung control loop stops the heartbeats and the firmware closes the gate.

The firmware must be the project's (``firmware_name``), at least ``min_firmware_version``.
Stock StandardFirmata (host-timed pulses, no watchdog) is refused unless
``allow_standard_firmata`` is True (rig file: ``board.allow_host_timed_pulses``).

The port is opened exclusively (a second process gets "port busy") and every write has a
timeout (``WRITE_TIMEOUT_S``), so ``laser_off`` never waits behind a stuck write for longer.
A watchdog trip or a device reset (READY) is never silently re-armed: ``set_gate(True)``
raises ``BoardFault`` until ``configure()`` is called again.

Threads: pyfirmata2's iterator thread runs our sysex handlers (they only append to a
list under a lock); the heartbeat thread detects a lost board (write failure or missing
heartbeat acks), reports DISCONNECTED and, if enabled, reconnects with the gate closed.
"""

from __future__ import annotations

import atexit
import errno
import logging
import os
import threading
import time
import weakref
from collections.abc import Callable, Mapping
from typing import Any

from rig.devices import firmata_codes as fc
from rig.devices.board import BoardEvent, BoardEventKind, BoardInfo, ChannelPins, LaserConfig, TriggerConfig
from rig.devices.firmata_codes import (  # re-exported: checked against config.h
    OPTORIG_FW_NAME,
    OPTORIG_PROTOCOL_VERSION,
    SYSEX_OPTORIG_ARM,
    SYSEX_OPTORIG_CONFIG,
    SYSEX_OPTORIG_EVENT,
    SYSEX_OPTORIG_GATE,
    SYSEX_OPTORIG_HEARTBEAT,
    SYSEX_OPTORIG_IDENTIFY,
    SYSEX_OPTORIG_SYNC,
    SYSEX_OPTORIG_TRIGGER,
)
from rig.devices.firmware_emulator import RuleEvent
from rig.devices.channel_view import ChannelView
from rig.devices.lifecycle import OpenedByWith
from rig.devices.limits import (
    CHANNEL_LASER_PINS_DEFAULT,
    FIRMWARE_MAX_FREQUENCY_HZ,
    FIRMWARE_MIN_PULSE_GAP_MS,
    FIRMWARE_MIN_PULSE_WIDTH_MS,
    HEARTBEAT_PERIOD_MS,
    LASER_CHANNELS,
    LASER_PIN_DEFAULT,
    PWM_CAPABLE_PINS,
    WATCHDOG_TIMEOUT_MS_MAX,
    WATCHDOG_TIMEOUT_MS_MIN,
)
from rig.devices.mock_board import rules_config, to_board_event
from rig.devices.trigger import trigger_payload, validate_trigger_config
from rig.errors import BoardFault, BoardLost, ConfigError, FirmwareMismatch

__all__ = [
    "FirmataBoard",
    "FirmataChannel",
    "OPTORIG_FW_NAME",
    "OPTORIG_PROTOCOL_VERSION",
    "SYSEX_OPTORIG_ARM",
    "SYSEX_OPTORIG_CONFIG",
    "SYSEX_OPTORIG_EVENT",
    "SYSEX_OPTORIG_GATE",
    "SYSEX_OPTORIG_HEARTBEAT",
    "SYSEX_OPTORIG_IDENTIFY",
    "SYSEX_OPTORIG_SYNC",
    "SYSEX_OPTORIG_TRIGGER",
    "validate_laser_config",
]

log = logging.getLogger(__name__)

#: Missing heartbeat acks for this long means the board is lost.
ACK_TIMEOUT_S = 1.0
#: Bounded wait for the firmware's confirmation that the gate is closed.
CLOSE_CONFIRM_TIMEOUT_S = 0.5
#: Longest a serial write may block (a stuck USB link); laser_off waits at most this long.
WRITE_TIMEOUT_S = 0.1
PORT_BUSY = "port busy: in use by another program"


def _version_tuple(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in text.split("."))
    except ValueError:
        return ()


def project_firmware_version() -> str:
    return f"{fc.OPTORIG_FW_VERSION_MAJOR}.{fc.OPTORIG_FW_VERSION_MINOR}.{fc.OPTORIG_FW_VERSION_PATCH}"


def validate_laser_config(config: LaserConfig) -> None:
    """Raise ConfigError if the firmware cannot generate ``config``."""
    if config.mode not in ("continuous", "pulse_train"):
        raise ConfigError(f"laser.mode: must be continuous or pulse_train, got {config.mode!r}")
    if config.mode == "pulse_train":
        if not 0 < config.frequency_hz <= FIRMWARE_MAX_FREQUENCY_HZ:
            raise ConfigError(
                f"laser.frequency_hz: must be in (0, {FIRMWARE_MAX_FREQUENCY_HZ}], got {config.frequency_hz}"
            )
        if config.pulse_width_ms < FIRMWARE_MIN_PULSE_WIDTH_MS:
            raise ConfigError(
                f"laser.pulse_width_ms: must be >= {FIRMWARE_MIN_PULSE_WIDTH_MS}, got {config.pulse_width_ms}"
            )
        period_ms = 1000.0 / config.frequency_hz
        if config.pulse_width_ms + FIRMWARE_MIN_PULSE_GAP_MS > period_ms:
            raise ConfigError(
                f"laser.pulse_width_ms: {config.pulse_width_ms} ms does not fit a "
                f"{config.frequency_hz} Hz period ({period_ms:.3f} ms) with a "
                f"{FIRMWARE_MIN_PULSE_GAP_MS} ms gap"
            )
    if not WATCHDOG_TIMEOUT_MS_MIN <= config.watchdog_timeout_ms <= WATCHDOG_TIMEOUT_MS_MAX:
        raise ConfigError(
            f"laser.watchdog_timeout_ms: must be in [{WATCHDOG_TIMEOUT_MS_MIN}, "
            f"{WATCHDOG_TIMEOUT_MS_MAX}], got {config.watchdog_timeout_ms}"
        )
    if not 0 < config.max_on_s <= 24 * 3600:
        raise ConfigError(f"laser.max_on_s: must be in (0, 86400], got {config.max_on_s}")
    if config.ramp_down_ms < 0 or config.ramp_down_ms > 10_000:
        raise ConfigError(f"laser.ramp_down_ms: must be in [0, 10000], got {config.ramp_down_ms}")


def _timed_serial_class() -> Any:
    """pyserial's Serial whose write times out only when the device does not take bytes.

    pyserial's own ``write_timeout`` also fires after every byte went out, when the thread
    merely lost the CPU for that long (it checks the clock after the write); on a busy
    computer that declared a healthy board lost. POSIX only (Windows keeps pyserial's).
    """
    import select

    import serial

    if os.name != "posix":
        return serial.Serial

    class _TimedSerial(serial.Serial):  # type: ignore[misc]
        def write(self, data: bytes | bytearray) -> int:
            if not self.is_open:
                raise serial.PortNotOpenError()
            view = memoryview(bytes(data))
            total = len(view)
            deadline = time.monotonic() + WRITE_TIMEOUT_S
            while view:
                try:
                    written = os.write(self.fd, view)
                    view = view[written:]
                    continue
                except BlockingIOError:
                    pass
                except InterruptedError:
                    continue
                except OSError as err:
                    raise serial.SerialException(f"write failed: {err}") from err
                left = deadline - time.monotonic()
                if left <= 0:
                    raise serial.SerialTimeoutException("Write timeout")
                select.select([], [self.fd], [], left)
            return total

    return _TimedSerial


def _make_pyfirmata_board(port: str, baudrate: int) -> Any:
    """A pyfirmata2 Arduino without its fixed 5 s busy wait (we wait for the firmware)."""
    import pyfirmata2
    from pyfirmata2.util import Iterator

    serial_class = _timed_serial_class()

    class _Board(pyfirmata2.Board):  # type: ignore[misc]
        def __init__(self) -> None:  # noqa: D401 - mirrors Board.__init__ minus the wait
            self._command_handlers: dict[int, Any] = {}  # per instance: pyfirmata2 shares a class dict
            self.samplerThread = Iterator(self)
            self.samplerThread.name = "optorig-firmata-iterator"
            # exclusive: a second process cannot open (and write to) the same board;
            # write_timeout: a stuck link cannot hold the driver's lock for long.
            self.sp = serial_class(
                port, baudrate, timeout=None, write_timeout=WRITE_TIMEOUT_S, exclusive=True
            )
            self.name = port
            self._layout = pyfirmata2.BOARDS["arduino"]
            self.setup_layout(self._layout)

        def __del__(self) -> None:  # pyfirmata2 closes the port here; we close explicitly
            pass

        def iterate(self) -> None:
            """pyfirmata2's parser raises (IndexError, KeyError...) on bytes that are not
            Firmata, and the exception kills its reader thread with a traceback. A device
            that echoes or sends garbage is counted instead; ``_connect`` then says so."""
            try:
                super().iterate()
            except (IndexError, KeyError, ValueError, TypeError, UnicodeDecodeError):
                self.malformed_messages += 1

        malformed_messages = 0

    return _Board()


class _Channel:
    """Host-side state of one laser channel of a FirmataBoard (guarded by the board's locks)."""

    def __init__(self, index: int, pins: ChannelPins) -> None:
        self.index = index
        self.pins = pins
        self.config = LaserConfig()
        self.gate_open = False
        self.needs_arm = False
        self.liveness: Callable[[], bool] | None = None
        self.events: list[BoardEvent] = []
        #: configured on the device (channel 0 always; others once a view opened)
        self.active = index == 0
        self.views = 0
        self.config_event = threading.Event()
        self.config_refused = False

    def alive(self) -> bool:
        check = self.liveness
        if check is None:
            return True
        try:
            return bool(check())
        except Exception:  # noqa: BLE001 - a broken check means "not alive": no heartbeat
            return False


class FirmataBoard(OpenedByWith):
    """The laser board on a serial port (``port`` may be ``"auto"``).

    The board itself drives laser channel 0 (``laser_pin``, ``pwm_pin``, ``interlock_pin``);
    ``channel(k)`` gives a view of channel k (pins from ``channel_pins[k]``, by default
    ``CHANNEL_LASER_PINS_DEFAULT[k]`` sharing the board's interlock pin)."""

    def __init__(
        self,
        port: str = "auto",
        *,
        laser_pin: int = LASER_PIN_DEFAULT,
        pwm_pin: int | None = None,
        pwm_level: int = 255,
        interlock_pin: int | None = None,
        interlock_trip_level: int = 1,
        ready_timeout_s: float = 5.0,
        baudrate: int = 57600,
        auto_reconnect: bool = True,
        allow_standard_firmata: bool = False,
        firmware_name: str = OPTORIG_FW_NAME,
        min_firmware_version: str | None = None,
        channel_pins: Mapping[int, ChannelPins] | None = None,
    ) -> None:
        pins: dict[int, ChannelPins] = {
            0: ChannelPins(laser_pin, pwm_pin, pwm_level, interlock_pin, interlock_trip_level)
        }
        for k in range(1, LASER_CHANNELS):
            pins[k] = ChannelPins(
                CHANNEL_LASER_PINS_DEFAULT[k],
                interlock_pin=interlock_pin,
                interlock_trip_level=interlock_trip_level,
            )
        for k, given in (channel_pins or {}).items():
            if not 0 <= k < LASER_CHANNELS:
                raise ConfigError(f"channel_pins: channel must be in 0..{LASER_CHANNELS - 1}, got {k}")
            pins[k] = given
        for k, p in pins.items():
            if p.pwm_pin is not None and p.pwm_pin not in PWM_CAPABLE_PINS:
                raise ConfigError(f"channel {k} pwm_pin: must be one of {PWM_CAPABLE_PINS}, got {p.pwm_pin}")
            if not 0 <= p.pwm_level <= 255:
                raise ConfigError(f"channel {k} pwm_level: must be in [0, 255], got {p.pwm_level}")
        self._port_arg = port
        self._port = port
        self._ready_timeout_s = ready_timeout_s
        self._baudrate = baudrate
        self._auto_reconnect = auto_reconnect
        self._allow_standard = allow_standard_firmata
        self._required_name = firmware_name
        self._min_version = min_firmware_version or project_firmware_version()
        self._lock = threading.RLock()
        self._board: Any = None
        self._channels = [_Channel(k, pins[k]) for k in range(LASER_CHANNELS)]
        self._events_lock = threading.Lock()
        self._identity: tuple[int, ...] | None = None
        self._identity_event = threading.Event()
        #: board-level settings (SYNC, TRIGGER) are acknowledged with channel CHANNEL_BOARD
        self._board_config_event = threading.Event()
        self._board_config_refused = False
        self._trigger_on = False  # a camera trigger this driver started is running
        self._last_ack = 0.0
        self._hb_seq = 0
        self._is_open = False
        self._self_open = False
        self._ready = False
        self._lost = False
        self._device_timed = True
        self._info = BoardInfo("firmata", port, "", "")
        self._stop = threading.Event()
        self._hb_thread: threading.Thread | None = None
        self._pulse_thread: threading.Thread | None = None
        self._pulse_stop = threading.Event()
        self._atexit_registered = False

    # ---- properties --------------------------------------------------------------------
    @property
    def info(self) -> BoardInfo:
        return self._info

    @property
    def is_open(self) -> bool:
        return self._is_open and not self._lost

    @property
    def gate_open(self) -> bool:
        return self._channels[0].gate_open

    @property
    def port(self) -> str:
        return self._port

    @property
    def channel_count(self) -> int:
        return LASER_CHANNELS

    def channel(self, index: int) -> FirmataChannel:
        """A view of laser channel ``index``: a full LaserBoard (see ChannelBoard)."""
        if not 0 <= index < LASER_CHANNELS:
            raise ConfigError(f"channel: must be in 0..{LASER_CHANNELS - 1}, got {index}")
        return FirmataChannel(self, index)

    @property
    def dropped_by_firmware(self) -> tuple[int, int]:
        """(replies, events) the firmware dropped because its transmit queue was full, as of
        the last IDENTIFY reply; (0, 0) before any."""
        ident = self._identity or ()
        n = fc.IDENTIFY_DROPPED_BYTES
        start = fc.IDENTIFY_FIXED_BYTES - 2 * n
        if len(ident) < fc.IDENTIFY_FIXED_BYTES:
            return (0, 0)
        return (fc.from7(ident[start : start + n]), fc.from7(ident[start + n : start + 2 * n]))

    def set_liveness(self, check: Callable[[], bool] | None) -> None:
        """Send channel 0's heartbeat bit only while ``check()`` is True (None: always)."""
        self._channel_set_liveness(0, check)

    def _channel_gate_open(self, k: int) -> bool:
        return self._channels[k].gate_open

    def _channel_set_liveness(self, k: int, check: Callable[[], bool] | None) -> None:
        self._channels[k].liveness = check

    # ---- pyfirmata2 callbacks (iterator thread: trivial) -------------------------------
    def _on_identity(self, *data: int) -> None:
        if len(data) < 4:  # an echo of our own request, or noise: not an identity
            return
        self._identity = tuple(data)
        self._identity_event.set()

    def _on_event(self, *data: int) -> None:
        decoded = fc.decode_event(data)
        if decoded is None:
            return
        event = RuleEvent(*decoded)
        now_ns = time.perf_counter_ns()
        if event.kind == fc.EVENT_HEARTBEAT_ACK:
            self._last_ack = time.monotonic()
            return
        ch = self._channels[event.channel] if event.channel < LASER_CHANNELS else None
        if event.kind == fc.EVENT_CONFIG_ACK:
            (ch.config_event if ch is not None else self._board_config_event).set()
            return
        if event.kind == fc.EVENT_REFUSED and event.reason in fc.CONFIG_REFUSAL_REASONS:
            if ch is not None:
                ch.config_refused = True
                ch.config_event.set()
            else:
                self._board_config_refused = True
                self._board_config_event.set()
        targets = [ch] if ch is not None else self._channels
        for target in targets:
            if event.kind in (fc.EVENT_WATCHDOG, fc.EVENT_READY):
                # A watchdog trip, or the device reset itself (READY): closed and not armed;
                # only an explicit configure() arms it again.
                target.needs_arm = True
                target.gate_open = False
            if event.kind in (fc.EVENT_REFUSED, fc.EVENT_GATE_CLOSED):
                target.gate_open = False
        board_event = to_board_event(event, now_ns)
        if board_event is not None:
            with self._events_lock:
                for target in targets:
                    target.events.append(board_event)

    def _push(self, kind: BoardEventKind, detail: str = "", **kw: Any) -> None:
        """A host-side board-level event (READY, DISCONNECTED, ...): every channel sees it."""
        event = BoardEvent(kind, time.perf_counter_ns(), detail=detail, **kw)
        with self._events_lock:
            for ch in self._channels:
                ch.events.append(event)

    # ---- connection --------------------------------------------------------------------
    def open(self) -> None:
        with self._lock:
            if self._self_open and self._is_open:
                return
            self._acquire()
            self._self_open = True

    def _acquire(self) -> None:
        """Connect if no one holds the link yet (the board itself or a channel view)."""
        from rig.devices.ports import resolve_port

        with self._lock:
            if self._is_open:
                return
            self._port = resolve_port(self._port_arg)
            self._connect()
            self._is_open = True
            self._lost = False
            self._stop.clear()
            self._hb_thread = threading.Thread(
                target=self._heartbeat_loop, name="optorig-board-heartbeat", daemon=True
            )
            self._hb_thread.start()
            if not self._atexit_registered:
                ref = weakref.ref(self)
                atexit.register(_laser_off_if_alive, ref)
                self._atexit_registered = True

    def _holders(self) -> int:
        return int(self._self_open) + sum(ch.views for ch in self._channels)

    def _connect(self) -> None:
        """Open the port, wait (bounded) for the firmware, drive the laser off, configure."""
        import serial

        try:
            board = _make_pyfirmata_board(self._port, self._baudrate)
        except (serial.SerialException, OSError) as err:
            if _is_busy(err):
                raise BoardLost(f"{self._port}: {PORT_BUSY}") from err
            raise BoardLost(f"{self._port}: cannot open serial port: {err}") from err
        self._board = board
        self._identity = None
        self._identity_event.clear()
        board.add_cmd_handler(SYSEX_OPTORIG_IDENTIFY, self._on_identity)
        board.add_cmd_handler(SYSEX_OPTORIG_EVENT, self._on_event)
        board.samplingOn(19)
        # An Uno resets when its port opens: poll for the firmware instead of sleeping.
        deadline = time.monotonic() + self._ready_timeout_s
        try:
            while time.monotonic() < deadline:
                board.send_sysex(SYSEX_OPTORIG_IDENTIFY, [])
                board.send_sysex(fc.SYSEX_QUERY_FIRMWARE, [])
                if self._identity_event.wait(0.25):
                    break
                if board.firmware is not None and board.firmware != OPTORIG_FW_NAME:
                    # a second chance for a slow board, then decide
                    if self._identity_event.wait(0.5):
                        break
                    break
        except (serial.SerialException, OSError) as err:
            self._drop_board()
            raise BoardLost(f"{self._port}: serial write failed while connecting: {err}") from err
        if self._identity is not None:
            self._device_timed = True
            ident = self._identity
            version = f"{ident[1]}.{ident[2]}.{ident[3]}" if len(ident) >= 4 else "?"
            if ident[0] != OPTORIG_PROTOCOL_VERSION:
                # checked first: an older firmware cannot even be told which channel to use
                self._drop_board()
                raise FirmwareMismatch(
                    f"{self._port}: the board runs {OPTORIG_FW_NAME} {version} (extension protocol "
                    f"{ident[0]}); this host needs protocol {OPTORIG_PROTOCOL_VERSION} (firmware "
                    f"{project_firmware_version()}), which drives up to {LASER_CHANNELS} laser channels. "
                    "Update the firmware: `make -C firmware flash PORT=...` (docs/firmware.md)"
                )
            fixed = fc.IDENTIFY_FIXED_BYTES
            build = bytes(ident[fixed:]).decode("ascii", "replace") if len(ident) > fixed else ""
            if _version_tuple(version) < _version_tuple(self._min_version):
                self._drop_board()
                raise FirmwareMismatch(
                    f"{self._port}: firmware {OPTORIG_FW_NAME} {version} is older than "
                    f"{self._min_version}, the minimum this rig requires; reflash "
                    "firmware/optorig_fw (docs/firmware.md)"
                )
            if self._required_name != OPTORIG_FW_NAME:
                self._drop_board()
                raise FirmwareMismatch(
                    f"{self._port}: the board runs {OPTORIG_FW_NAME}, the rig file requires "
                    f"{self._required_name}"
                )
            self._info = BoardInfo("firmata", self._port, OPTORIG_FW_NAME, version, build, True)
            for ch in self._channels:
                if ch.active:
                    self._send_config(ch, ch.config)
                    self._send(SYSEX_OPTORIG_ARM, [ch.index])
                    ch.needs_arm = False
        elif board.firmware is not None and self._allow_standard:
            self._device_timed = False
            fw_version = ".".join(str(v) for v in (board.firmware_version or ()))
            self._info = BoardInfo("standard_firmata", self._port, board.firmware, fw_version, "", False)
            log.warning(
                "%s runs %s, not the optorig firmware: pulse timing and the watchdog are "
                "HOST-SIDE ONLY (no protection if this computer stalls). Flash firmware/optorig_fw.",
                self._port,
                board.firmware,
            )
            laser_pin = self._channels[0].pins.laser_pin
            board.digital[laser_pin].mode = 1
            board.digital[laser_pin].write(0)
        elif board.firmware is not None:
            name = board.firmware
            self._drop_board()
            raise FirmwareMismatch(
                f"{self._port}: the board runs {name}, not the optorig firmware: pulses "
                "would be timed by this computer and there is no board watchdog. Flash "
                "firmware/optorig_fw (docs/firmware.md), or for bench tests only set "
                "board.allow_host_timed_pulses: true in the rig file"
            )
        else:
            malformed = int(getattr(board, "malformed_messages", 0))
            self._drop_board()
            if malformed:
                raise BoardLost(
                    f"{self._port}: the device answered with {malformed} message(s) that are "
                    "not Firmata (it echoes or sends other data): this is not a board running "
                    "the optorig firmware; check --board / the port (docs/firmware.md)"
                )
            raise BoardLost(
                f"{self._port}: no Firmata firmware answered within {self._ready_timeout_s:g} s "
                "(is the optorig firmware flashed? see docs/firmware.md)"
            )
        for ch in self._channels:
            ch.gate_open = False
        self._last_ack = time.monotonic()
        self._ready = True
        self._push(BoardEventKind.READY, detail=self._info.firmware_name)

    def _drop_board(self) -> None:
        board, self._board = self._board, None
        self._ready = False
        if board is None:
            return
        board.samplerThread.stop()
        # Wake the reader out of its blocking read before closing the port under it (a
        # read on a closed port raised in the iterator thread).
        try:
            board.sp.cancel_read()
        except (OSError, AttributeError):
            pass
        if board.samplerThread.is_alive() and board.samplerThread is not threading.current_thread():
            board.samplerThread.join(timeout=1.0)
        try:
            board.sp.close()
        except (OSError, AttributeError):
            pass

    def _send(self, command: int, data: list[int] | bytes) -> None:
        """Send one sysex; raises BoardLost (and marks the board lost) on failure."""
        import serial

        board = self._board
        if board is None:
            raise BoardLost(f"{self._port}: board is not connected")
        try:
            board.send_sysex(command, bytearray(data))
        except (serial.SerialException, OSError, TypeError, AttributeError) as err:
            self._mark_lost(f"serial write failed: {err}")
            raise BoardLost(f"{self._port}: serial write failed: {err}") from err

    def _mark_lost(self, reason: str) -> None:
        if self._lost:
            return
        self._lost = True
        self._ready = False
        for ch in self._channels:
            ch.gate_open = False
        log.error("%s: laser board lost (%s)", self._port, reason)
        self._push(BoardEventKind.DISCONNECTED, detail=reason)

    def _send_config(self, ch: _Channel, config: LaserConfig) -> None:
        rc = rules_config(config)
        pins = ch.pins
        interlock = pins.interlock_pin if pins.interlock_pin is not None else fc.INTERLOCK_PIN_NONE
        pwm = pins.pwm_pin if pins.pwm_pin is not None else fc.PWM_PIN_NONE
        payload = (
            bytes([ch.index, rc.mode, pins.laser_pin])
            + fc.to7(rc.period_us, 4)
            + fc.to7(rc.width_us, 4)
            + fc.to7(rc.max_on_ms, 4)
            + fc.to7(rc.watchdog_ms, 2)
            + bytes([pwm])
            + fc.to7(pins.pwm_level, 2)
            + fc.to7(int(round(config.ramp_down_ms)), 2)
            + bytes([interlock, pins.interlock_trip_level])
            + bytes([fc.POLARITY_ACTIVE_LOW if config.active_low else fc.POLARITY_ACTIVE_HIGH])
        )
        assert len(payload) == fc.CONFIG_PAYLOAD_BYTES
        ch.config_event.clear()
        ch.config_refused = False
        self._send(SYSEX_OPTORIG_CONFIG, payload)
        if not ch.config_event.wait(2.0):
            raise BoardLost(f"{self._port}: firmware did not acknowledge the configuration of channel {ch.index}")
        if ch.config_refused:
            raise ConfigError(
                f"{self._port}: firmware refused the laser configuration of channel {ch.index} "
                f"(pins {pins}; a pin another channel, the sync output or the serial port uses?): {config}"
            )

    def configure(self, config: LaserConfig) -> None:
        self._channel_configure(0, config)

    def _channel_configure(self, k: int, config: LaserConfig) -> None:
        validate_laser_config(config)
        ch = self._channels[k]
        with self._lock:
            self._require_ready()
            self._channel_laser_off(k)
            ch.config = config
            if self._device_timed:
                self._send_config(ch, config)
                self._send(SYSEX_OPTORIG_ARM, [k])
                ch.needs_arm = False
                ch.active = True
            elif k != 0:
                raise ConfigError(f"{self._port}: laser channel {k} needs the optorig firmware")

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
        """Camera-sync TTL + LED pulses at random intervals; each rising edge is reported as
        a SYNC event with the firmware's microsecond clock (optorig firmware only)."""
        with self._lock:
            self._require_ready()
            if not self._device_timed:
                raise ConfigError(f"{self._port}: sync output needs the optorig firmware")
            payload = (
                bytes([int(enabled), sync_pin, led_pin if led_pin is not None else fc.PWM_PIN_NONE])
                + fc.to7(min_interval_ms, 2)
                + fc.to7(max_interval_ms, 2)
                + fc.to7(width_ms, 2)
            )
            self._board_config_event.clear()
            self._board_config_refused = False
            self._send(SYSEX_OPTORIG_SYNC, payload)
            if not self._board_config_event.wait(2.0):
                raise BoardLost(f"{self._port}: firmware did not acknowledge the sync configuration")
            if self._board_config_refused:
                raise ConfigError(f"{self._port}: firmware refused the sync configuration")

    def configure_trigger(self, config: TriggerConfig | None) -> None:
        """Start (or with None stop) the camera trigger the firmware generates: a pulse every
        1/fps s on ``config.pin``, each reported as a TRIGGER event (count, device time of
        the rising edge). Stopping drives the pin low and reports the count sent. Raises
        ConfigError when the firmware refuses (bad values, pin conflict) or is not ours."""
        if config is not None:
            validate_trigger_config(config)
        with self._lock:
            self._require_ready()
            if not self._device_timed:
                raise ConfigError(f"{self._port}: a camera trigger needs the optorig firmware")
            self._board_config_event.clear()
            self._board_config_refused = False
            self._send(SYSEX_OPTORIG_TRIGGER, trigger_payload(config))
            self._trigger_on = False  # any TRIGGER stops a running one first
            if not self._board_config_event.wait(2.0):
                raise BoardLost(
                    f"{self._port}: firmware did not acknowledge the camera trigger (firmware "
                    "without the TRIGGER command? flash the current firmware: docs/firmware.md)"
                )
            if self._board_config_refused:
                raise ConfigError(
                    f"{self._port}: firmware refused the camera trigger {config} (pin in use by "
                    "the laser, interlock or sync output, or values out of range)"
                )
            self._trigger_on = config is not None

    def _require_ready(self) -> None:
        if self._lost:
            raise BoardLost(f"{self._port}: laser board lost (reconnecting)" if self._auto_reconnect else f"{self._port}: laser board lost")
        if not self._is_open or not self._ready:
            raise BoardLost(f"{self._port}: board is not open")

    def set_gate(self, open_: bool) -> None:
        self._channel_set_gate(0, open_)

    def _channel_set_gate(self, k: int, open_: bool) -> None:
        ch = self._channels[k]
        with self._lock:
            self._require_ready()
            if not open_:
                self._gate_command(ch, False)
                return
            if self._device_timed and ch.needs_arm:
                # Never a silent re-arm: the session decides (board_fault).
                raise BoardFault(
                    f"{self._port}: laser channel {k} tripped its watchdog or the board was "
                    "reset; gate-open refused until it is configured again"
                )
            self._gate_command(ch, True)

    def _gate_command(self, ch: _Channel, open_: bool) -> None:
        if self._device_timed:
            self._send(SYSEX_OPTORIG_GATE, [ch.index, 1 if open_ else 0])
            ch.gate_open = open_
            return
        if ch.index != 0:
            raise ConfigError(f"{self._port}: laser channel {ch.index} needs the optorig firmware")
        # StandardFirmata: host-timed
        if open_ == ch.gate_open:
            return
        ch.gate_open = open_
        if open_:
            self._pulse_stop.clear()
            self._pulse_thread = threading.Thread(
                target=self._host_pulses, name="optorig-host-pulses", daemon=True
            )
            self._pulse_thread.start()
            self._push(BoardEventKind.GATE_OPENED, pin_level=1, detail="host-timed")
        else:
            self._pulse_stop.set()
            if self._pulse_thread is not None:
                self._pulse_thread.join(timeout=1.0)
            self._write_laser_pin(0)
            self._push(BoardEventKind.GATE_CLOSED, pin_level=0, detail="host-timed")

    def _write_laser_pin(self, level: int) -> None:
        import serial

        board = self._board
        if board is None:
            return
        try:
            board.digital[self._channels[0].pins.laser_pin].write(level)
        except (serial.SerialException, OSError, AttributeError) as err:
            self._mark_lost(f"serial write failed: {err}")

    def _host_pulses(self) -> None:
        """StandardFirmata fallback: host-timed train (ms jitter; no device watchdog)."""
        config = self._channels[0].config
        start = time.monotonic()
        if config.mode == "continuous":
            self._write_laser_pin(1)
            self._pulse_stop.wait(config.max_on_s)
        else:
            period_s = 1.0 / config.frequency_hz
            k = 0
            while not self._pulse_stop.is_set() and time.monotonic() - start < config.max_on_s:
                self._write_laser_pin(1)
                if self._pulse_stop.wait(max(0.0, start + k * period_s + config.pulse_width_ms / 1000 - time.monotonic())):
                    break
                self._write_laser_pin(0)
                k += 1
                self._pulse_stop.wait(max(0.0, start + k * period_s - time.monotonic()))
        self._write_laser_pin(0)
        if time.monotonic() - start >= config.max_on_s and not self._pulse_stop.is_set():
            self._channels[0].gate_open = False
            self._push(BoardEventKind.CAP, detail="host-side cap")

    def laser_off(self) -> None:
        """Close channel 0's gate. Never raises; safe on a closed or lost board."""
        self._channel_laser_off(0)

    def _channel_laser_off(self, k: int) -> None:
        ch = self._channels[k]
        try:
            with self._lock:
                if self._board is None:
                    ch.gate_open = False
                    return
                if self._device_timed:
                    try:
                        self._send(SYSEX_OPTORIG_GATE, [k, 0])
                    except BoardLost:
                        pass
                    ch.gate_open = False
                elif k == 0:
                    self._gate_command(ch, False)
        except Exception:  # noqa: BLE001 - the emergency path must not raise
            log.exception("laser_off failed")

    def all_off(self) -> None:
        """Emergency stop: close every channel's gate. Never raises."""
        for k in range(LASER_CHANNELS):
            self._channel_laser_off(k)

    def events(self) -> list[BoardEvent]:
        return self._channel_events(0)

    def _channel_events(self, k: int) -> list[BoardEvent]:
        ch = self._channels[k]
        with self._events_lock:
            drained, ch.events = ch.events, []
            return drained

    def _confirm_closed(self) -> bool:
        """Ask the firmware for its state; True when it reports every gate closed."""
        if not self._device_timed or self._board is None or self._lost:
            return not self._device_timed
        deadline = time.monotonic() + CLOSE_CONFIRM_TIMEOUT_S
        while time.monotonic() < deadline:
            self._identity_event.clear()
            try:
                for k in range(LASER_CHANNELS):
                    self._send(SYSEX_OPTORIG_GATE, [k, 0])
                self._send(SYSEX_OPTORIG_IDENTIFY, [])
            except BoardLost:
                return False
            if self._identity_event.wait(max(0.0, deadline - time.monotonic())):
                ident = self._identity or ()
                if len(ident) > 5 and ident[5] == 0:  # gate_open mask over the channels
                    return True
        return False

    def close(self) -> None:
        """Close channel 0; the link closes (every gate confirmed closed) when no channel
        view holds it any more."""
        self.laser_off()
        with self._lock:
            self._self_open = False
            if self._holders() > 0:
                return
        self._shutdown()

    def _release_view(self, k: int) -> None:
        self._channel_laser_off(k)
        with self._lock:
            ch = self._channels[k]
            ch.views = max(0, ch.views - 1)
            if self._holders() > 0:
                return
        self._shutdown()

    def _shutdown(self) -> None:
        self.all_off()
        self._stop.set()
        if self._hb_thread is not None and self._hb_thread is not threading.current_thread():
            self._hb_thread.join(timeout=2.0)
        with self._lock:
            if self._board is not None:
                if not self._confirm_closed():
                    log.error("%s: no confirmation that the laser gates closed", self._port)
                if self._device_timed:
                    for k in range(LASER_CHANNELS):
                        try:
                            self._send(SYSEX_OPTORIG_GATE, [k, 0])
                        except BoardLost:
                            break
                    try:
                        if self._trigger_on:
                            # a camera left triggered would keep filling a disk somewhere
                            self._send(SYSEX_OPTORIG_TRIGGER, trigger_payload(None))
                    except BoardLost:
                        pass
            self._trigger_on = False
            self._drop_board()
            self._is_open = False
            self._ready = False

    def _open_view(self, k: int) -> None:
        with self._lock:
            ch = self._channels[k]
            self._acquire()
            ch.views += 1
            if not ch.active and self._device_timed:
                try:
                    self._send_config(ch, ch.config)
                    self._send(SYSEX_OPTORIG_ARM, [k])
                except Exception:
                    ch.views -= 1
                    if self._holders() == 0:
                        self._shutdown()
                    raise
                ch.needs_arm = False
                ch.active = True

    # ---- heartbeat, loss detection, reconnect ------------------------------------------
    def heartbeat_mask(self) -> int:
        """Channels whose heartbeat bit is sent now: active ones whose liveness check passes
        (a hung arena loop starves only its own channel's watchdog)."""
        mask = 0
        for ch in self._channels:
            if ch.active and ch.alive():
                mask |= 1 << ch.index
        return mask

    def _heartbeat_loop(self) -> None:
        period_s = HEARTBEAT_PERIOD_MS / 1000
        while not self._stop.wait(period_s):
            if self._lost:
                if self._auto_reconnect:
                    self._try_reconnect()
                continue
            with self._lock:
                if self._board is None:
                    continue
                if not self._board.samplerThread.is_alive():
                    self._mark_lost("serial reader stopped")
                    continue
                if self._device_timed:
                    mask = self.heartbeat_mask()
                    if not mask:
                        # No channel's control loop is alive: no heartbeat, so the firmware's
                        # watchdogs close the gates. Acks are not expected meanwhile.
                        self._last_ack = time.monotonic()
                        continue
                    self._hb_seq = (self._hb_seq + 1) & 0x7F
                    try:
                        self._send(SYSEX_OPTORIG_HEARTBEAT, [mask, self._hb_seq])
                    except BoardLost:
                        continue
                    if time.monotonic() - self._last_ack > ACK_TIMEOUT_S:
                        self._mark_lost(f"no heartbeat ack for {ACK_TIMEOUT_S:g} s")

    def _try_reconnect(self) -> None:
        with self._lock:
            self._drop_board()
            try:
                self._connect()
            except (BoardLost, ConfigError) as err:
                log.debug("reconnect failed: %s", err)
                self._drop_board()
                return
            self._lost = False
            log.warning("%s: laser board reconnected, gates closed", self._port)
            self._push(BoardEventKind.RECONNECTED, detail=self._port)


class FirmataChannel(ChannelView["FirmataBoard"]):
    """Laser channel ``index`` of a FirmataBoard, as a LaserBoard of its own (ChannelView)."""


def _is_busy(err: BaseException) -> bool:
    """pyserial's exclusive lock failed: another process holds the port."""
    cause: BaseException | None = err
    while cause is not None:
        if isinstance(cause, OSError) and cause.errno in (errno.EAGAIN, errno.EWOULDBLOCK, errno.EBUSY):
            return True
        if "Could not exclusively lock port" in str(cause) or "Resource temporarily unavailable" in str(cause):
            return True
        cause = cause.__cause__ or cause.__context__
    return False


def _laser_off_if_alive(ref: weakref.ref[FirmataBoard]) -> None:
    """atexit backup: close the gate of a board that is still around."""
    board = ref()
    if board is not None:
        board.laser_off()
