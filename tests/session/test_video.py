"""Video recording (PyAV, own thread, queue bounded in bytes): frames may be dropped and
counted, rows never are; the encoder can never end the session."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from rig.devices.mock_board import MockBoard
from rig.protocol.models import VIDEO_CODECS
from rig.session.runner import SessionRunner
from rig.session.status import EndReason
from rig.session.video import CODECS, VideoRecorder
from tests.conftest import protocol_variant
from tests.session.helpers import read_csv, read_json


def _loaded(default_loaded: Any, codec: str = "MJPG", duration_s: float = 4) -> Any:
    return protocol_variant(
        default_loaded,
        phases=[{"name": "only", "duration_s": duration_s, "mode": "closed_loop"}],
        tracking={"background": {"source": "first_frames", "duration_s": 0.5, "n_frames": 5}},
        recording={"save_video": True, "codec": codec},
    )


def _decoded_frames(path: Path) -> list[Any]:
    import av

    with av.open(str(path)) as container:
        return [f.to_ndarray(format="gray") for f in container.decode(video=0)]


def test_protocol_codecs_match_the_recorder() -> None:
    assert set(VIDEO_CODECS) == set(CODECS)


def test_saved_video_counts_every_frame(default_loaded: Any, session_dir: Path, mock_board: MockBoard, synthetic_source: Any) -> None:
    """save_video at speed max: rows = frames processed = video frames written + dropped.
    The old writer queued 4,096 whole frames and crashed the reconditioning example."""
    runner = SessionRunner(_loaded(default_loaded), synthetic_source, mock_board, session_dir, "m1", speed=None)
    assert runner.run() is EndReason.COMPLETED
    assert runner.session_dir is not None
    header = read_json(runner.session_dir / "session.json")
    video = header["video"]
    rows = read_csv(runner.session_dir / "frames.csv")
    assert len(rows) == runner.status.frames == 120
    assert video["frames_offered"] == 120
    assert video["frames_written"] + video["frames_dropped"] == 120 and video["failed"] is None
    assert len(_decoded_frames(runner.session_dir / "video.avi")) == video["frames_written"]
    assert mock_board.last_gate_command is not None and mock_board.last_gate_command.kind == "gate_close"


def test_encoder_that_cannot_keep_up_drops_video_frames_not_rows(
    default_loaded: Any, session_dir: Path, mock_board: MockBoard, synthetic_source: Any
) -> None:
    """A queue bound of one frame: video frames are dropped and counted, every row is on
    disk, the session completes."""
    runner = SessionRunner(
        _loaded(default_loaded, codec="H264"), synthetic_source, mock_board, session_dir, "m1",
        speed=None, video_queue_bytes=640 * 480,
    )
    assert runner.run() is EndReason.COMPLETED
    assert runner.session_dir is not None
    video = read_json(runner.session_dir / "session.json")["video"]
    assert len(read_csv(runner.session_dir / "frames.csv")) == 120
    assert video["frames_dropped"] > 0
    assert video["frames_written"] + video["frames_dropped"] == 120
    assert len(_decoded_frames(runner.session_dir / "video.mp4")) == video["frames_written"]


def test_failing_encoder_never_ends_the_session(
    default_loaded: Any, session_dir: Path, mock_board: MockBoard, synthetic_source: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The encoder raises on every frame (a broken codec): the session still completes with
    every row, the video failure is in session.json. The old writer ended the session."""

    def broken(*_a: Any, **_k: Any) -> None:
        raise RuntimeError("encoder exploded")

    monkeypatch.setattr(VideoRecorder, "_encode", broken)
    runner = SessionRunner(_loaded(default_loaded), synthetic_source, mock_board, session_dir, "m1", speed=None)
    assert runner.run() is EndReason.COMPLETED
    assert runner.session_dir is not None
    video = read_json(runner.session_dir / "session.json")["video"]
    assert "encoder exploded" in video["failed"] and video["frames_written"] == 0
    assert video["frames_dropped"] == 120
    assert len(read_csv(runner.session_dir / "frames.csv")) == 120


def test_ffv1_is_lossless(tmp_path: Path) -> None:
    """FFV1 (re-scoring): the decoded frames are exactly the frames offered."""
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (48, 64), dtype=np.uint8) for _ in range(10)]
    recorder = VideoRecorder(tmp_path / "video", "FFV1", 30.0)
    recorder.start()
    for i, image in enumerate(images):
        assert recorder.offer(image, i / 30)
    stats = recorder.close()
    assert stats.frames_written == 10 and stats.frames_dropped == 0
    decoded = _decoded_frames(tmp_path / "video.mkv")
    assert len(decoded) == 10 and all((a == b).all() for a, b in zip(decoded, images, strict=True))


def test_unknown_codec_is_refused_by_the_protocol(default_loaded: Any) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="must be one of"):
        protocol_variant(default_loaded, recording={"codec": "XVID"})
