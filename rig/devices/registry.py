"""Build frame sources and laser boards from command-line specs (plain dicts, no globals).

Source specs: ``camera:N`` (OpenCV device index) or ``camera:/dev/video2``,
``pylon:SERIAL`` (Basler through pypylon; ``pylon`` alone = the first camera; an emulated
camera plays images with ``pylon:0815-0000,images=DIR``), ``genicam:SERIAL`` (any GenICam
camera through harvesters), ``video:PATH`` (recorded video, replayed), ``synthetic`` or
``synthetic:SEED``.
Board specs: ``mock`` or ``firmata:PORT`` (``firmata:auto`` finds the board).

``parse_*`` validate a spec without opening anything (so bad input changes nothing);
``make_*`` build the (unopened) device. Device modules are imported lazily.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from rig.clock import Clock, MediaClock, SystemClock
from rig.errors import ConfigError

if TYPE_CHECKING:
    from rig.calibration import ArenaCalibration
    from rig.devices.camera_settings import CameraSettings
    from rig.rigfile.load import LoadedRig
    from rig.rigfile.models import RigConfig
    from rig.devices.board import ChannelPins, LaserBoard
    from rig.devices.mock_board import MockBoard
    from rig.devices.frames import FrameSource

SOURCE_KINDS = ("camera", "pylon", "genicam", "video", "synthetic")
#: Source kinds that are live cameras (frames arrive in real time by themselves).
LIVE_KINDS = ("camera", "pylon", "genicam")
BOARD_KINDS = ("mock", "firmata")


@dataclass(frozen=True, slots=True)
class SourceSpec:
    kind: str  # camera | pylon | genicam | video | synthetic
    device: int | str | None = None  # camera index or device path; serial for pylon/genicam
    path: Path | None = None  # video file; image folder an emulated pylon camera plays
    seed: int = 0  # synthetic
    start_s: float = 0.0  # video: part of the file to replay
    end_s: float | None = None

    @property
    def is_live(self) -> bool:
        return self.kind in LIVE_KINDS

    def describe(self) -> dict[str, object]:
        detail: object
        if self.kind in LIVE_KINDS:
            detail = self.device if self.device is not None else "first"
        elif self.kind == "video":
            detail = str(self.path)
        else:
            detail = f"seed={self.seed}"
        out: dict[str, object] = {"kind": self.kind, "detail": detail}
        if self.kind == "video" and (self.start_s > 0 or self.end_s is not None):
            out["start_s"] = self.start_s
            out["end_s"] = self.end_s
        return out


@dataclass(frozen=True, slots=True)
class BoardSpec:
    kind: str  # mock | firmata
    port: str = "mock"


def parse_source_spec(spec: str) -> SourceSpec:
    """Validate ``--source``; a video must exist and be a file."""
    kind, _, arg = spec.partition(":")
    kind = kind.strip().lower()
    if kind == "synthetic":
        if not arg:
            return SourceSpec("synthetic")
        try:
            seed = int(arg.removeprefix("seed="))
        except ValueError:
            raise ConfigError(f"--source: synthetic:SEED needs an integer seed, got {arg!r}") from None
        if seed < 0:
            raise ConfigError(f"--source: synthetic seed must be >= 0, got {seed}")
        return SourceSpec("synthetic", seed=seed)
    if kind == "camera":
        if not arg:
            raise ConfigError("--source: camera needs a device, e.g. camera:0 or camera:/dev/video0")
        if arg.isdigit():
            return SourceSpec("camera", device=int(arg))
        if arg.startswith("/"):
            return SourceSpec("camera", device=arg)
        raise ConfigError(
            f"--source: camera needs a device number or a device path (camera:0, "
            f"camera:/dev/video0), got {arg!r}"
        )
    if kind in ("pylon", "genicam"):
        serial, _, options = arg.partition(",")
        images: Path | None = None
        if options:
            key, _, value = options.partition("=")
            if kind != "pylon" or key.strip() != "images" or not value:
                raise ConfigError(
                    f"--source: unknown option {options!r} in {spec!r} "
                    "(only pylon:SERIAL,images=DIR for an emulated camera)"
                )
            images = Path(value).expanduser()
            if not images.is_dir():
                raise ConfigError(f"--source: image folder not found: {images}")
        return SourceSpec(kind, device=serial.strip() or None, path=images)
    if kind == "video":
        if not arg:
            raise ConfigError("--source: video needs a file, e.g. video:session.mp4")
        path = Path(arg).expanduser()
        if not path.is_file():
            raise ConfigError(f"--source: video file not found: {path}")
        return SourceSpec("video", path=path)
    raise ConfigError(
        f"--source: unknown source {spec!r} "
        "(use camera:N, pylon:SERIAL, genicam:SERIAL, video:PATH or synthetic)"
    )


def parse_board_spec(spec: str) -> BoardSpec:
    kind, _, arg = spec.partition(":")
    kind = kind.strip().lower()
    if kind == "mock":
        return BoardSpec("mock", arg or "mock")
    if kind == "firmata":
        if not arg:
            raise ConfigError("--board: firmata needs a port, e.g. firmata:/dev/ttyACM0 or firmata:auto")
        return BoardSpec("firmata", arg)
    raise ConfigError(f"--board: unknown board {spec!r} (use mock or firmata:PORT)")


def default_camera_settings(
    calibration: ArenaCalibration | None, fps: float
) -> CameraSettings:
    """Settings for a camera when the rig file gives none: the calibration's resolution."""
    from rig.devices.camera_settings import CameraSettings

    if calibration is None:
        return CameraSettings(fps=fps, exposure_us=min(8000.0, 0.8e6 / fps))
    return CameraSettings(
        width=calibration.camera.width_px,
        height=calibration.camera.height_px,
        fps=fps,
        exposure_us=min(8000.0, 0.8e6 / fps),
    )


SourceFactory = Callable[["SourceSpec", "ArenaCalibration | None", float, "CameraSettings | None"], "FrameSource"]


def _make_camera(
    spec: SourceSpec, calibration: ArenaCalibration | None, fps: float, settings: CameraSettings | None
) -> FrameSource:
    from rig.devices.opencv_camera import OpenCVCamera

    assert spec.device is not None
    wanted = settings or default_camera_settings(calibration, fps)
    return OpenCVCamera(spec.device, width_px=wanted.width, height_px=wanted.height, fps=wanted.fps)


def _make_pylon(
    spec: SourceSpec, calibration: ArenaCalibration | None, fps: float, settings: CameraSettings | None
) -> FrameSource:
    from rig.devices.lab_camera import LabCamera
    from rig.devices.pylon_camera import PylonDriver, import_pylon

    import_pylon()  # a missing extra is a clear ConfigError before anything opens
    serial = None if spec.device is None else str(spec.device)
    return LabCamera(PylonDriver(serial, image_dir=spec.path), settings or default_camera_settings(calibration, fps))


def _make_genicam(
    spec: SourceSpec, calibration: ArenaCalibration | None, fps: float, settings: CameraSettings | None
) -> FrameSource:
    from rig.devices.genicam_camera import GenICamDriver, import_harvester
    from rig.devices.lab_camera import LabCamera

    import_harvester()
    serial = None if spec.device is None else str(spec.device)
    return LabCamera(GenICamDriver(serial), settings or default_camera_settings(calibration, fps))


def _make_video(
    spec: SourceSpec, calibration: ArenaCalibration | None, fps: float, settings: CameraSettings | None
) -> FrameSource:
    from rig.devices.video_replay import VideoReplay

    assert spec.path is not None
    return VideoReplay(spec.path, start_s=spec.start_s, end_s=spec.end_s)


def _make_synthetic(
    spec: SourceSpec, calibration: ArenaCalibration | None, fps: float, settings: CameraSettings | None
) -> FrameSource:
    from rig.devices.synthetic import SyntheticArena

    if calibration is None:
        raise ConfigError("--source: the synthetic arena needs an arena calibration")
    return SyntheticArena(calibration, fps=fps, seed=spec.seed)


SOURCE_FACTORIES: dict[str, SourceFactory] = {
    "camera": _make_camera,
    "pylon": _make_pylon,
    "genicam": _make_genicam,
    "video": _make_video,
    "synthetic": _make_synthetic,
}


def check_source(spec: SourceSpec, calibration: ArenaCalibration) -> None:
    """Fail fast with a ConfigError (exit 2) on a source that cannot work, before a board
    is opened: a video is opened, its first frame decoded and its size compared with the
    calibration. Cameras are checked when the session opens them."""
    if spec.kind != "video":
        return
    source = make_source(spec, calibration)
    try:
        source.open()
        width, height = source.frame_size
    finally:
        source.close()
    camera = calibration.camera
    if (width, height) != (camera.width_px, camera.height_px):
        raise ConfigError(
            f"--source: {spec.path}: frames are {width}x{height} px but the calibration "
            f"{calibration.name!r} is for {camera.width_px}x{camera.height_px} px"
        )


def make_source(
    spec: SourceSpec | str,
    calibration: ArenaCalibration | None,
    fps: float = 30.0,
    camera_settings: CameraSettings | None = None,
) -> FrameSource:
    """An unopened frame source for ``spec``. A camera gets ``camera_settings`` (from the
    rig file) or, without them, the calibration's resolution at ``fps``."""
    parsed = parse_source_spec(spec) if isinstance(spec, str) else spec
    return SOURCE_FACTORIES[parsed.kind](parsed, calibration, fps, camera_settings)


def _make_mock(spec: BoardSpec, clock: Clock | None = None) -> LaserBoard:
    from rig.devices.mock_board import MockBoard

    return MockBoard(spec.port, clock=clock)


def _make_firmata(spec: BoardSpec, clock: Clock | None = None) -> LaserBoard:
    from rig.devices.firmata_board import FirmataBoard

    board: LaserBoard = FirmataBoard(spec.port)
    return board


BOARD_FACTORIES: dict[str, Callable[[BoardSpec, Clock | None], LaserBoard]] = {
    "mock": _make_mock,
    "firmata": _make_firmata,
}


def make_board(spec: BoardSpec | str, clock: Clock | None = None) -> LaserBoard:
    """An unopened laser board for ``spec``; ``clock`` drives an emulated (mock) board."""
    parsed = parse_board_spec(spec) if isinstance(spec, str) else spec
    return BOARD_FACTORIES[parsed.kind](parsed, clock)


@dataclass(frozen=True, slots=True)
class SessionDevices:
    """The unopened devices of one session, and the media clock when one is needed."""

    source: FrameSource
    board: LaserBoard
    media_clock: MediaClock | None


def make_rig_mock_board(config: RigConfig, port: str = "mock", clock: Clock | None = None) -> MockBoard:
    """A simulated board wired like the rig: each channel's door switch on its pin, as the
    FirmataBoard gets them (``rig_channel_pins``)."""
    from rig.devices.mock_board import MockBoard

    pins = {k: p.interlock_pin for k, p in rig_channel_pins(config).items()}
    return MockBoard(port, clock=clock, interlock_pins=pins)


def make_rig_board(config: RigConfig, clock: Clock | None = None) -> LaserBoard:
    """An unopened board wired as the rig file says (pins, interlock, firmware rules)."""
    if config.board.kind.value == "mock":
        return make_rig_mock_board(config, clock=clock)
    from rig.devices.firmata_board import FirmataBoard

    interlock = config.interlock
    board: LaserBoard = FirmataBoard(
        config.board.port,
        channel_pins=rig_channel_pins(config),
        laser_pin=config.laser.pin,
        pwm_pin=config.laser.pwm_pin,
        pwm_level=config.laser.pwm_level,
        interlock_pin=interlock.pin if interlock is not None else None,
        interlock_trip_level=interlock.trip_level if interlock is not None else 1,
        baudrate=config.board.baud,
        allow_standard_firmata=config.board.allow_host_timed_pulses,
        firmware_name=config.board.firmware_name,
        min_firmware_version=config.board.min_firmware_version,
        # A session never reconnects silently: a lost board ends it (board_lost).
        auto_reconnect=False,
    )
    return board


def rig_channel_pins(config: RigConfig) -> dict[int, ChannelPins]:
    """Each laser channel's pins as the rig file says: ``laser.channels`` (channel 0 also
    gets the analog output), and each arena's interlock on its channel (its own switch, the
    rig's shared one, or none). Channels no arena uses keep the rig's interlock."""
    from rig.devices.board import ChannelPins

    interlock = config.interlock
    pins: dict[int, ChannelPins] = {}
    for k, laser_pin in enumerate(config.laser.channel_pins):
        pins[k] = ChannelPins(
            laser_pin,
            pwm_pin=config.laser.pwm_pin if k == 0 else None,
            pwm_level=config.laser.pwm_level,
            interlock_pin=interlock.pin if interlock is not None else None,
            interlock_trip_level=interlock.trip_level if interlock is not None else 1,
        )
    for arena in config.arenas:
        own = config.for_arena(arena.name).interlock
        base = pins[arena.channel]
        pins[arena.channel] = ChannelPins(
            base.laser_pin,
            pwm_pin=base.pwm_pin,
            pwm_level=base.pwm_level,
            interlock_pin=own.pin if own is not None else None,
            interlock_trip_level=own.trip_level if own is not None else 1,
        )
    return pins


def rig_from_board_spec(spec: BoardSpec) -> LoadedRig:
    """A rig with default pins (no interlock, no PWM) for ``--board`` without ``--rig``;
    its YAML is what the session folder records as rig.yaml."""
    import hashlib

    import yaml

    from rig.rigfile.load import LoadedRig
    from rig.rigfile.models import RigConfig

    text = (
        "# built from the command line (--board); see docs/rig.md for a real rig file\n"
        + yaml.safe_dump(
            {
                "schema_version": 1,
                "name": "command-line",
                "board": {"kind": spec.kind, "port": "auto" if spec.kind == "mock" else spec.port},
            },
            sort_keys=False,
        )
    )
    config = RigConfig.model_validate(yaml.safe_load(text))
    raw = text.encode("utf-8")
    return LoadedRig(config, Path("<command line>"), raw, hashlib.sha256(raw).hexdigest())


def make_rig_session_devices(
    source_spec: SourceSpec | str,
    rig: RigConfig,
    calibration: ArenaCalibration,
    fps: float = 30.0,
    camera_settings: CameraSettings | None = None,
) -> SessionDevices:
    """Source and the rig file's board; a mock board beside a non-live source runs on a
    ``MediaClock`` (see ``make_session_devices``). A live camera gets the rig file's
    ``camera`` settings (width/height default to the calibration's, fps to ``fps``)."""
    source_parsed = parse_source_spec(source_spec) if isinstance(source_spec, str) else source_spec
    media_clock = (
        MediaClock() if rig.board.kind.value == "mock" and not source_parsed.is_live else None
    )
    if camera_settings is None and source_parsed.is_live:
        # The rig file's camera section: what every session applies and reads back.
        camera_settings = rig.camera.settings_for(calibration, fps)
    source = make_source(source_parsed, calibration, fps, camera_settings)
    board = make_rig_board(rig, clock=media_clock)
    return SessionDevices(triggered_by_mock_board(source, board, rig, media_clock), board, media_clock)


def triggered_by_mock_board(source: FrameSource, board: object, rig: RigConfig, clock: Clock | None) -> FrameSource:
    """With ``trigger.source: board`` and a simulated board and camera, the camera exposes
    one frame per trigger edge of the mock board (``BoardTriggeredCamera``)."""
    from rig.devices.mock_board import MockBoard
    from rig.devices.triggered import BoardTriggeredCamera

    if not rig.trigger.enabled or not isinstance(board, MockBoard) or source.is_live:
        return source
    return BoardTriggeredCamera(source, board, clock if clock is not None else SystemClock())


def make_session_devices(
    source_spec: SourceSpec | str,
    board_spec: BoardSpec | str,
    calibration: ArenaCalibration,
    fps: float = 30.0,
    camera_settings: CameraSettings | None = None,
    *,
    interlock: bool = False,
) -> SessionDevices:
    """Source and board for a session. A mock board beside a recorded or synthetic source
    runs on a ``MediaClock`` that the runner advances frame by frame, so the pulses it
    reports are counted in session time even when the replay runs faster than real time;
    beside a live camera it runs on the real clock."""
    source_parsed = parse_source_spec(source_spec) if isinstance(source_spec, str) else source_spec
    board_parsed = parse_board_spec(board_spec) if isinstance(board_spec, str) else board_spec
    media_clock = (
        MediaClock() if board_parsed.kind == "mock" and not source_parsed.is_live else None
    )
    board = make_board(board_parsed, clock=media_clock)
    if interlock and board_parsed.kind == "mock":
        from rig.devices.mock_board import MockBoard

        board = MockBoard(board_parsed.port, clock=media_clock, interlock=True)
    return SessionDevices(
        make_source(source_parsed, calibration, fps, camera_settings), board, media_clock
    )
