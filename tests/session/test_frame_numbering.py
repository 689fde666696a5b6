"""frames.csv counts from the first session frame; the background pre-roll is counted in
session.json (issue 18: a synthetic session's table started at frame 300, read by a
newcomer as 300 lost frames)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rig.devices.mock_board import MockBoard
from rig.session.runner import EndReason, SessionRunner
from tests.conftest import protocol_variant
from tests.session.helpers import ScriptedSource, ScriptedTracker, read_csv


def test_frames_start_at_zero_and_preroll_is_in_session_json(
    default_loaded: Any, tmp_path: Path
) -> None:
    loaded = protocol_variant(
        default_loaded,
        phases=[{"name": "only", "duration_s": 1.0, "mode": "off"}],
        tracking={"background": {"source": "median", "duration_s": 0.5, "n_frames": 5}},
    )
    source = ScriptedSource(fps=30.0)
    runner = SessionRunner(
        loaded, source, MockBoard(), tmp_path, "m1", speed=None,
        tracker_factory=lambda _loaded, _size: ScriptedTracker([(100.0, 100.0)]),
    )
    assert runner.run() is EndReason.COMPLETED
    assert runner.session_dir is not None
    rows = read_csv(runner.session_dir / "frames.csv")
    header = json.loads((runner.session_dir / "session.json").read_text(encoding="utf-8"))
    frames = [int(r["frame"]) for r in rows]
    assert frames[0] == 0 and float(rows[0]["t_s"]) == 0.0
    assert frames == list(range(len(frames)))  # no gap: nothing was dropped at speed max
    # Frames read for the background before the session (windows of 0.5 s at 30 fps; the
    # blank scripted frames show no animal, so sampling is extended), then the session's.
    preroll = header["preroll_frames"]
    assert preroll >= 15
    # (the acquisition thread may have read a few frames past the end)
    assert 0 <= source._index - preroll - len(rows) <= 5
    assert header["frames"] == len(rows)
    events = read_csv(runner.session_dir / "events.csv")
    numbered = [int(e["frame"]) for e in events if e["frame"]]
    assert numbered and min(numbered) >= 0 and max(numbered) <= frames[-1]
