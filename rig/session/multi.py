"""Several arenas under one camera, each a full session, linked by a run id.

``MultiArenaRunner`` cuts every camera frame into the arenas' image regions
(``rig.devices.regions.SharedFrames``: one read per frame, a view per arena) and runs one
``SessionRunner`` per arena on its own thread. Each arena therefore has its own background
model, tracker, animal, protocol, stimulated side, laser board channel, latency record and
session folder; ``session.json`` names the run id, the arena and its image region, and
``run_<id>.json`` in the output folder lists every arena's session folder and end reason.

Each arena's control loop takes its region's frames straight from the shared camera
reader (no acquisition thread per arena); the GIL switch interval is 0.5 ms while the
arenas run (Python's 5 ms default alone puts 5 ms tails on the last arena's command).

Faults stay in their arena: a board fault, a stall or a safety stop ends that arena's
session (its light off, recorded in its folder) and the others go on. A hung arena loop:
its own supervisor sees no frame completed within ``loop_stall_ms``, closes that arena's
light and stops its heartbeat (its board's watchdog closes the gate too, even if the
host's close were lost), finishes its record after 1 s and closes its camera view; a live
camera never waits for it, so the other arenas go on undisturbed (a simulated source in
lock step waits for it until then). ``emergency_stop`` closes every arena's light at once.
"""

from __future__ import annotations

import datetime as dt
import secrets
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from rig.devices.board import LaserBoard
from rig.devices.frames import FrameSource
from rig.devices.regions import Region, SharedFrames, check_regions
from rig.fileio import write_json_atomic
from rig.session.observer import SessionObserver
from rig.session.runner import SessionRunner
from rig.session.status import EndReason

if TYPE_CHECKING:
    from rig.protocol.load import LoadedProtocol
    from rig.rigfile.load import LoadedRig


#: GIL switch interval while several arenas run (Python's default: 5 ms).
SWITCH_INTERVAL_S = 0.0005


@dataclass(frozen=True)
class ArenaSpec:
    """One arena: its image region, protocol (calibration in region pixels), board
    channel and animal."""

    region: Region
    loaded: LoadedProtocol
    board: LaserBoard
    animal_id: str
    stim_side: str | None = None
    observers: Sequence[SessionObserver] = ()
    #: This arena's view of the rig file (``RigConfig.for_arena``: its channel's pin, its
    #: interlock); None: the runner's ``rig``.
    rig: LoadedRig | None = None


def new_run_id() -> str:
    """``YYYYmmdd-HHMMSS-xxxxxx``: sortable and unique enough to link the folders of a run."""
    return f"{dt.datetime.now().strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}"


class MultiArenaRunner:
    """Run N arenas from one frame source (see the module docstring)."""

    def __init__(
        self,
        source: FrameSource,
        arenas: Sequence[ArenaSpec],
        out_dir: Path,
        *,
        speed: float | None = 1.0,
        simulated: bool = False,
        run_id: str | None = None,
        experimenter: str = "",
        max_lead: int = 8,
        duration_scale: float = 1.0,
        rig: LoadedRig | None = None,
    ) -> None:
        if not arenas:
            raise ValueError("at least one arena")
        animals = [a.animal_id for a in arenas]
        if len(set(animals)) != len(animals):
            raise ValueError(f"each arena needs its own animal, got {', '.join(animals)}")
        boards = [id(a.board) for a in arenas]
        if len(set(boards)) != len(boards):
            raise ValueError("each arena needs its own laser board channel")
        check_regions([a.region for a in arenas], (10**6, 10**6))
        self.run_id = run_id or new_run_id()
        self.out_dir = Path(out_dir)
        self.arenas = list(arenas)
        # The shared reader paces a recorded/synthetic source (each arena's loop takes its
        # frames straight from it); a live camera paces itself.
        self.shared = SharedFrames(
            source, [a.region for a in arenas], max_lead=max_lead,
            speed=None if source.is_live else speed,
        )
        self.runners: list[SessionRunner] = []
        for arena, view in zip(self.arenas, self.shared.views, strict=True):
            r = arena.region
            self.runners.append(
                SessionRunner(
                    arena.loaded,
                    view,
                    arena.board,
                    self.out_dir,
                    arena.animal_id,
                    experimenter=experimenter,
                    notes=f"run {self.run_id}, arena {r.name}",
                    speed=speed,
                    stim_side=arena.stim_side,
                    observers=arena.observers,
                    simulated=simulated,
                    duration_scale=duration_scale,
                    rig=arena.rig if arena.rig is not None else rig,
                    source_info={
                        "kind": "camera_region",
                        "detail": view.name,
                        "run_id": self.run_id,
                        "arena": r.name,
                        "region_px": [r.x_px, r.y_px, r.width_px, r.height_px],
                        # the board channel this arena's light is on (None: a board of its own)
                        "laser_channel": getattr(arena.board, "index", None),
                        "n_arenas": len(self.arenas),
                    },
                )
            )
        self.end_reasons: dict[str, EndReason] = {}
        self._errors: dict[str, BaseException] = {}
        #: Arenas whose hung loop was taken over by their supervisor (record finished).
        self.taken_over: set[str] = set()
        for arena, runner in zip(self.arenas, self.runners, strict=True):
            runner.on_takeover = lambda end, name=arena.region.name: self._on_takeover(name, end)

    def run(self) -> dict[str, EndReason]:
        """Run every arena to its end; returns each arena's end reason."""
        # Several arena loops and the camera reader are runnable at once on every frame;
        # Python's default GIL switch interval (5 ms) alone would put 5 ms tails on the
        # last arena's command, so switch threads every 0.5 ms while the arenas run.
        interval = sys.getswitchinterval()
        sys.setswitchinterval(min(interval, SWITCH_INTERVAL_S))
        try:
            return self._run()
        finally:
            sys.setswitchinterval(interval)

    def _run(self) -> dict[str, EndReason]:
        threads = []
        for arena, runner in zip(self.arenas, self.runners, strict=True):
            # Daemon: a hung arena loop (taken over by its supervisor) must not keep the
            # process alive once every arena's record is finished.
            t = threading.Thread(
                target=self._run_one, args=(arena.region.name, runner),
                name=f"rig-arena-{arena.region.name}", daemon=True,
            )
            threads.append(t)
            t.start()
        try:
            for arena, t in zip(self.arenas, threads, strict=True):
                while t.is_alive() and arena.region.name not in self.taken_over:
                    t.join(0.2)
        except BaseException:
            self.emergency_stop()
            for t in threads:
                t.join(10.0)
            raise
        finally:
            self._write_run_file()
        return dict(self.end_reasons)

    def _run_one(self, name: str, runner: SessionRunner) -> None:
        try:
            self.end_reasons[name] = runner.run()
        except BaseException as err:  # recorded by the runner itself; keep the others going
            self._errors[name] = err
            self.end_reasons[name] = EndReason.ERROR
        finally:
            # An arena that ended (or never opened its view) must not hold the others back.
            index = [a.region.name for a in self.arenas].index(name)
            self.shared.views[index].close()

    def _on_takeover(self, name: str, end: EndReason) -> None:
        """Arena ``name``'s loop hung: its supervisor closed its light and finished its
        record; its view is closed so the camera reader never waits for it, and the run
        no longer waits for its thread."""
        self.end_reasons.setdefault(name, end)
        self.taken_over.add(name)
        index = [a.region.name for a in self.arenas].index(name)
        self.shared.views[index].close()

    def emergency_stop(self) -> None:
        """Close every arena's laser now (any thread)."""
        for runner in self.runners:
            runner.emergency_stop()

    def request_stop(self) -> None:
        for runner in self.runners:
            runner.request_stop()

    def _write_run_file(self) -> None:
        entries = []
        for arena, runner in zip(self.arenas, self.runners, strict=True):
            r = arena.region
            end = self.end_reasons.get(r.name)
            entries.append(
                {
                    "arena": r.name,
                    "region_px": [r.x_px, r.y_px, r.width_px, r.height_px],
                    "animal_id": arena.animal_id,
                    "protocol": arena.loaded.protocol.metadata.name,
                    "board": arena.board.info.port,
                    "session_dir": str(runner.session_dir) if runner.session_dir else None,
                    "end_reason": end.value if end is not None else None,
                }
            )
        # no arena may have got as far as its session folder (a source that did not open)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        write_json_atomic(
            self.out_dir / f"run_{self.run_id}.json",
            {
                "format": "optorig-run",
                "schema_version": 1,
                "run_id": self.run_id,
                "source": self.shared.source.name,
                "frames_read": self.shared.frames_read,
                "arenas": entries,
            },
        )
