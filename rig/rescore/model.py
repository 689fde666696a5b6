"""Values that travel between the CLI process and the workers (all picklable, frozen)."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from pathlib import Path


class RescoreMode(enum.Enum):
    """What the engine is fed with."""

    VIDEO = "video"  # the saved video, tracked again (same as `rig replay`)
    POSITIONS = "positions"  # the positions of the original frames.csv (no tracking)
    POSE = "pose"  # imported DeepLabCut / SLEAP tracks


class RescoreSide(enum.Enum):
    """Which stimulated side the re-score uses."""

    ORIGINAL = "original"  # the side the original session stimulated (default)
    PROTOCOL = "protocol"  # whatever the new protocol's rule assigns
    LEFT = "left"
    RIGHT = "right"


class PoseFrames(enum.Enum):
    """How rows of a pose file line up with the session's frames."""

    AUTO = "auto"  # `frame` for a replayed video file, `row` for a recorded camera session
    FRAME = "frame"  # pose row i = source frame index i (the pose model ran on the original video)
    ROW = "row"  # pose row i = i-th processed frame (the pose model ran on the session's video.avi)


@dataclass(frozen=True, slots=True)
class PoseOptions:
    """Imported tracks: file pattern, body part and likelihood cut-off."""

    pattern: str  # a file, or a pattern with {session} / {animal} / {session_dir}
    bodypart: str = "centre"  # a keypoint name, "centre" (head/tail-base midpoint) or "mean"
    min_likelihood: float = 0.6
    frames: PoseFrames = PoseFrames.AUTO
    individual: str | None = None  # multi-animal files: which individual (default: the first)


@dataclass(frozen=True, slots=True)
class RescoreOptions:
    """What every session of a batch is re-scored with (validated in the CLI process)."""

    out_dir: Path
    mode: RescoreMode = RescoreMode.VIDEO
    protocol_path: Path | None = None  # None: each session's own protocol.yaml
    zones_path: Path | None = None  # YAML with `arena` keys merged into the protocol
    calibration_path: Path | None = None  # None: each session's own calibration.yaml
    side: RescoreSide = RescoreSide.ORIGINAL
    pose: PoseOptions | None = None
    batch_id: str = ""
    experimenter: str = ""


@dataclass(frozen=True, slots=True)
class RescoreTask:
    """One session to re-score (one Dask task / one process-pool job)."""

    session_dir: Path
    options: RescoreOptions


@dataclass(frozen=True, slots=True)
class RescoreResult:
    """What came back from a worker. ``error`` is set when the session failed."""

    session_dir: Path
    animal_id: str = ""
    output_dir: Path | None = None
    end_reason: str = ""
    frames: int = 0
    wall_s: float = 0.0
    error: str | None = None
    host: str = ""
    #: Per-phase stim % and preference index, and the difference score (from summary.json).
    phases: tuple[tuple[str, float | None, float | None], ...] = field(default_factory=tuple)
    difference_score_pct: float | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and self.output_dir is not None
