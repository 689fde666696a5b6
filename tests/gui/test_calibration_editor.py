"""Arena calibration by simulated clicks, saved as a new file that loads back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from PyQt6.QtCore import QPointF, Qt

from rig.calibration_io import load_arena_calibration
from rig.devices.synthetic import SyntheticArena
from rig.gui.camera_check import compare_views
from rig.gui.widgets.calibration_editor import CalibrationEditor
from rig.protocol.load import load_default_protocol

TRUE_CORNERS = [(20, 90), (620, 90), (620, 390), (20, 390)]


def _empty_arena() -> np.ndarray:
    loaded = load_default_protocol()
    arena = SyntheticArena(loaded.calibration, duration_s=1.0)
    with arena:
        return arena.empty_arena()


def _click(qtbot: Any, editor: CalibrationEditor, x_px: float, y_px: float) -> None:
    scene_point = editor.view.view_box.mapViewToScene(QPointF(x_px, y_px))
    widget_point = editor.view.mapFromScene(scene_point)
    qtbot.mouseClick(editor.view.viewport(), Qt.MouseButton.LeftButton, pos=widget_point)


@pytest.fixture
def editor(qtbot: Any, tmp_path: Path) -> CalibrationEditor:
    image = _empty_arena()
    dialog = CalibrationEditor(grabber=lambda: image, calibration_dir=tmp_path)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    return dialog


def test_calibrate_by_clicks_and_save(qtbot: Any, editor: CalibrationEditor, tmp_path: Path) -> None:
    editor.grab_button.click()
    assert editor.image is not None
    assert not editor.save_button.isEnabled()
    # The technician clicks a little off on the last corner, then drags it into place.
    for x, y in TRUE_CORNERS[:3]:
        _click(qtbot, editor, x, y)
    _click(qtbot, editor, 30, 380)
    assert len(editor.corners) == 4
    for (x, y), (cx, cy) in zip(TRUE_CORNERS[:3], editor.corners[:3], strict=True):
        assert abs(cx - x) < 2.0 and abs(cy - y) < 2.0
    editor.move_corner(3, 20, 390)
    assert editor.corners[3] == pytest.approx((20, 390))
    editor.width_spin.setValue(50)
    editor.length_spin.setValue(25)
    assert "px/cm" in editor.message.text()
    assert len(editor.view._zone_items) >= 3  # left, right, neutral band drawn
    editor.name_edit.setText("rig1")
    path = editor.save()
    assert path == tmp_path / "rig1.yaml"
    calibration = load_arena_calibration(path)
    assert calibration.width_cm == 50 and calibration.length_cm == 25
    for (x, y), (cx, cy) in zip(TRUE_CORNERS, calibration.corners_px, strict=True):
        assert abs(cx - x) < 2.0 and abs(cy - y) < 2.0
    assert calibration.reference_image == "rig1.png"
    assert (tmp_path / "rig1.png").exists()
    # Saving again never overwrites.
    before = path.read_bytes()
    assert editor.save() is None
    assert "already exists" in editor.message.text()
    assert path.read_bytes() == before


def test_save_needs_four_corners(qtbot: Any, editor: CalibrationEditor) -> None:
    editor.grab_button.click()
    _click(qtbot, editor, 20, 90)
    assert editor.save() is None
    assert "top-right" in editor.instructions.text()


def test_camera_moved_warning_on_the_synthetic_arena() -> None:
    image = _empty_arena()
    reference = image.copy()
    assert not compare_views(reference, image, TRUE_CORNERS).moved
    matrix = np.float32([[1, 0, 15], [0, 1, 8]])
    moved = cv2.warpAffine(image, matrix, (image.shape[1], image.shape[0]), borderMode=cv2.BORDER_REPLICATE)
    check = compare_views(reference, moved, TRUE_CORNERS)
    assert check.moved and "has probably been moved" in check.describe()


def test_editor_warns_when_the_camera_moved(qtbot: Any, tmp_path: Path) -> None:
    from rig.calibration_io import save_arena_calibration
    from rig.protocol.load import default_protocol_path, load_protocol

    image = _empty_arena()
    calibration = load_default_protocol().calibration.model_copy(
        update={"name": "bench", "reference_image": "bench.png"}
    )
    save_arena_calibration(calibration, tmp_path / "bench.yaml")
    cv2.imwrite(str(tmp_path / "bench.png"), image)
    protocol = default_protocol_path().read_text().replace("synthetic_arena.yaml", "bench.yaml")
    (tmp_path / "p.yaml").write_text(protocol)
    loaded = load_protocol(tmp_path / "p.yaml")
    frames = [image, np.roll(image, 15, axis=1)]
    editor = CalibrationEditor(grabber=frames.pop, loaded=loaded, calibration_dir=tmp_path)
    qtbot.addWidget(editor)
    editor.grab_button.click()  # the moved view
    assert "has probably been moved" in editor.message.text()
    editor.grab_button.click()  # the same view as the reference
    assert "matches the calibration's reference image" in editor.message.text()
