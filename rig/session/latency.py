"""Camera-to-light latency self-test: sync LED command -> frame that shows it -> decision.

The board switches its sync LED on at random times (the firmware's SYNC command; the mock
board models the same command) and reports each rising edge with its own device clock.
The camera sees the LED in a small region of interest (ROI) outside the arena. For every
edge the engine finds the first frame whose ROI turns bright and records three numbers:

- ``led_to_frame_ms``: board edge -> that frame's time (camera exposure, read-out,
  transfer and the driver: the camera's part of the loop latency);
- ``frame_to_decision_ms``: that frame -> the control loop's decision on it (tracking,
  zone, policy: our part);
- ``led_to_decision_ms``: the sum, light in the arena -> decision.

Time base. Frames are stamped on the host (``Frame.captured_ns``, ``perf_counter_ns``),
board edges on the device clock (``device_us``); ``DeviceClockMap`` maps the device clock
to the host's from the lower envelope of (host receipt - device time) over the board's
reports, fitted as a line because the board's resonator drifts (up to 0.5 %). What
remains is the shortest transit of a report (USB serial: about 1-2 ms), by which the
measured latency can be *shorter* than the true one, never longer. In a simulation the
runner passes the media-clock time of each frame instead, and the mock board's reports
carry the exact media time, so the measurement is exact to the frame period and
independent of how loaded the machine is.

Each measurement is an events.csv row (``led_latency``); edges never seen within
``timeout_s`` are ``led_missed``, LED onsets with no edge before them ``led_unexpected``.
summary.json aggregates them (p50, p99) per session (``rig.analysis.summary``).

Core module: numpy only, no Qt.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, cast

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from rig.errors import ConfigError

if TYPE_CHECKING:
    from rig.clock import MediaClock
    from rig.devices.board import LaserBoard
    from rig.devices.frames import FrameSource


class SyncOutput(Protocol):
    """A board with the firmware's SYNC command (FirmataBoard, MockBoard)."""

    def configure_sync(
        self,
        enabled: bool = True,
        *,
        sync_pin: int = 7,
        led_pin: int | None = 12,
        min_interval_ms: int = 1000,
        max_interval_ms: int = 5000,
        width_ms: int = 10,
    ) -> None: ...


def sync_output(board: LaserBoard) -> SyncOutput:
    """``board`` as a sync LED output, or ConfigError saying why it cannot be one."""
    if not callable(getattr(board, "configure_sync", None)):
        raise ConfigError(
            f"latency test: the board {board.info.port} has no sync LED output "
            "(needs the optorig firmware or the mock board)"
        )
    return cast(SyncOutput, board)


class LatencyTestSettings(BaseModel):
    """Where the camera sees the sync LED and how the board blinks it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    led_roi: tuple[int, int, int, int] = Field(
        description="x, y, width, height in px of a small box around the LED in the image"
    )
    threshold: float = Field(
        40.0, gt=0, le=255, description="grey levels above the LED-off level that mean 'lit'"
    )
    min_interval_s: float = Field(1.0, gt=0, description="shortest time between LED flashes")
    max_interval_s: float = Field(3.0, gt=0, description="longest time between LED flashes")
    pulse_s: float = Field(
        0.1, gt=0, description="LED on-time; longer than a frame period so no flash falls between frames"
    )
    timeout_s: float = Field(1.0, gt=0, description="a flash not seen within this is counted missed")
    sync_pin: int = Field(7, ge=0, le=19, description="sync TTL output pin")
    led_pin: int = Field(12, ge=0, le=19, description="LED pin")

    @field_validator("led_roi")
    @classmethod
    def _roi(cls, value: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
        x, y, w, h = value
        if x < 0 or y < 0 or w < 1 or h < 1:
            raise ValueError(f"x and y must be >= 0, width and height >= 1; got {list(value)}")
        return value

    @model_validator(mode="after")
    def _intervals(self) -> LatencyTestSettings:
        if self.max_interval_s < self.min_interval_s:
            raise ValueError("max_interval_s must be >= min_interval_s")
        if self.pulse_s >= self.min_interval_s:
            raise ValueError("pulse_s must be shorter than min_interval_s")
        if self.timeout_s > self.min_interval_s:
            raise ValueError("timeout_s must not exceed min_interval_s (flashes would be confused)")
        return self

    def check_frame_size(self, width: int, height: int) -> None:
        x, y, w, h = self.led_roi
        if x + w > width or y + h > height:
            raise ValueError(
                f"led_roi {list(self.led_roi)} reaches outside the {width}x{height} px image"
            )

    def sync_kwargs(self) -> dict[str, int]:  # keys match SyncOutput.configure_sync
        """Keyword arguments of ``configure_sync`` (FirmataBoard and MockBoard)."""
        return {
            "sync_pin": self.sync_pin,
            "led_pin": self.led_pin,
            "min_interval_ms": int(round(self.min_interval_s * 1000)),
            "max_interval_ms": int(round(self.max_interval_s * 1000)),
            "width_ms": int(round(self.pulse_s * 1000)),
        }


def parse_roi(text: str) -> tuple[int, int, int, int]:
    """``"X,Y,W,H"`` -> a tuple (raises ValueError naming what is wrong)."""
    parts = [p.strip() for p in text.split(",")]
    if len(parts) != 4:
        raise ValueError(f"expected X,Y,W,H in px, got {text!r}")
    try:
        x, y, w, h = (int(p) for p in parts)
    except ValueError:
        raise ValueError(f"expected four whole numbers X,Y,W,H, got {text!r}") from None
    return (x, y, w, h)


class LedDetector:
    """Is the LED lit in this frame? Mean grey of the ROI against a running LED-off level."""

    def __init__(self, roi: tuple[int, int, int, int], threshold: float) -> None:
        self._roi = roi
        self._threshold = threshold
        self._off_level: float | None = None
        self.last_level = 0.0

    def lit(self, image: NDArray[np.uint8]) -> bool:
        x, y, w, h = self._roi
        level = float(np.mean(image[y : y + h, x : x + w]))
        self.last_level = level
        if self._off_level is None:
            self._off_level = level  # the LED is off before the first flash is commanded
            return False
        lit = level - self._off_level > self._threshold
        if not lit:
            # follow slow lighting drift, never the flashes
            self._off_level += 0.1 * (level - self._off_level)
        return lit


class DeviceClockMap:
    """Maps the board's microsecond clock to the host's ``perf_counter_ns``.

    Each board report gives ``offset = host receipt - device time``: the true offset plus
    the report's transit (serial, USB, the reader thread), never less. The lower envelope
    of the offsets is the true offset plus the shortest transit. The board's clock also
    drifts against the host's (an Uno's ceramic resonator is within +-0.5 %: up to 5 ms per
    second), so the envelope is a line, not a constant: the minimum offset of each
    ``bin_s`` bin of device time over the last ``window_s``: the slope from a least-squares
    fit, the level from the lowest of the last ``level_s`` (a supporting line).
    A device clock that goes backwards (the board reset) starts the map afresh.
    """

    def __init__(self, bin_s: float = 5.0, window_s: float = 300.0, level_s: float = 30.0) -> None:
        self._bin_us = int(bin_s * 1e6)
        self._window_us = int(window_s * 1e6)
        self._level_us = int(level_s * 1e6)
        self._bins: dict[int, tuple[int, int]] = {}  # bin -> (device_us, offset_ns) of its min
        self._newest_us: int | None = None

    @property
    def ready(self) -> bool:
        return bool(self._bins)

    def add(self, device_us: int, host_ns: int) -> None:
        if self._newest_us is not None and device_us < self._newest_us - self._bin_us:
            self._bins.clear()  # the board restarted its clock
            self._newest_us = None
        offset = host_ns - device_us * 1000
        key = device_us // self._bin_us
        current = self._bins.get(key)
        if current is None or offset < current[1]:
            self._bins[key] = (device_us, offset)
        if self._newest_us is None or device_us > self._newest_us:
            self._newest_us = device_us
            oldest = (device_us - self._window_us) // self._bin_us
            for stale in [k for k in self._bins if k < oldest]:
                del self._bins[stale]

    def to_host_ns(self, device_us: int) -> int:
        if not self._bins:
            raise RuntimeError("no board report with a device time yet")
        points = sorted(self._bins.values())
        if len(points) < 3:
            return device_us * 1000 + min(offset for _, offset in points)
        ref_us, ref_offset = points[-1]
        x = np.array([(d - ref_us) / 1e6 for d, _ in points], dtype=np.float64)
        y = np.array([float(o - ref_offset) for _, o in points], dtype=np.float64)
        slope = float(np.polyfit(x, y, 1)[0])
        # The drift from the long fit; the level from the lowest recent point (every offset
        # is the true one plus a transit, so the lowest is the closest), carried to the
        # newest time along the drift, so a slope error hardly matters.
        recent = x >= -self._level_us / 1e6
        intercept = float(np.min((y - slope * x)[recent]))
        offset = ref_offset + intercept + slope * (device_us - ref_us) / 1e6
        return device_us * 1000 + int(round(offset))


@dataclass(frozen=True, slots=True)
class LatencySample:
    """One flash: board edge, the frame that first showed it, the decision on that frame."""

    edge_ns: int
    edge_device_us: int
    frame_index: int
    frame_ns: int
    decision_ns: int

    @property
    def led_to_frame_ms(self) -> float:
        return (self.frame_ns - self.edge_ns) / 1e6

    @property
    def frame_to_decision_ms(self) -> float:
        return (self.decision_ns - self.frame_ns) / 1e6

    @property
    def led_to_decision_ms(self) -> float:
        return (self.decision_ns - self.edge_ns) / 1e6

    def detail(self) -> dict[str, object]:
        return {
            "edge_device_us": self.edge_device_us,
            "seen_frame": self.frame_index,
            "led_to_frame_ms": round(self.led_to_frame_ms, 3),
            "frame_to_decision_ms": round(self.frame_to_decision_ms, 3),
            "led_to_decision_ms": round(self.led_to_decision_ms, 3),
        }


@dataclass(frozen=True, slots=True)
class LatencyOutcome:
    """What one call to :meth:`LatencyProbe.match` settled: measured, missed, unexpected."""

    kind: str  # "led_latency" | "led_missed" | "led_unexpected"
    detail: dict[str, object]
    sample: LatencySample | None = None


@dataclass(slots=True)
class _Onset:
    frame_index: int
    frame_ns: int
    decision_ns: int


class LatencyProbe:
    """Pairs board LED edges with the frames in which the LED first turns on.

    Feed it every frame (``on_frame``) and every SYNC report (``on_edge``) and any other
    board report with a device time (``on_board_time``, to map the clocks), then call
    ``match(now_ns)``; it returns what it could settle. Edges and onsets can arrive in
    either order (a SYNC report may reach the host after the frame showing the LED).
    """

    def __init__(self, settings: LatencyTestSettings) -> None:
        self.settings = settings
        self.detector = LedDetector(settings.led_roi, settings.threshold)
        self.clock_map = DeviceClockMap()
        self._edges: list[tuple[int, int]] = []  # (device_us, host_ns at receipt)
        self._onsets: list[_Onset] = []
        self._was_lit = False
        self.samples: list[LatencySample] = []
        self.missed = 0
        self.unexpected = 0

    # ---------------------------------------------------------------- inputs
    def on_board_time(self, device_us: int, host_ns: int) -> None:
        self.clock_map.add(device_us, host_ns)

    def on_edge(self, device_us: int, host_ns: int) -> None:
        self.on_board_time(device_us, host_ns)
        self._edges.append((device_us, host_ns))

    def on_frame(self, index: int, image: NDArray[np.uint8], frame_ns: int, decision_ns: int) -> bool:
        lit = self.detector.lit(image)
        if lit and not self._was_lit:
            self._onsets.append(_Onset(index, frame_ns, decision_ns))
        self._was_lit = lit
        return lit

    # ---------------------------------------------------------------- matching
    def _edge_ns(self, device_us: int) -> int:
        return self.clock_map.to_host_ns(device_us)

    def match(self, now_ns: int) -> list[LatencyOutcome]:
        """Settle what can be settled at ``now_ns`` (the newest frame's time)."""
        out: list[LatencyOutcome] = []
        timeout_ns = int(self.settings.timeout_s * 1e9)
        while True:
            edge = self._edges[0] if self._edges else None
            onset = self._onsets[0] if self._onsets else None
            if edge is not None:
                edge_ns = self._edge_ns(edge[0])
                if onset is not None and onset.frame_ns >= edge_ns:
                    if onset.frame_ns - edge_ns <= timeout_ns:
                        self._edges.pop(0)
                        self._onsets.pop(0)
                        sample = LatencySample(
                            edge_ns, edge[0], onset.frame_index, onset.frame_ns, onset.decision_ns
                        )
                        self.samples.append(sample)
                        out.append(LatencyOutcome("led_latency", sample.detail(), sample))
                        continue
                if now_ns - edge_ns > timeout_ns and (onset is None or onset.frame_ns - edge_ns > timeout_ns):
                    self._edges.pop(0)
                    self.missed += 1
                    out.append(LatencyOutcome("led_missed", {"edge_device_us": edge[0]}))
                    continue
            if onset is not None and (edge is None or onset.frame_ns < self._edge_ns(edge[0])):
                # Lit with no flash commanded before it: wait for a late report, then give up.
                if now_ns - onset.frame_ns > timeout_ns:
                    self._onsets.pop(0)
                    self.unexpected += 1
                    out.append(LatencyOutcome("led_unexpected", {"seen_frame": onset.frame_index}))
                    continue
            return out

    def flush(self) -> list[LatencyOutcome]:
        """At the end of the session: flashes still within their timeout (and onsets still
        waiting for a report) are recorded as unsettled, neither measured nor missed."""
        out = [
            LatencyOutcome("led_unsettled", {"edge_device_us": device_us})
            for device_us, _ in self._edges
        ]
        out += [LatencyOutcome("led_unsettled", {"seen_frame": o.frame_index}) for o in self._onsets]
        self._edges.clear()
        self._onsets.clear()
        return out


def latency_stats(values_ms: list[float]) -> dict[str, float | None]:
    """p50, p99 and max of a list of milliseconds (None when empty)."""
    if not values_ms:
        return {"p50": None, "p99": None, "max": None}
    arr = np.asarray(values_ms, dtype=np.float64)
    return {
        "p50": round(float(np.percentile(arr, 50)), 3),
        "p99": round(float(np.percentile(arr, 99)), 3),
        "max": round(float(arr.max()), 3),
    }


__all__ = [
    "LatencyOutcome",
    "LatencyProbe",
    "LatencySample",
    "LatencyTestSettings",
    "LedDetector",
    "latency_stats",
    "parse_roi",
]


# --------------------------------------------------------------------------- stand-alone
@dataclass(frozen=True, slots=True)
class LatencyCheckResult:
    """What ``rig camera latency`` measured (no session, no tracking)."""

    source: str
    board: str
    seconds: float
    frames: int
    clock: str
    samples: tuple[LatencySample, ...]
    missed: int
    unexpected: int

    @property
    def led_to_frame_ms(self) -> dict[str, float | None]:
        return latency_stats([s.led_to_frame_ms for s in self.samples])

    @property
    def ok(self) -> bool:
        return bool(self.samples) and self.missed == 0 and self.unexpected == 0

    def as_dict(self) -> dict[str, object]:
        return {
            "source": self.source,
            "board": self.board,
            "seconds": round(self.seconds, 3),
            "frames": self.frames,
            "clock": self.clock,
            "flashes": len(self.samples) + self.missed,
            "seen": len(self.samples),
            "missed": self.missed,
            "unexpected": self.unexpected,
            "led_to_frame_ms": self.led_to_frame_ms,
            "samples_ms": [round(s.led_to_frame_ms, 3) for s in self.samples],
        }

    def text(self) -> str:
        stats = self.led_to_frame_ms

        def ms(key: str) -> str:
            value = stats[key]
            return "-" if value is None else f"{value:.1f}"

        lines = [
            f"source            {self.source}",
            f"board             {self.board}",
            f"frames read       {self.frames} over {self.seconds:.1f} s ({self.clock} clock)",
            f"LED flashes       {len(self.samples) + self.missed} commanded, {len(self.samples)} seen, "
            f"{self.missed} missed, {self.unexpected} seen without a command",
            f"LED -> frame      p50 {ms('p50')} ms, p99 {ms('p99')} ms, max {ms('max')} ms",
        ]
        problems = []
        if not self.samples:
            problems.append("no flash was seen: is the LED in the ROI and the threshold right?")
        if self.missed:
            problems.append(f"{self.missed} flash(es) not seen within the timeout (ROI, threshold, exposure)")
        if self.unexpected:
            problems.append(f"the ROI turned bright {self.unexpected} time(s) with no flash commanded (light leak?)")
        lines.append(f"result            {'OK' if not problems else 'PROBLEMS'}")
        lines += [f"  - {p}" for p in problems]
        return "\n".join(lines)


def measure_latency(
    source: FrameSource,
    board: LaserBoard,
    settings: LatencyTestSettings,
    seconds: float,
    *,
    media_clock: MediaClock | None = None,
) -> LatencyCheckResult:
    """Open ``board`` and ``source``, blink the sync LED for ``seconds`` (by the frames'
    own time) and pair each flash with the first frame showing it. ``media_clock``: the
    MediaClock a mock board runs on beside a synthetic source (advanced to each frame).
    The "decision" here is the LED detection itself (no tracking)."""
    import time

    from rig.devices.board import BoardEventKind

    if not seconds > 0:
        raise ConfigError(f"--seconds: must be > 0, got {seconds:g}")
    sync = sync_output(board)
    probe = LatencyProbe(settings)
    frames = 0
    first_t: float | None = None
    last_t = 0.0
    board.open()
    try:
        source.open()
        try:
            width, height = source.frame_size
            try:
                settings.check_frame_size(int(width), int(height))
            except ValueError as err:
                raise ConfigError(f"--roi: {err}") from None
            sync.configure_sync(True, **settings.sync_kwargs())
            while True:
                frame = source.read()
                if frame is None:
                    break
                if first_t is None:
                    first_t = frame.t_s
                last_t = frame.t_s - first_t
                if media_clock is not None:
                    media_clock.sleep_until_ns(int(round(last_t * 1e9)))
                    frame_ns = media_clock.now_ns()
                    decision_ns = frame_ns + (time.perf_counter_ns() - frame.captured_ns)
                else:
                    frame_ns = frame.captured_ns
                    decision_ns = time.perf_counter_ns()
                probe.on_frame(frame.index, frame.image, frame_ns, decision_ns)
                frames += 1
                for event in board.events():
                    if event.device_us is None:
                        continue
                    if event.kind is BoardEventKind.SYNC:
                        probe.on_edge(event.device_us, event.host_ns)
                    else:
                        probe.on_board_time(event.device_us, event.host_ns)
                probe.match(frame_ns)
                if last_t >= seconds:
                    break
        finally:
            try:
                sync.configure_sync(False, **settings.sync_kwargs())
            except Exception:  # the board may be gone; closing it below is what matters
                pass
            source.close()
    finally:
        board.close()
    return LatencyCheckResult(
        source=source.name,
        board=f"{board.info.kind}:{board.info.port}",
        seconds=last_t,
        frames=frames,
        clock="media" if media_clock is not None else "host",
        samples=tuple(probe.samples),
        missed=probe.missed,
        unexpected=probe.unexpected,
    )
