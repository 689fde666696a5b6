"""``rig run``, ``rig replay`` and ``rig demo``: one engine (SessionRunner), three faces."""

from __future__ import annotations

import argparse
import dataclasses
import math
import signal
import sys
import threading
import time
from pathlib import Path
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TextIO

from rig.cli._common import add_command
from rig.cli._console import StatusLine, StepProgress, format_duration
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
    """The session's console (a SessionObserver): where the record goes, one line per phase,
    and one updating status line: progress bar, phase, time left, side, zone, laser, the
    real processing rate (frames per wall-clock second), latency p50/p99.

    On a terminal the status line is redrawn in place; on a pipe or file it is a plain
    line every few seconds (``StatusLine``), so a log gets the same facts."""

    def __init__(
        self, runner: SessionRunner, line: StatusLine, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._runner = runner
        self._line = line
        self._clock = clock
        # Wall time and frame count at the first session frame: arming (background) is
        # not session time, so it does not dilute the rate.
        self._wall0: float | None = None
        self._frames0 = 0
        self._wall_end: float | None = None

    def on_state(self, status: RunnerStatus) -> None:
        pass

    def on_event(self, kind: str, t_s: float, detail: dict[str, object]) -> None:
        if kind == "session_start":
            self._line.print(f"record: {self._runner.session_dir}")
        elif kind == "phase_start":
            s = self._runner.status
            self._line.print(
                f"phase {s.phase_index + 1}/{s.n_phases} {detail.get('phase')} "
                f"({detail.get('mode')}, stimulated side {detail.get('stim_side')}) "
                f"at {format_duration(t_s)}"
            )

    def on_frame(self, update: FrameUpdate) -> None:
        now = self._clock()
        if self._wall0 is None:
            self._wall0 = now
            self._frames0 = self._runner.status.frames
        if now - self._wall0 < 0.5:
            return  # no rate or time left to show yet
        self._line.update(self._text(self._runner.status, now))

    def on_finished(self, status: RunnerStatus) -> None:
        self._wall_end = self._clock()
        if self._wall0 is not None:
            self._line.end(self._text(status, self._wall_end))
        else:
            self._line.end()

    def rate(self, status: RunnerStatus) -> tuple[float, float]:
        """(frames per wall-clock second, wall seconds) of the session so far."""
        if self._wall0 is None:
            return 0.0, 0.0
        wall = (self._wall_end or self._clock()) - self._wall0
        frames = status.frames - self._frames0
        return (frames / wall if wall > 0 else 0.0), wall

    def _text(self, s: RunnerStatus, now: float) -> str:
        total = s.total_duration_s or 1.0
        fraction = min(1.0, s.session_elapsed_s / total)
        bar = "#" * int(fraction * 20)
        left_s = s.time_left_s
        wall = 0.0 if self._wall0 is None else now - self._wall0
        frames = s.frames - self._frames0
        rate = frames / wall if wall > 0.2 else 0.0
        if s.simulated and s.session_elapsed_s > 1.0 and wall > 0:
            left_s = left_s * wall / s.session_elapsed_s  # wall time at the replay's rate
        phase = f"{s.phase} {s.phase_index + 1}/{s.n_phases}" if s.phase else s.state.value
        speed = ""
        if s.simulated and wall > 0.2 and s.session_elapsed_s > 0:
            speed = f" ({s.session_elapsed_s / wall:.1f}x real time)"
        line = (
            f"[{bar:<20}] {fraction:4.0%} {phase} | {format_duration(left_s)} to go | "
            f"stim {s.stim_side} | zone {s.zone.value} | laser {'ON ' if s.laser_on else 'off'} | "
            f"{rate:5.1f} fps{speed} | lat {s.latency_p50_ms:.1f}/{s.latency_p99_ms:.1f} ms"
        )
        if s.dropped_frames:
            line += f" | dropped {s.dropped_frames}"
        return line


# ----------------------------------------------------------------------------- execution
def _status_line(progress: bool) -> StatusLine:
    """stderr's status line; ``--progress`` makes a non-terminal's lines every second."""
    from rig.cli._console import PLAIN_INTERVAL_S

    return StatusLine(sys.stderr, plain_interval_s=1.0 if progress else PLAIN_INTERVAL_S)


def _write_board_commands(runner: SessionRunner, board: Any) -> None:
    """For the mock board: its command log, so a test can check the last gate command."""
    from rig.devices.mock_board import MockBoard

    session_dir = runner.session_dir
    if session_dir is None or not isinstance(board, MockBoard):
        return
    lines = ["t_ns,kind\n"] + [f"{c.t_ns},{c.kind}\n" for c in board.commands]
    (session_dir / "board_commands.csv").write_text("".join(lines), encoding="utf-8")


def execute_session(runner: SessionRunner, board: Any, line: StatusLine) -> int:
    """Run with SIGINT, SIGTERM, SIGHUP and SIGQUIT closing the gate and stopping cleanly
    (rig.cli.signals); print progress on ``line``, then the summary and a one-line end;
    return the exit code. (The caller printed the start line.)"""
    import os

    from rig.cli.signals import stop_signals
    from rig.session.logfile import attach_session_log

    attach_session_log(runner)
    observer = ProgressLine(runner, line)
    runner.add_observer(observer)
    acknowledged = threading.Event()

    def _on_signal(signum: int) -> None:
        runner.handle_signal(signum)  # first: the message must never delay or prevent the stop
        if acknowledged.is_set():  # called from the watcher thread and the handler alike
            return
        acknowledged.set()
        name = "Ctrl-C" if signum == signal.SIGINT else _signal_name(signum)
        try:
            line.print(f"{name}: stopping after the current frame, laser off")
        except (RuntimeError, OSError):  # stderr busy on this thread (re-entrant write) or gone
            pass

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
    with stop_signals(_on_signal) as signals:
        try:
            end = runner.run()
        finally:
            line.end()
            try:
                _write_board_commands(runner, board)
            except OSError as err:
                print(f"warning: could not write board_commands.csv: {err}", file=sys.stderr)
        code = _report(runner, end, observer)
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


def _report(runner: SessionRunner, end: Any, observer: ProgressLine) -> int:
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
    rate, wall = observer.rate(status)
    timing = f" in {format_duration(wall)} ({rate:.0f} fps)" if wall > 0 else ""
    where = f"record in {session_dir}" if session_dir is not None else "no record was created"
    print(f"session: {end.value}, {status.frames} frames{timing}, {where}")
    # (an incomplete session's table ends with its INCOMPLETE line: what did not run)
    if end is EndReason.SOURCE_ENDED:
        print(f"error: session INCOMPLETE: {status.fault or end.value}", file=sys.stderr)
    elif not end.is_success:
        print(f"error: session ended: {end.value}: {status.fault or ''}".rstrip(": "), file=sys.stderr)
    return exit_code_for(end.value)


def _describe_protocol(loaded: LoadedProtocol, scale: float = 1.0) -> str:
    protocol = loaded.protocol
    phases = len(protocol.phases)
    return (
        f"protocol {protocol.metadata.name} ({phases} phase{'s' if phases != 1 else ''}, "
        f"{format_duration(protocol.duration_s * scale)})"
    )


def _speed_text(speed: float | None, simulated: bool) -> str:
    if not simulated:
        return ""
    return ", as fast as possible" if speed is None else f", {speed:g}x real time"


def _with_calibration(loaded: LoadedProtocol, path: str) -> LoadedProtocol:
    from rig.calibration_io import read_arena_calibration

    calibration_path = Path(path)
    calibration, raw = read_arena_calibration(calibration_path)
    return dataclasses.replace(
        loaded,
        calibration=calibration,
        calibration_path=calibration_path,
        calibration_raw=raw,  # the validated bytes: the session copies exactly these
    )


def latency_settings(args: argparse.Namespace, *, synthetic: bool) -> Any:
    """``--latency-test`` -> LatencyTestSettings (None without the flag)."""
    from pydantic import ValidationError

    from rig.devices.synthetic import DEFAULT_LED_ROI
    from rig.session.latency import LatencyTestSettings, parse_roi

    text = getattr(args, "latency_test", None)
    if text is None:
        return None
    if text == "default":
        if not synthetic:
            raise ConfigError("--latency-test: give the LED's box in the image as X,Y,W,H px")
        roi = DEFAULT_LED_ROI
    else:
        try:
            roi = parse_roi(text)
        except ValueError as err:
            raise ConfigError(f"--latency-test: {err}") from None
    try:
        return LatencyTestSettings(led_roi=roi)
    except ValidationError as err:
        first = err.errors()[0]
        raise ConfigError(f"--latency-test: {first['msg']}") from None


def _show_led(source: Any, board: Any, settings: Any, delay_ms: float) -> None:
    """The synthetic camera sees the mock board's sync LED (with a simulated delay)."""
    from rig.devices.mock_board import MockBoard
    from rig.devices.synthetic import SyntheticArena

    if settings is None or not isinstance(source, SyntheticArena) or not isinstance(board, MockBoard):
        return
    if not delay_ms >= 0:
        raise ConfigError(f"--camera-delay-ms: must be >= 0, got {delay_ms:g}")
    source.show_sync_led(board, settings.led_roi, delay_ms / 1000)


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
    if rig.config.arenas:
        return _cmd_run_arenas(args, rig)
    if args.arena:
        raise ConfigError(f"--arena: the rig file {rig.path} names no arenas (docs/arenas.md)")
    if not args.protocol:
        raise ConfigError("PROTOCOL is required (the protocol file to run)")
    if not args.animal:
        raise ConfigError("--animal is required (the animal's ID)")
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
    latency = latency_settings(args, synthetic=source_spec.kind == "synthetic")
    if latency is None:
        latency = rig.config.sync.latency_test_settings()  # the rig file's sync section
    _show_led(devices.source, board, latency, args.camera_delay_ms)
    line = _status_line(args.progress)
    line.print(
        f"run: {_describe_protocol(loaded)}, animal {args.animal}, source {source_text}, "
        f"board {args.board or rig.config.board.kind.value}"
        f"{_speed_text(speed, source_spec.kind != 'camera')}; "
        f"record under {args.out}"
    )
    runner = SessionRunner(
        loaded,
        devices.source,
        board,
        out,
        args.animal,
        progress=StepProgress(line),
        experimenter=args.experimenter,
        notes=args.notes,
        speed=speed,
        stim_side=args.side,
        media_clock=devices.media_clock,
        simulated=not source_spec.is_live or rig.config.board.kind.value == "mock",
        cohort=cohort,
        source_info=source_spec.describe(),
        latency_test=latency,
        rig=rig,
    )
    _print_rig(rig)
    return execute_session(runner, board, line)


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
    line = _status_line(args.progress)
    line.print(
        f"replay: {args.video} with {_describe_protocol(loaded)}, mock board"
        f"{_speed_text(speed, True)}; record under {args.out}"
    )
    runner = SessionRunner(
        loaded,
        devices.source,
        board,
        out,
        args.animal or Path(args.video).stem,
        progress=StepProgress(line),
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
    return execute_session(runner, board, line)


def _cmd_demo_arenas(args: argparse.Namespace, loaded: LoadedProtocol, scale: float) -> int:
    """``rig demo --arenas N``: N chambers with N mice under one synthetic camera; with a
    rig file that names arenas, its arenas (regions, channels) on a simulated board."""
    import yaml

    from rig.devices.mock_board import MockBoard
    from rig.devices.regions import TiledSynthetic, grid_regions, region_calibration
    from rig.session.arena_plan import plan_rig_arenas
    from rig.session.multi import ArenaSpec, MultiArenaRunner

    rig = _load_rig_arg(args, default_embedded=False)
    fps = loaded.protocol.tracking.camera_fps
    arenas: list[ArenaSpec] = []
    if rig is not None and rig.config.arenas:
        if args.arenas is not None and args.arenas != len(rig.config.arenas):
            raise ConfigError(
                f"--arenas {args.arenas}: the rig file {rig.path} names {len(rig.config.arenas)} arenas; "
                "leave out --arenas to run them"
            )
        cam = rig.config.camera
        assert cam.width is not None and cam.height is not None  # load_rig checks it
        size = (cam.width, cam.height)
        # The board is always simulated in the demo; each arena still gets its channel's
        # pin and interlock from the rig file.
        n = len(rig.config.arenas)
        from rig.devices.registry import make_rig_mock_board

        arenas = plan_rig_arenas(
            rig, make_rig_mock_board(rig.config, "demo"), {}, loaded, synthetic=True, default_animal=args.animal,
            sides=["left" if i % 2 == 0 else "right" for i in range(n)], rig_protocols=False,
        )
    else:
        n = int(args.arenas)
        if not 1 <= n <= 4:
            raise ConfigError(f"--arenas: 1 to 4 arenas, got {n}")
        size = (1280, 1024)
        for i, region in enumerate(grid_regions(n, size)):
            cal = region_calibration(region)
            raw = yaml.safe_dump(cal.model_dump(mode="json"), sort_keys=False).encode()
            arena_loaded = dataclasses.replace(loaded, calibration=cal, calibration_raw=raw)
            side = "left" if i % 2 == 0 else "right"
            board = MockBoard(f"demo-{region.name}")
            arenas.append(ArenaSpec(region, arena_loaded, board, f"{args.animal}-{region.name}", side))
    source = TiledSynthetic(
        size,
        [a.region for a in arenas],
        [a.loaded.calibration for a in arenas],
        [args.seed + i for i in range(n)],
        fps=fps,
    )
    multi = MultiArenaRunner(
        source, arenas, Path(args.out), speed=parse_speed(args.speed), simulated=True,
        duration_scale=scale, rig=rig,
    )
    return _execute_multi(multi, f"demo: {n} arenas, run {multi.run_id}: {_describe_protocol(loaded, scale)}; "
                          f"records under {args.out}", Path(args.out))


def _execute_multi(multi: Any, headline: str, out: Path) -> int:
    """Run every arena to its end; one line per arena; the worst arena's exit code."""
    from rig.cli.signals import stop_signals
    from rig.session.logfile import attach_session_log

    for arena_runner in multi.runners:
        attach_session_log(arena_runner)
    print(headline, file=sys.stderr)
    acknowledged = threading.Event()

    def _on_signal(signum: int) -> None:
        # Every arena's supervisor closes its gate at once and stops (as for one arena).
        for arena_runner in multi.runners:
            arena_runner.handle_signal(signum)
        if acknowledged.is_set():
            return
        acknowledged.set()
        name = "Ctrl-C" if signum == signal.SIGINT else _signal_name(signum)
        try:
            print(f"{name}: stopping every arena after its current frame, lasers off", file=sys.stderr)
        except (RuntimeError, OSError):
            pass

    with stop_signals(_on_signal) as signals:
        ends = multi.run()
    worst = 0
    for arena, runner in zip(multi.arenas, multi.runners, strict=True):
        end = ends[arena.region.name]
        status = runner.status
        where = f"record in {runner.session_dir}" if runner.session_dir is not None else "no record was created"
        why = f" ({status.fault})" if status.fault else ""
        print(
            f"arena {arena.region.name} ({arena.animal_id}, stimulated {status.stim_side}): "
            f"{end.value}{why}, {status.frames} frames, {where}"
        )
        worst = max(worst, exit_code_for(end.value))
    print(f"run: {out / f'run_{multi.run_id}.json'}")
    if signals.first is not None:
        print(f"stopped by {_signal_name(signals.first)} ({signals.count} signal(s) received)", file=sys.stderr)
    return signals.exit_code(worst)


def _cmd_run_arenas(args: argparse.Namespace, rig: LoadedRig) -> int:
    """``rig run`` on a rig file that names arenas: every arena at once, one session each."""
    from rig.devices.registry import parse_source_spec
    from rig.protocol.load import load_protocol
    from rig.session.arena_plan import parse_arena_arg, plan_rig_arenas
    from rig.session.multi import MultiArenaRunner

    for option in ("calibration", "side", "cohort"):
        if getattr(args, option, None):
            raise ConfigError(
                f"--{option}: not with a multi-arena rig; give each arena's protocol "
                "(--arena NAME=ANIMAL:PROTOCOL or arenas[].protocol in the rig file)"
            )
    if latency_settings(args, synthetic=False) is not None or rig.config.sync.latency_test:
        raise ConfigError("the latency self-test runs with one arena; not with a multi-arena rig yet")
    assignments = {}
    for text in args.arena or ():
        given = parse_arena_arg(text)
        if given.name in assignments:
            raise ConfigError(f"--arena {given.name}: given twice")
        assignments[given.name] = given
    default = load_protocol(args.protocol) if args.protocol else None
    source_text = args.source or rig.config.camera.source
    source_spec = parse_source_spec(source_text)
    speed = parse_speed(args.speed)
    if source_spec.is_live and speed != 1.0:
        raise ConfigError("--speed: a live camera runs in real time (speed 1)")
    out = parse_out(args.out)
    # Everything is checked (protocols, calibrations, animals, channels) before a device opens.
    from rig.devices.mock_board import MockBoard

    from rig.devices.registry import make_rig_board, make_source
    from rig.devices.regions import TiledSynthetic

    synthetic = source_spec.kind == "synthetic"
    # Checked with a stand-in board first: protocols, calibrations, animals, channels.
    probe = plan_rig_arenas(rig, MockBoard("check"), assignments, default, default_animal=args.animal,
                            synthetic=synthetic)
    fps = probe[0].loaded.protocol.tracking.camera_fps
    cam = rig.config.camera
    assert cam.width is not None and cam.height is not None  # load_rig checks it
    board = make_rig_board(rig.config)
    arenas = plan_rig_arenas(rig, board, assignments, default, default_animal=args.animal,
                             synthetic=synthetic)
    source: Any
    if synthetic:
        source = TiledSynthetic(
            (cam.width, cam.height), [a.region for a in arenas], [a.loaded.calibration for a in arenas],
            [source_spec.seed + i for i in range(len(arenas))], fps=fps,
        )
    else:
        settings = cam.settings_for(None, fps) if source_spec.is_live else None
        source = make_source(source_spec, None, fps, settings)
    multi = MultiArenaRunner(
        source, arenas, out, speed=speed,
        simulated=not source_spec.is_live or rig.config.board.kind.value == "mock",
        experimenter=args.experimenter, rig=rig,
    )
    _print_rig(rig)
    who = ", ".join(f"{a.region.name}: {a.animal_id} ({a.loaded.protocol.metadata.name})" for a in arenas)
    return _execute_multi(multi, f"run {multi.run_id}: {len(arenas)} arenas ({who}), source {source_text}; "
                          f"records under {args.out}", out)


def _rig_has_arenas(args: argparse.Namespace) -> bool:
    rig = _load_rig_arg(args, default_embedded=False)
    return rig is not None and bool(rig.config.arenas)


def _cmd_demo(args: argparse.Namespace) -> int:
    from rig.clock import MediaClock
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
    if args.arenas not in (None, 1) or _rig_has_arenas(args):
        return _cmd_demo_arenas(args, loaded, scale)
    source = SyntheticArena(
        loaded.calibration, fps=loaded.protocol.tracking.camera_fps, seed=args.seed
    )
    rig = _load_rig_arg(args, default_embedded=True)
    assert rig is not None
    media_clock = MediaClock()
    from rig.devices.registry import make_rig_mock_board

    board = make_rig_mock_board(rig.config, "demo", clock=media_clock)
    latency = latency_settings(args, synthetic=True) or rig.config.sync.latency_test_settings()
    _show_led(source, board, latency, args.camera_delay_ms)
    from rig.devices.registry import triggered_by_mock_board

    demo_source = triggered_by_mock_board(source, board, rig.config, media_clock)
    line = _status_line(args.progress)
    line.print(
        f"demo: {_describe_protocol(loaded, scale)}, synthetic arena (seed {args.seed}), "
        f"mock board{_speed_text(speed, True)}; record under {args.out}"
    )
    runner = SessionRunner(
        loaded,
        demo_source,
        board,
        out,
        args.animal,
        notes="rig demo: synthetic arena, mock board",
        progress=StepProgress(line),
        speed=speed,
        media_clock=media_clock,
        simulated=True,
        duration_scale=scale,
        source_info={"kind": "synthetic", "detail": f"seed={args.seed}"},
        latency_test=latency,
        rig=rig,
    )
    return execute_session(runner, board, line)


def _common(parser: argparse.ArgumentParser, *, out_default: str | None) -> None:
    if out_default is None:
        parser.add_argument(
            "--out", required=True, metavar="DIR", help="folder that receives the new session folder"
        )
    else:
        parser.add_argument(
            "--out", default=out_default, metavar="DIR",
            help=f"folder that receives the new session folder (default {out_default})",
        )
    parser.add_argument(
        "--progress", action="store_true",
        help="when stderr is not a terminal (a pipe, a log file), print the status line every "
        "1 s instead of every 10 s",
    )


def _latency_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--latency-test",
        nargs="?",
        const="default",
        metavar="X,Y,W,H",
        help="camera-to-light self-test during the session: the board blinks its sync LED, "
        "optorig finds it in this box of the image (px) and records LED -> frame -> decision "
        "(p50/p99 in summary.json and the report); the synthetic camera needs no box",
    )
    parser.add_argument(
        "--camera-delay-ms",
        type=float,
        default=33.0,
        help="synthetic camera with --latency-test: its simulated delay (default 33 ms)",
    )


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
        "  rig run protocols/rtpp_redondo2014.yaml --animal m017 --source synthetic --board mock --out /tmp/s\n"
        "  rig run --rig rigs/four-box.yaml --arena A=m101 --arena B=m102 --arena C=m103 --arena D=m104 --out data\n",
    )
    run.add_argument(
        "protocol", metavar="PROTOCOL", nargs="?",
        help="protocol YAML file (with a multi-arena rig: for every arena without its own)",
    )
    run.add_argument("--animal", metavar="ID", help="animal ID (recorded; used by side counterbalancing)")
    run.add_argument(
        "--arena", action="append", metavar="NAME=ANIMAL[:PROTOCOL]",
        help="multi-arena rig (its rig file names the arenas): who is in arena NAME, and "
        "optionally its protocol; once per arena, e.g. --arena A=m101 --arena B=m102:three_chamber.yaml",
    )
    run.add_argument("--source", metavar="SOURCE",
                     help="camera:N (camera index) | video:PATH | synthetic[:SEED] "
                          "(default: the rig file's camera.source)")
    run.add_argument("--board", metavar="BOARD",
                     help="mock | firmata:PORT (firmata:auto finds the only Arduino), instead of "
                          "--rig: a rig with default pins and no interlock")
    _rig_option(run, "Required unless --board is given.")
    run.add_argument("--calibration", metavar="FILE", help="arena calibration file overriding the protocol's")
    run.add_argument("--experimenter", default="", metavar="NAME", help="who runs the session")
    run.add_argument("--notes", default="", metavar="TEXT", help="free-text notes for session.json")
    run.add_argument("--side", choices=("left", "right"), help="override the protocol's stimulated side")
    run.add_argument("--speed", default="1", metavar="FACTOR",
                     help="video/synthetic pacing, x real time: 1 (default), 2, ... or max "
                          "(as fast as possible, no frame dropped); a camera runs at 1")
    run.add_argument(
        "--cohort", metavar="CSV",
        help="cohort file: the animal's stim_side comes from its row (see `rig cohort`); "
        "its sha256 is recorded",
    )
    _latency_args(run)
    _common(run, out_default=None)
    run.set_defaults(func=_cmd_run)

    replay = add_command(
        subparsers,
        "replay",
        "re-run a protocol on a recorded video (simulation)",
        "Replay a recorded video through the same engine with a mock board; the session "
        "is marked simulated. At --speed max no frame is dropped, so a re-score is "
        "exactly reproducible.",
        "  rig replay video.mp4 --protocol protocols/rtpp_redondo2014.yaml --out rescored\n"
        "  rig replay video.mp4 --protocol protocols/rtpp_redondo2014.yaml \\\n"
        "      --calibration calibration/box1.yaml --speed 1 --out rescored\n",
    )
    replay.add_argument("video", metavar="VIDEO", help="recorded video file")
    replay.add_argument("--protocol", required=True, metavar="FILE", help="protocol YAML file")
    replay.add_argument("--calibration", metavar="FILE",
                        help="arena calibration for this video (default: the protocol's)")
    replay.add_argument("--speed", default="max", metavar="FACTOR",
                        help="pacing, x real time: max (default: as fast as possible, no frame "
                             "dropped), 1 (real time), 2, ...")
    replay.add_argument("--start-s", type=float, default=0.0, metavar="S",
                        help="replay from this time in the video, s (default 0)")
    replay.add_argument("--end-s", type=float, default=None, metavar="S",
                        help="replay up to this time in the video, s (default: its end)")
    replay.add_argument("--animal", metavar="ID", help="animal ID (default: the video's file name)")
    replay.add_argument("--experimenter", default="", metavar="NAME", help="who re-scores the session")
    replay.add_argument("--notes", default="", metavar="TEXT", help="free-text notes for session.json")
    replay.add_argument("--side", choices=("left", "right"), help="override the protocol's stimulated side")
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
        "  rig demo --arenas 4 --out /tmp/demo4 --duration-s 30\n"
        "  rig demo --rig rigs/four-box.yaml --out /tmp/demo4 --duration-s 30\n",
    )
    demo.add_argument("--duration-s", type=float, metavar="S",
                      help="scale the protocol's phases to this total length, s (default: 120 s)")
    demo.add_argument("--speed", default="max", metavar="FACTOR",
                      help="pacing, x real time: max (default), 1 (real time), 10, ...")
    demo.add_argument("--seed", type=int, default=0, help="synthetic animal's random seed (default 0)")
    demo.add_argument("--animal", default="demo1", metavar="ID", help="animal ID (default demo1)")
    demo.add_argument(
        "--arenas",
        type=int,
        default=None,
        help="number of chambers (1-4) under one 1280x1024 synthetic camera, one mouse and "
        "one mock laser channel each; one session folder per arena, linked by a run id "
        "(default 1; with a --rig file that names arenas: its arenas, regions and channels)",
    )
    _latency_args(demo)
    _rig_option(demo, "Default: the embedded mock rig. The board is always simulated.")
    _common(demo, out_default=".")
    demo.set_defaults(func=_cmd_demo)


__all__ = ["ORDER", "RigError", "execute_session", "parse_speed", "register"]
