"""Pre-flight checks before Start (no Qt: the set-up panel shows the results).

Each check says green or red and why, in the technician's words. A red *required* check keeps
Start disabled. The checks open the real devices briefly, the same way the session will:
the source (frame size, delivered fps, a frame for the arena check), the board (firmware
name and version, a short test pulse whose open/close the board must echo), the output
folder's free space.
"""

from __future__ import annotations

import enum
import logging
import shutil
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

log = logging.getLogger(__name__)

#: The source must deliver at least this share of the configured fps.
MIN_FPS_SHARE = 0.9
#: Frames read to measure the delivered fps (a live camera: about 1 s).
FPS_SAMPLE_FRAMES = 30
#: Free space kept beyond the session's estimated size (MB).
DISK_MARGIN_MB = 500.0
#: Record size per frame (frames.csv row and share of events/log), generous (bytes).
BYTES_PER_FRAME = 400
#: Test pulse length (s): short, and the firmware's cap bounds it anyway.
TEST_PULSE_S = 0.1
#: Below this share of the frame's edge energy inside the arena outline (grown by a margin),
#: (a warning, never a block: the synthetic arena scores 0.81, the real m4s1 video with the
#: synthetic calibration 0.61, where 8.5 % of its tracking was lost),
#: the calibration probably does not match the scene.
MIN_EDGE_SHARE_INSIDE = 0.7
ARENA_MARGIN_FRACTION = 0.05


class CheckState(enum.Enum):
    OK = "ok"
    FAILED = "failed"
    WARNING = "warning"
    SKIPPED = "skipped"  # does not apply (e.g. no interlock on the mock board)


@dataclass(frozen=True, slots=True)
class Check:
    key: str
    title: str
    state: CheckState
    reason: str
    required: bool = True

    @property
    def blocks_start(self) -> bool:
        return self.required and self.state is CheckState.FAILED


@dataclass(frozen=True, slots=True)
class PreflightResult:
    checks: tuple[Check, ...]
    #: A frame from the source (for the preview), if one was read.
    frame: NDArray[np.uint8] | None = field(default=None, compare=False)

    @property
    def ok(self) -> bool:
        return not any(c.blocks_start for c in self.checks)

    def get(self, key: str) -> Check | None:
        return next((c for c in self.checks if c.key == key), None)

    @property
    def problems(self) -> list[str]:
        return [f"{c.title}: {c.reason}" for c in self.checks if c.blocks_start]


def resolution_reason(calibrated: tuple[int, int], delivered: tuple[int, int], source: str) -> str:
    """The resolution mismatch in plain words (shown at preview and pre-flight)."""
    return (
        f"the calibration is for {calibrated[0]}x{calibrated[1]} px but {source} delivers "
        f"{delivered[0]}x{delivered[1]} px: calibrate this source (Arena calibration…) or pick "
        "the matching calibration"
    )


def edge_share_inside(image: NDArray[np.uint8], corners_px: Sequence[tuple[float, float]]) -> float:
    """Share of the frame's edge energy (gradient magnitude) inside the arena outline, grown
    by a small margin. A calibration that fits the scene has the chamber walls and the
    animal inside; one from another rig leaves most edges outside."""
    grey = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    blurred = cv2.GaussianBlur(grey, (0, 0), 1.5).astype(np.float32)
    magnitude = cv2.magnitude(cv2.Sobel(blurred, cv2.CV_32F, 1, 0), cv2.Sobel(blurred, cv2.CV_32F, 0, 1))
    total = float(magnitude.sum())
    if total <= 0:
        return 1.0
    polygon = np.asarray(corners_px, np.float64)
    centre = polygon.mean(axis=0)
    height, width = grey.shape[:2]
    margin = ARENA_MARGIN_FRACTION * max(width, height)
    grown = centre + (polygon - centre) * (1 + margin / max(1.0, float(np.abs(polygon - centre).max())))
    mask = np.zeros(grey.shape[:2], np.uint8)
    cv2.fillPoly(mask, [np.round(grown).astype(np.int32)], 1)
    return float(magnitude[mask > 0].sum()) / total


def arena_check(image: NDArray[np.uint8], corners_px: Sequence[tuple[float, float]]) -> Check:
    share = edge_share_inside(image, corners_px)
    if share < MIN_EDGE_SHARE_INSIDE:
        return Check(
            "arena", "Arena outline matches the scene", CheckState.WARNING,
            f"only {100 * share:.0f}% of the image's edges lie inside the arena outline: the "
            "calibration may be from another camera position; check the preview and re-calibrate",
            required=False,
        )
    return Check("arena", "Arena outline matches the scene", CheckState.OK,
                 f"{100 * share:.0f}% of the image's edges inside the outline", required=False)


def check_source(source: Any, calibrated: tuple[int, int], fps: float) -> tuple[list[Check], NDArray[np.uint8] | None]:
    """Open the source; check its frame size and delivered fps; return a frame."""
    checks: list[Check] = []
    frame_image: NDArray[np.uint8] | None = None
    name = str(getattr(source, "name", "the source"))
    try:
        with source:
            size = tuple(int(v) for v in source.frame_size)
            if size != tuple(calibrated):
                checks.append(Check("resolution", "Calibration matches the source resolution",
                                    CheckState.FAILED, resolution_reason(calibrated, (size[0], size[1]), name)))
            else:
                checks.append(Check("resolution", "Calibration matches the source resolution",
                                    CheckState.OK, f"{size[0]}x{size[1]} px"))
            times: list[float] = []
            for _ in range(FPS_SAMPLE_FRAMES):
                frame = source.read()
                if frame is None:
                    break
                if frame_image is None:
                    frame_image = np.asarray(frame.image)
                times.append(float(frame.t_s))
            if len(times) >= 3 and times[-1] > times[0]:
                delivered = (len(times) - 1) / (times[-1] - times[0])
                if delivered < MIN_FPS_SHARE * fps:
                    checks.append(Check("fps", "Camera delivers the configured frame rate",
                                        CheckState.FAILED,
                                        f"{delivered:.1f} fps delivered, {fps:g} fps configured"))
                else:
                    checks.append(Check("fps", "Camera delivers the configured frame rate",
                                        CheckState.OK, f"{delivered:.1f} fps (configured {fps:g})"))
            else:
                checks.append(Check("fps", "Camera delivers the configured frame rate",
                                    CheckState.FAILED, f"{name} delivered {len(times)} frames"))
    except Exception as err:  # noqa: BLE001 - shown to the technician
        log.exception("pre-flight: source %s", name)
        checks.append(Check("source", "Video source opens", CheckState.FAILED, _plain(err)))
    return checks, frame_image


def read_interlock_open(board: Any, configured: bool, settle_s: float | None = None) -> bool:
    """After ``board.configure``: is the interlock open? The firmware reads the input at
    CONFIG and reports an open one as an INTERLOCK event; the board's reports are collected
    for the settle time the session allows at Start (``INTERLOCK_SETTLE_S``), and the last
    INTERLOCK report wins (``detail == "cleared"`` means closed), as the runner reads them."""
    from rig.devices.board import BoardEventKind
    from rig.session.runner import INTERLOCK_SETTLE_S

    wait_s = (INTERLOCK_SETTLE_S if settle_s is None else settle_s) if configured else 0.0
    deadline = time.monotonic() + wait_s
    tripped = False
    while True:
        for event in board.events():
            if event.kind is BoardEventKind.INTERLOCK:
                tripped = event.detail != "cleared"
        if time.monotonic() >= deadline:
            return tripped
        threading.Event().wait(0.02)


def interlock_check(interlock: Any, is_open: bool) -> Check:
    """Green (closed), red (open, the pin named; blocks Start when ``required``), or grey
    (the rig file has no interlock). ``interlock`` is the rig's ``InterlockSection``."""
    title = "Laser interlock closed"
    if interlock is None:
        return Check("interlock", title, CheckState.SKIPPED,
                     "no interlock in the rig file (interlock: none)", required=False)
    pin = f"pin {interlock.pin}"
    if not is_open:
        return Check("interlock", title, CheckState.OK, f"closed ({pin})", required=bool(interlock.required))
    if interlock.required:
        return Check("interlock", title, CheckState.FAILED,
                     f"OPEN ({pin}): close the enclosure door / interlock, then run the checks again")
    return Check("interlock", title, CheckState.WARNING,
                 f"OPEN ({pin}): no light until it closes (interlock.required is false)", required=False)


def check_board(
    board: Any, required_name: str = "", min_version: str = "", interlock: Any = None
) -> list[Check]:
    """Open the board; firmware identity, interlock (``interlock``: the rig file's
    ``InterlockSection`` or None), a short test pulse echoed back."""
    from rig.devices.board import BoardEventKind, LaserConfig

    checks: list[Check] = []
    try:
        with board:
            info = board.info
            identity = f"{info.firmware_name} {info.firmware_version}".strip()
            problem = ""
            if required_name and info.firmware_name != required_name:
                problem = f"firmware {identity!r}, the rig needs {required_name!r}"
            elif min_version and _version(info.firmware_version) < _version(min_version):
                problem = f"firmware {identity}, the rig needs version {min_version} or newer"
            checks.append(Check("firmware", "Board firmware", CheckState.FAILED if problem else CheckState.OK,
                                problem or f"{identity} on {info.port}"))
            board.configure(LaserConfig(max_on_s=1.0))
            lock = interlock_check(interlock, read_interlock_open(board, interlock is not None))
            checks.append(lock)
            if lock.state in (CheckState.FAILED, CheckState.WARNING):
                # The board refuses the light while the interlock is open: no test pulse.
                checks.append(Check("test_pulse", "Test pulse echoed by the board", CheckState.SKIPPED,
                                    "not sent: the interlock is open", required=False))
                return checks
            board.set_gate(True)
            threading.Event().wait(TEST_PULSE_S)
            board.set_gate(False)
            kinds: set[Any] = set()
            deadline = time.monotonic() + 1.0
            while time.monotonic() < deadline:
                kinds |= {e.kind for e in board.events()}
                if BoardEventKind.GATE_CLOSED in kinds:
                    break
                threading.Event().wait(0.01)
            echoed = {BoardEventKind.GATE_OPENED, BoardEventKind.GATE_CLOSED} <= kinds
            checks.append(Check("test_pulse", "Test pulse echoed by the board",
                                CheckState.OK if echoed else CheckState.FAILED,
                                f"{TEST_PULSE_S * 1000:.0f} ms pulse: opened and closed as commanded"
                                if echoed else "the board did not report the gate opening and closing"))
    except Exception as err:  # noqa: BLE001 - shown to the technician
        log.exception("pre-flight: board")
        checks.append(Check("firmware", "Board firmware", CheckState.FAILED, _plain(err)))
    return checks


def check_disk(output_dir: Path, duration_s: float, fps: float) -> Check:
    folder = Path(output_dir)
    probe = folder
    while not probe.exists() and probe.parent != probe:
        probe = probe.parent
    needed_mb = duration_s * fps * BYTES_PER_FRAME / 1e6 + DISK_MARGIN_MB
    try:
        free_mb = shutil.disk_usage(probe).free / 1e6
    except OSError as err:
        return Check("disk", "Disk space for the session", CheckState.FAILED, _plain(err))
    if free_mb < needed_mb:
        return Check("disk", "Disk space for the session", CheckState.FAILED,
                     f"{free_mb:.0f} MB free in {probe}, the session needs about {needed_mb:.0f} MB")
    return Check("disk", "Disk space for the session", CheckState.OK,
                 f"{free_mb / 1000:.1f} GB free (needs about {needed_mb:.0f} MB)")


def run_preflight(
    make_source: Callable[[], Any],
    make_board: Callable[[], Any],
    calibration: Any,
    fps: float,
    output_dir: Path,
    duration_s: float,
    required_firmware: tuple[str, str] = ("", ""),
    interlock: Any = None,
) -> PreflightResult:
    """Every check, in the order the panel lists them. ``make_board`` must build the board
    wired as the rig file says (``make_rig_board``) so its interlock input is read."""
    calibrated = (int(calibration.camera.width_px), int(calibration.camera.height_px))
    source_checks, frame = check_source(make_source(), calibrated, fps)
    checks = check_board(make_board(), *required_firmware, interlock=interlock)
    checks += source_checks
    if frame is not None and not any(c.key == "resolution" and c.blocks_start for c in source_checks):
        checks.append(arena_check(frame, [(float(x), float(y)) for x, y in calibration.corners_px]))
    checks.append(check_disk(output_dir, duration_s, fps))
    return PreflightResult(tuple(checks), frame)


def _version(text: str) -> tuple[int, ...]:
    parts = []
    for piece in text.strip().lstrip("v").split("."):
        digits = "".join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits) if digits else 0)
    return tuple(parts)


def _plain(err: BaseException) -> str:
    text = str(err) or type(err).__name__
    return text
