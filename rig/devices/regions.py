"""Several arenas under one camera: one frame, cut into per-arena image regions.

``SharedFrames(source, regions)`` reads each frame of ``source`` once and hands every
arena a ``RegionView`` (a FrameSource) whose frames are that frame's crop (a numpy view, no
copy), with the same index, time and capture stamp. Each arena's SessionRunner reads its
view like a camera, so each arena keeps its own background, tracker, protocol, side, board
channel and session folder while one frame feeds them all.

One reader thread reads the camera; each arena's control loop takes its crop straight from
the shared buffer (``RegionView.direct_feed``: one thread hand-off from camera to every
arena's loop). A live camera never waits for a slow or hung arena (that arena drops
frames, counted in its record); a recorded or synthetic source runs in lock step, at most
``max_lead`` frames ahead of the slowest open view. Closing a view (its session ended,
e.g. on a fault) removes it, so a finished arena never holds the others back.

``TiledSynthetic`` renders N synthetic chambers, each with its own mouse, into one image
(the "one camera" of tests, ``rig demo --arenas N`` and the multi-arena benchmark).
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from rig.calibration import ArenaCalibration
from rig.devices.frames import Frame, FrameSource, GroundTruth, SourceKind
from rig.devices.lifecycle import OpenedByWith
from rig.devices.synthetic import OUTSIDE_GREY, SyntheticArena, synthetic_calibration


@dataclass(frozen=True, slots=True)
class Region:
    """An arena's rectangle in the camera image, in pixels (x, y of its top-left corner)."""

    name: str
    x_px: int
    y_px: int
    width_px: int
    height_px: int

    def check_inside(self, frame_size: tuple[int, int]) -> None:
        w, h = frame_size
        if (
            self.x_px < 0
            or self.y_px < 0
            or self.width_px <= 0
            or self.height_px <= 0
            or self.x_px + self.width_px > w
            or self.y_px + self.height_px > h
        ):
            raise ValueError(
                f"arena {self.name}: region x {self.x_px} y {self.y_px} "
                f"{self.width_px}x{self.height_px} px is not inside the {w}x{h} camera image"
            )

    def overlaps(self, other: Region) -> bool:
        return (
            self.x_px < other.x_px + other.width_px
            and other.x_px < self.x_px + self.width_px
            and self.y_px < other.y_px + other.height_px
            and other.y_px < self.y_px + self.height_px
        )


def grid_regions(n: int, frame_size: tuple[int, int], names: Sequence[str] = ()) -> list[Region]:
    """``n`` equal regions tiling the image (1x2, 2x2, ...), named A, B, C ... by default."""
    if not 1 <= n <= 16:
        raise ValueError(f"arenas: 1 to 16 per camera, got {n}")
    cols = 1 if n == 1 else 2 if n <= 4 else 4
    rows = -(-n // cols)
    w, h = frame_size[0] // cols, frame_size[1] // rows
    labels = list(names) or [chr(ord("A") + i) for i in range(n)]
    return [Region(labels[i], (i % cols) * w, (i // cols) * h, w, h) for i in range(n)]


def check_regions(regions: Sequence[Region], frame_size: tuple[int, int]) -> None:
    """Every region inside the image, names unique, no two regions overlapping."""
    names = [r.name for r in regions]
    if len(set(names)) != len(names):
        raise ValueError(f"arenas: names must be unique, got {', '.join(names)}")
    for r in regions:
        r.check_inside(frame_size)
    for i, a in enumerate(regions):
        for b in regions[i + 1 :]:
            if a.overlaps(b):
                raise ValueError(f"arenas {a.name} and {b.name}: image regions overlap")


#: A paced (speed N) recorded source more than this late re-bases its schedule.
_LATE_REBASE_NS = 250_000_000
#: How long a closing view waits for the reader thread to finish its current read.
_READER_JOIN_S = 5.0


class SharedFrames:
    """One source read once per frame by one reader thread, fanned out to per-region views.

    The reader thread (``rig-camera``) is the only thread that calls ``source.read()``;
    each arena's control loop takes its region's frames straight from the shared buffer
    (``RegionView.direct_feed()``), so a frame passes one thread hand-off between the
    camera and every arena's loop.

    - A live camera never waits for an arena: an arena more than ``max_lead`` frames
      behind loses its oldest frames (counted as dropped in its own record), and an arena
      that takes a frame skips to the newest one (as ``LatestFrameSlot`` does for one
      arena). A hung arena therefore never holds the others back.
    - A recorded or synthetic source runs in lock step: the reader stops ``max_lead``
      frames ahead of the slowest open view (a simulation is slow, never lossy), paced at
      ``speed`` x its own timestamps (None: as fast as the arenas go) and stamped on
      arrival like a camera frame. Closing a view (its session ended) releases the others.
    """

    def __init__(
        self,
        source: FrameSource,
        regions: Sequence[Region],
        max_lead: int = 8,
        speed: float | None = None,
    ) -> None:
        if max_lead < 1:
            raise ValueError("max_lead must be >= 1")
        if speed is not None and speed <= 0:
            raise ValueError(f"speed must be > 0 or None (max), got {speed}")
        self.source = source
        self.regions = list(regions)
        self.max_lead = max_lead
        self._speed = speed
        self._live = bool(source.is_live)
        lock = threading.Lock()
        # Two conditions on one lock: arenas wait for frames, the reader waits for room;
        # a take wakes only the reader, a new frame only the arenas.
        self._frames = threading.Condition(lock)
        self._room = threading.Condition(lock)
        self._buffer: dict[int, Frame] = {}
        self._truths: dict[int, list[GroundTruth | None]] = {}
        self._next_read = 0
        self._ended = False
        self._error: BaseException | None = None
        # Every view is registered from the start (a view that opens late still gets the
        # first frames; one that never opens must be closed to stop holding the others).
        self._positions: dict[int, int] = {i: 0 for i in range(len(self.regions))}
        self._dropped: dict[int, int] = {i: 0 for i in range(len(self.regions))}
        self._source_open = False
        self._stop = threading.Event()
        self._reader: threading.Thread | None = None
        self.frames_read = 0
        self.views = [RegionView(self, i, r) for i, r in enumerate(self.regions)]

    # --- lifecycle (called by the views) ---------------------------------------------
    def _open_view(self, i: int) -> None:
        with self._frames:
            if i not in self._positions:
                raise RuntimeError(f"arena {self.regions[i].name}: its view was closed")
            if self._source_open or self._stop.is_set():
                return
            self.source.open()
            self._source_open = True
            try:
                check_regions(self.regions, tuple(self.source.frame_size))  # type: ignore[arg-type]
            except BaseException:
                self._source_open = False
                self.source.close()
                raise
            self._reader = threading.Thread(target=self._read_loop, name="rig-camera", daemon=True)
            self._reader.start()

    def _close_view(self, i: int) -> None:
        reader = None
        with self._frames:
            if i in self._positions:
                del self._positions[i]
                self._trim()
                self._room.notify_all()
            if not self._positions:
                self._stop.set()
                self._room.notify_all()
                reader = self._reader
        if reader is not None and reader is not threading.current_thread():
            reader.join(_READER_JOIN_S)  # the source is closed when this returns

    def set_speed(self, speed: float | None) -> None:
        """Pacing of a recorded or synthetic source (None: as fast as the arenas go)."""
        if speed is not None and speed <= 0:
            raise ValueError(f"speed must be > 0 or None (max), got {speed}")
        self._speed = speed

    def dropped(self, i: int) -> int:
        """Frames view ``i`` lost because it was behind a live camera."""
        with self._frames:
            return self._dropped[i]

    # --- the reader thread ---------------------------------------------------------------
    def _read_loop(self) -> None:
        base_ns: int | None = None
        base_t_s = 0.0
        speed = self._speed
        try:
            while not self._stop.is_set():
                with self._room:
                    while (
                        not self._live
                        and not self._stop.is_set()
                        and self._positions
                        and self._next_read - min(self._positions.values()) >= self.max_lead
                    ):
                        self._room.wait(0.05)
                    if self._stop.is_set() or not self._positions:
                        break
                frame = self.source.read()
                truths_fn = getattr(self.source, "region_truths", None)
                truths = truths_fn() if frame is not None and callable(truths_fn) else None
                if frame is None:
                    break
                if not self._live:
                    if self._speed != speed:
                        speed, base_ns = self._speed, None
                    if speed is not None:
                        if base_ns is None:
                            base_ns, base_t_s = time.perf_counter_ns(), frame.t_s
                        due_ns = base_ns + int((frame.t_s - base_t_s) / speed * 1e9)
                        delay_ns = due_ns - time.perf_counter_ns()
                        if delay_ns > 0:
                            time.sleep(delay_ns / 1e9)
                        elif -delay_ns > _LATE_REBASE_NS:  # a busy machine: slow down, no burst
                            base_ns, base_t_s = time.perf_counter_ns(), frame.t_s
                        # Stamped on arrival, as a camera's frame (latency excludes pacing).
                        frame = dataclasses.replace(frame, captured_ns=time.perf_counter_ns())
                with self._frames:
                    k = self._next_read
                    self._buffer[k] = frame
                    if truths is not None:
                        self._truths[k] = truths
                    self._next_read = k + 1
                    self.frames_read += 1
                    if self._live:
                        # Never wait for a slow (or hung) arena: it loses its oldest frames.
                        oldest = self._next_read - self.max_lead
                        for j, pos in self._positions.items():
                            if pos < oldest:
                                self._dropped[j] += oldest - pos
                                self._positions[j] = oldest
                        self._trim()
                    self._frames.notify_all()
        except BaseException as err:  # every view's runner sees it
            with self._frames:
                self._error = err
        finally:
            with self._frames:
                self._ended = True
                self._frames.notify_all()
            try:
                self.source.close()
            except Exception:  # noqa: BLE001 - closing a failed camera must not mask its error
                pass

    # --- taking frames (each arena's thread) ------------------------------------------
    def _read_for(
        self, i: int, timeout_s: float | None = None
    ) -> tuple[Frame, GroundTruth | None] | None | Literal[False]:
        """View ``i``'s next frame and truth; None at the end of the stream (or when the
        view was closed); False when ``timeout_s`` passed first."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        with self._frames:
            while True:
                k = self._positions.get(i)
                if k is None:
                    return None
                newest = self._next_read - 1
                if self._live and newest > k and newest in self._buffer:
                    # A live camera: work on the newest frame; the skipped ones are dropped.
                    self._dropped[i] += newest - k
                    k = newest
                if k in self._buffer:
                    break
                if self._error is not None:
                    raise self._error
                if self._ended:
                    return None
                if deadline is None:
                    self._frames.wait(0.05)
                else:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        return False
                    self._frames.wait(min(remaining, 0.05))
            frame = self._buffer[k]
            truths = self._truths.get(k)
            self._positions[i] = k + 1
            if not self._live:
                self._trim()
                self._room.notify_all()
            return frame, (truths[i] if truths is not None else None)

    def _trim(self) -> None:
        if not self._positions:
            self._buffer.clear()
            self._truths.clear()
            return
        slowest = min(self._positions.values())
        for k in [k for k in self._buffer if k < slowest]:
            del self._buffer[k]
            self._truths.pop(k, None)


class RegionView(OpenedByWith):
    """One arena's view of a ``SharedFrames`` (a FrameSource)."""

    def __init__(self, shared: SharedFrames, index: int, region: Region) -> None:
        self._shared = shared
        self._index = index
        self.region = region
        self._open = False

    @property
    def name(self) -> str:
        return f"{self._shared.source.name}[{self.region.name}]"

    @property
    def fps(self) -> float:
        return self._shared.source.fps

    @property
    def frame_size(self) -> tuple[int, int]:
        return (self.region.width_px, self.region.height_px)

    @property
    def is_live(self) -> bool:
        return self._shared.source.is_live

    @property
    def kind(self) -> SourceKind:
        return self._shared.source.kind

    def open(self) -> None:
        if not self._open:
            self._shared._open_view(self._index)
            self._open = True

    def read(self) -> Frame | None:
        got = self._shared._read_for(self._index)
        if got is None or got is False:  # False: only with a timeout
            return None
        return self._crop(*got)

    def _crop(self, frame: Frame, truth: GroundTruth | None) -> Frame:
        r = self.region
        crop = frame.image[r.y_px : r.y_px + r.height_px, r.x_px : r.x_px + r.width_px]
        return Frame(
            index=frame.index,
            t_s=frame.t_s,
            captured_ns=frame.captured_ns,
            image=crop,
            truth=truth,
            cam_frame_id=frame.cam_frame_id,
            cam_t_s=frame.cam_t_s,
        )

    def direct_feed(self) -> RegionFeed:
        """This view as the control loop's frame hand-over (no acquisition thread)."""
        return RegionFeed(self)

    def close(self) -> None:
        """Stop taking frames (also when never opened: the others stop waiting for it)."""
        self._open = False
        self._shared._close_view(self._index)


class RegionFeed:
    """A region's frames handed straight to its arena's control loop: the same surface as
    ``LatestFrameSlot`` (take with a timeout, error, closed, dropped) and as the
    acquisition thread's controls, with no thread of its own. Pacing belongs to the shared
    reader, so pausing or changing the speed of one arena is not possible (the runner
    still holds the light off while paused)."""

    def __init__(self, view: RegionView) -> None:
        self._view = view
        self._closed = False
        self.paused = False

    def take(self, timeout_s: float) -> Frame | None:
        got = self._view._shared._read_for(self._view._index, timeout_s)
        if got is False:
            return None
        if got is None:
            self._closed = True
            return None
        return self._view._crop(*got)

    @property
    def error(self) -> BaseException | None:
        return self._view._shared._error

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def dropped(self) -> int:
        return self._view._shared.dropped(self._view._index)

    def set_paused(self, paused: bool) -> None:
        """Not possible per arena (one camera feeds them all); see the class docstring."""

    def set_speed(self, speed: float | None) -> None:
        """Not possible per arena; ``SharedFrames.set_speed`` paces every arena."""

    def join(self, timeout: float | None = None) -> None:
        """Nothing to stop: the loop thread itself takes the frames."""

    def is_alive(self) -> bool:
        return False


class TiledSynthetic(OpenedByWith):
    """N synthetic chambers, each with its own mouse (seed), rendered into one image.

    Each chamber is a ``SyntheticArena`` drawn at its region's size from its calibration
    (camera size = region size); its pixels in the big image are exactly what the arena
    renders alone, so an arena's record here equals a single-arena run of the same mouse.
    """

    def __init__(
        self,
        frame_size: tuple[int, int],
        regions: Sequence[Region],
        calibrations: Sequence[ArenaCalibration],
        seeds: Sequence[int],
        fps: float = 30.0,
        noise: float = 2.0,
        duration_s: float | None = None,
    ) -> None:
        if not len(regions) == len(calibrations) == len(seeds):
            raise ValueError("one calibration and one seed per region")
        check_regions(regions, frame_size)
        for r, cal in zip(regions, calibrations, strict=True):
            if (cal.camera.width_px, cal.camera.height_px) != (r.width_px, r.height_px):
                raise ValueError(f"arena {r.name}: calibration is not at the region's size")
        self._size = frame_size
        self._regions = list(regions)
        self._arenas = [
            SyntheticArena(cal, fps=fps, seed=seed, noise=noise, duration_s=duration_s)
            for cal, seed in zip(calibrations, seeds, strict=True)
        ]
        self._fps = float(fps)
        self._last_truths: list[GroundTruth | None] = []
        self._canvas: NDArray[np.uint8] | None = None

    @property
    def name(self) -> str:
        return f"synthetic-tiled({len(self._arenas)} arenas)"

    @property
    def fps(self) -> float:
        return self._fps

    @property
    def frame_size(self) -> tuple[int, int]:
        return self._size

    @property
    def is_live(self) -> bool:
        return False

    @property
    def kind(self) -> SourceKind:
        return SourceKind.SYNTHETIC

    def open(self) -> None:
        for a in self._arenas:
            a.open()

    def read(self) -> Frame | None:
        frames = [a.read() for a in self._arenas]
        if any(f is None for f in frames):
            return None
        canvas = np.full((self._size[1], self._size[0]), OUTSIDE_GREY, dtype=np.uint8)
        truths: list[GroundTruth | None] = []
        for r, f in zip(self._regions, frames, strict=True):
            assert f is not None
            canvas[r.y_px : r.y_px + r.height_px, r.x_px : r.x_px + r.width_px] = f.image
            truths.append(f.truth)
        self._last_truths = truths
        first = frames[0]
        assert first is not None
        return Frame(index=first.index, t_s=first.t_s, captured_ns=first.captured_ns, image=canvas)

    def region_truths(self) -> list[GroundTruth | None]:
        """Ground truth of each chamber's mouse in the last frame read (region order)."""
        return list(self._last_truths)

    def close(self) -> None:
        for a in self._arenas:
            a.close()


class PacedLive(OpenedByWith):
    """A non-live source played as a camera: each frame is released at its own time
    (``t_s`` from the first frame) and stamped ``captured_ns`` then; ``is_live`` is True,
    so runners take its stamps as capture times (the multi-arena latency benchmark)."""

    def __init__(self, source: FrameSource) -> None:
        self._source = source
        self._t0_ns: int | None = None
        self._t0_s = 0.0

    @property
    def name(self) -> str:
        return f"paced({self._source.name})"

    @property
    def fps(self) -> float:
        return self._source.fps

    @property
    def frame_size(self) -> tuple[int, int]:
        return tuple(self._source.frame_size)  # type: ignore[return-value]

    @property
    def is_live(self) -> bool:
        return True

    @property
    def kind(self) -> SourceKind:
        return self._source.kind

    def open(self) -> None:
        self._source.open()

    def read(self) -> Frame | None:
        frame = self._source.read()
        if frame is None:
            return None
        if self._t0_ns is None:
            self._t0_ns, self._t0_s = time.perf_counter_ns(), frame.t_s
        due_ns = self._t0_ns + int((frame.t_s - self._t0_s) * 1e9)
        delay_s = (due_ns - time.perf_counter_ns()) / 1e9
        if delay_s > 0:
            time.sleep(delay_s)
        return dataclasses.replace(frame, captured_ns=time.perf_counter_ns())

    def region_truths(self) -> list[GroundTruth | None]:
        fn = getattr(self._source, "region_truths", None)
        return list(fn()) if callable(fn) else []

    def close(self) -> None:
        self._source.close()


def region_calibration(
    region: Region, width_cm: float = 50.0, length_cm: float = 25.0
) -> ArenaCalibration:
    """A calibration for a synthetic chamber filling most of ``region`` (region pixels)."""
    cal = synthetic_calibration(region.width_px, region.height_px, width_cm, length_cm)
    return cal.model_copy(update={"name": f"synthetic-arena-{region.name}"})
