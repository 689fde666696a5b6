"""Camera list / grab / check, Qt-free (``rig camera ...`` and the GUI's set-up panel).

``check_camera`` reads a source for a while and reports what the camera really delivers:
frame rate (from the camera's clock when it has one), camera-level drops (frame-ID gaps),
frames the host skipped, the exposure it runs at, and whether the timestamps only move
forward. It works on a recorded video too (its frame times), which is how a lab can
compare the check's output with a known file.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from rig.errors import ConfigError, RigError

if TYPE_CHECKING:
    from rig.devices.camera_settings import CameraSettings
    from rig.devices.frames import FrameSource


@dataclass(frozen=True, slots=True)
class CameraEntry:
    backend: str
    source: str
    name: str
    serial: str = ""
    model: str = ""


@dataclass(frozen=True, slots=True)
class BackendStatus:
    backend: str
    available: bool
    message: str  # why not, or how many cameras


def _opencv_cameras(max_index: int = 4) -> list[CameraEntry]:
    """OpenCV cannot enumerate; probe /dev/video* (Linux) or the first few indices."""
    devices = sorted(Path("/dev").glob("video*"))
    entries = []
    for dev in devices:
        entries.append(CameraEntry("opencv", f"camera:{dev}", f"V4L2 device {dev}"))
    return entries


def list_cameras() -> tuple[list[CameraEntry], list[BackendStatus]]:
    """Cameras of every backend, and each backend's status (missing extra, no producer...)."""
    entries: list[CameraEntry] = []
    statuses: list[BackendStatus] = []
    found = _opencv_cameras()
    entries += found
    statuses.append(BackendStatus("opencv", True, f"{len(found)} video device(s)"))
    for backend, loader in (("pylon", _pylon_list), ("genicam", _genicam_list)):
        try:
            listed = loader()
        except RigError as err:
            statuses.append(BackendStatus(backend, False, str(err)))
            continue
        except Exception as err:  # a vendor SDK failing to enumerate must not hide the others
            statuses.append(BackendStatus(backend, False, f"error: {err}"))
            continue
        entries += listed
        statuses.append(BackendStatus(backend, True, f"{len(listed)} camera(s)"))
    return entries, statuses


def _pylon_list() -> list[CameraEntry]:
    from rig.devices.pylon_camera import list_pylon_cameras

    return [
        CameraEntry("pylon", d["source"], d["name"], d["serial"], d["model"]) for d in list_pylon_cameras()
    ]


def _genicam_list() -> list[CameraEntry]:
    from rig.devices.genicam_camera import list_genicam_cameras

    return [
        CameraEntry("genicam", d["source"], d["name"], d["serial"], d["model"])
        for d in list_genicam_cameras()
    ]


def open_source(spec: str, settings: CameraSettings | None = None, fps: float = 30.0) -> FrameSource:
    """An unopened source for a spec, without an arena calibration (camera defaults)."""
    from rig.devices.registry import make_source, parse_source_spec

    parsed = parse_source_spec(spec)
    if parsed.kind == "synthetic":
        raise ConfigError("--source: camera commands need a camera or a video, not the synthetic arena")
    return make_source(parsed, None, fps, settings)


def grab_frame(spec: str, out: Path, settings: CameraSettings | None = None, skip: int = 5) -> tuple[int, int]:
    """Save one frame (after ``skip`` warm-up frames) as an image; returns (width, height).
    Refuses to overwrite ``out``."""
    import cv2

    out = Path(out)
    if out.exists():
        raise ConfigError(f"--out: {out} exists; not overwriting it")
    if out.suffix.lower() not in (".png", ".tif", ".tiff", ".bmp", ".jpg", ".jpeg"):
        raise ConfigError(f"--out: {out.name}: use .png (lossless) for calibration")
    source = open_source(spec, settings)
    with source:
        image: NDArray[np.uint8] | None = None
        for _ in range(skip + 1):
            frame = source.read()
            if frame is None:
                break
            image = frame.image
    if image is None:
        raise ConfigError(f"--source {spec}: delivered no frame")
    out.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(out), image):
        raise ConfigError(f"--out: could not write {out}")
    return (int(image.shape[1]), int(image.shape[0]))


@dataclass(frozen=True, slots=True)
class CameraCheckResult:
    source: str
    seconds: float
    frames: int
    requested_fps: float
    delivered_fps: float  # frames per second on the camera's clock (or file time)
    camera_dropped: int  # frame-ID gaps (None-safe: 0 without IDs)
    host_skipped: int  # frames the camera delivered that this check did not read in time
    has_frame_ids: bool
    timestamp_source: str  # camera | host | file
    timestamps_monotonic: bool
    non_monotonic: int
    interval_ms_p50: float
    interval_ms_p99: float
    exposure_us: float | None
    exposure_auto: str | None
    width: int
    height: int
    problems: tuple[str, ...] = ()
    applied: dict[str, Any] | None = field(default=None)

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}

    def text(self) -> str:
        lines = [
            f"source            {self.source}",
            f"size              {self.width} x {self.height} px",
            f"frames read       {self.frames} over {self.seconds:.2f} s",
            f"fps               {self.delivered_fps:.2f} delivered ({self.requested_fps:g} requested)",
            f"frame interval    p50 {self.interval_ms_p50:.2f} ms, p99 {self.interval_ms_p99:.2f} ms",
            "camera drops      "
            + (f"{self.camera_dropped} (frame-ID gaps)" if self.has_frame_ids else "unknown (no frame IDs)"),
            f"host skipped      {self.host_skipped}",
            "exposure          "
            + ("unknown" if self.exposure_us is None else f"{self.exposure_us:g} us")
            + (f", auto {self.exposure_auto}" if self.exposure_auto else ""),
            f"timestamps        {self.timestamp_source}, "
            + ("monotonic" if self.timestamps_monotonic else f"NOT monotonic ({self.non_monotonic} steps back)"),
        ]
        lines.append("result            " + ("OK" if self.ok else "PROBLEMS"))
        lines += [f"  - {p}" for p in self.problems]
        return "\n".join(lines)


def check_camera(
    spec: str,
    seconds: float = 10.0,
    settings: CameraSettings | None = None,
    progress: Callable[[float], None] | None = None,
    source: FrameSource | None = None,
) -> CameraCheckResult:
    """Read ``spec`` for ``seconds`` (camera: wall time; video: file time, or to its end)
    and report; ``seconds`` in the result is the time actually covered."""
    if not seconds > 0:
        raise ConfigError(f"--seconds: must be > 0, got {seconds}")
    src = source or open_source(spec, settings)
    times: list[float] = []
    ids: list[int | None] = []
    indices: list[int] = []
    elapsed = 0.0
    with src:
        start = time.perf_counter()
        while True:
            frame = src.read()
            if frame is None:
                break
            times.append(frame.cam_t_s if frame.cam_t_s is not None else frame.t_s)
            ids.append(frame.cam_frame_id)
            indices.append(frame.index)
            elapsed = (time.perf_counter() - start) if src.is_live else (times[-1] - times[0])
            if progress is not None:
                progress(min(1.0, elapsed / seconds))
            if elapsed >= seconds:
                break
        report: dict[str, Any] = {}
        camera_report = getattr(src, "camera_report", None)
        if callable(camera_report):
            report = camera_report()
        requested = float(src.fps)
        size = src.frame_size
    return summarise_check(spec, elapsed, times, ids, indices, requested, size, report, src.is_live)


def summarise_check(
    spec: str,
    seconds: float,
    times: list[float],
    ids: list[int | None],
    indices: list[int],
    requested_fps: float,
    size: tuple[int, int],
    report: dict[str, Any],
    live: bool,
) -> CameraCheckResult:
    """The check's numbers from the frames read (pure; tested on its own)."""
    n = len(times)
    t = np.asarray(times, dtype=float)
    steps = np.diff(t) if n > 1 else np.zeros(0)
    non_monotonic = int(np.sum(steps <= 0))
    has_ids = n > 0 and all(i is not None for i in ids)
    camera_dropped = 0
    host_skipped = int(sum(max(0, b - a - 1) for a, b in zip(indices, indices[1:])))
    if has_ids:
        id_arr = np.asarray(ids, dtype=np.int64)
        gaps = np.diff(id_arr) - 1 if n > 1 else np.zeros(0, dtype=np.int64)
        all_missing = int(np.sum(gaps[gaps > 0]))
        camera_dropped = max(0, all_missing - host_skipped)
        if isinstance(report.get("camera_dropped"), int):
            camera_dropped = int(report["camera_dropped"])
    span = float(t[-1] - t[0]) if n > 1 else 0.0
    # Frames the camera produced over the span: IDs when known (drops included).
    produced = (int(ids[-1]) - int(ids[0])) if has_ids and n > 1 else (indices[-1] - indices[0] if n > 1 else 0)  # type: ignore[arg-type]
    delivered = produced / span if span > 0 else 0.0
    intervals_ms = steps * 1000.0
    applied = report.get("applied") if report else None
    exposure = applied.get("exposure_us") if isinstance(applied, dict) else None
    exposure_auto = applied.get("exposure_auto") if isinstance(applied, dict) else None
    ts_source = "file" if not live else (
        str(applied.get("timestamp_source")) if isinstance(applied, dict) else "host"
    )
    problems: list[str] = []
    if n < 2:
        problems.append("fewer than two frames arrived")
    if requested_fps > 0 and delivered < 0.95 * requested_fps and n > 1:
        problems.append(
            f"delivers {delivered:.1f} fps, below the requested {requested_fps:g} "
            "(exposure too long for the frame rate, auto-exposure, or a slow link)"
        )
    if camera_dropped:
        problems.append(f"{camera_dropped} frame(s) lost between camera and host")
    if non_monotonic:
        problems.append(f"timestamps went backwards or repeated {non_monotonic} time(s)")
    if exposure_auto is not None and str(exposure_auto).lower() != "off":
        problems.append(f"exposure is automatic ({exposure_auto}); a session needs it fixed")
    return CameraCheckResult(
        source=spec,
        seconds=seconds,
        frames=n,
        requested_fps=requested_fps,
        delivered_fps=round(delivered, 3),
        camera_dropped=camera_dropped,
        host_skipped=host_skipped,
        has_frame_ids=has_ids,
        timestamp_source=ts_source,
        timestamps_monotonic=non_monotonic == 0,
        non_monotonic=non_monotonic,
        interval_ms_p50=float(np.percentile(intervals_ms, 50)) if intervals_ms.size else 0.0,
        interval_ms_p99=float(np.percentile(intervals_ms, 99)) if intervals_ms.size else 0.0,
        exposure_us=None if exposure is None else float(exposure),
        exposure_auto=None if exposure_auto is None else str(exposure_auto),
        width=int(size[0]),
        height=int(size[1]),
        problems=tuple(problems),
        applied=applied if isinstance(applied, dict) else None,
    )
