"""Exit codes of the ``rig`` command: one table, shown by ``rig --help`` and in
docs/engine.md (a test keeps the two equal and checks every EndReason has a code).

A session's code follows its end reason; bad input fails before anything opens with 2.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ExitCode:
    code: int
    meaning: str
    end_reasons: tuple[str, ...] = ()


EXIT_CODES: tuple[ExitCode, ...] = (
    ExitCode(0, "session completed, or stopped by the user (Ctrl-C, Stop, window closed)",
             ("completed", "stopped_by_user", "closed_by_user")),
    ExitCode(1, "unexpected error (a bug: printed with its traceback or logged)", ("error",)),
    ExitCode(2, "bad input: protocol, calibration, rig file, option or source; nothing was "
             "created or opened"),
    ExitCode(3, "device lost or not usable: camera, board, or a port that is not the firmware; "
             "a board fault (watchdog trip, board reset, refused gate-open)",
             ("camera_lost", "board_lost", "board_fault")),
    ExitCode(4, "a protocol safety limit stopped the session", ("safety_limit",)),
    ExitCode(5, "recorder fault: disk full, folder deleted, or the disk could not keep up",
             ("recorder_fault",)),
    ExitCode(6, "emergency stop", ("emergency_stop",)),
    ExitCode(7, "incomplete: the video or synthetic source ended before the protocol did",
             ("source_ended",)),
    ExitCode(8, "the control loop completed no frame within loop_stall_ms (light forced off)",
             ("loop_stalled",)),
    ExitCode(9, "door interlock open at Start (refused, nothing recorded) or tripped with "
             "on_trip: stop_session", ("interlock",)),
    ExitCode(129, "stopped by SIGHUP (terminal or SSH session closed); the record is complete"),
    ExitCode(130, "interrupted by Ctrl-C outside a session (a session's teardown is never "
             "interrupted: it ends with 0)"),
    ExitCode(131, "stopped by SIGQUIT; the record is complete"),
    ExitCode(143, "stopped by SIGTERM; the record is complete"),
)


def exit_code_for(end_reason: str) -> int:
    """The exit code of a session that ended with ``end_reason`` (1 if unknown)."""
    for entry in EXIT_CODES:
        if end_reason in entry.end_reasons:
            return entry.code
    return 1


def exit_codes_text() -> str:
    """The table as plain text (for ``rig --help``)."""
    lines = ["exit codes:"]
    for entry in EXIT_CODES:
        reasons = f" [{', '.join(entry.end_reasons)}]" if entry.end_reasons else ""
        lines.append(f"  {entry.code:<4} {entry.meaning}{reasons}")
    return "\n".join(lines)


def exit_codes_markdown() -> str:
    """The table as Markdown (docs/engine.md)."""
    lines = ["| code | meaning | end reasons |", "| --- | --- | --- |"]
    for entry in EXIT_CODES:
        reasons = ", ".join(f"`{r}`" for r in entry.end_reasons)
        lines.append(f"| {entry.code} | {entry.meaning} | {reasons} |")
    return "\n".join(lines)
