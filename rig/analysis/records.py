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
from array import array
import json
import math
from dataclasses import dataclass, field
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from rig.errors import RigError
from rig.session.writer import EVENT_COLUMNS, EVENT_COLUMNS_OPTIONAL, FRAME_COLUMNS

SESSION_FORMAT = "optorig-session"
SUPPORTED_SCHEMA_VERSIONS = (1,)

#: Columns a reader can do without (pixels, drop counter, synthetic ground truth); all other
#: columns the engine writes are required. One column list, the writer's, for both sides.
FRAME_COLUMNS_OPTIONAL = (
    "x_px", "y_px", "dropped", "truth_x_cm", "truth_y_cm", "cam_frame_id", "cam_t_s",
    "trigger_index", "board_t_s",
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


class _LineReader:
    """The complete lines of a file (without newline), read one at a time, so a 2-hour
    frames.csv never sits in memory as text; ``torn`` counts the torn rows dropped: a last
    line without its newline, and everything from the first NUL byte (a power cut can
    leave a tail of NULs; the line in progress when they start is incomplete too)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.torn = 0
        try:
            self._handle = path.open("rb")
        except FileNotFoundError as err:
            raise RecordError(f"{path}: file not found") from err
        except OSError as err:
            raise RecordError(f"{path}: cannot read ({err.strerror})") from err

    def __iter__(self) -> Iterator[str]:
        with self._handle as handle:
            try:
                for raw in handle:
                    nul = raw.find(b"\x00")
                    if nul >= 0:
                        tail = [raw[nul:], *handle]
                        count = sum(
                            1
                            for chunk in tail
                            for line in chunk.split(b"\n")
                            if line.strip(b"\x00").strip()
                        )
                        self.torn += max(1, count)
                        return
                    if not raw.endswith(b"\n"):
                        if raw.strip():
                            self.torn += 1
                        return
                    yield raw[:-1].decode("utf-8", errors="replace").rstrip("\r")
            except OSError as err:
                raise RecordError(f"{self.path}: cannot read ({err.strerror})") from err


def _complete_lines(path: Path) -> tuple[list[str], int]:
    """The file's complete lines (without newline) and the number of torn rows dropped."""
    reader = _LineReader(path)
    lines = list(reader)
    return lines, reader.torn


class _Codes:
    """A text column stored as small integer codes (memory: 2 bytes a row)."""

    def __init__(self) -> None:
        self.codes = array("H")
        self.values: dict[str, int] = {}

    def append(self, value: str) -> None:
        code = self.values.get(value)
        if code is None:
            code = self.values[value] = len(self.values)
        self.codes.append(code)

    def to_numpy(self, empty_dtype: str) -> NDArray[np.str_]:
        if not self.codes:
            return np.empty(0, dtype=empty_dtype)
        table = np.asarray(list(self.values), dtype=np.str_)
        return table[np.frombuffer(self.codes, dtype=np.uint16)]


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
    """Read frames.csv, dropping a torn last line; raise RecordError on anything else bad.

    Streams the file: rows go straight into typed arrays (about 100 bytes a row), so the
    summary of a 2-hour session stays far below the 200 MB target (benchmarks/bench_soak.py).
    """
    path = Path(path)
    reader = _LineReader(path)
    rows = csv.reader(iter(reader))
    first = next(rows, None)
    if first is None or not any(h.strip() for h in first):
        raise RecordError(f"{path}: empty file (no header row)")
    header = [h.strip() for h in first]
    missing = [c for c in FRAME_COLUMNS_REQUIRED if c not in header]
    if missing:
        raise RecordError(f"{path}: header: missing column(s) {', '.join(missing)}")
    index = {name: header.index(name) for name in header}
    n_fields = len(header)
    float_names = ("t_s", "x_px", "y_px", "x_cm", "y_cm", "latency_ms", "truth_x_cm", "truth_y_cm")
    floats = {name: array("d") for name in float_names}
    ints = {name: array("q") for name in ("frame", "dropped")}
    bools = {name: bytearray() for name in ("tracked", "laser_on")}
    texts = {name: _Codes() for name in ("zone", "phase", "stim_side", "mode")}
    n = 0
    for i, row in enumerate(rows):
        line_no = i + 2
        if len(row) != n_fields:
            raise RecordError(
                f"{path}: line {line_no}: expected {n_fields} fields, got {len(row)}"
            )

        def get(name: str, row: list[str] = row) -> str:
            j = index.get(name)
            return "" if j is None else row[j]

        ints["frame"].append(_int(get("frame"), path, line_no, "frame"))
        for name in float_names:
            floats[name].append(_float(get(name), path, line_no, name))
        bools["tracked"].append(_bool(get("tracked"), path, line_no, "tracked"))
        bools["laser_on"].append(_bool(get("laser_on"), path, line_no, "laser_on"))
        zone = get("zone").strip()
        if zone not in ZONES and not _ZONE_NAME.fullmatch(zone):
            raise RecordError(
                f"{path}: line {line_no}: column zone: expected one of {', '.join(ZONES)} "
                f"or a zone name of the protocol (lower case letters, digits, _), got {zone!r}"
            )
        texts["zone"].append(zone)
        texts["phase"].append(get("phase"))
        side = get("stim_side").strip()
        if side not in ("left", "right"):
            raise RecordError(
                f"{path}: line {line_no}: column stim_side: expected left or right, got {side!r}"
            )
        texts["stim_side"].append(side)
        mode = get("mode").strip()
        if mode not in MODES:
            raise RecordError(
                f"{path}: line {line_no}: column mode: expected one of {', '.join(MODES)}, "
                f"got {mode!r}"
            )
        texts["mode"].append(mode)
        dropped = get("dropped")
        ints["dropped"].append(_int(dropped, path, line_no, "dropped") if dropped != "" else 0)
        n += 1

    def f64(name: str) -> NDArray[np.float64]:
        return np.frombuffer(floats[name], dtype=np.float64).copy() if n else np.empty(0, np.float64)

    def i64(name: str) -> NDArray[np.int64]:
        return np.frombuffer(ints[name], dtype=np.int64).copy() if n else np.empty(0, np.int64)

    def b8(name: str) -> NDArray[np.bool_]:
        return np.frombuffer(bytes(bools[name]), dtype=np.uint8).astype(np.bool_)

    t_s = f64("t_s")
    if n and not np.all(np.isfinite(t_s)):
        bad = int(np.flatnonzero(~np.isfinite(t_s))[0])
        raise RecordError(f"{path}: line {bad + 2}: column t_s: missing time")
    return FrameTable(
        frame=i64("frame"),
        t_s=t_s,
        x_px=f64("x_px"),
        y_px=f64("y_px"),
        x_cm=f64("x_cm"),
        y_cm=f64("y_cm"),
        tracked=b8("tracked"),
        zone=texts["zone"].to_numpy("<U7"),
        phase=texts["phase"].to_numpy("<U1"),
        laser_on=b8("laser_on"),
        latency_ms=f64("latency_ms"),
        stim_side=texts["stim_side"].to_numpy("<U5"),
        mode=texts["mode"].to_numpy("<U11"),
        dropped=i64("dropped"),
        truth_x_cm=f64("truth_x_cm"),
        truth_y_cm=f64("truth_y_cm"),
        torn_rows=reader.torn,
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
    missing = [c for c in EVENT_COLUMNS if c not in header and c not in EVENT_COLUMNS_OPTIONAL]
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
