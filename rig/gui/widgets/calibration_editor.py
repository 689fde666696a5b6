"""Arena calibration editor: grab a frame, click the four arena corners (then drag them to
adjust), enter the real width/length in cm, see the compartments and neutral band, and save
a new calibration file (never overwriting) with its reference image beside it.

Also warns when the camera view has moved since a loaded calibration (``camera_check``).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyqtgraph as pg
from numpy.typing import NDArray
from PyQt6.QtCore import QPointF, pyqtSignal
from PyQt6.QtWidgets import (
    QDialog,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from rig.gui import palette
from rig.gui.camera_check import compare_views
from rig.gui.settings import SetupChoices
from rig.gui.widgets.video_view import VideoView, ZoneOverlay, zone_colour

if TYPE_CHECKING:
    from rig.calibration import ArenaCalibration
    from rig.protocol.load import LoadedProtocol

log = logging.getLogger(__name__)

CORNER_NAMES = ("top-left", "top-right", "bottom-right", "bottom-left")
Point = tuple[float, float]


def grab_frame(choices: SetupChoices, loaded: LoadedProtocol | None) -> NDArray[np.uint8]:
    """One grey frame from the chosen source (synthetic arena, video's first frame, camera)."""
    if choices.source_kind == "synthetic":
        from rig.devices.synthetic import SyntheticArena
        from rig.protocol.load import load_default_protocol

        calibration = (loaded or load_default_protocol()).calibration
        arena = SyntheticArena(calibration, duration_s=1.0)
        with arena:
            frame = arena.read()
    elif choices.source_kind == "video":
        from rig.devices.video_replay import VideoReplay

        with VideoReplay(Path(choices.video_path)) as replay:
            frame = replay.read()
    else:
        from rig.devices.opencv_camera import OpenCVCamera

        with OpenCVCamera(choices.camera_index) as camera:
            frame = camera.read()
    if frame is None:
        from rig.errors import CameraLost

        raise CameraLost(f"{choices.source_spec()}: no frame")
    return frame.image


class CalibrationEditor(QDialog):
    saved = pyqtSignal(object)  # Path of the new calibration file

    def __init__(
        self,
        parent: QWidget | None = None,
        choices: SetupChoices | None = None,
        loaded: LoadedProtocol | None = None,
        grabber: Callable[[], NDArray[np.uint8]] | None = None,
        calibration_dir: Path = Path("calibration"),
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Arena calibration")
        self.resize(1000, 720)
        self._choices = choices or SetupChoices()
        self._loaded = loaded
        self._grabber = grabber or (lambda: grab_frame(self._choices, self._loaded))
        self.image: NDArray[np.uint8] | None = None
        self.corners: list[Point] = []
        self._handles: list[pg.TargetItem] = []
        self.saved_path: Path | None = None

        layout = QVBoxLayout(self)
        self.instructions = QLabel()
        layout.addWidget(self.instructions)
        self.view = VideoView()
        self.view.scene().sigMouseClicked.connect(self._scene_clicked)
        layout.addWidget(self.view, 1)
        self.outline = pg.PlotDataItem(pen=pg.mkPen((80, 200, 255), width=2))
        self.outline.setZValue(8)
        self.view.view_box.addItem(self.outline)

        form = QFormLayout()
        row = QHBoxLayout()
        self.grab_button = QPushButton("Grab frame")
        self.grab_button.clicked.connect(self.grab_from_source)
        row.addWidget(self.grab_button)
        self.reset_button = QPushButton("Clear corners")
        self.reset_button.clicked.connect(self.clear_corners)
        row.addWidget(self.reset_button)
        self.check_button = QPushButton("Compare with the saved calibration")
        self.check_button.setToolTip(
            "Has the camera or the chamber moved since the calibration in use was made? "
            "Compares this frame with its reference image."
        )
        self.check_button.clicked.connect(self.check_camera_view)
        row.addWidget(self.check_button)
        row.addStretch(1)
        form.addRow(row)
        self.width_spin = QDoubleSpinBox()
        self.width_spin.setRange(1, 1000)
        self.width_spin.setSuffix(" cm")
        self.width_spin.setValue(50.0)
        self.width_spin.valueChanged.connect(self._update_drawing)
        self.length_spin = QDoubleSpinBox()
        self.length_spin.setRange(1, 1000)
        self.length_spin.setSuffix(" cm")
        self.length_spin.setValue(25.0)
        self.length_spin.valueChanged.connect(self._update_drawing)
        sizes = QHBoxLayout()
        sizes.addWidget(QLabel("width (left→right wall)"))
        sizes.addWidget(self.width_spin)
        sizes.addWidget(QLabel("length (top→bottom wall)"))
        sizes.addWidget(self.length_spin)
        sizes.addStretch(1)
        form.addRow("Real size", sizes)
        self.name_edit = QLineEdit(f"arena-{dt.date.today().isoformat()}")
        form.addRow("Name", self.name_edit)
        self.folder_edit = QLineEdit(str(calibration_dir))
        form.addRow("Folder", self.folder_edit)
        layout.addLayout(form)
        self.message = QLabel("")
        self.message.setWordWrap(True)
        layout.addWidget(self.message)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        self.save_button = QPushButton("Save calibration")
        self.save_button.clicked.connect(self.save)
        buttons.addWidget(self.save_button)
        close = QPushButton("Close")
        close.clicked.connect(self.reject)
        buttons.addWidget(close)
        layout.addLayout(buttons)
        if loaded is not None:
            self.width_spin.setValue(loaded.calibration.width_cm)
            self.length_spin.setValue(loaded.calibration.length_cm)
        self._update_drawing()

    # --- frame ---
    def grab_from_source(self) -> None:
        try:
            image = self._grabber()
        except Exception as err:
            log.exception("grabbing a frame failed")
            self._say(f"Could not grab a frame: {err}", error=True)
            return
        self.set_image(image)

    def set_image(self, image: NDArray[np.uint8]) -> None:
        self.image = image
        self.view.set_image(image)
        self._update_drawing()
        if self._loaded is not None and self._loaded.calibration.reference_image and not self.corners:
            self.check_camera_view()  # warn at once when the view has moved

    # --- corners ---
    def _scene_clicked(self, event: Any) -> None:
        if self.image is None or len(self.corners) >= 4:
            return
        point = self.view.view_box.mapSceneToView(event.scenePos())
        self.add_corner(point.x(), point.y())

    def add_corner(self, x_px: float, y_px: float) -> None:
        """Set the next corner (top-left, top-right, bottom-right, bottom-left)."""
        if len(self.corners) >= 4:
            return
        index = len(self.corners)
        self.corners.append((float(x_px), float(y_px)))
        handle = pg.TargetItem(
            pos=(x_px, y_px), size=14, movable=True, pen=pg.mkPen((255, 220, 0), width=2),
            label=CORNER_NAMES[index], labelOpts={"color": (255, 220, 0), "offset": (8, 8)},
        )
        handle.setZValue(30)
        handle.sigPositionChanged.connect(lambda item, i=index: self._handle_moved(i, item))
        self.view.view_box.addItem(handle)
        self._handles.append(handle)
        self._update_drawing()

    def move_corner(self, index: int, x_px: float, y_px: float) -> None:
        """Move a corner (as dragging its handle does)."""
        self._handles[index].setPos(QPointF(float(x_px), float(y_px)))

    def _handle_moved(self, index: int, item: pg.TargetItem) -> None:
        pos = item.pos()
        self.corners[index] = (float(pos.x()), float(pos.y()))
        self._update_drawing()

    def clear_corners(self) -> None:
        for handle in self._handles:
            self.view.view_box.removeItem(handle)
        self._handles = []
        self.corners = []
        self._update_drawing()

    # --- calibration ---
    def calibration(self) -> ArenaCalibration:
        """The calibration from the current corners and sizes (raises ValueError if invalid)."""
        from rig.calibration import ArenaCalibration, CameraResolution

        if self.image is None:
            raise ValueError("grab a frame first")
        if len(self.corners) != 4:
            raise ValueError(f"click the {CORNER_NAMES[len(self.corners)]} corner next")
        height, width = self.image.shape[:2]
        name = self.name_edit.text().strip()
        return ArenaCalibration(
            schema_version=1,
            kind="arena",
            name=name or "arena",
            camera=CameraResolution(width_px=width, height_px=height),
            corners_px=[(round(x, 1), round(y, 1)) for x, y in self.corners],
            width_cm=self.width_spin.value(),
            length_cm=self.length_spin.value(),
            measured_on=dt.date.today(),
            reference_image=f"{name}.png" if name else None,
        )

    def _update_drawing(self) -> None:
        n = len(self.corners)
        if self.image is None:
            self.instructions.setText("1. Grab a frame from the chosen source.")
        elif n < 4:
            self.instructions.setText(
                f"2. Click the arena's {CORNER_NAMES[n]} corner ({n}/4). You can drag the corners afterwards."
            )
        else:
            self.instructions.setText(
                "3. Drag corners to adjust, enter the real size in cm, check the compartments, then save."
            )
        if n >= 2:
            points = np.asarray(self.corners + ([self.corners[0]] if n == 4 else []))
            self.outline.setData(points[:, 0], points[:, 1])
        else:
            self.outline.setData([], [])
        zones: list[ZoneOverlay] = []
        if n == 4:
            try:
                calibration = self.calibration()
            except ValueError as err:
                self._say(_first_line(err), error=True)
            else:
                zones = self._zone_overlays(calibration)
                warning = size_disagreement(self.corners, self.width_spin.value(), self.length_spin.value())
                if warning:
                    self._say(warning, error=True)
                else:
                    self._say(f"{calibration.px_per_cm:.2f} px/cm", error=False)
        self.view.set_overlays(None, zones)
        self.save_button.setEnabled(n == 4)

    def _zone_overlays(self, calibration: ArenaCalibration) -> list[ZoneOverlay]:
        from rig.calibration import PixelMapper
        from rig.protocol.models import Arena
        from rig.zones import ZoneMap

        arena = self._loaded.protocol.arena if self._loaded is not None else Arena(calibration="-")
        try:
            zone_map = ZoneMap.from_protocol(arena, calibration)
        except Exception:  # noqa: BLE001 - display only
            zone_map = ZoneMap.split_middle(calibration.width_cm, calibration.length_cm, 4.0)
        return [
            ZoneOverlay(zone.value, tuple(poly), zone_colour(zone.value),
                        "" if zone.value == "neutral" else zone.value.upper())
            for zone, poly in zone_map.polygons_px(PixelMapper(calibration)).items()
        ]

    def save(self) -> Path | None:
        """Write ``<folder>/<name>.yaml`` and ``<name>.png``; never overwrites."""
        import cv2

        from rig.calibration_io import save_arena_calibration
        from rig.errors import RigError

        try:
            calibration = self.calibration()
        except ValueError as err:
            self._say(f"Cannot save: {_first_line(err)}", error=True)
            return None
        folder = Path(self.folder_edit.text().strip() or "calibration")
        path = folder / f"{calibration.name}.yaml"
        image_path = folder / f"{calibration.name}.png"
        if image_path.exists():
            self._say(f"Cannot save: {image_path} already exists; choose another name.", error=True)
            return None
        try:
            save_arena_calibration(calibration, path)
        except RigError as err:
            self._say(f"Cannot save: {err}", error=True)
            return None
        assert self.image is not None
        if not cv2.imwrite(str(image_path), self.image):
            self._say(f"Saved {path}, but the reference image {image_path} could not be written.", error=True)
        else:
            self._say(f"Saved {path} and reference image {image_path.name}.", error=False)
        self.saved_path = path
        self.saved.emit(path)
        return path

    def check_camera_view(self) -> str:
        """Compare the grabbed frame with the loaded calibration's reference image."""
        import cv2

        if self._loaded is None or self.image is None:
            return self._say("Load a protocol and grab a frame first.", error=True)
        calibration = self._loaded.calibration
        if not calibration.reference_image:
            return self._say("The calibration has no reference image to compare with.", error=True)
        reference_path = self._loaded.calibration_path.parent / calibration.reference_image
        reference: NDArray[np.uint8] | None = cv2.imread(str(reference_path), cv2.IMREAD_GRAYSCALE)  # type: ignore[assignment]
        if reference is None:
            return self._say(f"Reference image not readable: {reference_path}", error=True)
        check = compare_views(reference, self.image, calibration.corners_px)
        return self._say(check.describe(), error=check.moved)

    def _say(self, text: str, error: bool) -> str:
        self.message.setText(text)
        self.message.setStyleSheet(palette.style(palette.ERROR if error else palette.OK))
        return text


#: Scale across and along the arena may differ this much (camera tilt) before a warning.
MAX_SCALE_DISAGREEMENT = 0.10


def size_disagreement(corners: list[Point], width_cm: float, length_cm: float) -> str:
    """A warning when the sizes in cm do not fit the corners' shape: the px/cm across
    (left-right) and along (top-bottom) differ by more than ``MAX_SCALE_DISAGREEMENT``.
    Empty when they agree."""
    if len(corners) != 4 or width_cm <= 0 or length_cm <= 0:
        return ""
    c = np.asarray(corners, np.float64)
    across = (np.linalg.norm(c[1] - c[0]) + np.linalg.norm(c[2] - c[3])) / 2 / width_cm
    along = (np.linalg.norm(c[3] - c[0]) + np.linalg.norm(c[2] - c[1])) / 2 / length_cm
    if across <= 0 or along <= 0:
        return ""
    if abs(across - along) / max(across, along) <= MAX_SCALE_DISAGREEMENT:
        return ""
    implied_length = length_cm * along / across
    return (
        f"Check the sizes: the corners give {across:.1f} px/cm across (width {width_cm:g} cm) "
        f"but {along:.1f} px/cm along (length {length_cm:g} cm). With this width the length "
        f"would be about {implied_length:.1f} cm."
    )


def _first_line(err: Exception) -> str:
    text = str(err)
    if "validation error" in text:
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        return lines[2] if len(lines) > 2 else text
    return text
