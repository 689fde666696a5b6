"""Point a rig file at a new arena calibration, keeping the user's comments.

The edit is one line: the top-level ``calibration:`` line's value is replaced (its
trailing comment kept), or the line is appended when the file has none. The edited text is
validated with ``load_rig`` (the calibration must be found from the rig file's folder)
before it replaces the file; the previous bytes are kept beside it as ``<name>.bak``.
When a one-line edit cannot do it (e.g. a multi-line value), a new rig file is written
beside the old one and the old one is left untouched.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from rig.rigfile.load import LoadedRig, load_rig

_LINE = re.compile(r"^calibration:(?P<value>[^\n#]*?)(?P<tail>[ \t]+#[^\n]*)?[ \t]*$", re.MULTILINE)


@dataclass(frozen=True, slots=True)
class CalibrationWritten:
    """Where the rig now names the calibration: ``path`` is the rig file to use (the same
    file when edited in place, else a new one beside it) and ``rig`` its loaded form."""

    path: Path
    rig: LoadedRig
    in_place: bool
    backup: Path | None


def calibration_reference(rig_path: Path, calibration_path: Path) -> str:
    """The calibration as the rig file should name it: relative to the rig file's folder
    when it lies under it, else absolute."""
    calibration = calibration_path.resolve()
    try:
        return calibration.relative_to(rig_path.resolve().parent).as_posix()
    except ValueError:
        return str(calibration)


def edited_text(text: str, reference: str) -> str | None:
    """``text`` with its top-level ``calibration:`` set to ``reference``; None when a
    one-line edit cannot do it (a block value under the key)."""
    value = json.dumps(reference)  # a JSON string is a valid YAML double-quoted scalar
    match = _LINE.search(text)
    if match is None:
        return text + ("" if text.endswith("\n") or not text else "\n") + f"calibration: {value}\n"
    following = text[match.end():].lstrip("\n")
    if not match.group("value").strip() and following[:1] in (" ", "\t", "-"):
        return None  # a block value: leave it to the user
    return text[: match.start()] + f"calibration: {value}" + (match.group("tail") or "") + text[match.end():]


def write_rig_calibration(rig_path: Path, calibration_path: Path) -> CalibrationWritten:
    """Make the rig file at ``rig_path`` name ``calibration_path``; validated with
    ``load_rig`` before anything is replaced (a RigError leaves every file as it was,
    except the checked candidate, which is removed)."""
    rig_path = Path(rig_path)
    reference = calibration_reference(rig_path, Path(calibration_path))
    original = rig_path.read_bytes()
    text = original.decode("utf-8")
    edited = edited_text(text, reference)
    in_place = edited is not None
    if edited is None:
        import yaml

        data = yaml.safe_load(text) or {}
        data["calibration"] = reference
        edited = (
            f"# written by optorig from {rig_path.name} with the new calibration "
            "(comments of the original are not kept)\n" + yaml.safe_dump(data, sort_keys=False)
        )
    candidate = rig_path.with_name(f"{rig_path.stem}.new{rig_path.suffix}")
    candidate.write_text(edited, encoding="utf-8")
    try:
        rig = load_rig(candidate)
    except Exception:
        candidate.unlink(missing_ok=True)
        raise
    if rig.calibration_path is None or rig.calibration_path.resolve() != Path(calibration_path).resolve():
        candidate.unlink(missing_ok=True)
        raise ValueError(f"{rig_path}: the edited rig file does not name {calibration_path}")
    if not in_place:
        return CalibrationWritten(candidate, rig, False, None)
    backup = rig_path.with_name(rig_path.name + ".bak")
    backup.write_bytes(original)
    os.replace(candidate, rig_path)
    return CalibrationWritten(rig_path, load_rig(rig_path), True, backup)
