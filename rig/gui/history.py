"""Sessions already in an output folder, newest first, with how each ended (no Qt).

Also where sessions go: the protocol's ``recording.output_dir`` pattern (e.g.
``sessions/{date}_...``) is relative to the chosen output folder. When the technician picks
a folder that already is that first level (``.../sessions``), the record would land in
``sessions/sessions/``; :func:`effective_output_dir` uses the parent instead.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from rig.gui import palette
from rig.gui.states import end_reason_text

#: At most this many sessions are listed.
MAX_LISTED = 200


def pattern_prefix(pattern: str) -> str:
    """The pattern's fixed first folder ("sessions" for "sessions/{date}_..."), or ""."""
    parts = PurePosixPath(pattern.replace("\\", "/")).parts
    if len(parts) > 1 and "{" not in parts[0]:
        return parts[0]
    return ""


def effective_output_dir(output_dir: Path, pattern: str) -> Path:
    """The folder to hand to the runner so the sessions are not nested twice."""
    prefix = pattern_prefix(pattern)
    if prefix and output_dir.name == prefix:
        return output_dir.parent
    return output_dir


@dataclass(frozen=True, slots=True)
class SessionEntry:
    path: Path
    animal: str
    started: str
    end_reason: str
    complete: bool | None

    @property
    def report_path(self) -> Path | None:
        report = self.path / "report" / "report.html"
        return report if report.exists() else None

    @property
    def ok(self) -> bool:
        return self.end_reason in ("completed", "stopped_by_user", "closed_by_user") and self.complete is not False

    @property
    def colour(self) -> str:
        if not self.end_reason:
            return palette.WARN
        return palette.OK if self.ok else palette.ERROR

    def describe(self) -> str:
        reason = end_reason_text(self.end_reason) if self.end_reason else "did not finish (no end recorded)"
        incomplete = " — INCOMPLETE" if self.complete is False or not self.ok else ""
        return f"{self.started[:16].replace('T', ' ')}  {self.animal}: {reason}{incomplete}"


def list_sessions(output_dir: Path, pattern: str = "sessions/{x}") -> list[SessionEntry]:
    """Session folders (with a session.json) under the output folder, newest first."""
    root = effective_output_dir(Path(output_dir), pattern)
    prefix = pattern_prefix(pattern)
    folders = [root / prefix] if prefix else []
    folders.append(root)
    entries: list[SessionEntry] = []
    seen: set[Path] = set()
    for folder in folders:
        if not folder.is_dir():
            continue
        for header in folder.glob("*/session.json"):
            if header.parent in seen:
                continue
            seen.add(header.parent)
            entries.append(_read(header))
    entries.sort(key=lambda e: (e.started, e.path.name), reverse=True)
    return entries[:MAX_LISTED]


def _read(header: Path) -> SessionEntry:
    try:
        data = json.loads(header.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        data = {}
    complete = data.get("complete")
    summary = header.parent / "summary.json"
    if complete is None and summary.exists():
        try:
            complete = json.loads(summary.read_text(encoding="utf-8")).get("complete")
        except (OSError, ValueError):
            complete = None
    return SessionEntry(
        header.parent,
        str(data.get("animal_id", "?")),
        str(data.get("started_at", data.get("start_time", header.parent.name))),
        str(data.get("end_reason") or ""),
        complete if isinstance(complete, bool) else None,
    )
