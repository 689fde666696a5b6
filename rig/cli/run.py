"""``rig run``, ``rig replay`` and ``rig demo``: one engine (SessionRunner), three faces."""

from __future__ import annotations

import argparse
import dataclasses
import math
import signal
import sys
import time
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, TextIO

from rig.cli._common import add_command
from rig.errors import ConfigError, RigError
from rig.exitcodes import exit_code_for
from rig.session.status import EndReason

if TYPE_CHECKING:
    from rig.protocol.load import LoadedProtocol
    from rig.rigfile.load import LoadedRig
    from rig.session.runner import SessionRunner
    from rig.session.status import FrameUpdate, RunnerStatus

ORDER = 10



#: --speed bounds: slower than 1/100 of real time or faster than 1000x is a typo.
SPEED_MIN = 0.01
SPEED_MAX = 1000.0


def parse_speed(text: str) -> float | None:
    """``max`` -> None (as fast as possible, no drops), else a positive factor."""
    if text.strip().lower() == "max":
        return None
    try:
        value = float(text)
    except ValueError:
        raise ConfigError(f"--speed: use max or a number > 0, got {text!r}") from None
    if not (math.isfinite(value) and SPEED_MIN <= value <= SPEED_MAX):
        raise ConfigError(
            f"--speed: must be max or between {SPEED_MIN:g} and {SPEED_MAX:g}, got {text!r}"
        )
    return value


def parse_out(text: str) -> Path:
    """``--out``: a folder name is required (an empty one would mean the current folder)."""
    if not text.strip():
        raise ConfigError("--out: give a folder for the session records (got an empty name)")
    return Path(text)


# ----------------------------------------------------------------------------- progress
class ProgressLine:
    """One updating status line on stderr: progress bar, phase, time left, side, laser,
    fps, latency p50/p99 (a SessionObserver; throttled to a few updates per second)."""

    def __init__(self, runner: SessionRunner, stream: TextIO, interval_s: float = 0.25) -> None:
        self._runner = runner
        self._stream = stream
        self._interval_s = interval_s
        self._next = 0.0
        # Wall time of the first session frame: arming (background) is not session time.
        self._wall0: float | None = None
        self._width = 0

    def on_state(self, status: RunnerStatus) -> None:
        pass

    def on_event(self, kind: str, t_s: float, detail: dict[str, object]) -> None:
        pass

    def on_frame(self, update: FrameUpdate) -> None:
        now = time.monotonic()
        if self._wall0 is None:
            self._wall0 = now
        if now < self._next:
            return
        self._next = now + self._interval_s
        self._draw(self._runner.status, now)

    def on_finished(self, status: RunnerStatus) -> None:
        self._draw(status, time.monotonic())
        self._stream.write("\n")
        self._stream.flush()

    def _draw(self, s: RunnerStatus, now: float) -> None:
        total = s.total_duration_s or 1.0
        fraction = min(1.0, s.session_elapsed_s / total)
        bar = "#" * int(fraction * 20)
        left_s = s.time_left_s
        wall = 0.0 if self._wall0 is None else now - self._wall0
        if s.simulated and s.session_elapsed_s > 1.0 and wall > 0:
            left_s = left_s * wall / s.session_elapsed_s  # wall time at the replay's rate
        minutes, seconds = divmod(int(round(left_s)), 60)
        phase = f"{s.phase} {s.phase_index + 1}/{s.n_phases}" if s.phase else s.state.value
        line = (
            f"[{bar:<20}] {fraction:4.0%} {phase} | {minutes}:{seconds:02d} to go | "
            f"stim {s.stim_side} | zone {s.zone.value} | laser {'ON ' if s.laser_on else 'off'} | "
            f"{s.fps:5.1f} fps | lat {s.latency_p50_ms:.1f}/{s.latency_p99_ms:.1f} ms"
        )
        if s.dropped_frames:
            line += f" | dropped {s.dropped_frames}"
        pad = max(0, self._width - len(line))
        self._width = len(line)
        self._stream.write("\r" + line + " " * pad)
        self._stream.flush()


# ----------------------------------------------------------------------------- execution
def _write_board_commands(runner: SessionRunner, board: Any) -> None:
    """For the mock board: its command log, so a test can check the last gate command."""
    from rig.devices.mock_board import MockBoard

    session_dir = runner.session_dir
    if session_dir is None or not isinstance(board, MockBoard):
        return
    lines = ["t_ns,kind\n"] + [f"{c.t_ns},{c.kind}\n" for c in board.commands]
    (session_dir / "board_commands.csv").write_text("".join(lines), encoding="utf-8")


def execute_session(runner: SessionRunner, board: Any, *, progress: bool) -> int:
    """Run with SIGINT, SIGTERM, SIGHUP and SIGQUIT closing the gate and stopping cleanly
    (rig.cli.signals); print the summary; return the exit code."""
    import os

    from rig.cli.signals import stop_signals

    if progress or sys.stderr.isatty():
        runner.add_observer(ProgressLine(runner, sys.stderr))

    def _on_takeover(end: Any) -> None:
        # The control loop is hung: the supervisor finished the record; leave now.
        status = runner.status
        print(
            f"\nerror: session ended: {end.value}: {status.fault or ''}; record in "
            f"{status.session_dir}",
            file=sys.stderr,
        )
        sys.stderr.flush()
        os._exit(exit_code_for(end.value))

    runner.on_takeover = _on_takeover
    with stop_signals(runner.handle_signal) as signals:
        try:
            end = runner.run()
        finally:
            try:
                _write_board_commands(runner, board)
            except OSError as err:
                print(f"warning: could not write board_commands.csv: {err}", file=sys.stderr)
        code = _report(runner, end)
        if signals.first is not None:
            print(
                f"stopped by {_signal_name(signals.first)} ({signals.count} signal(s) received)",
                file=sys.stderr,
            )
        return signals.exit_code(code)


def _signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return str(signum)


def _report(runner: SessionRunner, end: Any) -> int:
    status = runner.status
    session_dir = runner.session_dir
    summary: dict[str, Any] | None = None
    if session_dir is not None and (session_dir / "summary.json").exists():
        import json

        from rig.analysis.summary import format_summary_table

        try:
            summary = json.loads((session_dir / "summary.json").read_text(encoding="utf-8"))
            print(format_summary_table(summary))
        except (OSError, ValueError, KeyError, TypeError) as err:
            print(f"warning: could not show the summary: {err}", file=sys.stderr)
    where = f"record in {session_dir}" if session_dir is not None else "no record was created"
    print(f"session: {end.value}, {status.frames} frames, {where}")
    # (an incomplete session's table ends with its INCOMPLETE line: what did not run)
    if end is EndReason.SOURCE_ENDED:
        print(f"error: session INCOMPLETE: {status.fault or end.value}", file=sys.stderr)
    elif not end.is_success:
        print(f"error: session ended: {end.value}: {status.fault or ''}".rstrip(": "), file=sys.stderr)
    return exit_code_for(end.value)


def _with_calibration(loaded: LoadedProtocol, path: str) -> LoadedProtocol:
    from rig.calibration_io import load_arena_calibration

    calibration_path = Path(path)
    calibration = load_arena_calibration(calibration_path)
    return dataclasses.replace(
        loaded,
        calibration=calibration,
        calibration_path=calibration_path,
        calibration_raw=calibration_path.read_bytes(),
    )


def _load_rig_arg(args: argparse.Namespace, *, default_embedded: bool) -> LoadedRig | None:
    from rig.rigfile.load import load_default_rig, load_rig

    if getattr(args, "rig", None):
        return load_rig(args.rig)
    return load_default_rig() if default_embedded else None


def _print_rig(rig: LoadedRig) -> None:
    print(f"rig: {rig.summary()}", file=sys.stderr)
    if rig.config.board.allow_host_timed_pulses and rig.config.board.kind.value == "firmata":
        print(
            "WARNING: this rig accepts StandardFirmata (board.allow_host_timed_pulses: true): "
            "pulses timed by this computer and NO board watchdog",
            file=sys.stderr,
        )


def _cmd_run(args: argparse.Namespace) -> int:
    from rig.devices.registry import (
        check_source,
        make_rig_session_devices,
        parse_board_spec,
        parse_source_spec,
        rig_from_board_spec,
    )
    from rig.protocol.load import load_protocol
    from rig.session.runner import SessionRunner

    if args.rig and args.board:
        raise ConfigError("give either --rig FILE or --board, not both (the rig file names the board)")
    if not args.rig and not args.board:
        raise ConfigError("--rig FILE is required (the rig hardware file, docs/rig.md); or --board mock|firmata:PORT")
    rig = _load_rig_arg(args, default_embedded=False)
    if rig is None:
        rig = rig_from_board_spec(parse_board_spec(args.board))
    loaded = load_protocol(args.protocol)
    cohort = _cohort(args)  # checked before any device is opened
    if args.calibration:
        loaded = _with_calibration(loaded, args.calibration)
    source_text = args.source or rig.config.camera.source
    source_spec = parse_source_spec(source_text)
    speed = parse_speed(args.speed)
    if source_spec.is_live and speed != 1.0:
        raise ConfigError("--speed: a live camera runs in real time (speed 1)")
    out = parse_out(args.out)
    check_source(source_spec, loaded.calibration)  # before any board is opened
    devices = make_rig_session_devices(
        source_spec, rig.config, loaded.calibration, loaded.protocol.tracking.camera_fps
    )
    board = devices.board
    runner = SessionRunner(
        loaded,
        devices.source,
        board,
        out,
        args.animal,
        experimenter=args.experimenter,
        notes=args.notes,
        speed=speed,
        stim_side=args.side,
        media_clock=devices.media_clock,
        simulated=not source_spec.is_live or rig.config.board.kind.value == "mock",
        cohort=cohort,
        source_info=source_spec.describe(),
        rig=rig,
    )
    _print_rig(rig)
    return execute_session(runner, board, progress=args.progress)


def _cohort(args: argparse.Namespace) -> Any:
    """The cohort file named by --cohort (loaded and checked), or None."""
    if not getattr(args, "cohort", None):
        return None
    from rig.cohort import load_cohort, side_from_cohort

    cohort = load_cohort(args.cohort)
    animal = args.animal or (Path(args.video).stem if getattr(args, "video", None) else None)
    if animal:
        side_from_cohort(cohort, animal.strip())  # listed, with a side: before any device opens
    return cohort


def _cmd_replay(args: argparse.Namespace) -> int:
    from rig.devices.registry import check_source, make_session_devices, parse_source_spec
    from rig.protocol.load import load_protocol
    from rig.session.runner import SessionRunner

    loaded = load_protocol(args.protocol)
    cohort = _cohort(args)  # checked before any device is opened
    if args.calibration:
        loaded = _with_calibration(loaded, args.calibration)
    source_spec = dataclasses.replace(
        parse_source_spec(f"video:{args.video}"), start_s=args.start_s, end_s=args.end_s
    )
    speed = parse_speed(args.speed)
    out = parse_out(args.out)
    check_source(source_spec, loaded.calibration)
    rig = _load_rig_arg(args, default_embedded=True)
    assert rig is not None
    devices = make_session_devices(
        source_spec, "mock:replay", loaded.calibration, interlock=rig.config.interlock is not None
    )
    board = devices.board
    runner = SessionRunner(
        loaded,
        devices.source,
        board,
        out,
        args.animal or Path(args.video).stem,
        experimenter=args.experimenter,
        notes=args.notes or f"replay of {args.video}",
        speed=speed,
        stim_side=args.side,
        media_clock=devices.media_clock,
        simulated=True,
        source_info=source_spec.describe(),
        cohort=cohort,
        rig=rig,
    )
    return execute_session(runner, board, progress=args.progress)


def _cmd_demo_arenas(args: argparse.Namespace, loaded: LoadedProtocol, scale: float) -> int:
    """``rig demo --arenas N``: N chambers with N mice under one synthetic camera."""
    import yaml

    from rig.devices.mock_board import MockBoard
    from rig.devices.regions import TiledSynthetic, grid_regions, region_calibration
    from rig.session.multi import ArenaSpec, MultiArenaRunner

    n = int(args.arenas)
    if not 1 <= n <= 4:
        raise ConfigError(f"--arenas: 1 to 4 arenas, got {n}")
    size = (1280, 1024)
    regions = grid_regions(n, size)
    arenas = []
    for i, region in enumerate(regions):
        cal = region_calibration(region)
        raw = yaml.safe_dump(cal.model_dump(mode="json"), sort_keys=False).encode()
        arena_loaded = dataclasses.replace(loaded, calibration=cal, calibration_raw=raw)
        side = "left" if i % 2 == 0 else "right"
        board = MockBoard(f"demo-{region.name}")
        arenas.append(ArenaSpec(region, arena_loaded, board, f"{args.animal}-{region.name}", side))
    source = TiledSynthetic(
        size,
        regions,
        [a.loaded.calibration for a in arenas],
        [args.seed + i for i in range(n)],
        fps=loaded.protocol.tracking.camera_fps,
    )
    multi = MultiArenaRunner(
        source, arenas, Path(args.out), speed=parse_speed(args.speed), simulated=True,
        duration_scale=scale,
    )
    print(f"demo: {n} arenas, run {multi.run_id}: {loaded.summary()}", file=sys.stderr)

    from rig.cli.signals import stop_signals

    with stop_signals(lambda signum: multi.request_stop()):
        ends = multi.run()
    worst = 0
    for arena, runner in zip(arenas, multi.runners, strict=True):
        end = ends[arena.region.name]
        status = runner.status
        print(
            f"arena {arena.region.name} ({arena.animal_id}, stimulated {runner.status.stim_side}): "
            f"{end.value}, {status.frames} frames, record in {runner.session_dir}"
        )
        worst = max(worst, exit_code_for(end.value))
    print(f"run: {Path(args.out) / f'run_{multi.run_id}.json'}")
    return worst


def _cmd_demo(args: argparse.Namespace) -> int:
    from rig.clock import MediaClock
    from rig.devices.mock_board import MockBoard
    from rig.devices.synthetic import SyntheticArena
    from rig.protocol.load import load_default_protocol
    from rig.session.runner import SessionRunner

    loaded = load_default_protocol()
    speed = parse_speed(args.speed)
    out = parse_out(args.out)
    scale = 1.0
    if args.duration_s is not None:
        if not args.duration_s > 0:
            raise ConfigError(f"--duration-s: must be > 0, got {args.duration_s:g}")
        scale = args.duration_s / loaded.protocol.duration_s
    if args.arenas != 1:
        return _cmd_demo_arenas(args, loaded, scale)
    source = SyntheticArena(
        loaded.calibration, fps=loaded.protocol.tracking.camera_fps, seed=args.seed
    )
    rig = _load_rig_arg(args, default_embedded=True)
    assert rig is not None
    media_clock = MediaClock()
    board = MockBoard("demo", clock=media_clock, interlock=rig.config.interlock is not None)
    runner = SessionRunner(
        loaded,
        source,
        board,
        out,
        args.animal,
        notes="rig demo: synthetic arena, mock board",
        speed=speed,
        media_clock=media_clock,
        simulated=True,
        duration_scale=scale,
        source_info={"kind": "synthetic", "detail": f"seed={args.seed}"},
        rig=rig,
    )
    print(f"demo: {loaded.summary()}", file=sys.stderr)
    return execute_session(runner, board, progress=args.progress)


def _common(parser: argparse.ArgumentParser, *, out_default: str | None) -> None:
    if out_default is None:
        parser.add_argument("--out", required=True, help="folder that receives the session folder")
    else:
        parser.add_argument(
            "--out", default=out_default, help=f"folder that receives the session folder (default {out_default})"
        )
    parser.add_argument("--progress", action="store_true", help="show the progress line even when stderr is not a terminal")


def _rig_option(parser: argparse.ArgumentParser, default: str) -> None:
    parser.add_argument(
        "--rig", metavar="FILE", default=None,
        help=f"rig hardware file (board, pins, interlock, liveness; docs/rig.md). {default}",
    )


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    run = add_command(
        subparsers,
        "run",
        "run a closed-loop session",
        "Run a protocol: track the animal, gate the laser, record everything in a new "
        "session folder under --out. Ctrl-C, SIGTERM, SIGHUP or SIGQUIT closes the laser "
        "gate at once and stops cleanly (exit 0 for Ctrl-C, 128+signal otherwise).",
        "  rig run protocols/rtpp_redondo2014.yaml --animal m017 --rig rigs/uno_basic.yaml --out data\n"
        "  rig run protocols/rtpp_redondo2014.yaml --animal m017 --source camera:0 --board firmata:auto --out data\n"
        "  rig run protocols/rtpp_redondo2014.yaml --animal m017 --source synthetic --board mock --out /tmp/s\n",
    )
    run.add_argument("protocol", help="protocol YAML file")
    run.add_argument("--animal", required=True, help="animal ID (recorded; used by side counterbalancing)")
    run.add_argument("--source", help="camera:N | video:PATH | synthetic[:SEED] (default: the rig file's camera.source)")
    run.add_argument("--board", help="mock | firmata:PORT, instead of --rig (a rig with default pins, no interlock)")
    _rig_option(run, "Required unless --board is given.")
    run.add_argument("--calibration", help="arena calibration file overriding the protocol's")
    run.add_argument("--experimenter", default="", help="who runs the session")
    run.add_argument("--notes", default="", help="free-text notes for session.json")
    run.add_argument("--side", choices=("left", "right"), help="override the stimulated side")
    run.add_argument(
        "--cohort", metavar="CSV",
        help="cohort file: the animal's stim_side comes from its row (see `rig cohort`); "
        "its sha256 is recorded",
    )
    run.add_argument("--speed", default="1", help="video/synthetic pacing: 1 (real time), 2, ... or max")
    _common(run, out_default=None)
    run.set_defaults(func=_cmd_run)

    replay = add_command(
        subparsers,
        "replay",
        "re-run a protocol on a recorded video (simulation)",
        "Replay a recorded video through the same engine with a mock board; the session "
        "is marked simulated. At --speed max no frame is dropped, so a re-score is "
        "exactly reproducible.",
        "  rig replay video.mp4 --protocol protocols/rtpp_redondo2014.yaml --speed max --out rescored\n",
    )
    replay.add_argument("video", help="recorded video file")
    replay.add_argument("--protocol", required=True, help="protocol YAML file")
    replay.add_argument("--calibration", help="arena calibration for this video (default: the protocol's)")
    replay.add_argument("--speed", default="max", help="max (default), 1 (real time), 2, ...")
    replay.add_argument("--start-s", type=float, default=0.0, help="replay from this time in the video (s; default 0)")
    replay.add_argument("--end-s", type=float, default=None, help="replay up to this time in the video (s; default: its end)")
    replay.add_argument("--animal", help="animal ID (default: the video's file name)")
    replay.add_argument("--experimenter", default="", help="who re-scores the session")
    replay.add_argument("--notes", default="", help="free-text notes for session.json")
    replay.add_argument("--side", choices=("left", "right"), help="override the stimulated side")
    replay.add_argument(
        "--cohort", metavar="CSV", help="cohort file: the animal's stim_side comes from its row"
    )
    _rig_option(replay, "Default: the embedded mock rig. The board is always simulated.")
    _common(replay, out_default=None)
    replay.set_defaults(func=_cmd_replay)

    demo = add_command(
        subparsers,
        "demo",
        "simulated session: synthetic arena + mock board",
        "Run the embedded demo protocol on the synthetic arena with a mock board, faster "
        "than real time through the real engine threads; prints the summary and where "
        "the record is.",
        "  rig demo\n  rig demo --out /tmp/demo --duration-s 20 --speed 10\n"
        "  rig demo --arenas 4 --out /tmp/demo4 --duration-s 30\n",
    )
    demo.add_argument("--duration-s", type=float, help="scale the protocol to this total length (s)")
    demo.add_argument("--speed", default="max", help="max (default), 1 (real time), 10, ...")
    demo.add_argument("--seed", type=int, default=0, help="synthetic animal's random seed")
    demo.add_argument("--animal", default="demo1", help="animal ID (default demo1)")
    demo.add_argument(
        "--arenas",
        type=int,
        default=1,
        help="several chambers under one 1280x1024 synthetic camera (1-4), one mouse and one "
        "mock laser channel each; one session folder per arena, linked by a run id",
    )
    _rig_option(demo, "Default: the embedded mock rig. The board is always simulated.")
    _common(demo, out_default=".")
    demo.set_defaults(func=_cmd_demo)


__all__ = ["ORDER", "RigError", "execute_session", "parse_speed", "register"]
