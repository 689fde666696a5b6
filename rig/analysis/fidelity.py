"""Delivered-light fidelity and the laser-follow audit, from what the board confirmed.

Two questions a reviewer asks of a closed-loop session, answered from the record only:

1. **Where did the light go?** The light timeline is the board's echoed gate windows
   (``board_gate_opened`` / ``board_gate_closed`` with the board's ``device_us`` clock,
   mapped onto session time), never the commanded ``laser_on`` column. Per phase: gate-open
   seconds with the animal in the stimulated compartment, in the neutral band, in the other
   compartment and while lost; seconds in the stimulated compartment without light; pulses
   the board reports; and the delay from each entry into the stimulated compartment to the
   first delivered pulse.
2. **Did the light follow the animal?** The audit recomputes the protocol's rule from the
   positions (``x_cm``, ``y_cm``) and the protocol's geometry and decision settings, in
   code of its own (it does not call ``rig.zones`` or ``rig.policy``, and it does not read
   the ``zone`` or ``laser_on`` columns), and compares the result with the delivered light
   frame by frame. Frames where the rule's outcome depends on a time comparison closer than
   the record's time resolution are not judged (both outcomes are computed; they must agree).

Definitions: docs/analysis.md, "Delivered light" and "Laser-follow audit".
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from rig.analysis import metrics as m
from rig.analysis.records import EventTable, FrameTable

#: Record time resolution (frames.csv t_s has 4 decimals) plus margin: decisions closer
#: than this to a threshold are computed both ways and not judged when the ways disagree.
TIME_TOLERANCE_S = 2e-4
#: Largest host receive delay of an echo accepted as the same clock (serial + polling).
CLOCK_MISMATCH_S = 0.25
#: Schema-1 defaults (frames) and the schema-2 defaults (s).
_S1_DEFAULTS = {"debounce_frames": 3, "tracking_loss_grace_frames": 5}
_S2_DEFAULTS = {"debounce_s": 0.066666, "tracking_loss_grace_s": 0.166666}

ON, OFF, UNJUDGED = 1, 0, -1


# ------------------------------------------------------------------ delivered light
@dataclass(frozen=True)
class Delivered:
    """Gate-open windows in session seconds, from the board's echo (or nothing)."""

    starts: NDArray[np.float64]
    ends: NDArray[np.float64]
    pulses: list[int | None]
    source: str  # "board echo (board clock)", "board echo (host receive time)", "none"
    clock_offset_s: float | None = None
    clock_rate: float | None = None

    @property
    def known(self) -> bool:
        return self.source != "none"

    def open_time_until(self, t: NDArray[np.float64]) -> NDArray[np.float64]:
        """Total gate-open seconds in [-inf, t) for each t."""
        if self.starts.size == 0:
            return np.zeros_like(t)
        lengths = self.ends - self.starts
        cum = np.concatenate(([0.0], np.cumsum(lengths)))
        k = np.searchsorted(self.starts, t, side="right")  # windows started at or before t
        partial = np.zeros_like(t)
        has = k > 0
        idx = k[has] - 1
        partial[has] = np.clip(t[has] - self.starts[idx], 0.0, lengths[idx])
        return cum[np.maximum(k - 1, 0)] * has + partial

    def is_open(self, t: NDArray[np.float64]) -> NDArray[np.bool_]:
        if self.starts.size == 0:
            return np.zeros(t.shape, dtype=np.bool_)
        k = np.searchsorted(self.starts, t, side="right") - 1
        ok = k >= 0
        result = np.zeros(t.shape, dtype=np.bool_)
        result[ok] = t[ok] < self.ends[k[ok]]
        return result


def delivered_windows(events: EventTable, session_end_s: float) -> Delivered:
    """The board's gate windows on session time.

    The board stamps each echo with its own clock (``device_us``); the host stamps it when
    it reads it (``t_s``, later by the serial and polling delay). The board clock is mapped
    onto session time as ``t = offset + rate x device_s``: the rate is the median of the
    slopes between pairs of echoes at least 1 s apart (Theil-Sen: robust to a few late
    reads; kept only within 1 % of 1, the tolerance of an Arduino's resonator), the offset the
    median of ``t_s - rate x device_s`` (so the light times include the typical serial and
    polling delay, a few ms, and a stray late or early stamp cannot move them). Without ``device_us``
    the host receive times are used.
    """
    echo = [e for e in events.events if e.kind in ("board_gate_opened", "board_gate_closed")]
    if not echo:
        return Delivered(np.empty(0), np.empty(0), [], "none")
    device = [e.detail.get("device_us") for e in echo]
    offset: float | None = None
    rate: float | None = None
    if all(isinstance(d, (int, float)) and not isinstance(d, bool) for d in device):
        dev_s = np.array([float(d) for d in device if isinstance(d, (int, float))]) / 1e6
        host_s = np.array([e.t_s for e in echo], dtype=np.float64)
        rate = _median_slope(dev_s, host_s)
        offset = float(np.median(host_s - rate * dev_s))
        times = offset + rate * dev_s
        source = "board echo (board clock)"
        if float(np.percentile(np.abs(host_s - times), 90)) > CLOCK_MISMATCH_S:
            # The board's clock does not follow session time (a mock board on wall time
            # beside a faster-than-real-time source): use the host receive times.
            times, offset, rate = host_s, None, None
            source = "board echo (host receive time; board clock does not follow session time)"
    else:
        times = np.array([e.t_s for e in echo], dtype=np.float64)
        source = "board echo (host receive time)"
    order = np.argsort(times, kind="stable")
    starts: list[float] = []
    ends: list[float] = []
    pulses: list[int | None] = []
    opened: float | None = None
    for i in order:
        event = echo[int(i)]
        t = float(times[int(i)])
        if event.kind == "board_gate_opened":
            if opened is None:
                opened = t
        elif opened is not None:
            starts.append(opened)
            ends.append(max(t, opened))
            count = event.detail.get("pulses")
            pulses.append(int(count) if isinstance(count, (int, float)) else None)
            opened = None
    if opened is not None:  # still open at the end of the record
        starts.append(opened)
        ends.append(max(session_end_s, opened))
        pulses.append(None)
    return Delivered(
        np.array(starts, dtype=np.float64), np.array(ends, dtype=np.float64), pulses, source,
        offset, rate,
    )


def _median_slope(x: NDArray[np.float64], y: NDArray[np.float64]) -> float:
    """Theil-Sen slope of y on x over pairs at least 1 s apart (1.0 when not estimable)."""
    if x.size > 200:
        pick = np.linspace(0, x.size - 1, 200).astype(np.int64)
        x, y = x[pick], y[pick]
    dx = x[None, :] - x[:, None]
    dy = y[None, :] - y[:, None]
    ok = dx > 1.0
    if not ok.any():
        return 1.0
    slope = float(np.median(dy[ok] / dx[ok]))
    return slope if abs(slope - 1.0) < 0.01 else 1.0


# ------------------------------------------------------------------ geometry and rule
@dataclass(frozen=True)
class Geometry:
    """Compartment rectangles in cm (edges inclusive); outside both = neutral."""

    left: tuple[float, float, float, float]  # x_min, x_max, y_min, y_max
    right: tuple[float, float, float, float]

    def zones(self, x: NDArray[np.float64], y: NDArray[np.float64]) -> NDArray[np.str_]:
        """Per frame: left / right / neutral / lost (lost = no finite position)."""
        out = np.full(x.shape, "neutral", dtype="<U7")
        finite = np.isfinite(x) & np.isfinite(y)
        for name, (x0, x1, y0, y1) in (("right", self.right), ("left", self.left)):
            inside = finite & (x >= x0) & (x <= x1) & (y >= y0) & (y <= y1)
            out[inside] = name
        out[~finite] = "lost"
        return out


#: A point this close to a zone's edge is on it (docs/arenas.md, the tie rule).
EDGE_TOLERANCE_CM = 1e-9


@dataclass(frozen=True)
class NamedGeometry:
    """Named zones of any shape (``arena.zones``) recomputed from the copied protocol:
    polygons through shapely, circles by their equation (not the zone engine's code).
    Edges are inside (within ``EDGE_TOLERANCE_CM``); where zones share an edge or overlap
    the zone listed first wins; outside every zone is ``neutral``."""

    names: tuple[str, ...]
    polygons: tuple[Any, ...]  # shapely Polygon, or None for a circle
    circles: tuple[tuple[float, float, float] | None, ...]  # (cx, cy, r)
    stimulated_zones: tuple[str, ...] | None

    def zones(self, x: NDArray[np.float64], y: NDArray[np.float64]) -> NDArray[np.str_]:
        import shapely

        width = max([7, *(len(n) for n in self.names)])
        out = np.full(x.shape, "neutral", dtype=f"<U{width}")
        finite = np.isfinite(x) & np.isfinite(y)
        taken = ~finite
        points = shapely.points(np.where(finite, x, 0.0), np.where(finite, y, 0.0))
        for name, polygon, circle in zip(self.names, self.polygons, self.circles, strict=True):
            if circle is not None:
                cx, cy, r = circle
                inside = np.hypot(x - cx, y - cy) <= r + EDGE_TOLERANCE_CM
            else:
                inside = shapely.dwithin(polygon, points, EDGE_TOLERANCE_CM)
            inside = inside & ~taken
            out[inside] = name
            taken = taken | inside
        out[~finite] = "lost"
        return out

    def lit(self, side: str, swap: bool) -> frozenset[str]:
        """Zones lit in closed loop: ``stimulated_zones`` (left/right exchanged by
        ``swap_sides``) or the zone named like the stimulated side."""
        if self.stimulated_zones is None:
            return frozenset({side})
        if not swap:
            return frozenset(self.stimulated_zones)
        mirror = {"left": "right", "right": "left"}
        return frozenset(mirror.get(z, z) for z in self.stimulated_zones)


def named_geometry_from(protocol: dict[str, Any]) -> NamedGeometry | None:
    """The named zones of the copied protocol; None when it has none or they are unreadable."""
    arena = protocol.get("arena") if isinstance(protocol.get("arena"), dict) else None
    zones = arena.get("zones") if arena is not None else None
    if not isinstance(zones, list) or not zones:
        return None
    import shapely

    assert arena is not None
    names: list[str] = []
    polygons: list[Any] = []
    circles: list[tuple[float, float, float] | None] = []
    try:
        for zone in zones:
            names.append(str(zone["name"]))
            if zone.get("shape") == "circle":
                cx, cy = (float(v) for v in zone["centre_cm"])
                circles.append((cx, cy, float(zone["radius_cm"])))
                polygons.append(None)
            else:
                polygons.append(shapely.Polygon([(float(px), float(py)) for px, py in zone["points_cm"]]))
                circles.append(None)
        stim = arena.get("stimulated_zones")
        stimulated = tuple(str(z) for z in stim) if isinstance(stim, list) else None
    except (KeyError, TypeError, ValueError):
        return None
    return NamedGeometry(tuple(names), tuple(polygons), tuple(circles), stimulated)


def geometry_from(protocol: dict[str, Any], calibration: dict[str, Any]) -> Geometry | None:
    """Compartments from the copied protocol (explicit) or split from the calibration size.

    The split layout (no explicit compartments) is the arena width halved with
    ``neutral_band_cm`` (default 4) centred; positions beyond the outer walls belong to
    the compartment on their side. None when the geometry cannot be known.
    """
    arena = protocol.get("arena") if isinstance(protocol.get("arena"), dict) else None
    if arena is None or arena.get("zones") is not None:
        # Named zones of any shape: ``named_geometry_from`` (never a two-compartment split).
        return None
    comps = arena.get("compartments")
    try:
        if isinstance(comps, dict):
            rects = []
            for side in ("left", "right"):
                r = comps[side]
                rects.append(
                    (float(r["x_min_cm"]), float(r["x_max_cm"]), float(r["y_min_cm"]), float(r["y_max_cm"]))
                )
            return Geometry(rects[0], rects[1])
        width = float(calibration["width_cm"])
        band = float(arena.get("neutral_band_cm", 4.0))
    except (KeyError, TypeError, ValueError):
        return None
    half = min(band, width) / 2.0
    mid = width / 2.0
    inf = math.inf
    return Geometry((-inf, mid - half, -inf, inf), (mid + half, inf, -inf, inf))


@dataclass(frozen=True)
class Rule:
    debounce_s: float
    grace_s: float
    neutral_band: str
    converted_from_frames: bool = False


def rule_from(protocol: dict[str, Any]) -> Rule:
    """Decision settings of the copied protocol; schema 1 converted like the loader does."""
    decision = protocol.get("decision") if isinstance(protocol.get("decision"), dict) else {}
    assert isinstance(decision, dict)
    neutral = str(decision.get("neutral_band", "hold"))
    if protocol.get("schema_version") == 1:
        tracking = protocol.get("tracking") if isinstance(protocol.get("tracking"), dict) else {}
        assert isinstance(tracking, dict)
        fps = float(tracking.get("camera_fps", 30.0) or 30.0)
        n = float(decision.get("debounce_frames", _S1_DEFAULTS["debounce_frames"]))
        g = float(decision.get("tracking_loss_grace_frames", _S1_DEFAULTS["tracking_loss_grace_frames"]))
        return Rule(
            math.floor((n - 1) / fps * 1e6) / 1e6, math.floor(g / fps * 1e6) / 1e6, neutral, True
        )
    return Rule(
        float(decision.get("debounce_s", _S2_DEFAULTS["debounce_s"])),
        float(decision.get("tracking_loss_grace_s", _S2_DEFAULTS["tracking_loss_grace_s"])),
        neutral,
    )


def _phase_settings(
    frames: FrameTable, protocol: dict[str, Any], header: dict[str, Any]
) -> tuple[list[str], list[str], list[dict[str, Any] | None]]:
    """Per phase run: mode, stimulated side (session side + swap_sides), open-loop schedule."""
    by_name: dict[str, dict[str, Any]] = {}
    phases = protocol.get("phases")
    if isinstance(phases, list):
        for p in phases:
            if isinstance(p, dict) and "name" in p:
                by_name[str(p["name"])] = p
    base = header.get("stimulated_side")
    modes: list[str] = []
    sides: list[str] = []
    schedules: list[dict[str, Any] | None] = []
    for name, start, _ in frames.phase_runs():
        spec = by_name.get(name)
        mode = str(spec.get("mode", "off")) if spec else str(frames.mode[start])
        if base in ("left", "right"):
            swap = bool(spec.get("swap_sides", False)) if spec else False
            side = m.other_side(str(base)) if swap else str(base)
        else:
            side = str(frames.stim_side[start])
        modes.append(mode)
        sides.append(side)
        sched = spec.get("schedule") if spec else None
        schedules.append(sched if isinstance(sched, dict) else None)
    return modes, sides, schedules


def _phase_swaps(frames: FrameTable, protocol: dict[str, Any]) -> list[bool]:
    """Per phase run: the phase's ``swap_sides`` (reversal) in the copied protocol."""
    by_name: dict[str, bool] = {}
    phases = protocol.get("phases")
    if isinstance(phases, list):
        for p in phases:
            if isinstance(p, dict) and "name" in p:
                by_name[str(p["name"])] = bool(p.get("swap_sides", False))
    return [by_name.get(name, False) for name, _, _ in frames.phase_runs()]


def expected_light(
    t: NDArray[np.float64],
    zones: NDArray[np.str_],
    runs: list[tuple[str, int, int]],
    modes: list[str],
    sides: list[str],
    schedules: list[dict[str, Any] | None],
    rule: Rule,
    shift_s: float = 0.0,
    lits: list[frozenset[str]] | None = None,
) -> NDArray[np.int8]:
    """The protocol's rule re-run on the positions: 1 on, 0 off per frame.

    Written from the rule's definition (docs/analysis.md), state carried across phases:
    the accepted zone changes to Z at the first frame of an unbroken run in Z at least
    ``debounce_s`` after the run's first frame (lost frames break runs and never change the
    accepted zone); neutral holds the last accepted compartment (``hold``) or is off;
    lost for ``tracking_loss_grace_s`` or longer turns the light off. ``shift_s`` moves both
    thresholds (used to find decisions too close to call). ``lits``: per phase run, the
    zones lit in closed loop (named zones); default: the stimulated side only.
    """
    n = t.size
    out = np.zeros(n, dtype=np.int8)
    debounce = rule.debounce_s + shift_s
    grace = rule.grace_s + shift_s
    eps = 1e-9
    accepted: str | None = None
    last_compartment: str | None = None
    candidate: str | None = None
    candidate_t = 0.0
    lost_t: float | None = None
    for k, (_, start, stop) in enumerate(runs):
        mode, side, schedule = modes[k], sides[k], schedules[k]
        lit = lits[k] if lits is not None else frozenset({side})
        t0 = float(t[start])
        for i in range(start, stop):
            zone = str(zones[i])
            ti = float(t[i])
            if zone == "lost":
                candidate = None
                if lost_t is None:
                    lost_t = ti
            else:
                lost_t = None
                if zone == accepted:
                    candidate = None
                else:
                    if zone != candidate:
                        candidate, candidate_t = zone, ti
                    if ti - candidate_t >= debounce - eps:
                        accepted = zone
                        candidate = None
                        if zone != "neutral":
                            last_compartment = zone
            if mode == "off":
                continue
            if mode == "open_loop":
                if schedule is None:
                    out[i] = ON
                else:
                    on_s = float(schedule.get("on_s", 0.0))
                    off_s = float(schedule.get("off_s", 0.0))
                    start_on = bool(schedule.get("start_on", True))
                    into = (ti - t0) % (on_s + off_s) if on_s + off_s > 0 else 0.0
                    out[i] = ON if ((into < on_s - eps) if start_on else (into >= off_s - eps)) else OFF
                continue
            if lost_t is not None and ti - lost_t >= grace - eps:
                continue
            current = accepted
            if current == "neutral":
                if rule.neutral_band == "off":
                    continue
                current = last_compartment
            out[i] = ON if current in lit else OFF
    return out


# ------------------------------------------------------------------ the report
def _r(value: float | None, digits: int = 4) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return round(float(value), digits)


def _pct(values: list[float]) -> dict[str, Any]:
    if not values:
        return {"n": 0, "p50_ms": None, "p95_ms": None, "max_ms": None}
    arr = np.array(values) * 1000.0
    return {
        "n": len(values),
        "p50_ms": _r(float(np.percentile(arr, 50)), 2),
        "p95_ms": _r(float(np.percentile(arr, 95)), 2),
        "max_ms": _r(float(arr.max()), 2),
    }


def _frequency(protocol: dict[str, Any]) -> float | None:
    stim = protocol.get("stimulation") if isinstance(protocol.get("stimulation"), dict) else {}
    assert isinstance(stim, dict)
    if stim.get("mode", "pulse_train") != "pulse_train":
        return None
    try:
        return float(stim.get("frequency_hz", 20.0))
    except (TypeError, ValueError):
        return None


def fidelity(
    frames: FrameTable,
    events: EventTable,
    header: dict[str, Any],
    protocol: dict[str, Any],
    calibration: dict[str, Any],
) -> dict[str, Any]:
    """Delivered-light metrics per phase and the audit (the ``delivered_light`` section)."""
    n = len(frames)
    end_s = float(frames.t_s[-1]) if n else 0.0
    delivered = delivered_windows(events, end_s)
    geometry: Geometry | NamedGeometry | None = geometry_from(protocol, calibration)
    named = named_geometry_from(protocol)
    if named is not None:
        geometry = named
    result: dict[str, Any] = {
        "light_source": delivered.source,
        "board_clock": {"offset_s": _r(delivered.clock_offset_s, 6), "rate": _r(delivered.clock_rate, 9)},
        "geometry": ("protocol (named zones)" if named is not None else "protocol") if geometry is not None else None,
        "phases": [],
        "audit": None,
    }
    if n == 0:
        return result
    if geometry is None:
        has_zones = isinstance(protocol.get("arena"), dict) and protocol["arena"].get("zones") is not None
        reason = (
            "the named zones (arena.zones) in protocol.yaml cannot be read"
            if has_zones
            else "no arena geometry in the record (protocol.yaml / calibration.yaml missing or invalid)"
        )
        result["audit"] = {"status": "not possible", "reason": reason}
        return result
    zones = geometry.zones(frames.x_cm, frames.y_cm)
    durations = m.frame_durations_s(frames)
    t = frames.t_s
    runs = frames.phase_runs()
    modes, sides, schedules = _phase_settings(frames, protocol, header)
    swaps = _phase_swaps(frames, protocol)
    lits = [
        named.lit(side, swap) if named is not None else frozenset({side})
        for side, swap in zip(sides, swaps, strict=True)
    ]
    rule = rule_from(protocol)
    # Light over each frame's interval [t, t + duration), and the state a frame's decision
    # produced: sampled after the decision's command latency, before the next frame.
    if delivered.known:
        light_s = delivered.open_time_until(t + durations) - delivered.open_time_until(t)
        latency = np.where(np.isfinite(frames.latency_ms), frames.latency_ms / 1000.0, 0.0)
        sample = t + np.minimum(np.maximum(0.75 * durations, latency + 0.001), durations * 0.999)
        light_state = delivered.is_open(sample)
    else:
        light_s = np.zeros(n)
        light_state = np.zeros(n, dtype=np.bool_)
    freq = _frequency(protocol)
    phases_out: list[dict[str, Any]] = []
    stim_lat_all: list[float] = []
    for k, (name, start, stop) in enumerate(runs):
        rows = slice(start, stop)
        side = sides[k]
        lit = lits[k]
        z = zones[rows]
        d = durations[rows]
        ls = light_s[rows]
        in_stim = np.isin(z, sorted(lit))
        # other: located in a zone that is not lit (the other compartment, or unlit zones)
        in_other = (z != "neutral") & (z != "lost") & ~in_stim
        phase_t0 = float(t[start])
        phase_t1 = float(t[runs[k + 1][1]]) if k + 1 < len(runs) else end_s + float(d[-1])
        in_phase = (delivered.starts >= phase_t0) & (delivered.starts < phase_t1)
        reported = [delivered.pulses[i] for i in np.flatnonzero(in_phase)]
        pulses = None if any(p is None for p in reported) or not delivered.known else int(sum(p for p in reported if p is not None))
        # entry -> first delivered pulse (closed loop): pulses at window start + j / f
        latencies: list[float] = []
        without_pulse = 0
        if modes[k] == "closed_loop" and delivered.known:
            located = np.flatnonzero(z != "lost")
            previous: str | None = None
            entries: list[int] = []
            for i in located:
                zone = str(z[i])
                if zone in lit and previous is not None and previous not in lit:
                    entries.append(int(i))
                previous = zone
            for entry in entries:
                te = float(t[start + entry])
                # visit ends at the next located frame outside the stimulated side
                after = located[located > entry]
                outside = after[~np.isin(z[after], sorted(lit))]
                t_exit = float(t[start + outside[0]]) if outside.size else phase_t1
                first = _first_pulse_after(delivered, te, t_exit, freq)
                if first is None:
                    without_pulse += 1
                else:
                    latencies.append(first - te)
        stim_lat_all.extend(latencies)
        stim_time = float(d[in_stim].sum())
        light_stim = float(ls[in_stim].sum())
        phases_out.append(
            {
                "phase": name,
                "mode": modes[k],
                "stim_side": side,
                **({"lit_zones": sorted(lit)} if named is not None else {}),
                "light_s": {
                    "stim": _r(light_stim) if delivered.known else None,
                    "neutral": _r(float(ls[z == "neutral"].sum())) if delivered.known else None,
                    "other": _r(float(ls[in_other].sum())) if delivered.known else None,
                    "lost": _r(float(ls[z == "lost"].sum())) if delivered.known else None,
                    "total": _r(float(ls.sum())) if delivered.known else None,
                },
                "stim_without_light_s": _r(stim_time - light_stim) if delivered.known else None,
                "stim_s": _r(stim_time),
                "pulses_delivered": pulses,
                "entry_to_first_pulse": {**_pct(latencies), "entries_without_pulse": without_pulse},
            }
        )
    result["phases"] = phases_out
    result["entry_to_first_pulse"] = _pct(stim_lat_all)
    # the audit: rule from positions vs delivered light
    expected = expected_light(t, zones, runs, modes, sides, schedules, rule, lits=lits)
    early = expected_light(t, zones, runs, modes, sides, schedules, rule, -TIME_TOLERANCE_S, lits)
    late = expected_light(t, zones, runs, modes, sides, schedules, rule, TIME_TOLERANCE_S, lits)
    judged = (early == expected) & (late == expected)
    windows = m.safety_off_windows(list(events.events), end_s)
    for w0, w1 in windows:  # a safety limit turns the light off whatever the rule
        inside = (t >= w0) & (t < w1)
        expected[inside] = OFF
        judged[np.abs(t - w0) <= durations] = False
    faults = [e.t_s for e in events.events if e.kind in ("board_watchdog", "board_cap", "board_interlock")]
    for tf in faults:
        judged[t >= tf] = False  # the board overrode the host from here on
    if not delivered.known:
        result["audit"] = {
            "status": "not possible",
            "reason": "no board echo in events.csv: what was delivered is unknown",
        }
        return result
    on_wrong = judged & light_state & (expected == OFF)
    off_wrong = judged & ~light_state & (expected == ON)
    wrong = on_wrong | off_wrong
    result["audit"] = {
        "status": "fail" if wrong.any() else "pass",
        "frames_judged": int(judged.sum()),
        "frames_not_judged": int((~judged).sum()),
        "frames_light_on_rule_off": int(on_wrong.sum()),
        "frames_light_off_rule_on": int(off_wrong.sum()),
        "seconds_light_on_rule_off": _r(float(durations[on_wrong].sum())),
        "seconds_light_off_rule_on": _r(float(durations[off_wrong].sum())),
        "first_mismatch_frames": [int(frames.frame[i]) for i in np.flatnonzero(wrong)[:10]],
        "match_fraction": _r(1.0 - float(wrong.sum()) / float(judged.sum())) if judged.any() else None,
        "rule": {
            "debounce_s": rule.debounce_s,
            "tracking_loss_grace_s": rule.grace_s,
            "neutral_band": rule.neutral_band,
            "converted_from_frames": rule.converted_from_frames,
        },
    }
    return result


def _first_pulse_after(
    delivered: Delivered, t_entry: float, t_exit: float, freq: float | None
) -> float | None:
    """Time of the first delivered pulse (or continuous light onset) in [t_entry, t_exit)."""
    k = int(np.searchsorted(delivered.ends, t_entry, side="right"))
    while k < delivered.starts.size and delivered.starts[k] < t_exit:
        s, e = float(delivered.starts[k]), float(delivered.ends[k])
        if freq is None or freq <= 0:
            onset = max(s, t_entry)
        else:
            period = 1.0 / freq
            j = max(0, math.ceil((t_entry - s) / period - 1e-9))
            onset = s + j * period
        if onset < min(e, t_exit):
            return onset
        k += 1
    return None
