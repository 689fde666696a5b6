"""The session engine: runner, acquisition, control loop, record writer (no Qt here)."""

from rig.session.observer import BaseObserver, SessionObserver
from rig.session.status import EndReason, FrameUpdate, RunnerStatus, RunState

__all__ = [
    "BaseObserver",
    "EndReason",
    "FrameUpdate",
    "RunState",
    "RunnerStatus",
    "SessionObserver",
]
