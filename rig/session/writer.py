"""The session record: folder, byte-exact copies, session.json, frames.csv, events.csv, video.

Format: ``docs/record-format.md``. CSV rows go through a bounded queue to one writer thread
("rig-writer"), which writes every row it finds queued and then flushes, so each row is in
the file within one batch (a killed process leaves CSVs readable up to the last complete
row); ``sync()`` requests an ``os.fsync`` (phase boundaries). If the queue is full (the disk
cannot keep up) or a write fails, the next ``write_*`` raises ``RecorderFault``: the runner
then stops the session with the laser off rather than lose rows silently.

Integrity: at every flush, and at least every ``INTEGRITY_CHECK_S`` while idle, the writer
checks that the session folder is still the one it created (same device and inode) and
that frames.csv is still linked; a deleted or replaced folder is a ``RecorderFault``
within a second, not a session that "records" into nowhere. A full disk (ENOSPC) at any
moment is a ``RecorderFault`` too; the writer logs it in one line (no traceback).

Video goes to ``rig.session.video.VideoRecorder`` (PyAV, own thread, bounded in bytes);
its frames may be dropped, rows never are.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import os
import queue
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np
from numpy.typing import NDArray

from rig.errors import ConfigError, RecorderFault
from rig.session.video import DEFAULT_QUEUE_BYTES, VideoRecorder, VideoStats

#: Longest time between two checks that the session folder is still there (s).
INTEGRITY_CHECK_S = 0.5

log = logging.getLogger(__name__)

FRAME_COLUMNS = (
    "frame",
    "t_s",
    "x_px",
    "y_px",
    "x_cm",
    "y_cm",
    "tracked",
    "zone",
    "phase",
    "laser_on",
    "latency_ms",
    "stim_side",
    "mode",
    "dropped",
    "truth_x_cm",
    "truth_y_cm",
    "cam_frame_id",
    "cam_t_s",
    "trigger_index",
    "board_t_s",
)
#: ``board_t_s``: the board's clock (device_us / 1e6) for board reports, the same axis as
#: frames.csv ``board_t_s`` (docs/record-format.md).
EVENT_COLUMNS = ("t_s", "frame", "kind", "detail", "board_t_s")
#: Columns older records do not have.
EVENT_COLUMNS_OPTIONAL = ("board_t_s",)


@dataclass(frozen=True, slots=True)
class FrameRow:
    """One frames.csv row (formatted on the writer thread)."""

    frame: int
    t_s: float
    x_px: float | None
    y_px: float | None
    x_cm: float | None
    y_cm: float | None
    tracked: bool
    zone: str
    phase: str
    laser_on: bool
    latency_ms: float
    stim_side: str
    mode: str
    dropped: int
    truth_x_cm: float | None = None
    truth_y_cm: float | None = None
    cam_frame_id: int | None = None  # the camera's own frame counter (lab cameras)
    cam_t_s: float | None = None  # the camera's clock, seconds since its first frame
    #: the board trigger (from 1) that exposed this frame, and its rising edge on the board's
    #: clock (s); None when the board does not trigger the camera
    trigger_index: int | None = None
    board_t_s: float | None = None


@dataclass(frozen=True, slots=True)
class EventRow:
    t_s: float
    frame: int | None
    kind: str
    detail: dict[str, object]
    board_t_s: float | None = None


def _num(value: float | None, digits: int) -> str:
    if value is None or not math.isfinite(value):
        return ""
    return f"{value:.{digits}f}"


def format_frame_row(r: FrameRow) -> str:
    return (
        f"{r.frame},{r.t_s:.4f},{_num(r.x_px, 2)},{_num(r.y_px, 2)},{_num(r.x_cm, 3)},"
        f"{_num(r.y_cm, 3)},{int(r.tracked)},{r.zone},{_csv_text(r.phase)},{int(r.laser_on)},"
        f"{r.latency_ms:.3f},{r.stim_side},{r.mode},{r.dropped},{_num(r.truth_x_cm, 3)},"
        f"{_num(r.truth_y_cm, 3)},{'' if r.cam_frame_id is None else r.cam_frame_id},"
        f"{_num(r.cam_t_s, 6)},{'' if r.trigger_index is None else r.trigger_index},"
        f"{_num(r.board_t_s, 6)}\n"
    )


def _csv_text(text: str) -> str:
    if any(c in text for c in ',"\n\r'):
        return '"' + text.replace('"', '""') + '"'
    return text


def format_event_row(r: EventRow) -> str:
    detail = json.dumps(r.detail, separators=(",", ":"), sort_keys=True, default=str)
    frame = "" if r.frame is None else str(r.frame)
    return f"{r.t_s:.4f},{frame},{_csv_text(r.kind)},{_csv_text(detail)},{_num(r.board_t_s, 6)}\n"


_FIELD_RE = re.compile(r"\{(\w+)\}")


def _safe(text: str) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9_.\-]+", "-", text).strip("-.")
    return cleaned or "x"


def session_folder_name(pattern: str, fields: dict[str, str]) -> str:
    """Fill the ``recording.output_dir`` pattern; unknown fields are a ConfigError."""

    def fill(match: re.Match[str]) -> str:
        key = match.group(1)
        if key not in fields:
            raise ConfigError(
                f"recording.output_dir: unknown field {{{key}}} in {pattern!r} "
                f"(known: {', '.join('{' + k + '}' for k in fields)})"
            )
        return _safe(fields[key])

    return _FIELD_RE.sub(fill, pattern)


def check_output_writable(out_dir: Path) -> None:
    """Refuse an output folder that cannot be created or written (before anything opens)."""
    probe = out_dir
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        raise ConfigError(f"--out: {probe} exists and is not a folder")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise ConfigError(f"--out: {probe} is not writable")


def create_session_dir(out_dir: Path, pattern: str, fields: dict[str, str]) -> Path:
    """Create a new, empty session folder (never reuses one).

    If the name exists already (two sessions in the same second), ``-2``, ``-3``... is
    appended; an existing folder is never written into.
    """
    relative = Path(session_folder_name(pattern, fields))
    if relative.is_absolute() or ".." in relative.parts:
        raise ConfigError(f"recording.output_dir: must be a relative path, got {pattern!r}")
    base = out_dir / relative
    base.parent.mkdir(parents=True, exist_ok=True)
    for n in range(1, 1000):
        candidate = base if n == 1 else base.with_name(f"{base.name}-{n}")
        try:
            candidate.mkdir(exist_ok=False)
        except FileExistsError:
            continue
        return candidate
    raise RecorderFault(f"{base}: could not find a free session folder name")


def now_iso() -> str:
    return dt.datetime.now().astimezone().isoformat(timespec="milliseconds")


class SessionWriter:
    """Writes frames.csv, events.csv (and video) on its own thread through a bounded queue.

    ``block_when_full``: wait for room instead of failing (used at speed max, where the
    source can wait); live sessions fail fast with RecorderFault.
    """

    def __init__(
        self,
        session_dir: Path,
        *,
        queue_size: int = 4096,
        block_when_full: bool = False,
        save_video: bool = False,
        codec: str = "MJPG",
        fps: float = 30.0,
        video_queue_bytes: int = DEFAULT_QUEUE_BYTES,
    ) -> None:
        self.session_dir = session_dir
        self._queue: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=queue_size)
        self._block = block_when_full
        self._video: VideoRecorder | None = (
            VideoRecorder(session_dir / "video", codec, fps, max_queue_bytes=video_queue_bytes)
            if save_video
            else None
        )
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self._frames_file: IO[str] | None = None
        self._events_file: IO[str] | None = None
        self._identity: tuple[int, int] | None = None
        self.rows_written = 0
        self.events_written = 0

    # --- producer side (control thread) ------------------------------------------
    def start(self) -> None:
        """Create the CSVs with their header rows and start the writer thread.

        Raises RecorderFault (not OSError) when the disk is full or the folder unusable."""
        try:
            stat = os.stat(self.session_dir)
            self._identity = (stat.st_dev, stat.st_ino)
            self._frames_file = open(  # noqa: SIM115 - closed by the writer thread
                self.session_dir / "frames.csv", "x", encoding="utf-8", newline=""
            )
            self._events_file = open(  # noqa: SIM115
                self.session_dir / "events.csv", "x", encoding="utf-8", newline=""
            )
            self._frames_file.write(",".join(FRAME_COLUMNS) + "\n")
            self._events_file.write(",".join(EVENT_COLUMNS) + "\n")
            self._frames_file.flush()
            self._events_file.flush()
        except OSError as err:
            self._close_files()
            raise RecorderFault(f"{self.session_dir}: cannot create the record: {err}") from err
        if self._video is not None:
            self._video.start()
        self._thread = threading.Thread(target=self._run, name="rig-writer", daemon=True)
        self._thread.start()

    def raise_if_failed(self) -> None:
        """Raise RecorderFault if the writer thread has failed (control thread)."""
        if self._error is not None:
            raise RecorderFault(f"{self.session_dir}: recording failed: {self._error}")

    def _put(self, item: tuple[str, Any]) -> None:
        self.raise_if_failed()
        if self._thread is None or not self._thread.is_alive():
            raise RecorderFault(f"{self.session_dir}: the writer is not running")
        try:
            if self._block:
                while True:
                    try:
                        self._queue.put(item, timeout=INTEGRITY_CHECK_S)
                        return
                    except queue.Full:
                        self.raise_if_failed()
                        if not self._thread.is_alive():
                            raise
            else:
                self._queue.put_nowait(item)
        except queue.Full as err:
            raise RecorderFault(
                f"{self.session_dir}: the disk cannot keep up "
                f"({self._queue.maxsize} rows waiting); session stopped"
            ) from err

    def write_frame(self, row: FrameRow) -> None:
        self._put(("f", row))

    def write_event(self, row: EventRow) -> None:
        self._put(("e", row))

    def write_image(self, image: NDArray[np.uint8], t_s: float = 0.0) -> bool:
        """Offer a frame to the video encoder (never blocks); False if it was dropped."""
        if self._video is None:
            return False
        return self._video.offer(image, t_s)

    @property
    def video_dropped(self) -> int:
        return self._video.dropped if self._video is not None else 0

    def video_stats(self) -> VideoStats | None:
        return self._video.stats() if self._video is not None else None

    def sync(self) -> None:
        """Ask for an fsync of the CSVs (phase boundaries)."""
        self._put(("s", None))

    @property
    def error(self) -> BaseException | None:
        return self._error

    def close(self, timeout_s: float = 10.0) -> None:
        """Write what is queued, fsync and close. Raises RecorderFault if rows were lost."""
        thread = self._thread
        if thread is not None and thread.is_alive():
            try:
                self._queue.put(("q", None), timeout=timeout_s)
            except queue.Full:
                self._error = self._error or RecorderFault("writer queue stuck at close")
            thread.join(timeout_s)
            if thread.is_alive():
                self._error = self._error or RecorderFault("writer did not finish in time")
        self._close_files()
        if self._video is not None:
            self._video.close()
        self.raise_if_failed()

    # --- writer thread -------------------------------------------------------------
    def _check_integrity(self) -> None:
        """The folder we created is still there (same device and inode), frames.csv too."""
        assert self._identity is not None and self._frames_file is not None
        try:
            stat = os.stat(self.session_dir)
        except FileNotFoundError:
            raise RecorderFault(f"{self.session_dir}: the session folder was deleted") from None
        if (stat.st_dev, stat.st_ino) != self._identity:
            raise RecorderFault(
                f"{self.session_dir}: the session folder was replaced by another folder"
            )
        if os.fstat(self._frames_file.fileno()).st_nlink == 0:
            raise RecorderFault(f"{self.session_dir}: frames.csv was deleted")

    def _run(self) -> None:
        try:
            running = True
            while running:
                try:
                    batch = [self._queue.get(timeout=INTEGRITY_CHECK_S)]
                except queue.Empty:
                    self._check_integrity()
                    continue
                while len(batch) < 2000:
                    try:
                        batch.append(self._queue.get_nowait())
                    except queue.Empty:
                        break
                frames_out: list[str] = []
                events_out: list[str] = []
                do_sync = False
                for kind, payload in batch:
                    if kind == "f":
                        frames_out.append(format_frame_row(payload))
                    elif kind == "e":
                        events_out.append(format_event_row(payload))
                    elif kind == "s":
                        do_sync = True
                    elif kind == "q":
                        running = False
                        do_sync = True
                assert self._frames_file is not None and self._events_file is not None
                if frames_out:
                    self._frames_file.write("".join(frames_out))
                    self._frames_file.flush()
                    self.rows_written += len(frames_out)
                if events_out:
                    self._events_file.write("".join(events_out))
                    self._events_file.flush()
                    self.events_written += len(events_out)
                self._check_integrity()
                if do_sync:
                    os.fsync(self._frames_file.fileno())
                    os.fsync(self._events_file.fileno())
        except (OSError, RecorderFault) as err:
            # An expected failure of the medium (disk full, folder deleted): one line.
            log.error("session writer stopped: %s", err)
            self._error = err
        except BaseException as err:
            log.error("session writer failed: %s", err, exc_info=True)
            self._error = err

    def _close_files(self) -> None:
        for handle in (self._frames_file, self._events_file):
            if handle is None or handle.closed:
                continue
            try:
                handle.flush()
                os.fsync(handle.fileno())
            except OSError as err:
                self._error = self._error or err
            try:
                handle.close()
            except OSError as err:  # close() flushes again; on a full disk that fails too
                self._error = self._error or err
