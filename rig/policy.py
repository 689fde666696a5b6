"""ZonePolicy: tracked zone + time -> laser decision. Pure: no threads, no I/O, no clock.

The control loop calls ``step(zone, t_s)`` once per processed frame with the frame's
session time. The rule, in order:

1. **Debounce** (``decision.debounce_s`` = D seconds): the *accepted* zone (left, right or
   neutral) changes to Z at the first frame of an unbroken run of frames located in Z whose
   time is at least D after the run's first frame (D = 0: at once). A frame without a
   position (``LOST``) breaks the run and never changes the accepted zone. Until a zone has
   been accepted the laser is off. Times, not frame counts: a dropped frame cannot stretch it.
2. **Neutral band** (``decision.neutral_band``): ``hold`` keeps the state of the last accepted
   compartment (off if none yet); ``off`` turns the light off in the band.
3. **Tracking loss** (``decision.tracking_loss_grace_s`` = G seconds): while the animal has
   been lost for less than G (from the first lost frame) the state of the accepted zone is
   held; from then on the light is off until the animal is found again (closed-loop phases
   only; G = 0: off at the first lost frame).
4. **Phase mode**: ``off`` never lights; ``closed_loop`` lights while the accepted
   zone is a lit one — the stimulated side's compartment, or the protocol's
   ``arena.stimulated_zones`` (``swap_sides`` exchanges left and right for the phase);
   any other named zone (a 3-chamber centre) is a compartment without light; ``open_loop``
   lights for the whole phase or on its on/off schedule, wherever the animal is.
5. **Safety** (after the rule, always wins): once the light has been on continuously for
   ``safety.max_continuous_on_s`` it is forced off for ``safety.forced_off_s``; once the
   total on-time reaches ``safety.max_total_on_s`` no more light is given for the rest of the
   session, and ``stop_session`` is set when ``safety.on_total_limit`` is ``stop_session``.
   On-time is integrated between steps (the light is on from the step that turned it on to
   the next step).

Every change is reported as a ``PolicyEvent`` (kinds and details as in
``docs/record-format.md``), so the record shows why the light did what it did.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rig.protocol.models import Decision, Phase, Safety
from rig.zones import ZoneId

_EPS = 1e-9


@dataclass(frozen=True, slots=True)
class PolicyEvent:
    """Something the policy decided or noticed (goes to events.csv)."""

    kind: str
    detail: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class LaserDecision:
    """The laser state after one frame and why.

    ``reason`` is one of ``zone`` (closed loop: the accepted compartment decides),
    ``neutral`` (off in the neutral band), ``tracking_lost``, ``open_loop``, ``phase_off``
    (an ``off`` phase), ``safety``, ``stop``.
    """

    laser_on: bool
    reason: str
    events: tuple[PolicyEvent, ...] = ()
    #: The debounced zone (None until one is accepted).
    accepted_zone: ZoneId | None = None
    #: True when a safety limit says the session must stop now.
    stop_session: bool = False


class ZonePolicy:
    """The laser rule of one session (see the module docstring). Not thread-safe: the
    control loop thread is its only user."""

    def __init__(
        self,
        decision: Decision,
        safety: Safety,
        stim_side: str,
        light_zones: frozenset[str] | None = None,
    ) -> None:
        if stim_side not in ("left", "right"):
            raise ValueError(f"stim_side must be 'left' or 'right', got {stim_side!r}")
        self.decision = decision
        self.safety = safety
        self.base_stim_side = stim_side
        self.stim_side = stim_side
        #: Named zones that get light (None: the zone named like the stimulated side).
        self._base_light_zones = (
            None if light_zones is None else frozenset(ZoneId(n) for n in light_zones)
        )
        self.light_zones = self._light_zones(swap=False)
        self._phase: Phase | None = None
        self._phase_start_s = 0.0
        # zone state
        self._accepted: ZoneId | None = None
        self._last_compartment: ZoneId | None = None
        self._candidate: ZoneId | None = None
        self._candidate_count = 0
        self._candidate_since_s = 0.0
        self._lost_run = 0
        self._lost_since_s = 0.0
        # laser state
        self._on = False
        self._on_since_s = 0.0
        self._last_t_s: float | None = None
        self.total_on_s = 0.0
        self._forced_off_until_s: float | None = None
        self._total_exhausted = False
        self.safety_events = 0

    # ------------------------------------------------------------------ phases
    def start_phase(self, phase: Phase, t_s: float) -> None:
        """Enter ``phase`` at session time ``t_s`` (the next ``step`` applies its mode)."""
        self._phase = phase
        self._phase_start_s = t_s
        other = "right" if self.base_stim_side == "left" else "left"
        self.stim_side = other if phase.swap_sides else self.base_stim_side
        self.light_zones = self._light_zones(swap=phase.swap_sides)

    def _light_zones(self, swap: bool) -> frozenset[ZoneId]:
        """The zones lit in closed loop; ``swap`` exchanges left and right (reversal)."""
        if self._base_light_zones is None:
            side = self.stim_side
            return frozenset({ZoneId.from_side(side)})
        if not swap:
            return self._base_light_zones
        mirror = {ZoneId.LEFT: ZoneId.RIGHT, ZoneId.RIGHT: ZoneId.LEFT}
        return frozenset(mirror.get(z, z) for z in self._base_light_zones)

    @property
    def laser_on(self) -> bool:
        return self._on

    @property
    def accepted_zone(self) -> ZoneId | None:
        return self._accepted

    @property
    def lit_zone(self) -> ZoneId | None:
        """In a closed-loop phase, the zone whose rule decides the light (the accepted zone,
        or the last compartment while holding in the neutral band); else None."""
        if self._phase is None or self._phase.mode != "closed_loop":
            return None
        zone = self._accepted
        if zone is ZoneId.NEUTRAL:
            zone = self._last_compartment
        return zone

    @property
    def lost_frames(self) -> int:
        """Consecutive frames without a position so far."""
        return self._lost_run

    @property
    def total_limit_reached(self) -> bool:
        return self._total_exhausted

    # ------------------------------------------------------------------ step
    def step(self, zone: ZoneId, t_s: float) -> LaserDecision:
        """Decide the laser state after a frame located in ``zone`` at session time ``t_s``."""
        events: list[PolicyEvent] = []
        if self._on and self._last_t_s is not None:
            self.total_on_s += max(0.0, t_s - self._last_t_s)
        self._last_t_s = t_s
        self._update_zone(zone, t_s, events)

        desired, reason = self._rule(t_s)
        stop_session = False

        # Safety limits: always win.
        if not self._total_exhausted and self.total_on_s >= self.safety.max_total_on_s - _EPS:
            self._total_exhausted = True
            self.safety_events += 1
            stop_session = self.safety.on_total_limit == "stop_session"
            events.append(
                PolicyEvent(
                    "safety_total_limit",
                    {
                        "total_on_s": round(self.total_on_s, 6),
                        "action": self.safety.on_total_limit,
                    },
                )
            )
        if self._forced_off_until_s is not None:
            if t_s >= self._forced_off_until_s - _EPS:
                self._forced_off_until_s = None
                events.append(PolicyEvent("safety_resume", {}))
            else:
                desired, reason = False, "safety"
        if self._total_exhausted:
            desired, reason = False, "safety"
            stop_session = stop_session or self.safety.on_total_limit == "stop_session"
        elif (
            desired
            and self._on
            and t_s - self._on_since_s >= self.safety.max_continuous_on_s - _EPS
        ):
            self._forced_off_until_s = t_s + self.safety.forced_off_s
            self.safety_events += 1
            events.append(
                PolicyEvent(
                    "safety_continuous_limit",
                    {
                        "on_s": round(t_s - self._on_since_s, 6),
                        "forced_off_s": self.safety.forced_off_s,
                    },
                )
            )
            desired, reason = False, "safety"

        if desired != self._on:
            self._on = desired
            if desired:
                self._on_since_s = t_s
                events.append(PolicyEvent("laser_on", {"reason": reason}))
            else:
                off_reason = "phase_end" if reason == "phase_off" else reason
                events.append(PolicyEvent("laser_off", {"reason": off_reason}))
        return LaserDecision(desired, reason, tuple(events), self._accepted, stop_session)

    def force_off(self, t_s: float, reason: str) -> tuple[PolicyEvent, ...]:
        """Turn the light off outside the rule (stop, fault); returns the laser_off event."""
        if self._on and self._last_t_s is not None:
            self.total_on_s += max(0.0, t_s - self._last_t_s)
        self._last_t_s = t_s
        if not self._on:
            return ()
        self._on = False
        return (PolicyEvent("laser_off", {"reason": reason}),)

    # ------------------------------------------------------------------ internals
    def _update_zone(self, zone: ZoneId, t_s: float, events: list[PolicyEvent]) -> None:
        if zone is ZoneId.LOST:
            self._lost_run += 1
            self._candidate, self._candidate_count = None, 0
            if self._lost_run == 1:
                self._lost_since_s = t_s
                events.append(PolicyEvent("tracking_lost", {}))
            return
        if self._lost_run:
            events.append(PolicyEvent("tracking_regained", {"lost_frames": self._lost_run}))
            self._lost_run = 0
        if zone is self._accepted:
            self._candidate, self._candidate_count = None, 0
            return
        if zone is self._candidate:
            self._candidate_count += 1
        else:
            self._candidate, self._candidate_count = zone, 1
            self._candidate_since_s = t_s
        if t_s - self._candidate_since_s >= self.decision.debounce_s - _EPS:
            self._accepted = zone
            self._candidate, self._candidate_count = None, 0
            if zone.is_compartment:
                self._last_compartment = zone
            events.append(PolicyEvent("zone_entry", {"zone": zone.value}))

    def _rule(self, t_s: float) -> tuple[bool, str]:
        phase = self._phase
        if phase is None or phase.mode == "off":
            return False, "phase_off"
        if phase.mode == "open_loop":
            schedule = phase.schedule
            if schedule is None:
                return True, "open_loop"
            cycle_s = schedule.on_s + schedule.off_s
            into_s = (t_s - self._phase_start_s) % cycle_s
            first_on = into_s < schedule.on_s - _EPS
            second_on = into_s >= schedule.off_s - _EPS
            return (first_on if schedule.start_on else second_on), "open_loop"
        # closed loop
        if (
            self._lost_run
            and t_s - self._lost_since_s >= self.decision.tracking_loss_grace_s - _EPS
        ):
            return False, "tracking_lost"
        zone = self._accepted
        if zone is ZoneId.NEUTRAL:
            if self.decision.neutral_band == "off":
                return False, "neutral"
            zone = self._last_compartment
        if zone is None:
            return False, "zone"
        return zone in self.light_zones, "zone"
