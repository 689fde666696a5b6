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

    arena = add_command(
        actions,
        "arena",
        help_text="write an arena calibration from four corners",
        description="Write a new arena calibration file from a frame and four corner points. "
        "The frame is copied beside the file as its reference image (NAME_reference.EXT), "
        "and NAME_overlay.png shows the corners, a cm grid and the compartments on it: "
        "check that the grid follows the arena's walls. Nothing existing is overwritten.",
        examples="  rig calibrate arena --image frame.png --corners 20,90,620,90,620,390,20,390 \\\n"
        "      --width-cm 50 --length-cm 25 --name box1\n",
    )
    arena.add_argument("--image", required=True, type=Path, help="a frame of the empty arena (PNG/JPEG, camera resolution)")
    arena.add_argument(
        "--corners",
        required=True,
        metavar="X1,Y1,X2,Y2,X3,Y3,X4,Y4",
        help="corner positions in image pixels: top-left, top-right, bottom-right, bottom-left",
    )
    arena.add_argument("--width-cm", required=True, type=float, help="arena width, left to right wall (cm)")
    arena.add_argument("--length-cm", required=True, type=float, help="arena length, top to bottom wall (cm)")
    arena.add_argument("--name", required=True, help="name of this camera/chamber set-up")
    arena.add_argument(
        "--out", type=Path, default=None, metavar="FILE.yaml",
        help="calibration file to write (default: calibration/NAME.yaml)",
    )
    arena.set_defaults(func=run_arena)

    show = add_command(
        actions,
        "show",
        help_text="print a calibration's mapping",
        description="Print an arena calibration: scale (px/cm), corners in pixels and their "
        "positions in cm. With --overlay, also draw the corners, a cm grid and the "
        "compartments on the calibration's reference image.",
        examples="  rig calibrate show calibration/synthetic_arena.yaml\n"
        "  rig calibrate show calibration/box1.yaml --overlay /tmp/box1_check.png\n",
    )
    show.add_argument("file", type=Path, help="arena calibration file")
    show.add_argument(
        "--overlay", type=Path, default=None, metavar="PNG",
        help="also draw corners, cm grid and compartments on the reference image into this "
        "new PNG file",
    )
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
    import numpy as np
    from pydantic import ValidationError

    from rig.calibration import ArenaCalibration
    from rig.calibration_io import arena_calibration_yaml, write_new_file
    from rig.calibration_overlay import grid_step_cm, write_calibration_overlay
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
    overlay = out.with_name(f"{out.stem}_overlay.png")
    for target in (out, reference, overlay):
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
    write_calibration_overlay(np.asarray(image, dtype=np.uint8), calibration, str(overlay))
    print(f"wrote {out} ({calibration.px_per_cm:.2f} px/cm, {width_px}x{height_px} px image)")
    print(f"reference image: {reference}")
    print(f"check image:     {overlay} (corners, {grid_step_cm(max(args.width_cm, args.length_cm)):g} cm "
          "grid, compartments: the grid must follow the arena's walls)")
    return 0


def _num(value: float, decimals: int = 2) -> str:
    """``value`` rounded to ``decimals`` without a negative zero (-0.001 -> "0.00")."""
    rounded = round(float(value), decimals) + 0.0  # + 0.0 turns -0.0 into 0.0
    return f"{rounded:.{decimals}f}"


def _plain(value: float) -> str:
    """A pixel or cm value as typed (``20``, ``20.5``), never ``-0``."""
    return f"{round(float(value), 3) + 0.0:g}"


def run_show(args: argparse.Namespace) -> int:
    from rig.calibration import PixelMapper
    from rig.calibration_io import load_arena_calibration
    from rig.errors import CalibrationError

    cal = load_arena_calibration(args.file)
    mapper = PixelMapper(cal)
    print(f"{args.file}: arena calibration {cal.name}")
    print(f"  camera image:  {cal.camera.width_px} x {cal.camera.height_px} px")
    print(f"  arena:         {_plain(cal.width_cm)} cm wide x {_plain(cal.length_cm)} cm long")
    print(f"  scale:         {_num(cal.px_per_cm, 3)} px/cm (mean along the edges)")
    print(f"  measured on:   {cal.measured_on or 'not recorded'}")
    labels = ("top-left", "top-right", "bottom-right", "bottom-left")
    for label, (x_px, y_px) in zip(labels, cal.corners_px, strict=True):
        x_cm, y_cm = mapper.to_cm(x_px, y_px)
        print(f"  {label:<13} ({_plain(x_px)}, {_plain(y_px)}) px -> ({_num(x_cm)}, {_num(y_cm)}) cm")
    if args.overlay is not None:
        import cv2
        import numpy as np

        from rig.calibration_overlay import write_calibration_overlay

        overlay: Path = args.overlay
        if overlay.exists():
            raise CalibrationError(f"--overlay: {overlay}: already exists; choose another file")
        if cal.reference_image is None:
            raise CalibrationError(
                f"{args.file}: reference_image: not set, so there is no frame to draw on"
            )
        reference = Path(args.file).parent / cal.reference_image
        image = cv2.imread(str(reference), cv2.IMREAD_UNCHANGED)
        if image is None:
            raise CalibrationError(
                f"{args.file}: reference_image: {reference}: missing or not an image"
            )
        write_calibration_overlay(np.asarray(image, dtype=np.uint8), cal, str(overlay))
        print(f"  check image:   {overlay}")
    return 0
