"""Screenshots of the technician's day (docs/gui.md), from the real window and engine.

    QT_QPA_PLATFORM=xcb xvfb-run -a -s "-screen 0 1920x1080x24" .venv/bin/python scripts/gui_screenshots.py
    (or QT_QPA_PLATFORM=offscreen .venv/bin/python scripts/gui_screenshots.py)

At 1280x800 and 1920x1080: set-up with pre-flight, preview, arming, running with the laser
on, paused, e-stopped, incomplete (a board that stops answering), and the summary. PNGs go
to docs/gui/; session records to a temporary folder.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from PyQt6.QtCore import Qt
from PyQt6.QtTest import QTest
from PyQt6.QtWidgets import QApplication

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rig.gui import settings as gui_settings  # noqa: E402
from rig.gui.controller import make_runner  # noqa: E402
from rig.gui.main_window import MainWindow  # noqa: E402
from rig.gui.widgets.setup_panel import DEMO_PROTOCOL  # noqa: E402

OUT = ROOT / "docs" / "gui"


def wait_until(app: QApplication, condition: Any, timeout_s: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        app.processEvents()
        if condition():
            return True
        QTest.qWait(50)
    return False


def shoot(app: QApplication, widget: Any, name: str) -> None:
    app.processEvents()
    QTest.qWait(200)
    app.processEvents()
    path = OUT / f"{name}.png"
    widget.grab().save(str(path), "PNG")
    print(f"{path.relative_to(ROOT)} ({widget.width()}x{widget.height()})")


class Factory:
    def __init__(self) -> None:
        self.fail_board = False
        self.runners: list[Any] = []

    def __call__(self, choices: Any, loaded: Any, observers: Any) -> Any:
        runner = make_runner(choices, loaded, observers, duration_scale=0.25)
        if self.fail_board:
            # The camera dies mid-session (as an unplugged USB camera would).
            from rig.errors import CameraLost

            source = runner._source
            original = source.read
            count = [0]

            def failing() -> Any:
                count[0] += 1
                if count[0] > 500:
                    raise CameraLost(f"{source.name}: camera unplugged")
                return original()

            source.read = failing
        self.runners.append(runner)
        return runner


def day(app: QApplication, width: int, height: int, tmp: Path) -> None:
    tag = f"{width}x{height}"
    factory = Factory()
    window = MainWindow(runner_factory=factory, opener=lambda p: None, build_report=True)
    window.resize(width, height)
    panel = window.setup_panel
    panel.set_protocol_path(DEMO_PROTOCOL)
    panel.animal_edit.setText("m017")
    panel.experimenter_edit.setText("A. Tech")
    panel.output_edit.setText(str(tmp / f"sessions-{tag}"))
    window.live_view.sim_controls.set_speed("2")
    window.show()
    wait_until(app, lambda: window.isVisible(), 5)
    panel.run_preflight()
    shoot(app, window, f"setup-preflight-{tag}")
    window.toggle_preview("synthetic")
    wait_until(app, lambda: window.live_view.video.frames_shown > 5, 10)
    shoot(app, window, f"preview-{tag}")
    window.stop_preview()

    panel.start_button.click()
    wait_until(app, lambda: window.live_view.header.progress.value() > 300, 30)
    shoot(app, window, f"arming-{tag}")
    wait_until(app, lambda: window.live_view.laser.laser_on, 90)
    QTest.qWait(1500)
    wait_until(app, lambda: window.live_view.laser.laser_on, 30)
    window.plots.redraw()
    shoot(app, window, f"running-laser-on-{tag}")
    window.live_view.sim_controls.pause_button.click()
    QTest.qWait(600)
    shoot(app, window, f"paused-{tag}")
    window.live_view.sim_controls.pause_button.click()
    QTest.qWait(1500)
    QTest.keyClick(window, Qt.Key.Key_Escape)
    wait_until(app, lambda: not window.session_active, 30)
    dialog = window.summary_dialog
    if dialog is not None:
        wait_until(app, lambda: dialog.n_report_images > 0, 60)
        dialog.resize(min(1100, width - 60), min(760, height - 60))
        shoot(app, dialog, f"summary-{tag}")
        dialog.close()
    shoot(app, window, f"e-stopped-{tag}")

    factory.fail_board = True
    window.live_view.banner.hide()
    panel.start_button.click()
    wait_until(app, lambda: factory.runners and not window.session_active and window.last_status is not None
               and window.last_status.end_reason is not None, 120)
    if window.summary_dialog is not None:
        window.summary_dialog.close()
    shoot(app, window, f"incomplete-{tag}")
    window.close()
    app.processEvents()


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    app = QApplication.instance() or QApplication(sys.argv[:1])
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        gui_settings.use_settings_dir(tmp / "settings")
        for width, height in ((1280, 800), (1920, 1080)):
            day(app, width, height, tmp)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
