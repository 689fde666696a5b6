"""The rig hardware file (YAML, ``schema_version: 1``) as frozen pydantic models.

One file per physical rig: which board and port, which pins carry the laser TTL, the
analog (PWM) modulation, the door interlock, the camera-sync output and its LED, how long
the control loop may go without completing a frame before the light is forced off, what
to do on a board fault, the camera and the calibration files. Every model rejects unknown
keys. Cross-field rules (one pin per role, the serial pins, PWM-capable pins) are checked
here; rules that need the protocol too (a ramp-down needs a PWM pin) live in
``rig.rigfile.load.check_protocol_on_rig``.

Pins use Arduino Uno digital numbering: D2..D13, and A0..A5 as 14..19. D0 and D1 are the
USB serial link to the computer and can never be used.
"""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator, model_validator

from rig.devices.camera_settings import CameraSettings

if TYPE_CHECKING:
    from rig.calibration import ArenaCalibration
    from rig.devices.board import TriggerConfig
    from rig.session.latency import LatencyTestSettings

from rig.devices import firmata_codes as fc
from rig.devices.limits import (
    HEARTBEAT_PERIOD_MS,
    LASER_PIN_DEFAULT,
    PWM_CAPABLE_PINS,
    SYNC_LED_PIN_DEFAULT,
    SYNC_PIN_DEFAULT,
    TRIGGER_MAX_FPS,
    TRIGGER_MIN_FPS,
    TRIGGER_MIN_GAP_MS,
    TRIGGER_MIN_WIDTH_MS,
    TRIGGER_PIN_DEFAULT,
    WATCHDOG_TIMEOUT_MS,
    WATCHDOG_TIMEOUT_MS_MAX,
)

SCHEMA_VERSION = 1

#: Uno pins usable as digital I/O (D2..D13, A0..A5 = D14..D19).
FIRST_PIN = 2
LAST_PIN = 19
SERIAL_PINS = (0, 1)
#: Floor of the default loop-stall limit, and how many frame periods it allows.
LOOP_STALL_MS_FLOOR = 150.0
LOOP_STALL_FRAMES = 4


def project_firmware_version() -> str:
    """The firmware version this host ships with (mirrors firmware/optorig_fw/config.h)."""
    return f"{fc.OPTORIG_FW_VERSION_MAJOR}.{fc.OPTORIG_FW_VERSION_MINOR}.{fc.OPTORIG_FW_VERSION_PATCH}"


def parse_version(text: str) -> tuple[int, ...]:
    """``"1.2.3"`` -> ``(1, 2, 3)``; anything unparsable -> ``()`` (older than every version)."""
    try:
        return tuple(int(part) for part in text.strip().split("."))
    except ValueError:
        return ()


#: Where a field is in the file: ``("laser", "channels", 1, "pin")``.
PinLoc = tuple[str | int, ...]


def loc_text(loc: PinLoc) -> str:
    """``("laser", "channels", 1, "pin")`` -> ``laser.channels[1].pin``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


def pin_conflicts(roles: list[tuple[PinLoc, int]]) -> list[tuple[PinLoc, str]]:
    """``(field loc, reason)`` for every pin that is given a second role."""
    seen: dict[int, PinLoc] = {}
    found: list[tuple[PinLoc, str]] = []
    for loc, pin in roles:
        if pin in seen:
            found.append((loc, f"pin {pin} is already used as {loc_text(seen[pin])}"))
        else:
            seen[pin] = loc
    return found


class BoardKind(enum.Enum):
    MOCK = "mock"
    FIRMATA = "firmata"


class Polarity(enum.Enum):
    ACTIVE_HIGH = "active_high"
    ACTIVE_LOW = "active_low"


class Level(enum.Enum):
    LOW = "low"
    HIGH = "high"


class InterlockAction(enum.Enum):
    """What a tripped interlock does to the session (the light goes off either way)."""

    STOP_SESSION = "stop_session"
    PAUSE_LIGHT = "pause_light"


class BoardFaultAction(enum.Enum):
    """What a board fault (watchdog trip, device reset, refused gate-open) does."""

    END_SESSION = "end_session"
    CONTINUE_WITHOUT_LIGHT = "continue_without_light"


class _Model(BaseModel):
    model_config = ConfigDict(
        frozen=True, extra="forbid", validate_default=True, allow_inf_nan=False,
        use_enum_values=False,
    )


def _check_pin(value: int | None) -> int | None:
    if value is None:
        return None
    if value in SERIAL_PINS:
        raise ValueError(
            f"pin {value} is the USB serial link to the computer (D0/D1); use D{FIRST_PIN}..D13 or A0..A5 (14..19)"
        )
    if not FIRST_PIN <= value <= LAST_PIN:
        raise ValueError(
            f"pin {value} does not exist on an Arduino Uno; use {FIRST_PIN}..13 or A0..A5 (14..19)"
        )
    return value


#: D13 carries the Uno's on-board LED, which the bootloader flashes at every reset, before
#: the firmware (and its .init3 off-level) runs: a laser on it would flash too.
BOOT_BLINK_PIN = 13


def _check_laser_pin(value: int | None) -> int | None:
    value = _check_pin(value)
    if value == BOOT_BLINK_PIN:
        raise ValueError(
            "pin 13 drives the board's LED, which the bootloader flashes at every reset before "
            "optorig's firmware runs, so the laser would flash too; use another pin"
        )
    return value


class BoardSection(_Model):
    """The laser board and the firmware it must run."""

    kind: BoardKind = Field(BoardKind.MOCK, description="`mock` (simulated) or `firmata` (an Arduino).")
    port: str = Field("auto", min_length=1, description="Serial port, e.g. /dev/ttyACM0, or `auto`.")
    baud: int = Field(57600, gt=0, description="Serial speed; the optorig firmware uses 57600.")
    firmware_name: str = Field(
        fc.OPTORIG_FW_NAME, min_length=1, description="Firmware name the board must report."
    )
    min_firmware_version: str = Field(
        default_factory=project_firmware_version,
        pattern=r"^\d+\.\d+\.\d+$",
        description="Oldest firmware version accepted (default: the version shipped with optorig).",
    )
    allow_host_timed_pulses: bool = Field(
        False,
        description="Accept stock StandardFirmata: pulses timed by this computer and NO board "
        "watchdog. Only for bench tests; recorded as a warning in session.json.",
    )


#: Laser channels one optorig board drives (firmware OPTORIG_CHANNELS).
MAX_CHANNELS = 4


class LaserChannel(_Model):
    """One laser channel's TTL output (channel k is ``laser.channels[k]``)."""

    pin: int = Field(description="TTL (gate) output pin of this channel's laser.")

    _pin = field_validator("pin")(lambda v: _check_laser_pin(v))


class LaserSection(_Model):
    """The laser driver's inputs.

    One laser: ``pin``. Several (a multi-box rig, one channel per arena):
    ``channels: [{pin: 9}, {pin: 10}, ...]``; channel 0 is the first entry and ``pin``
    then defaults to it (giving both with different pins is an error).
    """

    pin: int = Field(LASER_PIN_DEFAULT, description="TTL (gate) output pin (channel 0).")
    channels: tuple[LaserChannel, ...] | None = Field(
        None,
        min_length=1,
        max_length=MAX_CHANNELS,
        description="Per-channel TTL pins, channel 0 first (up to 4); none: one channel on `pin`.",
    )
    polarity: Polarity = Field(
        Polarity.ACTIVE_HIGH, description="`active_high`: HIGH = light; `active_low`: LOW = light."
    )
    pwm_pin: int | None = Field(
        None, description="Analog-modulation output (PWM: 3, 5, 6 or 11); needed for a ramp-down."
    )
    pwm_level: int = Field(255, ge=0, le=255, description="PWM duty while on (0..255).")

    _pins = field_validator("pin")(lambda v: _check_laser_pin(v))
    _pwm = field_validator("pwm_pin")(lambda v: _check_pin(v))

    @model_validator(mode="before")
    @classmethod
    def _pin_from_channels(cls, data: object) -> object:
        # `pin` is channel 0's pin: every single-arena caller keeps reading `laser.pin`.
        if isinstance(data, dict) and isinstance(data.get("channels"), list) and data["channels"]:
            first = data["channels"][0]
            first_pin = first.get("pin") if isinstance(first, dict) else None
            if "pin" not in data:
                return {**data, "pin": first_pin} if first_pin is not None else data
            if first_pin is not None and data["pin"] != first_pin:
                raise ValueError(
                    f"pin {data['pin']} differs from channels[0].pin {first_pin}; with "
                    "`channels`, leave out `pin` (channel 0 is the first entry)"
                )
        return data

    @property
    def channel_pins(self) -> tuple[int, ...]:
        """The TTL pin of each channel, channel 0 first."""
        if self.channels is None:
            return (self.pin,)
        return tuple(c.pin for c in self.channels)

    @model_validator(mode="after")
    def _pwm_capable(self) -> LaserSection:
        if self.pwm_pin is not None and self.pwm_pin not in PWM_CAPABLE_PINS:
            raise ValueError(
                f"pwm_pin: pin {self.pwm_pin} has no PWM output the firmware can drive; "
                f"use one of {', '.join(str(p) for p in PWM_CAPABLE_PINS)}"
            )
        return self


class InterlockSection(_Model):
    """A door or key switch that must be closed for the light to be on."""

    pin: int = Field(description="Input pin of the switch (internal pull-up: an open wire reads HIGH).")
    closed_level: Level = Field(
        Level.LOW, description="Level read when the door is closed (`low` for a switch to ground)."
    )
    required: bool = Field(True, description="Refuse to start while the interlock is open.")
    on_trip: InterlockAction = Field(
        InterlockAction.STOP_SESSION,
        description="Mid-session trip: `stop_session` or `pause_light` (no light until it closes).",
    )

    _pin = field_validator("pin")(lambda v: _check_pin(v))

    @property
    def trip_level(self) -> int:
        """The input level that means "open" (what the firmware is told to watch for)."""
        return 1 if self.closed_level is Level.LOW else 0


class SyncSection(_Model):
    """Camera-sync TTL output and the LED the camera sees (and the latency self-test)."""

    enabled: bool = Field(False, description="Emit sync pulses during a session.")
    pin: int = Field(SYNC_PIN_DEFAULT, description="Sync TTL output pin.")
    led_pin: int | None = Field(SYNC_LED_PIN_DEFAULT, description="Sync LED pin (none: no LED).")
    latency_test: bool = Field(
        False,
        description="Run the camera-to-light self-test in every session (docs/cameras.md): "
        "the LED flashes at random times and optorig times when the camera sees it.",
    )
    led_roi: tuple[int, int, int, int] | None = Field(
        None, description="x, y, width, height in px of a small box around the LED in the camera image."
    )
    led_threshold: float = Field(
        40.0, gt=0, le=255, description="Grey levels above the LED-off level that mean the LED is lit."
    )

    _pins = field_validator("pin", "led_pin")(lambda v: _check_pin(v))

    @model_validator(mode="after")
    def _latency_test_needs_led(self) -> SyncSection:
        if self.latency_test and self.led_roi is None:
            raise ValueError("latency_test needs led_roi (the LED's box in the image: x, y, w, h)")
        if self.latency_test and self.led_pin is None:
            raise ValueError("latency_test needs led_pin (the LED the camera sees)")
        if self.led_roi is not None:
            x, y, w, h = self.led_roi
            if x < 0 or y < 0 or w < 1 or h < 1:
                raise ValueError(f"led_roi: x, y >= 0 and width, height >= 1, got {list(self.led_roi)}")
        return self

    def latency_test_settings(self) -> LatencyTestSettings | None:
        """The self-test this section asks for (None when ``latency_test`` is off)."""
        if not self.latency_test or self.led_roi is None or self.led_pin is None:
            return None
        from rig.session.latency import LatencyTestSettings

        return LatencyTestSettings(
            led_roi=self.led_roi, threshold=self.led_threshold, sync_pin=self.pin, led_pin=self.led_pin
        )


class TriggerSource(enum.Enum):
    """Who starts each camera frame."""

    NONE = "none"  # the camera's own timing (camera.trigger: free_run or software)
    BOARD = "board"  # the board's trigger output (camera.trigger: hardware)


#: Why a board trigger needs a hardware-triggered camera (rig validate names both fields).
TRIGGER_NEEDS_HARDWARE = (
    "trigger.source board needs camera.trigger: hardware (the camera must start a frame on "
    "each pulse from the board; otherwise frames and triggers would not match)"
)


class TriggerSection(_Model):
    """The camera trigger the board generates (device-timed; docs/cameras.md): a TTL pulse
    every 1/fps s on ``pin``, wired to the camera's trigger input line."""

    source: TriggerSource = Field(TriggerSource.NONE, description="`none` or `board` (the board triggers every frame).")
    pin: int = Field(TRIGGER_PIN_DEFAULT, description="Trigger TTL output pin (to the camera's opto-in line).")
    fps: float | None = Field(
        None, ge=TRIGGER_MIN_FPS, le=TRIGGER_MAX_FPS, description="Frames per second (default: camera.fps)."
    )
    width_ms: float = Field(1.0, ge=TRIGGER_MIN_WIDTH_MS, le=500.0, description="Pulse width in ms.")

    _pins = field_validator("pin")(lambda v: _check_pin(v))

    @property
    def enabled(self) -> bool:
        return self.source is TriggerSource.BOARD


class CameraSection(CameraSettings):
    """The rig's camera: the default frame source (``--source`` overrides it) and the
    settings applied to a lab camera before every session (``CameraSettings``: fixed
    exposure and gain, pixel format, trigger, strobe; read back into session.json)."""

    source: str = Field("synthetic", min_length=1, description="camera:N, pylon:SERIAL, genicam:SERIAL, video:PATH or synthetic.")
    width: int | None = Field(
        None, ge=16, le=16384, validation_alias=AliasChoices("width", "width_px"),
        description="Requested width in px (default: the calibration's).",
    )
    height: int | None = Field(
        None, ge=16, le=16384, validation_alias=AliasChoices("height", "height_px"),
        description="Requested height in px (default: the calibration's).",
    )

    def settings_for(self, calibration: ArenaCalibration | None, fps: float | None = None) -> CameraSettings:
        """The settings to apply: width/height default to the calibration's image size;
        ``fps`` (the protocol's) applies only when the rig file gives none."""
        data = self.model_dump(exclude={"source"})
        if data["width"] is None and calibration is not None:
            data["width"] = calibration.camera.width_px
        if data["height"] is None and calibration is not None:
            data["height"] = calibration.camera.height_px
        if "fps" not in self.model_fields_set and fps is not None:
            data["fps"] = fps
            if "exposure_us" not in self.model_fields_set:
                data["exposure_us"] = min(8000.0, 0.8e6 / fps)
        return CameraSettings(**data)


class SharedInterlock(enum.Enum):
    """An arena whose door is the rig's own interlock (``interlock: shared``, also what an
    arena without an ``interlock`` line gets), or, said explicitly, no interlock at all
    (``interlock: none``: never by omission, so a wired room door is never dropped)."""

    SHARED = "shared"
    NONE = "none"


class ArenaRegion(_Model):
    """An arena's rectangle in the camera image, in camera pixels (top-left corner x, y)."""

    x: int = Field(ge=0, description="Left edge in px.")
    y: int = Field(ge=0, description="Top edge in px.")
    width: int = Field(ge=16, description="Width in px.")
    height: int = Field(ge=16, description="Height in px.")


class ArenaSection(_Model):
    """One arena (box) of a multi-box rig: where it is in the image, which laser channel."""

    name: str = Field(
        min_length=1, max_length=20, pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]*$",
        description="Short name (letters, digits, - and _), e.g. A or box1; names its session.",
    )
    region: ArenaRegion = Field(description="x, y, width, height in camera px.")
    channel: int = Field(ge=0, lt=MAX_CHANNELS, description="Laser channel 0..3 (laser.channels[k]).")
    interlock: InterlockSection | SharedInterlock | None = Field(
        None,
        description="This box's door switch: its own ({pin: ..}), `shared` (the rig's "
        "`interlock`; also when left out), or `none` (this box has no door switch).",
    )
    protocol: str | None = Field(None, description="Default protocol file of this arena.")
    animal: str | None = Field(None, min_length=1, description="Default animal id of this arena.")


class RigConfig(_Model):
    """One physical rig."""

    schema_version: Literal[1] = Field(description="Rig file format version (1).")
    name: str = Field("rig", min_length=1, max_length=80, description="Name of this rig (shown and recorded).")
    description: str = Field("", description="Free text.")
    board: BoardSection = Field(default_factory=lambda: BoardSection())
    laser: LaserSection = Field(default_factory=lambda: LaserSection())
    interlock: InterlockSection | None = Field(None, description="The door interlock (none: not wired).")
    sync: SyncSection = Field(default_factory=lambda: SyncSection())
    loop_stall_ms: float | None = Field(
        None,
        ge=20,
        le=5000,
        description="Longest time the control loop may go without completing a frame before "
        "the light is forced off and the session ends (default: max(150 ms, 4 frame periods)).",
    )
    heartbeat_timeout_ms: int = Field(
        WATCHDOG_TIMEOUT_MS,
        ge=2 * HEARTBEAT_PERIOD_MS,
        le=WATCHDOG_TIMEOUT_MS_MAX,
        description="Board watchdog: no heartbeat for this long -> the board turns the light off.",
    )
    on_board_fault: BoardFaultAction = Field(
        BoardFaultAction.END_SESSION,
        description="Watchdog trip, board reset or refused gate-open: `end_session` or "
        "`continue_without_light` (the rest of the session runs with the light off).",
    )
    camera: CameraSection = Field(default_factory=lambda: CameraSection())
    trigger: TriggerSection = Field(default_factory=lambda: TriggerSection())
    calibration: str | None = Field(None, description="Arena calibration file of this rig.")
    laser_power_calibration: str | None = Field(None, description="Laser power calibration file.")
    arenas: tuple[ArenaSection, ...] = Field(
        (),
        max_length=MAX_CHANNELS,
        description="The arenas (boxes) under the camera, one laser channel each (none: one arena, "
        "the whole image, channel 0). Checked by `rig validate` (docs/arenas.md).",
    )

    @model_validator(mode="after")
    def _one_pin_per_role(self) -> RigConfig:
        conflicts = pin_conflicts(self.pin_roles())
        if conflicts:
            raise ValueError("; ".join(f"{loc_text(loc)}: {why}" for loc, why in conflicts))
        problems = trigger_problems(self)
        if problems:
            raise ValueError("; ".join(f"{loc_text(loc)}: {why}" for loc, why in problems))
        return self

    def trigger_fps(self) -> float:
        """The board trigger's frame rate: ``trigger.fps``, else ``camera.fps``."""
        return self.trigger.fps if self.trigger.fps is not None else self.camera.fps

    def trigger_config(self) -> TriggerConfig | None:
        """What the board is told to generate (None when it does not trigger the camera)."""
        if not self.trigger.enabled:
            return None
        from rig.devices.board import TriggerConfig

        return TriggerConfig(fps=self.trigger_fps(), width_ms=self.trigger.width_ms, pin=self.trigger.pin)

    def pin_roles(self) -> list[tuple[PinLoc, int]]:
        """Every pin this rig drives or reads, with the field that names it."""
        roles: list[tuple[PinLoc, int]] = [(("laser", "pin"), self.laser.pin)]
        if self.laser.pwm_pin is not None:
            roles.append((("laser", "pwm_pin"), self.laser.pwm_pin))
        if self.interlock is not None:
            roles.append((("interlock", "pin"), self.interlock.pin))
        if self.sync.enabled or self.sync.latency_test:
            roles.append((("sync", "pin"), self.sync.pin))
            if self.sync.led_pin is not None:
                roles.append((("sync", "led_pin"), self.sync.led_pin))
        if self.trigger.enabled:
            roles.append((("trigger", "pin"), self.trigger.pin))
        for k, pin in enumerate(self.laser.channel_pins[1:], start=1):
            roles.append((("laser", "channels", k, "pin"), pin))
        for i, arena in enumerate(self.arenas):
            if isinstance(arena.interlock, InterlockSection):
                roles.append((("arenas", i, "interlock", "pin"), arena.interlock.pin))
        return roles

    def arena(self, name: str) -> ArenaSection:
        """The arena called ``name`` (KeyError naming the known ones)."""
        for arena in self.arenas:
            if arena.name == name:
                return arena
        known = ", ".join(a.name for a in self.arenas) or "none"
        raise KeyError(f"no arena '{name}' in the rig file (its arenas: {known})")

    def for_arena(self, name: str) -> RigConfig:
        """This rig as one arena's session sees it: the arena's channel pin as ``laser.pin``
        (no ``channels``), its own interlock (the rig's when shared or left out; none only
        when the file says ``interlock: none``), no arenas."""
        arena = self.arena(name)
        interlock: InterlockSection | None
        if isinstance(arena.interlock, InterlockSection):
            interlock = arena.interlock
        elif arena.interlock is SharedInterlock.NONE:
            interlock = None
        else:  # `shared`, or left out: the rig's interlock guards this box too
            interlock = self.interlock
        pins = self.laser.channel_pins
        # The one analog output belongs to channel 0 (a ramp-down only there).
        laser = self.laser.model_copy(
            update={
                "pin": pins[arena.channel],
                "channels": None,
                "pwm_pin": self.laser.pwm_pin if arena.channel == 0 else None,
            }
        )
        return self.model_copy(update={"laser": laser, "interlock": interlock, "arenas": ()})

    def effective_loop_stall_ms(self, fps: float | None = None) -> float:
        """``loop_stall_ms``, or max(150 ms, 4 frame periods) at ``fps`` (the camera's)."""
        if self.loop_stall_ms is not None:
            return self.loop_stall_ms
        rate = fps if fps is not None and fps > 0 else self.camera.fps
        return max(LOOP_STALL_MS_FLOOR, LOOP_STALL_FRAMES * 1000.0 / rate)

    @property
    def has_pwm(self) -> bool:
        return self.laser.pwm_pin is not None

    @property
    def active_low(self) -> bool:
        return self.laser.polarity is Polarity.ACTIVE_LOW


def trigger_problems(rig: RigConfig) -> list[tuple[tuple[str, ...], str]]:
    """``(field loc, reason)`` for a board trigger the camera settings contradict."""
    from rig.devices.camera_settings import TriggerMode

    if not rig.trigger.enabled:
        return []
    problems: list[tuple[tuple[str, ...], str]] = []
    if rig.camera.trigger is not TriggerMode.HARDWARE:
        problems.append((("camera", "trigger"), TRIGGER_NEEDS_HARDWARE + f", got {rig.camera.trigger.value}"))
    if rig.arenas:
        # One trigger belongs to the board, not to an arena: each arena's session starting
        # its own would restart the shared trigger, and no arena's counts would match.
        problems.append(
            (("trigger", "source"), "a camera trigger from the board is not supported with several "
             "arenas yet (each arena would restart the one shared trigger); use "
             "camera.trigger: free_run for a multi-box rig, or remove `arenas`")
        )
    fps = rig.trigger_fps()
    if rig.trigger.fps is not None and "fps" in rig.camera.model_fields_set and abs(rig.camera.fps - fps) > 1e-6:
        problems.append(
            (("trigger", "fps"), f"{fps:g} differs from camera.fps {rig.camera.fps:g}; give one rate (the camera's)")
        )
    if not TRIGGER_MIN_FPS <= fps <= TRIGGER_MAX_FPS:
        problems.append((("trigger", "fps"), f"the board triggers {TRIGGER_MIN_FPS:g}..{TRIGGER_MAX_FPS:g} frames/s, got {fps:g}"))
    elif rig.trigger.width_ms + TRIGGER_MIN_GAP_MS > 1000.0 / fps:
        problems.append(
            (("trigger", "width_ms"), f"{rig.trigger.width_ms:g} ms does not fit a {1000.0 / fps:.3f} ms frame period "
             f"with {TRIGGER_MIN_GAP_MS:g} ms low")
        )
    return problems
