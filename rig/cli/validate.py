"""``rig validate PATH...``: check protocol (and calibration) files before a session."""

from __future__ import annotations

import argparse
import sys

from rig.cli._common import add_command

ORDER = 20


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = add_command(
        subparsers,
        "validate",
        help_text="check protocol, rig and calibration files",
        description=(
            "Check protocol files (and the calibration files they name) without running "
            "anything, including the geometry of named zones (inside the arena, overlaps "
            "only where declared, neutral bands between lit and unlit zones). Prints one "
            "summary line per valid file and every problem of an "
            "invalid one as FILE:LINE FIELD: reason. Calibration files (with `kind: arena` "
            "or `kind: laser_power`) and rig hardware files (docs/rig.md) are accepted too. With "
            "--rig, each protocol is also checked against that rig (a ramp-down needs a PWM "
            "pin). Exit status: 0 when every file is "
            "valid, 2 otherwise."
        ),
        examples=(
            "  rig validate protocols/rtpp_redondo2014.yaml\n"
            "  rig validate protocols/three_chamber.yaml protocols/open_field_inner.yaml\n"
            "  rig validate protocols/*.yaml calibration/*.yaml\n"
            "  rig validate rigs/uno_basic.yaml\n"
            "  rig validate --rig rigs/uno_basic.yaml protocols/inhibition_rtpp_continuous.yaml\n"
        ),
    )
    parser.add_argument("paths", nargs="+", metavar="PATH", help="protocol, rig or calibration file")
    parser.add_argument(
        "--rig", metavar="FILE", default=None,
        help="also check each protocol against this rig hardware file",
    )
    parser.set_defaults(func=run)


def _is_calibration(path: str) -> bool:
    """Whether the file declares a calibration ``kind:`` (read leniently; errors come later)."""
    from rig.calibration_io import KINDS
    from rig.errors import RigError
    from rig.protocol.yamlfile import ProtocolFileError, read_yaml

    try:
        doc = read_yaml(path, ProtocolFileError, "protocol")
    except RigError:
        return False
    return doc.data.get("kind") in KINDS or (
        "kind" in doc.data and "schema_version" in doc.data and "metadata" not in doc.data
    )


def _is_rig(path: str) -> bool:
    """Whether the file looks like a rig hardware file (top-level board/laser/interlock)."""
    from rig.errors import RigError
    from rig.protocol.yamlfile import ProtocolFileError, read_yaml

    try:
        doc = read_yaml(path, ProtocolFileError, "protocol")
    except RigError:
        return False
    return "metadata" not in doc.data and bool({"board", "laser", "interlock"} & set(doc.data))


def _validate_one(path: str, rig_path: str | None = None) -> str:
    from rig.calibration import ArenaCalibration
    from rig.calibration_io import load_any_calibration
    from rig.protocol.load import load_protocol, protocol_warnings

    if _is_calibration(path):
        cal = load_any_calibration(path)
        if isinstance(cal, ArenaCalibration):
            return (
                f"arena calibration {cal.name}, {cal.camera.width_px}x{cal.camera.height_px} px, "
                f"{cal.width_cm:g} x {cal.length_cm:g} cm, {cal.px_per_cm:.2f} px/cm"
            )
        return (
            f"laser power calibration {cal.laser}, {cal.wavelength_nm:g} nm, "
            f"{len(cal.points)} points up to {cal.max_power_mw:g} mW, measured {cal.measured_on}"
        )
    from rig.rigfile.load import load_rig, require_protocol_on_rig

    if _is_rig(path):
        return load_rig(path).summary()
    loaded = load_protocol(path)
    if rig_path is not None:
        require_protocol_on_rig(load_rig(rig_path), loaded)
    notes = "".join(f"\n  note: {line}" for line in protocol_warnings(loaded))
    if loaded.file_schema_version == 1:
        notes += (
            "\n  schema 1 (frame counts): runs converted as "
            + "; ".join(loaded.conversion or ("nothing to convert",))
            + f"; `rig migrate {path}` writes a schema-2 copy"
        )
    return loaded.summary() + notes


def run(args: argparse.Namespace) -> int:
    from rig.errors import RigError

    failed = 0
    for path in args.paths:
        try:
            summary = _validate_one(path, args.rig)
        except RigError as err:
            failed += 1
            for line in str(err).splitlines():
                print(f"error: {line}", file=sys.stderr)
            continue
        print(f"OK {path}: {summary}")
    if failed and len(args.paths) > 1:
        print(f"{failed} of {len(args.paths)} files are invalid", file=sys.stderr)
    return 2 if failed else 0
