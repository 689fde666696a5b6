"""The ``rig`` command line.

Each subcommand lives in its own module in this package and exposes
``register(subparsers)`` plus an integer ``ORDER`` (its place in ``rig --help``).
Modules are discovered, so adding a command touches no shared file. Handlers import
heavy libraries (OpenCV, Qt, matplotlib) inside the function, so ``rig --help`` is
quick and ``import rig.cli`` loads no Qt.

A ``RigError`` is printed as one line on stderr with its exit code (no traceback);
any other exception is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import pkgutil
import sys
from collections.abc import Sequence
from types import ModuleType

from rig import __version__
from rig.cli._common import HelpFormatter
from rig.errors import RigError
from rig.exitcodes import exit_codes_text

EPILOG = """\
examples:
  rig demo                                  simulated session: synthetic arena + mock board
  rig validate protocols/*.yaml             check protocol files before a session
  rig validate rigs/uno_basic.yaml          check a rig hardware file (docs/rig.md)
  rig run protocols/rtpp_redondo2014.yaml --animal m017 --rig rigs/uno_basic.yaml --out data
  rig replay video.mp4 --protocol protocols/rtpp_redondo2014.yaml --speed max --out rescored
  rig report data/sessions/2026-11-28_10-22-05_m017_rtpp-redondo2014

Run `rig COMMAND --help` for each command's options.

"""


def _command_modules() -> list[ModuleType]:
    modules = []
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        if hasattr(module, "register"):
            modules.append(module)
    modules.sort(key=lambda m: (getattr(m, "ORDER", 100), m.__name__))
    return modules


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rig",
        description="optorig: closed-loop optogenetics place-preference rig controller.",
        epilog=EPILOG + exit_codes_text() + "\n",
        formatter_class=HelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"optorig {__version__}")
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)"
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in _command_modules():
        module.register(subparsers)
    return parser


def _setup_logging(verbosity: int) -> None:
    level = logging.WARNING if verbosity == 0 else logging.INFO if verbosity == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    from rig.devices.opencv_log import quiet_opencv_log

    quiet_opencv_log(verbosity)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    _setup_logging(args.verbose)
    try:
        result = args.func(args)
    except RigError as err:
        print(f"error: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return int(result or 0)
