"""ControlLoop: one frame -> track -> zone -> decision -> laser gate. The only code that
commands the laser gate (``set_gate``); it runs on the runner's control thread.

Defence in depth: besides ``ZonePolicy``'s limits, the loop keeps its own account of
gate-open time from what it actually commanded and refuses to keep the gate open past
``safety.max_continuous_on_s`` or ``safety.max_total_on_s`` (it would only act on a policy
bug; it then records a ``safety_override`` event). Its check latches exactly as the policy
does: past the continuous limit the gate stays closed for ``safety.forced_off_s`` whatever
the policy says; past the total limit it stays closed for the rest of the session (and the
session ends when ``safety.on_total_limit`` is ``stop_session``).

Holds: ``hold(reason)`` keeps the gate closed (pause, interlock, a board fault with
``continue_without_light``) until ``release(reason)``; ``board_closed()`` records that the
board itself closed the gate (watchdog, cap, interlock, reset), so ``gate_open`` follows
what the board confirmed, never only what was commanded.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np
from numpy.typing import NDArray

from rig.calibration import PixelMapper
from rig.devices.board import LaserBoard, LaserConfig
from rig.devices.mock_board import rules_config
from rig.policy import LaserDecision, PolicyEvent, ZonePolicy
from rig.protocol.models import Phase, Protocol as ProtocolModel, Safety
from rig.zones import ZoneId, ZoneMap

if TYPE_CHECKING:
    from rig.tracking.detect import TrackResult

log = logging.getLogger(__name__)

_EPS = 1e-6
#: Longest an emergency path waits for the gate lock before closing the gate anyway.
GATE_LOCK_TIMEOUT_S = 0.5


class TrackerLike(Protocol):
    """What the loop needs from ``rig.tracking.detect.Tracker``."""

    def set_background(self, image: NDArray[np.uint8]) -> None: ...

    def track(self, image: NDArray[np.uint8]) -> TrackResult: ...

    def reset(self) -> None: ...


@dataclass(frozen=True, slots=True)
class PhasePlan:
    """A protocol phase placed on the session's time line (seconds from session start)."""

    index: int
    phase: Phase
    start_s: float
    end_s: float

    @property
    def name(self) -> str:
        return self.phase.name

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


def plan_phases(protocol: ProtocolModel, duration_scale: float = 1.0) -> list[PhasePlan]:
    """Phases back to back from t = 0; ``duration_scale`` shortens them all (demo)."""
    if not duration_scale > 0:
        raise ValueError(f"duration_scale must be > 0, got {duration_scale}")
    plans = []
    t_s = 0.0
    for index, phase in enumerate(protocol.phases):
        end_s = t_s + phase.duration_s * duration_scale
        plans.append(PhasePlan(index, phase, t_s, end_s))
        t_s = end_s
    return plans


@dataclass(frozen=True, slots=True)
class StepResult:
    track: TrackResult
    x_cm: float | None
    y_cm: float | None
    zone: ZoneId
    decision: LaserDecision
    laser_on: bool
    latency_ns: int
    extra_events: tuple[PolicyEvent, ...] = ()
    #: Time spent in the tracker (part of ``latency_ns``), for the engine benchmark.
    track_ns: int = 0
    #: Time from capture to the start of processing (hand-over from the acquisition thread).
    wait_ns: int = 0


class ControlLoop:
    """Per-frame processing; owns the gate commands (control thread)."""

    def __init__(
        self,
        tracker: TrackerLike,
        mapper: PixelMapper,
        zones: ZoneMap,
        policy: ZonePolicy,
        board: LaserBoard,
        safety: Safety,
        zone_configs: Mapping[ZoneId, LaserConfig] | None = None,
        base_config: LaserConfig | None = None,
    ) -> None:
        self.tracker = tracker
        self.mapper = mapper
        self.zones = zones
        self.policy = policy
        self.board = board
        self.safety = safety
        self.gate_open = False
        #: Held while deciding to open the gate and by ``emergency_off`` (no re-open race).
        self.gate_lock = threading.Lock()
        self.emergency = False
        self._on_since_s = 0.0
        self._last_t_s: float | None = None
        self.total_on_s = 0.0
        self.gate_commands = 0
        #: Per-zone trains (protocol ``stimulation.zones``); the board is reconfigured,
        #: gate closed, before the light comes on in a zone whose train differs.
        self._zone_configs = dict(zone_configs or {})
        self._base_config = base_config
        self.board_config = base_config
        self.reconfigurations = 0
        #: Gate held closed for these reasons (pause, interlock, board fault, ...).
        self.holds: set[str] = set()
        self._latched_until_s: float | None = None
        self._total_latched = False
        #: Set when the loop's own total-limit check wants the session to end.
        self.stop_requested = False

    def process(self, image: NDArray[np.uint8], captured_ns: int, t_s: float) -> StepResult:
        start_ns = time.perf_counter_ns()
        track = self.tracker.track(image)
        track_ns = time.perf_counter_ns() - start_ns
        x_cm: float | None
        y_cm: float | None
        if track.found:
            x_cm, y_cm = self.mapper.to_cm(track.x_px, track.y_px)
            if not (math.isfinite(x_cm) and math.isfinite(y_cm)):
                x_cm = y_cm = None
        else:
            x_cm = y_cm = None
        zone = self.zones.locate(x_cm, y_cm)
        if self.holds:
            # Held closed (pause, interlock, board fault): the policy is not asked, so it
            # records no light that cannot be delivered; it was forced off at the hold.
            decision = LaserDecision(False, "held", (), self.policy.accepted_zone, False)
        else:
            decision = self.policy.step(zone, t_s)
        want_on = decision.laser_on
        extra: tuple[PolicyEvent, ...] = ()

        # Independent account of what was commanded (defence in depth).
        if self.gate_open and self._last_t_s is not None:
            self.total_on_s += max(0.0, t_s - self._last_t_s)
        self._last_t_s = t_s
        extra_list: list[PolicyEvent] = []
        if self._latched_until_s is not None and t_s >= self._latched_until_s - _EPS:
            self._latched_until_s = None
            extra_list.append(PolicyEvent("safety_override_end", {}))
        if self.gate_open:
            continuous_s = t_s - self._on_since_s
            over_continuous = continuous_s > self.safety.max_continuous_on_s + _EPS
            over_total = self.total_on_s > self.safety.max_total_on_s + _EPS
            if over_continuous or over_total:
                log.error(
                    "safety override: gate open %.3f s (total %.3f s) beyond the protocol "
                    "limits; closing it",
                    continuous_s,
                    self.total_on_s,
                )
                detail: dict[str, object] = {
                    "on_s": round(continuous_s, 6),
                    "total_on_s": round(self.total_on_s, 6),
                }
                if over_total:
                    self._total_latched = True
                    detail["action"] = self.safety.on_total_limit
                    if self.safety.on_total_limit == "stop_session":
                        self.stop_requested = True
                else:
                    self._latched_until_s = t_s + self.safety.forced_off_s
                    detail["forced_off_s"] = self.safety.forced_off_s
                extra_list.append(PolicyEvent("safety_override", detail))
        if self._total_latched or self._latched_until_s is not None or self.holds:
            want_on = False
        extra = tuple(extra_list)

        keep_on_since = False
        if want_on and self._zone_configs and self._base_config is not None:
            lit = self.policy.lit_zone
            target = self._zone_configs.get(lit, self._base_config) if lit else self._base_config
            if target != self.board_config:
                was_open = self.gate_open
                extra = extra + (self._reconfigure(target, lit, t_s),)
                # The gate closed only to change trains: the light's continuous on-time
                # keeps counting from when it came on (the firmware's cap restarts with
                # the re-opened gate, so this account and the policy's must not).
                keep_on_since = was_open

        if want_on != self.gate_open:
            with self.gate_lock:
                if want_on and (self.emergency or self.holds):
                    want_on = False
                if want_on != self.gate_open:
                    if want_on:
                        # Counted open before the command goes out: a loop that hangs
                        # inside set_gate is supervised as one with the light on.
                        self.gate_open = True
                        try:
                            self.board.set_gate(True)
                        except BaseException:
                            self.gate_open = False
                            raise
                        if not keep_on_since:
                            self._on_since_s = t_s
                    else:
                        self.board.set_gate(False)
                        self.gate_open = False
                    self.gate_commands += 1
        latency_ns = time.perf_counter_ns() - captured_ns
        return StepResult(
            track, x_cm, y_cm, zone, decision, self.gate_open, latency_ns, extra,
            track_ns, start_ns - captured_ns,
        )

    def _reconfigure(self, config: LaserConfig, zone: ZoneId | None, t_s: float) -> PolicyEvent:
        """Close the gate, send the zone's train (the board acknowledges or raises), record.

        ``configure`` returns only once the board acknowledged the configuration (the
        optorig firmware's CONFIG ack; the mock's emulation of it) and raises otherwise, so
        the recorded event says what the board accepted, in the units it runs at.
        """
        with self.gate_lock:
            if self.gate_open:
                self.board.set_gate(False)
                self.gate_commands += 1
                self.gate_open = False
            self.board.configure(config)
        self.board_config = config
        self.reconfigurations += 1
        rules = rules_config(config)
        return PolicyEvent(
            "laser_config",
            {
                "zone": zone.value if zone is not None else "",
                "mode": config.mode,
                "frequency_hz": config.frequency_hz,
                "pulse_width_ms": config.pulse_width_ms,
                "period_us": rules.period_us,
                "width_us": rules.width_us,
                "acknowledged": True,
            },
        )

    def hold(self, reason: str) -> None:
        """Close the gate now (any thread) and keep it closed until ``release(reason)``.

        Never waits long for the gate lock: a loop hung inside ``set_gate`` must not block
        the caller (GUI, supervisor); the board's own lock and write timeout bound the rest.
        """
        locked = self.gate_lock.acquire(timeout=GATE_LOCK_TIMEOUT_S)
        try:
            self.holds.add(reason)
            self.board.laser_off()
            self.gate_open = False
        finally:
            if locked:
                self.gate_lock.release()

    def release(self, reason: str) -> None:
        with self.gate_lock:
            self.holds.discard(reason)

    def board_closed(self) -> None:
        """The board reported the gate closed (or never opened): follow it."""
        with self.gate_lock:
            self.gate_open = False

    def latch_off(self, t_s: float) -> None:
        """The board's own cap closed the gate: keep it closed for ``forced_off_s``."""
        self._latched_until_s = t_s + self.safety.forced_off_s

    def emergency_off(self) -> None:
        """Close the gate now from any thread; the loop will not open it again."""
        locked = self.gate_lock.acquire(timeout=GATE_LOCK_TIMEOUT_S)
        try:
            self.emergency = True
            self.board.laser_off()
            self.gate_open = False
        finally:
            if locked:
                self.gate_lock.release()
