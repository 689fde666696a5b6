"""Engine benchmarks (numbers, no assertions): closed-loop latency and replay throughput.

Used by ``benchmarks/bench_loop_latency.py``, ``benchmarks/bench_replay.py`` and
``rig bench``. Both run the whole engine (acquisition thread, tracker, policy, mock board,
writer thread) exactly as a session does.
"""

from __future__ import annotations

import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from rig.devices.frames import SourceKind
from rig.devices.lifecycle import OpenedByWith
from rig.session.observer import BaseObserver
from rig.session.status import FrameUpdate, RunnerStatus


def machine() -> dict[str, Any]:
    return {
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "python": platform.python_version(),
    }


class _Collector(BaseObserver):
    def __init__(self) -> None:
        self.latencies_ms: list[float] = []
        self.track_ms: list[float] = []
        self.wait_ms: list[float] = []
        self.first_ns: int | None = None
        self.last_ns = 0
        self.final: RunnerStatus | None = None

    def on_frame(self, update: FrameUpdate) -> None:
        now = time.perf_counter_ns()
        if self.first_ns is None:
            self.first_ns = now
        self.last_ns = now
        self.latencies_ms.append(update.latency_ms)
        self.track_ms.append(update.track_ms)
        self.wait_ms.append(update.wait_ms)

    def on_finished(self, status: RunnerStatus) -> None:
        self.final = status


def _stats(values: list[float]) -> dict[str, float]:
    a = np.asarray(values, dtype=np.float64)
    if a.size == 0:
        return {}
    return {
        "p50": round(float(np.percentile(a, 50)), 3),
        "p95": round(float(np.percentile(a, 95)), 3),
        "p99": round(float(np.percentile(a, 99)), 3),
        "max": round(float(a.max()), 3),
        "mean": round(float(a.mean()), 3),
    }


def _loaded(duration_s: float, background_s: float = 10.0) -> Any:
    import dataclasses

    from rig.protocol.load import load_default_protocol
    from rig.protocol.models import Protocol

    loaded = load_default_protocol()
    data = loaded.protocol.model_dump(mode="json")
    data["phases"] = [{"name": "test", "duration_s": duration_s, "mode": "closed_loop"}]
    n_frames = max(5, min(40, int(background_s * 4)))
    data["tracking"]["background"] = {"source": "median", "duration_s": background_s, "n_frames": n_frames}
    return dataclasses.replace(loaded, protocol=Protocol.model_validate(data))


def bench_loop_latency(
    duration_s: float = 20.0, fps: float = 30.0, background_s: float = 10.0
) -> dict[str, Any]:
    """Frame capture -> board command latency, synthetic source at ``fps`` in real time."""
    from rig.devices.mock_board import MockBoard
    from rig.devices.synthetic import SyntheticArena
    from rig.session.runner import SessionRunner

    loaded = _loaded(duration_s, background_s)
    collector = _Collector()
    with tempfile.TemporaryDirectory() as tmp:
        source = SyntheticArena(loaded.calibration, fps=fps, seed=1)
        runner = SessionRunner(
            loaded, source, MockBoard(), Path(tmp), "bench", speed=1.0,
            observers=(collector,), simulated=True,
        )
        end = runner.run()
    status = collector.final
    wall_s = ((collector.last_ns - (collector.first_ns or 0)) / 1e9) if collector.first_ns else 0.0
    return {
        "benchmark": "loop_latency",
        "description": "frame capture -> laser command through the whole engine (synthetic "
        f"640x480 at {fps:g} fps, real time, mock board)",
        "end_reason": end.value,
        "frames": len(collector.latencies_ms),
        "fps": round((len(collector.latencies_ms) - 1) / wall_s, 2) if wall_s > 0 else 0.0,
        "dropped_frames": status.dropped_frames if status else None,
        "latency_ms": _stats(collector.latencies_ms),
        "tracker_ms": _stats(collector.track_ms),
        "wait_ms": _stats(collector.wait_ms),
        # The engine's own overhead per frame: latency minus the tracker's share.
        "latency_minus_tracker_ms": _stats(
            [a - b for a, b in zip(collector.latencies_ms, collector.track_ms, strict=True)]
        ),
        "machine": machine(),
    }


def bench_replay(duration_s: float = 60.0, fps: float = 30.0) -> dict[str, Any]:
    """Re-score throughput at speed max: a recorded 640x480 MJPG video through the engine,
    and the synthetic arena at speed max (frames/s of the running part)."""
    import cv2

    from rig.devices.mock_board import MockBoard
    from rig.devices.synthetic import SyntheticArena
    from rig.devices.video_replay import VideoReplay
    from rig.session.runner import SessionRunner

    loaded = _loaded(duration_s)
    results: dict[str, Any] = {
        "benchmark": "replay",
        "description": f"speed max, {duration_s:g} s of 640x480 at {fps:g} fps, no frame dropped",
        "machine": machine(),
    }
    with tempfile.TemporaryDirectory() as tmp:
        video = Path(tmp) / "bench.avi"
        writer = cv2.VideoWriter(str(video), cv2.VideoWriter.fourcc(*"MJPG"), fps, (640, 480), True)
        with SyntheticArena(loaded.calibration, fps=fps, seed=2, duration_s=duration_s) as arena:
            while (frame := arena.read()) is not None:
                writer.write(cv2.cvtColor(frame.image, cv2.COLOR_GRAY2BGR))
        writer.release()
        for name, source in (
            ("video", VideoReplay(video)),
            ("synthetic", SyntheticArena(loaded.calibration, fps=fps, seed=2)),
        ):
            collector = _Collector()
            runner = SessionRunner(
                loaded, source, MockBoard(), Path(tmp) / name, "bench", speed=None,
                observers=(collector,), simulated=True,
            )
            t0 = time.perf_counter()
            end = runner.run()
            total_s = time.perf_counter() - t0
            n = len(collector.latencies_ms)
            run_s = (collector.last_ns - (collector.first_ns or 0)) / 1e9
            results[name] = {
                "end_reason": end.value,
                "frames": n,
                "fps": round((n - 1) / run_s, 1) if run_s > 0 else 0.0,
                "wall_s_including_arming": round(total_s, 3),
                "dropped_frames": collector.final.dropped_frames if collector.final else None,
                "latency_ms": _stats(collector.latencies_ms),
            }
    return results


class _FrameLatencies(BaseObserver):
    def __init__(self) -> None:
        self.by_frame: dict[int, float] = {}
        self.track_ms: list[float] = []
        self.wait_ms: list[float] = []
        self.final: RunnerStatus | None = None

    def on_frame(self, update: FrameUpdate) -> None:
        self.by_frame[update.frame_index] = update.latency_ms
        self.track_ms.append(update.track_ms)
        self.wait_ms.append(update.wait_ms)

    def on_finished(self, status: RunnerStatus) -> None:
        self.final = status


class _Prerendered(OpenedByWith):
    """A source replaying ``n`` frames read in advance, in a loop, with fresh indices and
    times: a camera whose frames cost nothing to make (the tiled synthetic renderer takes
    ~5 ms per 1280x1024 frame, which a real camera does in hardware). The mice jump at each
    loop boundary; that only costs a lost-tracking frame, not latency."""

    def __init__(self, source: Any, n: int) -> None:
        self._source = source
        self._n = n
        self._frames: list[Any] = []
        self._truths: list[Any] = []
        self._i = 0

    @property
    def name(self) -> str:
        return f"prerendered({self._source.name})"

    @property
    def fps(self) -> float:
        return float(self._source.fps)

    @property
    def frame_size(self) -> tuple[int, int]:
        return tuple(self._source.frame_size)

    @property
    def is_live(self) -> bool:
        return False

    @property
    def kind(self) -> SourceKind:
        return SourceKind.SYNTHETIC

    def open(self) -> None:
        self._source.open()
        for _ in range(self._n):
            frame = self._source.read()
            self._frames.append(frame)
            self._truths.append(self._source.region_truths())
        self._source.close()

    def read(self) -> Any:
        import dataclasses

        k = self._i % self._n
        frame = self._frames[k]
        self._current = k
        self._i += 1
        return dataclasses.replace(frame, index=self._i - 1, t_s=(self._i - 1) / self.fps)

    def region_truths(self) -> Any:
        return self._truths[self._current]

    def close(self) -> None:
        self._frames.clear()


def bench_multi_arena(
    n_arenas: int = 4,
    frame_size: tuple[int, int] = (1280, 1024),
    fps: float = 60.0,
    duration_s: float = 20.0,
    prerender: bool = True,
    background_s: float = 10.0,
) -> dict[str, Any]:
    """N arenas in one image from a camera-paced synthetic source, one mock board each:
    per frame, capture -> the last arena's board command (the slowest arena), p50/p99.
    ``prerender``: frames rendered before the run (2 s, looped), so the synthetic camera's
    rendering does not compete with the engine for the CPU."""
    import dataclasses

    import yaml

    from rig.devices.mock_board import MockBoard
    from rig.devices.regions import PacedLive, TiledSynthetic, grid_regions, region_calibration
    from rig.session.multi import ArenaSpec, MultiArenaRunner

    regions = grid_regions(n_arenas, frame_size)
    base = _loaded(duration_s, background_s)
    data = base.protocol.model_dump(mode="json")
    data["tracking"]["camera_fps"] = fps
    from rig.protocol.models import Protocol

    base = dataclasses.replace(base, protocol=Protocol.model_validate(data))
    collectors = [_FrameLatencies() for _ in regions]
    arenas = []
    calibrations = []
    for i, (region, collector) in enumerate(zip(regions, collectors, strict=True)):
        cal = region_calibration(region)
        calibrations.append(cal)
        raw = yaml.safe_dump(cal.model_dump(mode="json")).encode()
        loaded = dataclasses.replace(base, calibration=cal, calibration_raw=raw)
        arenas.append(
            ArenaSpec(region, loaded, MockBoard(f"mock{i}"), f"bench{i}", observers=(collector,))
        )
    tiled = TiledSynthetic(frame_size, regions, calibrations, [100 + i for i in range(n_arenas)], fps=fps)
    source = PacedLive(_Prerendered(tiled, int(fps * 2)) if prerender else tiled)
    with tempfile.TemporaryDirectory() as tmp:
        multi = MultiArenaRunner(source, arenas, Path(tmp), speed=None, simulated=True)
        t0 = time.perf_counter()
        ends = multi.run()
        wall_s = time.perf_counter() - t0
    common = set.intersection(*(set(c.by_frame) for c in collectors))
    last_ms = [max(c.by_frame[k] for c in collectors) for k in sorted(common)]
    return {
        "benchmark": "multi_arena",
        "description": f"{n_arenas} arenas in one {frame_size[0]}x{frame_size[1]} image at "
        f"{fps:g} fps (synthetic, paced like a camera), one mock board each: capture -> the "
        "last arena's laser command for each frame",
        "end_reasons": {k: v.value for k, v in ends.items()},
        "frames_all_arenas": len(common),
        "frame_to_last_command_ms": _stats(last_ms),
        "per_arena_latency_ms": {
            r.name: _stats(list(c.by_frame.values())) for r, c in zip(regions, collectors, strict=True)
        },
        "per_arena_tracker_ms": {
            r.name: _stats(c.track_ms) for r, c in zip(regions, collectors, strict=True)
        },
        "per_arena_wait_ms": {
            r.name: _stats(c.wait_ms) for r, c in zip(regions, collectors, strict=True)
        },
        "dropped_frames": {
            r.name: (c.final.dropped_frames if c.final else None)
            for r, c in zip(regions, collectors, strict=True)
        },
        "prerendered": prerender,
        "wall_s": round(wall_s, 2),
        "machine": machine(),
    }


def run_all(quick: bool = False) -> dict[str, Any]:
    from rig.tracking.bench import bench_tracker

    n_frames = 300 if quick else 600
    return {
        "tracker": {
            "640x480": bench_tracker((640, 480), n_frames),
            "1280x1024": bench_tracker((1280, 1024), n_frames),
        },
        "loop_latency": bench_loop_latency(duration_s=8.0 if quick else 20.0),
        "replay": bench_replay(duration_s=20.0 if quick else 60.0),
        "multi_arena": bench_multi_arena(duration_s=12.0 if quick else 30.0),
    }
