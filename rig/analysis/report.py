"""``rig report``: a self-contained HTML report (plus PNG/PDF figures) of one session.

Reads only the session folder. Writes a new folder (``report/``, or ``report-2/``... when
that exists; never overwrites) and rewrites the derived ``summary.json`` atomically.
Definitions: ``docs/analysis.md``.
"""

from __future__ import annotations

import base64
import csv
import html
import io
import math
from dataclasses import dataclass, field
from pathlib import Path
from collections.abc import Callable
from typing import Any

import numpy as np

from rig.analysis import metrics as m
from rig.analysis.plots import (
    ArenaGeometry,
    entry_delay_figure,
    laser_raster_figure,
    latency_histogram_figure,
    occupancy_figure,
    phase_bars_figure,
    stim_time_bins_figure,
    trajectory_figure,
)
from rig.analysis.records import (
    EventTable,
    FrameTable,
    load_yaml_text,
)
from rig.analysis.summary import (
    _follow_rule,
    _schedules,
    add_record_sections,
    compute_summary_from,
    read_calibration_dict,
    read_record,
)
from rig.fileio import write_json_atomic
from rig.errors import ConfigError
from rig.progress import ProgressFn, no_progress

DEFAULT_BIAS_THRESHOLD = 0.65


@dataclass(frozen=True)
class GateWindows:
    """Laser gate-open intervals [start_s, end_s) and where they come from."""

    windows: list[tuple[float, float]]
    source: str  # "board echo", "commanded (events.csv)", "commanded (frames.csv)"
    pulses: list[int | None] = field(default_factory=list)  # per window, from the echo


def gate_windows(frames: FrameTable, events: EventTable) -> GateWindows:
    """Gate windows from the board's echo, else the commanded laser_on/off events, else frames."""
    end_s = float(frames.t_s[-1]) if len(frames) else 0.0
    for open_kind, close_kind, source in (
        ("board_gate_opened", "board_gate_closed", "board echo"),
        ("laser_on", "laser_off", "commanded (events.csv)"),
    ):
        relevant = events.of_kind(open_kind, close_kind)
        if not relevant:
            continue
        windows: list[tuple[float, float]] = []
        pulses: list[int | None] = []
        opened: float | None = None
        for event in sorted(relevant, key=lambda e: e.t_s):
            if event.kind == open_kind and opened is None:
                opened = event.t_s
            elif event.kind == close_kind and opened is not None:
                windows.append((opened, event.t_s))
                count = event.detail.get("pulses")
                pulses.append(int(count) if isinstance(count, (int, float)) else None)
                opened = None
        if opened is not None:
            windows.append((opened, max(end_s, opened)))
            pulses.append(None)
        return GateWindows(windows, source, pulses)
    windows = []
    on = frames.laser_on
    durations = m.frame_durations_s(frames)
    i = 0
    n = len(frames)
    while i < n:
        if on[i]:
            j = i
            while j + 1 < n and on[j + 1]:
                j += 1
            windows.append((float(frames.t_s[i]), float(frames.t_s[j] + durations[j])))
            i = j + 1
        else:
            i += 1
    return GateWindows(windows, "commanded (frames.csv)", [None] * len(windows))


def _inside(windows: list[tuple[float, float]], t: np.ndarray) -> np.ndarray:
    result = np.zeros(t.shape, dtype=np.bool_)
    for w0, w1 in windows:
        result |= (t >= w0) & (t < w1)
    return result


def load_geometry(session_dir: Path, frames: FrameTable) -> ArenaGeometry:
    """Arena size and compartments from the copied protocol.yaml + calibration.yaml.

    Falls back to the extent of the tracked positions (labelled as such) when those
    files are missing or invalid, so a damaged folder still gets a report.
    """
    import yaml

    from rig.calibration import ArenaCalibration
    from rig.protocol.migrate import as_schema2
    from rig.protocol.models import Protocol

    try:
        protocol = Protocol.model_validate(
            as_schema2(load_yaml_text((session_dir / "protocol.yaml").read_text(encoding="utf-8")))
        )
        calibration = ArenaCalibration.model_validate(
            load_yaml_text((session_dir / "calibration.yaml").read_text(encoding="utf-8"))
        )
    except (OSError, ValueError, yaml.YAMLError, TypeError):
        protocol = None
        calibration = None
    if protocol is not None and calibration is not None:
        width, length = calibration.width_cm, calibration.length_cm
        if protocol.arena.compartments is not None:
            c = protocol.arena.compartments
            left = (c.left.x_min_cm, c.left.x_max_cm, c.left.y_min_cm, c.left.y_max_cm)
            right = (c.right.x_min_cm, c.right.x_max_cm, c.right.y_min_cm, c.right.y_max_cm)
        else:
            half_band = protocol.arena.neutral_band_cm / 2
            left = (0.0, width / 2 - half_band, 0.0, length)
            right = (width / 2 + half_band, width, 0.0, length)
        return ArenaGeometry(width, length, left, right)
    x = frames.x_cm[np.isfinite(frames.x_cm)]
    y = frames.y_cm[np.isfinite(frames.y_cm)]
    width = float(x.max()) if x.size else 1.0
    length = float(y.max()) if y.size else 1.0
    return ArenaGeometry(
        width, length, (0.0, width / 2, 0.0, length), (width / 2, width, 0.0, length),
        source="tracked extent (protocol/calibration missing or invalid)",
    )


def _frequency_hz(protocol: dict[str, Any]) -> tuple[float, str]:
    stim = protocol.get("stimulation") if isinstance(protocol.get("stimulation"), dict) else {}
    assert isinstance(stim, dict)
    mode = str(stim.get("mode", "pulse_train"))
    freq = stim.get("frequency_hz", 20.0)
    return (float(freq) if isinstance(freq, (int, float)) else 20.0), mode


def report_metrics(
    frames: FrameTable,
    events: EventTable,
    summary: dict[str, Any],
    protocol: dict[str, Any],
) -> dict[str, Any]:
    """Metrics beyond the summary: visits, pulses, laser-follow time share, entry delays."""
    durations = m.frame_durations_s(frames)
    trans = m.transitions(frames)
    gates = gate_windows(frames, events)
    frequency_hz, stim_mode = _frequency_hz(protocol)
    runs = frames.phase_runs()
    session_end = float(frames.t_s[-1] + durations[-1]) if len(frames) else 0.0

    # per-window expected pulses
    expected_pulses = [
        int(math.ceil((w1 - w0) * frequency_hz - 1e-9)) if stim_mode == "pulse_train" else 0
        for w0, w1 in gates.windows
    ]
    per_phase: list[dict[str, Any]] = []
    for k, (name, start, stop) in enumerate(runs):
        t_start = float(frames.t_s[start])
        t_end = float(frames.t_s[runs[k + 1][1]]) if k + 1 < len(runs) else math.inf
        phase = summary["phases"][k]
        zone = frames.zone[start:stop]
        side = phase["stim_side"]
        located = zone[zone != "lost"]
        first = str(located[0]) if located.size else None
        visits = {}
        for key, compartment in (("stim", side), ("nonstim", m.other_side(side))):
            n_entries = int((trans.entry[start:stop] & (zone == compartment)).sum())
            starts_inside = first == compartment and not bool(
                trans.entry[start:stop][zone != "lost"][0]
            )
            visits[key] = n_entries + (1 if starts_inside else 0)
        mean_visit = {
            key: (phase["time_s"][key] / visits[key] if visits[key] else None)
            for key in ("stim", "nonstim")
        }
        in_phase = [
            i for i, (w0, _) in enumerate(gates.windows)
            if (t_start <= w0 < t_end) or (k == 0 and w0 < t_start)
        ]
        echo = [gates.pulses[i] for i in in_phase] if gates.pulses else []
        delivered = (
            sum(p for p in echo if p is not None)
            if gates.source == "board echo" and any(p is not None for p in echo)
            else None
        )
        per_phase.append(
            {
                "phase": name,
                "visits": visits,
                "mean_visit_s": mean_visit,
                "gate_windows": len(in_phase),
                "gate_open_s": float(sum(gates.windows[i][1] - gates.windows[i][0] for i in in_phase)),
                "pulses_delivered": delivered,
                "pulses_expected": int(sum(expected_pulses[i] for i in in_phase)),
            }
        )

    # laser follow: time share that the light (gate windows) matched the rule
    rule = _follow_rule(protocol)
    windows_safety = m.safety_off_windows(list(events.events), session_end)
    expected = m.follow_expectation(frames, rule, _schedules(protocol), windows_safety)
    midpoints = frames.t_s + durations / 2
    light = _inside(gates.windows, midpoints)
    definite = (expected == m.FOLLOW_ON) | (expected == m.FOLLOW_OFF)
    either = expected == m.FOLLOW_EITHER
    checked_s = float(durations[definite | either].sum())
    matched_s = float(
        durations[definite & (light == (expected == m.FOLLOW_ON))].sum() + durations[either].sum()
    )

    # delay from a compartment entry (closed-loop phases) to the gate change it calls for
    delays_ms: list[float] = []
    entries_without_change = 0
    starts = np.array([w[0] for w in gates.windows]) if gates.windows else np.empty(0)
    ends = np.array([w[1] for w in gates.windows]) if gates.windows else np.empty(0)
    entry_rows = np.flatnonzero(trans.entry)
    for idx, i in enumerate(entry_rows):
        if str(frames.mode[i]) != "closed_loop":
            continue
        t = float(frames.t_s[i])
        next_entry = float(frames.t_s[entry_rows[idx + 1]]) if idx + 1 < entry_rows.size else math.inf
        # a gate change counts until the next entry or the start of the next phase
        phase_end = next(
            (float(frames.t_s[b]) if b < len(frames) else math.inf for _, a, b in runs if a <= i < b),
            math.inf,
        )
        limit = min(next_entry, phase_end)
        gate_open_now = bool(_inside(gates.windows, np.array([t]))[0])
        to_stim = str(frames.zone[i]) == str(frames.stim_side[i])
        if to_stim and not gate_open_now:
            candidates = starts[(starts >= t) & (starts <= limit)]
        elif not to_stim and gate_open_now:
            candidates = ends[(ends >= t) & (ends <= limit)]
        else:
            continue
        if candidates.size:
            delays_ms.append(1000.0 * float(candidates.min() - t))
        else:
            entries_without_change += 1
    delivered_total = [p.get("pulses_delivered") for p in per_phase]
    return {
        "phases": per_phase,
        "gates": gates,
        "stimulation_mode": stim_mode,
        "frequency_hz": frequency_hz,
        "follow_time": {
            "checked_s": checked_s,
            "matched_s": matched_s,
            "match_fraction": matched_s / checked_s if checked_s > 0 else None,
            "source": gates.source,
        },
        "entry_delay_ms": delays_ms,
        "entry_delay_percentiles": m.percentiles_ms(np.asarray(delays_ms, dtype=np.float64)),
        "entries_without_gate_change": entries_without_change,
        "pulses_delivered": (
            sum(p for p in delivered_total if p is not None)
            if any(p is not None for p in delivered_total)
            else None
        ),
        "pulses_expected": int(sum(expected_pulses)),
        "durations_s": durations,
    }


def next_free_dir(base: Path) -> Path:
    """``base`` if it does not exist, else ``base-2``, ``base-3``... (never reuses one)."""
    if not base.exists():
        return base
    k = 2
    while True:
        candidate = base.with_name(f"{base.name}-{k}")
        if not candidate.exists():
            return candidate
        k += 1


def _figure_png(fig: Any) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    return buffer.getvalue()


def _v(value: Any, spec: str = ".1f") -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return format(value, spec) if math.isfinite(value) else "–"
    return html.escape(str(value))


PHASE_ROWS: list[tuple[str, str, Any]] = [
    ("mode", "mode", lambda p, r: p["mode"]),
    ("stimulated side", "", lambda p, r: p["stim_side"]),
    ("duration (s)", "", lambda p, r: p["duration_s"]),
    ("time stim (s)", "", lambda p, r: p["time_s"]["stim"]),
    ("time non-stim (s)", "", lambda p, r: p["time_s"]["nonstim"]),
    ("time neutral (s)", "", lambda p, r: p["time_s"]["neutral"]),
    ("time stim (%)", "", lambda p, r: p["time_pct"]["stim"]),
    ("time non-stim (%)", "", lambda p, r: p["time_pct"]["nonstim"]),
    ("time neutral (%)", "", lambda p, r: p["time_pct"]["neutral"]),
    ("preference index", "+.3f", lambda p, r: p["preference_index"]),
    ("entries stim", "", lambda p, r: p["entries"]["stim"]),
    ("entries non-stim", "", lambda p, r: p["entries"]["nonstim"]),
    ("crossings", "", lambda p, r: p["crossings"]),
    ("latency to first stim entry (s)", ".2f", lambda p, r: p["latency_to_stim_s"]),
    ("mean visit stim (s)", ".2f", lambda p, r: r["mean_visit_s"]["stim"]),
    ("mean visit non-stim (s)", ".2f", lambda p, r: r["mean_visit_s"]["nonstim"]),
    ("distance (cm)", ".0f", lambda p, r: p["distance_cm"]),
    ("mean speed (cm/s)", ".2f", lambda p, r: p["mean_speed_cm_s"]),
    ("laser on (s)", "", lambda p, r: p["laser_on_s"]),
    ("gate windows", "", lambda p, r: r["gate_windows"]),
    ("pulses delivered (board echo)", "", lambda p, r: r["pulses_delivered"]),
    ("pulses expected (gate-open time x frequency)", "", lambda p, r: r["pulses_expected"]),
    ("safety events", "", lambda p, r: p["safety_events"]),
    ("lost tracking (% frames)", ".2f", lambda p, r: p["lost_tracking_pct"]),
    ("dropped frames", "", lambda p, r: p["dropped_frames"]),
    ("laser follow (% frames)", ".1f",
     lambda p, r: None if p["laser_follow_match_fraction"] is None else 100 * p["laser_follow_match_fraction"]),
]


def _phase_table(summary: dict[str, Any], extra: dict[str, Any]) -> str:
    phases = summary["phases"]
    head = "".join(f"<th>{html.escape(p['phase'])}</th>" for p in phases)
    body = []
    for label, spec, getter in PHASE_ROWS:
        cells = "".join(
            f"<td>{_v(getter(p, r), spec or '.1f')}</td>"
            for p, r in zip(phases, extra["phases"], strict=True)
        )
        body.append(f"<tr><th class='l'>{html.escape(label)}</th>{cells}</tr>")
    return f"<table><tr><th></th>{head}</tr>{''.join(body)}</table>"


def phase_rows_tidy(summary: dict[str, Any], extra: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """One flat dict per phase (for CSV)."""
    rows = []
    for k, p in enumerate(summary["phases"]):
        row: dict[str, Any] = {
            "animal_id": summary.get("animal_id"),
            "phase": p["phase"], "mode": p["mode"], "stim_side": p["stim_side"],
            "duration_s": p["duration_s"], "frames": p["frames"],
        }
        for key in ("stim", "nonstim", "neutral", "lost"):
            row[f"time_{key}_s"] = p["time_s"][key]
        for key in ("stim", "nonstim", "neutral", "lost"):
            row[f"time_{key}_pct"] = p["time_pct"][key]
        row.update(
            preference_index=p["preference_index"],
            entries_stim=p["entries"]["stim"], entries_nonstim=p["entries"]["nonstim"],
            crossings=p["crossings"], latency_to_stim_s=p["latency_to_stim_s"],
            distance_cm=p["distance_cm"], mean_speed_cm_s=p["mean_speed_cm_s"],
            laser_on_s=p["laser_on_s"], safety_events=p["safety_events"],
            lost_tracking_pct=p["lost_tracking_pct"], dropped_frames=p["dropped_frames"],
            laser_follow_match_fraction=p["laser_follow_match_fraction"],
        )
        if extra is not None:
            r = extra["phases"][k]
            row.update(
                visits_stim=r["visits"]["stim"], visits_nonstim=r["visits"]["nonstim"],
                mean_visit_stim_s=r["mean_visit_s"]["stim"],
                mean_visit_nonstim_s=r["mean_visit_s"]["nonstim"],
                pulses_delivered=r["pulses_delivered"], pulses_expected=r["pulses_expected"],
            )
        rows.append(row)
    return rows


def write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    with open(path, "x", encoding="utf-8", newline="") as handle:
        if not rows:
            return
        writer = csv.DictWriter(handle, fieldnames=list(rows[0].keys()), lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: "" if v is None else v for k, v in row.items()})


_CSS = """
body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;color:#222;padding:0 1em}
table{border-collapse:collapse;margin:0.5em 0 1.5em}
td,th{border:1px solid #ccc;padding:3px 8px;text-align:right;font-size:13px}
th.l{text-align:left;font-weight:normal}
.flag{background:#fde2e1;border:1px solid #e0807b;padding:0.6em 1em;margin:1em 0}
.ok{background:#e6f4ea;border:1px solid #8bc79a;padding:0.6em 1em;margin:1em 0}
.warn{background:#fff4d6;border:1px solid #e5c46b;padding:0.6em 1em;margin:1em 0}
img{max-width:100%;margin:0.5em 0}
code{background:#f3f3f3;padding:0 3px}
"""


def build_report(
    session_dir: Path,
    out_dir: Path | None = None,
    bias_threshold: float = DEFAULT_BIAS_THRESHOLD,
    progress: ProgressFn = no_progress,
) -> Path:
    """Write the report folder and return the path of its ``report.html``.

    ``out_dir`` defaults to ``SESSION_DIR/report``; an existing folder is never reused
    (``-2``, ``-3``... is appended). ``summary.json`` is recomputed and rewritten atomically.
    ``bias_threshold`` is a fraction in (0.5, 1]: baseline time on the preferred side
    (of the time in either compartment) above it flags the animal.
    """
    session_dir = Path(session_dir)
    if not (0.5 < bias_threshold <= 1.0):
        raise ConfigError(
            f"--bias-threshold: must be a fraction in (0.5, 1], e.g. 0.65, got {bias_threshold:g}"
        )
    reading = "reading the record and computing the summary"
    progress(reading, 0, 3, "steps")
    frames, events, header, protocol = read_record(session_dir)
    progress(reading, 1, 3, "steps")
    summary = add_record_sections(
        compute_summary_from(
            frames, events, header, protocol, calibration=read_calibration_dict(session_dir)
        ),
        session_dir,
        events,
        header,
    )
    progress(reading, 2, 3, "steps")
    extra = report_metrics(frames, events, summary, protocol)
    geometry = load_geometry(session_dir, frames)
    durations = extra["durations_s"]
    progress(reading, 3, 3, "steps")

    drawing = "drawing figures"
    makers: list[tuple[str, Callable[[], Any]]] = [
        ("phases", lambda: phase_bars_figure(summary)),
        ("trajectory", lambda: trajectory_figure(frames, geometry)),
        ("occupancy", lambda: occupancy_figure(frames, geometry, durations)),
        ("stim_time_bins", lambda: stim_time_bins_figure(frames, durations)),
        ("laser_raster", lambda: laser_raster_figure(frames, geometry, extra["gates"].windows)),
        ("latency", lambda: latency_histogram_figure(
            frames.latency_ms, summary["laser_follow"]["latency_ms"]
        )),
        ("entry_delay", lambda: entry_delay_figure(extra["entry_delay_ms"])),
    ]
    figures: dict[str, Any] = {}
    bins: Any = None
    progress(drawing, 0, len(makers), "figures")
    for i, (name, make) in enumerate(makers, start=1):
        made = make()
        if name == "stim_time_bins":
            made, bins = made
        figures[name] = made
        progress(drawing, i, len(makers), "figures")

    target = next_free_dir(Path(out_dir) if out_dir is not None else session_dir / "report")
    target.mkdir(parents=True, exist_ok=False)
    images: dict[str, str] = {}
    writing = f"writing figures (PNG + PDF) to {target}"
    progress(writing, 0, len(figures), "figures")
    for i, (name, fig) in enumerate(figures.items(), start=1):
        png = _figure_png(fig)
        (target / f"{name}.png").write_bytes(png)
        fig.savefig(target / f"{name}.pdf")
        images[name] = base64.b64encode(png).decode("ascii")
        progress(writing, i, len(figures), "figures")
    write_csv(target / "phases.csv", phase_rows_tidy(summary, extra))
    write_csv(target / "stim_time_bins.csv", bins)
    html_text = _render_html(session_dir, header, summary, extra, geometry, images, bias_threshold)
    with open(target / "report.html", "x", encoding="utf-8") as handle:
        handle.write(html_text)
    write_json_atomic(session_dir / "summary.json", summary, allow_nan=False)
    return target / "report.html"


def _camera_html(summary: dict[str, Any]) -> list[str]:
    """The camera section (measured fps, camera vs engine drops) and the LED latency test."""
    esc = html.escape
    parts: list[str] = []
    camera = summary.get("camera")
    if isinstance(camera, dict):
        drops = camera.get("camera_dropped")
        monotonic = camera.get("timestamps_monotonic")
        rows: list[tuple[str, Any]] = [
            ("measured frame rate (fps)", camera.get("measured_fps")),
            ("clock", "camera's own" if camera.get("clock") == "camera" else "source time (no camera clock)"),
            ("frames lost between camera and host (frame-ID gaps)",
             "unknown (no frame IDs)" if drops is None else drops),
            ("frames skipped by the engine (a newer frame replaced them)", camera.get("engine_dropped")),
            ("timestamps only move forward", "unknown" if monotonic is None else ("yes" if monotonic else "NO")),
        ]
        parts.append("<h2>Camera</h2><table>")
        for key, value in rows:
            parts.append(f"<tr><th class='l'>{esc(key)}</th><td>{_v(value)}</td></tr>")
        parts.append("</table>")
        if drops:
            parts.append(
                f"<div class='warn'>{drops} frame(s) the camera exposed never reached optorig "
                "(link, camera buffers or a busy host). See docs/cameras.md.</div>"
            )
    test = summary.get("latency_test")
    if isinstance(test, dict):
        parts.append("<h2>Camera-to-light latency self-test</h2><table>")
        rows = [
            ("LED flashes commanded / seen / missed", f"{test.get('flashes')} / {test.get('seen')} / {test.get('missed')}"),
            ("LED seen with no flash commanded", test.get("unexpected")),
            ("time base", test.get("clock")),
        ]
        for key, label in (
            ("led_to_frame_ms", "LED command -> first frame showing it"),
            ("frame_to_decision_ms", "that frame -> decision"),
            ("led_to_decision_ms", "LED command -> decision"),
        ):
            stats = test.get(key) if isinstance(test.get(key), dict) else {}
            assert isinstance(stats, dict)
            rows.append(
                (f"{label}, p50 / p99 / max (ms)",
                 f"{_v(stats.get('p50'))} / {_v(stats.get('p99'))} / {_v(stats.get('max'))}")
            )
        for key, value in rows:
            parts.append(f"<tr><th class='l'>{esc(key)}</th><td>{_v(value)}</td></tr>")
        parts.append("</table>")
        if test.get("missed") or test.get("unexpected"):
            parts.append(
                "<div class='warn'>Some flashes were missed or the LED was seen without a "
                "command: check the LED ROI and threshold (docs/cameras.md).</div>"
            )
    return parts


def _delivered_html(summary: dict[str, Any]) -> str:
    """The delivered-light table and the laser-follow audit (board echo vs positions)."""
    esc = html.escape
    delivered = summary.get("delivered_light") or {}
    audit = delivered.get("audit") or {}
    out = ["<h2>Delivered light (board echo) and laser-follow audit</h2>"]
    status = audit.get("status")
    if status == "pass":
        out.append(
            f"<div class='ok'><b>Audit passed:</b> the rule recomputed from the positions "
            f"(x_cm, y_cm and the protocol's geometry) matched the delivered light on all "
            f"{audit['frames_judged']} judged frames ({audit['frames_not_judged']} too close to a "
            "timing threshold or after a board fault were not judged).</div>"
        )
    elif status == "fail":
        out.append(
            f"<div class='flag'><b>Audit FAILED:</b> light on where the positions say off in "
            f"{audit['frames_light_on_rule_off']} frames ({_v(audit['seconds_light_on_rule_off'])} s); "
            f"light off where they say on in {audit['frames_light_off_rule_on']} frames "
            f"({_v(audit['seconds_light_off_rule_on'])} s), of {audit['frames_judged']} judged. "
            f"First frames: {esc(', '.join(map(str, audit['first_mismatch_frames'])))}. "
            "Check tracking, calibration and the board before using this session.</div>"
        )
    else:
        out.append(f"<div class='warn'><b>Audit not possible:</b> {esc(str(audit.get('reason')))}</div>")
    out.append(f"<p>Light timeline from: {esc(str(delivered.get('light_source')))}.</p>")
    head = ("phase", "light in stim (s)", "light in neutral (s)", "light in other side (s)",
            "light while lost (s)", "stim side without light (s)", "pulses (board)",
            "entry -> first pulse p50 / p95 / max (ms)", "entries without a pulse")
    out.append("<table><tr>" + "".join(f"<th>{esc(h)}</th>" for h in head) + "</tr>")
    for p in delivered.get("phases", []):
        ls = p["light_s"]
        lat = p["entry_to_first_pulse"]
        cells = (
            p["phase"], ls["stim"], ls["neutral"], ls["other"], ls["lost"], p["stim_without_light_s"],
            p["pulses_delivered"],
            f"{_v(lat['p50_ms'])} / {_v(lat['p95_ms'])} / {_v(lat['max_ms'])} (n={lat['n']})",
            lat["entries_without_pulse"],
        )
        out.append("<tr>" + "".join(f"<td>{_v(c) if not isinstance(c, str) else esc(c)}</td>" for c in cells) + "</tr>")
    out.append("</table>")
    return "\n".join(out)


def _render_html(
    session_dir: Path,
    header: dict[str, Any],
    summary: dict[str, Any],
    extra: dict[str, Any],
    geometry: ArenaGeometry,
    images: dict[str, str],
    bias_threshold: float,
) -> str:
    esc = html.escape
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>optorig report: {esc(str(summary.get('animal_id')))} {esc(session_dir.name)}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>Session report: {esc(str(summary.get('animal_id') or '?'))}</h1>",
        "<table>",
    ]
    source = header.get("source") if isinstance(header.get("source"), dict) else {}
    assert isinstance(source, dict)
    info = [
        ("session folder", session_dir.name),
        ("protocol", summary.get("protocol")),
        ("started at", summary.get("started_at")),
        ("end reason", summary.get("end_reason") or "none recorded (cut short)"),
        ("source", source.get("kind")),
        ("simulated", header.get("simulated")),
        ("frames", summary["frames"]),
        ("duration (s)", summary["duration_s"]),
        ("median frame interval (ms)",
         None if summary["median_frame_interval_s"] is None else 1000 * summary["median_frame_interval_s"]),
        ("arena", f"{geometry.width_cm:g} x {geometry.length_cm:g} cm ({geometry.source})"),
    ]
    for key, value in info:
        parts.append(f"<tr><th class='l'>{esc(key)}</th><td>{_v(value)}</td></tr>")
    parts.append("</table>")
    if not summary["complete"]:
        torn = summary["torn_rows"]
        from rig.analysis.summary import incomplete_text

        parts.append(
            "<div class='warn'><b>Incomplete session.</b> "
            f"{esc(incomplete_text(summary))} (end reason: {esc(str(summary['end_reason']))}); "
            f"torn rows ignored: frames.csv {torn['frames']}, events.csv {torn['events']}. "
            "Metrics cover the recorded part.</div>"
        )
    bias = summary.get("baseline_side_bias_pct")
    if bias is None:
        parts.append("<div class='warn'>No baseline (mode off) phase: side bias not assessed.</div>")
    elif bias > 100 * bias_threshold:
        parts.append(
            f"<div class='flag'><b>Baseline side bias:</b> {bias:.1f} % of compartment time on the "
            f"{esc(str(summary.get('baseline_preferred_side')))} side in "
            f"'{esc(str(summary.get('baseline_phase')))}', above the {100 * bias_threshold:.0f} % "
            "threshold. Consider excluding this animal.</div>"
        )
    else:
        parts.append(
            f"<div class='ok'>Baseline side bias {bias:.1f} % (threshold {100 * bias_threshold:.0f} %): "
            "not flagged.</div>"
        )
    parts.append("<h2>Per phase</h2>")
    parts.append(_phase_table(summary, extra))
    diff = summary.get("difference_score_pct")
    parts.append(
        "<p><b>Difference score</b> (stim % in test phase "
        f"'{esc(str(summary.get('test_phase')))}' minus baseline "
        f"'{esc(str(summary.get('baseline_phase')))}'): "
        f"{'–' if diff is None else f'{diff:+.1f} percentage points'}</p>"
    )
    parts.append(f"<img alt='time per compartment' src='data:image/png;base64,{images['phases']}'>")
    parts.append(_delivered_html(summary))
    parts.append("<h2>Commanded gate vs recorded zones (engine self-consistency)</h2>")
    follow = summary["laser_follow"]
    ft = extra["follow_time"]
    lat = follow["latency_ms"]
    ed = extra["entry_delay_percentiles"]
    pulses_delivered = extra["pulses_delivered"]
    follow_rows = [
        ("gate windows from", ft["source"]),
        ("light matched the rule (time share, %)",
         None if ft["match_fraction"] is None else 100 * ft["match_fraction"]),
        ("time checked (s)", ft["checked_s"]),
        ("commanded state matched the rule (frames, %)",
         None if follow["match_fraction"] is None else 100 * follow["match_fraction"]),
        ("frames checked / mismatched", f"{follow['frames_checked']} / {follow['frames_mismatched']}"),
        ("frames in debounce / grace windows (not checked)", follow["frames_transition"]),
        ("frames not checked (rule unknown)", follow["frames_unchecked"]),
        ("entry -> gate change delay p50 / p95 / max (ms)",
         f"{_v(ed['p50'])} / {_v(ed['p95'])} / {_v(ed['max'])} (n={ed['n']})"),
        ("entries with no gate change before the next entry", extra["entries_without_gate_change"]),
        ("control latency p50 / p95 / p99 / max (ms)",
         f"{_v(lat['p50'])} / {_v(lat['p95'])} / {_v(lat['p99'])} / {_v(lat['max'])}"),
        ("pulses delivered (board echo)",
         "not reported by the board" if pulses_delivered is None else pulses_delivered),
        (f"pulses expected (gate-open time x {extra['frequency_hz']:g} Hz)", extra["pulses_expected"]),
    ]
    parts.append("<table>")
    for key, value in follow_rows:
        parts.append(f"<tr><th class='l'>{esc(key)}</th><td>{_v(value)}</td></tr>")
    parts.append("</table>")
    parts.append(
        "<p>Rule: closed-loop phases, light on iff the animal is in the stimulated compartment; "
        f"neutral band: {esc(follow['rule']['neutral_band'])}; the first "
        f"{follow['rule']['debounce_frames']} frames after a zone change and the "
        f"{follow['rule']['tracking_loss_grace_frames']}-frame tracking-loss grace (+1) are not "
        "checked; off phases: light must be off. See docs/analysis.md.</p>"
    )
    for name, alt in (
        ("entry_delay", "entry to gate delay"),
        ("latency", "latency histogram"),
    ):
        parts.append(f"<img alt='{alt}' src='data:image/png;base64,{images[name]}'>")
    parts.extend(_camera_html(summary))
    parts.append("<h2>Figures</h2>")
    for name, alt in (
        ("trajectory", "trajectory"),
        ("occupancy", "occupancy heatmap"),
        ("stim_time_bins", "time on stimulated side per minute"),
        ("laser_raster", "position and laser gate over time"),
    ):
        parts.append(f"<h3>{esc(alt)}</h3><img alt='{alt}' src='data:image/png;base64,{images[name]}'>")
    parts.append(
        f"<p style='color:#777;font-size:12px'>{esc(summary['computed_by'])}; computed from "
        "frames.csv and events.csv only. Figures also saved as PNG and PDF next to this file.</p>"
    )
    parts.append("</body></html>")
    return "\n".join(parts)
