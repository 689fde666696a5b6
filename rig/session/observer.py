"""SessionObserver: how the engine reports to the CLI and the GUI (plain callbacks, no Qt).

Callbacks run on the runner's thread; they must return at once. A raising observer is
logged with its traceback and detached; it never affects the laser.
"""

from __future__ import annotations

from typing import Protocol

from rig.session.status import FrameUpdate, RunnerStatus


class SessionObserver(Protocol):
    def on_state(self, status: RunnerStatus) -> None:
        """State or phase changed."""
        ...

    def on_frame(self, update: FrameUpdate) -> None:
        """One frame processed (control thread: must return at once)."""
        ...

    def on_event(self, kind: str, t_s: float, detail: dict[str, object]) -> None:
        """An event was recorded (same kinds as events.csv)."""
        ...

    def on_finished(self, status: RunnerStatus) -> None:
        """The session ended (the laser is already off)."""
        ...


class BaseObserver:
    """No-op implementation of every callback; subclass and override what you need."""

    def on_state(self, status: RunnerStatus) -> None:
        pass

    def on_frame(self, update: FrameUpdate) -> None:
        pass

    def on_event(self, kind: str, t_s: float, detail: dict[str, object]) -> None:
        pass

    def on_finished(self, status: RunnerStatus) -> None:
        pass
