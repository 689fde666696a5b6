"""Small helpers for session tests: read the record back, scripted fakes."""

from __future__ import annotations

import csv
import json
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np
from numpy.typing import NDArray

from rig.devices.frames import Frame, SourceKind
from rig.tracking.detect import TrackResult


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


class ScriptedSource:
    """A FrameSource of blank frames (or ``image_at(index)``); ``stall_after`` frames then read() blocks (a stalled
    camera) until ``release`` is set; ``fail_after`` raises ``error`` instead."""

    def __init__(
        self,
        size: tuple[int, int] = (640, 480),
        fps: float = 30.0,
        n_frames: int | None = None,
        *,
        live: bool = False,
        stall_after: int | None = None,
        fail_after: int | None = None,
        error: BaseException | None = None,
        image_at: Callable[[int], NDArray[np.uint8]] | None = None,
    ) -> None:
        self._size = size
        self._image_at = image_at
        self._fps = fps
        self._n = n_frames
        self._live = live
        self._stall_after = stall_after
        self._fail_after = fail_after
        self._error = error
        self._index = 0
        self._image = np.full((size[1], size[0]), 200, np.uint8)
        self.release = threading.Event()
        self.closed = False

    name = "scripted"

    @property
    def fps(self) -> float:
        return self._fps

    @property
    def frame_size(self) -> tuple[int, int]:
        return self._size

    @property
    def is_live(self) -> bool:
        return self._live

    @property
    def kind(self) -> SourceKind:
        return SourceKind.CAMERA if self._live else SourceKind.VIDEO

    def open(self) -> None:
        pass

    def read(self) -> Frame | None:
        if self._n is not None and self._index >= self._n:
            return None
        if self._stall_after is not None and self._index >= self._stall_after:
            self.release.wait(1.0)  # a stalled camera (bounded so the test ends)
            return None
        if self._fail_after is not None and self._index >= self._fail_after:
            assert self._error is not None
            raise self._error
        index = self._index
        self._index += 1
        image = self._image if self._image_at is None else self._image_at(index)
        return Frame(index, index / self._fps, time.perf_counter_ns(), image)

    def close(self) -> None:
        self.closed = True
        self.release.set()

    def __enter__(self) -> ScriptedSource:
        self.open()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class ScriptedTracker:
    """Returns positions from a script (px), one per call; raises at call ``raise_at``."""

    def __init__(self, positions_px: list[tuple[float, float] | None], raise_at: int | None = None) -> None:
        self.positions = positions_px
        self.raise_at = raise_at
        self.calls = 0
        self.background: NDArray[np.uint8] | None = None

    def set_background(self, image: NDArray[np.uint8]) -> None:
        self.background = image

    def reset(self) -> None:
        pass

    def track(self, image: NDArray[np.uint8]) -> TrackResult:
        i = self.calls
        self.calls += 1
        if self.raise_at is not None and i >= self.raise_at:
            raise RuntimeError("tracker exploded (scripted)")
        position = self.positions[min(i, len(self.positions) - 1)]
        if position is None:
            return TrackResult(False, float("nan"), float("nan"), 0.0, "no_blob")
        return TrackResult(True, position[0], position[1], 500.0)


def generous_rig(loop_stall_ms: float = 5000.0) -> Any:
    """The embedded mock rig with a loop-stall limit that a loaded CI machine cannot reach.

    For session tests that are not about liveness: with the gate open on a wall-clock mock
    board, the default 150 ms limit ends a session as ``loop_stalled`` whenever the machine
    stalls the loop that long (the limit has its own tests in test_host_safety*.py).
    """
    import dataclasses

    from rig.rigfile.load import load_default_rig
    from rig.rigfile.models import RigConfig

    base = load_default_rig()
    data = base.config.model_dump(mode="json")
    data["loop_stall_ms"] = loop_stall_ms
    return dataclasses.replace(base, config=RigConfig.model_validate(data), embedded=False)
