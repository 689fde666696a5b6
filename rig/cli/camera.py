"""``rig camera list | grab | check``: find cameras, save a frame, check what a camera delivers."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from rig.cli._common import HelpFormatter, add_command

ORDER = 55

SOURCE_HELP = (
    "camera:N (OpenCV), pylon:SERIAL (Basler), genicam:SERIAL (GenICam/harvesters), "
    "or video:PATH"
)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = add_command(
        subparsers,
        "camera",
        "list cameras, grab a frame, check frame rate and drops",
        "Find cameras (OpenCV, Basler pylon, GenICam), save one frame for calibration, and "
        "check what a camera really delivers: frame rate, dropped frames, exposure, "
        "timestamps. Basler without hardware: set PYLON_CAMEMU=1 for an emulated camera.",
        "  rig camera list\n"
        "  rig camera grab --source pylon:40123456 --out arena.png\n"
        "  rig camera check --source pylon:40123456 --seconds 10 --fps 30 --exposure-us 8000\n"
        "  rig camera check --source video:session.mp4\n"
        "  PYLON_CAMEMU=1 rig camera check --source pylon:0815-0000\n"
        "  rig camera latency --source pylon:40123456 --board firmata:auto --roi 10,10,24,24 --seconds 60\n"
        "  rig camera latency --source synthetic --board mock --camera-delay-ms 33\n",
    )
    sub = parser.add_subparsers(dest="camera_command", metavar="ACTION")
    p_list = add_command(
        sub, "list", "cameras of every backend, and why a backend is unavailable",
        "List the cameras each backend (OpenCV, Basler pylon, GenICam) can see, with the "
        "--source spec to use for each, and say why a backend is unavailable (package not "
        "installed, no producer).",
        "  rig camera list\n  rig camera list --json\n",
    )
    p_list.add_argument("--json", action="store_true", help="print JSON")
    p_list.set_defaults(func=_cmd_list)

    p_grab = add_command(
        sub, "grab", "save one frame (for arena calibration)",
        "Open the camera with the given settings, save one frame as an image for `rig "
        "calibrate arena` (an existing file is never overwritten), and close it.",
        "  rig camera grab --source camera:0 --out arena.png\n"
        "  rig camera grab --source pylon:40123456 --out arena.png --fps 30 --exposure-us 8000\n",
    )
    p_grab.add_argument("--source", required=True, help=SOURCE_HELP)
    p_grab.add_argument("--out", required=True, type=Path, help="image file to write (.png); never overwritten")
    _settings_args(p_grab)
    p_grab.set_defaults(func=_cmd_grab)

    p_check = add_command(
        sub, "check", "delivered fps, drops, exposure and timestamps",
        "Read the camera for --seconds and report what it really delivered: frame rate, "
        "frames dropped by the camera and by the host, exposure and gain read back, and "
        "timestamp jitter. Run it before a session with the session's settings.",
        "  rig camera check --source pylon:40123456 --seconds 10 --fps 30 --exposure-us 8000\n"
        "  rig camera check --source video:session.mp4\n",
    )
    p_check.add_argument("--source", required=True, help=SOURCE_HELP)
    p_check.add_argument("--seconds", type=float, default=10.0, help="how long to read, s (default 10)")
    p_check.add_argument("--json", action="store_true", help="print JSON")
    _settings_args(p_check)
    p_check.set_defaults(func=_cmd_check)

    p_lat = sub.add_parser(
        "latency",
        help="camera-to-light latency: the board blinks the sync LED, the camera must see it",
        description=(
            "Measure how long light takes to reach optorig through the camera: the board "
            "switches its sync LED on at random times (1-3 s apart, 100 ms on) and reports "
            "each switch on its own clock; optorig finds the first frame in which the LED's "
            "box (--roi) turns bright. Prints LED command -> frame p50/p99. Put the LED in "
            "the camera's view (outside the arena) first; find its box with 'rig camera grab'. "
            "Exits 1 when a flash was missed or the box lit up with no flash commanded."
        ),
        epilog="examples:\n"
        "  rig camera latency --source synthetic --board mock --seconds 10\n"
        "  rig camera latency --source pylon:40123456 --board firmata:auto --roi 600,20,30,30\n",
        formatter_class=HelpFormatter,
    )
    p_lat.add_argument("--source", required=True, help=SOURCE_HELP + ", or synthetic (with --board mock)")
    p_lat.add_argument("--board", required=True, help="firmata:PORT (firmata:auto finds it), or mock with --source synthetic")
    p_lat.add_argument("--roi", default=None, help="X,Y,W,H px box around the LED in the image (synthetic: its LED box)")
    p_lat.add_argument("--seconds", type=float, default=30.0, help="how long to measure, s (default 30: ~15 flashes)")
    p_lat.add_argument("--threshold", type=float, default=40.0, help="grey levels above the LED-off level that mean lit, a number (default 40)")
    p_lat.add_argument("--sync-pin", type=int, default=7, help="board's sync TTL pin number (default 7)")
    p_lat.add_argument("--led-pin", type=int, default=12, help="board's sync LED pin number (default 12)")
    p_lat.add_argument("--camera-delay-ms", type=float, default=33.0, help="synthetic camera only: its simulated delay, ms (default 33)")
    p_lat.add_argument("--json", action="store_true", help="print JSON")
    _settings_args(p_lat)
    p_lat.set_defaults(func=_cmd_latency)
    def _no_action(_args: argparse.Namespace) -> int:
        parser.print_help()
        return 2

    parser.set_defaults(func=_no_action)


def _settings_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--fps", type=float, default=30.0, help="frames per second to ask for (default 30)")
    parser.add_argument("--exposure-us", type=float, default=None, help="fixed exposure in us (default 8000 or 80%% of a frame)")
    parser.add_argument("--gain-db", type=float, default=0.0, help="fixed gain in dB (default 0)")
    parser.add_argument("--width", type=int, default=None, help="ROI width in px (default: full sensor)")
    parser.add_argument("--height", type=int, default=None, help="ROI height in px (default: full sensor)")


def _settings(args: argparse.Namespace) -> object:
    from pydantic import ValidationError

    from rig.devices.camera_settings import CameraSettings
    from rig.errors import ConfigError

    exposure = args.exposure_us if args.exposure_us is not None else min(8000.0, 0.8e6 / args.fps)
    try:
        return CameraSettings(
            fps=args.fps, exposure_us=exposure, gain_db=args.gain_db, width=args.width, height=args.height
        )
    except ValidationError as err:
        first = err.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "settings"
        raise ConfigError(f"camera settings: {field}: {first['msg']}") from None


def _cmd_list(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from rig.devices.camera_check import list_cameras

    entries, statuses = list_cameras()
    if args.json:
        print(json.dumps({"cameras": [asdict(e) for e in entries], "backends": [asdict(s) for s in statuses]}, indent=2))
        return 0
    for status in statuses:
        mark = "ok " if status.available else "-- "
        print(f"{mark}{status.backend:8s} {status.message}")
    if entries:
        print()
        for e in entries:
            print(f"{e.source:32s} {e.model or ''} {e.name}".rstrip())
    else:
        print("\nno cameras found")
    return 0


def _cmd_grab(args: argparse.Namespace) -> int:
    from rig.devices.camera_check import grab_frame

    width, height = grab_frame(args.source, args.out, _settings(args))  # type: ignore[arg-type]
    print(f"saved {args.out} ({width} x {height} px)")
    return 0


def _cmd_check(args: argparse.Namespace) -> int:
    from rig.devices.camera_check import check_camera

    progress = None
    if sys.stderr.isatty():
        def progress(fraction: float) -> None:
            print(f"\rchecking... {fraction * 100:3.0f} %", end="", file=sys.stderr, flush=True)

    result = check_camera(args.source, args.seconds, _settings(args), progress=progress)  # type: ignore[arg-type]
    if progress is not None:
        print(file=sys.stderr)
    print(json.dumps(result.as_dict(), indent=2) if args.json else result.text())
    return 0 if result.ok else 1


def _cmd_latency(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from rig.clock import MediaClock
    from rig.devices.board import LaserBoard
    from rig.devices.frames import FrameSource
    from rig.devices.registry import make_board, make_source, parse_board_spec, parse_source_spec
    from rig.errors import ConfigError
    from rig.session.latency import LatencyTestSettings, measure_latency, parse_roi

    source_spec = parse_source_spec(args.source)
    board_spec = parse_board_spec(args.board)
    synthetic = source_spec.kind == "synthetic"
    if source_spec.kind == "video":
        raise ConfigError("--source: a recorded video cannot see the board's LED; use a live camera")
    if synthetic != (board_spec.kind == "mock"):
        raise ConfigError(
            "--board: the mock board's LED is only visible to the synthetic camera; "
            "use --source synthetic with --board mock, or a real camera with firmata:PORT"
        )
    if args.roi is None and not synthetic:
        raise ConfigError("--roi: give the LED's box in the image as X,Y,W,H px (see 'rig camera grab')")
    try:
        from rig.devices.synthetic import DEFAULT_LED_ROI

        roi = parse_roi(args.roi) if args.roi is not None else DEFAULT_LED_ROI
    except ValueError as err:
        raise ConfigError(f"--roi: {err}") from None
    try:
        settings = LatencyTestSettings(
            led_roi=roi, threshold=args.threshold, sync_pin=args.sync_pin, led_pin=args.led_pin
        )
    except ValidationError as err:
        first = err.errors()[0]
        raise ConfigError(f"latency test: {'.'.join(str(p) for p in first['loc'])}: {first['msg']}") from None
    media_clock: MediaClock | None = None
    source: FrameSource
    board: LaserBoard
    if synthetic:
        from rig.devices.mock_board import MockBoard
        from rig.devices.synthetic import SyntheticArena
        from rig.protocol.load import load_default_protocol

        if args.camera_delay_ms < 0:
            raise ConfigError(f"--camera-delay-ms: must be >= 0, got {args.camera_delay_ms:g}")
        calibration = load_default_protocol().calibration
        media_clock = MediaClock()
        mock = MockBoard("mock", clock=media_clock)
        source = SyntheticArena(
            calibration, fps=args.fps, seed=source_spec.seed, sync_led=mock, led_roi=roi,
            camera_delay_s=args.camera_delay_ms / 1000,
        )
        board = mock
    else:
        source = make_source(source_spec, None, args.fps, _settings(args))  # type: ignore[arg-type]
        board = make_board(board_spec)
    result = measure_latency(source, board, settings, args.seconds, media_clock=media_clock)
    print(json.dumps(result.as_dict(), indent=2) if args.json else result.text())
    return 0 if result.ok else 1
