"""The live video: frames composited with OpenCV and shown in a plain QLabel.

Why not a pyqtgraph view here: a QGraphicsView with Python ``paint`` overrides holds the
GIL for its whole repaint (about 5 ms for a 640x480 frame with translucent zones), which
showed as extra loop latency on the control thread. Here the overlays (tinted compartments,
neutral band, arena outline, trail, blob outline, position, tags) are drawn by OpenCV
calls that release the GIL, at the label's size, and the QLabel paints the pixmap in C++
without Python. Cost per displayed frame: ~1 ms of GUI-thread time, mostly GIL-free.
"""

from __future__ import annotations

import collections
from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray
from PyQt6.QtCore import Qt
from PyQt6.QtGui import QImage, QPixmap
from PyQt6.QtWidgets import QLabel, QSizePolicy, QWidget

from rig.gui.widgets.video_view import STIM_BLUE, ZoneOverlay

Point = tuple[float, float]
#: Share of the compartment colour mixed into the image inside a compartment.
TINT_ALPHA = 0.28


class LiveVideoView(QLabel):
    def __init__(self, trail_length: int = 45, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setMinimumSize(320, 240)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setStyleSheet("background:#19191c;")
        self.trail = collections.deque[Point](maxlen=trail_length)
        self._arena_px: list[Point] = []
        self._zones: list[ZoneOverlay] = []
        self._tint_size: tuple[int, int] | None = None
        self._tint: Any = None
        self._outside: Any = None
        self.tag = ""
        self.lost = False
        self.frames_shown = 0
        self._buffer: Any = None  # keeps the QImage's memory alive
        #: The last frame drawn, to redraw it when the gate or pause state changes.
        self._last: tuple[Any, Point | None, Any, bool] | None = None
        self.gate_border = False
        self.paused = False

    # --- overlays ---
    def set_overlays(self, arena_px: Sequence[Point] | None, zones: Sequence[ZoneOverlay]) -> None:
        self._arena_px = list(arena_px or [])
        self._zones = list(zones)
        self._tint_size = None

    def set_tag(self, text: str) -> None:
        self.tag = text

    def clear_track(self) -> None:
        self.trail.clear()
        self.lost = False

    def set_gate(self, laser_on: bool) -> None:
        """Redraw the last frame with or without the blue gate-open border."""
        if self._last is not None and self._last[3] != laser_on:
            image, position, contour, _ = self._last
            self._redraw(image, position, contour, laser_on)

    def set_paused(self, paused: bool) -> None:
        """Draw (or remove) the large PAUSED overlay on the last frame."""
        if paused == self.paused:
            return
        self.paused = paused
        if self._last is not None:
            self._redraw(*self._last)

    def _redraw(self, image: Any, position: Point | None, contour: Any, laser_on: bool) -> None:
        # Redraw without adding to the trail again.
        trail = list(self.trail)
        self.show_frame(image, position, contour, laser_on, track=position is not None or self.lost)
        self.trail.clear()
        self.trail.extend(trail)

    def _build_tint(self, width: int, height: int) -> None:
        tint = np.zeros((height, width, 3), np.uint8)
        inside = np.zeros((height, width), np.uint8)
        for zone in self._zones:
            polygon = np.round(np.asarray(zone.polygon_px, np.float64)).astype(np.int32)
            cv2.fillPoly(tint, [polygon], zone.colour)
            cv2.fillPoly(inside, [polygon], 255)
        self._tint = tint
        self._outside = cv2.bitwise_not(inside)
        self._tint_size = (width, height)

    # --- frames ---
    def set_image(self, image: NDArray[np.uint8]) -> None:
        self.show_frame(image, None, None, track=False)

    def show_frame(
        self,
        image: NDArray[np.uint8],
        position_px: Point | None,
        contour_px: NDArray[np.int32] | None,
        laser_on: bool = False,
        track: bool = True,
    ) -> None:
        self._last = (image, position_px, contour_px, laser_on) if track else (image, None, None, laser_on)
        self.gate_border = laser_on
        height, width = image.shape[:2]
        if self._tint_size != (width, height):
            self._build_tint(width, height)
        rgb: Any = cv2.cvtColor(image, cv2.COLOR_GRAY2RGB) if image.ndim == 2 else image.copy()
        if self._zones and self._tint is not None:
            blended = cv2.addWeighted(rgb, 1 - TINT_ALPHA, self._tint, TINT_ALPHA, 0)
            cv2.copyTo(rgb, self._outside, blended)
            rgb = blended
        # Fit the label, keeping the aspect ratio.
        box_w, box_h = max(self.width(), 16), max(self.height(), 16)
        scale = min(box_w / width, box_h / height)
        out_w, out_h = max(1, int(width * scale)), max(1, int(height * scale))
        frame: Any = cv2.resize(rgb, (out_w, out_h), interpolation=cv2.INTER_LINEAR)
        thickness = max(1, round(2 * scale))
        shift = 4  # sub-pixel precision of the drawing calls

        def pts(points: Sequence[Point] | NDArray[Any]) -> NDArray[np.int32]:
            array = np.asarray(points, np.float64).reshape(-1, 2) * scale
            result: NDArray[np.int32] = np.round(array * (1 << shift)).astype(np.int32)
            return result

        for zone in self._zones:
            cv2.polylines(frame, [pts(zone.polygon_px)], True, zone.colour, 1, cv2.LINE_AA, shift)
            if zone.label:
                xs = [p[0] for p in zone.polygon_px]
                ys = [p[1] for p in zone.polygon_px]
                self._text(frame, zone.label, (np.mean(xs) * scale, min(ys) * scale + 22),
                           zone.colour, centre=True)
        if self._arena_px:
            cv2.polylines(frame, [pts(self._arena_px)], True, (80, 200, 255), thickness, cv2.LINE_AA, shift)
        if track:
            found = position_px is not None and bool(np.isfinite(position_px[0]))
            self.lost = not found
            if found:
                assert position_px is not None
                self.trail.append(position_px)
                if len(self.trail) > 1:
                    cv2.polylines(frame, [pts(list(self.trail))], False, (255, 220, 0), thickness, cv2.LINE_AA, shift)
                if contour_px is not None and len(contour_px) > 2:
                    cv2.polylines(frame, [pts(contour_px)], True, (255, 60, 200), thickness, cv2.LINE_AA, shift)
                centre = pts([position_px])[0]
                radius = int(7 * (1 << shift))
                cv2.circle(frame, (int(centre[0]), int(centre[1])), radius, (255, 60, 200), -1, cv2.LINE_AA, shift)
                cv2.circle(frame, (int(centre[0]), int(centre[1])), radius, (255, 255, 255), 2, cv2.LINE_AA, shift)
            else:
                self._text(frame, "TRACKING LOST", (out_w - 10, 28), (255, 80, 80), right=True)
        if laser_on:
            cv2.rectangle(frame, (0, 0), (out_w - 1, out_h - 1), STIM_BLUE, max(4, thickness * 3))
        if self.tag:
            self._text(frame, self.tag, (10, 28), (255, 194, 102))
        if self.paused:
            self._paused_overlay(frame, out_w, out_h)
        # 32-bit BGRA is the native pixmap layout: QPixmap.fromImage is then a plain copy.
        self._buffer = cv2.cvtColor(frame, cv2.COLOR_RGB2BGRA)
        qimage = QImage(self._buffer.data, out_w, out_h, 4 * out_w, QImage.Format.Format_RGB32)
        self.setPixmap(QPixmap.fromImage(qimage))
        self.frames_shown += 1

    @staticmethod
    def _paused_overlay(frame: Any, width: int, height: int) -> None:
        """A dimmed frame with a large PAUSED word: impossible to take for a live view."""
        frame[:] = (frame * 0.45).astype(np.uint8)
        font, size, weight = cv2.FONT_HERSHEY_DUPLEX, max(1.0, width / 260), max(2, width // 160)
        (text_w, text_h), _ = cv2.getTextSize("PAUSED", font, size, weight)
        origin = (int((width - text_w) / 2), int((height + text_h) / 2))
        cv2.putText(frame, "PAUSED", origin, font, size, (0, 0, 0), weight + 6, cv2.LINE_AA)
        cv2.putText(frame, "PAUSED", origin, font, size, (255, 194, 102), weight, cv2.LINE_AA)

    @staticmethod
    def _text(
        frame: Any, text: str, at: tuple[float, float],
        colour: tuple[int, int, int], centre: bool = False, right: bool = False,
    ) -> None:
        font, size, weight = cv2.FONT_HERSHEY_SIMPLEX, 0.6, 2
        (text_w, _text_h), _ = cv2.getTextSize(text, font, size, weight)
        x = at[0] - text_w / 2 if centre else at[0] - text_w if right else at[0]
        origin = (int(x), int(at[1]))
        cv2.putText(frame, text, origin, font, size, (0, 0, 0), weight + 2, cv2.LINE_AA)
        cv2.putText(frame, text, origin, font, size, colour, weight, cv2.LINE_AA)
