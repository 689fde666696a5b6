"""Read and write calibration files (arena and laser power) with errors naming file:line field.

Files are YAML with ``schema_version`` and ``kind`` (``arena`` or ``laser_power``); see
``docs/calibration.md``. Saving never overwrites an existing file: calibrations are
evidence of what a session used, so a new calibration gets a new name.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from rig.calibration import ArenaCalibration, LaserPowerCalibration
from rig.errors import CalibrationError
from rig.protocol.yamlfile import (
    CalibrationFileError,
    FileIssue,
    YamlDocument,
    read_yaml,
    validate_model,
)

#: The calibration kinds (the ``kind:`` field) and the model of each.
KINDS: dict[str, type[ArenaCalibration] | type[LaserPowerCalibration]] = {
    "arena": ArenaCalibration,
    "laser_power": LaserPowerCalibration,
}


def read_calibration_document(path: str | os.PathLike[str]) -> YamlDocument:
    """The calibration file read as YAML (no model validation yet)."""
    return read_yaml(path, CalibrationFileError, "calibration")


def _check_kind(doc: YamlDocument, expected: str) -> None:
    kind = doc.data.get("kind")
    if kind != expected and kind in KINDS:
        raise CalibrationFileError(
            [doc.issue(("kind",), f"this is a {kind} calibration, expected a {expected} one")]
        )


def read_arena_calibration(path: str | os.PathLike[str]) -> tuple[ArenaCalibration, bytes]:
    """An arena calibration and the exact bytes it was validated from (the file is read
    once: a session copies these bytes, never the file again)."""
    doc = read_calibration_document(path)
    _check_kind(doc, "arena")
    return validate_model(doc, ArenaCalibration, CalibrationFileError), doc.raw


def read_power_calibration(path: str | os.PathLike[str]) -> tuple[LaserPowerCalibration, bytes]:
    """A laser power calibration and the exact bytes it was validated from."""
    doc = read_calibration_document(path)
    _check_kind(doc, "laser_power")
    return validate_model(doc, LaserPowerCalibration, CalibrationFileError), doc.raw


def load_arena_calibration(path: str | os.PathLike[str]) -> ArenaCalibration:
    """Load an arena (camera pixel -> cm) calibration file."""
    return read_arena_calibration(path)[0]


def load_power_calibration(path: str | os.PathLike[str]) -> LaserPowerCalibration:
    """Load a laser power calibration file (driver setting -> mW at the fibre tip)."""
    return read_power_calibration(path)[0]


def load_any_calibration(
    path: str | os.PathLike[str],
) -> ArenaCalibration | LaserPowerCalibration:
    """Load a calibration file of either kind, chosen by its ``kind:`` field."""
    doc = read_calibration_document(path)
    kind = doc.data.get("kind")
    if kind not in KINDS:
        reason = (
            "required field is missing"
            if kind is None
            else f"must be one of {', '.join(repr(k) for k in KINDS)}, got {kind!r}"
        )
        raise CalibrationFileError([doc.issue(("kind",), reason)])
    if kind == "arena":
        return validate_model(doc, ArenaCalibration, CalibrationFileError)
    return validate_model(doc, LaserPowerCalibration, CalibrationFileError)


_ARENA_HEADER = """\
# Arena calibration (optorig): how camera pixels map to arena centimetres.
# corners_px: image points of the arena's corners, in order top-left, top-right,
#   bottom-right, bottom-left (as seen in the camera image), in pixels.
# width_cm: the real arena width (left wall to right wall, along the top edge).
# length_cm: the real arena length (top wall to bottom wall, along the left edge).
# Arena coordinates: origin at the top-left corner, x to the right, y downward, in cm.
# Made with `rig calibrate arena`; never edited in place: a new calibration gets a new name.
"""


def arena_calibration_yaml(calibration: ArenaCalibration) -> str:
    """The YAML text of an arena calibration file (with explanatory comments)."""
    data: dict[str, Any] = calibration.model_dump(mode="json", exclude_none=True)
    data["corners_px"] = [[_plain(x), _plain(y)] for x, y in calibration.corners_px]
    if calibration.mask_px is not None:
        data["mask_px"] = [[_plain(x), _plain(y)] for x, y in calibration.mask_px]
    data["width_cm"] = _plain(calibration.width_cm)
    data["length_cm"] = _plain(calibration.length_cm)
    if calibration.measured_on is not None:
        data["measured_on"] = calibration.measured_on
    body = yaml.safe_dump(data, sort_keys=False, default_flow_style=None, allow_unicode=True)
    return _ARENA_HEADER + body


def _plain(value: float) -> float | int:
    return int(value) if float(value).is_integer() else float(value)


def save_arena_calibration(calibration: ArenaCalibration, path: str | os.PathLike[str]) -> Path:
    """Write ``calibration`` to a new file at ``path``; refuse if anything exists there.

    The file appears complete or not at all (written to a temporary file, then linked).
    """
    path = Path(path)
    write_new_file(path, arena_calibration_yaml(calibration).encode("utf-8"))
    return path


def write_new_file(path: Path, data: bytes) -> None:
    """Create ``path`` with ``data`` atomically; never replace an existing file."""
    if path.exists():
        raise CalibrationError(
            f"{path}: already exists; calibration files are never overwritten, choose another "
            "name (e.g. add the date)"
        )
    if not path.parent.is_dir():
        raise CalibrationError(f"{path}: the folder {path.parent} does not exist")
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "xb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(tmp, path)  # fails if path appeared meanwhile: no overwrite, ever
        except FileExistsError:
            raise CalibrationError(
                f"{path}: already exists; calibration files are never overwritten, choose "
                "another name"
            ) from None
    finally:
        tmp.unlink(missing_ok=True)


__all__ = [
    "CalibrationFileError",
    "FileIssue",
    "arena_calibration_yaml",
    "load_any_calibration",
    "load_arena_calibration",
    "load_power_calibration",
    "save_arena_calibration",
    "write_new_file",
]
