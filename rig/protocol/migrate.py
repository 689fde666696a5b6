"""Schema 1 -> schema 2 protocol conversion (frame counts -> seconds, jump -> speed).

Schema 1 counted decision times in frames, so a dropped frame stretched them. Schema 2
states them in seconds. The conversion uses the protocol's own ``tracking.camera_fps``
(the frame rate the frame counts were written for; 30 when absent), and keeps the rule's
behaviour identical at that frame rate:

- ``debounce_frames`` N: the N-th consecutive frame in a zone accepted it, i.e. the zone
  had been seen for (N - 1) frame intervals -> ``debounce_s = (N - 1) / fps`` (rounded down to the microsecond);
- ``tracking_loss_grace_frames`` G: lost frames 1..G held, frame G + 1 (G intervals after
  the first lost frame) off -> ``tracking_loss_grace_s = G / fps``;
- ``max_jump_cm`` J per frame -> ``max_speed_cm_s = J x fps``;
- ``arena.stimulated.rule: alternate`` (counted earlier sessions in the output folder, so
  an animal changed side from one day to the next) has no schema-2 equivalent: it is
  refused with a pointer to the cohort file.

``convert_data`` converts parsed YAML (used by the loader; the notes go to the session
record); ``migrate_text`` rewrites the file's text line by line so comments survive
(``rig migrate``).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

DEFAULT_FPS = 30.0


@dataclass(frozen=True)
class Conversion:
    """What the schema-1 conversion changed (empty ``notes``: nothing to convert)."""

    data: dict[str, Any]
    fps: float
    notes: tuple[str, ...]
    #: (section, old key, new key, new value) for the text rewrite
    changes: tuple[tuple[str, str, str, float], ...]
    #: problems that make the file impossible to convert, as (field path, reason)
    problems: tuple[tuple[tuple[str | int, ...], str], ...]


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _fmt(value: float) -> str:
    text = f"{value:.6f}".rstrip("0").rstrip(".")
    return text if text else "0"


def convert_data(data: dict[str, Any]) -> Conversion:
    """Convert a schema-1 protocol mapping to schema 2 (the input is not modified)."""
    out: dict[str, Any] = {k: (dict(v) if isinstance(v, dict) else v) for k, v in data.items()}
    tracking = out.get("tracking") if isinstance(out.get("tracking"), dict) else {}
    assert isinstance(tracking, dict)
    fps = _number(tracking.get("camera_fps"))
    if fps is None or fps <= 0:
        fps = DEFAULT_FPS
    notes: list[str] = []
    changes: list[tuple[str, str, str, float]] = []
    problems: list[tuple[tuple[str | int, ...], str]] = []

    decision = out.get("decision")
    if isinstance(decision, dict):
        for old, new, lag in (
            ("debounce_frames", "debounce_s", 1),
            ("tracking_loss_grace_frames", "tracking_loss_grace_s", 0),
        ):
            if old not in decision:
                continue
            value = _number(decision.pop(old))
            if value is None or value != int(value) or value < (1 if old == "debounce_frames" else 0):
                least = 1 if old == "debounce_frames" else 0
                problems.append((("decision", old), f"expected a whole number >= {least}"))
                continue
            # rounded down, so the rule at exactly the nominal frame rate is unchanged
            seconds = math.floor((value - lag) / fps * 1e6) / 1e6
            decision[new] = seconds
            changes.append(("decision", old, new, seconds))
            notes.append(f"decision.{old} {int(value)} -> {new} {_fmt(seconds)} at {_fmt(fps)} fps")
    if isinstance(tracking, dict) and "max_jump_cm" in tracking:
        value = _number(tracking.pop("max_jump_cm"))
        if value is None or value <= 0:
            problems.append((("tracking", "max_jump_cm"), "expected a number > 0"))
        else:
            speed = round(value * fps, 6)
            tracking["max_speed_cm_s"] = speed
            out["tracking"] = tracking
            changes.append(("tracking", "max_jump_cm", "max_speed_cm_s", speed))
            notes.append(
                f"tracking.max_jump_cm {_fmt(value)} -> max_speed_cm_s {_fmt(speed)} at {_fmt(fps)} fps"
            )
    arena = out.get("arena")
    if isinstance(arena, dict):
        stimulated = arena.get("stimulated")
        if isinstance(stimulated, dict) and stimulated.get("rule") == "alternate":
            problems.append(
                (
                    ("arena", "stimulated", "rule"),
                    "'alternate' counted earlier sessions in the output folder (an animal "
                    "changed side between days) and is no longer supported; assign sides in a "
                    "cohort file (rig cohort assign cohort.csv) and use rule: cohort",
                )
            )
    out["schema_version"] = 2
    return Conversion(out, fps, tuple(notes), tuple(changes), tuple(problems))


_KEY_LINE = re.compile(r"^(?P<indent>\s*)(?P<key>[A-Za-z_]+)(?P<sep>\s*:\s*)(?P<value>[^#\n]*?)(?P<rest>\s*(#.*)?)$")

_COMMENTS = {
    "debounce_s": "# seconds in a new compartment before the change counts",
    "tracking_loss_grace_s": "# seconds without a position before the light goes off",
    "max_speed_cm_s": "# faster apparent moves count as lost tracking",
}


def migrate_text(text: str, conversion: Conversion) -> str:
    """The file's text with the schema-1 keys rewritten (comments elsewhere kept)."""
    replacements = {old: (new, value) for _, old, new, value in conversion.changes}
    lines = text.splitlines(keepends=True)
    out: list[str] = []
    for line in lines:
        ending = "\n" if line.endswith("\n") else ""
        body = line[: len(line) - len(ending)]
        match = _KEY_LINE.match(body)
        if match is not None:
            key = match.group("key")
            if key == "schema_version" and not match.group("indent"):
                head = f"schema_version{match.group('sep')}2"
                if match.group("rest").strip():
                    width = len(body) - len(match.group("rest").lstrip())
                    body = head.ljust(max(width, len(head) + 1)) + "# format version (2: times in seconds)"
                else:
                    body = head
            elif key in replacements:
                new, value = replacements[key]
                head = f"{match.group('indent')}{new}{match.group('sep')}{_fmt(value)}"
                if match.group("rest").strip():
                    width = len(body) - len(match.group("rest").lstrip())
                    body = head.ljust(max(width, len(head) + 1)) + _COMMENTS[new]
                else:
                    body = head
        out.append(body + ending)
    return "".join(out)


def as_schema2(data: Any) -> Any:
    """A protocol mapping in schema 2 (a schema-1 one converted; anything else unchanged).

    For readers of a session's copied protocol.yaml, which keeps the file's own schema.
    """
    if isinstance(data, dict) and data.get("schema_version") == 1:
        return convert_data(data).data
    return data
