"""A simulated hardware-triggered camera: one frame per trigger edge of a (mock) board.

``BoardTriggeredCamera`` wraps a frame source (the synthetic arena) the way a camera on
``trigger: hardware`` behaves: it exposes a frame only when the board's trigger output
rises, so frame k is the k-th trigger (``cam_frame_id`` = the trigger count, as the board
reports it) and its time is the edge's time on the board's clock. ``miss`` names triggers
the camera ignores (too soon after the last exposure, a cable fault) so the record's gap
counting can be tested. It runs on the board's clock: with a ``MediaClock`` (simulation)
reading a frame moves that clock to the edge, so the board has made the edge (and reported
it) by the time the frame is delivered, as on a real rig.
"""

from __future__ import annotations

import time
from collections.abc import Collection
from typing import Protocol

from rig.clock import Clock
from rig.devices.board import TriggerConfig
from rig.devices.frames import Frame, FrameSource, SourceKind
from rig.devices.lifecycle import OpenedByWith
from rig.errors import CameraLost

#: Longest (wall-clock) wait for the board to start triggering before the camera is lost.
FIRST_TRIGGER_TIMEOUT_S = 10.0


class TriggerOutput(Protocol):
    """What the camera needs from the board (``MockBoard``): its trigger edges."""

    @property
    def trigger_config(self) -> TriggerConfig | None: ...

    @property
    def trigger_first_edge_us(self) -> int | None: ...

    def clock_ns_at(self, device_us: int) -> int: ...


class BoardTriggeredCamera(OpenedByWith):
    """FrameSource: ``inner``'s images, one per trigger edge of ``board`` (see module)."""

    frame_id_is_trigger_count = True

    def __init__(
        self, inner: FrameSource, board: TriggerOutput, clock: Clock, *, miss: Collection[int] = ()
    ) -> None:
        self._inner = inner
        self._board = board
        self._clock = clock
        self._miss = frozenset(miss)
        self._next_trigger = 1
        self._delivered = 0
        self._t0_us: int | None = None

    @property
    def name(self) -> str:
        return f"triggered({self._inner.name})"

    @property
    def fps(self) -> float:
        config = self._board.trigger_config
        return config.fps if config is not None else self._inner.fps

    @property
    def frame_size(self) -> tuple[int, int]:
        return self._inner.frame_size

    @property
    def is_live(self) -> bool:
        return self._inner.is_live

    @property
    def kind(self) -> SourceKind:
        return self._inner.kind

    @property
    def calibration(self) -> object:
        return getattr(self._inner, "calibration", None)

    def open(self) -> None:
        self._inner.open()
        self._next_trigger = 1
        self._delivered = 0

    def close(self) -> None:
        self._inner.close()

    def _edge_us(self, k: int) -> int:
        """Device time of trigger ``k`` (from 1), waiting for the board to start."""
        deadline = time.monotonic() + FIRST_TRIGGER_TIMEOUT_S
        while True:
            config, first = self._board.trigger_config, self._board.trigger_first_edge_us
            if config is not None and first is not None:
                return first + (k - 1) * config.period_us
            if time.monotonic() > deadline:
                raise CameraLost(f"{self.name}: no trigger from the board for {FIRST_TRIGGER_TIMEOUT_S:g} s")
            time.sleep(0.002)

    def read(self) -> Frame | None:
        k = self._next_trigger
        while k in self._miss:
            k += 1
        edge_us = self._edge_us(k)
        self._next_trigger = k + 1
        # the board makes the edge (and reports it) before the camera can deliver the frame
        self._clock.sleep_until_ns(self._board.clock_ns_at(edge_us))
        inner = self._inner.read()
        if inner is None:
            return None
        if self._t0_us is None:
            self._t0_us = edge_us
        index = self._delivered
        self._delivered += 1
        return Frame(
            index=index,
            t_s=(edge_us - self._t0_us) / 1e6,
            captured_ns=inner.captured_ns,
            image=inner.image,
            truth=inner.truth,
            cam_frame_id=k,
            cam_t_s=(edge_us - self._t0_us) / 1e6,
        )
