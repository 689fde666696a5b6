"""One re-score: a recorded session -> a new, linked session folder (runs in a worker).

``rescore_session(task)`` never raises for a problem with one session (missing video,
damaged record, bad pose file...): it returns a ``RescoreResult`` with ``error`` set, so one
bad session does not end a batch. ``prepare_protocol`` is also called by the CLI before
anything runs, so a bad --protocol or --zones file fails the whole command at once.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import socket
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from rig.errors import ConfigError, RigError
from rig.rescore.model import (
    PoseFrames,
    RescoreMode,
    RescoreOptions,
    RescoreResult,
    RescoreTask,
    RescoreSide,
)

if TYPE_CHECKING:
    from rig.devices.frames import FrameSource
    from rig.protocol.load import LoadedProtocol
    from rig.rescore.positions import KnownPositions
    from rig.session.control import TrackerLike

log = logging.getLogger(__name__)

#: session.json key that marks a re-scored session.
RESCORE_KEY = "rescore"
#: No frame from a saved video or positions for this long ends the re-score (camera_lost).
REPLAY_FRAME_TIMEOUT_S = 60.0


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# ----------------------------------------------------------------------------- protocol
def _merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def read_zones_file(path: Path) -> dict[str, Any]:
    """A zone-geometry file: a YAML mapping with an ``arena`` section (or the arena keys
    themselves), e.g. ``arena: {neutral_band_cm: 8}``."""
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as err:
        raise ConfigError(f"{path}: cannot read the zones file: {err.strerror}") from err
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {err}") from err
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping with an 'arena' section")
    arena = data.get("arena", data)
    if not isinstance(arena, dict) or set(data) - {"arena"} and "arena" in data:
        raise ConfigError(f"{path}: only an 'arena' section may be given, got {sorted(data)}")
    for key in ("calibration", "stimulated"):
        if key in arena:
            raise ConfigError(
                f"{path}: arena.{key}: a zones file changes zone geometry only "
                "(use --calibration / --side)"
            )
    return {"arena": arena}


def apply_zones(loaded: LoadedProtocol, zones_path: Path) -> LoadedProtocol:
    """``loaded`` with its arena section merged with the zones file (validated). The new
    protocol.yaml is the merged protocol, so the record holds exactly what ran."""
    from pydantic import ValidationError

    from rig.protocol.models import Protocol
    from rig.zones import ZoneMap

    update = read_zones_file(zones_path)
    data = _merge(loaded.protocol.model_dump(mode="json", exclude_unset=True), update)
    try:
        protocol = Protocol.model_validate(data)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"{zones_path}: {where}: {first['msg']}") from err
    try:
        ZoneMap.from_protocol(protocol.arena, loaded.calibration)
    except (ValueError, RigError) as err:
        raise ConfigError(f"{zones_path}: arena: {err}") from err
    comment = (
        f"# re-score protocol: {loaded.path.name} (sha256 {loaded.sha256[:12]}) with the arena "
        f"from {Path(zones_path).name} (sha256 {sha256_file(zones_path)[:12]})\n"
    )
    raw = (comment + yaml.safe_dump(data, sort_keys=False)).encode("utf-8")
    return dataclasses.replace(
        loaded, protocol=protocol, raw=raw, sha256=hashlib.sha256(raw).hexdigest()
    )


def _with_calibration(loaded: LoadedProtocol, path: Path) -> LoadedProtocol:
    from rig.calibration_io import load_arena_calibration

    return dataclasses.replace(
        loaded,
        calibration=load_arena_calibration(path),
        calibration_path=path,
        calibration_raw=path.read_bytes(),
    )


def prepare_protocol(session_dir: Path | None, options: RescoreOptions) -> LoadedProtocol:
    """The protocol a session is re-scored with: --protocol (or the session's own
    protocol.yaml), the session's own calibration.yaml (or --calibration), then --zones."""
    from rig.protocol.load import LoadedProtocol, load_protocol, parse_protocol

    calibration_path = options.calibration_path
    if calibration_path is None and session_dir is not None:
        own = session_dir / "calibration.yaml"
        if own.is_file():
            calibration_path = own
    if options.protocol_path is not None:
        loaded = load_protocol(options.protocol_path)
        if calibration_path is not None:
            loaded = _with_calibration(loaded, calibration_path)
    else:
        if session_dir is None:
            raise ConfigError("--protocol: needed when no session gives its own protocol")
        own_protocol = session_dir / "protocol.yaml"
        if not own_protocol.is_file():
            raise ConfigError(f"{own_protocol}: missing; give the protocol with --protocol")
        if calibration_path is None:
            raise ConfigError(f"{session_dir}/calibration.yaml: missing; give --calibration")
        from rig.calibration_io import load_arena_calibration

        protocol = parse_protocol(own_protocol)
        raw = own_protocol.read_bytes()
        power = session_dir / "power_calibration.yaml"
        power_calibration = None
        if protocol.stimulation.power_calibration is not None and power.is_file():
            from rig.calibration_io import load_power_calibration

            power_calibration = load_power_calibration(power)
        loaded = LoadedProtocol(
            protocol=protocol,
            path=own_protocol,
            raw=raw,
            sha256=hashlib.sha256(raw).hexdigest(),
            calibration=load_arena_calibration(calibration_path),
            calibration_path=calibration_path,
            calibration_raw=calibration_path.read_bytes(),
            power_calibration=power_calibration,
            power_calibration_path=power if power_calibration is not None else None,
            power_calibration_raw=power.read_bytes() if power_calibration is not None else None,
        )
    if options.zones_path is not None:
        loaded = apply_zones(loaded, options.zones_path)
    return loaded


# ----------------------------------------------------------------------------- inputs
def find_video(session_dir: Path, header: dict[str, Any]) -> Path:
    """The saved video of a session: the original file of a replayed video when it still
    exists (frame indices and timestamps are the original's), else the ``video.avi`` the
    session recorded."""
    source = header.get("source") or {}
    if source.get("kind") == "video" and source.get("detail"):
        original = Path(str(source["detail"])).expanduser()
        candidates = [original] if original.is_absolute() else [original, session_dir / original]
        for candidate in candidates:
            if candidate.is_file():
                return candidate
    recorded = session_dir / "video.avi"
    if recorded.is_file():
        return recorded
    raise ConfigError(
        f"{session_dir}: no saved video (the session saved none and its source "
        f"{source.get('kind', '?')}:{source.get('detail', '?')} is not a file here); "
        "re-score it from its positions with --positions"
    )


def saved_positions(session_dir: Path) -> KnownPositions:
    """The positions the original session tracked (frames.csv x_px/y_px)."""
    import numpy as np

    from rig.analysis.records import read_frames
    from rig.rescore.positions import KnownPositions

    table = read_frames(session_dir / "frames.csv")
    if len(table) == 0:
        raise ConfigError(f"{session_dir / 'frames.csv'}: no frames to re-score")
    if not np.isfinite(table.x_px[table.tracked]).all():
        raise ConfigError(
            f"{session_dir / 'frames.csv'}: x_px/y_px: pixel positions are missing; "
            "re-score from the video instead"
        )
    return KnownPositions(table.frame, table.t_s, table.x_px, table.y_px, table.tracked.copy())


def pose_positions(session_dir: Path, header: dict[str, Any], options: RescoreOptions) -> tuple[KnownPositions, Path]:
    """Imported pose tracks placed on the session's frames (see ``PoseFrames``)."""
    import numpy as np

    from rig.analysis.records import read_frames
    from rig.rescore.pose import body_position, load_pose_tracks
    from rig.rescore.positions import KnownPositions

    pose = options.pose
    assert pose is not None
    path = Path(
        pose.pattern.format(
            session=session_dir.name,
            session_dir=str(session_dir),
            animal=header.get("animal_id", ""),
        )
    )
    if not path.is_absolute() and not path.exists() and (session_dir / path).exists():
        path = session_dir / path
    tracks = load_pose_tracks(path, pose.individual)
    x_px, y_px, found = body_position(tracks, pose.bodypart, pose.min_likelihood)
    table = read_frames(session_dir / "frames.csv")
    frames_mode = pose.frames
    if frames_mode is PoseFrames.AUTO:
        kind = (header.get("source") or {}).get("kind")
        frames_mode = PoseFrames.FRAME if kind == "video" else PoseFrames.ROW
    rows = table.frame if frames_mode is PoseFrames.FRAME else np.arange(len(table), dtype=np.int64)
    if len(table) and int(rows.max()) >= len(tracks):
        raise ConfigError(
            f"{path}: has {len(tracks)} rows but the session needs frame {int(rows.max())} "
            f"(pose rows matched by {frames_mode.value}; see --pose-frames)"
        )
    return (
        KnownPositions(table.frame, table.t_s, x_px[rows], y_px[rows], found[rows]),
        path,
    )


# ----------------------------------------------------------------------------- one session
def _summary_numbers(session_dir: Path) -> tuple[tuple[tuple[str, float | None, float | None], ...], float | None]:
    import json

    path = session_dir / "summary.json"
    if not path.exists():
        return (), None
    summary = json.loads(path.read_text(encoding="utf-8"))
    phases = tuple(
        (
            str(p.get("phase", "")),
            (p.get("time_pct") or {}).get("stim"),
            p.get("preference_index"),
        )
        for p in summary.get("phases", [])
    )
    return phases, summary.get("difference_score_pct")


def _protocol_side(loaded: LoadedProtocol, animal_id: str, out_dir: Path) -> str | None:
    from rig.session.sides import assign_side

    try:
        return assign_side(
            loaded.protocol.arena.stimulated,
            animal_id,
            out_dir=out_dir,
            protocol_name=loaded.protocol.metadata.name,
        ).side
    except RigError:
        return None


def rescore_session(task: RescoreTask) -> RescoreResult:
    """Re-score one session (see the module docstring). Runs in a worker process."""
    started = time.monotonic()
    host = socket.gethostname()
    session_dir = Path(task.session_dir)
    try:
        return _rescore(session_dir, task.options, started, host)
    except KeyboardInterrupt:
        raise
    except RigError as err:
        return RescoreResult(session_dir, error=str(err), wall_s=time.monotonic() - started, host=host)
    except Exception as err:  # one session's bug must not end the batch; keep the type
        log.exception("re-score of %s failed", session_dir)
        return RescoreResult(
            session_dir,
            error=f"{type(err).__name__}: {err}",
            wall_s=time.monotonic() - started,
            host=host,
        )


def _rescore(session_dir: Path, options: RescoreOptions, started: float, host: str) -> RescoreResult:
    from rig.analysis.records import read_session_header
    from rig.clock import MediaClock
    from rig.devices.mock_board import MockBoard
    from rig.session.runner import SessionRunner

    if not (session_dir / "session.json").is_file():
        raise ConfigError(f"{session_dir}: not a session folder (no session.json)")
    header = read_session_header(session_dir)
    animal_id = str(header.get("animal_id") or session_dir.name)
    loaded = prepare_protocol(session_dir, options)

    source: FrameSource
    tracker_factory = None
    input_path: Path
    source_info: dict[str, object]
    if options.mode is RescoreMode.VIDEO:
        from rig.devices.video_replay import VideoReplay

        input_path = find_video(session_dir, header)
        if input_path == session_dir / "video.avi":
            from rig.analysis.records import read_frames
            from rig.rescore.positions import RecordedVideoSource

            # The session's own recording: give each frame its original index and time.
            table = read_frames(session_dir / "frames.csv")
            source = RecordedVideoSource(input_path, table.frame, table.t_s)
        else:
            source = VideoReplay(input_path)
        source_info = {"kind": "video", "detail": str(input_path)}
    else:
        from rig.rescore.positions import PositionsSource, PositionTracker

        if options.mode is RescoreMode.POSITIONS:
            positions = saved_positions(session_dir)
            input_path = session_dir / "frames.csv"
        else:
            positions, input_path = pose_positions(session_dir, header, options)
        camera = loaded.calibration.camera
        fps = float((header.get("source") or {}).get("fps") or loaded.protocol.tracking.camera_fps)
        source = PositionsSource(
            positions, (camera.width_px, camera.height_px), fps, f"{options.mode.value}({input_path.name})"
        )
        tracker = PositionTracker(positions)
        tracker_factory = lambda _loaded, _size: tracker  # noqa: E731
        source_info = {"kind": options.mode.value, "detail": str(input_path)}
        # Placeholder images: nothing to save, and the tracker needs no background.
        tracking = loaded.protocol.tracking.model_copy(
            update={"background": loaded.protocol.tracking.background.model_copy(update={"source": "median"})}
        )
        recording = loaded.protocol.recording.model_copy(update={"save_video": False})
        loaded = dataclasses.replace(
            loaded,
            protocol=loaded.protocol.model_copy(update={"tracking": tracking, "recording": recording}),
        )

    side: str | None
    if options.side is RescoreSide.ORIGINAL:
        original_side = header.get("stimulated_side")
        side = original_side if original_side in ("left", "right") else None
        if side is not None and _protocol_side(loaded, animal_id, options.out_dir) == side:
            side = None  # the protocol's rule gives it: recorded as that rule, as `rig replay` would
    elif options.side is RescoreSide.PROTOCOL:
        side = None
    else:
        side = options.side.value

    original_json = session_dir / "session.json"
    link: dict[str, object] = {
        "original_session": session_dir.name,
        "original_path": str(session_dir.resolve()),
        "original_session_json_sha256": sha256_file(original_json),
        "original_started_at": header.get("started_at"),
        "original_protocol_sha256": (header.get("protocol") or {}).get("sha256"),
        "original_end_reason": header.get("end_reason"),
        "mode": options.mode.value,
        "input": {"path": str(input_path.resolve()), "sha256": sha256_file(input_path)},
        "zones_file": (
            None
            if options.zones_path is None
            else {"path": str(options.zones_path), "sha256": sha256_file(options.zones_path)}
        ),
        "side": options.side.value,
        "batch_id": options.batch_id,
        "worker_host": host,
    }
    if options.mode is not RescoreMode.VIDEO:
        link["note"] = "positions given: tracking settings and recording.save_video were not used"
    if options.pose is not None and options.mode is RescoreMode.POSE:
        link["pose"] = {
            "bodypart": options.pose.bodypart,
            "min_likelihood": options.pose.min_likelihood,
            "frames": options.pose.frames.value,
            "individual": options.pose.individual,
        }

    media_clock = MediaClock()
    board = MockBoard("replay", clock=media_clock)
    runner = SessionRunner(
        loaded,
        source,
        board,
        options.out_dir,
        animal_id,
        experimenter=options.experimenter,
        notes=f"re-score of {session_dir.name} ({options.mode.value})",
        speed=None,
        stim_side=side,
        media_clock=media_clock,
        simulated=True,
        # A file never goes silent; on a loaded cluster node a decode can stall longer than
        # a live camera's 2 s, which must not end a re-score as "camera lost".
        camera_timeout_s=REPLAY_FRAME_TIMEOUT_S,
        tracker_factory=tracker_factory,
        source_info=source_info,
        header_extra={RESCORE_KEY: link},
    )
    end = runner.run()
    out = runner.session_dir
    if out is not None:
        from rig.cli.run import _write_board_commands

        _write_board_commands(runner, board)
    status = runner.status
    phases, difference = _summary_numbers(out) if out is not None else ((), None)
    return RescoreResult(
        session_dir,
        animal_id=animal_id,
        output_dir=out,
        end_reason=end.value,
        frames=status.frames,
        wall_s=time.monotonic() - started,
        # A saved video shorter than the protocol ends "source ended" (the end reason says
        # so in the table and the record): the re-score did what the input allows.
        error=None if end.is_success or end.value == "source_ended" else (status.fault or f"session ended: {end.value}"),
        host=host,
        phases=phases,
        difference_score_pct=difference,
    )
