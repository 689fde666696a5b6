"""Firmata and optorig sysex codes, mirrored from firmware/optorig_fw/config.h (a test
parses that header and compares), plus 7-bit helpers and a small Firmata parser."""

from __future__ import annotations

# ---- Firmata ---------------------------------------------------------------------------
DIGITAL_MESSAGE = 0x90
ANALOG_MESSAGE = 0xE0
REPORT_ANALOG = 0xC0
REPORT_DIGITAL = 0xD0
START_SYSEX = 0xF0
SET_PIN_MODE = 0xF4
SET_DIGITAL_PIN_VALUE = 0xF5
END_SYSEX = 0xF7
REPORT_VERSION = 0xF9
SYSTEM_RESET = 0xFF
SYSEX_QUERY_FIRMWARE = 0x79

# ---- optorig extension (config.h) ------------------------------------------------------
OPTORIG_FW_NAME = "optorig"
OPTORIG_PROTOCOL_VERSION = 3
#: The firmware version shipped with this host: the default minimum a rig file requires.
OPTORIG_FW_VERSION_MAJOR = 1
OPTORIG_FW_VERSION_MINOR = 2
OPTORIG_FW_VERSION_PATCH = 0
#: Independent laser channels of one board (protocol 3); an event's last byte names its
#: channel, or CHANNEL_BOARD for board-level events (READY, SYNC, acks of board settings).
OPTORIG_CHANNELS = 4
CHANNEL_BOARD = 0x7F
SYSEX_OPTORIG_IDENTIFY = 0x01
SYSEX_OPTORIG_CONFIG = 0x02
SYSEX_OPTORIG_GATE = 0x03
SYSEX_OPTORIG_HEARTBEAT = 0x04
SYSEX_OPTORIG_ARM = 0x05
SYSEX_OPTORIG_SYNC = 0x06
SYSEX_OPTORIG_EVENT = 0x07
SYSEX_OPTORIG_TRIGGER = 0x08

EVENT_READY = 0
EVENT_GATE_OPENED = 1
EVENT_GATE_CLOSED = 2
EVENT_WATCHDOG = 3
EVENT_CAP = 4
EVENT_INTERLOCK = 5
EVENT_SYNC = 6
EVENT_HEARTBEAT_ACK = 7
EVENT_REFUSED = 8
EVENT_CONFIG_ACK = 9
EVENT_INTERLOCK_CLEARED = 10
EVENT_ARMED = 11
EVENT_TRIGGER = 12

REASON_HOST = 0
REASON_WATCHDOG = 1
REASON_CAP = 2
REASON_INTERLOCK = 3
REASON_CONFIG = 4
REASON_NOT_ARMED = 5
REASON_BAD_CONFIG = 6
REASON_RESET = 7
REASON_PIN_CONFLICT = 8
REASON_NAMES = {
    REASON_HOST: "host",
    REASON_WATCHDOG: "watchdog",
    REASON_CAP: "cap",
    REASON_INTERLOCK: "interlock",
    REASON_CONFIG: "config",
    REASON_NOT_ARMED: "not_armed",
    REASON_BAD_CONFIG: "bad_config",
    REASON_RESET: "reset",
    REASON_PIN_CONFLICT: "pin_conflict",
}
#: Refusals of a CONFIG, SYNC or TRIGGER message.
CONFIG_REFUSAL_REASONS = (REASON_BAD_CONFIG, REASON_PIN_CONFLICT)

POLARITY_ACTIVE_HIGH = 0
POLARITY_ACTIVE_LOW = 1

# ---- wire layout (config.h; docs/firmware.md lists every byte) ----------------------------
CONFIG_PAYLOAD_BYTES = 25
SYNC_PAYLOAD_BYTES = 9
TRIGGER_PAYLOAD_BYTES = 11
EVENT_US_BYTES = 7
EVENT_PULSES_BYTES = 3
EVENT_PAYLOAD_BYTES = 14
IDENTIFY_FIXED_BYTES = 13
IDENTIFY_DROPPED_BYTES = 3
SAFETY_TICK_US = 250
RX_BUDGET_PER_LOOP = 16

MODE_CONTINUOUS = 0
MODE_PULSE_TRAIN = 1
PWM_PIN_NONE = 127
INTERLOCK_PIN_NONE = 127
#: Camera trigger limits (config.h): 1..500 frames/s, >= 100 us high and >= 100 us low.
TRIGGER_PIN_DEFAULT = 8
TRIGGER_MIN_PERIOD_US = 2000
TRIGGER_MAX_PERIOD_US = 1_000_000
TRIGGER_MIN_WIDTH_US = 100
TRIGGER_MIN_GAP_US = 100
#: The event's ``pulses`` field (3 x 7 bits) carries the trigger count modulo this.
TRIGGER_COUNT_MODULO = 1 << (7 * EVENT_PULSES_BYTES)


def decode_event(data: bytes | list[int] | tuple[int, ...]) -> tuple[int, int, int, int, int, int] | None:
    """An EVENT payload (after the sysex id) as (kind, device_us, pulses, level, reason,
    channel); ``channel`` is CHANNEL_BOARD for board-level events."""
    if len(data) < EVENT_PAYLOAD_BYTES:
        return None
    us_end = 1 + EVENT_US_BYTES
    pulses_end = us_end + EVENT_PULSES_BYTES
    return (
        data[0],
        from7(data[1:us_end]),
        from7(data[us_end:pulses_end]),
        data[pulses_end],
        data[pulses_end + 1],
        data[pulses_end + 2],
    )


def to7(value: int, nbytes: int) -> bytes:
    """``value`` as ``nbytes`` 7-bit bytes, least significant first."""
    if value < 0 or value >= 1 << (7 * nbytes):
        raise ValueError(f"{value} does not fit in {nbytes} 7-bit bytes")
    return bytes((value >> (7 * i)) & 0x7F for i in range(nbytes))


def from7(data: bytes | list[int] | tuple[int, ...]) -> int:
    value = 0
    for i, byte in enumerate(data):
        value |= (byte & 0x7F) << (7 * i)
    return value


_DATA_BYTES = {0x90: 2, 0xE0: 2, 0xC0: 1, 0xD0: 1}
_FIXED_COMMANDS = {SET_PIN_MODE: 2, SET_DIGITAL_PIN_VALUE: 2, REPORT_VERSION: 0, SYSTEM_RESET: 0}


class FirmataParser:
    """Bytes in, ``(command, payload)`` out; a sysex comes out as ``(sysex_id, data)``."""

    def __init__(self) -> None:
        self._command: int | None = None
        self._need = 0
        self._data = bytearray()
        self._in_sysex = False

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        messages: list[tuple[int, bytes]] = []
        for byte in data:
            if self._in_sysex:
                if byte == END_SYSEX:
                    self._in_sysex = False
                    if self._data:
                        messages.append((self._data[0], bytes(self._data[1:])))
                    continue
                if byte < 0x80:
                    self._data.append(byte)
                    continue
                self._in_sysex = False
            if byte >= 0x80:
                self._data = bytearray()
                self._command = None
                if byte == START_SYSEX:
                    self._in_sysex = True
                    continue
                need = _FIXED_COMMANDS.get(byte, _DATA_BYTES.get(byte & 0xF0))
                if need is None:
                    continue
                if need == 0:
                    messages.append((byte, b""))
                    continue
                self._command, self._need = byte, need
                continue
            if self._command is not None:
                self._data.append(byte)
                if len(self._data) == self._need:
                    messages.append((self._command, bytes(self._data)))
                    self._command = None
                    self._data = bytearray()
        return messages
