"""What the state header says: one unmistakable word per session state, and end reasons in
plain words (pure functions over a ``RunnerStatus``; no widgets, so tests read them directly).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any


class HeaderState(enum.Enum):
    IDLE = "IDLE"
    ARMING = "ARMING"
    RUNNING = "RUNNING"
    PAUSED = "PAUSED"
    STOPPING = "STOPPING"
    COMPLETE = "COMPLETE"
    STOPPED = "STOPPED"
    E_STOPPED = "E-STOPPED"
    INCOMPLETE = "INCOMPLETE"

    @property
    def final(self) -> bool:
        return self in (
            HeaderState.COMPLETE,
            HeaderState.STOPPED,
            HeaderState.E_STOPPED,
            HeaderState.INCOMPLETE,
        )


#: End reasons in the technician's words (unknown ones fall back to the raw words).
END_REASON_TEXT: dict[str, str] = {
    "completed": "Completed: every phase ran to its end",
    "stopped_by_user": "Stopped by the user",
    "closed_by_user": "Stopped because the window was closed",
    "emergency_stop": "Emergency stop",
    "camera_lost": "The camera stopped delivering frames",
    "source_ended": "The video ended before the protocol did",
    "board_lost": "The laser board stopped answering",
    "board_fault": "The laser board reported a fault",
    "interlock": "The laser interlock opened",
    "loop_stalled": "The control loop stalled",
    "safety_limit": "A protocol safety limit was reached",
    "recorder_fault": "The record could not be written",
    "error": "An unexpected error",
}

_BY_REASON: dict[str, HeaderState] = {
    "completed": HeaderState.COMPLETE,
    "stopped_by_user": HeaderState.STOPPED,
    "closed_by_user": HeaderState.STOPPED,
    "emergency_stop": HeaderState.E_STOPPED,
}


def end_reason_text(reason: object) -> str:
    value = str(getattr(reason, "value", reason) or "")
    return END_REASON_TEXT.get(value, value.replace("_", " ").capitalize())


def _value(x: object) -> str:
    return str(getattr(x, "value", x) or "")


def format_duration(seconds: float) -> str:
    whole_s = max(0, round(seconds))
    hours, rest = divmod(whole_s, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


@dataclass(frozen=True, slots=True)
class HeaderText:
    state: HeaderState
    #: One line under the state word (phase and time, or why it ended / what is missing).
    detail: str
    #: Progress 0..1 (None: no bar).
    progress: float | None
    #: Text on the progress bar.
    progress_text: str = ""


def header_for(status: Any, paused: bool = False, arming: Any = None) -> HeaderText:
    """The header for a runner status (``None`` = no session yet)."""
    if status is None:
        return HeaderText(HeaderState.IDLE, "No session. Set up on the left, then Start.", None)
    state = _value(getattr(status, "state", ""))
    total = float(getattr(status, "total_duration_s", 0.0) or 0.0)
    elapsed = float(getattr(status, "session_elapsed_s", 0.0) or 0.0)
    n_phases = int(getattr(status, "n_phases", 0) or 0)
    index = int(getattr(status, "phase_index", -1))
    phase = getattr(status, "phase", None)
    fraction = min(1.0, elapsed / total) if total > 0 else 0.0
    clock = f"{format_duration(elapsed)} / {format_duration(total)}"
    reason = _value(getattr(status, "end_reason", None))
    if state == "finished" or reason:
        header_state = _BY_REASON.get(reason, HeaderState.INCOMPLETE)
        where = f"ended at {clock}"
        if phase:
            where += f", in phase {index + 1}/{n_phases} ({phase})"
        detail = f"{end_reason_text(reason)}; {where}."
        if header_state is HeaderState.INCOMPLETE:
            missing = max(0.0, total - elapsed)
            parts = [f"{format_duration(missing)} of the protocol not run"]
            if n_phases and index + 1 < n_phases:
                parts.append(f"phases {index + 2}-{n_phases} missing" if index + 2 < n_phases
                             else f"phase {n_phases} missing")
            fault = getattr(status, "fault", None)
            detail = f"{end_reason_text(reason)}. Missing: {', '.join(parts)}."
            if fault:
                detail += f" ({fault})"
        return HeaderText(header_state, detail, fraction, f"{clock} (final)")
    if state in ("idle", "arming"):
        if arming is not None:
            text = (
                f"building the background: {arming.sampled_s:.1f} / {arming.window_s:.0f} s"
                + (f" (window {arming.window}, the animal rested)" if arming.window > 1 else "")
            )
            return HeaderText(HeaderState.ARMING, "Opening devices and building the tracker "
                              "background; the laser stays off.", arming.fraction, text)
        return HeaderText(HeaderState.ARMING, "Opening the board and the source…", 0.0,
                          "opening devices…")
    if state == "stopping":
        return HeaderText(HeaderState.STOPPING, "Laser off; finishing the record…", fraction, clock)
    left = f"{format_duration(total - elapsed)} left"
    phase_text = f"Phase {index + 1}/{n_phases}: {phase}" if phase else "Starting"
    phase_elapsed = float(getattr(status, "phase_elapsed_s", 0.0) or 0.0)
    phase_duration = float(getattr(status, "phase_duration_s", 0.0) or 0.0)
    side = getattr(status, "stim_side", "")
    detail = (f"{phase_text} ({format_duration(phase_elapsed)} / {format_duration(phase_duration)})"
              + (f", stimulated side {side}" if side else ""))
    if paused:
        return HeaderText(HeaderState.PAUSED, detail + ". Playback paused: the video and "
                          "the session clock stand still.", fraction, f"{clock} — paused")
    return HeaderText(HeaderState.RUNNING, detail, fraction, f"{clock} — {left}")
