"""The session summary: per-phase metrics computed from frames.csv and events.csv only.

The engine calls :func:`write_summary` at every session end and ``rig report`` calls it
again for a crashed session (truncated frames.csv, no summary.json, ``end_reason`` null).
It is light on purpose: numpy, csv and json (and PyYAML for the optional protocol
refinements); no matplotlib, scipy or Qt.

Definitions of every number: ``docs/analysis.md``.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from rig import __version__
from rig.fileio import write_json_atomic
from rig.analysis import metrics as m
from rig.analysis.records import (
    EventTable,
    FrameTable,
    RecordError,
    read_events,
    read_frames,
    read_protocol_dict,
    read_session_header,
)

SUMMARY_FORMAT = "optorig-summary"
SUMMARY_SCHEMA_VERSION = 1


def _round(value: float | None, digits: int = 4) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return round(float(value), digits)


def _pct(part: float, whole: float) -> float | None:
    return _round(100.0 * part / whole) if whole > 0 else None


def _follow_rule(protocol: dict[str, Any]) -> m.FollowRule:
    decision = protocol.get("decision") if isinstance(protocol.get("decision"), dict) else {}
    assert isinstance(decision, dict)
    defaults = m.FollowRule()

    def pick(key: str, default: Any, kind: type) -> Any:
        value = decision.get(key, default)
        return value if isinstance(value, kind) and not isinstance(value, bool) else default

    return m.FollowRule(
        debounce_frames=pick("debounce_frames", defaults.debounce_frames, int),
        tracking_loss_grace_frames=pick(
            "tracking_loss_grace_frames", defaults.tracking_loss_grace_frames, int
        ),
        neutral_band=pick("neutral_band", defaults.neutral_band, str),
        light_zones=_light_zones(protocol),
    )


def _arena(protocol: dict[str, Any]) -> dict[str, Any]:
    arena = protocol.get("arena")
    return arena if isinstance(arena, dict) else {}


def _light_zones(protocol: dict[str, Any]) -> frozenset[str] | None:
    names = _arena(protocol).get("stimulated_zones")
    if isinstance(names, list) and all(isinstance(n, str) for n in names):
        return frozenset(names)
    return None


def _declared_zones(protocol: dict[str, Any]) -> tuple[str, ...]:
    """Zone names from the protocol's ``arena.zones`` (empty for the two-compartment
    layouts, whose zones are left and right)."""
    zones = _arena(protocol).get("zones")
    if not isinstance(zones, list):
        return ("left", "right")
    return tuple(str(z["name"]) for z in zones if isinstance(z, dict) and "name" in z)


def _schedules(protocol: dict[str, Any]) -> dict[str, m.OpenLoopSchedule | None] | None:
    phases = protocol.get("phases")
    if not isinstance(phases, list):
        return None
    schedules: dict[str, m.OpenLoopSchedule | None] = {}
    for phase in phases:
        if not isinstance(phase, dict) or phase.get("mode") != "open_loop":
            continue
        schedule = phase.get("schedule")
        if isinstance(schedule, dict):
            try:
                schedules[str(phase.get("name"))] = m.OpenLoopSchedule(
                    on_s=float(schedule["on_s"]),
                    off_s=float(schedule["off_s"]),
                    start_on=bool(schedule.get("start_on", True)),
                )
            except (KeyError, TypeError, ValueError):
                continue
        else:
            schedules[str(phase.get("name"))] = None
    return schedules


def _phase_bounds(frames: FrameTable) -> list[tuple[str, int, int, float, float]]:
    """(name, start row, stop row, start s, end s) per phase run; end is the next start."""
    runs = frames.phase_runs()
    bounds = []
    for k, (name, start, stop) in enumerate(runs):
        t_start = float(frames.t_s[start])
        t_end = float(frames.t_s[runs[k + 1][1]]) if k + 1 < len(runs) else math.inf
        bounds.append((name, start, stop, t_start, t_end))
    return bounds


def _planned_vs_actual(
    header: dict[str, Any], phases: list[dict[str, Any]], interval_s: float
) -> list[dict[str, Any]]:
    """Per planned phase (session.json ``phases``): planned_s, actual_s (time covered by
    its frames) and whether it ran in full (within 1.5 frame intervals)."""
    plan = header.get("phases")
    if not isinstance(plan, list):
        return []
    tolerance_s = 1.5 * interval_s if math.isfinite(interval_s) and interval_s > 0 else 0.1
    out: list[dict[str, Any]] = []
    for item in plan:
        if not isinstance(item, dict):
            continue
        try:
            name = str(item["name"])
            planned_s = float(item["end_s"]) - float(item["start_s"])
        except (KeyError, TypeError, ValueError):
            continue
        ran = next((p for p in phases if p["phase"] == name), None)
        actual_s = float(ran["duration_s"] or 0.0) if ran else 0.0
        out.append(
            {
                "phase": name,
                "planned_s": _round(planned_s),
                "actual_s": _round(actual_s),
                "ran_in_full": actual_s >= planned_s - tolerance_s,
            }
        )
    return out


def compute_summary_from(
    frames: FrameTable,
    events: EventTable,
    header: dict[str, Any] | None = None,
    protocol: dict[str, Any] | None = None,
    calibration: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The summary dict from already-read records (see :func:`compute_summary`)."""
    header = header or {}
    protocol = protocol or {}
    from rig.analysis.fidelity import fidelity

    delivered = fidelity(frames, events, header, protocol, calibration or {})
    n = len(frames)
    durations = m.frame_durations_s(frames)
    rule = _follow_rule(protocol)
    labels = m.stim_labels(frames, rule.light_zones)
    trans = m.transitions(frames)
    zone_entry = m.zone_entries(frames)
    names = m.zone_names(frames, _declared_zones(protocol))
    steps = m.step_lengths_cm(frames)
    schedules = _schedules(protocol)
    session_end_s = float(frames.t_s[-1]) if n else 0.0
    windows = m.safety_off_windows(list(events.events), session_end_s)
    expected = m.follow_expectation(frames, rule, schedules, windows)
    from rig.analysis.fidelity import rule_from

    debounced = m.debounced_zones(frames.zone.tolist(), frames.t_s, rule_from(protocol).debounce_s)
    immobile = m.immobile_flags(frames)
    safety_events = events.of_kind(*m.SAFETY_EVENT_KINDS)

    phases: list[dict[str, Any]] = []
    previous_dropped = 0
    bounds = _phase_bounds(frames)
    for k, (name, start, stop, t_start, t_end) in enumerate(bounds):
        rows = slice(start, stop)
        d = durations[rows]
        lab = labels[rows]
        total = float(d.sum())
        time_s = {key: float(d[lab == key].sum()) for key in ("stim", "nonstim", "neutral", "lost")}
        stim_side = str(frames.stim_side[start])
        mode = str(frames.mode[start])
        zone = frames.zone[rows]
        # Same as trans.entry for left/right layouts; also counts entries into named zones.
        entry = zone_entry[rows]
        in_stim = lab == "stim"
        in_nonstim = lab == "nonstim"
        # latency to the first entry, from the first moment outside the stimulated side
        located = np.flatnonzero(zone != "lost")
        started_inside = bool(located.size) and bool(in_stim[located[0]])
        outside = located[~in_stim[located]]
        latency = None
        if outside.size:
            t_out = float(frames.t_s[start + outside[0]]) if started_inside else t_start
            after = located[(located > outside[0]) & in_stim[located]]
            if after.size:
                latency = float(frames.t_s[start + after[0]]) - t_out
        accepted = debounced[start:stop]
        deb_stim = deb_non = 0
        previous_accepted = debounced[start - 1] if start > 0 else None
        for value in accepted:
            if value != previous_accepted and value not in (None, "neutral", "lost") and previous_accepted is not None:
                lit = value in rule.light_zones if rule.light_zones is not None else value == stim_side
                if lit:
                    deb_stim += 1
                elif rule.light_zones is not None or value == m.other_side(stim_side):
                    deb_non += 1
            previous_accepted = value
        motor: dict[str, dict[str, float | None]] = {"speed_cm_s": {}, "immobile_pct": {}}
        for key, mask in (("stim", in_stim), ("nonstim", in_nonstim)):
            t_in = float(d[mask].sum())
            motor["speed_cm_s"][key] = _round(float(steps[rows][mask].sum()) / t_in) if t_in > 0 else None
            motor["immobile_pct"][key] = _pct(float(d[mask & immobile[rows]].sum()), t_in)
        distance = float(steps[rows].sum())
        both = time_s["stim"] + time_s["nonstim"]
        if k == 0:
            in_phase = [e for e in safety_events if e.t_s < t_end]
        else:
            in_phase = [e for e in safety_events if t_start <= e.t_s < t_end]
        dropped_end = int(frames.dropped[stop - 1])
        visits_stim = int((entry & in_stim).sum())
        visits_nonstim = int((entry & in_nonstim).sum())
        follow = m.follow_counts(expected[rows], frames.laser_on[rows])
        per_zone = {
            z: {
                "time_s": _round(float(d[zone == z].sum())),
                "time_pct": _pct(float(d[zone == z].sum()), total),
                "entries": int((zone_entry[rows] & (zone == z)).sum()),
            }
            for z in names
        }
        phases.append(
            {
                "phase": name,
                "mode": mode,
                "stim_side": stim_side,
                "start_s": _round(t_start),
                "duration_s": _round(total),
                "frames": stop - start,
                "time_s": {key: _round(v) for key, v in time_s.items()},
                "time_pct": {key: _pct(v, total) for key, v in time_s.items()},
                "preference_index": _round((time_s["stim"] - time_s["nonstim"]) / both)
                if both > 0
                else None,
                "entries": {"stim": visits_stim, "nonstim": visits_nonstim},
                "entries_debounced": {"stim": deb_stim, "nonstim": deb_non},
                "started_inside": started_inside,
                "mean_stim_visit_s": _round(time_s["stim"] / (visits_stim + int(started_inside)))
                if visits_stim + int(started_inside) > 0
                else None,
                **motor,
                "crossings": int(trans.crossing[rows].sum()),
                "latency_to_stim_s": _round(latency),
                "distance_cm": _round(distance),
                "mean_speed_cm_s": _round(distance / total) if total > 0 else None,
                "laser_on_s": _round(float(d[frames.laser_on[rows]].sum())),
                "safety_events": len(in_phase),
                "lost_tracking_pct": _pct(float((zone == "lost").sum()), float(stop - start)),
                "dropped_frames": max(0, dropped_end - previous_dropped),
                "laser_follow_match_fraction": _round(follow["match_fraction"]),
                "zones": per_zone,
            }
        )
        previous_dropped = dropped_end

    follow_all = m.follow_counts(expected, frames.laser_on)
    latency_ms = m.percentiles_ms(frames.latency_ms)
    end_reason = header.get("end_reason")
    if end_reason is None:
        ends = events.of_kind("session_end")
        if ends:
            reason = ends[-1].detail.get("reason")
            end_reason = str(reason) if reason is not None else None
    interval_s = m.median_interval_s(frames.t_s) if n > 1 else math.nan
    planned = _planned_vs_actual(header, phases, interval_s)
    missing = [p for p in planned if not p["ran_in_full"]]
    for phase_entry in phases:
        match = next((p for p in planned if p["phase"] == phase_entry["phase"]), None)
        phase_entry["planned_s"] = match["planned_s"] if match else None
        phase_entry["actual_s"] = phase_entry["duration_s"]
    # Complete means: the protocol's end was reached, every planned phase ran its planned
    # length, and no row was torn. Anything less is said (``incomplete``), never implied.
    complete = (
        end_reason == "completed" and frames.torn_rows == 0 and events.torn_rows == 0
        and not missing
    )
    incomplete: list[str] = []
    if end_reason is None:
        incomplete.append("no end reason recorded (the session was cut short)")
    elif end_reason != "completed":
        incomplete.append(f"ended {end_reason}")
    incomplete += [
        f"{p['phase']}: ran {p['actual_s'] or 0:.1f} of {p['planned_s']:.1f} s" for p in missing
    ]
    if frames.torn_rows or events.torn_rows:
        incomplete.append("torn last row ignored")

    baseline = next((p for p in phases if p["mode"] == "off"), None)
    test = next((p for p in phases if p["mode"] == "closed_loop"), None)
    difference = None
    if baseline and test:
        b = baseline["time_pct"]["stim"]
        t = test["time_pct"]["stim"]
        difference = _round(t - b) if b is not None and t is not None else None
    bias_pct = None
    bias_side = None
    if baseline is not None:
        stim_s = baseline["time_s"]["stim"] or 0.0
        nonstim_s = baseline["time_s"]["nonstim"] or 0.0
        if stim_s + nonstim_s > 0:
            bias_pct = _round(100.0 * max(stim_s, nonstim_s) / (stim_s + nonstim_s))
            preferred = "stim" if stim_s >= nonstim_s else "nonstim"
            side = baseline["stim_side"]
            bias_side = side if preferred == "stim" else m.other_side(side)

    protocol_header = header.get("protocol") if isinstance(header.get("protocol"), dict) else {}
    assert isinstance(protocol_header, dict)
    return {
        "format": SUMMARY_FORMAT,
        "schema_version": SUMMARY_SCHEMA_VERSION,
        "computed_by": f"optorig {__version__}",
        "animal_id": header.get("animal_id"),
        "protocol": protocol_header.get("name"),
        "started_at": header.get("started_at"),
        "complete": complete,
        "end_reason": end_reason,
        "incomplete": incomplete,
        "planned_s": _round(sum(p["planned_s"] for p in planned)) if planned else None,
        "planned_phases": planned,
        "frames": n,
        "duration_s": _round(float(durations.sum())),
        "median_frame_interval_s": _round(m.median_interval_s(frames.t_s), 6),
        "torn_rows": {"frames": frames.torn_rows, "events": events.torn_rows},
        "dropped_frames": int(frames.dropped[-1]) if n else 0,
        "phases": phases,
        "baseline_phase": baseline["phase"] if baseline else None,
        "test_phase": test["phase"] if test else None,
        "difference_score_pct": difference,
        "baseline_side_bias_pct": bias_pct,
        "baseline_preferred_side": bias_side,
        "laser_follow": {
            **{k: (_round(v) if k == "match_fraction" else v) for k, v in follow_all.items()},
            "rule": {
                "debounce_frames": rule.debounce_frames,
                "tracking_loss_grace_frames": rule.tracking_loss_grace_frames,
                "neutral_band": rule.neutral_band,
                "open_loop_checked": schedules is not None,
            },
            "latency_ms": {k: _round(v, 3) if isinstance(v, float) else v for k, v in latency_ms.items()},
        },
        "delivered_light": delivered,
        "protocol_conversion": header.get("protocol_conversion") or [],
    }


def compute_summary(session_dir: Path) -> dict[str, Any]:
    """Summary of one session folder, from frames.csv and events.csv only.

    Works on a crashed session: a torn last line of either CSV is ignored, summary.json
    need not exist, and ``end_reason`` may be null (then ``complete`` is false).
    Raises RecordError (naming the file, line and column) on a corrupt record.
    """
    frames, events, header, protocol = read_record(session_dir)
    summary = compute_summary_from(
        frames, events, header, protocol, calibration=read_calibration_dict(session_dir)
    )
    return add_record_sections(summary, session_dir, events, header)


def add_record_sections(
    summary: dict[str, Any], session_dir: Path, events: EventTable, header: dict[str, Any]
) -> dict[str, Any]:
    """Add the ``camera`` and ``latency_test`` sections (every writer of summary.json calls
    this, so ``rig report`` never rewrites it without them)."""
    from rig.analysis.camera_stats import camera_summary

    summary["camera"] = camera_summary(Path(session_dir) / "frames.csv")
    summary["latency_test"] = latency_test_summary(events, header)
    # the board's camera trigger: triggers sent, frames received, missed (session.json)
    trigger = header.get("trigger")
    summary["trigger"] = dict(trigger) if isinstance(trigger, dict) else None
    return summary


def latency_test_summary(events: EventTable, header: dict[str, Any]) -> dict[str, Any] | None:
    """The camera-to-light self-test of a session from its ``led_*`` events, or None when
    the session did not run it. Definitions: rig/session/latency.py, docs/cameras.md."""
    settings = header.get("latency_test")
    started = events.of_kind("latency_test_start")
    if not settings and not started:
        return None
    measured = events.of_kind("led_latency")

    def values(key: str) -> list[float]:
        out = []
        for event in measured:
            value = event.detail.get(key)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                out.append(float(value))
        return out

    from rig.session.latency import latency_stats

    return {
        "flashes": len(measured) + len(events.of_kind("led_missed")),
        "seen": len(measured),
        "missed": len(events.of_kind("led_missed")),
        "unexpected": len(events.of_kind("led_unexpected")),
        "unsettled_at_end": len(events.of_kind("led_unsettled")),
        "clock": started[0].detail.get("clock") if started else None,
        "led_to_frame_ms": latency_stats(values("led_to_frame_ms")),
        "frame_to_decision_ms": latency_stats(values("frame_to_decision_ms")),
        "led_to_decision_ms": latency_stats(values("led_to_decision_ms")),
        "led_roi": settings.get("led_roi") if isinstance(settings, dict) else None,
    }


def read_calibration_dict(session_dir: Path) -> dict[str, Any]:
    """The copied calibration.yaml as a dict ({} when missing or unreadable)."""
    path = Path(session_dir) / "calibration.yaml"
    if not path.exists():
        return {}
    try:
        from rig.analysis.records import load_yaml_text

        data = load_yaml_text(path.read_text(encoding="utf-8"))
    except Exception:  # noqa: BLE001 - optional refinement; the audit says "not possible"
        return {}
    return data if isinstance(data, dict) else {}


def read_record(
    session_dir: Path,
) -> tuple[FrameTable, EventTable, dict[str, Any], dict[str, Any]]:
    """(frames, events, header, protocol) of a session folder, read tolerantly."""
    session_dir = Path(session_dir)
    if not session_dir.is_dir():
        raise RecordError(f"{session_dir}: not a session folder (no such directory)")
    header = read_session_header(session_dir)
    frames = read_frames(session_dir / "frames.csv")
    events = read_events(session_dir / "events.csv")
    protocol = read_protocol_dict(session_dir)
    return frames, events, header, protocol


def write_summary(session_dir: Path) -> dict[str, Any]:
    """Compute the summary and write ``summary.json`` atomically; return the summary.

    summary.json is derived data: it is the one file analysis rewrites (atomically).
    """
    summary = compute_summary(session_dir)
    write_json_atomic(Path(session_dir) / "summary.json", summary, allow_nan=False)
    return summary


def _fmt(value: Any, spec: str = ".1f", none: str = "-") -> str:
    if value is None:
        return none
    if isinstance(value, float):
        return format(value, spec)
    return str(value)


def format_camera(camera: Any) -> str:
    """One line for the camera section: measured fps, camera drops vs engine drops."""
    if not isinstance(camera, dict):
        return ""
    fps = camera.get("measured_fps")
    clock = "camera clock" if camera.get("clock") == "camera" else "source time"
    cam_drops = camera.get("camera_dropped")
    cam_text = "unknown (no frame IDs)" if cam_drops is None else str(cam_drops)
    monotonic = camera.get("timestamps_monotonic")
    mono_text = "" if monotonic is None else ("" if monotonic else "; timestamps NOT monotonic")
    return (
        f"camera: {_fmt(fps, '.2f')} fps measured ({clock}); frames lost by the camera/link "
        f"{cam_text}, skipped by the engine {camera.get('engine_dropped', 0)}{mono_text}"
    )


def format_latency_test(test: Any) -> str:
    """One line for the camera-to-light self-test ('' when the session did not run it)."""
    if not isinstance(test, dict):
        return ""

    def pair(key: str) -> str:
        stats = test.get(key) if isinstance(test.get(key), dict) else {}
        assert isinstance(stats, dict)
        return f"p50 {_fmt(stats.get('p50'))} / p99 {_fmt(stats.get('p99'))} ms"

    return (
        f"LED latency test: {test.get('seen', 0)} of {test.get('flashes', 0)} flashes seen "
        f"({test.get('missed', 0)} missed, {test.get('unexpected', 0)} unexpected); "
        f"LED->frame {pair('led_to_frame_ms')}, frame->decision {pair('frame_to_decision_ms')}, "
        f"LED->decision {pair('led_to_decision_ms')}"
    )


def format_summary_table(summary: dict[str, Any]) -> str:
    """A compact fixed-width table for the terminal: one row per phase, plus laser follow."""
    columns = [
        ("phase", 12, "<"),
        ("mode", 11, "<"),
        ("stim", 5, "<"),
        ("stim s", 8, ">"),
        ("non s", 8, ">"),
        ("neut s", 7, ">"),
        ("stim%", 6, ">"),
        ("non%", 6, ">"),
        ("neut%", 6, ">"),
        ("PI", 6, ">"),
        ("ent s/n", 8, ">"),
        ("cross", 5, ">"),
        ("laser s", 8, ">"),
        ("lost%", 6, ">"),
    ]
    head = " ".join(f"{name:{align}{width}}" for name, width, align in columns)
    lines = [head, "-" * len(head)]
    for p in summary.get("phases", []):
        ts, tp = p["time_s"], p["time_pct"]
        cells = [
            str(p["phase"])[:12],
            p["mode"],
            p["stim_side"],
            _fmt(ts["stim"]),
            _fmt(ts["nonstim"]),
            _fmt(ts["neutral"]),
            _fmt(tp["stim"]),
            _fmt(tp["nonstim"]),
            _fmt(tp["neutral"]),
            _fmt(p["preference_index"], "+.2f"),
            f"{p['entries']['stim']}/{p['entries']['nonstim']}",
            str(p["crossings"]),
            _fmt(p["laser_on_s"]),
            _fmt(p["lost_tracking_pct"]),
        ]
        lines.append(
            " ".join(f"{c:{align}{width}}" for c, (_, width, align) in zip(cells, columns, strict=True))
        )
    if not summary.get("phases"):
        lines.append("(no frames recorded)")
    zone_keys = list(summary["phases"][0].get("zones", {})) if summary.get("phases") else []
    if zone_keys and zone_keys != ["left", "right"]:
        lines.append("time s (entries) per zone:")
        for p in summary["phases"]:
            cells = [
                f"{z} {_fmt(v['time_s'])} ({v['entries']})" for z, v in p.get("zones", {}).items()
            ]
            lines.append(f"  {str(p['phase'])[:12]:<12} " + "  ".join(cells))
    follow = summary.get("laser_follow", {})
    lat = follow.get("latency_ms", {})
    match = follow.get("match_fraction")
    match_text = f"{100 * match:.1f} %" if isinstance(match, (int, float)) else "n/a"
    lines.append(
        f"laser follow: {match_text} of {follow.get('frames_checked', 0)} frames match the rule"
        f" ({follow.get('frames_transition', 0)} in debounce/grace windows not checked);"
        f" latency p50 {_fmt(lat.get('p50'), '.1f')} ms, p99 {_fmt(lat.get('p99'), '.1f')} ms"
    )
    extras = []
    if summary.get("difference_score_pct") is not None:
        extras.append(f"difference score (test - baseline stim %): {summary['difference_score_pct']:+.1f}")
    safety = sum(p["safety_events"] for p in summary.get("phases", []))
    extras.append(f"safety events: {safety}")
    extras.append(f"dropped frames: {summary.get('dropped_frames', 0)}")
    camera_line = format_camera(summary.get("camera"))
    if camera_line:
        lines.append(camera_line)
    latency_line = format_latency_test(summary.get("latency_test"))
    if latency_line:
        lines.append(latency_line)
    trigger = summary.get("trigger")
    if isinstance(trigger, dict):
        lines.append(
            f"camera trigger from the board: {trigger.get('triggers_sent')} sent at {_fmt(trigger.get('fps'), 'g')} fps, "
            f"{trigger.get('frames_received')} frames received, {trigger.get('triggers_missed')} missed by the camera"
        )
    lines.append("; ".join(extras))
    if not summary.get("complete", False):
        lines.append(incomplete_text(summary))
    lines.extend(format_delivered(summary))
    return "\n".join(lines)


def incomplete_text(summary: dict[str, Any]) -> str:
    """One line for an incomplete session: ``INCOMPLETE: ended source_ended; test: ran
    0.0 of 1200.0 s; ...`` (CLI, GUI and report use the same words)."""
    reasons = summary.get("incomplete") or []
    if not reasons:
        reasons = [f"ended {summary.get('end_reason') or 'without an end reason'}"]
    return "INCOMPLETE: " + "; ".join(str(r) for r in reasons)


def format_delivered(summary: dict[str, Any]) -> list[str]:
    """Lines on the delivered light (board echo) and the laser-follow audit."""
    delivered = summary.get("delivered_light") or {}
    lines = [f"delivered light ({delivered.get('light_source', 'none')}):"]
    for p in delivered.get("phases", []):
        if p["mode"] == "off" and not (p["light_s"]["total"] or 0):
            continue
        ls = p["light_s"]
        lat = p["entry_to_first_pulse"]
        lines.append(
            f"  {p['phase']}: light {_fmt(ls['stim'])} s in stim, {_fmt(ls['neutral'])} s neutral, "
            f"{_fmt(ls['other'])} s other side, {_fmt(ls['lost'])} s lost; stim without light "
            f"{_fmt(p['stim_without_light_s'])} s; pulses {_fmt(p['pulses_delivered'])}; "
            f"entry->first pulse p50 {_fmt(lat['p50_ms'])} ms (n {lat['n']}, "
            f"{lat['entries_without_pulse']} without)"
        )
    audit = delivered.get("audit") or {}
    if audit.get("status") in ("pass", "fail"):
        word = "PASS" if audit["status"] == "pass" else "FAIL"
        lines.append(
            f"laser-follow audit (rule recomputed from positions vs delivered light): {word}: "
            f"{audit['frames_light_on_rule_off']} frames light on where the positions say off, "
            f"{audit['frames_light_off_rule_on']} frames off where they say on, of "
            f"{audit['frames_judged']} judged"
        )
    elif audit:
        lines.append(f"laser-follow audit: not possible: {audit.get('reason')}")
    return lines
