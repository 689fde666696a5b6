"""A session index: one SQLite file at a data root, built from the records themselves.

``rig index DIR`` walks DIR for session folders (``session.json``) and keeps one row per
session (header fields, end reason, whether summary.json says complete, the difference
score, the re-score link) plus one row per phase (stim %, preference index, laser time).
It is incremental: a session whose session.json and summary.json have the same size and
modification time as when last indexed is not read again; folders that disappeared are
dropped. Paths are stored relative to DIR, so the data root can be mounted elsewhere (a
cluster node) and the index still applies. The records stay the truth: the index can be
deleted and rebuilt at any time.

Queries (``Query``) filter by animal, protocol, start date, group, completeness and
whether a session is a re-score; ``parse_query`` reads the ``--query`` text form, e.g.
``"protocol=rtpp-redondo2014 since=2026-11-01 complete group=ChR2"``.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import os
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from rig.errors import ConfigError

INDEX_FILENAME = "optorig-index.sqlite"
INDEX_SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sessions (
    path TEXT PRIMARY KEY,            -- folder relative to the data root
    session_id TEXT NOT NULL,         -- folder name
    animal_id TEXT, experimenter TEXT,
    protocol TEXT, protocol_version TEXT, protocol_sha256 TEXT,
    started_at TEXT, ended_at TEXT,
    end_reason TEXT,                  -- NULL: cut short (no end written)
    complete INTEGER NOT NULL,        -- summary.json present and complete
    simulated INTEGER, stim_side TEXT, source_kind TEXT, source_detail TEXT,
    grp TEXT,                         -- group written in session.json, if any
    frames INTEGER, dropped_frames INTEGER, total_laser_on_s REAL,
    difference_score_pct REAL,
    rescore_of TEXT, rescore_mode TEXT, rescore_original_sha256 TEXT,
    session_json_stat TEXT NOT NULL, summary_stat TEXT NOT NULL,
    indexed_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_animal ON sessions (animal_id);
CREATE INDEX IF NOT EXISTS sessions_protocol ON sessions (protocol);
CREATE INDEX IF NOT EXISTS sessions_started ON sessions (started_at);
CREATE TABLE IF NOT EXISTS phases (
    path TEXT NOT NULL REFERENCES sessions (path) ON DELETE CASCADE,
    idx INTEGER NOT NULL, phase TEXT, mode TEXT, stim_side TEXT,
    duration_s REAL, stim_pct REAL, preference_index REAL, laser_on_s REAL,
    lost_tracking_pct REAL,
    PRIMARY KEY (path, idx)
);
CREATE TABLE IF NOT EXISTS animal_groups (animal_id TEXT PRIMARY KEY, grp TEXT NOT NULL);
"""


@dataclass(frozen=True, slots=True)
class IndexStats:
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0
    errors: tuple[str, ...] = ()

    def describe(self) -> str:
        text = (
            f"{self.added} added, {self.updated} updated, {self.unchanged} unchanged, "
            f"{self.removed} removed"
        )
        if self.errors:
            text += f", {len(self.errors)} unreadable"
        return text


@dataclass(frozen=True, slots=True)
class SessionRow:
    """One indexed session (``path`` is absolute, resolved against the data root)."""

    path: Path
    session_id: str
    animal_id: str | None
    protocol: str | None
    started_at: str | None
    end_reason: str | None
    complete: bool
    group: str | None
    frames: int | None
    difference_score_pct: float | None
    rescore_of: str | None
    stim_pct_by_phase: dict[str, float | None] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Query:
    """Filters; None = no filter on that field."""

    animal: str | None = None
    protocol: str | None = None
    since: str | None = None  # ISO date or date-time (the rig's local time), inclusive
    until: str | None = None  # inclusive, same form
    group: str | None = None
    complete: bool | None = None
    rescored: bool | None = None

    def describe(self) -> str:
        parts = [f"{f.name}={getattr(self, f.name)}" for f in fields(self) if getattr(self, f.name) is not None]
        return " ".join(parts) or "(all sessions)"


_BOOL = {"1": True, "yes": True, "true": True, "0": False, "no": False, "false": False}


def check_date(key: str, value: str) -> str:
    try:
        dt.datetime.fromisoformat(value)
    except ValueError:
        raise ConfigError(f"{key}: use a date like 2026-11-01 or 2026-11-01T14:00, got {value!r}") from None
    return value


def parse_query(text: str) -> Query:
    """``key=value`` terms separated by spaces or commas; bare ``complete`` /
    ``rescored`` / ``original`` are flags. Keys: animal, protocol, since, until, group,
    complete, rescored."""
    values: dict[str, Any] = {}
    for term in text.replace(",", " ").split():
        key, sep, value = term.partition("=")
        key = key.strip().lower()
        if not sep:
            if key in ("complete", "rescored"):
                values[key] = True
                continue
            if key == "original":
                values["rescored"] = False
                continue
            raise ConfigError(f"--query: {term!r}: expected key=value (or complete/rescored/original)")
        if key in ("animal", "protocol", "group"):
            values[key] = value
        elif key in ("since", "until"):
            values[key] = check_date(f"--query: {key}", value)
        elif key in ("complete", "rescored"):
            if value.lower() not in _BOOL:
                raise ConfigError(f"--query: {key}: use yes or no, got {value!r}")
            values[key] = _BOOL[value.lower()]
        else:
            raise ConfigError(
                f"--query: unknown key {key!r} (use animal, protocol, since, until, group, complete, rescored)"
            )
    return Query(**values)


def _stat(path: Path) -> str:
    try:
        st = path.stat()
    except FileNotFoundError:
        return "-"
    return f"{st.st_size}:{st.st_mtime_ns}"


def _read_json(path: Path) -> dict[str, Any] | None:
    if not path.exists():
        return None
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError("expected a JSON object")
    return data


def _group_of(header: dict[str, Any]) -> str | None:
    group = header.get("group")
    cohort = header.get("cohort")
    if group is None and isinstance(cohort, dict):
        group = cohort.get("group")
    return None if group in (None, "") else str(group)


class SessionIndex:
    """The SQLite index at ``root / INDEX_FILENAME`` (opened by ``with``; see the module)."""

    def __init__(self, root: Path, index_path: Path | None = None) -> None:
        self.root = Path(root)
        self.path = Path(index_path) if index_path is not None else self.root / INDEX_FILENAME
        self._db: sqlite3.Connection | None = None

    # ------------------------------------------------------------------ lifecycle
    def open(self, *, create: bool = True) -> SessionIndex:
        if not self.root.is_dir():
            raise ConfigError(f"{self.root}: no such data folder")
        if not create and not self.path.exists():
            raise ConfigError(f"{self.path}: no session index here; build it with: rig index {self.root}")
        try:
            db = sqlite3.connect(self.path)
            db.execute("PRAGMA foreign_keys = ON")
            db.executescript(_SCHEMA)
            row = db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
            if row is None:
                db.execute("INSERT INTO meta VALUES ('schema_version', ?)", (str(INDEX_SCHEMA_VERSION),))
                db.commit()
            elif row[0] != str(INDEX_SCHEMA_VERSION):
                db.close()
                raise ConfigError(
                    f"{self.path}: index schema_version {row[0]}, this optorig writes "
                    f"{INDEX_SCHEMA_VERSION}; delete the file and run rig index again"
                )
        except sqlite3.DatabaseError as err:
            raise ConfigError(f"{self.path}: not a usable session index: {err}") from err
        self._db = db
        return self

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    def __enter__(self) -> SessionIndex:
        return self.open() if self._db is None else self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def db(self) -> sqlite3.Connection:
        if self._db is None:
            raise RuntimeError("SessionIndex used before open()")
        return self._db

    # ------------------------------------------------------------------ building
    def _walk(self) -> Iterator[Path]:
        for folder, dirs, files in os.walk(self.root):
            dirs.sort()
            if "session.json" in files:
                dirs[:] = []
                yield Path(folder)

    def update(self) -> IndexStats:
        """Bring the index up to date with the folders under the root (incremental)."""
        db = self.db
        known = {
            row[0]: (row[1], row[2])
            for row in db.execute("SELECT path, session_json_stat, summary_stat FROM sessions")
        }
        seen: set[str] = set()
        added = updated = unchanged = 0
        errors: list[str] = []
        now = dt.datetime.now().astimezone().isoformat(timespec="seconds")
        with db:
            for folder in self._walk():
                rel = folder.relative_to(self.root).as_posix()
                seen.add(rel)
                stats = (_stat(folder / "session.json"), _stat(folder / "summary.json"))
                if known.get(rel) == stats:
                    unchanged += 1
                    continue
                try:
                    header = _read_json(folder / "session.json") or {}
                    summary = _read_json(folder / "summary.json")
                except (OSError, ValueError) as err:
                    errors.append(f"{folder}: {err}")
                    continue
                self._upsert(rel, folder, header, summary, stats, now)
                if rel in known:
                    updated += 1
                else:
                    added += 1
            removed = [rel for rel in known if rel not in seen]
            for rel in removed:
                db.execute("DELETE FROM phases WHERE path = ?", (rel,))
                db.execute("DELETE FROM sessions WHERE path = ?", (rel,))
        return IndexStats(added, updated, unchanged, len(removed), tuple(errors))

    def _upsert(
        self,
        rel: str,
        folder: Path,
        header: dict[str, Any],
        summary: dict[str, Any] | None,
        stats: tuple[str, str],
        now: str,
    ) -> None:
        protocol = header.get("protocol") or {}
        source = header.get("source") or {}
        rescore = header.get("rescore") or {}
        complete = bool(summary and summary.get("complete"))
        db = self.db
        db.execute("DELETE FROM phases WHERE path = ?", (rel,))
        db.execute("DELETE FROM sessions WHERE path = ?", (rel,))
        db.execute(
            "INSERT INTO sessions VALUES (" + ",".join("?" * 26) + ")",
            (
                rel,
                folder.name,
                header.get("animal_id"),
                header.get("experimenter"),
                protocol.get("name"),
                None if protocol.get("version") is None else str(protocol.get("version")),
                protocol.get("sha256"),
                header.get("started_at"),
                header.get("ended_at"),
                header.get("end_reason"),
                int(complete),
                None if header.get("simulated") is None else int(bool(header.get("simulated"))),
                header.get("stimulated_side"),
                source.get("kind"),
                None if source.get("detail") is None else str(source.get("detail")),
                _group_of(header),
                header.get("frames"),
                header.get("dropped_frames"),
                header.get("total_laser_on_s"),
                None if summary is None else summary.get("difference_score_pct"),
                rescore.get("original_session"),
                rescore.get("mode"),
                rescore.get("original_session_json_sha256"),
                stats[0],
                stats[1],
                now,
            ),
        )
        for i, phase in enumerate((summary or {}).get("phases") or []):
            db.execute(
                "INSERT INTO phases VALUES (?,?,?,?,?,?,?,?,?,?)",
                (
                    rel,
                    i,
                    phase.get("phase"),
                    phase.get("mode"),
                    phase.get("stim_side"),
                    phase.get("duration_s"),
                    (phase.get("time_pct") or {}).get("stim"),
                    phase.get("preference_index"),
                    phase.get("laser_on_s"),
                    phase.get("lost_tracking_pct"),
                ),
            )

    def set_groups(self, groups_csv: Path) -> int:
        """Animal -> group from a CSV (columns animal or animal_id, and group), for sessions
        whose session.json names no group. Replaces the previous table."""
        try:
            with Path(groups_csv).open(newline="", encoding="utf-8") as handle:
                rows = list(csv.DictReader(handle))
        except OSError as err:
            raise ConfigError(f"{groups_csv}: cannot read: {err.strerror}") from err
        pairs: list[tuple[str, str]] = []
        for line_no, row in enumerate(rows, start=2):
            animal = (row.get("animal_id") or row.get("animal") or "").strip()
            group = (row.get("group") or "").strip()
            if not animal or not group:
                raise ConfigError(f"{groups_csv}:{line_no}: animal (or animal_id) and group are required")
            pairs.append((animal, group))
        with self.db:
            self.db.execute("DELETE FROM animal_groups")
            self.db.executemany("INSERT OR REPLACE INTO animal_groups VALUES (?, ?)", pairs)
        return len(pairs)

    # ------------------------------------------------------------------ queries
    def query(self, query: Query) -> list[SessionRow]:
        """Sessions matching ``query``, oldest first."""
        where: list[str] = []
        params: list[object] = []
        if query.animal is not None:
            where.append("s.animal_id = ?")
            params.append(query.animal)
        if query.protocol is not None:
            where.append("s.protocol = ?")
            params.append(query.protocol)
        if query.since is not None:
            where.append("s.started_at >= ?")
            params.append(query.since)
        if query.until is not None:
            # inclusive: a date means the whole day
            where.append("substr(s.started_at, 1, ?) <= ?")
            params.extend([len(query.until), query.until])
        if query.group is not None:
            where.append("COALESCE(s.grp, g.grp) = ?")
            params.append(query.group)
        if query.complete is not None:
            where.append("s.complete = ?")
            params.append(int(query.complete))
        if query.rescored is not None:
            where.append("s.rescore_of IS NOT NULL" if query.rescored else "s.rescore_of IS NULL")
        sql = (
            "SELECT s.path, s.session_id, s.animal_id, s.protocol, s.started_at, s.end_reason, "
            "s.complete, COALESCE(s.grp, g.grp), s.frames, s.difference_score_pct, s.rescore_of "
            "FROM sessions s LEFT JOIN animal_groups g ON g.animal_id = s.animal_id"
        )
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY s.started_at, s.path"
        rows = self.db.execute(sql, params).fetchall()
        result = []
        for row in rows:
            phases = {
                name: stim
                for name, stim in self.db.execute(
                    "SELECT phase, stim_pct FROM phases WHERE path = ? ORDER BY idx", (row[0],)
                )
            }
            result.append(
                SessionRow(
                    path=self.root / row[0],
                    session_id=row[1],
                    animal_id=row[2],
                    protocol=row[3],
                    started_at=row[4],
                    end_reason=row[5],
                    complete=bool(row[6]),
                    group=row[7],
                    frames=row[8],
                    difference_score_pct=row[9],
                    rescore_of=row[10],
                    stim_pct_by_phase=phases,
                )
            )
        return result


def format_sessions_table(rows: list[SessionRow]) -> str:
    header = (
        f"{'started':<19} {'animal':<10} {'protocol':<22} {'group':<10} {'end':<15} "
        f"{'done':<4} {'frames':>7} {'diff':>6}  folder"
    )
    lines = [header, "-" * len(header)]
    for r in rows:
        started = (r.started_at or "")[:19].replace("T", " ")
        diff = "-" if r.difference_score_pct is None else f"{r.difference_score_pct:+.1f}"
        folder = str(r.path) + (f"  (re-score of {r.rescore_of})" if r.rescore_of else "")
        lines.append(
            f"{started:<19} {(r.animal_id or '')[:10]:<10} {(r.protocol or '')[:22]:<22} "
            f"{(r.group or '-')[:10]:<10} {(r.end_reason or 'cut short')[:15]:<15} "
            f"{'yes' if r.complete else 'no':<4} {r.frames if r.frames is not None else '-':>7} {diff:>6}  {folder}"
        )
    lines.append(f"{len(rows)} session(s)")
    return "\n".join(lines)
