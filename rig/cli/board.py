"""`rig board`: list ports, identify the laser board, pre-flight test pulse."""

from __future__ import annotations

import argparse

from rig.cli._common import add_command

ORDER = 60


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = add_command(
        subparsers,
        "board",
        "laser board: ports, info, test pulse",
        "Inspect the Arduino that switches the laser (optorig firmware or StandardFirmata): "
        "list serial ports, identify the firmware, fire a test pulse train before a session.",
        "  rig board ports\n"
        "  rig board info --port auto\n"
        "  rig board test-pulse --port /dev/ttyACM0 --duration-s 1\n",
    )
    sub = parser.add_subparsers(dest="board_command", metavar="ACTION", required=True)
    ports = add_command(
        sub,
        "ports",
        "list serial ports, Arduino ones first",
        "List the serial ports of this computer with their USB vendor:product IDs; ports "
        "that look like an Arduino are marked and listed first. Use one as --port, or "
        "`auto` to pick the only Arduino. Opens nothing.",
        "  rig board ports\n",
    )
    ports.set_defaults(func=_ports)
    info = add_command(
        sub,
        "info",
        "firmware name, version, build hash, capabilities",
        "Connect to the board and print what it reports: firmware name and version, build "
        "hash, and whether pulse trains are timed on the board (optorig firmware) or by the "
        "host (StandardFirmata fallback). The laser stays off.",
        "  rig board info\n  rig board info --port /dev/ttyACM0\n",
    )
    info.add_argument("--port", default="auto", help="serial port, or auto (default): the only Arduino")
    info.set_defaults(func=_info)
    pulse = add_command(
        sub,
        "test-pulse",
        "FIRES THE LASER: open the gate briefly, report delivered pulses",
        "Fire the laser: open the laser gate for --duration-s with the given pulse train, "
        "close it, and print how many pulses the board says it delivered (with a power "
        "meter or a photodiode at the fibre tip, this checks the whole light path before a "
        "session). The light leaves the fibre: point it at a power meter or a beam block, "
        "never at an eye. Asks for confirmation on a terminal; elsewhere (scripts) it needs "
        "--yes. Ctrl-C, SIGTERM, SIGHUP or SIGQUIT closes the gate at once; exit status 0 "
        "(or 128 + the signal number for a signal other than Ctrl-C).",
        "  rig board test-pulse --port /dev/ttyACM0 --duration-s 1\n"
        "  rig board test-pulse --duration-s 2 --frequency-hz 10 --pulse-width-ms 5 --yes\n",
    )
    pulse.add_argument("--port", default="auto", help="serial port, or auto (default): the only Arduino")
    pulse.add_argument("--duration-s", type=float, default=1.0, help="gate-open time, s (default 1)")
    pulse.add_argument("--frequency-hz", type=float, default=20.0, help="pulse frequency, Hz (default 20)")
    pulse.add_argument("--pulse-width-ms", type=float, default=15.0, help="pulse width, ms (default 15)")
    pulse.add_argument(
        "--yes", action="store_true",
        help="fire without asking (required when stdin is not a terminal)",
    )
    pulse.set_defaults(func=_test_pulse)
    parser.set_defaults(func=lambda args: _print_help(parser))


def confirm_laser(args: argparse.Namespace) -> None:
    """Before the light goes on: --yes, or a typed `yes` on a terminal; else ConfigError."""
    import sys

    from rig.errors import ConfigError

    if args.yes:
        return
    what = (
        f"test-pulse fires the laser ({args.duration_s:g} s at {args.frequency_hz:g} Hz, "
        f"{args.pulse_width_ms:g} ms pulses)"
    )
    if not sys.stdin.isatty():
        raise ConfigError(f"--yes: {what}; not on a terminal, so add --yes to confirm")
    print(f"{what}. Point the fibre at a power meter or a beam block.", file=sys.stderr)
    answer = input("Type yes to fire: ")
    if answer.strip().lower() != "yes":
        raise ConfigError("test-pulse: not confirmed; the laser was not fired")


def _ports(args: argparse.Namespace) -> int:
    from rig.devices.ports import list_ports

    found = list_ports()
    if not found:
        print("no serial ports found")
    for p in found:
        ids = f"{p.vid:04x}:{p.pid:04x}" if p.vid is not None and p.pid is not None else "-"
        print(f"{p.device:20s} {ids:10s} {'arduino' if p.is_arduino else '':8s} {p.description}")
    return 0


def _info(args: argparse.Namespace) -> int:
    from rig.devices.firmata_board import FirmataBoard
    from rig.devices.limits import FIRMWARE_MAX_FREQUENCY_HZ, FIRMWARE_MIN_PULSE_WIDTH_MS, WATCHDOG_TIMEOUT_MS

    # Identifying a board opens no laser: StandardFirmata is shown (not refused) here.
    with FirmataBoard(args.port, allow_standard_firmata=True) as board:
        info = board.info
        print(f"port:             {info.port}")
        print(f"firmware:         {info.firmware_name} {info.firmware_version}")
        print(f"build hash:       {info.build_hash or '-'}")
        print(f"device-timed:     {'yes' if info.device_timed else 'NO (host-timed fallback)'}")
        if info.device_timed:
            print(f"capabilities:     pulse train <= {FIRMWARE_MAX_FREQUENCY_HZ:g} Hz, width >= "
                  f"{FIRMWARE_MIN_PULSE_WIDTH_MS} ms, watchdog {WATCHDOG_TIMEOUT_MS} ms, cap, interlock, sync")
    return 0


def _test_pulse(args: argparse.Namespace) -> int:
    """Open the gate for --duration-s; SIGINT, SIGTERM, SIGHUP or SIGQUIT closes it at once
    (rig.cli.signals): exit 0 after Ctrl-C, 128 + signal number otherwise."""
    import threading

    from rig.cli.signals import stop_signals
    from rig.devices.board import BoardEventKind, LaserConfig
    from rig.devices.firmata_board import FirmataBoard

    confirm_laser(args)
    config = LaserConfig(frequency_hz=args.frequency_hz, pulse_width_ms=args.pulse_width_ms,
                         max_on_s=max(args.duration_s + 1.0, 1.0))
    stop = threading.Event()
    closed = None
    with stop_signals(lambda signum: stop.set()) as signals:
        with FirmataBoard(args.port) as board:
            board.configure(config)
            if not stop.is_set():
                print(f"gate open for {args.duration_s:g} s at {args.frequency_hz:g} Hz / "
                      f"{args.pulse_width_ms:g} ms ...", flush=True)
                board.set_gate(True)
                stop.wait(args.duration_s)  # a stop signal ends the wait at once
            board.set_gate(False)
            pause = threading.Event()
            for _ in range(100):
                closed = next((e for e in board.events() if e.kind is BoardEventKind.GATE_CLOSED), None)
                if closed is not None:
                    break
                pause.wait(0.01)
    if signals.first is not None:
        import signal as signal_module

        print(f"stopped by {signal_module.Signals(signals.first).name}: gate closed", flush=True)
    expected = int(args.duration_s * args.frequency_hz)
    if closed is None:
        print("no gate-closed report from the board (host-timed fallback?)")
        return signals.exit_code(1)
    print(f"delivered pulses: {closed.pulses} (expected about {expected}); laser pin now {closed.pin_level}")
    return signals.exit_code(0)


def _print_help(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2
