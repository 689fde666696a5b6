"""Read a session folder's CSV and JSON records (format ``optorig-session`` v1).

Readers are deliberately tolerant of the one defect a crash can cause and strict about
everything else:

- A **torn last line** (the last line of a CSV without its trailing newline, or made of
  NUL bytes after a power cut) is dropped and counted in ``torn_rows``; a complete row
  always ends with a newline because the writer writes whole rows and flushes.
- Any other malformed row (wrong number of fields, a number that does not parse) is an
  error naming the file, the line, the column and the bad value: the record is corrupt
  and must be looked at by a person, not silently half-read.
- Extra columns after the documented ones are accepted (the format allows additions).

Only numpy, csv and json are used here: the engine calls the summary at every session end.
"""

from __future__ import annotations

import re

import csv
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from rig.errors import RigError
from rig.session.writer import EVENT_COLUMNS, FRAME_COLUMNS

SESSION_FORMAT = "optorig-session"
SUPPORTED_SCHEMA_VERSIONS = (1,)

#: Columns a reader can do without (pixels, drop counter, synthetic ground truth); all other
#: columns the engine writes are required. One column list, the writer's, for both sides.
FRAME_COLUMNS_OPTIONAL = (
    "x_px", "y_px", "dropped", "truth_x_cm", "truth_y_cm", "cam_frame_id", "cam_t_s",
)
FRAME_COLUMNS_REQUIRED = tuple(c for c in FRAME_COLUMNS if c not in FRAME_COLUMNS_OPTIONAL)
ZONES = ("left", "right", "neutral", "lost")
#: Named zones of ``arena.zones`` (same pattern as the protocol model's zone names).
_ZONE_NAME = re.compile(r"[a-z][a-z0-9_]{0,31}")
MODES = ("off", "closed_loop", "open_loop")


class RecordError(RigError):
    """A session record is missing, of an unknown version, or corrupt (not just torn)."""

    exit_code = 2


@dataclass(frozen=True)
class FrameTable:
    """frames.csv as columns (one entry per complete row, in file order)."""

    frame: NDArray[np.int64]
    t_s: NDArray[np.float64]
    x_px: NDArray[np.float64]
    y_px: NDArray[np.float64]
    x_cm: NDArray[np.float64]
    y_cm: NDArray[np.float64]
    tracked: NDArray[np.bool_]
    zone: NDArray[np.str_]
    phase: NDArray[np.str_]
    laser_on: NDArray[np.bool_]
    latency_ms: NDArray[np.float64]
    stim_side: NDArray[np.str_]
    mode: NDArray[np.str_]
    dropped: NDArray[np.int64]
    truth_x_cm: NDArray[np.float64]
    truth_y_cm: NDArray[np.float64]
    torn_rows: int = 0
    has_dropped_column: bool = True

    def __len__(self) -> int:
        return int(self.t_s.size)

    def phase_runs(self) -> list[tuple[str, int, int]]:
        """Consecutive runs of the phase column: (name, start row, stop row exclusive)."""
        runs: list[tuple[str, int, int]] = []
        n = len(self)
        if n == 0:
            return runs
        change = np.flatnonzero(self.phase[1:] != self.phase[:-1]) + 1
        starts = np.concatenate(([0], change))
        stops = np.concatenate((change, [n]))
        for a, b in zip(starts, stops, strict=True):
            runs.append((str(self.phase[a]), int(a), int(b)))
        return runs


@dataclass(frozen=True)
class Event:
    """One row of events.csv."""

    t_s: float
    frame: int | None
    kind: str
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class EventTable:
    events: tuple[Event, ...]
    torn_rows: int = 0

    def of_kind(self, *kinds: str) -> list[Event]:
        return [e for e in self.events if e.kind in kinds]


def _complete_lines(path: Path) -> tuple[list[str], int]:
    """The file's complete lines (without newline) and the number of torn rows dropped."""
    try:
        data = path.read_bytes()
    except FileNotFoundError as err:
        raise RecordError(f"{path}: file not found") from err
    except OSError as err:
        raise RecordError(f"{path}: cannot read ({err.strerror})") from err
    text = data.decode("utf-8", errors="replace")
    torn = 0
    # A power cut can leave a tail of NUL bytes: everything from the first NUL is torn.
    nul = text.find("\x00")
    if nul >= 0:
        tail = text[nul:]
        torn += max(1, sum(1 for line in tail.split("\n") if line.strip("\x00").strip()))
        text = text[:nul]
        # The line in progress when the NULs start is incomplete too.
        if text and not text.endswith("\n"):
            text = text[: text.rfind("\n") + 1]
    lines = text.split("\n")
    last = lines.pop()  # text after the final newline: "" if the file ends cleanly
    if last.strip():
        torn += 1
    return [line.rstrip("\r") for line in lines], torn


def _float(value: str, path: Path, line_no: int, column: str) -> float:
    if value == "" or value.lower() == "nan":
        return math.nan
    try:
        return float(value)
    except ValueError as err:
        raise RecordError(
            f"{path}: line {line_no}: column {column}: not a number: {value!r}"
        ) from err


def _int(value: str, path: Path, line_no: int, column: str) -> int:
    try:
        return int(value)
    except ValueError:
        try:
            as_float = float(value)
        except ValueError as err:
            raise RecordError(
                f"{path}: line {line_no}: column {column}: not an integer: {value!r}"
            ) from err
        if not as_float.is_integer():
            raise RecordError(
                f"{path}: line {line_no}: column {column}: not an integer: {value!r}"
            ) from None
        return int(as_float)


def _bool(value: str, path: Path, line_no: int, column: str) -> bool:
    v = value.strip().lower()
    if v in ("1", "true"):
        return True
    if v in ("0", "false"):
        return False
    raise RecordError(f"{path}: line {line_no}: column {column}: expected 0 or 1, got {value!r}")


def read_frames(path: Path) -> FrameTable:
    """Read frames.csv, dropping a torn last line; raise RecordError on anything else bad."""
    path = Path(path)
    lines, torn = _complete_lines(path)
    if not lines or not lines[0].strip():
        raise RecordError(f"{path}: empty file (no header row)")
    rows = list(csv.reader(lines))
    header = [h.strip() for h in rows[0]]
    missing = [c for c in FRAME_COLUMNS_REQUIRED if c not in header]
    if missing:
        raise RecordError(f"{path}: header: missing column(s) {', '.join(missing)}")
    index = {name: header.index(name) for name in header}
    n_fields = len(header)
    body = rows[1:]
    n = len(body)
    cols: dict[str, list[Any]] = {name: [] for name in FRAME_COLUMNS_REQUIRED + FRAME_COLUMNS_OPTIONAL}
    for i, row in enumerate(body):
        line_no = i + 2
        if len(row) != n_fields:
            raise RecordError(
                f"{path}: line {line_no}: expected {n_fields} fields, got {len(row)}"
            )

        def get(name: str, row: list[str] = row) -> str:
            j = index.get(name)
            return "" if j is None else row[j]

        cols["frame"].append(_int(get("frame"), path, line_no, "frame"))
        cols["t_s"].append(_float(get("t_s"), path, line_no, "t_s"))
        for name in ("x_px", "y_px", "x_cm", "y_cm", "latency_ms", "truth_x_cm", "truth_y_cm"):
            cols[name].append(_float(get(name), path, line_no, name))
        cols["tracked"].append(_bool(get("tracked"), path, line_no, "tracked"))
        cols["laser_on"].append(_bool(get("laser_on"), path, line_no, "laser_on"))
        zone = get("zone").strip()
        if zone not in ZONES and not _ZONE_NAME.fullmatch(zone):
            raise RecordError(
                f"{path}: line {line_no}: column zone: expected one of {', '.join(ZONES)} "
                f"or a zone name of the protocol (lower case letters, digits, _), got {zone!r}"
            )
        cols["zone"].append(zone)
        cols["phase"].append(get("phase"))
        side = get("stim_side").strip()
        if side not in ("left", "right"):
            raise RecordError(
                f"{path}: line {line_no}: column stim_side: expected left or right, got {side!r}"
            )
        cols["stim_side"].append(side)
        mode = get("mode").strip()
        if mode not in MODES:
            raise RecordError(
                f"{path}: line {line_no}: column mode: expected one of {', '.join(MODES)}, "
                f"got {mode!r}"
            )
        cols["mode"].append(mode)
        dropped = get("dropped")
        cols["dropped"].append(_int(dropped, path, line_no, "dropped") if dropped != "" else 0)
    t_s = np.asarray(cols["t_s"], dtype=np.float64)
    if n and not np.all(np.isfinite(t_s)):
        bad = int(np.flatnonzero(~np.isfinite(t_s))[0])
        raise RecordError(f"{path}: line {bad + 2}: column t_s: missing time")
    return FrameTable(
        frame=np.asarray(cols["frame"], dtype=np.int64),
        t_s=t_s,
        x_px=np.asarray(cols["x_px"], dtype=np.float64),
        y_px=np.asarray(cols["y_px"], dtype=np.float64),
        x_cm=np.asarray(cols["x_cm"], dtype=np.float64),
        y_cm=np.asarray(cols["y_cm"], dtype=np.float64),
        tracked=np.asarray(cols["tracked"], dtype=np.bool_),
        zone=np.asarray(cols["zone"], dtype=np.str_) if n else np.empty(0, dtype="<U7"),
        phase=np.asarray(cols["phase"], dtype=np.str_) if n else np.empty(0, dtype="<U1"),
        laser_on=np.asarray(cols["laser_on"], dtype=np.bool_),
        latency_ms=np.asarray(cols["latency_ms"], dtype=np.float64),
        stim_side=np.asarray(cols["stim_side"], dtype=np.str_) if n else np.empty(0, dtype="<U5"),
        mode=np.asarray(cols["mode"], dtype=np.str_) if n else np.empty(0, dtype="<U11"),
        dropped=np.asarray(cols["dropped"], dtype=np.int64),
        truth_x_cm=np.asarray(cols["truth_x_cm"], dtype=np.float64),
        truth_y_cm=np.asarray(cols["truth_y_cm"], dtype=np.float64),
        torn_rows=torn,
        has_dropped_column="dropped" in index,
    )


def read_events(path: Path) -> EventTable:
    """Read events.csv, dropping a torn last line. A missing file gives no events."""
    path = Path(path)
    if not path.exists():
        return EventTable(events=(), torn_rows=0)
    lines, torn = _complete_lines(path)
    if not lines or not lines[0].strip():
        return EventTable(events=(), torn_rows=torn)
    rows = list(csv.reader(lines))
    header = [h.strip() for h in rows[0]]
    missing = [c for c in EVENT_COLUMNS if c not in header]
    if missing:
        raise RecordError(f"{path}: header: missing column(s) {', '.join(missing)}")
    index = {name: header.index(name) for name in header}
    events: list[Event] = []
    for i, row in enumerate(rows[1:]):
        line_no = i + 2
        if not row:
            continue
        if len(row) != len(header):
            raise RecordError(f"{path}: line {line_no}: expected {len(header)} fields, got {len(row)}")
        t_s = _float(row[index["t_s"]], path, line_no, "t_s")
        frame_text = row[index["frame"]].strip()
        frame = _int(frame_text, path, line_no, "frame") if frame_text else None
        detail_text = row[index["detail"]].strip()
        detail: dict[str, Any] = {}
        if detail_text:
            try:
                parsed = json.loads(detail_text)
            except json.JSONDecodeError as err:
                raise RecordError(
                    f"{path}: line {line_no}: column detail: not JSON ({err.msg}): {detail_text!r}"
                ) from err
            if isinstance(parsed, dict):
                detail = parsed
            else:
                detail = {"value": parsed}
        events.append(Event(t_s=t_s, frame=frame, kind=row[index["kind"]].strip(), detail=detail))
    return EventTable(events=tuple(events), torn_rows=torn)


def read_session_header(session_dir: Path) -> dict[str, Any]:
    """session.json as a dict ({} when missing); rejects an unknown format or version."""
    path = Path(session_dir) / "session.json"
    if not path.exists():
        return {}
    try:
        header = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise RecordError(f"{path}: not valid JSON: {err.msg} at line {err.lineno}") from err
    if not isinstance(header, dict):
        raise RecordError(f"{path}: expected a JSON object")
    fmt = header.get("format", SESSION_FORMAT)
    if fmt != SESSION_FORMAT:
        raise RecordError(f"{path}: format: expected {SESSION_FORMAT!r}, got {fmt!r}")
    version = header.get("schema_version", 1)
    if version not in SUPPORTED_SCHEMA_VERSIONS:
        raise RecordError(
            f"{path}: schema_version: this optorig reads version(s) "
            f"{', '.join(map(str, SUPPORTED_SCHEMA_VERSIONS))}, found {version!r}"
        )
    return header


def read_protocol_dict(session_dir: Path) -> dict[str, Any]:
    """The copied protocol.yaml as a plain dict ({} when missing or unreadable).

    Used only for optional refinements (debounce frames, open-loop schedules); analysis
    works without it.
    """
    path = Path(session_dir) / "protocol.yaml"
    if not path.exists():
        return {}
    import yaml

    try:
        loaded = load_yaml_text(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, OSError, UnicodeDecodeError):
        return {}
    return loaded if isinstance(loaded, dict) else {}


def load_yaml_text(text: str) -> Any:
    """YAML as the protocol loader reads it (only true/false are booleans: ``off`` stays text)."""
    import yaml

    try:
        from rig.protocol.yamlfile import _Loader
    except ImportError:  # pragma: no cover - loader module absent
        return yaml.safe_load(text)
    return yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass
