"""``rig calibrate arena|show``: make an arena calibration file from four clicked corners."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from rig.cli._common import add_command

ORDER = 30

#: Calibration field -> the command-line option that sets it (for error messages).
_OPTIONS = {
    "corners_px": "--corners",
    "width_cm": "--width-cm",
    "length_cm": "--length-cm",
    "name": "--name",
    "camera": "--image",
}


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = add_command(
        subparsers,
        "calibrate",
        help_text="make or inspect an arena calibration (camera pixels -> cm)",
        description=(
            "Arena calibration: the image positions of the arena's four corners and its real "
            "size give the pixel -> cm mapping used for tracking and zones. Take a frame of "
            "the empty arena, read the corners' pixel positions (top-left, top-right, "
            "bottom-right, bottom-left as seen in the image), then run `rig calibrate arena`. "
            "An existing calibration file is never overwritten."
        ),
        examples=(
            "  rig calibrate arena --image frame.png --corners 20,90,620,90,620,390,20,390 \\\n"
            "      --width-cm 50 --length-cm 25 --name box1 --out calibration/box1.yaml\n"
            "  rig calibrate show calibration/box1.yaml\n"
        ),
    )
    actions = parser.add_subparsers(dest="calibrate_command", metavar="ACTION", required=True)

    arena = actions.add_parser(
        "arena",
        help="write an arena calibration from four corners",
        description="Write a new arena calibration file from a frame and four corner points. "
        "The frame is copied beside the file as its reference image.",
        epilog="example:\n  rig calibrate arena --image frame.png --corners "
        "20,90,620,90,620,390,20,390 --width-cm 50 --length-cm 25 --name box1",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    arena.add_argument("--image", required=True, type=Path, help="a frame of the empty arena")
    arena.add_argument(
        "--corners",
        required=True,
        metavar="X1,Y1,X2,Y2,X3,Y3,X4,Y4",
        help="corner pixels: top-left, top-right, bottom-right, bottom-left",
    )
    arena.add_argument("--width-cm", required=True, type=float, help="arena width (left-right)")
    arena.add_argument("--length-cm", required=True, type=float, help="arena length (top-bottom)")
    arena.add_argument("--name", required=True, help="name of this camera/chamber set-up")
    arena.add_argument(
        "--out", type=Path, default=None, help="file to write (default: calibration/NAME.yaml)"
    )
    arena.set_defaults(func=run_arena)

    show = actions.add_parser(
        "show",
        help="print a calibration's mapping",
        description="Print an arena calibration: scale, corners and their positions in cm.",
        epilog="example:\n  rig calibrate show calibration/synthetic_arena.yaml",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    show.add_argument("file", type=Path, help="arena calibration file")
    show.set_defaults(func=run_show)


def parse_corners(text: str) -> list[tuple[float, float]]:
    """``"x1,y1,...,x4,y4"`` -> four (x_px, y_px) points; ``ConfigError`` naming --corners."""
    from rig.errors import ConfigError

    parts = [p for p in text.replace(";", ",").replace(" ", ",").split(",") if p]
    try:
        values = [float(p) for p in parts]
    except ValueError:
        raise ConfigError(
            f"--corners: expected 8 numbers x1,y1,x2,y2,x3,y3,x4,y4, got {text!r}"
        ) from None
    if len(values) != 8:
        raise ConfigError(
            f"--corners: expected 8 numbers (4 corners x, y), got {len(values)} in {text!r}"
        )
    return [(values[i], values[i + 1]) for i in range(0, 8, 2)]


_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


def check_calibration_name(name: str) -> None:
    """``--name`` becomes a file name in calibration/: letters, digits, ``_ . -`` only (no
    path separators, no ``..``), so it can never write outside that folder."""
    from rig.errors import ConfigError

    if not _NAME_RE.fullmatch(name or "") or ".." in name:
        raise ConfigError(
            f"--name: use letters, digits, '_', '.' and '-' (no folders or '..'), at most 64 "
            f"characters, got {name!r}"
        )


def run_arena(args: argparse.Namespace) -> int:
    import datetime as dt
    import shutil

    import cv2
    from pydantic import ValidationError

    from rig.calibration import ArenaCalibration
    from rig.calibration_io import arena_calibration_yaml, write_new_file
    from rig.errors import CalibrationError, ConfigError
    from rig.protocol.yamlfile import field_path, translate_validation_error

    corners = parse_corners(args.corners)
    check_calibration_name(args.name)
    image_path: Path = args.image
    if not image_path.is_file():
        raise ConfigError(f"--image: {image_path}: file not found")
    image = cv2.imread(str(image_path), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise ConfigError(f"--image: {image_path}: not an image OpenCV can read")
    height_px, width_px = image.shape[:2]

    out: Path = args.out if args.out is not None else Path("calibration") / f"{args.name}.yaml"
    reference = out.with_name(f"{out.stem}_reference{image_path.suffix.lower()}")
    for target in (out, reference):
        if target.exists():
            raise CalibrationError(
                f"{target}: already exists; calibration files are never overwritten, "
                "choose another --name or --out"
            )
    data = {
        "schema_version": 1,
        "kind": "arena",
        "name": args.name,
        "camera": {"width_px": width_px, "height_px": height_px},
        "corners_px": corners,
        "width_cm": args.width_cm,
        "length_cm": args.length_cm,
        "measured_on": dt.date.today(),
        "reference_image": reference.name,
    }
    try:
        calibration = ArenaCalibration.model_validate(data)
    except ValidationError as err:
        lines = []
        for loc, reason in translate_validation_error(err, ArenaCalibration, data):
            option = _OPTIONS.get(str(loc[0]), "") if loc else ""
            where = f"{option} ({field_path(loc)})" if option else field_path(loc)
            lines.append(f"{where}: {reason}")
        raise CalibrationError("\n".join(lines)) from None

    out.parent.mkdir(parents=True, exist_ok=True)
    write_new_file(out, arena_calibration_yaml(calibration).encode("utf-8"))
    shutil.copyfile(image_path, reference)
    print(f"wrote {out} ({calibration.px_per_cm:.2f} px/cm, {width_px}x{height_px} px image)")
    print(f"reference image: {reference}")
    return 0


def run_show(args: argparse.Namespace) -> int:
    from rig.calibration import PixelMapper
    from rig.calibration_io import load_arena_calibration

    cal = load_arena_calibration(args.file)
    mapper = PixelMapper(cal)
    print(f"{args.file}: arena calibration {cal.name}")
    print(f"  camera image:  {cal.camera.width_px} x {cal.camera.height_px} px")
    print(f"  arena:         {cal.width_cm:g} cm wide x {cal.length_cm:g} cm long")
    print(f"  scale:         {cal.px_per_cm:.3f} px/cm (mean along the edges)")
    print(f"  measured on:   {cal.measured_on or 'not recorded'}")
    labels = ("top-left", "top-right", "bottom-right", "bottom-left")
    for label, (x_px, y_px) in zip(labels, cal.corners_px, strict=True):
        x_cm, y_cm = mapper.to_cm(x_px, y_px)
        print(f"  {label:<13} ({x_px:g}, {y_px:g}) px -> ({x_cm:.2f}, {y_cm:.2f}) cm")
    return 0
