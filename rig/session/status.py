"""Immutable values the runner hands to the CLI and the GUI (safe across threads)."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from rig.zones import ZoneId

if TYPE_CHECKING:
    from rig.tracking.detect import TrackResult


class RunState(enum.Enum):
    IDLE = "idle"
    ARMING = "arming"
    RUNNING = "running"
    STOPPING = "stopping"
    FINISHED = "finished"


class EndReason(enum.Enum):
    COMPLETED = "completed"
    STOPPED_BY_USER = "stopped_by_user"
    EMERGENCY_STOP = "emergency_stop"
    CAMERA_LOST = "camera_lost"
    BOARD_LOST = "board_lost"
    SAFETY_LIMIT = "safety_limit"
    #: A recorded or synthetic source ran out before the protocol's planned end.
    SOURCE_ENDED = "source_ended"
    RECORDER_FAULT = "recorder_fault"
    ERROR = "error"
    #: The operator closed the GUI window mid-session (laser off at once, record completed).
    CLOSED_BY_USER = "closed_by_user"
    #: The control loop completed no frame within ``loop_stall_ms``; a supervisor closed the gate.
    LOOP_STALLED = "loop_stalled"
    #: Watchdog trip, device reset or refused gate-open reported by the board.
    BOARD_FAULT = "board_fault"
    #: The door interlock was open at Start, or tripped with ``on_trip: stop_session``.
    INTERLOCK = "interlock"

    @property
    def is_success(self) -> bool:
        """True for an end the operator intended (completed, stopped, window closed)."""
        return self in (EndReason.COMPLETED, EndReason.STOPPED_BY_USER, EndReason.CLOSED_BY_USER)

    @property
    def is_fault(self) -> bool:
        """True for an end caused by a failure (not by the protocol, the operator or the
        source running out)."""
        return not self.is_success and self is not EndReason.SOURCE_ENDED


@dataclass(frozen=True, slots=True)
class ArmingProgress:
    """How far the tracker background is while arming (for a progress bar).

    The median background samples ``window_s`` of video; when the animal rested meanwhile,
    up to ``max_windows`` windows are sampled (so the total is known only as a bound)."""

    sampled_s: float
    window_s: float
    window: int
    max_windows: int

    @property
    def fraction(self) -> float:
        """Share of the current window sampled (0..1)."""
        return min(1.0, self.sampled_s / self.window_s) if self.window_s > 0 else 1.0


@dataclass(frozen=True, slots=True)
class FrameUpdate:
    """One processed frame, for display (the image is the frame's own array; do not mutate)."""

    frame_index: int
    t_s: float
    image: NDArray[np.uint8]
    track: TrackResult
    x_cm: float | None
    y_cm: float | None
    zone: ZoneId
    phase: str
    phase_index: int
    laser_on: bool
    latency_ms: float
    #: Of ``latency_ms``: time in the tracker, and waiting between capture and processing.
    track_ms: float = 0.0
    wait_ms: float = 0.0


@dataclass(frozen=True, slots=True)
class RunnerStatus:
    """Immutable snapshot of a runner, readable from any thread."""

    state: RunState
    phase: str | None
    phase_index: int
    n_phases: int
    phase_elapsed_s: float
    phase_duration_s: float
    session_elapsed_s: float
    total_duration_s: float
    zone: ZoneId
    laser_on: bool
    stim_side: str
    fps: float
    dropped_frames: int
    latency_p50_ms: float
    latency_p99_ms: float
    board_connected: bool
    frames: int
    session_dir: Path | None
    end_reason: EndReason | None
    fault: str | None
    simulated: bool

    @property
    def time_left_s(self) -> float:
        return max(0.0, self.total_duration_s - self.session_elapsed_s)
