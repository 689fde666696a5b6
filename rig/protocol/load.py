"""Protocol YAML -> validated ``Protocol`` plus the calibration files it names.

``load_protocol(path)`` reads the file once (its exact bytes and sha256 are kept for the
session record), validates it against ``rig.protocol.models``, finds and loads the arena
calibration (and the laser power calibration, when named) and checks the rules that need
them: compartments inside the arena, target power within the laser's measured range.
Every problem is reported as ``FILE[:LINE] FIELD.PATH: reason``, all of them at once, in a
``ProtocolError``; nothing is opened or created.

Calibration files named in a protocol are looked up, in order:
1. the path itself when absolute;
2. relative to the protocol's folder;
3. in ``<protocol folder>/../calibration/``;
4. in ``./calibration/`` (the current folder);
5. among the calibrations bundled with optorig (``synthetic_arena.yaml``), so the demo
   protocol works from any folder.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import yaml

from rig.calibration import ArenaCalibration, LaserPowerCalibration
from rig.calibration_io import read_arena_calibration, read_power_calibration
from rig.protocol.migrate import convert_data
from rig.protocol.models import Protocol
from rig.protocol.yamlfile import (
    FileIssue,
    Loc,
    ProtocolFileError,
    YamlDocument,
    display_path,
    node_line,
    read_yaml,
    validate_model,
)

#: Tolerance when checking compartments against the arena size (cm).
_EDGE_TOLERANCE_CM = 1e-6


@dataclass(frozen=True)
class LoadedProtocol:
    """A validated protocol with the exact bytes it came from and its calibrations."""

    protocol: Protocol
    path: Path
    raw: bytes
    sha256: str
    calibration: ArenaCalibration
    calibration_path: Path
    calibration_raw: bytes
    power_calibration: LaserPowerCalibration | None = None
    power_calibration_path: Path | None = None
    power_calibration_raw: bytes | None = None
    #: schema_version of the file itself (1 = converted on loading, see ``conversion``)
    file_schema_version: int = 2
    #: what the schema-1 conversion changed (empty for a schema-2 file)
    conversion: tuple[str, ...] = ()

    @property
    def calibration_sha256(self) -> str:
        return hashlib.sha256(self.calibration_raw).hexdigest()

    def summary(self) -> str:
        """One line for people: name, phases, duration, stimulation, side, calibration."""
        return describe(self)


def bundled_data_dir() -> Path:
    """Folder of the calibrations shipped inside the package (``rig/data``)."""
    return Path(str(resources.files("rig.data")))


def default_protocol_path() -> Path:
    """The embedded demo protocol (``rig/protocol/default.yaml``)."""
    return Path(str(resources.files("rig.protocol").joinpath("default.yaml")))


def parse_protocol(path: str | os.PathLike[str]) -> Protocol:
    """Read and validate one protocol file, without looking at the files it names."""
    doc, _, _ = _read_converted(path)
    return validate_model(doc, Protocol, ProtocolFileError)


def _read(path: str | os.PathLike[str]) -> YamlDocument:
    return read_yaml(path, ProtocolFileError, "protocol")


def _read_converted(path: str | os.PathLike[str]) -> tuple[YamlDocument, int, tuple[str, ...]]:
    """The document (schema-1 data converted to schema 2), the file's schema and the notes."""
    doc = _read(path)
    version = doc.data.get("schema_version")
    if version != 1 or isinstance(version, bool):
        return doc, 2, ()
    conversion = convert_data(doc.data)
    if conversion.problems:
        raise ProtocolFileError([doc.issue(loc, reason) for loc, reason in conversion.problems])
    return dataclasses.replace(doc, data=conversion.data), 1, conversion.notes


def calibration_search_paths(name: str, protocol_path: Path) -> list[Path]:
    """Where a calibration file named in ``protocol_path`` is looked for, in order."""
    candidate = Path(name).expanduser()
    if candidate.is_absolute():
        return [candidate]
    folder = protocol_path.parent
    places: list[Path] = []
    for place in (
        folder / candidate,
        folder.parent / "calibration" / candidate,
        Path("calibration") / candidate,
        bundled_data_dir() / candidate,
    ):
        if all(place.resolve() != seen.resolve() for seen in places):
            places.append(place)
    return places


def find_calibration(name: str, protocol_path: Path) -> Path | None:
    """The first existing file among :func:`calibration_search_paths`, or None."""
    for place in calibration_search_paths(name, protocol_path):
        if place.is_file():
            return place
    return None


def _not_found(doc: YamlDocument, loc: Loc, name: str) -> FileIssue:
    places = calibration_search_paths(name, doc.path)
    bundled = bundled_data_dir().resolve()
    shown = [
        "the calibrations bundled with optorig" if p.resolve().parent == bundled
        else display_path(p)
        for p in places
    ]
    return doc.issue(loc, f"calibration file '{name}' not found; looked in: {', '.join(shown)}")


def load_protocol(path: str | os.PathLike[str]) -> LoadedProtocol:
    """Load a protocol and its calibration files, checking everything before returning.

    Raises ``ProtocolError`` (every problem, one per line) or ``CalibrationError`` when a
    named calibration file is itself invalid.
    """
    doc, file_schema, conversion = _read_converted(path)
    protocol = validate_model(doc, Protocol, ProtocolFileError)
    issues: list[FileIssue] = []

    cal_loc: Loc = ("arena", "calibration")
    cal_path = find_calibration(protocol.arena.calibration, doc.path)
    calibration: ArenaCalibration | None = None
    calibration_raw = b""
    if cal_path is None:
        issues.append(_not_found(doc, cal_loc, protocol.arena.calibration))
    else:
        calibration, calibration_raw = read_arena_calibration(cal_path)
        issues.extend(_check_arena(doc, protocol, calibration, cal_path))

    power: LaserPowerCalibration | None = None
    power_path: Path | None = None
    power_raw: bytes | None = None
    power_name = protocol.stimulation.power_calibration
    if power_name is not None:
        power_loc: Loc = ("stimulation", "power_calibration")
        power_path = find_calibration(power_name, doc.path)
        if power_path is None:
            issues.append(_not_found(doc, power_loc, power_name))
        else:
            power, power_raw = read_power_calibration(power_path)
            issues.extend(_check_power(doc, protocol, power, power_path))

    if issues:
        raise ProtocolFileError(issues)
    assert calibration is not None and cal_path is not None
    return LoadedProtocol(
        protocol=protocol,
        path=doc.path,
        raw=doc.raw,
        sha256=hashlib.sha256(doc.raw).hexdigest(),
        calibration=calibration,
        calibration_path=cal_path,
        calibration_raw=calibration_raw,  # the bytes validated above, not a second read
        power_calibration=power,
        power_calibration_path=power_path,
        power_calibration_raw=power_raw,
        file_schema_version=file_schema,
        conversion=conversion,
    )


def load_default_protocol() -> LoadedProtocol:
    """The embedded demo protocol with the bundled synthetic arena calibration."""
    return load_protocol(default_protocol_path())


def _check_arena(
    doc: YamlDocument, protocol: Protocol, calibration: ArenaCalibration, cal_path: Path
) -> list[FileIssue]:
    width, length = calibration.width_cm, calibration.length_cm
    size = f"the arena in {cal_path.name} is {width:g} cm wide x {length:g} cm long"
    issues: list[FileIssue] = []
    if protocol.arena.zones is not None:
        from rig.zones_check import check_zones

        for problem in check_zones(protocol.arena, width, length):
            issues.append(doc.issue(problem.loc, problem.message))
        return issues
    compartments = protocol.arena.compartments
    if compartments is None:
        band = protocol.arena.neutral_band_cm
        if band >= width:
            issues.append(
                doc.issue(
                    ("arena", "neutral_band_cm"),
                    f"a {band:g} cm neutral band leaves no compartments: {size}",
                )
            )
        return issues
    for side in ("left", "right"):
        rect = getattr(compartments, side)
        limits = {
            "x_min_cm": (rect.x_min_cm, 0.0, width),
            "x_max_cm": (rect.x_max_cm, 0.0, width),
            "y_min_cm": (rect.y_min_cm, 0.0, length),
            "y_max_cm": (rect.y_max_cm, 0.0, length),
        }
        for name, (value, low, high) in limits.items():
            if value < low - _EDGE_TOLERANCE_CM or value > high + _EDGE_TOLERANCE_CM:
                issues.append(
                    doc.issue(
                        ("arena", "compartments", side, name),
                        f"{value:g} cm is outside the arena ({low:g} to {high:g} cm): {size}",
                    )
                )
    return issues


def _check_power(
    doc: YamlDocument, protocol: Protocol, power: LaserPowerCalibration, power_path: Path
) -> list[FileIssue]:
    issues: list[FileIssue] = []
    stim = protocol.stimulation
    if abs(power.wavelength_nm - stim.wavelength_nm) > 2.0:
        issues.append(
            doc.issue(
                ("stimulation", "wavelength_nm"),
                f"{stim.wavelength_nm:g} nm, but {power_path.name} measured a "
                f"{power.wavelength_nm:g} nm laser ({power.laser})",
            )
        )
    target = stim.target_power_mw
    if target is not None and target > power.max_power_mw:
        issues.append(
            doc.issue(
                ("stimulation", "target_power_mw"),
                f"{target:g} mW is above the most this laser delivered when measured "
                f"({power.max_power_mw:g} mW in {power_path.name})",
            )
        )
    return issues


def protocol_warnings(loaded: LoadedProtocol) -> list[str]:
    """Legal but probably unintended settings, as ``FILE:LINE FIELD: reason`` lines.

    Today: open-loop light periods that the safety limits will cut short.
    """
    p = loaded.protocol
    label = display_path(loaded.path)
    root = yaml.compose(loaded.raw.decode("utf-8"), Loader=yaml.SafeLoader)
    notes: list[str] = []
    planned_on_s = 0.0
    for i, phase in enumerate(p.phases):
        if phase.mode != "open_loop":
            continue
        if phase.schedule is None:
            on_period_s = phase.duration_s
            planned_on_s += phase.duration_s
        else:
            on_period_s = min(phase.schedule.on_s, phase.duration_s)
            on_s, off_s = phase.schedule.on_s, phase.schedule.off_s
            full, rest = divmod(phase.duration_s, on_s + off_s)
            lead_s = 0.0 if phase.schedule.start_on else off_s
            planned_on_s += full * on_s + min(max(0.0, rest - lead_s), on_s)
        if on_period_s > p.safety.max_continuous_on_s:
            loc: Loc = ("phases", i, "schedule" if phase.schedule else "duration_s")
            notes.append(
                FileIssue(
                    label,
                    node_line(root, loc) if root is not None else None,
                    f"phases[{i}]",
                    f"light on for {on_period_s:g} s at a time in open-loop phase "
                    f"'{phase.name}', but safety.max_continuous_on_s is "
                    f"{p.safety.max_continuous_on_s:g} s: the light will be forced off "
                    f"for {p.safety.forced_off_s:g} s after {p.safety.max_continuous_on_s:g} s",
                ).message
            )
    if planned_on_s > p.safety.max_total_on_s:
        notes.append(
            FileIssue(
                label,
                node_line(root, ("safety",)) if root is not None else None,
                "safety.max_total_on_s",
                f"the open-loop phases alone plan {planned_on_s:g} s of light, more than "
                f"the {p.safety.max_total_on_s:g} s limit",
            ).message
        )
    return notes


def _minutes(seconds: float) -> str:
    if seconds >= 60 and seconds % 60 == 0:
        return f"{seconds / 60:g} min"
    if seconds >= 60:
        return f"{seconds / 60:.1f} min"
    return f"{seconds:g} s"


def describe(loaded: LoadedProtocol) -> str:
    """``rtpp-redondo2014 v1, 3 phases, 40 min, pulse_train 20 Hz 15 ms, stimulated: ...``."""
    p = loaded.protocol
    stim = p.stimulation
    if stim.mode == "pulse_train":
        light = f"pulse_train {stim.frequency_hz:g} Hz {stim.pulse_width_ms:g} ms"
    else:
        light = "continuous"
        if stim.ramp_down_ms > 0:
            light += f" (ramp-down {stim.ramp_down_ms:g} ms)"
    for name in stim.zones:
        zone_stim = stim.for_zone(name)
        light += f" ({name}: {zone_stim.frequency_hz:g} Hz {zone_stim.pulse_width_ms:g} ms)"
    light += f" {stim.wavelength_nm:g} nm"
    if stim.target_power_mw is not None:
        light += f" {stim.target_power_mw:g} mW"
    side = p.arena.stimulated
    if p.arena.stimulated_zones is not None:
        stimulated = ", ".join(p.arena.stimulated_zones) + " (zones)"
    elif side.rule == "fixed":
        stimulated = f"{side.side} (fixed)"
    elif side.rule == "cohort":
        stimulated = "from the cohort file"
    else:
        stimulated = f"counterbalanced by {side.rule} (even: {side.side})"
    n = len(p.phases)
    return (
        f"{p.metadata.name} v{p.metadata.version}, {n} phase{'s' if n != 1 else ''}, "
        f"{_minutes(p.duration_s)}, {light}, stimulated: {stimulated}, "
        f"calibration {loaded.calibration_path.name}"
    )
