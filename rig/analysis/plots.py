"""Report figures, drawn without a display (matplotlib ``Figure`` objects, Agg canvas).

pyplot is never imported: figures are built with ``matplotlib.figure.Figure`` so no GUI
backend is touched and nothing global is kept between calls.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from rig.analysis.records import FrameTable

STIM_COLOUR = "#1f77b4"  # blue light
NONSTIM_COLOUR = "#7f7f7f"
NEUTRAL_COLOUR = "#d9d9d9"
LASER_COLOUR = "#4fa3ff"
PHASE_COLOURS = ("#fdf6e3", "#eef5ff", "#f3fbef", "#fbeff3")


@dataclass(frozen=True)
class ArenaGeometry:
    """Arena size and compartment rectangles in cm (x_min, x_max, y_min, y_max)."""

    width_cm: float
    length_cm: float
    left: tuple[float, float, float, float]
    right: tuple[float, float, float, float]
    source: str = "protocol + calibration"

    def zone_rect(self, side: str) -> tuple[float, float, float, float]:
        return self.left if side == "left" else self.right


def _draw_arena(ax: Any, geometry: ArenaGeometry, stim_side: str) -> None:
    ax.add_patch(
        Rectangle((0, 0), geometry.width_cm, geometry.length_cm, fill=False, lw=1.5, ec="black")
    )
    for side in ("left", "right"):
        x0, x1, y0, y1 = geometry.zone_rect(side)
        stim = side == stim_side
        ax.add_patch(
            Rectangle(
                (x0, y0), x1 - x0, y1 - y0,
                fc=STIM_COLOUR if stim else NONSTIM_COLOUR, alpha=0.12, ec="none",
            )
        )
        ax.text(
            (x0 + x1) / 2, y0 + 0.04 * geometry.length_cm,
            f"{side} ({'stim' if stim else 'no stim'})",
            ha="center", va="top", fontsize=8, color=STIM_COLOUR if stim else "black",
        )
    ax.set_xlim(-1, geometry.width_cm + 1)
    ax.set_ylim(geometry.length_cm + 1, -1)  # y downward, as the camera sees it
    ax.set_aspect("equal")
    ax.set_xlabel("x (cm)")
    ax.set_ylabel("y (cm)")


def _phase_rows(frames: FrameTable) -> list[tuple[str, int, int]]:
    return frames.phase_runs()


def _grid(n: int) -> tuple[int, int]:
    cols = min(n, 3)
    return math.ceil(n / cols), cols


def trajectory_figure(frames: FrameTable, geometry: ArenaGeometry) -> Figure:
    """Tracked path per phase over the arena, compartments drawn (stimulated side blue)."""
    runs = _phase_rows(frames) or [("(no frames)", 0, 0)]
    rows, cols = _grid(len(runs))
    aspect = geometry.length_cm / geometry.width_cm
    fig = Figure(figsize=(4.6 * cols, 4.6 * rows * aspect + 0.9 * rows), layout="constrained")
    for k, (name, start, stop) in enumerate(runs):
        ax = fig.add_subplot(rows, cols, k + 1)
        side = str(frames.stim_side[start]) if stop > start else "left"
        _draw_arena(ax, geometry, side)
        x = frames.x_cm[start:stop]
        y = frames.y_cm[start:stop]
        ax.plot(x, y, lw=0.5, color="black", alpha=0.7)
        on = frames.laser_on[start:stop]
        if on.any():
            ax.plot(x[on], y[on], ".", ms=1.5, color=LASER_COLOUR, label="laser on")
            ax.legend(loc="lower right", fontsize=7, markerscale=5)
        mode = str(frames.mode[start]) if stop > start else ""
        ax.set_title(f"{name} ({mode})", fontsize=10)
    fig.suptitle("Trajectory")
    return fig


def occupancy_figure(
    frames: FrameTable, geometry: ArenaGeometry, durations_s: np.ndarray, bin_cm: float = 1.0
) -> Figure:
    """Time spent per bin_cm x bin_cm square, per phase (s, colour scale shared)."""
    runs = _phase_rows(frames) or [("(no frames)", 0, 0)]
    rows, cols = _grid(len(runs))
    aspect = geometry.length_cm / geometry.width_cm
    fig = Figure(figsize=(4.8 * cols, 4.6 * rows * aspect + 1.0 * rows), layout="constrained")
    x_edges = np.arange(0, geometry.width_cm + bin_cm, bin_cm)
    y_edges = np.arange(0, geometry.length_cm + bin_cm, bin_cm)
    maps = []
    for _, start, stop in runs:
        ok = np.isfinite(frames.x_cm[start:stop]) & np.isfinite(frames.y_cm[start:stop])
        hist, _, _ = np.histogram2d(
            frames.x_cm[start:stop][ok], frames.y_cm[start:stop][ok],
            bins=(x_edges, y_edges), weights=durations_s[start:stop][ok],
        )
        maps.append(hist.T)
    vmax = max((float(m.max()) for m in maps), default=1.0) or 1.0
    image = None
    axes = []
    for k, ((name, start, stop), occupancy) in enumerate(zip(runs, maps, strict=True)):
        ax = fig.add_subplot(rows, cols, k + 1)
        axes.append(ax)
        image = ax.imshow(
            occupancy, origin="upper", cmap="magma", vmin=0, vmax=vmax,
            extent=(0, geometry.width_cm, geometry.length_cm, 0), interpolation="nearest",
        )
        side = str(frames.stim_side[start]) if stop > start else "left"
        for s in ("left", "right"):
            x0, x1, y0, y1 = geometry.zone_rect(s)
            ax.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False,
                                   ec=LASER_COLOUR if s == side else "white", lw=1.2,
                                   ls="-" if s == side else "--"))
        ax.set_aspect("equal")
        ax.set_xlabel("x (cm)")
        ax.set_ylabel("y (cm)")
        ax.set_title(f"{name} (stim: {side}, blue outline)", fontsize=10)
    if image is not None:
        fig.colorbar(image, ax=axes, label=f"time per {bin_cm:g} cm bin (s)", shrink=0.8)
    fig.suptitle("Occupancy")
    return fig


def stim_time_bins_figure(
    frames: FrameTable, durations_s: np.ndarray, bin_s: float = 60.0
) -> tuple[Figure, list[dict[str, Any]]]:
    """% of time on the stimulated side in bin_s bins across phases (bins restart per phase)."""
    fig = Figure(figsize=(9, 3.6), layout="constrained")
    ax = fig.add_subplot(1, 1, 1)
    table: list[dict[str, Any]] = []
    for k, (name, start, stop) in enumerate(_phase_rows(frames)):
        t = frames.t_s[start:stop]
        t0 = float(t[0])
        t_end = float(t[-1] + durations_s[stop - 1])
        ax.axvspan(t0 / 60, t_end / 60, color=PHASE_COLOURS[k % len(PHASE_COLOURS)], zorder=0)
        ax.text((t0 + t_end) / 120, 102, name, ha="center", va="bottom", fontsize=8)
        index = np.floor((t - t0) / bin_s).astype(int)
        d = durations_s[start:stop]
        stim = frames.zone[start:stop] == frames.stim_side[start:stop]
        centres, values = [], []
        for b in range(int(index.max()) + 1 if index.size else 0):
            sel = index == b
            total = float(d[sel].sum())
            if total <= 0:
                continue
            pct = 100.0 * float(d[sel & stim].sum()) / total
            centres.append((t0 + (b + 0.5) * bin_s) / 60)
            values.append(pct)
            table.append({"phase": name, "bin": b, "start_s": t0 + b * bin_s,
                          "time_s": total, "stim_pct": pct})
        ax.plot(centres, values, "o-", color=STIM_COLOUR, ms=4)
    ax.axhline(50, color="grey", lw=0.8, ls=":")
    ax.set_ylim(0, 110)
    ax.set_xlabel("session time (min)")
    ax.set_ylabel(f"time on stimulated side (% per {bin_s:g} s)")
    ax.set_title("Time on the stimulated side across phases", fontsize=10)
    return fig, table


def laser_raster_figure(
    frames: FrameTable, geometry: ArenaGeometry, gate_windows: Sequence[tuple[float, float]]
) -> Figure:
    """x position over time with the laser gate windows shaded and compartments marked."""
    fig = Figure(figsize=(10, 3.8), layout="constrained")
    ax = fig.add_subplot(1, 1, 1)
    for w0, w1 in gate_windows:
        ax.axvspan(w0 / 60, w1 / 60, color=LASER_COLOUR, alpha=0.35, lw=0)
    ax.axhspan(geometry.left[1], geometry.right[0], color=NEUTRAL_COLOUR, alpha=0.6, lw=0)
    ax.plot(frames.t_s / 60, frames.x_cm, lw=0.6, color="black")
    for name, start, _ in _phase_rows(frames):
        ax.axvline(frames.t_s[start] / 60, color="red", lw=0.8, ls="--")
        ax.text(frames.t_s[start] / 60, geometry.width_cm * 1.01, f" {name}", fontsize=8,
                va="bottom", color="red")
    ax.set_ylim(0, geometry.width_cm * 1.08)
    ax.set_xlabel("session time (min)")
    ax.set_ylabel("x (cm): left ... right")
    ax.set_title("Position and laser gate (blue: gate open; grey band: neutral zone)", fontsize=10)
    return fig


def latency_histogram_figure(latency_ms: np.ndarray, percentiles: dict[str, Any]) -> Figure:
    """Histogram of frame-to-command latency with p50/p95/p99 marked."""
    fig = Figure(figsize=(6, 3.4), layout="constrained")
    ax = fig.add_subplot(1, 1, 1)
    finite = latency_ms[np.isfinite(latency_ms)]
    if finite.size:
        ax.hist(finite, bins=60, color="#555555")
        for key, colour in (("p50", "green"), ("p95", "orange"), ("p99", "red")):
            value = percentiles.get(key)
            if value is not None:
                ax.axvline(value, color=colour, lw=1, label=f"{key} {value:.1f} ms")
        ax.legend(fontsize=8, loc="upper right")  # "best" can be slow (a warning) on a busy machine
        ax.set_yscale("log")
    else:
        ax.text(0.5, 0.5, "no latency recorded", ha="center", transform=ax.transAxes)
    ax.set_xlabel("frame capture -> laser command (ms)")
    ax.set_ylabel("frames")
    ax.set_title("Control latency", fontsize=10)
    return fig


def entry_delay_figure(delays_ms: Sequence[float]) -> Figure:
    """Histogram of compartment entry -> gate change delays."""
    fig = Figure(figsize=(6, 3.4), layout="constrained")
    ax = fig.add_subplot(1, 1, 1)
    if len(delays_ms):
        ax.hist(np.asarray(delays_ms), bins=40, color=LASER_COLOUR, ec="white")
    else:
        ax.text(0.5, 0.5, "no gate changes after entries", ha="center", transform=ax.transAxes)
    ax.set_xlabel("compartment entry -> gate change (ms)")
    ax.set_ylabel("entries")
    ax.set_title("Laser follow: entry-to-gate delay", fontsize=10)
    return fig


def phase_bars_figure(summary: dict[str, Any]) -> Figure:
    """Stacked % time per compartment for each phase, with preference index annotated."""
    phases = summary.get("phases", [])
    fig = Figure(figsize=(max(4.5, 1.6 * len(phases) + 2), 3.8), layout="constrained")
    ax = fig.add_subplot(1, 1, 1)
    names = [p["phase"] for p in phases]
    bottom = np.zeros(len(phases))
    for key, colour, label in (
        ("stim", STIM_COLOUR, "stimulated side"),
        ("neutral", NEUTRAL_COLOUR, "neutral"),
        ("nonstim", NONSTIM_COLOUR, "non-stimulated side"),
        ("lost", "#f4a582", "lost tracking"),
    ):
        values = np.array([p["time_pct"][key] or 0.0 for p in phases])
        ax.bar(names, values, bottom=bottom, color=colour, label=label, width=0.6)
        bottom += values
    for k, p in enumerate(phases):
        pi = p.get("preference_index")
        ax.text(k, 101, f"PI {pi:+.2f}" if pi is not None else "PI -", ha="center", fontsize=8)
    ax.set_ylim(0, 110)
    ax.set_ylabel("% of phase time")
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))
    ax.set_title("Time per compartment", fontsize=10)
    return fig
