"""``rig-gui`` / ``rig gui``: the QApplication, logging, and an excepthook that stops the runner.

Options pre-fill the set-up panel (``--protocol``, ``--simulate VIDEO``, ``--animal``,
``--out``, ``--speed``); ``--autostart`` starts the session at once (demos, screenshots);
``--screenshot PATH --screenshot-after-s N`` saves a PNG of the window N s after the start
and quits (used by ``scripts/screenshot.sh``).
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from types import TracebackType

log = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rig-gui", description="optorig technician's GUI")
    add_arguments(parser)
    return parser


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--protocol", metavar="P", help="protocol YAML to load ('demo' = embedded)")
    parser.add_argument(
        "--simulate", metavar="VIDEO",
        help="simulation mode on a recorded video ('synthetic' = the synthetic arena), mock board",
    )
    parser.add_argument("--animal", metavar="ID", help="animal ID")
    parser.add_argument("--out", metavar="DIR", help="output folder for session records")
    parser.add_argument("--speed", choices=["1", "2", "10", "max"], help="simulation playback speed (x real time; max = as fast as possible)")
    parser.add_argument("--autostart", action="store_true", help="start the session at once")
    parser.add_argument("--screenshot", metavar="PNG", type=Path, help="save a window screenshot and quit")
    parser.add_argument(
        "--screenshot-after-s", metavar="N", type=float, default=8.0,
        help="seconds after the start to take the screenshot (default 8)",
    )
    parser.add_argument("--settings-dir", type=Path, help=argparse.SUPPRESS)


def _setup_logging(verbosity: int = 0) -> None:
    level = logging.WARNING if verbosity == 0 else logging.INFO if verbosity == 1 else logging.DEBUG
    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        root.addHandler(handler)
    root.setLevel(level)
    from rig.devices.opencv_log import quiet_opencv_log

    quiet_opencv_log(verbosity)


#: GIL switch interval while the GUI runs: the control thread waits at most this long for the
#: interpreter while the GUI thread draws (Python's default is 5 ms, which showed as +5 ms
#: on the loop's p99 latency; see benchmarks/bench_gui_latency.py). A process-wide setting,
#: so the entry point sets it, not a widget.
GIL_SWITCH_INTERVAL_S = 0.0005


def set_gui_switch_interval() -> None:
    """Shorten the GIL switch interval for a process that runs the GUI and the engine."""
    if sys.getswitchinterval() > GIL_SWITCH_INTERVAL_S:
        sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)


def run_gui(args: argparse.Namespace) -> int:
    from PyQt6.QtCore import QEvent, QTimer
    from PyQt6.QtWidgets import QApplication

    from rig.gui import settings as gui_settings
    from rig.gui.main_window import MainWindow
    from rig.gui.widgets.setup_panel import DEMO_PROTOCOL

    if args.settings_dir is not None:
        gui_settings.use_settings_dir(args.settings_dir)
    set_gui_switch_interval()
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("optorig")
    window = MainWindow()
    _install_excepthook(window)

    choices = gui_settings.load_choices()
    if args.protocol:
        choices = replace(choices, protocol_path=DEMO_PROTOCOL if args.protocol == "demo" else args.protocol)
    if args.simulate:
        if args.simulate == "synthetic":
            choices = replace(choices, source_kind="synthetic", board="mock")
        else:
            choices = replace(choices, source_kind="video", video_path=args.simulate, board="mock")
    if args.animal:
        choices = replace(choices, animal_id=args.animal)
    if args.out:
        choices = replace(choices, output_dir=args.out)
    if args.speed:
        choices = replace(choices, speed=args.speed)
    window.setup_panel.apply_choices(choices)
    window.live_view.sim_controls.set_speed(choices.speed)
    window.show()

    if args.autostart or args.screenshot:
        def start() -> None:
            problems = window.setup_panel.problems()
            if problems:
                log.error("cannot start: %s", "; ".join(problems))
                app.exit(2)
                return
            window.setup_panel.start_button.click()
        QTimer.singleShot(300, start)
    if args.screenshot:
        path: Path = args.screenshot

        attempts = [0]

        def shoot() -> None:
            # Prefer a moment with the laser on (up to 15 s more), for a telling picture.
            if not window.live_view.laser.laser_on and attempts[0] < 150 and window.session_active:
                attempts[0] += 1
                QTimer.singleShot(100, shoot)
                return
            window.refresh_display()
            window.plots.redraw()
            app.processEvents()
            pixmap = window.grab()
            pixmap.save(str(path), "PNG")
            print(f"screenshot saved: {path} ({pixmap.width()}x{pixmap.height()})")
            window.controller.request_stop()
            if window.controller.worker is not None:
                window.controller.worker.join(10.0)
            app.exit(0)

        QTimer.singleShot(int(300 + args.screenshot_after_s * 1000), shoot)
    code = _exec_with_stop_signals(app, window)
    if window.controller.runner is not None:
        window.controller.emergency_stop()
        if window.controller.worker is not None:
            window.controller.worker.join(10.0)
    # Dispose of the window now (its Esc shortcut is application-wide).
    window.display_timer.stop()
    window.stop_preview()
    window.hide()
    window.deleteLater()
    app.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    return int(code)


def _exec_with_stop_signals(app: Any, window: Any) -> int:
    """Run the event loop with SIGINT, SIGTERM, SIGHUP and SIGQUIT handled as in the CLI
    (rig.cli.signals): the running session closes its gate at once (its supervisor acts
    on ``handle_signal``), and the application quits once the record is finished; exit
    status 0 after Ctrl-C, 128 + signal number otherwise."""
    from PyQt6.QtCore import QTimer

    from rig.cli.signals import stop_signals

    def on_signal(signum: int) -> None:
        runner = window.controller.runner
        handle = getattr(runner, "handle_signal", None)
        if callable(handle):
            handle(signum)

    with stop_signals(on_signal) as signals:
        # Python runs signal handlers only between bytecodes: a timer lets it in while
        # Qt's C++ event loop waits, and quits once the session has finished.
        timer = QTimer()
        timer.setInterval(50)

        def tick() -> None:
            if signals.first is not None and not window.controller.is_running:
                app.exit(signals.exit_code(0))

        timer.timeout.connect(tick)
        timer.start()
        try:
            return int(app.exec())
        finally:
            timer.stop()


def _install_excepthook(window: object) -> None:
    previous = sys.excepthook

    def hook(exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        # An exception in a GUI callback: laser off and stop first, then report.
        controller = getattr(window, "controller", None)
        try:
            if controller is not None and controller.runner is not None:
                controller.emergency_stop()
        finally:
            log.critical("unhandled exception in the GUI", exc_info=(exc_type, exc, tb))
            previous(exc_type, exc, tb)

    sys.excepthook = hook


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _setup_logging()
    return run_gui(args)


if __name__ == "__main__":
    raise SystemExit(main())
