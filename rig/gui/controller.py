"""SessionController: builds a SessionRunner from the set-up choices and runs it in a worker
thread; forwards start/stop/emergency stop. No widgets here (the main window wires it)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PyQt6.QtCore import QObject, pyqtSignal

from rig.gui.bridge import RunnerLike, SessionBridge, SessionWorker
from rig.gui.history import effective_output_dir
from rig.gui.settings import SetupChoices

if TYPE_CHECKING:
    from rig.protocol.load import LoadedProtocol
    from rig.session.status import EndReason

log = logging.getLogger(__name__)

RunnerFactory = Callable[[SetupChoices, "LoadedProtocol", Sequence[Any]], RunnerLike]


def choices_rig(choices: SetupChoices) -> Any:
    """The rig of the choices: the rig file when one is picked (its firmata board and port
    win over the board picker), else a rig with default pins on the picked board."""
    from rig.devices.registry import parse_board_spec, rig_from_board_spec
    from rig.rigfile.load import load_rig

    if choices.rig_path:
        return load_rig(choices.rig_path)
    return rig_from_board_spec(parse_board_spec(choices.board_spec()))


def session_rig(choices: SetupChoices) -> Any:
    """The rig a session of these choices runs on (the pre-flight checks use the same):
    ``choices_rig``, except that a picked mock board wins over the rig file's firmata
    board (practice; the rig's pins, interlock and limits still apply)."""
    import dataclasses

    rig = choices_rig(choices)
    if choices.board == "mock" and rig.config.board.kind.value == "firmata":
        from rig.rigfile.models import BoardKind

        config = rig.config.model_copy(
            update={"board": rig.config.board.model_copy(update={"kind": BoardKind.MOCK})}
        )
        rig = dataclasses.replace(rig, config=config)
    return rig


def make_devices(choices: SetupChoices, loaded: LoadedProtocol, rig: Any = None) -> Any:
    """The (unopened) devices for the choices, from the registry (``SessionDevices``)."""
    from rig.devices.registry import make_rig_session_devices

    rig = rig if rig is not None else choices_rig(choices)
    return make_rig_session_devices(
        choices.source_spec(),
        rig.config,
        loaded.calibration,
        loaded.protocol.tracking.camera_fps,
    )


def make_runner(
    choices: SetupChoices,
    loaded: LoadedProtocol,
    observers: Sequence[Any],
    **runner_options: Any,
) -> RunnerLike:
    """The production factory: devices from the registry, the engine's SessionRunner."""
    from rig.session.logfile import attach_session_log
    from rig.session.runner import SessionRunner

    rig = session_rig(choices)
    devices = make_devices(choices, loaded, rig)
    runner = SessionRunner(
        loaded,
        devices.source,
        devices.board,
        effective_output_dir(Path(choices.output_dir), loaded.protocol.recording.output_dir),
        choices.animal_id,
        experimenter=choices.experimenter,
        notes=choices.notes,
        speed=choices.speed_value() if choices.source_kind != "camera" else 1.0,
        stim_side=None if choices.stim_side == "protocol" else choices.stim_side,
        cohort=_cohort(choices),
        observers=observers,
        media_clock=devices.media_clock,
        simulated=choices.simulated,
        rig=rig,
        **runner_options,
    )
    attach_session_log(runner)
    return runner


def _cohort(choices: Any) -> Any:
    """The cohort file of the set-up (checked), or None."""
    path = getattr(choices, "cohort_path", "")
    if not path:
        return None
    from rig.cohort import load_cohort

    return load_cohort(path)


class SessionController(QObject):
    """Owns the current runner and its worker thread (GUI thread)."""

    started = pyqtSignal(object)  # runner

    def __init__(self, factory: RunnerFactory = make_runner, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._factory = factory
        self.bridge = SessionBridge(self)
        self.runner: RunnerLike | None = None
        self.worker: SessionWorker | None = None
        self.choices: SetupChoices | None = None
        self.loaded: LoadedProtocol | None = None
        self.stop_requested = False

    @property
    def is_running(self) -> bool:
        return self.worker is not None and self.worker.is_alive()

    def start(self, choices: SetupChoices, loaded: LoadedProtocol) -> RunnerLike:
        """Build the runner (validation errors raise here, nothing started) and run it."""
        if self.is_running:
            raise RuntimeError("a session is already running")
        self.bridge.samples.clear()
        runner = self._factory(choices, loaded, [self.bridge])
        self.runner, self.choices, self.loaded = runner, choices, loaded
        self.stop_requested = False
        self.worker = SessionWorker(runner, self.bridge)
        self.worker.start()
        log.info("session started: %s", choices)
        self.started.emit(runner)
        return runner

    def request_stop(self) -> None:
        if self.runner is not None:
            self.stop_requested = True
            self.runner.request_stop()

    def emergency_stop(self, reason: EndReason | None = None) -> None:
        """Close the laser gate now (on this thread), then stop the session; ``reason`` is
        the end reason to record (default: emergency stop)."""
        if self.runner is not None:
            self.stop_requested = True
            if reason is None:
                self.runner.emergency_stop()
            else:
                self.runner.emergency_stop(reason)

    def set_paused(self, paused: bool) -> bool:
        setter = getattr(self.runner, "set_paused", None)
        if setter is None:
            return False
        setter(paused)
        return True

    def set_speed(self, speed: float | None) -> bool:
        setter = getattr(self.runner, "set_speed", None)
        if setter is None:
            return False
        setter(speed)
        return True
