"""SessionRunner: the one engine behind ``rig run``, ``rig replay``, ``rig demo`` and the GUI.

States: IDLE -> ARMING (devices open, record created, tracker background built) ->
RUNNING (phases) -> STOPPING (laser off, threads stopped, record closed) -> FINISHED.

Threads:
- the caller's thread runs ``run()``: it is the control loop (the only one commanding the
  laser gate);
- "rig-acquisition" reads the source into a one-slot hand-over (``acquisition.py``);
- "rig-writer" writes the CSVs (``writer.py``).

- "optorig-session-supervisor" watches the control loop's liveness and acts on stop
  signals (``handle_signal``); it never waits on the loop.

Liveness: the loop marks every completed frame (and every idle wait with the gate closed).
The board's heartbeat is sent only while the last mark is younger than ``loop_stall_ms``
(rig file; default max(150 ms, 4 frame periods)) when the gate may be open, or younger
than the camera timeout when it is closed or the board is simulated on session time
(replay, demo): no light at stake, so a busy computer's hiccup does not end a session. When it is older, the supervisor closes
the gate, records ``loop_stalled`` and ends the session with that end reason; the stopped
heartbeats let the firmware close the gate too. If the loop is still hung a second later,
the supervisor finishes the record itself (``on_takeover`` then lets the CLI exit).

Board faults (watchdog trip, device reset, refused gate-open) are events and end the
session with ``board_fault`` (or, with ``on_board_fault: continue_without_light``, hold the
gate closed for the rest of the session); never a silent re-arm.

Whatever ends the session (end of protocol, stop request, emergency stop, CameraLost,
BoardLost, RecorderFault, a tracker exception, KeyboardInterrupt), the ``finally`` path
turns the laser off first, then stops the threads, closes the record, then the devices;
each step is guarded on its own, and it runs once (whichever thread gets there first). An
``atexit`` hook turns the laser off as a backup.
"""

from __future__ import annotations

import atexit
import collections
import dataclasses
import datetime as dt
import hashlib
import logging
import math
import platform
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from rig import __version__
from rig.calibration import PixelMapper
from rig.clock import Clock, MediaClock, SystemClock
from rig.devices.board import BoardEventKind, LaserBoard, LaserConfig
from rig.devices.frames import Frame, FrameSource
from rig.devices.trigger import TriggerTimeline
from rig.errors import (
    BoardFault,
    BoardLost,
    CameraLost,
    ConfigError,
    InterlockOpen,
    RecorderFault,
    RigError,
    SafetyLimitReached,
)
from rig.policy import PolicyEvent, ZonePolicy
from rig.progress import ProgressFn, no_progress
from rig.session.acquisition import AcquisitionThread, FrameFeed, LatestFrameSlot
from rig.session.latency import LatencyProbe, LatencyTestSettings, sync_output
from rig.session.control import ControlLoop, PhasePlan, TrackerLike, plan_phases
from rig.session.logfile import RECORD_LOGGER, bind_session, session_scope
from rig.session.observer import SessionObserver
from rig.cohort import Cohort
from rig.session.sides import SideChoice, assign_side
from rig.session.status import ArmingProgress, EndReason, FrameUpdate, RunnerStatus, RunState
from rig.session.video import DEFAULT_QUEUE_BYTES
from rig.session.writer import (
    EventRow,
    FrameRow,
    SessionWriter,
    check_output_writable,
    create_session_dir,
    now_iso,
)
from rig.fileio import write_json_atomic
from rig.zones import ZoneId, ZoneMap

from rig.rigfile.models import BoardFaultAction, InterlockAction, RigConfig

if TYPE_CHECKING:
    from rig.protocol.load import LoadedProtocol
    from rig.protocol.models import Stimulation
    from rig.rigfile.load import LoadedRig

log = logging.getLogger(__name__)
#: Lifecycle lines for session.log (``rig.session.logfile``; entry points attach the file).
_record_log = logging.getLogger(RECORD_LOGGER)

#: A median background is accepted when the animal stands out in this share of its samples.
BACKGROUND_MIN_VISIBLE = 0.8
#: How often the loop wakes while waiting for a non-live source (to see a stop or a
#: writer fault); a non-live source has no timeout.
_NON_LIVE_POLL_S = 0.25
#: At most this many sampling windows (of ``tracking.background.duration_s``) before going on.
BACKGROUND_MAX_WINDOWS = 6
#: How often the supervisor looks at the loop and at pending signals.
SUPERVISOR_PERIOD_S = 0.01
#: After a stall, how long the supervisor waits for the loop before finishing the record itself.
STALL_TAKEOVER_S = 1.0
#: Longest single wait for a frame, so the loop stays responsive (pause, board events).
FRAME_POLL_S = 0.05
#: Time given to the board to report an open interlock after configuration.
INTERLOCK_SETTLE_S = 0.3
#: How long teardown waits for the board's echo of the last gate close.
FINAL_ECHO_TIMEOUT_S = 0.5
#: How long teardown waits for the control loop to let go of the gate lock.
GATE_LOCK_TIMEOUT_S = 0.5


def _evenly_spaced(items: list[NDArray[np.uint8]], n: int) -> list[NDArray[np.uint8]]:
    if len(items) <= n:
        return list(items)
    return [items[round(i * (len(items) - 1) / (n - 1))] for i in range(n)] if n > 1 else [items[0]]


TrackerFactory = Callable[["LoadedProtocol", tuple[int, int]], TrackerLike]


def default_tracker_factory(loaded: LoadedProtocol, frame_size: tuple[int, int]) -> TrackerLike:
    """The production tracker: settings from the protocol, mask from the calibration."""
    from rig.tracking.detect import Tracker, TrackerSettings, arena_mask

    mapper = PixelMapper(loaded.calibration)
    settings = TrackerSettings.from_protocol(loaded.protocol.tracking, mapper)
    return Tracker(settings, mask=arena_mask(loaded.calibration, frame_size))


class SessionRunner:
    """Runs one session; see the module docstring. Construct, then call ``run()`` once."""

    def __init__(
        self,
        loaded: LoadedProtocol,
        source: FrameSource,
        board: LaserBoard,
        out_dir: Path,
        animal_id: str,
        *,
        experimenter: str = "",
        notes: str = "",
        speed: float | None = 1.0,
        stim_side: str | None = None,
        clock: Clock | None = None,
        media_clock: MediaClock | None = None,
        observers: Sequence[SessionObserver] = (),
        simulated: bool = False,
        duration_scale: float = 1.0,
        camera_timeout_s: float = 2.0,
        tracker_factory: TrackerFactory | None = None,
        source_info: dict[str, object] | None = None,
        video_queue_bytes: int = DEFAULT_QUEUE_BYTES,
        cohort: Cohort | None = None,
        header_extra: dict[str, object] | None = None,
        latency_test: LatencyTestSettings | None = None,
        progress: ProgressFn | None = None,
        rig: LoadedRig | None = None,
        on_takeover: Callable[[EndReason], None] | None = None,
    ) -> None:
        if not animal_id or not animal_id.strip():
            raise ConfigError("--animal: an animal ID is required")
        if speed is not None and not speed > 0:
            raise ConfigError(f"--speed: must be > 0 or max, got {speed}")
        if not duration_scale > 0:
            raise ConfigError(f"duration scale must be > 0, got {duration_scale}")
        self._loaded = loaded
        self._protocol = loaded.protocol
        self._source = source
        self._board = board
        self._out_dir = Path(out_dir)
        self.animal_id = animal_id.strip()
        self.experimenter = experimenter
        self.notes = notes
        self._speed = speed
        self._clock: Clock = clock or SystemClock()
        # Advanced to each frame's source time (an emulated board may run on it).
        self._media_clock = media_clock
        self._observers: list[SessionObserver] = list(observers)
        self.simulated = simulated
        self.duration_scale = duration_scale
        self.camera_timeout_s = camera_timeout_s
        self._tracker_factory = tracker_factory or default_tracker_factory
        self._source_info = source_info
        self._video_queue_bytes = video_queue_bytes
        # Extra top-level keys for session.json (a re-score's link to its original).
        self._header_extra = dict(header_extra or {})
        self._latency_test = latency_test
        self._latency_probe: LatencyProbe | None = None
        self._latency_roi_in_arena = False
        #: Source time of the first frame read: the media clock counts from it.
        self._media_origin_s: float | None = None
        #: Long set-up steps (opening devices, building the background) report here.
        self._progress: ProgressFn = progress or no_progress

        check_output_writable(self._out_dir)
        self._background_image_path = self._resolve_background_image()
        self.mapper = PixelMapper(loaded.calibration)
        self.zones: ZoneMap = ZoneMap.from_protocol(self._protocol.arena, loaded.calibration)
        self.phases: list[PhasePlan] = plan_phases(self._protocol, duration_scale)
        self.total_duration_s = self.phases[-1].end_s
        self.side: SideChoice = assign_side(
            self._protocol.arena.stimulated,
            self.animal_id,
            out_dir=self._out_dir,
            protocol_name=self._protocol.metadata.name,
            override=stim_side,
            cohort=cohort,
        )

        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._acq_stop = threading.Event()
        self._emergency = threading.Event()
        #: The end reason an emergency stop records (the GUI's window close differs).
        self._emergency_reason = EndReason.EMERGENCY_STOP
        self._arming: ArmingProgress | None = None
        self._arming_window = 1
        self._state = RunState.IDLE
        self._phase_index = -1
        self._session_t_s = 0.0
        self._end_t_s: float | None = None
        self._frames = 0
        self._last_frame_index: int | None = None
        #: Subtracted from source indices in the record (= source index of frames.csv frame
        #: 0 after a pre-roll read; 0 when the background did not consume frames).
        self._first_source_index = 0
        self._preroll_read = False
        self._zone = ZoneId.LOST
        self._laser_on = False
        self._stim_side = self.side.side
        self._dropped = 0
        self._latencies_ms: collections.deque[float] = collections.deque(maxlen=900)
        self._frame_times: collections.deque[float] = collections.deque(maxlen=61)
        self._session_dir: Path | None = None
        self._end_reason: EndReason | None = None
        self._fault: str | None = None
        self._board_connected = False
        self._latest: FrameUpdate | None = None
        self._writer: SessionWriter | None = None
        self._control: ControlLoop | None = None
        self._policy: ZonePolicy | None = None
        self._acquisition: AcquisitionThread | None = None
        self._started_at: str | None = None
        self._header: dict[str, Any] = {}
        # rig file, liveness, signals, teardown
        from rig.rigfile.load import load_default_rig, require_protocol_on_rig

        if rig is None:
            rig = load_default_rig()
        require_protocol_on_rig(rig, loaded)  # e.g. a ramp-down needs a PWM pin
        self._rig = rig
        self._rig_config: RigConfig = rig.config
        self.on_takeover = on_takeover
        self._loop_stall_ns = int(
            self._rig_config.effective_loop_stall_ms(self._protocol.tracking.camera_fps) * 1e6
        )
        #: No frame for this long with the light on: the loop itself closes the gate
        #: (frame_gap) before the supervisor would find it stalled.
        self._frame_gap_ns = self._loop_stall_ns * 2 // 3
        self._last_beat_ns = time.monotonic_ns()
        self._loop_running = False
        self._stalled = False
        self._stalled_at_ns = 0
        self._end_override: EndReason | None = None
        self._supervisor: threading.Thread | None = None
        self._supervisor_stop = threading.Event()
        self._supervisor_wake = threading.Event()
        self._stop_requested_by_signal = False
        self._signal_pending: int | None = None
        self._signal_handled = False
        self._signals_received = 0
        self._teardown_lock = threading.Lock()
        self._teardown_started = False
        self._teardown_done = threading.Event()
        self._pause_request = False
        self._paused = False
        self._start_events: list[Any] = []
        self._board_started = False
        #: The board's camera trigger (rig file ``trigger.source: board``): its edge times,
        #: and the frames matched to it (``_trigger_index``).
        self._trigger_timeline: TriggerTimeline | None = None
        self._trigger_last_index = 0
        self._trigger_frames_received = 0
        self._trigger_id_base: int | None = None
        self._interlock_tripped = False
        self._warnings: list[str] = []
        #: The gate state the board last reported (its echo), for the final record.
        self._board_gate_open = False

    # ------------------------------------------------------------------ public API
    @property
    def status(self) -> RunnerStatus:
        with self._lock:
            latencies = np.fromiter(self._latencies_ms, dtype=np.float64)
            times = list(self._frame_times)
            phase = self.phases[self._phase_index] if self._phase_index >= 0 else None
            state = self._state
            session_t_s = self._session_t_s
            p50 = float(np.percentile(latencies, 50)) if latencies.size else math.nan
            p99 = float(np.percentile(latencies, 99)) if latencies.size else math.nan
            fps = (len(times) - 1) / (times[-1] - times[0]) if len(times) > 2 and times[-1] > times[0] else 0.0
            return RunnerStatus(
                state=state,
                phase=phase.name if phase else None,
                phase_index=self._phase_index,
                n_phases=len(self.phases),
                phase_elapsed_s=max(0.0, session_t_s - phase.start_s) if phase else 0.0,
                phase_duration_s=phase.duration_s if phase else 0.0,
                session_elapsed_s=session_t_s,
                total_duration_s=self.total_duration_s,
                zone=self._zone,
                laser_on=self._laser_on,
                stim_side=self._stim_side,
                fps=fps,
                dropped_frames=self._dropped,
                latency_p50_ms=p50,
                latency_p99_ms=p99,
                board_connected=self._board_connected,
                frames=self._frames,
                session_dir=self._session_dir,
                end_reason=self._end_reason,
                fault=self._fault,
                simulated=self.simulated,
            )

    @property
    def session_dir(self) -> Path | None:
        return self._session_dir

    @property
    def state(self) -> RunState:
        return self._state

    def latest_update(self) -> FrameUpdate | None:
        """The newest processed frame (the GUI pulls it on a timer)."""
        return self._latest

    def request_stop(self) -> None:
        """Thread-safe: end after the current frame (EndReason.STOPPED_BY_USER)."""
        self._stop.set()

    @property
    def arming_progress(self) -> ArmingProgress | None:
        """How far the background sampling is while arming (None before and after)."""
        return self._arming

    def emergency_stop(self, reason: EndReason = EndReason.EMERGENCY_STOP) -> None:
        """Thread-safe: laser off at once on the caller's thread, then stop. ``reason`` is
        recorded as the end reason (``CLOSED_BY_USER`` when the GUI window was closed)."""
        self._emergency_reason = reason
        self._emergency.set()
        control = self._control
        if control is not None:
            control.emergency_off()
        else:
            self._board.laser_off()
        self._stop.set()

    def add_observer(self, observer: SessionObserver) -> None:
        self._observers.append(observer)

    def handle_signal(self, signum: int) -> None:
        """Async-signal safe: note the signal; the supervisor closes the gate and stops.

        Never raises, so a signal can never interrupt the teardown; later signals are
        only counted.
        """
        if threading.current_thread() is threading.main_thread():
            # The Python-level handler: only plain assignments here (a handler may
            # interrupt this very thread inside a lock).
            self._signals_received += 1
            if self._signal_pending is None:
                self._signal_pending = signum
            self._stop_requested_by_signal = True
            return
        # Another thread (rig.cli.signals' watcher): wake the supervisor now.
        if self._signal_pending is None:
            self._signal_pending = signum
        self._stop.set()
        self._supervisor_wake.set()

    @property
    def signals_received(self) -> int:
        return self._signals_received

    def loop_alive(self) -> bool:
        """True while the board may send heartbeats: before the loop runs, or while it has
        completed a frame within ``loop_stall_ms`` (called from the board's heartbeat thread)."""
        if self._stalled:
            return False
        if not self._loop_running:
            return True
        return time.monotonic_ns() - self._last_beat_ns <= self._stall_limit_ns()

    def _stall_limit_ns(self) -> int:
        """``loop_stall_ms`` while the gate may be open; while it is closed (no light at
        stake) the loop may be silent up to the camera timeout before the session ends."""
        control = self._control
        if self._media_clock is None and (control is None or control.gate_open):
            return self._loop_stall_ns
        # Gate closed, or a simulated board on session time (replay, demo): no light at
        # stake, and a busy computer's hiccup must not change a re-score.
        return max(self._loop_stall_ns, int(self.camera_timeout_s * 1e9))

    @property
    def loop_stall_ms(self) -> float:
        return self._loop_stall_ns / 1e6

    @property
    def paused(self) -> bool:
        return self._pause_request

    def set_paused(self, paused: bool) -> None:
        """Pause: the gate closes at once (any source), the loop records ``paused`` and
        ``resumed``; a simulated (non-live) source also stops delivering frames."""
        self._pause_request = paused
        control = self._control
        if paused and control is not None:
            try:
                control.hold("pause")
            except Exception:  # noqa: BLE001 - laser_off never raises; keep pausing
                log.exception("closing the gate for the pause failed")
        acquisition = self._acquisition
        if acquisition is not None and not self._source.is_live:
            acquisition.set_paused(paused)

    def set_speed(self, speed: float | None) -> None:
        """Change the pacing of a non-live source (None = as fast as possible)."""
        self._speed = speed
        acquisition = self._acquisition
        if acquisition is not None:
            acquisition.set_speed(speed)

    # ------------------------------------------------------------------ run
    def run(self) -> EndReason:
        """Run the whole session (blocking). Returns why it ended; re-raises KeyboardInterrupt
        after the teardown."""
        with session_scope(self):  # this thread's log records belong to this session's log
            return self._run()

    def _run(self) -> EndReason:
        if self._state is not RunState.IDLE:
            raise RuntimeError("a SessionRunner runs once; make a new one")
        self._set_state(RunState.ARMING)
        atexit.register(self._board.laser_off)
        set_liveness = getattr(self._board, "set_liveness", None)
        if callable(set_liveness):
            set_liveness(self.loop_alive)
        self._supervisor = threading.Thread(
            target=self._supervise, name="optorig-session-supervisor", daemon=True
        )
        self._supervisor.start()
        end = EndReason.ERROR
        interrupt: BaseException | None = None
        try:
            end = self._run_inner()
        except KeyboardInterrupt as err:
            end, interrupt = EndReason.STOPPED_BY_USER, err
            self._fault = "interrupted (KeyboardInterrupt)"
        except CameraLost as err:
            end = self._record_fault(EndReason.CAMERA_LOST, err)
        except BoardFault as err:
            end = self._record_fault(EndReason.BOARD_FAULT, err)
        except BoardLost as err:
            end = self._record_fault(EndReason.BOARD_LOST, err)
        except InterlockOpen as err:
            end = self._record_fault(EndReason.INTERLOCK, err)
        except RecorderFault as err:
            end = self._record_fault(EndReason.RECORDER_FAULT, err)
        except SafetyLimitReached as err:
            end = self._record_fault(EndReason.SAFETY_LIMIT, err)
        except RigError as err:
            end = self._record_fault(EndReason.ERROR, err)
        except Exception as err:
            if self._end_override is None:
                log.exception("session error")
                end = self._record_fault(EndReason.ERROR, err)
        finally:
            self._loop_running = False
            if self._end_override is not None:
                end = self._end_override
            self._teardown_once(end)
        if interrupt is not None:
            raise interrupt
        return self._end_reason or end

    def _teardown_once(self, end: EndReason) -> None:
        """Run the teardown exactly once, whichever thread gets here first; others wait."""
        with self._teardown_lock:
            first = not self._teardown_started
            self._teardown_started = True
        if not first:
            self._teardown_done.wait(timeout=30.0)
            return
        try:
            self._teardown(end)
        finally:
            self._supervisor_stop.set()
            self._teardown_done.set()

    # ------------------------------------------------------------------ supervisor
    def _supervise(self) -> None:
        """Liveness and signals, off the control loop (it may be the thing that hangs)."""
        bind_session(self)
        while not self._supervisor_stop.is_set():
            self._supervisor_wake.wait(SUPERVISOR_PERIOD_S)
            self._supervisor_wake.clear()
            if self._supervisor_stop.is_set():
                return
            try:
                if self._stop_requested_by_signal:
                    self._stop.set()
                if self._signal_pending is not None and not self._signal_handled:
                    self._signal_handled = True
                    self._on_stop_signal(self._signal_pending)
                if self._loop_running and not self._stalled:
                    silent_ns = time.monotonic_ns() - self._last_beat_ns
                    if silent_ns > self._stall_limit_ns():
                        self._on_stall(silent_ns)
                if (
                    self._stalled
                    and not self._teardown_started
                    and time.monotonic_ns() - self._stalled_at_ns > STALL_TAKEOVER_S * 1e9
                ):
                    log.error("control loop still hung; the supervisor finishes the record")
                    self._teardown_once(EndReason.LOOP_STALLED)
                    if self.on_takeover is not None:
                        self.on_takeover(EndReason.LOOP_STALLED)
                    return
            except Exception:  # noqa: BLE001 - the supervisor must outlive any bug
                log.exception("session supervisor error")

    def _close_gate_from_supervisor(self, hold: str) -> None:
        control = self._control
        if control is None:
            self._board.laser_off()
            return
        # The loop may be hung holding the gate lock: do not wait for it for long.
        locked = control.gate_lock.acquire(timeout=GATE_LOCK_TIMEOUT_S)
        try:
            control.holds.add(hold)
            control.emergency = True
            self._board.laser_off()
            control.gate_open = False
        finally:
            if locked:
                control.gate_lock.release()
        with self._lock:
            self._laser_on = False

    def _on_stop_signal(self, signum: int) -> None:
        try:
            name = signal.Signals(signum).name
        except ValueError:
            name = str(signum)
        self._close_gate_from_supervisor("signal")
        self._lifecycle("%s received: light off, stopping", name)
        if self._writer is not None:
            self._event("stop_signal", {"signal": name})

    def _on_stall(self, silent_ns: int) -> None:
        self._stalled = True  # the board's heartbeat stops from here on
        self._stalled_at_ns = time.monotonic_ns()
        self._end_override = EndReason.LOOP_STALLED
        self._close_gate_from_supervisor("loop_stalled")
        silent_ms = silent_ns / 1e6
        self._fault = (
            f"control loop stalled: no frame completed for {silent_ms:.0f} ms "
            f"(loop_stall_ms {self.loop_stall_ms:g}); light off"
        )
        log.error("%s", self._fault)
        self._event(
            "loop_stalled",
            {"silent_ms": round(silent_ms, 1), "loop_stall_ms": self.loop_stall_ms},
        )
        self._stop.set()

    def _beat(self) -> None:
        self._last_beat_ns = time.monotonic_ns()

    def _record_fault(self, reason: EndReason, err: BaseException) -> EndReason:
        if self._teardown_started:
            # The supervisor already ended a hung session; what the loop hits on its way
            # out (a closed writer) is a consequence, not the cause.
            log.debug("after the supervisor's teardown: %s", err)
            return reason
        self._fault = f"{type(err).__name__}: {err}"
        if reason is not EndReason.ERROR:
            # The record gets it as an error; the console only with -v (the CLI prints the
            # end reason once itself, the GUI shows it in its fault banner).
            log.info("session ended: %s", self._fault)
        return reason

    def _run_inner(self) -> EndReason:
        protocol = self._protocol
        # The source first: a video that cannot be opened, or frames of the wrong size,
        # must not cost a board reset (an Arduino resets when its port opens).
        step = f"opening the frame source {self._source.name}"
        self._progress(step, 0, 1)
        self._source.open()
        self._progress(step, 1, 1)
        _refuse_automatic_exposure(self._source)
        frame_size = tuple(self._source.frame_size)
        camera = self._loaded.calibration.camera
        if frame_size != (camera.width_px, camera.height_px):
            raise ConfigError(
                f"{self._loaded.calibration_path}: camera: calibrated for "
                f"{camera.width_px}x{camera.height_px} px but the source {self._source.name} "
                f"delivers {frame_size[0]}x{frame_size[1]} px"
            )
        step = f"opening the laser board ({self._board.info.kind})"
        self._progress(step, 0, 1)
        self._board.open()
        self._board_connected = True
        self._progress(step, 1, 1)
        stimulation = protocol.stimulation
        self._base_config = self._laser_config(stimulation)
        self._board.configure(self._base_config)
        if self._latency_test is not None:
            sync_output(self._board)  # refuses a board without the SYNC command, early
            try:
                self._latency_test.check_frame_size(int(frame_size[0]), int(frame_size[1]))
            except ValueError as err:
                raise ConfigError(f"latency test: {err}") from None
            self._latency_roi_in_arena = _roi_in_arena(
                self._latency_test.led_roi, self._loaded.calibration, (int(frame_size[0]), int(frame_size[1]))
            )
        if self._rig_config.sync.enabled:
            configure_sync = getattr(self._board, "configure_sync", None)
            if callable(configure_sync):
                sync = self._rig_config.sync
                configure_sync(True, sync_pin=sync.pin, led_pin=sync.led_pin)
        self._check_firmware()
        self._check_interlock_at_start()
        self._start_trigger()
        self._create_record()
        self._event(
            "session_start",
            {"animal": self.animal_id, "stim_side": self.side.side, "rule": self.side.rule},
        )
        for warning in self._warnings:
            self._event("warning", {"message": warning})
        self._record_board_events(self._start_events)
        self._board_started = True
        tracker = self._tracker_factory(self._loaded, (int(frame_size[0]), int(frame_size[1])))
        if not self._arm(tracker):
            return self._emergency_reason if self._emergency.is_set() else EndReason.STOPPED_BY_USER
        stimulated_zones = protocol.arena.stimulated_zones
        self._policy = ZonePolicy(
            protocol.decision,
            protocol.safety,
            self.side.side,
            None if stimulated_zones is None else frozenset(stimulated_zones),
        )
        zone_configs = {
            ZoneId(name): self._laser_config(stimulation.for_zone(name))
            for name in stimulation.zones
        }
        self._control = ControlLoop(
            tracker, self.mapper, self.zones, self._policy, self._board, protocol.safety,
            zone_configs, self._base_config,
        )
        if self._interlock_tripped:
            self._control.hold("interlock")
        if self._pause_request:
            self._control.hold("pause")
        if self._signal_pending is not None:
            self._control.hold("signal")
        if self._emergency.is_set():
            self._control.emergency_off()
        if self._latency_test is not None:
            # Flashes start after the background is built, so none is sampled into it.
            self._latency_probe = LatencyProbe(self._latency_test)
            sync_output(self._board).configure_sync(True, **self._latency_test.sync_kwargs())
            if self._latency_roi_in_arena:
                # The animal can cover or shade the box, and the LED lights the floor.
                log.warning(
                    "latency test: the LED box %s overlaps the arena; put the LED outside it",
                    list(self._latency_test.led_roi),
                )
                self._event("latency_test_warning", {"led_roi_in_arena": True})
            self._event(
                "latency_test_start",
                {
                    "led_roi": list(self._latency_test.led_roi),
                    # media: frame and flash times on the simulation's clock (exact);
                    # host: frames stamped on arrival, flashes mapped from the board's clock
                    "clock": "media" if self._media_clock is not None else "host",
                },
            )
        return self._loop()

    def _start_trigger(self) -> None:
        """Start the board's camera trigger (the camera was armed for it when the source
        opened): every frame from now on is exposed on one of its edges."""
        config = self._rig_config.trigger_config()
        if config is None:
            return
        configure_trigger = getattr(self._board, "configure_trigger", None)
        if not callable(configure_trigger):
            raise ConfigError(
                f"rig file: trigger.source board: the {self._board.info.kind} board cannot "
                "generate a camera trigger (needs the optorig firmware or the mock board)"
            )
        self._trigger_timeline = TriggerTimeline(config.period_us)
        configure_trigger(config)

    def _stop_trigger(self) -> None:
        """Stop the trigger and wait (bounded) for the board's final count."""
        timeline = self._trigger_timeline
        if timeline is None or timeline.final_count is not None or not self._board_connected:
            return
        try:
            getattr(self._board, "configure_trigger")(None)
        except RigError as err:
            log.warning("stopping the camera trigger failed: %s", err)
            return
        deadline = time.monotonic() + FINAL_ECHO_TIMEOUT_S
        while timeline.final_count is None and time.monotonic() < deadline:
            try:
                self._poll_board()
            except RigError:
                return
            time.sleep(0.005)

    def _trigger_index(self, frame: Frame) -> int | None:
        """The board trigger that exposed ``frame`` (from 1): the n-th frame the camera
        delivers belongs to the n-th trigger; with the camera's frame counter, counted from
        the first frame's, so a frame the camera missed leaves a gap. A source whose frame ID
        is the trigger count (the simulated triggered camera) gives it directly."""
        if self._trigger_timeline is None:
            return None
        if frame.cam_frame_id is None:
            index = frame.index + 1
        elif getattr(self._source, "frame_id_is_trigger_count", False):
            index = frame.cam_frame_id
        else:
            if self._trigger_id_base is None:
                self._trigger_id_base = frame.cam_frame_id - frame.index
            index = frame.cam_frame_id - self._trigger_id_base + 1
        self._trigger_frames_received = frame.index + 1
        self._trigger_last_index = max(self._trigger_last_index, index)
        return index

    def _trigger_board_t_s(self, index: int | None) -> float | None:
        timeline = self._trigger_timeline
        if timeline is None or index is None:
            return None
        edge_us = timeline.edge_us(index)
        if edge_us is None:
            self._poll_board()  # the first report may still be on its way
            edge_us = timeline.edge_us(index)
        return None if edge_us is None else edge_us / 1e6

    def _trigger_report(self) -> dict[str, object] | None:
        """session.json ``trigger``: what the board sent and the camera delivered."""
        timeline = self._trigger_timeline
        config = self._rig_config.trigger_config()
        if timeline is None or config is None:
            return None
        received = self._trigger_frames_received
        last = self._trigger_last_index
        return {
            "source": "board",
            "pin": config.pin,
            "fps": config.fps,
            "period_us": config.period_us,
            "width_ms": config.width_ms,
            "report_every": config.reports_every,
            "triggers_sent": timeline.sent,
            "frames_received": received,
            # triggers up to the last frame received that no frame came for
            "triggers_missed": max(0, last - received),
            # triggers after the last frame (in flight when the session stopped)
            "triggers_after_last_frame": max(0, timeline.sent - last),
            # frames numbered past the board's last trigger (a free-running or noise-triggered
            # camera): they have no board time; counted, never given one
            "frames_beyond_last_trigger": max(0, last - timeline.sent),
            "final_count_confirmed": timeline.final_count is not None,
        }

    def _laser_config(self, stimulation: Stimulation) -> LaserConfig:
        """The protocol's light on this rig: the ramp-down only where a PWM pin carries it
        (``require_protocol_on_rig`` refused the rest), the rig's polarity and watchdog."""
        fields: dict[str, Any] = {
            "mode": stimulation.mode,
            "frequency_hz": stimulation.frequency_hz,
            "pulse_width_ms": stimulation.pulse_width_ms,
            "ramp_down_ms": stimulation.ramp_down_ms if self._rig_config.has_pwm else 0.0,
            "max_on_s": self._protocol.safety.max_continuous_on_s,
            "watchdog_timeout_ms": self._rig_config.heartbeat_timeout_ms,
        }
        if self._rig_config.active_low:
            if "active_low" not in {f.name for f in dataclasses.fields(LaserConfig)}:
                raise ConfigError(
                    "laser.polarity: active_low needs firmware protocol 2 (optorig 1.1), "
                    "which this build of optorig cannot drive yet"
                )
            fields["active_low"] = True
        return LaserConfig(**fields)

    def _check_firmware(self) -> None:
        """A host-timed board (StandardFirmata) is a warning everywhere it is shown."""
        info = self._board.info
        if not info.device_timed:
            self._warnings.append(
                f"{info.port} runs {info.firmware_name} {info.firmware_version}, not the optorig "
                "firmware: pulses are timed by this computer and there is NO board watchdog "
                "(allowed by the rig file: board.allow_host_timed_pulses)"
            )
            log.warning("%s", self._warnings[-1])

    def _check_interlock_at_start(self) -> None:
        """Collect the board's first reports; a required interlock that is open refuses Start."""
        interlock = self._rig_config.interlock
        deadline = time.monotonic() + (INTERLOCK_SETTLE_S if interlock is not None else 0.0)
        while True:
            for event in self._board.events():
                self._start_events.append(event)
                if event.kind is BoardEventKind.INTERLOCK:
                    self._interlock_tripped = event.detail != "cleared"
            if time.monotonic() >= deadline:
                break
            time.sleep(0.02)
        if interlock is None or not self._interlock_tripped:
            return
        if interlock.required:
            raise InterlockOpen(
                f"the door interlock (pin {interlock.pin}) is open: close it, then Start again "
                "(interlock.required is true in the rig file)"
            )
        self._warnings.append(
            f"the door interlock (pin {interlock.pin}) was open at Start; no light until it closes"
        )

    # ------------------------------------------------------------------ record
    def _create_record(self) -> None:
        """Create the session folder and its first files. A full disk or an unwritable
        folder here is a RecorderFault (exit 5), not an unexplained error."""
        try:
            self._create_record_files()
        except OSError as err:
            raise RecorderFault(f"cannot create the session record: {err}") from err

    def _create_record_files(self) -> None:
        loaded = self._loaded
        protocol = self._protocol
        now = dt.datetime.now().astimezone()
        fields = {
            "date": now.strftime("%Y-%m-%d"),
            "time": now.strftime("%H-%M-%S"),
            "animal": self.animal_id,
            "protocol": protocol.metadata.name,
        }
        session_dir = create_session_dir(self._out_dir, protocol.recording.output_dir, fields)
        with self._lock:
            self._session_dir = session_dir
        (session_dir / "protocol.yaml").write_bytes(loaded.raw)
        (session_dir / "calibration.yaml").write_bytes(loaded.calibration_raw)
        if loaded.power_calibration_raw is not None:
            # The bytes validated at load time, not the file as it is now.
            (session_dir / "power_calibration.yaml").write_bytes(loaded.power_calibration_raw)
        if self._rig is not None:
            (session_dir / "rig.yaml").write_bytes(self._rig.raw)
        self._started_at = now.isoformat(timespec="milliseconds")
        self._header = self._session_header()
        write_json_atomic(session_dir / "session.json", self._header)
        self._writer = SessionWriter(
            session_dir,
            block_when_full=self._speed is None and not self._source.is_live,
            save_video=protocol.recording.save_video,
            codec=protocol.recording.codec,
            fps=float(self._source.fps),
            video_queue_bytes=self._video_queue_bytes,
        )
        self._writer.start()
        self._lifecycle(
            "session %s: animal %s, protocol %s (%s), stimulated side %s (%s)",
            session_dir.name,
            self.animal_id,
            protocol.metadata.name,
            loaded.sha256[:12],
            self.side.side,
            self.side.rule,
        )

    def _session_header(self) -> dict[str, Any]:
        import cv2

        loaded = self._loaded
        board_info = self._board.info
        source_info = dict(self._source_info or {})
        source_info.setdefault("kind", self._source.kind.value)
        source_info.setdefault("detail", self._source.name)
        source_info.setdefault("fps", float(self._source.fps))
        source_info.setdefault("speed", "max" if self._speed is None else self._speed)
        camera = _camera_report(self._source)
        if camera is not None:
            # What the camera runs at, read back after the settings were applied.
            source_info["camera"] = camera
        return {
            "format": "optorig-session",
            "schema_version": 1,
            "protocol": {
                "name": self._protocol.metadata.name,
                "version": self._protocol.metadata.version,
                "file": "protocol.yaml",
                "sha256": loaded.sha256,
                "source_path": str(loaded.path),
            },
            "calibration": {
                "file": "calibration.yaml",
                "sha256": hashlib.sha256(loaded.calibration_raw).hexdigest(),
                "name": loaded.calibration.name,
                "source_path": str(loaded.calibration_path),
            },
            "power_calibration": (
                None
                if loaded.power_calibration_raw is None or loaded.power_calibration is None
                else {
                    "file": "power_calibration.yaml",
                    "sha256": hashlib.sha256(loaded.power_calibration_raw).hexdigest(),
                    "laser": loaded.power_calibration.laser,
                    "measured_on": loaded.power_calibration.measured_on.isoformat(),
                    "source_path": str(loaded.power_calibration_path),
                }
            ),
            "animal_id": self.animal_id,
            "experimenter": self.experimenter,
            "notes": self.notes,
            "stimulated_side": self.side.side,
            "side_rule": self.side.rule,
            "side_seed": self.side.seed,
            "side_detail": self.side.detail,
            "cohort": self.side.cohort,
            "protocol_conversion": list(getattr(loaded, "conversion", ())),
            "source": source_info,
            "board": {
                "kind": board_info.kind,
                "port": board_info.port,
                "firmware_name": board_info.firmware_name,
                "firmware_version": board_info.firmware_version,
                "build_hash": board_info.build_hash,
                "device_timed": board_info.device_timed,
            },
            "rig": self._rig_header(),
            "warnings": list(self._warnings),
            "simulated": self.simulated,
            "latency_test": (
                None if self._latency_test is None else self._latency_test.model_dump(mode="json")
            ),
            "duration_scale": self.duration_scale,
            "phases": [
                {"name": p.name, "mode": p.phase.mode, "start_s": p.start_s, "end_s": p.end_s}
                for p in self.phases
            ],
            "software": {
                "optorig": __version__,
                "python": platform.python_version(),
                "numpy": np.__version__,
                "opencv": cv2.__version__,
            },
            "host": socket.gethostname(),
            "platform": platform.platform(),
            "argv": list(sys.argv),
            "started_at": self._started_at,
            "ended_at": None,
            "end_reason": None,
            **self._header_extra,
        }

    def _rig_header(self) -> dict[str, Any]:
        config = self._rig_config
        rig = self._rig
        return {
            "file": "rig.yaml" if rig is not None else None,
            "sha256": rig.sha256 if rig is not None else None,
            "source_path": None if rig is None or rig.embedded else str(rig.path),
            "embedded": rig.embedded if rig is not None else None,
            "name": config.name,
            "laser_pin": config.laser.pin,
            "polarity": config.laser.polarity.value,
            "pwm_pin": config.laser.pwm_pin,
            "interlock": None
            if config.interlock is None
            else {
                "pin": config.interlock.pin,
                "required": config.interlock.required,
                "on_trip": config.interlock.on_trip.value,
            },
            "loop_stall_ms": self.loop_stall_ms,
            "heartbeat_timeout_ms": config.heartbeat_timeout_ms,
            "on_board_fault": config.on_board_fault.value,
            "allow_host_timed_pulses": config.board.allow_host_timed_pulses,
        }

    def _lifecycle(self, message: str, *args: object) -> None:
        log.info(message, *args)
        _record_log.info(message, *args)

    # ------------------------------------------------------------------ arming
    def _resolve_background_image(self) -> Path | None:
        background = self._protocol.tracking.background
        if background.source != "image" or not background.image:
            return None
        path = Path(background.image)
        if not path.is_absolute():
            path = Path(self._loaded.path).parent / path
        if not path.is_file():
            raise ConfigError(
                f"{self._loaded.path}: tracking.background.image: file not found: {path}"
            )
        return path

    def _arm(self, tracker: TrackerLike) -> bool:
        """Build the tracker background. False if a stop was requested meanwhile."""
        from rig.tracking.background import median_background

        background = self._protocol.tracking.background
        images: list[NDArray[np.uint8]] = []
        if background.source == "image":
            import cv2

            assert self._background_image_path is not None
            image = cv2.imread(str(self._background_image_path), cv2.IMREAD_GRAYSCALE)
            if image is None:
                raise ConfigError(
                    f"{self._background_image_path}: tracking.background.image: cannot read image"
                )
            if (image.shape[1], image.shape[0]) != tuple(self._source.frame_size):
                raise ConfigError(
                    f"{self._background_image_path}: tracking.background.image: size "
                    f"{image.shape[1]}x{image.shape[0]} differs from the source's frames"
                )
            tracker.set_background(np.asarray(image, dtype=np.uint8))
            self._lifecycle("background: image %s", self._background_image_path)
            return True
        sample = getattr(self._source, "sample_frames", None)
        if background.source == "median" and callable(sample):
            label = f"background: median of {background.n_frames} frames sampled over the file"
            images = list(sample(background.n_frames, progress=self._progress, step=label))
            self._lifecycle("background: median of %d frames sampled over the file", len(images))
        else:
            fps = float(self._source.fps) or 30.0
            step = max(1, int(background.duration_s * fps) // background.n_frames)
            if not self._read_background_window(images, background.duration_s, step):
                return False
            self._lifecycle(
                "background: median of %d frames over the first %.1f s (%s)",
                len(images),
                background.duration_s,
                background.source,
            )
            if background.source == "median" and images:
                accepted = self._extend_until_animal_moved(images, background.duration_s, step)
                if accepted is None:
                    return False
                tracker.set_background(accepted)  # already computed for the check
                return not self._stop.is_set()
            images[:] = _evenly_spaced(images, background.n_frames)
        if not images:
            raise CameraLost(f"{self._source.name}: no frames to build the background from")
        tracker.set_background(median_background(images))
        return not self._stop.is_set()

    def _read_background_window(
        self, images: list[NDArray[np.uint8]], duration_s: float, step: int
    ) -> bool:
        """Read ``duration_s`` worth of frames (at the source's fps), keeping every
        ``step``-th. False when a stop was requested."""
        n_read = max(1, int(math.ceil(duration_s * (float(self._source.fps) or 30.0))))
        first_t: float | None = None
        label = f"background: reading {duration_s:g} s of frames"
        self._preroll_read = True
        self._progress(label, 0, n_read, "frames")
        for i in range(n_read):
            if self._stop.is_set():
                return False
            frame = self._source.read()
            if frame is None:
                break
            if first_t is None:
                first_t = frame.t_s
            self._advance_media(frame.t_s)
            # One small immutable object per frame: the GUI's arming progress bar reads it.
            self._arming = ArmingProgress(
                frame.t_s - first_t, duration_s, self._arming_window, BACKGROUND_MAX_WINDOWS
            )
            if frame.t_s - first_t > duration_s:
                break
            if i % step == 0:
                images.append(frame.image.copy())
            if i % 15 == 0:
                self._progress(label, i, n_read, "frames")
        self._progress(label, n_read, n_read, "frames")
        return True

    def _extend_until_animal_moved(
        self, images: list[NDArray[np.uint8]], window_s: float, step: int
    ) -> NDArray[np.uint8] | None:
        """A median background hides an animal that sat still while it was sampled. While
        the animal stands out in fewer than ``BACKGROUND_MIN_VISIBLE`` of the sampled frames,
        sample another window (up to ``BACKGROUND_MAX_WINDOWS`` in all) and take the median
        of samples spread over the whole span. Recorded as events. Returns the accepted
        median (``images`` then holds its samples), or None when a stop was requested."""
        from rig.tracking.background import animal_visible_fraction, median_background
        from rig.tracking.detect import AUTO_THRESHOLD_FLOOR

        n_frames = self._protocol.tracking.background.n_frames
        tracking = self._protocol.tracking
        # "auto": the tracker's own floor (Otsu never goes below it on a real animal).
        threshold = (
            tracking.threshold if isinstance(tracking.threshold, int) else AUTO_THRESHOLD_FLOOR
        )
        min_area_px = self.mapper.area_cm2_to_px(tracking.min_area_cm2)
        windows = 1
        while True:
            spread = _evenly_spaced(images, n_frames)
            background = median_background(spread)
            visible = animal_visible_fraction(
                spread,
                background,
                animal_dark=tracking.animal == "dark",
                threshold=threshold,
                min_area_px=min_area_px,
            )
            if visible >= BACKGROUND_MIN_VISIBLE:
                images[:] = spread
                return background
            if windows >= BACKGROUND_MAX_WINDOWS:
                log.warning(
                    "background: the animal stood out in only %.0f%% of the sampled frames "
                    "after %.0f s; tracking may miss it where it rested",
                    100 * visible,
                    windows * window_s,
                )
                self._event(
                    "background_warning",
                    {"visible_fraction": round(visible, 3), "sampled_s": windows * window_s},
                )
                images[:] = spread
                return background
            self._lifecycle(
                "background: the animal stood out in only %.0f%% of the sampled frames "
                "(it rested); sampling another %.1f s",
                100 * visible,
                window_s,
            )
            self._event(
                "background_extended",
                {"visible_fraction": round(visible, 3), "sampled_s": windows * window_s},
            )
            windows += 1
            self._arming_window = windows
            # Bounded memory: thin the older samples before reading the next window.
            images[:] = _evenly_spaced(images, 2 * n_frames)
            if not self._read_background_window(images, window_s, step):
                return None

    # ------------------------------------------------------------------ loop
    def _loop(self) -> EndReason:
        assert self._control is not None and self._policy is not None and self._writer is not None
        control, policy, writer = self._control, self._policy, self._writer
        slot: FrameFeed
        direct_feed = getattr(self._source, "direct_feed", None)
        if callable(direct_feed):
            # A region of a shared camera (several arenas): this loop takes its frames
            # straight from the shared reader; no acquisition thread in between.
            slot = direct_feed()
        else:
            slot = LatestFrameSlot()
            self._acquisition = AcquisitionThread(
                self._source, slot, self._clock, speed=self._speed, stop=self._acq_stop
            )
            self._acquisition.start()
        self._arming = None
        self._set_state(RunState.RUNNING)
        t0_s: float | None = None
        live = bool(self._source.is_live)
        reported_dropped = 0
        observers_frame = bool(self._observers)
        self._beat()
        self._loop_running = True
        waited_s = 0.0
        while True:
            if self._emergency.is_set():
                return self._emergency_reason
            if self._stop.is_set():
                return self._end_override or EndReason.STOPPED_BY_USER
            self._apply_pause(policy)
            wait_started = time.monotonic()
            # The camera timeout is a wall-time bound for live cameras only: a recorded or
            # synthetic source on a busy machine is slow, not lost (it never drops frames).
            # Waits are short so the loop stays responsive (pause, board reports).
            timeout_s = min(FRAME_POLL_S, self.camera_timeout_s if live else _NON_LIVE_POLL_S)
            light_on_wall_clock = control.gate_open and self._media_clock is None
            if light_on_wall_clock:
                # Light on and no frame: do not wait past 2/3 of the stall limit for one.
                gap_deadline_ns = self._last_beat_ns + self._frame_gap_ns
                timeout_s = min(timeout_s, max(0.001, (gap_deadline_ns - time.monotonic_ns()) / 1e9))
            frame = slot.take(timeout_s)
            if frame is None:
                if light_on_wall_clock and time.monotonic_ns() - self._last_beat_ns >= self._frame_gap_ns:
                    # The loop is alive but starved with the light on: close the gate
                    # until frames come again (camera_lost still ends a long gap).
                    control.hold("frame_gap")
                    self._board_closed_gate("frame_gap")
                    self._event(
                        "frame_gap",
                        {"gap_ms": round((time.monotonic_ns() - self._last_beat_ns) / 1e6, 1)},
                    )
                if slot.error is not None:
                    raise slot.error
                if writer.error is not None:
                    writer.raise_if_failed()
                if slot.closed:
                    if live:
                        raise CameraLost(f"{self._source.name}: the camera stream ended")
                    return self._source_ended()
                self._poll_board()
                if not control.gate_open:
                    # Waiting with the gate closed costs no light: the loop is alive.
                    self._beat()
                acq_paused = self._acquisition is not None and self._acquisition.paused
                if not live or self._stop.is_set() or acq_paused or self._paused:
                    waited_s = 0.0
                    continue
                waited_s += time.monotonic() - wait_started
                if waited_s < self.camera_timeout_s:
                    continue
                raise CameraLost(
                    f"{self._source.name}: no frame for {self.camera_timeout_s:g} s"
                )
            waited_s = 0.0
            if "frame_gap" in control.holds:
                control.release("frame_gap")
            if t0_s is None:
                t0_s = frame.t_s
                # After a pre-roll read from the source itself (background from the first
                # seconds of a camera or the synthetic arena), frames.csv counts from the
                # first session frame; the offset is preroll_frames in session.json. A
                # replayed video or a re-score keeps its own frame numbers.
                if self._preroll_read:
                    self._first_source_index = frame.index
            t_s = frame.t_s - t0_s
            media_ns = self._advance_media(frame.t_s)
            session_index = frame.index - self._first_source_index
            if t_s >= self.total_duration_s:
                self._end_t_s = t_s
                return EndReason.COMPLETED
            # phase boundaries (by the frame's own time)
            while (
                self._phase_index + 1 < len(self.phases)
                and t_s >= self.phases[self._phase_index + 1].start_s
            ):
                self._next_phase(policy, writer, t_s)
            self._poll_board()  # the board's confirmed state before deciding
            try:
                result = control.process(frame.image, frame.captured_ns, t_s)
            except BoardFault as err:
                # The driver refused to re-arm a tripped or reset board.
                self._board_fault("refused", {"message": str(err)})
                result = control.process(frame.image, frame.captured_ns, t_s)
            with self._lock:
                self._session_t_s = t_s  # the reports below belong to this frame
            self._poll_board()  # reports that arrived during this frame (refusals, trips)
            laser_on = control.gate_open
            if laser_on != result.laser_on:
                result = dataclasses.replace(result, laser_on=laser_on)
            latency_ms = result.latency_ns / 1e6
            with self._lock:
                self._session_t_s = t_s
                self._frames += 1
                self._last_frame_index = session_index
                self._zone = result.zone
                self._laser_on = result.laser_on
                self._stim_side = policy.stim_side
                self._latencies_ms.append(latency_ms)
                self._frame_times.append(frame.t_s)
                self._dropped = slot.dropped
            phase = self.phases[self._phase_index]
            track = result.track
            truth = frame.truth
            trigger_index = self._trigger_index(frame)
            writer.write_frame(
                FrameRow(
                    frame=session_index,
                    t_s=t_s,
                    x_px=track.x_px if track.found else None,
                    y_px=track.y_px if track.found else None,
                    x_cm=result.x_cm,
                    y_cm=result.y_cm,
                    tracked=bool(track.found and result.x_cm is not None),
                    zone=result.zone.value,
                    phase=phase.name,
                    laser_on=result.laser_on,
                    latency_ms=latency_ms,
                    stim_side=policy.stim_side,
                    mode=phase.phase.mode,
                    dropped=slot.dropped,
                    truth_x_cm=truth.x_cm if truth is not None else None,
                    truth_y_cm=truth.y_cm if truth is not None else None,
                    cam_frame_id=frame.cam_frame_id,
                    cam_t_s=frame.cam_t_s,
                    trigger_index=trigger_index,
                    board_t_s=self._trigger_board_t_s(trigger_index),
                )
            )
            writer.write_image(frame.image, t_s)  # never blocks; may drop (counted)
            for event in result.decision.events + result.extra_events:
                self._event(event.kind, event.detail)
            probe = self._latency_probe
            if probe is not None:
                # Frame time: the media clock in a simulation (exact, load-independent),
                # else the host's capture stamp; the decision is the processing time later.
                frame_ns = media_ns if media_ns is not None else frame.captured_ns
                probe.on_frame(frame.index, frame.image, frame_ns, frame_ns + result.latency_ns)
            if slot.dropped != reported_dropped:
                self._event(
                    "dropped_frames",
                    {"count": slot.dropped - reported_dropped, "total": slot.dropped},
                )
                reported_dropped = slot.dropped
            if probe is not None:
                # The LED flash's echo may have come in since the poll above; without the
                # self-test the next frame's first poll picks up anything newer.
                self._poll_board()
                for outcome in probe.match(frame_ns):
                    self._event(outcome.kind, outcome.detail)
            self._beat()
            update = FrameUpdate(
                frame_index=frame.index,
                t_s=t_s,
                image=frame.image,
                track=track,
                x_cm=result.x_cm,
                y_cm=result.y_cm,
                zone=result.zone,
                phase=phase.name,
                phase_index=phase.index,
                laser_on=result.laser_on,
                latency_ms=latency_ms,
                track_ms=result.track_ns / 1e6,
                wait_ms=result.wait_ns / 1e6,
            )
            self._latest = update
            if observers_frame or self._observers:
                self._notify("on_frame", update)
            if result.decision.stop_session or control.stop_requested:
                self._fault = "safety.max_total_on_s reached; the protocol says stop_session"
                return EndReason.SAFETY_LIMIT

    def _advance_media(self, source_t_s: float) -> int | None:
        """Move the media clock to this frame's source time (seconds since the first frame
        the runner read, arming included); return it in ns (None without a media clock)."""
        if self._media_clock is None:
            return None
        if self._media_origin_s is None:
            self._media_origin_s = source_t_s
        t_ns = int(round((source_t_s - self._media_origin_s) * 1e9))
        self._media_clock.sleep_until_ns(t_ns)
        return self._media_clock.now_ns()
    def _apply_pause(self, policy: ZonePolicy) -> None:
        """On the loop thread: record a pause or resume requested by ``set_paused``."""
        want = self._pause_request
        if want == self._paused or self._control is None:
            return
        self._paused = want
        if want:
            self._control.hold("pause")
            for event in policy.force_off(self._session_t_s, "pause"):
                self._event(event.kind, event.detail)
            self._event("paused", {})
            self._lifecycle("paused: light off")
        else:
            self._control.release("pause")
            self._event("resumed", {})
            self._lifecycle("resumed")

    def _source_ended(self) -> EndReason:
        """A recorded/synthetic source ran out: completed only when its last frame covers
        the protocol's end (within one frame interval), otherwise SOURCE_ENDED."""
        fps = float(self._source.fps) or 30.0
        last_t_s = self._session_t_s if self._frames else 0.0
        covered_s = last_t_s + 1.0 / fps if self._frames else 0.0
        self._end_t_s = last_t_s
        missing = [
            {"phase": p.name, "missing_s": round(p.end_s - max(p.start_s, covered_s), 3),
             "planned_s": round(p.duration_s, 3)}
            for p in self.phases
            if p.end_s > covered_s + 0.5 / fps
        ]
        self._event(
            "source_ended",
            {"t_s": round(last_t_s, 4), "planned_s": round(self.total_duration_s, 4),
             "missing": missing},
        )
        if not missing:
            return EndReason.COMPLETED
        self._fault = (
            f"the source {self._source.name} ended at {covered_s:.1f} s of the protocol's "
            f"{self.total_duration_s:.1f} s; missing: "
            + ", ".join(f"{m['phase']} {m['missing_s']:.1f} of {m['planned_s']:.1f} s" for m in missing)
        )
        log.warning("INCOMPLETE: %s", self._fault)
        return EndReason.SOURCE_ENDED

    def _next_phase(self, policy: ZonePolicy, writer: SessionWriter, t_s: float) -> None:
        """Start the next phase at the session time ``t_s`` of the frame that crossed its
        planned start (events carry actual times, not planned ones)."""
        if self._phase_index >= 0:
            self._end_phase(t_s)
        with self._lock:
            self._phase_index += 1
        plan = self.phases[self._phase_index]
        policy.start_phase(plan.phase, plan.start_s)
        with self._lock:
            self._stim_side = policy.stim_side
        self._event(
            "phase_start",
            {
                "phase": plan.name,
                "mode": plan.phase.mode,
                "stim_side": policy.stim_side,
                "planned_start_s": round(plan.start_s, 4),
            },
            t_s=t_s,
        )
        writer.sync()
        self._lifecycle(
            "phase %d/%d %s (%s, %.1f s)", plan.index + 1, len(self.phases), plan.name,
            plan.phase.mode, plan.duration_s,
        )
        self._notify("on_state", self.status)

    def _end_phase(self, t_s: float) -> None:
        plan = self.phases[self._phase_index]
        stim_side = self._policy.stim_side if self._policy else self.side.side
        self._event(
            "phase_end",
            {"phase": plan.name, "mode": plan.phase.mode, "stim_side": stim_side},
            t_s=t_s,
        )

    def _poll_board(self) -> None:
        self._record_board_events(self._board.events())

    def _record_board_events(self, events: Sequence[Any]) -> None:
        for board_event in events:
            detail: dict[str, object] = {}
            if board_event.device_us is not None:
                detail["device_us"] = board_event.device_us
            if board_event.pulses is not None:
                detail["pulses"] = board_event.pulses
            if board_event.pin_level is not None:
                detail["pin_level"] = board_event.pin_level
            if board_event.detail:
                detail["detail"] = board_event.detail
            kind = board_event.kind
            if kind is BoardEventKind.TRIGGER and self._trigger_timeline is not None:
                self._trigger_timeline.add(board_event)
                # every trigger's time is in frames.csv: events.csv keeps the first and the stop
                if board_event.pin_level != 0 and board_event.pulses != 1:
                    continue
            board_t_s = board_event.device_us / 1e6 if board_event.device_us is not None else None
            self._event(f"board_{kind.value}", detail, board_t_s=board_t_s)
            probe = self._latency_probe
            if probe is not None and board_event.device_us is not None:
                if kind is BoardEventKind.SYNC:
                    probe.on_edge(board_event.device_us, board_event.host_ns)
                else:
                    probe.on_board_time(board_event.device_us, board_event.host_ns)
            if kind is BoardEventKind.GATE_OPENED:
                self._board_gate_open = True
            elif kind is BoardEventKind.GATE_CLOSED:
                self._board_gate_open = False
            if kind is BoardEventKind.DISCONNECTED:
                with self._lock:
                    self._board_connected = False
                raise BoardLost(f"{self._board.info.port}: the board disconnected")
            if not self._board_started:
                continue
            if kind is BoardEventKind.GATE_CLOSED and board_event.detail not in ("host", "config"):
                self._board_closed_gate(f"board_{board_event.detail or 'closed'}")
            if kind in (BoardEventKind.WATCHDOG, BoardEventKind.CAP, BoardEventKind.INTERLOCK):
                log.warning("board reported %s %s", kind.value, board_event.detail)
            if kind is BoardEventKind.CAP and self._control is not None:
                self._control.latch_off(self._session_t_s)
            if kind is BoardEventKind.WATCHDOG:
                self._board_fault("watchdog", detail)
            elif kind is BoardEventKind.READY:
                self._board_fault("reset", detail)
            elif kind is BoardEventKind.FAULT:
                if board_event.detail == "interlock":
                    self._board_closed_gate("interlock")
                else:
                    self._board_fault(f"refused ({board_event.detail})", detail)
            elif kind is BoardEventKind.INTERLOCK:
                self._interlock_event(board_event.detail != "cleared")

    def _board_closed_gate(self, reason: str) -> None:
        """The board closed the gate (or refused to open it): the record follows it."""
        if self._control is not None:
            self._control.board_closed()
        with self._lock:
            self._laser_on = False
        if self._policy is not None:
            for event in self._policy.force_off(self._session_t_s, reason):
                self._event(event.kind, event.detail)

    def _board_fault(self, what: str, detail: dict[str, object]) -> None:
        """A watchdog trip, device reset or refused gate-open: light off, then the rig's
        ``on_board_fault`` (end the session, or carry on with the gate held closed)."""
        action = self._rig_config.on_board_fault
        if self._control is not None:
            self._control.hold("board_fault")
        self._board_closed_gate("board_fault")
        self._event("board_fault", {"fault": what, "action": action.value, **detail})
        message = f"{self._board.info.port}: board fault: {what}; light off"
        if action is BoardFaultAction.END_SESSION:
            raise BoardFault(message)
        log.error("%s; continuing without light (on_board_fault: continue_without_light)", message)

    def _interlock_event(self, tripped: bool) -> None:
        interlock = self._rig_config.interlock
        action = interlock.on_trip if interlock is not None else InterlockAction.PAUSE_LIGHT
        if tripped:
            self._interlock_tripped = True
            if self._control is not None:
                self._control.hold("interlock")
            self._board_closed_gate("interlock")
            self._event("interlock_tripped", {"action": action.value})
            if action is InterlockAction.STOP_SESSION:
                raise InterlockOpen("the door interlock opened during the session; light off")
        else:
            self._interlock_tripped = False
            if self._control is not None and action is InterlockAction.PAUSE_LIGHT:
                self._control.release("interlock")
            self._event("interlock_cleared", {})

    # ------------------------------------------------------------------ events, observers
    def _event(
        self, kind: str, detail: dict[str, object], t_s: float | None = None, board_t_s: float | None = None
    ) -> None:
        when = self._session_t_s if t_s is None else t_s
        writer = self._writer
        # A failed writer (disk full, folder gone) takes no more rows; during the teardown
        # the events still reach the observers (the GUI) instead of raising again.
        if writer is not None and not (self._state is RunState.STOPPING and writer.error is not None):
            writer.write_event(EventRow(when, self._last_frame_index, kind, dict(detail), board_t_s))
        if self._observers:
            self._notify("on_event", kind, when, dict(detail))

    def _notify(self, method: str, *args: object) -> None:
        for observer in list(self._observers):
            callback = getattr(observer, method, None)
            if callback is None:
                continue
            try:
                callback(*args)
            except Exception:
                log.exception("observer %r raised in %s; detached", observer, method)
                try:
                    self._observers.remove(observer)
                except ValueError:
                    pass

    def _set_state(self, state: RunState) -> None:
        with self._lock:
            self._state = state
        self._notify("on_state", self.status)

    # ------------------------------------------------------------------ teardown
    def _teardown(self, end: EndReason) -> None:
        # 1. Laser off, before anything else (not waiting long for a hung loop's lock).
        try:
            control = self._control
            if control is not None:
                locked = control.gate_lock.acquire(timeout=GATE_LOCK_TIMEOUT_S)
                try:
                    control.emergency = True
                    self._board.laser_off()
                    control.gate_open = False
                finally:
                    if locked:
                        control.gate_lock.release()
            else:
                self._board.laser_off()
        except BaseException:  # laser_off must never raise; if it does, keep tearing down
            log.exception("laser_off failed")
        with self._lock:
            self._laser_on = False
            self._end_reason = end
        self._guard_step(self._set_state, RunState.STOPPING)
        # 2. Stop threads.
        self._stop.set()
        self._acq_stop.set()
        acquisition = self._acquisition
        if acquisition is not None:
            acquisition.join(timeout=5.0)
            if acquisition.is_alive():
                log.error("acquisition thread did not stop within 5 s")
        # 3. Final events and the record (as far as the disk allows: a full disk or a
        # deleted folder is reported in one line, never as a traceback).
        self._guarded("record the final events", lambda: self._final_events(end))
        writer = self._writer
        if writer is not None:
            try:
                writer.close()
            except RecorderFault as err:
                log.error("%s", err)
                if not end.is_fault:
                    end = EndReason.RECORDER_FAULT
                    self._fault = str(err)
                    with self._lock:
                        self._end_reason = end
            except BaseException:
                log.exception("closing the writer failed")
        if self._session_dir is not None:
            final = end
            self._guarded("write session.json at the end", lambda: self._write_end_header(final))
            self._guarded("write summary.json", lambda: self._write_summary(final))
        # 4. Devices.
        if self._latency_probe is not None:
            try:
                assert self._latency_test is not None
                sync_output(self._board).configure_sync(False, **self._latency_test.sync_kwargs())
            except BaseException:
                log.debug("could not switch the sync LED off", exc_info=True)
        try:
            self._source.close()
        except BaseException:
            log.exception("closing the source failed")
        try:
            self._board.close()
        except BaseException:
            log.exception("closing the board failed")
        with self._lock:
            self._board_connected = False
        self._guard_step(atexit.unregister, self._board.laser_off)
        self._guard_step(
            self._lifecycle,
            "session ended: %s%s", end.value, f" ({self._fault})" if self._fault else "",
        )
        self._guard_step(self._set_state, RunState.FINISHED)
        self._guard_step(self._notify, "on_finished", self.status)

    @staticmethod
    def _guard_step(step: Callable[..., object], *args: object) -> None:
        """One teardown step: whatever it raises is logged, and the teardown goes on."""
        try:
            step(*args)
        except BaseException:  # noqa: BLE001 - nothing may cut a teardown short
            try:
                log.exception("teardown step %s failed", getattr(step, "__name__", step))
            except BaseException:  # noqa: BLE001 - even logging may fail (disk full)
                pass

    def _guarded(self, what: str, step: Callable[[], None]) -> None:
        """One teardown step; its failure never skips the next. A failing medium (OSError,
        RigError) is one log line; anything else is a bug and keeps its traceback."""
        try:
            step()
        except (OSError, RigError) as err:
            log.error("could not %s: %s", what, err)
        except BaseException:
            log.exception("could not %s", what)

    def _final_events(self, end: EndReason) -> None:
        if self._writer is None:
            return
        reason = "fault" if end.is_fault and end is not EndReason.EMERGENCY_STOP else "stop"
        if end is EndReason.COMPLETED:
            reason = "phase_end"
        if end is EndReason.SAFETY_LIMIT:
            reason = "safety"
        if self._policy is not None:
            for event in self._policy.force_off(self._session_t_s, reason):
                self._event(event.kind, event.detail)
        self._stop_trigger()
        # Wait (bounded) for the board's echo of the last gate close, so the record holds
        # the pulses it confirmed for the last window.
        deadline = time.monotonic() + FINAL_ECHO_TIMEOUT_S
        while True:
            try:
                self._poll_board()
            except RigError:
                pass
            if not self._board_gate_open or time.monotonic() >= deadline:
                break
            time.sleep(0.01)
        if self._latency_probe is not None:
            for outcome in self._latency_probe.flush():
                self._event(outcome.kind, outcome.detail)
        if self._fault is not None and end.is_fault:
            error = self._fault.split(":", 1)[0]
            self._event("fault", {"error": error, "message": self._fault})
        # Actual times: the frame that reached the end (completed) or the last processed
        # frame; phase_end and session_end share it, so phase_end is never after session_end.
        end_t_s = self._end_t_s if self._end_t_s is not None else self._session_t_s
        if self._phase_index >= 0:
            self._end_phase(end_t_s)
        self._event(
            "session_end", {"reason": end.value, "frames": self._frames}, t_s=end_t_s
        )

    def _write_end_header(self, end: EndReason) -> None:
        assert self._session_dir is not None
        header = dict(self._header)
        header["ended_at"] = now_iso()
        header["end_reason"] = end.value
        header["fault"] = self._fault
        header["frames"] = self._frames
        header["preroll_frames"] = self._first_source_index
        header["dropped_frames"] = self._dropped
        trigger = self._trigger_report()
        if trigger is not None:
            header["trigger"] = trigger
        camera = _camera_report(self._source)
        if camera is not None and isinstance(header.get("source"), dict):
            header["source"] = {**header["source"], "camera_at_end": camera}
        header["total_laser_on_s"] = round(self._policy.total_on_s, 6) if self._policy else 0.0
        header["planned_duration_s"] = round(self.total_duration_s, 6)
        video = self._writer.video_stats() if self._writer is not None else None
        if video is not None:
            header["video"] = {
                "file": video.file,
                "codec": video.codec,
                "frames_offered": video.frames_offered,
                "frames_written": video.frames_written,
                "frames_dropped": video.frames_dropped,
                "failed": video.failed,
            }
        write_json_atomic(self._session_dir / "session.json", header)

    def _write_summary(self, end: EndReason) -> None:
        """summary.json from the record itself (rig.analysis.summary), atomically."""
        from rig.analysis.summary import write_summary

        assert self._session_dir is not None
        write_summary(self._session_dir)


def _roi_in_arena(roi: tuple[int, int, int, int], calibration: Any, frame_size: tuple[int, int]) -> bool:
    from rig.tracking.detect import arena_mask

    x, y, w, h = roi
    return bool(arena_mask(calibration, frame_size)[y : y + h, x : x + w].any())


def _camera_report(source: FrameSource) -> dict[str, object] | None:
    report = getattr(source, "camera_report", None)
    if not callable(report):
        return None
    result = report()
    return result if isinstance(result, dict) else None


def _refuse_automatic_exposure(source: FrameSource) -> None:
    """A camera whose read-back says exposure or gain is automatic does not run a session:
    auto-exposure changes the frame rate and the image under the background model."""
    report = _camera_report(source)
    applied = report.get("applied") if report else None
    if not isinstance(applied, dict):
        return
    for key in ("exposure_auto", "gain_auto"):
        value = applied.get(key)
        if value is not None and str(value).lower() not in ("off", ""):
            raise CameraLost(
                f"{source.name}: {key.replace('_', ' ')} is {value} after the settings were "
                "applied; a session needs a fixed exposure and gain (switch auto off in the "
                "camera or its driver)"
            )


def frame_with_time(frame: Frame, captured_ns: int) -> Frame:
    """A copy of ``frame`` re-stamped at ``captured_ns`` (used by pacing)."""
    return dataclasses.replace(frame, captured_ns=captured_ns)


__all__ = [
    "EndReason",
    "FrameUpdate",
    "RunState",
    "RunnerStatus",
    "SessionObserver",
    "SessionRunner",
    "PolicyEvent",
]
