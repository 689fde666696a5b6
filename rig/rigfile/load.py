"""Rig YAML -> validated ``RigConfig`` with the exact bytes it came from.

``load_rig(path)`` reads the file once (its bytes and sha256 are kept: the session folder
gets a byte-exact copy), validates it, and finds the calibration files it names (looked up
like a protocol's: beside the rig file, in ``../calibration/``, ``./calibration/``, then
the bundled ones). Every problem is reported as ``FILE[:LINE] FIELD.PATH: reason``, all at
once, in a ``RigFileError``; nothing is opened.

``check_protocol_on_rig`` holds the rules that need both files (a ramp-down needs a PWM
output on this rig).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rig.errors import ConfigError
from rig.protocol.yamlfile import FileIssue, Loc, YamlDocument, read_yaml, validate_model
from rig.devices.limits import LASER_PIN_DEFAULT, TRIGGER_PIN_DEFAULT
from rig.rigfile.models import PinLoc, RigConfig, SharedInterlock, pin_conflicts

if TYPE_CHECKING:
    from rig.protocol.load import LoadedProtocol


class RigFileError(ConfigError):
    """A rig file is invalid; ``issues`` holds each problem, ``str()`` one per line."""

    def __init__(self, issues: Sequence[FileIssue]) -> None:
        self.issues = tuple(issues)
        super().__init__("\n".join(issue.message for issue in self.issues))


@dataclass(frozen=True)
class LoadedRig:
    """A validated rig file, its exact bytes and the calibration files it names."""

    config: RigConfig
    path: Path
    raw: bytes
    sha256: str
    #: True for the rig embedded in optorig (``rig demo`` without ``--rig``).
    embedded: bool = False
    calibration_path: Path | None = None
    power_calibration_path: Path | None = None

    @property
    def file_name(self) -> str:
        return "rig.yaml"

    def summary(self) -> str:
        """One line for people: name, board, laser pin, PWM, interlock, liveness."""
        c = self.config
        board = c.board.kind.value if c.board.kind.value == "mock" else f"firmata {c.board.port}"
        parts = [
            f"rig {c.name}",
            f"board {board} (firmware {c.board.firmware_name} >= {c.board.min_firmware_version})",
            f"laser pin {c.laser.pin} {c.laser.polarity.value}",
            f"PWM pin {c.laser.pwm_pin}" if c.laser.pwm_pin is not None else "no PWM (no ramp-down)",
        ]
        if c.interlock is not None:
            parts.append(
                f"interlock pin {c.interlock.pin} ({'required' if c.interlock.required else 'optional'}, "
                f"on trip: {c.interlock.on_trip.value})"
            )
        else:
            parts.append("no interlock")
        if c.trigger.enabled:
            parts.append(
                f"camera triggered by the board: pin {c.trigger.pin}, {c.trigger_fps():g} fps, "
                f"{c.trigger.width_ms:g} ms pulses -> camera line {c.camera.trigger_line}"
            )
        stall = f"{c.loop_stall_ms:g} ms" if c.loop_stall_ms is not None else "auto"
        parts.append(f"loop stall {stall}, heartbeat timeout {c.heartbeat_timeout_ms} ms")
        if c.arenas:
            parts.append(
                f"{len(c.arenas)} arenas ("
                + ", ".join(f"{a.name}: channel {a.channel} pin {c.laser.channel_pins[a.channel]}" for a in c.arenas)
                + ")"
            )
        if c.board.allow_host_timed_pulses:
            parts.append("WARNING: StandardFirmata allowed (host-timed pulses, no board watchdog)")
        return ", ".join(parts)


def default_rig_path() -> Path:
    """The embedded mock rig (``rig/data/default_rig.yaml``)."""
    return Path(str(resources.files("rig.data").joinpath("default_rig.yaml")))


def _raw_roles(data: dict[str, Any]) -> list[tuple[PinLoc, int]]:
    """Pins as written in the file (before validation), so conflicts get their own line."""

    def section(name: str) -> dict[str, Any]:
        value = data.get(name)
        return value if isinstance(value, dict) else {}

    def pin(value: Any) -> int | None:
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    roles: list[tuple[PinLoc, int]] = []
    laser, interlock, sync = section("laser"), section("interlock"), section("sync")
    channels = laser.get("channels")
    channels = channels if isinstance(channels, list) else []
    first = channels[0].get("pin") if channels and isinstance(channels[0], dict) else None
    for loc, value in (
        (("laser", "pin"), laser.get("pin", first if first is not None else LASER_PIN_DEFAULT)),
        (("laser", "pwm_pin"), laser.get("pwm_pin")),
        (("interlock", "pin"), interlock.get("pin")),
    ):
        checked = pin(value)
        if checked is not None:
            roles.append((loc, checked))
    if sync.get("enabled") is True or sync.get("latency_test") is True:
        for loc, value in ((("sync", "pin"), sync.get("pin", 7)), (("sync", "led_pin"), sync.get("led_pin", 12))):
            checked = pin(value)
            if checked is not None:
                roles.append((loc, checked))
    trigger = section("trigger")
    if trigger.get("source") == "board":
        checked = pin(trigger.get("pin", TRIGGER_PIN_DEFAULT))
        if checked is not None:
            roles.append((("trigger", "pin"), checked))
    for k, channel in enumerate(channels[1:], start=1):
        checked = pin(channel.get("pin")) if isinstance(channel, dict) else None
        if checked is not None:
            roles.append((("laser", "channels", k, "pin"), checked))
    arenas = data.get("arenas")
    for i, arena in enumerate(arenas if isinstance(arenas, list) else []):
        own = arena.get("interlock") if isinstance(arena, dict) else None
        checked = pin(own.get("pin")) if isinstance(own, dict) else None
        if checked is not None:
            roles.append((("arenas", i, "interlock", "pin"), checked))
    return roles


def _trigger_issues(doc: YamlDocument) -> list[FileIssue]:
    """The board-trigger checks of ``RigConfig`` (``trigger_problems``), each naming its field's
    line: a model built from the file's sections as far as they are valid on their own."""
    from rig.rigfile.models import CameraSection, TriggerSection, trigger_problems

    data = doc.data
    try:
        camera = CameraSection.model_validate(data.get("camera") or {})
        trigger = TriggerSection.model_validate(data.get("trigger") or {})
    except ValueError:
        return []
    # (arenas only as "are there any": trigger_problems refuses a board trigger with arenas)
    arenas = tuple(data.get("arenas") or ())
    probe = RigConfig.model_construct(schema_version=1, camera=camera, trigger=trigger, arenas=arenas)
    return [doc.issue(loc, why) for loc, why in trigger_problems(probe)]


def load_rig(path: str | os.PathLike[str], *, embedded: bool = False) -> LoadedRig:
    """Load and check a rig file. Raises ``RigFileError`` with every problem."""
    doc = read_yaml(path, RigFileError, "rig")
    issues = [doc.issue(loc, why) for loc, why in pin_conflicts(_raw_roles(doc.data))]
    try:
        config = validate_model(doc, RigConfig, RigFileError)
    except RigFileError as err:
        extra = [i for i in err.issues if not (issues and "is already used as" in i.reason)]
        if any("trigger" in i.reason and "is already used as" not in i.reason for i in extra):
            # the board-trigger checks again, each on its own field's line
            extra = [i for i in extra if "trigger" not in i.reason] + _trigger_issues(doc)
        raise RigFileError(issues + extra) from None
    if issues:
        raise RigFileError(issues)
    cal_path, power_path, more = _find_calibrations(doc, config)
    more += check_arenas(doc, config)
    if more:
        raise RigFileError(more)
    return LoadedRig(
        config=config,
        path=doc.path,
        raw=doc.raw,
        sha256=hashlib.sha256(doc.raw).hexdigest(),
        embedded=embedded,
        calibration_path=cal_path,
        power_calibration_path=power_path,
    )


def arena_protocol_path(rig_path: Path, name: str) -> Path:
    """An arena's ``protocol:`` as written: absolute, or relative to the rig file's folder."""
    given = Path(name).expanduser()
    return given if given.is_absolute() else rig_path.parent / given


def check_arenas(doc: YamlDocument, config: RigConfig) -> list[FileIssue]:
    """The arenas against each other and the rest of the rig: regions inside the camera
    image and not overlapping, names, channels and animals unique, each channel with a
    laser pin, a shared interlock that exists, default protocols that exist."""
    issues: list[FileIssue] = []
    arenas = config.arenas
    if not arenas:
        return issues
    width, height = config.camera.width, config.camera.height
    if width is None or height is None:
        issues.append(
            doc.issue(
                ("camera",),
                "arenas need the camera image size to check their regions: give camera.width "
                "and camera.height in px",
            )
        )
    pins = config.laser.channel_pins
    seen_names: dict[str, int] = {}
    seen_channels: dict[int, str] = {}
    seen_animals: dict[str, str] = {}
    for i, arena in enumerate(arenas):
        r = arena.region
        if arena.name in seen_names:
            issues.append(doc.issue(("arenas", i, "name"), f"arena name '{arena.name}' is used twice (also arenas[{seen_names[arena.name]}])"))
        seen_names.setdefault(arena.name, i)
        if width is not None and height is not None and (r.x + r.width > width or r.y + r.height > height):
            issues.append(
                doc.issue(
                    ("arenas", i, "region"),
                    f"arena {arena.name}: region x {r.x} y {r.y} {r.width}x{r.height} px reaches "
                    f"outside the {width}x{height} camera image (camera.width, camera.height)",
                )
            )
        for j, other in enumerate(arenas[:i]):
            o = other.region
            if r.x < o.x + o.width and o.x < r.x + r.width and r.y < o.y + o.height and o.y < r.y + r.height:
                issues.append(
                    doc.issue(
                        ("arenas", i, "region"),
                        f"arena {arena.name}'s region overlaps arena {other.name}'s (arenas[{j}]); "
                        "each pixel belongs to one arena",
                    )
                )
        if arena.channel in seen_channels:
            issues.append(
                doc.issue(
                    ("arenas", i, "channel"),
                    f"laser channel {arena.channel} is already arena {seen_channels[arena.channel]}'s; "
                    "each arena needs its own channel",
                )
            )
        seen_channels.setdefault(arena.channel, arena.name)
        if arena.channel >= len(pins):
            how = (
                f"laser.channels lists {len(pins)}"
                if config.laser.channels is not None
                else "the laser section gives one pin (channel 0)"
            )
            issues.append(
                doc.issue(
                    ("arenas", i, "channel"),
                    f"laser channel {arena.channel} has no pin: {how}; list each channel's pin "
                    "under laser.channels, e.g. channels: [{pin: 9}, {pin: 10}]",
                )
            )
        if arena.interlock is SharedInterlock.SHARED and config.interlock is None:
            issues.append(
                doc.issue(
                    ("arenas", i, "interlock"),
                    "`shared` means the rig's interlock, but the rig file has no interlock section",
                )
            )
        if arena.animal is not None:
            if arena.animal in seen_animals:
                issues.append(
                    doc.issue(
                        ("arenas", i, "animal"),
                        f"animal '{arena.animal}' is already in arena {seen_animals[arena.animal]}",
                    )
                )
            seen_animals.setdefault(arena.animal, arena.name)
        if arena.protocol is not None:
            place = arena_protocol_path(doc.path, arena.protocol)
            if not place.is_file():
                issues.append(
                    doc.issue(("arenas", i, "protocol"), f"protocol file '{arena.protocol}' not found (looked at {place})")
                )
            else:
                issues.extend(_check_arena_protocol(doc, i, place))
    return issues


def _check_arena_protocol(doc: YamlDocument, i: int, place: Path) -> list[FileIssue]:
    """An arena's default protocol loads, and is calibrated at its region's size."""
    from rig.protocol.load import load_protocol

    try:
        loaded = load_protocol(place)
    except ConfigError as err:
        first = str(err).splitlines()[0] if str(err) else type(err).__name__
        return [doc.issue(("arenas", i, "protocol"), f"protocol '{place}' is not valid: {first}")]
    data = doc.data.get("arenas")
    doc_arena = data[i] if isinstance(data, list) else None
    region = doc_arena.get("region") if isinstance(doc_arena, dict) else None
    cam = loaded.calibration.camera
    size = (region.get("width"), region.get("height")) if isinstance(region, dict) else None
    if size is not None and size != (cam.width_px, cam.height_px):
        return [
            doc.issue(
                ("arenas", i, "protocol"),
                f"its calibration ({loaded.protocol.arena.calibration}) is for a {cam.width_px}x"
                f"{cam.height_px} px image, but this arena's region is {size[0]}x{size[1]} px: "
                "calibrate the box on a crop of its region (docs/arenas.md)",
            )
        ]
    return []


def _find_calibrations(
    doc: YamlDocument, config: RigConfig
) -> tuple[Path | None, Path | None, list[FileIssue]]:
    from rig.protocol.load import calibration_search_paths, find_calibration

    issues: list[FileIssue] = []
    found: list[Path | None] = []
    for loc, name in ((("calibration",), config.calibration), (("laser_power_calibration",), config.laser_power_calibration)):
        if name is None:
            found.append(None)
            continue
        place = find_calibration(name, doc.path)
        if place is None:
            looked = ", ".join(os.fspath(p) for p in calibration_search_paths(name, doc.path))
            issues.append(doc.issue(loc, f"calibration file '{name}' not found; looked in: {looked}"))
        found.append(place)
    return found[0], found[1], issues


def load_default_rig() -> LoadedRig:
    """The embedded mock rig used by ``rig demo`` (and by ``rig replay`` without ``--rig``)."""
    return load_rig(default_rig_path(), embedded=True)


def check_protocol_on_rig(rig: LoadedRig, protocol: LoadedProtocol) -> list[FileIssue]:
    """Problems of running ``protocol`` on ``rig`` (each names the protocol's file:line)."""
    import yaml

    from rig.protocol.yamlfile import display_path, node_line

    issues: list[FileIssue] = []
    stim = protocol.protocol.stimulation
    root = yaml.compose(protocol.raw.decode("utf-8"), Loader=yaml.SafeLoader)

    def issue(loc: Loc, reason: str) -> FileIssue:
        line = node_line(root, loc) if root is not None else None
        field = ".".join(str(p) for p in loc)
        return FileIssue(display_path(protocol.path), line, field, reason)

    if stim.ramp_down_ms > 0 and not rig.config.has_pwm:
        where = "the embedded mock rig" if rig.embedded else display_path(rig.path)
        issues.append(
            issue(
                ("stimulation", "ramp_down_ms"),
                f"a {stim.ramp_down_ms:g} ms ramp-down needs an analog (PWM) output, but "
                f"{where} has no laser.pwm_pin; add one (3, 5, 6 or 11) or set ramp_down_ms: 0",
            )
        )
    return issues


def require_protocol_on_rig(rig: LoadedRig, protocol: LoadedProtocol) -> None:
    """Raise ``RigFileError`` when ``protocol`` cannot run as written on ``rig``."""
    issues = check_protocol_on_rig(rig, protocol)
    if issues:
        raise RigFileError(issues)
