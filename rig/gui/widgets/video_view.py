"""The video view: the camera image with the arena, compartments, neutral band, the tracked
position with a short trail, the blob outline and a "SIMULATED" tag, all in image pixels."""

from __future__ import annotations

import collections
from collections.abc import Sequence
import zlib
from dataclasses import dataclass

import numpy as np
import pyqtgraph as pg
from numpy.typing import NDArray
from PyQt6.QtCore import QPointF
from PyQt6.QtGui import QBrush, QColor, QPen, QPolygonF
from PyQt6.QtWidgets import QGraphicsPolygonItem

Point = tuple[float, float]

#: Colours shared by the video overlays and the plots.
ZONE_COLOURS: dict[str, tuple[int, int, int]] = {
    "left": (230, 159, 0),  # orange
    "right": (0, 158, 115),  # green
    "neutral": (150, 150, 150),
    "lost": (200, 30, 30),
}
STIM_BLUE = (30, 120, 255)
#: Colours of named zones beyond left/right (colour-blind safe, Okabe-Ito).
_NAMED_ZONE_COLOURS = [(86, 180, 233), (240, 228, 66), (213, 94, 0), (204, 121, 167), (0, 114, 178)]


def zone_colour(name: str) -> tuple[int, int, int]:
    """The colour of a zone: fixed for left/right/neutral/lost, stable per name otherwise."""
    known = ZONE_COLOURS.get(name)
    if known is not None:
        return known
    return _NAMED_ZONE_COLOURS[zlib.crc32(name.encode()) % len(_NAMED_ZONE_COLOURS)]


@dataclass(frozen=True, slots=True)
class ZoneOverlay:
    """One polygon to draw over the image (image pixels)."""

    name: str
    polygon_px: tuple[Point, ...]
    colour: tuple[int, int, int]
    label: str = ""


def _polygon(points: Sequence[Point]) -> QPolygonF:
    return QPolygonF([QPointF(float(x), float(y)) for x, y in points])


class VideoView(pg.GraphicsLayoutWidget):  # type: ignore[misc]
    """Image + overlays. GUI thread only; ``show_frame`` costs one texture upload."""

    def __init__(self, trail_length: int = 45, parent: object | None = None) -> None:
        super().__init__(parent=parent)
        self.setBackground((25, 25, 28))
        self.view_box = self.addViewBox(lockAspect=True, invertY=True, enableMouse=False)
        self.view_box.setMenuEnabled(False)
        self.image_item = pg.ImageItem(axisOrder="row-major")
        self.image_item.setLevels((0, 255))
        self.view_box.addItem(self.image_item)
        self._zone_items: list[QGraphicsPolygonItem | pg.TextItem] = []
        self._arena_item: QGraphicsPolygonItem | None = None
        self.trail = collections.deque[Point](maxlen=trail_length)
        self.trail_item = pg.PlotDataItem(pen=pg.mkPen((255, 220, 0, 200), width=2))
        self.contour_item = pg.PlotDataItem(pen=pg.mkPen((255, 60, 200), width=2))
        self.marker_item = pg.ScatterPlotItem(
            size=16, pen=pg.mkPen("w", width=2), brush=pg.mkBrush(255, 60, 200)
        )
        for item in (self.trail_item, self.contour_item, self.marker_item):
            item.setZValue(10)
            self.view_box.addItem(item)
        self.tag_item = pg.TextItem("", color=(255, 230, 0), anchor=(0, 0))
        self.tag_item.setZValue(20)
        self.view_box.addItem(self.tag_item)
        self.lost_item = pg.TextItem("", color=(255, 80, 80), anchor=(1, 0))
        self.lost_item.setZValue(20)
        self.view_box.addItem(self.lost_item)
        self._frame_size: tuple[int, int] | None = None

    # --- overlays ---
    def set_overlays(self, arena_px: Sequence[Point] | None, zones: Sequence[ZoneOverlay]) -> None:
        for item in self._zone_items:
            self.view_box.removeItem(item)
        self._zone_items = []
        for zone in zones:
            r, g, b = zone.colour
            poly = QGraphicsPolygonItem(_polygon(zone.polygon_px))
            poly.setBrush(QBrush(QColor(r, g, b, 55)))
            poly.setPen(QPen(QColor(r, g, b, 220), 0))
            poly.setZValue(5)
            self.view_box.addItem(poly)
            self._zone_items.append(poly)
            if zone.label:
                xs = [p[0] for p in zone.polygon_px]
                ys = [p[1] for p in zone.polygon_px]
                text = pg.TextItem(zone.label, color=(r, g, b), anchor=(0.5, 0))
                text.setPos(float(np.mean(xs)), float(min(ys)) + 2)
                text.setZValue(6)
                self.view_box.addItem(text)
                self._zone_items.append(text)
        if self._arena_item is not None:
            self.view_box.removeItem(self._arena_item)
            self._arena_item = None
        if arena_px:
            arena = QGraphicsPolygonItem(_polygon(arena_px))
            pen = QPen(QColor(80, 200, 255), 0)
            pen.setWidthF(2.0)
            pen.setCosmetic(True)
            arena.setPen(pen)
            arena.setZValue(7)
            self.view_box.addItem(arena)
            self._arena_item = arena

    def set_tag(self, text: str) -> None:
        """A label in the image's top-left corner (e.g. SIMULATED 2x)."""
        self.tag_item.setText(text)

    # --- frames ---
    def set_image(self, image: NDArray[np.uint8]) -> None:
        self.image_item.setImage(image, autoLevels=False, levels=(0, 255))
        size = (int(image.shape[1]), int(image.shape[0]))
        if size != self._frame_size:
            self._frame_size = size
            self.view_box.setRange(xRange=(0, size[0]), yRange=(0, size[1]), padding=0.01)
            self.tag_item.setPos(4, 4)
            self.lost_item.setPos(size[0] - 4, 4)

    def show_frame(
        self,
        image: NDArray[np.uint8],
        position_px: Point | None,
        contour_px: NDArray[np.int32] | None,
    ) -> None:
        """Draw one processed frame: image, marker, trail, blob outline."""
        self.set_image(image)
        if position_px is None or not np.isfinite(position_px[0]):
            self.marker_item.setData([], [])
            self.contour_item.setData([], [])
            self.lost_item.setText("TRACKING LOST")
            return
        self.lost_item.setText("")
        self.trail.append(position_px)
        trail = np.asarray(self.trail, dtype=np.float64)
        self.trail_item.setData(trail[:, 0], trail[:, 1])
        self.marker_item.setData([position_px[0]], [position_px[1]])
        if contour_px is not None and len(contour_px) > 2:
            points = np.asarray(contour_px, dtype=np.float64).reshape(-1, 2)
            points = np.vstack([points, points[:1]])
            self.contour_item.setData(points[:, 0], points[:, 1])
        else:
            self.contour_item.setData([], [])

    def clear_track(self) -> None:
        self.trail.clear()
        for item in (self.trail_item, self.contour_item, self.marker_item):
            item.setData([], [])
        self.lost_item.setText("")
