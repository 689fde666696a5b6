"""Live pyqtgraph plots: cumulative time per compartment per phase, position over time and
a laser raster. Fed with FrameSample batches drained from the bridge (GUI thread); drawing is
decimated so it costs the same at 30 fps or at replay speed "max"."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyqtgraph as pg
from PyQt6.QtWidgets import QGraphicsItem, QWidget

from rig.gui import palette
from rig.gui.bridge import FrameSample
from rig.gui.widgets.video_view import STIM_BLUE, ZONE_COLOURS

ZONES = ("left", "right", "neutral", "lost")
#: At most this many points are drawn in the position plot (older data is strided).
MAX_DRAWN_POINTS = 1500


class LivePlots(pg.GraphicsLayoutWidget):  # type: ignore[misc]
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent=parent)
        self.setBackground((25, 25, 28))
        # The colour key is in the title, not a legend box: a legend inside the plot covered
        # the bars.
        key = " ".join(
            f"<span style='color:{palette.ZONE_TEXT[z]}'>■ {z}</span>" for z in ZONES[:3]
        )
        self.bar_plot = self.addPlot(row=0, col=0, title=f"Time per compartment (s) {key}")
        self.bar_plot.showGrid(y=True, alpha=0.3)
        self.bar_plot.setMouseEnabled(x=False, y=False)
        self._bars: dict[str, pg.BarGraphItem] = {}
        width = 0.2
        for i, zone in enumerate(ZONES[:3]):
            bar = pg.BarGraphItem(
                x=[], height=[], width=width, brush=pg.mkBrush(*ZONE_COLOURS[zone]), name=zone
            )
            self._bars[zone] = bar
            self.bar_plot.addItem(bar)
        self.position_plot = self.addPlot(row=1, col=0, title="Position x (cm)")
        self.position_plot.showGrid(x=True, y=True, alpha=0.3)
        self.position_plot.setMouseEnabled(x=False, y=False)
        self.position_curve = self.position_plot.plot(pen=pg.mkPen((230, 230, 230), width=1))
        self._boundary_lines: list[pg.InfiniteLine] = []
        self.laser_plot = self.addPlot(row=2, col=0, title="Laser gate")
        self.laser_plot.setXLink(self.position_plot)
        self.laser_plot.setYRange(0, 1, padding=0.05)
        self.laser_plot.hideAxis("left")
        self.laser_plot.setMouseEnabled(x=False, y=False)
        self.laser_plot.setLabel("bottom", "session time (s)")
        self.laser_curve = self.laser_plot.plot(
            pen=pg.mkPen(STIM_BLUE, width=1),
            fillLevel=0,
            # Opaque on purpose: QPainter.fillPath holds the GIL, and alpha-blending a large
            # translucent area cost several ms per repaint (seen as control-loop latency).
            brush=pg.mkBrush(*STIM_BLUE),
            stepMode="center",
        )
        for plot in (self.bar_plot, self.position_plot, self.laser_plot):
            for name in ("left", "bottom"):
                # Axes are repainted from a cached pixmap unless their range changes.
                plot.getAxis(name).setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        self.horizontal = False
        self.set_horizontal(False)
        self.frozen = False
        self.reset()

    def set_horizontal(self, horizontal: bool) -> None:
        """Plots side by side (a strip under the video on small screens) or stacked."""
        self.horizontal = horizontal
        plots = (self.bar_plot, self.position_plot, self.laser_plot)
        layout = self.ci.layout
        # Move the plots within Qt's grid only. pyqtgraph's GraphicsLayout.removeItem takes
        # each plot out of the scene, which hands its C++ object to Python; put back, the
        # scene and Python both owned it and a later garbage collection deleted a plot the
        # scene still painted ("wrapped C/C++ object of type ViewBox has been deleted",
        # then a segmentation fault in a later test).
        for plot in plots:
            layout.removeItem(plot)
        for i, plot in enumerate(plots):
            layout.addItem(plot, 0 if horizontal else i, i if horizontal else 0)
        for i, stretch in enumerate((3, 3, 1)):
            layout.setRowStretchFactor(i, 0 if horizontal else stretch)
            layout.setColumnStretchFactor(i, (2, 3, 2)[i] if horizontal else 0)

    def freeze(self, t_s: float | None = None) -> None:
        """Keep the plots as they are (the session ended); ``reset`` thaws them."""
        self.frozen = True

    def reset(self, phases: Sequence[str] = (), boundaries_cm: Sequence[float] = (),
              width_cm: float | None = None, stim_side: str = "",
              total_s: float | None = None) -> None:
        """Clear everything for a new session (phase names, compartment boundaries in x cm)."""
        self.frozen = False
        self.phases = list(phases)
        self.time_s = np.zeros((max(len(self.phases), 1), len(ZONES)))
        self._t: list[float] = []
        self._x: list[float] = []
        self._laser_t: list[float] = []
        self._laser_v: list[float] = []
        self._last: FrameSample | None = None
        for line in self._boundary_lines:
            self.position_plot.removeItem(line)
        self._boundary_lines = []
        for x_cm in boundaries_cm:
            line = pg.InfiniteLine(pos=x_cm, angle=0, pen=pg.mkPen((150, 150, 150), style=pg.QtCore.Qt.PenStyle.DashLine))
            self.position_plot.addItem(line)
            self._boundary_lines.append(line)
        if width_cm:
            self.position_plot.setYRange(0, width_cm, padding=0.02)
        if total_s:
            # Fixed axes: nothing is re-laid out while the session runs.
            self.position_plot.setXRange(0, total_s, padding=0.01)
        ticks = [(i, name) for i, name in enumerate(self.phases)]
        self.bar_plot.getAxis("bottom").setTicks([ticks])
        self.bar_plot.setXRange(-0.5, max(len(self.phases), 1) - 0.5, padding=0.02)
        self.stim_side = stim_side
        self.position_curve.setData([], [])
        self.laser_curve.setData([0.0, 0.0], [0.0])
        self.redraw()

    def add_samples(self, samples: Sequence[FrameSample]) -> None:
        """Accumulate a batch of frame samples (cheap; call redraw() at a few Hz)."""
        if self.frozen:
            return
        for sample in samples:
            last = self._last
            if last is not None and sample.t_s > last.t_s:
                row = min(last.phase_index, self.time_s.shape[0] - 1)
                col = ZONES.index(last.zone) if last.zone in ZONES else 3
                self.time_s[row, col] += sample.t_s - last.t_s
            if last is None or sample.laser_on != last.laser_on:
                self._laser_t.append(sample.t_s)
                self._laser_v.append(1.0 if sample.laser_on else 0.0)
            self._t.append(sample.t_s)
            self._x.append(np.nan if sample.x_cm is None else sample.x_cm)
            self._last = sample

    def redraw(self) -> None:
        for part in range(3):
            self.redraw_part(part)

    def redraw_part(self, part: int) -> None:
        """Redraw one plot (0 bars, 1 position, 2 laser): spreads the repaint cost."""
        if part == 0:
            self._redraw_bars()
        elif part == 1 and self._t:
            t = np.asarray(self._t)
            x = np.asarray(self._x)
            stride = max(1, len(t) // MAX_DRAWN_POINTS)
            self.position_curve.setData(t[::stride], x[::stride], connect="finite")
        elif part == 2 and self._t:
            laser_t = self._laser_t + [self._t[-1]]
            self.laser_curve.setData(np.asarray(laser_t), np.asarray(self._laser_v))

    def _redraw_bars(self) -> None:
        n_phases = max(len(self.phases), 1)
        for i, zone in enumerate(ZONES[:3]):
            self._bars[zone].setOpts(
                x=np.arange(n_phases) + (i - 1) * 0.22, height=self.time_s[:n_phases, i], width=0.2
            )

    @property
    def n_samples(self) -> int:
        return len(self._t)
