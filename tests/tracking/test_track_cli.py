"""`rig track` end to end on the real test video and on a synthetic recording."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import cv2
import numpy as np
import pytest

from rig.cli import main
from rig.devices.synthetic import SyntheticArena
from rig.protocol.load import default_protocol_path, load_default_protocol

DATA = Path(__file__).resolve().parents[1] / "data"
VIDEO = DATA / "m4s1_labelled_frames.mp4"
LABELS = DATA / "m4s1_labels.csv"


def read_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_track_real_video_writes_the_csv(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "m4s1.csv"
    code = main(["track", str(VIDEO), "--out", str(out), "--independent-frames",
                 "--min-area-px", "500", "--open-px", "7"])
    assert code == 0
    assert out.read_text().splitlines()[0] == "frame,t_s,x_px,y_px,tracked"
    rows = read_rows(out)
    assert [int(r["frame"]) for r in rows] == list(range(116))
    assert all(r["tracked"] == "1" for r in rows)
    labels = read_rows(LABELS)
    errors = [math.hypot(float(r["x_px"]) - float(l["centre_x"]),
                         float(r["y_px"]) - float(l["centre_y"])) for r, l in zip(rows, labels)]
    assert np.median(errors) <= 5.0
    assert float(rows[1]["t_s"]) == pytest.approx(1 / 30, abs=1e-4)
    err = capsys.readouterr().err
    assert "tracking: frame 116/116 (100 %)" in err
    assert "tracked 116/116 frames" in err


def test_track_refuses_to_overwrite(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "exists.csv"
    out.write_text("precious\n")
    assert main(["track", str(VIDEO), "--out", str(out)]) != 0
    assert out.read_text() == "precious\n"
    assert "already exists" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--threshold", "300"], "--threshold"),
        (["--protocol", "p.yaml", "--threshold", "30"], "either --protocol"),
        (["--min-area-px", "900", "--max-area-px", "100"], "min_area_px"),
    ],
)
def test_bad_options_change_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                    extra: list[str], message: str) -> None:
    out = tmp_path / "never.csv"
    assert main(["track", str(VIDEO), "--out", str(out), *extra]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_missing_video_names_the_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "never.csv"
    assert main(["track", str(tmp_path / "missing.mp4"), "--out", str(out)]) == 2
    assert "missing.mp4" in capsys.readouterr().err
    assert not out.exists()


def test_track_with_protocol_settings_on_a_synthetic_recording(tmp_path: Path) -> None:
    """Settings in cm from the default protocol, the arena mask from its calibration."""
    loaded = load_default_protocol()
    video = tmp_path / "synthetic.avi"
    source = SyntheticArena(loaded.calibration, fps=30.0, duration_s=4.0, seed=2, tether=True)
    truths = []
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 30.0, source.frame_size)
    with source:
        while (frame := source.read()) is not None:
            writer.write(cv2.cvtColor(frame.image, cv2.COLOR_GRAY2BGR))
            assert frame.truth is not None
            truths.append((frame.truth.x_px, frame.truth.y_px))
    writer.release()
    out = tmp_path / "synthetic.csv"
    assert main(["track", str(video), "--out", str(out), "--protocol",
                 str(default_protocol_path())]) == 0
    rows = read_rows(out)
    assert len(rows) == len(truths) == 120
    tracked = [r for r in rows if r["tracked"] == "1"]
    assert len(tracked) >= 0.99 * len(rows)
    px_per_cm = loaded.calibration.px_per_cm
    for row in tracked:
        tx, ty = truths[int(row["frame"])]
        assert math.hypot(float(row["x_px"]) - tx, float(row["y_px"]) - ty) < px_per_cm
