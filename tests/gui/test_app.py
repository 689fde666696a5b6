"""The rig-gui entry point: options pre-fill the panel, --screenshot runs a session and saves a PNG."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from PyQt6.QtGui import QImage

from rig.cli import build_parser
from rig.gui import app


def test_rig_gui_subcommand_is_registered() -> None:
    args = build_parser().parse_args(["gui", "--protocol", "demo", "--simulate", "synthetic"])
    assert args.command == "gui" and args.protocol == "demo" and args.simulate == "synthetic"


def test_screenshot_mid_session(qtbot: Any, tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.setattr(sys, "excepthook", sys.excepthook)  # restored after the test
    png = tmp_path / "shot.png"
    code = app.main([
        "--protocol", "demo", "--simulate", "synthetic", "--animal", "m001",
        "--out", str(tmp_path / "out"), "--speed", "10", "--settings-dir", str(tmp_path / "settings"),
        "--screenshot", str(png), "--screenshot-after-s", "0.5",
    ])
    assert code == 0
    image = QImage(str(png))
    assert image.width() > 800 and image.height() > 500
    sessions = list((tmp_path / "out").glob("*/*/session.json"))
    assert len(sessions) == 1
