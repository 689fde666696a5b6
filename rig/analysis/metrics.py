"""Per-frame and per-phase behavioural metrics on frames.csv columns (numpy only).

Every definition here is documented in ``docs/analysis.md``; tests re-implement them
independently. Zones are physical (``left``/``right``/``neutral``/``lost``); ``stim`` and
``nonstim`` are resolved per frame from its ``stim_side``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from rig.analysis.records import Event, FrameTable

COMPARTMENTS = ("left", "right")
SAFETY_EVENT_KINDS = ("safety_continuous_limit", "safety_total_limit", "board_cap")

# Laser-follow categories per frame.
FOLLOW_ON = 1  # rule says the gate must be open
FOLLOW_OFF = 0  # rule says the gate must be closed
FOLLOW_EITHER = 2  # neutral band under the hold rule: either state follows the rule
FOLLOW_TRANSITION = -1  # inside a debounce / grace / boundary window: not checked
FOLLOW_UNKNOWN = -2  # rule unknown (open-loop phase without its schedule): not checked


def other_side(side: str) -> str:
    return "right" if side == "left" else "left"


def median_interval_s(t_s: NDArray[np.float64]) -> float:
    """Median of the positive intervals between consecutive frames (0 if none)."""
    if t_s.size < 2:
        return 0.0
    steps = np.diff(t_s)
    steps = steps[steps > 0]
    return float(np.median(steps)) if steps.size else 0.0


def frame_durations_s(frames: FrameTable) -> NDArray[np.float64]:
    """How long each frame stands for: until the next frame of the same phase.

    The last frame of each phase lasts the session's median frame interval. Intervals
    are clipped at 0 (a clock going backwards never gives negative time).
    """
    n = len(frames)
    durations = np.zeros(n, dtype=np.float64)
    if n == 0:
        return durations
    median = median_interval_s(frames.t_s)
    for _, start, stop in frames.phase_runs():
        if stop - start > 1:
            durations[start : stop - 1] = np.clip(np.diff(frames.t_s[start:stop]), 0.0, None)
        durations[stop - 1] = median
    return durations


def stim_labels(frames: FrameTable, light_zones: frozenset[str] | None = None) -> NDArray[np.str_]:
    """Per frame: ``stim``, ``nonstim``, ``neutral`` or ``lost``.

    Side layouts (no ``light_zones``): ``stim`` is the frame's stimulated side, ``nonstim``
    the other side, any other named zone (a 3-chamber box's centre) counts as ``neutral``
    here (its own time is in the per-zone table). With ``light_zones`` (protocol
    ``arena.stimulated_zones``): ``stim`` is a lit zone, ``nonstim`` any other named zone.
    """
    zone = frames.zone
    if light_zones is None:
        stim = zone == frames.stim_side
        nonstim = zone == np.where(frames.stim_side == "left", "right", "left")
    else:
        stim = np.isin(zone, sorted(light_zones))
        nonstim = ~stim & (zone != "neutral") & (zone != "lost")
    labels = np.full(zone.shape, "neutral", dtype="<U7")
    labels[stim] = "stim"
    labels[nonstim] = "nonstim"
    labels[zone == "lost"] = "lost"
    return labels


@dataclass(frozen=True, slots=True)
class Transitions:
    """Per frame flags: the frame is an entry into left/right, or a crossing."""

    entry: NDArray[np.bool_]  # entered a compartment (left or right) at this frame
    crossing: NDArray[np.bool_]  # arrived in a compartment coming from the other one


def transitions(frames: FrameTable) -> Transitions:
    """Entries and crossings.

    Entry: a frame in compartment C (left/right) whose previous *located* frame (the last
    frame not ``lost``, looking back across phase boundaries) was in another zone (the
    other compartment or neutral). The session's first located frame is not an entry.
    Crossing: a frame in compartment C whose last compartment frame (ignoring neutral
    and lost) was in the other compartment.
    """
    n = len(frames)
    entry = np.zeros(n, dtype=np.bool_)
    crossing = np.zeros(n, dtype=np.bool_)
    previous_zone: str | None = None
    previous_compartment: str | None = None
    for i, zone in enumerate(frames.zone.tolist()):
        if zone == "lost":
            continue
        if zone in COMPARTMENTS:
            if previous_zone is not None and zone != previous_zone:
                entry[i] = True
            if previous_compartment is not None and zone != previous_compartment:
                crossing[i] = True
            previous_compartment = zone
        previous_zone = zone
    return Transitions(entry=entry, crossing=crossing)


def zone_entries(frames: FrameTable) -> NDArray[np.bool_]:
    """Per frame: an entry into a named zone (any layout: left, centre, inner ...).

    Same definition as ``transitions().entry`` for every named zone: a frame in zone Z
    (not ``neutral``, not ``lost``) whose previous located frame was in another zone.
    """
    n = len(frames)
    entry = np.zeros(n, dtype=np.bool_)
    previous_zone: str | None = None
    for i, zone in enumerate(frames.zone.tolist()):
        if zone == "lost":
            continue
        if zone != "neutral" and previous_zone is not None and zone != previous_zone:
            entry[i] = True
        previous_zone = zone
    return entry


def zone_names(frames: FrameTable, declared: tuple[str, ...] = ()) -> list[str]:
    """The named zones to report: those declared by the protocol, then any other seen."""
    names = list(declared)
    for zone in dict.fromkeys(frames.zone.tolist()):
        if zone not in ("neutral", "lost") and zone not in names:
            names.append(str(zone))
    return names


def step_lengths_cm(frames: FrameTable) -> NDArray[np.float64]:
    """Per frame: distance from the previous tracked frame of the same phase (0 if none)."""
    n = len(frames)
    steps = np.zeros(n, dtype=np.float64)
    ok = frames.tracked & np.isfinite(frames.x_cm) & np.isfinite(frames.y_cm)
    for _, start, stop in frames.phase_runs():
        rows = start + np.flatnonzero(ok[start:stop])
        if rows.size > 1:
            dx = np.diff(frames.x_cm[rows])
            dy = np.diff(frames.y_cm[rows])
            steps[rows[1:]] = np.hypot(dx, dy)
    return steps


@dataclass(frozen=True, slots=True)
class FollowRule:
    """The decision settings the follow check needs (from protocol.yaml, else defaults)."""

    debounce_frames: int = 3
    tracking_loss_grace_frames: int = 5
    neutral_band: str = "hold"  # "hold" or "off"
    #: Named zones that get light (protocol ``arena.stimulated_zones``); None: the zone
    #: named like the frame's stim_side.
    light_zones: frozenset[str] | None = None


@dataclass(frozen=True, slots=True)
class OpenLoopSchedule:
    on_s: float
    off_s: float
    start_on: bool = True

    def is_on(self, t_in_phase_s: float) -> bool:
        cycle = self.on_s + self.off_s
        position = t_in_phase_s % cycle
        first = position < (self.on_s if self.start_on else self.off_s)
        return first if self.start_on else not first


def safety_off_windows(
    events: list[Event], session_end_s: float
) -> list[tuple[float, float]]:
    """Intervals [start, end) during which a safety limit forced the light off."""
    windows: list[tuple[float, float]] = []
    open_start: float | None = None
    open_forced_s: float | None = None
    for event in sorted(events, key=lambda e: e.t_s):
        if event.kind == "safety_continuous_limit":
            open_start = event.t_s
            forced = event.detail.get("forced_off_s")
            open_forced_s = float(forced) if isinstance(forced, (int, float)) else None
        elif event.kind == "safety_resume" and open_start is not None:
            windows.append((open_start, event.t_s))
            open_start = None
        elif event.kind == "safety_total_limit":
            if open_start is not None:
                windows.append((open_start, event.t_s))
                open_start = None
            windows.append((event.t_s, math.inf))
    if open_start is not None:
        end = open_start + open_forced_s if open_forced_s is not None else session_end_s
        windows.append((open_start, end))
    return windows


def follow_expectation(
    frames: FrameTable,
    rule: FollowRule,
    schedules: dict[str, OpenLoopSchedule | None] | None,
    safety_windows: list[tuple[float, float]],
) -> NDArray[np.int8]:
    """Per frame: what the protocol's rule says the commanded gate state should be.

    Returns one of FOLLOW_ON / FOLLOW_OFF / FOLLOW_EITHER / FOLLOW_TRANSITION /
    FOLLOW_UNKNOWN per frame (definitions in docs/analysis.md, "laser follow").
    ``schedules`` maps open-loop phase names to their schedule (None = on for the whole
    phase); ``None`` altogether means the protocol is unknown and open-loop phases are
    not checked.
    """
    n = len(frames)
    expected = np.full(n, FOLLOW_UNKNOWN, dtype=np.int8)
    if n == 0:
        return expected
    dt = median_interval_s(frames.t_s)
    zones = frames.zone.tolist()
    debounce = max(1, rule.debounce_frames)
    grace = max(0, rule.tracking_loss_grace_frames)
    for phase, start, stop in frames.phase_runs():
        mode = str(frames.mode[start])
        t0 = float(frames.t_s[start])
        if mode == "off":
            expected[start:stop] = FOLLOW_OFF
            continue
        if mode == "open_loop":
            if schedules is None or phase not in schedules:
                continue  # unknown rule: FOLLOW_UNKNOWN
            schedule = schedules[phase]
            for i in range(start, stop):
                if schedule is None:
                    expected[i] = FOLLOW_ON
                    continue
                t_phase = float(frames.t_s[i]) - t0
                state = schedule.is_on(t_phase)
                earlier = schedule.is_on(max(0.0, t_phase - 2 * dt))
                expected[i] = FOLLOW_TRANSITION if state != earlier else int(state)
            continue
        # closed_loop
        since_change = 0
        lost_run = 0
        for i in range(start, stop):
            zone = zones[i]
            if i == start or zone != zones[i - 1]:
                since_change = 0
            else:
                since_change += 1
            lost_run = lost_run + 1 if zone == "lost" else 0
            if zone == "lost":
                expected[i] = FOLLOW_TRANSITION if lost_run <= grace + 1 else FOLLOW_OFF
            elif i - start < debounce or since_change < debounce:
                expected[i] = FOLLOW_TRANSITION
            elif zone == "neutral":
                expected[i] = FOLLOW_EITHER if rule.neutral_band == "hold" else FOLLOW_OFF
            else:
                lit = (
                    zone in rule.light_zones
                    if rule.light_zones is not None
                    else zone == str(frames.stim_side[i])
                )
                expected[i] = FOLLOW_ON if lit else FOLLOW_OFF
    # Safety limits force the light off whatever the rule; frames at the window edges
    # (within half a frame before the limit, or the debounce after the resume) are not checked.
    t = frames.t_s
    for w_start, w_end in safety_windows:
        inside = (t >= w_start) & (t < w_end)
        checkable = expected != FOLLOW_UNKNOWN
        expected[inside & checkable] = FOLLOW_OFF
        edge = (np.abs(t - w_start) <= dt / 2) & checkable
        if math.isfinite(w_end):
            edge |= (t >= w_end - dt / 2) & (t < w_end + (debounce + 1) * dt) & checkable
        expected[edge] = FOLLOW_TRANSITION
    return expected


def follow_counts(
    expected: NDArray[np.int8], laser_on: NDArray[np.bool_]
) -> dict[str, int | float | None]:
    """Match counts of the commanded gate state against the rule."""
    definite = (expected == FOLLOW_ON) | (expected == FOLLOW_OFF)
    matched_definite = definite & (laser_on == (expected == FOLLOW_ON))
    either = expected == FOLLOW_EITHER
    checked = int(definite.sum() + either.sum())
    matched = int(matched_definite.sum() + either.sum())
    return {
        "match_fraction": (matched / checked) if checked else None,
        "frames_checked": checked,
        "frames_matched": matched,
        "frames_mismatched": checked - matched,
        "frames_neutral_hold": int(either.sum()),
        "frames_transition": int((expected == FOLLOW_TRANSITION).sum()),
        "frames_unchecked": int((expected == FOLLOW_UNKNOWN).sum()),
        "mismatch_on": int((definite & laser_on & (expected == FOLLOW_OFF)).sum()),
        "mismatch_off": int((definite & ~laser_on & (expected == FOLLOW_ON)).sum()),
    }


def percentiles_ms(values: NDArray[np.float64]) -> dict[str, float | int | None]:
    """p50/p95/p99/max/mean of the finite values (None when there are none)."""
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return {"n": 0, "p50": None, "p95": None, "p99": None, "max": None, "mean": None}
    p50, p95, p99 = np.percentile(finite, [50, 95, 99])
    return {
        "n": int(finite.size),
        "p50": float(p50),
        "p95": float(p95),
        "p99": float(p99),
        "max": float(finite.max()),
        "mean": float(finite.mean()),
    }


#: Immobility: moved less than IMMOBILE_CM over the following IMMOBILE_WINDOW_S.
IMMOBILE_CM = 2.0
IMMOBILE_WINDOW_S = 1.0


def debounced_zones(zones: list[str], t_s: NDArray[np.float64], debounce_s: float) -> list[str | None]:
    """Per frame: the zone accepted under the protocol's debounce (None before any).

    A zone is accepted at the first frame of an unbroken run of frames in it that is at
    least ``debounce_s`` after the run's first frame; lost frames break runs and never
    change the accepted zone (the engine's rule, docs/analysis.md).
    """
    accepted: str | None = None
    candidate: str | None = None
    since = 0.0
    out: list[str | None] = []
    for i, zone in enumerate(zones):
        t = float(t_s[i])
        if zone == "lost":
            candidate = None
        elif zone == accepted:
            candidate = None
        else:
            if zone != candidate:
                candidate, since = zone, t
            if t - since >= debounce_s - 1e-6:
                accepted, candidate = zone, None
        out.append(accepted)
    return out


def immobile_flags(frames: FrameTable) -> NDArray[np.bool_]:
    """Per frame: the animal moved less than IMMOBILE_CM over the next IMMOBILE_WINDOW_S
    (straight-line distance to the first tracked frame at least that much later, same phase).
    Frames too close to the phase end or without a position are not immobile."""
    n = len(frames)
    flags = np.zeros(n, dtype=np.bool_)
    ok = frames.tracked & np.isfinite(frames.x_cm) & np.isfinite(frames.y_cm)
    for _, start, stop in frames.phase_runs():
        rows = start + np.flatnonzero(ok[start:stop])
        if rows.size < 2:
            continue
        t = frames.t_s[rows]
        later = np.searchsorted(t, t + IMMOBILE_WINDOW_S, side="left")
        valid = later < rows.size
        src = np.flatnonzero(valid)
        dst = later[valid]
        dist = np.hypot(frames.x_cm[rows[dst]] - frames.x_cm[rows[src]], frames.y_cm[rows[dst]] - frames.y_cm[rows[src]])
        flags[rows[src]] = dist < IMMOBILE_CM
    return flags
