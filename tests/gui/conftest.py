"""GUI test fixtures: offscreen Qt, QSettings in tmp_path, no modal dialog ever blocks."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def gui_settings_dir(tmp_path: Path) -> Iterator[Path]:
    """Every GUI test stores QSettings under its own tmp_path."""
    from rig.gui.settings import use_settings_dir

    folder = tmp_path / "qsettings"
    folder.mkdir()
    use_settings_dir(folder)
    yield folder


@pytest.fixture(autouse=True)
def collect_qt_garbage_between_tests() -> Iterator[None]:
    """Collect the previous test's widgets here, between tests, not at a random allocation
    inside a later test's paint: Python's cycle collector deleting a pyqtgraph item whose
    C++ object the scene still paints crashed a full run once ("wrapped C/C++ object of type
    ViewBox has been deleted", then a segmentation fault in pyqtgraph's axis paint)."""
    import gc

    yield
    from PyQt6.QtWidgets import QApplication

    app = QApplication.instance()
    if app is not None:
        app.processEvents()  # deliver pending deleteLater and paint events first
    gc.collect()
    if app is not None:
        app.processEvents()
