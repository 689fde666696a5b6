"""``rig rescore``: re-score many recorded sessions with a new protocol or zone geometry."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from typing import TYPE_CHECKING

from rig.cli._common import add_command

if TYPE_CHECKING:
    from rig.rescore.batch import Scheduler
    from rig.rescore.model import RescoreResult, RescoreTask

ORDER = 12


def _options_and_tasks(args: argparse.Namespace) -> tuple[list[RescoreTask], Scheduler]:
    """Validate everything (protocol, zones, sessions, scheduler) before anything runs."""
    import dataclasses
    import datetime as dt

    from rig.errors import ConfigError
    from rig.rescore.batch import find_sessions, parse_scheduler
    from rig.rescore.engine import prepare_protocol
    from rig.rescore.model import (
        PoseFrames,
        PoseOptions,
        RescoreMode,
        RescoreOptions,
        RescoreTask,
        RescoreSide,
    )

    scheduler = parse_scheduler(args.scheduler, args.workers)
    if args.positions and args.pose:
        raise ConfigError("--positions and --pose: choose one source of positions")
    mode = RescoreMode.POSE if args.pose else RescoreMode.POSITIONS if args.positions else RescoreMode.VIDEO
    pose = None
    if args.pose:
        if not 0.0 <= args.min_likelihood <= 1.0:
            raise ConfigError(f"--min-likelihood: must be between 0 and 1, got {args.min_likelihood:g}")
        pose = PoseOptions(
            pattern=args.pose,
            bodypart=args.bodypart,
            min_likelihood=args.min_likelihood,
            frames=PoseFrames(args.pose_frames),
            individual=args.individual,
        )
    for flag, value in (("--protocol", args.protocol), ("--zones", args.zones), ("--calibration", args.calibration)):
        if value is not None and not Path(value).is_file():
            raise ConfigError(f"{flag}: file not found: {value}")

    sessions: list[Path] = []
    if args.query is not None:
        from rig.index import SessionIndex, parse_query

        query = parse_query(args.query)
        if query.rescored is None and not args.include_rescored:
            query = dataclasses.replace(query, rescored=False)
        root = Path(args.index)
        with SessionIndex(root).open(create=False) as index:
            sessions.extend(row.path for row in index.query(query))
    if args.sessions:
        sessions.extend(find_sessions([Path(p) for p in args.sessions], include_rescored=args.include_rescored))
    if args.query is None and not args.sessions:
        raise ConfigError("give session folders, a folder of sessions, or --query with --index")
    sessions = list(dict.fromkeys(sessions))
    if not sessions:
        raise ConfigError("no session found to re-score")

    out_dir = Path(args.out)
    batch_id = dt.datetime.now().astimezone().strftime("%Y%m%dT%H%M%S%z")
    options = RescoreOptions(
        out_dir=out_dir.absolute(),
        mode=mode,
        protocol_path=Path(args.protocol).resolve() if args.protocol else None,
        zones_path=Path(args.zones).resolve() if args.zones else None,
        calibration_path=Path(args.calibration).resolve() if args.calibration else None,
        side=RescoreSide(args.side),
        pose=pose,
        batch_id=batch_id,
        experimenter=args.experimenter,
    )
    # A bad --protocol/--zones/--calibration fails here, before any folder is written.
    prepare_protocol(sessions[0] if args.protocol is None else None, options)
    out_dir.mkdir(parents=True, exist_ok=True)
    tasks = [RescoreTask(session.resolve(), options) for session in sessions]
    return tasks, scheduler


def _cmd_rescore(args: argparse.Namespace) -> int:
    import time

    from rig.rescore.batch import format_results_table, run_batch

    tasks, scheduler_obj = _options_and_tasks(args)
    mode = tasks[0].options.mode.value
    print(
        f"rescore: {len(tasks)} session(s), {mode}, on {scheduler_obj.describe()}, into {tasks[0].options.out_dir}",
        file=sys.stderr,
    )
    started = time.monotonic()
    done = 0

    def on_result(result: RescoreResult) -> None:
        nonlocal done
        done += 1
        name = Path(result.session_dir).name
        if result.ok:
            line = f"[{done}/{len(tasks)}] ok     {name} -> {result.output_dir} ({result.frames} frames, {result.wall_s:.1f} s)"
        else:
            line = f"[{done}/{len(tasks)}] FAILED {name}: {result.error or result.end_reason}"
        print(line, file=sys.stderr, flush=True)

    results = run_batch(tasks, scheduler_obj, on_result)
    print(format_results_table(results))
    print(f"wall time {time.monotonic() - started:.1f} s on {scheduler_obj.describe()}")
    return 0 if all(r.ok for r in results) else 1


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = add_command(
        subparsers,
        "rescore",
        "re-score recorded sessions with a new protocol or zones (local processes or Dask)",
        "Re-run recorded sessions through the same engine as `rig replay` (mock board, speed "
        "max, no frame dropped) with a new protocol (--protocol) or zone geometry (--zones), "
        "from the saved video (default), the saved positions (--positions) or imported "
        "DeepLabCut/SLEAP tracks (--pose). Each re-score is a NEW session folder under --out, "
        "marked in session.json with the original's folder, path and sha256; the original is "
        "never touched. Sessions run in parallel: --workers N local processes (default), or "
        "one Dask task per session with --scheduler ADDRESS (a running cluster) or "
        "--scheduler local:N. A failing session is reported with its error and the batch goes "
        "on; a summary table ends the run. Exit code 1 when any session failed.",
        "  rig rescore data/sessions --protocol protocols/rtpp_wide_neutral.yaml --out data/rescored\n"
        "  rig rescore data/sessions --zones wider_neutral.yaml --positions --out data/rescored --workers 2\n"
        "  rig rescore --index data --query 'protocol=rtpp-redondo2014 complete' --zones z.yaml --out r --scheduler local:2\n"
        "  rig rescore S1 S2 --pose '{session_dir}/dlc.csv' --bodypart centre --min-likelihood 0.9 --out r\n"
        "  rig rescore data/sessions --protocol p.yaml --out r --scheduler tcp://10.0.0.5:8786\n"
        "  (zones file:  arena: {neutral_band_cm: 8})\n",
    )
    p.add_argument("sessions", nargs="*", metavar="SESSION_OR_FOLDER",
                   help="session folders, or folders searched for sessions")
    p.add_argument("--out", required=True, metavar="DIR", help="folder that receives the new session folders")
    p.add_argument("--protocol", metavar="FILE", help="new protocol (default: each session's own protocol.yaml)")
    p.add_argument("--zones", metavar="FILE",
                   help="YAML with an arena section (neutral_band_cm, compartments) merged into the protocol")
    p.add_argument("--calibration", metavar="FILE",
                   help="arena calibration (default: each session's own calibration.yaml)")
    p.add_argument("--side", choices=("original", "protocol", "left", "right"), default="original",
                   help="stimulated side: the original session's (default), the protocol's rule, or fixed")
    source = p.add_argument_group("positions (default: track the saved video again)")
    source.add_argument("--positions", action="store_true",
                        help="use the positions saved in each session's frames.csv (no tracking)")
    source.add_argument("--pose", metavar="FILE",
                        help="DeepLabCut (.csv/.h5) or SLEAP (.h5/.slp) tracks; may contain "
                             "{session}, {session_dir} or {animal}")
    source.add_argument("--bodypart", default="centre",
                        help="keypoint used as the position, 'centre' (head/tail-base midpoint) or 'mean' (default centre)")
    source.add_argument("--min-likelihood", type=float, default=0.6, metavar="P",
                        help="points below this likelihood count as not found (default 0.6)")
    source.add_argument("--pose-frames", choices=("auto", "frame", "row"), default="auto",
                        help="pose row = source frame index (frame: the model ran on the original video) or "
                             "n-th recorded frame (row: it ran on the session's video.avi); auto picks by source")
    source.add_argument("--individual", metavar="NAME", help="multi-animal files: which individual (default: the first)")
    select = p.add_argument_group("selecting sessions from the index (rig index)")
    select.add_argument("--query", metavar="TEXT",
                        help="e.g. 'animal=m017 protocol=rtpp since=2026-11-01 group=ChR2 complete'")
    select.add_argument("--index", default=".", metavar="DIR", help="data root holding the index (default .)")
    select.add_argument("--include-rescored", action="store_true",
                        help="also re-score sessions that are themselves re-scores")
    run = p.add_argument_group("where it runs")
    run.add_argument("--workers", type=int, default=None, metavar="N",
                     help="local worker processes (default: cores, at most 4; 0 = in this process)")
    run.add_argument("--scheduler", metavar="ADDRESS",
                     help="Dask: tcp://HOST:8786 (a running scheduler) or local:N (a LocalCluster of N workers)")
    p.add_argument("--experimenter", default="", help="who re-scores (recorded)")
    p.set_defaults(func=_cmd_rescore)
