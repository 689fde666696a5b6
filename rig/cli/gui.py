"""``rig gui``: open the technician's window (PyQt6; imported only when the command runs)."""

from __future__ import annotations

import argparse

ORDER = 15


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from rig.cli._common import add_command

    parser = add_command(
        subparsers,
        "gui",
        "open the technician's window",
        "Open the graphical interface: set-up panel (protocol, animal, side, source, board, "
        "output), arena calibration editor, live view with the laser indicator, plots and "
        "emergency stop, end-of-session summary. Drives the same engine as `rig run`.",
        "  rig gui\n"
        "  rig gui --protocol protocols/rtpp_redondo2014.yaml\n"
        "  rig gui --protocol demo --simulate synthetic --animal m001 --out sessions\n"
        "  rig gui --protocol protocols/rtpp_redondo2014.yaml --simulate video.mp4\n",
    )
    # Kept in sync with rig.gui.app.add_arguments without importing Qt here.
    parser.add_argument("--protocol", metavar="P", help="protocol YAML to load ('demo' = embedded)")
    parser.add_argument(
        "--simulate",
        metavar="VIDEO",
        help="simulation mode: a recorded video ('synthetic' = synthetic arena), mock board",
    )
    parser.add_argument("--animal", metavar="ID", help="animal ID")
    parser.add_argument("--out", metavar="DIR", help="output folder for session records")
    parser.add_argument("--speed", choices=["1", "2", "10", "max"], help="simulation playback speed (x real time; max = as fast as possible)")
    parser.add_argument("--autostart", action="store_true", help="start the session at once")
    parser.add_argument("--screenshot", metavar="PNG", help="save a window screenshot and quit")
    parser.add_argument("--screenshot-after-s", metavar="N", type=float, default=8.0,
                        help="seconds after the start to take the screenshot (default 8)")
    parser.set_defaults(func=_run)


GUI_MISSING = (
    "rig gui needs the GUI libraries (PyQt6, pyqtgraph), which this installation does not "
    "have ({missing}). Install them with: pip install 'optorig[gui]'  "
    "(scripts/setup.sh installs everything). The engine, analysis and re-scoring work without them."
)


def _check_gui_installed() -> None:
    """A light install (plain ``pip install optorig``) has no Qt: say so in one line."""
    from rig.errors import ConfigError

    try:
        import PyQt6.QtWidgets  # noqa: F401
        import pyqtgraph  # noqa: F401
    except ImportError as err:
        raise ConfigError(GUI_MISSING.format(missing=err.name or err)) from err


def _run(args: argparse.Namespace) -> int:
    from pathlib import Path

    _check_gui_installed()
    from rig.gui.app import run_gui

    args.screenshot = Path(args.screenshot) if args.screenshot else None
    args.settings_dir = None
    return run_gui(args)
