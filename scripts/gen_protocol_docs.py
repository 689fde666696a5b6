#!/usr/bin/env python
"""Generate docs/protocol.md and docs/calibration.md from the pydantic models.

The field tables (path, type, unit, default, constraints, description) are read from
``rig.protocol.models`` and ``rig.calibration``, so they cannot drift from the code; a
test regenerates both files and fails when they differ from what is committed.

    .venv/bin/python scripts/gen_protocol_docs.py           # rewrite the docs
    .venv/bin/python scripts/gen_protocol_docs.py --check   # exit 1 if they are stale
"""

from __future__ import annotations

import argparse
import datetime as dt
import inspect
import sys
import types
import typing
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

import annotated_types
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from rig.calibration import ArenaCalibration, LaserPowerCalibration
from rig.devices.limits import FIRMWARE_MAX_FREQUENCY_HZ, FIRMWARE_MIN_PULSE_WIDTH_MS
from rig.protocol.models import SCHEMA_VERSION, Protocol

ROOT = Path(__file__).resolve().parents[1]
PROTOCOL_MD = ROOT / "docs" / "protocol.md"
CALIBRATION_MD = ROOT / "docs" / "calibration.md"

_UNITS = [
    ("_cm2", "cm²"),
    ("_mw", "mW"),
    ("_ms", "ms"),
    ("_hz", "Hz"),
    ("_nm", "nm"),
    ("_cm", "cm"),
    ("_px", "px"),
    ("_s", "s"),
]


def _unit(name: str) -> str:
    if name == "max_duty_cycle":
        return "fraction (0-1)"
    for suffix, unit in _UNITS:
        if name.endswith(suffix):
            return unit
    return ""


def _model_of(annotation: Any) -> type[BaseModel] | None:
    if inspect.isclass(annotation) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = _model_of(arg)
        if found is not None:
            return found
    return None


def _type_name(annotation: Any) -> str:
    origin = get_origin(annotation)
    if origin is Literal:
        values = get_args(annotation)
        if len(values) == 1:
            return f"`{values[0]}`"
        return "one of " + ", ".join(f"`{a}`" for a in values)
    if origin is typing.Annotated:
        return _type_name(get_args(annotation)[0])
    if origin in (Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        text = " or ".join(_type_name(a) for a in args)
        if len(args) < len(get_args(annotation)):
            text += " (may be empty)"
        return text
    if origin is list:
        (item,) = get_args(annotation)
        return f"list of {_type_name(item)}"
    if origin is tuple:
        return "[x, y]"
    if inspect.isclass(annotation) and issubclass(annotation, BaseModel):
        return "section"
    return {
        float: "number",
        int: "whole number",
        str: "text",
        bool: "true/false",
        dt.date: "date (YYYY-MM-DD)",
    }.get(annotation, str(annotation))


def _num(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _constraints(info: FieldInfo) -> str:
    parts: list[str] = []
    noun = "items" if get_origin(info.annotation) is list else "characters"
    metadata = list(info.metadata)
    for arg in get_args(info.annotation):  # e.g. Literal['auto'] | Annotated[int, Field(...)]
        if get_origin(arg) is typing.Annotated:
            for extra in get_args(arg)[1:]:
                metadata.extend(getattr(extra, "metadata", []))
    for item in metadata:
        if isinstance(item, annotated_types.Gt):
            parts.append(f"> {_num(item.gt)}")
        elif isinstance(item, annotated_types.Ge):
            parts.append(f"≥ {_num(item.ge)}")
        elif isinstance(item, annotated_types.Lt):
            parts.append(f"< {_num(item.lt)}")
        elif isinstance(item, annotated_types.Le):
            parts.append(f"≤ {_num(item.le)}")
        elif isinstance(item, annotated_types.MinLen):
            parts.append(f"at least {item.min_length} {noun}")
        elif isinstance(item, annotated_types.MaxLen):
            parts.append(f"at most {item.max_length} {noun}")
        elif getattr(item, "pattern", None):
            parts.append(f"pattern `{item.pattern}`")
    low = [p for p in parts if p.startswith("at least ")]
    high = [p for p in parts if p.startswith("at most ")]
    if low and high and low[0].removeprefix("at least ") == high[0].removeprefix("at most "):
        parts = [p for p in parts if p not in (low[0], high[0])]
        parts.insert(0, "exactly " + low[0].removeprefix("at least "))
    parts = [
        {"at least 1 characters": "not empty", "at least 1 items": "at least 1 item"}.get(p, p)
        for p in parts
    ]
    return ", ".join(parts)


def _default(info: FieldInfo) -> str:
    if info.default_factory is not None:
        return "(defaults below)" if _model_of(info.annotation) else "(empty)"
    if info.default is PydanticUndefined:
        return "**required**"
    if info.default is None:
        return "empty"
    if info.default == "":
        return '`""` (empty)'
    if isinstance(info.default, bool):
        return f"`{str(info.default).lower()}`"
    return f"`{_num(info.default)}`"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _tables(model: type[BaseModel], path: str, out: list[str], level: int) -> None:
    title = f"`{path}`" if path else "Top level"
    out.append(f"{'#' * level} {title}\n")
    doc = inspect.cleandoc(model.__dict__.get("__doc__") or "").replace("``", "`")
    if doc:
        out.append(doc + "\n")
    out.append("| field | type | unit | default | constraints | description |")
    out.append("| --- | --- | --- | --- | --- | --- |")
    children: list[tuple[type[BaseModel], str]] = []
    for name, info in model.model_fields.items():
        full = f"{path}.{name}" if path else name
        sub = _model_of(info.annotation)
        type_name = _type_name(info.annotation)
        if sub is not None:
            is_list = get_origin(info.annotation) is list or any(
                get_origin(arg) is list for arg in get_args(info.annotation)
            )
            child_path = f"{full}[]" if is_list else full
            children.append((sub, child_path))
            type_name = type_name.replace(sub.__name__, "section")
            if "section" not in type_name:
                type_name = f"{type_name} section"
        description = info.description or ""
        if not description and sub is not None:
            description = inspect.cleandoc(sub.__dict__.get("__doc__") or "").split("\n")[0]
        out.append(
            f"| `{full}` | {_cell(type_name)} | {_unit(name)} | {_cell(_default(info))} | "
            f"{_cell(_constraints(info))} | {_cell(description)} |"
        )
    out.append("")
    for sub, child_path in children:
        _tables(sub, child_path, out, level)


PROTOCOL_INTRO = f"""\
<!-- Generated by scripts/gen_protocol_docs.py from rig/protocol/models.py; do not edit by
hand. A test fails when this file and the models disagree. -->

# Protocol file reference (schema_version {SCHEMA_VERSION})

A protocol is a YAML file describing the science of one session: the arena's compartments
in cm, the phases, which side is stimulated (or how that is counterbalanced), the light,
the decision rules and the safety limits. The bench (serial port, pin, camera) is not in
it, and neither is what the camera sees (that is the calibration file,
[calibration.md](calibration.md)).

Check a file before a session with `rig validate protocols/my_protocol.yaml`. Examples
with every field explained in comments are in `protocols/`:

| file | design |
| --- | --- |
| `rtpp_redondo2014.yaml` | real-time place preference: baseline off, closed-loop test (473 nm, 20 Hz, 15 ms), post-test off |
| `reconditioning_redondo2014.yaml` | open loop, 3 min on / 3 min off over 12 min, position recorded |
| `inhibition_rtpp_continuous.yaml` | closed loop with continuous light and a ramp-down (ArchT, eNpHR, GtACR) |
| `counterbalanced_reversal.yaml` | side chosen by animal ID; baseline, test, reversal (sides swapped), post-test |

## Writing a protocol

- Units are in the field names: `_s` seconds, `_ms` milliseconds, `_hz` hertz, `_cm` centimetres,
  `_cm2` square centimetres, `_nm` nanometres, `_mw` milliwatts.
- Unknown or misspelt fields are errors (with the nearest valid name suggested), never ignored.
- Fields you leave out take the defaults listed below; `required` fields must be given.
- Only `true` and `false` are booleans; `off`, `on`, `yes`, `no` are read as words (so
  `mode: off` means the mode `off`). Quoting them (`mode: "off"`) is still good practice.
- A key written twice in the same section is an error.
- Errors are reported as `FILE:LINE FIELD.PATH: reason`, every problem at once, for example
  `protocols/x.yaml:14 stimulation.pulse_width_ms: 60 ms pulses do not fit a 20 Hz period (50 ms)`.
- The exact bytes of the file and their sha256 are copied into every session folder.

## Coordinates

Arena coordinates are in cm with the origin at the arena's top-left corner **as seen in the
camera image**, x to the right and y downward. "Left" and "right" compartments are the left
and right halves of the image. The calibration file maps image pixels to these cm.
When `arena.compartments` is empty, the arena is split at x = width / 2 with a neutral band
of `arena.neutral_band_cm` centred there; otherwise the two rectangles are used and
everything outside them is neutral.

## Calibration files named by a protocol

`arena.calibration` and `stimulation.power_calibration` are looked up, in order: the path
itself when absolute; beside the protocol; in `../calibration/` next to the protocol's folder;
in `./calibration/` of the current folder; among the calibrations bundled with optorig
(`synthetic_arena.yaml`, used by the demo).

## Counterbalancing (`arena.stimulated`)

| rule | stimulated side |
| --- | --- |
| `fixed` | always `side` |
| `animal_id` | from the last digit of the animal ID given at start: even → `side`, odd → the other side; an ID without a digit is refused before anything starts |
| `alternate` | from the number of earlier sessions of this protocol in the output folder: even → `side`, odd → the other |
| `random` | drawn with `seed` (a seed is drawn and recorded when empty) |

A phase with `swap_sides: true` stimulates the other side for that phase only (a reversal).
The chosen side, the rule and any seed are written to `session.json`.

## Rules checked across fields and files

- `stimulation.pulse_width_ms` must be shorter than the period (1000 / `frequency_hz`) and at
  least {FIRMWARE_MIN_PULSE_WIDTH_MS:g} ms; `frequency_hz` at most {FIRMWARE_MAX_FREQUENCY_HZ:g} Hz (what the firmware generates).
- The duty cycle (`pulse_width_ms` × `frequency_hz` / 1000, or 1 for continuous light) must not
  exceed `safety.max_duty_cycle`; continuous light therefore needs `max_duty_cycle: 1`.
- `ramp_down_ms` is only allowed with continuous light.
- Phase names are unique; `schedule` is only allowed in `open_loop` phases.
- Compartments must not overlap and must lie inside the arena (width and length from the
  calibration file); `neutral_band_cm` must be narrower than the arena.
- `target_power_mw` must not exceed the highest power in the laser power calibration, and
  `wavelength_nm` must match that calibration's laser.
- An open-loop on-period or a closed-loop stay longer than `safety.max_continuous_on_s` is
  cut by the safety limit (light forced off for `forced_off_s`): set the limit above the
  longest on-period you intend. `rig validate` prints a `note:` line for open-loop periods
  that the limits will cut.

# Fields
"""

CALIBRATION_INTRO = """\
<!-- Generated by scripts/gen_protocol_docs.py from rig/calibration.py; do not edit by
hand. A test fails when this file and the models disagree. -->

# Calibration files

Two kinds of calibration files live in `calibration/`, each a YAML file with
`schema_version` and `kind`. They describe the bench, not the science, and are copied
byte-exact into every session folder that used them. A calibration is never edited or
overwritten: a new measurement gets a new file name (e.g. with the date), so old sessions
keep pointing at what they really used. Check one with `rig validate calibration/x.yaml`.

## Arena calibration (`kind: arena`)

What the camera sees: the image points of the arena's four corners and the arena's real
size give a pixel → cm projective mapping (a homography, so a camera that looks at the
arena at an angle is handled). The arena's top-left corner *as seen in the image* is
(0, 0) cm, x to the right, y downward; the top-right corner is (`width_cm`, 0) and the
bottom-left (0, `length_cm`).

Making one:

1. Fix the camera and the chamber, then save a frame of the empty, lit arena
   (for example from the camera's own software, or `ffmpeg -i /dev/video0 -frames 1 frame.png`).
2. Open the frame in any image viewer that shows pixel coordinates and read the four inner
   floor corners, in order top-left, top-right, bottom-right, bottom-left.
3. Measure the floor's inner width (left to right wall) and length (top to bottom wall) in cm.
4. Run

   ```
   rig calibrate arena --image frame.png --corners 20,90,620,90,620,390,20,390 \\
       --width-cm 50 --length-cm 25 --name box1
   ```

   which writes `calibration/box1.yaml` (refusing to overwrite) and copies the frame beside
   it as `box1_reference.png`, and draws `box1_overlay.png`: the frame with the four
   corners (TL, TR, BR, BL), a cm grid labelled along the top (x) and left (y) walls, and the
   two compartments (the arena split at its middle). Open it: the grid lines must run along
   the walls and the floor's edges; a corner clicked on the top of a wall instead of the
   floor, or two corners swapped, shows as a grid that leaves the floor.
   `rig calibrate show calibration/box1.yaml` prints the mapping (px/cm, each corner in px
   and cm); `--overlay check.png` draws the same check image for an existing calibration.
5. Name the file in the protocol: `arena: {calibration: box1.yaml}`.

Redo it whenever the camera or the chamber moves. Corners out of order (or mirrored),
outside the image, or enclosing no area are refused.

`calibration/synthetic_arena.yaml` (also bundled inside the package) describes the
simulated arena: 640 × 480 px image, a 50 × 25 cm arena with corners
(20, 90), (620, 90), (620, 390), (20, 390): 12 px/cm.

## Laser power calibration (`kind: laser_power`)

What the laser delivers: the power measured at the fibre tip (patch cord and a spare
implant attached, continuous light, sensor at the tip) for several driver settings, with
the meter and the date. A protocol names it in `stimulation.power_calibration`; then
`stimulation.target_power_mw` must be within the measured range and
`stimulation.wavelength_nm` must match the laser. Example:
`calibration/laser_473nm_example.yaml`.

# Fields
"""


def render_protocol_md() -> str:
    out = [PROTOCOL_INTRO]
    _tables(Protocol, "", out, 2)
    return "\n".join(out).rstrip() + "\n"


def render_calibration_md() -> str:
    out = [CALIBRATION_INTRO, "## Arena calibration fields\n"]
    _tables(ArenaCalibration, "", out, 3)
    out.append("## Laser power calibration fields\n")
    _tables(LaserPowerCalibration, "", out, 3)
    return "\n".join(out).rstrip() + "\n"


def outputs() -> dict[Path, str]:
    return {PROTOCOL_MD: render_protocol_md(), CALIBRATION_MD: render_calibration_md()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if a file is stale")
    args = parser.parse_args(argv)
    stale = []
    for path, text in outputs().items():
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current == text:
            continue
        stale.append(path)
        if not args.check:
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path.relative_to(ROOT)}")
    if args.check and stale:
        for path in stale:
            print(f"{path.relative_to(ROOT)} is stale: run scripts/gen_protocol_docs.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
