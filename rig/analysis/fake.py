"""Synthetic session folders written at the record level (frames.csv, events.csv, ...).

Used by the analysis tests (hand-built frames with known answers) and by
``scripts/make_group_example.py`` (a random-walk animal with a side preference). These
folders follow ``docs/record-format.md`` exactly but are produced without the engine,
the tracker or a board; ``session.json`` says ``"simulated": true`` and
``source.kind = "analysis-fake"``.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rig.session.writer import EVENT_COLUMNS, FRAME_COLUMNS

# The engine's own column lists: a fake record has exactly the layout of a real one.
FRAME_HEADER = FRAME_COLUMNS
EVENT_HEADER = EVENT_COLUMNS

ARENA_WIDTH_CM = 50.0
ARENA_LENGTH_CM = 25.0
NEUTRAL_BAND_CM = 4.0
PX_PER_CM = 10.0
ORIGIN_PX = (70.0, 115.0)


def protocol_yaml(
    phases: Sequence[Mapping[str, Any]],
    *,
    name: str = "rtpp-test",
    side: str = "left",
    debounce_frames: int = 3,
    grace_frames: int = 5,
    neutral_band: str = "hold",
    target_power_mw: float | None = 10.0,
    camera_fps: float = 30.0,
) -> str:
    """A schema-1 protocol.yaml text (frame counts; converted at ``camera_fps`` on loading)."""
    lines = [
        "schema_version: 1",
        "metadata:",
        f"  name: {name}",
        "  description: Real-time place preference, synthetic session for analysis tests.",
        "arena:",
        "  calibration: calibration.yaml",
        f"  neutral_band_cm: {NEUTRAL_BAND_CM}",
        "  stimulated:",
        "    rule: fixed",
        f"    side: {side}",
        "phases:",
    ]
    for phase in phases:
        lines.append(f"  - name: {phase['name']}")
        lines.append(f"    duration_s: {float(phase['duration_s'])}")
        lines.append(f"    mode: \"{phase.get('mode', 'off')}\"")
        if phase.get("swap_sides"):
            lines.append("    swap_sides: true")
        schedule = phase.get("schedule")
        if schedule:
            lines.append("    schedule:")
            for key, value in schedule.items():
                lines.append(f"      {key}: {str(value).lower() if isinstance(value, bool) else value}")
    lines += [
        "stimulation:",
        "  wavelength_nm: 473",
        "  mode: pulse_train",
        "  frequency_hz: 20",
        "  pulse_width_ms: 15",
    ]
    if target_power_mw is not None:
        lines.append(f"  target_power_mw: {target_power_mw}")
    lines += [
        "decision:",
        f"  debounce_frames: {debounce_frames}",
        f"  neutral_band: \"{neutral_band}\"",
        f"  tracking_loss_grace_frames: {grace_frames}",
        "tracking:",
        f"  camera_fps: {camera_fps}",
    ]
    return "\n".join(lines) + "\n"


def calibration_yaml(
    width_cm: float = ARENA_WIDTH_CM, length_cm: float = ARENA_LENGTH_CM
) -> str:
    """An arena calibration.yaml text: an axis-aligned view at PX_PER_CM px/cm."""
    x0, y0 = ORIGIN_PX
    x1, y1 = x0 + width_cm * PX_PER_CM, y0 + length_cm * PX_PER_CM
    return (
        "schema_version: 1\n"
        "kind: arena\n"
        "name: fake-rig\n"
        "camera: {width_px: 640, height_px: 480}\n"
        f"corners_px: [[{x0}, {y0}], [{x1}, {y0}], [{x1}, {y1}], [{x0}, {y1}]]\n"
        f"width_cm: {width_cm}\n"
        f"length_cm: {length_cm}\n"
    )


def zone_of(x_cm: float, width_cm: float = ARENA_WIDTH_CM, band_cm: float = NEUTRAL_BAND_CM) -> str:
    middle = width_cm / 2
    if x_cm < middle - band_cm / 2:
        return "left"
    if x_cm > middle + band_cm / 2:
        return "right"
    return "neutral"


def _csv_line(values: Iterable[Any]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(values)
    return buffer.getvalue()


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        return "" if math.isnan(value) else repr(value)
    return str(value)


def write_fake_session(
    session_dir: Path,
    frames: Sequence[Mapping[str, Any]],
    events: Sequence[Mapping[str, Any]] = (),
    *,
    animal_id: str = "m001",
    end_reason: str | None = "completed",
    protocol_text: str | None = None,
    calibration_text: str | None = None,
    torn_tail: str | None = None,
    started_at: str = "2026-01-15T10:00:00.000+00:00",
    stimulated_side: str = "left",
) -> Path:
    """Write a session folder from frame dicts (keys of FRAME_HEADER; defaults filled in).

    A frame dict needs ``t_s``, ``phase`` and either ``x_cm`` (+``y_cm``) or
    ``zone="lost"``; ``zone`` is derived from ``x_cm`` when absent. ``torn_tail`` is
    appended to frames.csv without a newline (a crash mid-row).
    """
    session_dir = Path(session_dir)
    session_dir.mkdir(parents=True, exist_ok=False)
    if protocol_text is not None:
        (session_dir / "protocol.yaml").write_text(protocol_text, encoding="utf-8")
    (session_dir / "calibration.yaml").write_text(
        calibration_text if calibration_text is not None else calibration_yaml(), encoding="utf-8"
    )
    header = {
        "format": "optorig-session",
        "schema_version": 1,
        "protocol": {"name": "rtpp-test", "version": "1", "file": "protocol.yaml", "sha256": ""},
        "calibration": {"file": "calibration.yaml", "sha256": "", "name": "fake-rig"},
        "animal_id": animal_id,
        "experimenter": "",
        "notes": "",
        "stimulated_side": stimulated_side,
        "side_rule": "fixed",
        "side_seed": None,
        "source": {"kind": "analysis-fake", "detail": "rig.analysis.fake", "fps": None},
        "board": {"kind": "mock", "port": "mock", "firmware_name": "optorig-mock", "firmware_version": "0"},
        "simulated": True,
        "software": {"optorig": "0.1.0"},
        "host": "fake",
        "platform": "fake",
        "started_at": started_at,
        "ended_at": None if end_reason is None else started_at,
        "end_reason": end_reason,
    }
    (session_dir / "session.json").write_text(json.dumps(header, indent=2), encoding="utf-8")
    with open(session_dir / "frames.csv", "w", encoding="utf-8", newline="") as handle:
        handle.write(_csv_line(FRAME_HEADER))
        for i, frame in enumerate(frames):
            row = dict(frame)
            row.setdefault("frame", i)
            x_cm = row.get("x_cm")
            lost = row.get("zone") == "lost" or x_cm is None
            if lost:
                row.update(zone="lost", tracked=False, x_cm=None, y_cm=None)
            else:
                row.setdefault("y_cm", ARENA_LENGTH_CM / 2)
                assert x_cm is not None
                row.setdefault("zone", zone_of(float(x_cm)))
                row.setdefault("tracked", True)
                row.setdefault("x_px", ORIGIN_PX[0] + float(x_cm) * PX_PER_CM)
                row.setdefault("y_px", ORIGIN_PX[1] + float(row["y_cm"]) * PX_PER_CM)
            row.setdefault("laser_on", False)
            row.setdefault("latency_ms", 5.0)
            row.setdefault("stim_side", stimulated_side)
            row.setdefault("mode", "off")
            row.setdefault("dropped", 0)
            handle.write(_csv_line(_cell(row.get(col)) for col in FRAME_HEADER))
        if torn_tail is not None:
            handle.write(torn_tail)
    with open(session_dir / "events.csv", "w", encoding="utf-8", newline="") as handle:
        handle.write(_csv_line(EVENT_HEADER))
        for event in events:
            detail = event.get("detail", {})
            handle.write(
                _csv_line(
                    [
                        _cell(float(event["t_s"])),
                        _cell(event.get("frame")),
                        event["kind"],
                        json.dumps(detail, separators=(",", ":")),
                        _cell(event.get("board_t_s")),
                    ]
                )
            )
    return session_dir


@dataclass(frozen=True)
class SimulatedPhase:
    name: str
    duration_s: float
    mode: str = "off"  # off / closed_loop
    swap_sides: bool = False  # a reversal phase: the other compartment is stimulated


def simulate_rtpp_session(
    session_dir: Path,
    *,
    animal_id: str,
    rng: np.random.Generator,
    avoidance: float,
    stimulated_side: str = "left",
    phases: Sequence[SimulatedPhase] = (
        SimulatedPhase("baseline", 300.0, "off"),
        SimulatedPhase("test", 600.0, "closed_loop"),
    ),
    fps: float = 15.0,
    baseline_bias: float = 0.0,
    debounce_frames: int = 3,
    frequency_hz: float = 20.0,
    started_at: str = "2026-01-15T10:00:00.000+00:00",
) -> Path:
    """A random-walk mouse in the two-compartment arena, with a closed-loop laser.

    ``avoidance`` > 0 pushes the animal out of the stimulated side while the light is on
    (ChR2 in an aversive pathway); 0 = no preference (eYFP). ``baseline_bias`` (-1..1)
    adds a constant pull towards the right (+) or left (-) in every phase.
    Board echo events (gate windows with delivered pulses) are emulated.
    """
    dt = 1.0 / fps
    x, y = ARENA_WIDTH_CM / 2 + rng.uniform(-10, 10), ARENA_LENGTH_CM / 2
    vx = vy = 0.0
    frames: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = [
        {"t_s": 0.0, "kind": "session_start", "detail": {"animal": animal_id, "stim_side": stimulated_side, "rule": "fixed"}}
    ]
    t = 0.0
    index = 0
    laser = False
    gate_opened_at = 0.0
    committed: str | None = None
    candidate: str | None = None
    candidate_count = 0
    last_compartment: str | None = None
    lost_run = 0
    previous_zone: str | None = None
    lost_left = 0
    base_side = stimulated_side
    for phase in phases:
        stimulated_side = ("right" if base_side == "left" else "left") if phase.swap_sides else base_side
        events.append({"t_s": t, "frame": index - 1 if index else None, "kind": "phase_start",
                       "detail": {"phase": phase.name, "mode": phase.mode, "stim_side": stimulated_side}})
        n_frames = int(round(phase.duration_s * fps))
        for _ in range(n_frames):
            # correlated random walk, ~5 cm/s, reflecting walls
            pull_x = baseline_bias * 2.0
            if phase.mode == "closed_loop" and laser:
                pull_x += avoidance * (6.0 if stimulated_side == "left" else -6.0)
            vx = 0.85 * vx + rng.normal(0, 2.2) + pull_x * dt * 3
            vy = 0.85 * vy + rng.normal(0, 2.2)
            x += vx * dt * 2.5
            y += vy * dt * 2.5
            for _ in range(2):
                if x < 1.0:
                    x, vx = 2.0 - x, -vx
                if x > ARENA_WIDTH_CM - 1.0:
                    x, vx = 2 * (ARENA_WIDTH_CM - 1.0) - x, -vx
                if y < 1.0:
                    y, vy = 2.0 - y, -vy
                if y > ARENA_LENGTH_CM - 1.0:
                    y, vy = 2 * (ARENA_LENGTH_CM - 1.0) - y, -vy
            if lost_left == 0 and rng.random() < 0.002:
                lost_left = int(rng.integers(1, 8))
            is_lost = lost_left > 0
            if lost_left:
                lost_left -= 1
            zone = "lost" if is_lost else zone_of(x)
            if zone != previous_zone and zone != "lost":
                events.append({"t_s": t, "frame": index, "kind": "zone_entry", "detail": {"zone": zone}})
            if zone != "lost":
                previous_zone = zone
            # the engine's rule: debounce over every located zone (neutral too), hold the
            # last compartment in neutral, hold through up to 5 lost frames
            if zone == "lost":
                candidate, candidate_count = None, 0
                lost_run += 1
            else:
                lost_run = 0
                if zone == committed:
                    candidate, candidate_count = None, 0
                else:
                    if zone == candidate:
                        candidate_count += 1
                    else:
                        candidate, candidate_count = zone, 1
                    if candidate_count >= debounce_frames:
                        committed, candidate, candidate_count = zone, None, 0
                        if zone in ("left", "right"):
                            last_compartment = zone
            effective = last_compartment if committed == "neutral" else committed
            want = phase.mode == "closed_loop" and effective == stimulated_side and lost_run <= 5
            if want != laser:
                kind = "laser_on" if want else "laser_off"
                events.append({"t_s": t, "frame": index, "kind": kind, "detail": {"reason": "zone"}})
                if want:
                    gate_opened_at = t
                    events.append({"t_s": t + 0.002, "frame": index, "kind": "board_gate_opened",
                                   "detail": {"device_us": int((t + 0.002) * 1e6), "pin_level": 1}})
                else:
                    pulses = int(math.ceil((t - gate_opened_at) * frequency_hz))
                    events.append({"t_s": t + 0.002, "frame": index, "kind": "board_gate_closed",
                                   "detail": {"device_us": int((t + 0.002) * 1e6), "pulses": pulses, "pin_level": 0}})
                laser = want
            frames.append({
                "frame": index, "t_s": round(t, 6),
                "x_cm": None if is_lost else round(x, 3), "y_cm": None if is_lost else round(y, 3),
                "zone": zone, "phase": phase.name, "laser_on": laser,
                "latency_ms": round(float(rng.gamma(4.0, 1.5)), 3),
                "stim_side": stimulated_side, "mode": phase.mode,
                "truth_x_cm": round(x, 3), "truth_y_cm": round(y, 3),
            })
            index += 1
            t += dt
        if laser:
            events.append({"t_s": t, "frame": index - 1, "kind": "laser_off", "detail": {"reason": "phase_end"}})
            pulses = int(math.ceil((t - gate_opened_at) * frequency_hz))
            events.append({"t_s": t + 0.002, "frame": index - 1, "kind": "board_gate_closed",
                           "detail": {"device_us": int((t + 0.002) * 1e6), "pulses": pulses, "pin_level": 0}})
            laser = False
        events.append({"t_s": t, "frame": index - 1, "kind": "phase_end",
                       "detail": {"phase": phase.name, "mode": phase.mode, "stim_side": stimulated_side}})
    events.append({"t_s": t, "frame": index - 1, "kind": "session_end", "detail": {"reason": "completed"}})
    protocol = protocol_yaml(
        [{"name": p.name, "duration_s": p.duration_s, "mode": p.mode, "swap_sides": p.swap_sides}
         for p in phases],
        name="rtpp-sim", side=base_side, debounce_frames=debounce_frames, camera_fps=fps,
    )
    return write_fake_session(
        session_dir, frames, events, animal_id=animal_id, protocol_text=protocol,
        stimulated_side=base_side, started_at=started_at,
    )
