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
