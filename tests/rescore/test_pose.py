"""Imported pose tracks: a DeepLabCut CSV (made from the hand labels of the real m4s1 video,
tests/data) placed on the session's frames and re-scored through the engine.

No pose import existed before (`rig rescore --pose` did not parse), so these fail on the old
code.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from rig.cli import main

from .conftest import read_rows, session_of

DATA = Path(__file__).resolve().parents[1] / "data"
PARTS = ("snout", "leftear", "rightear", "tailbase")
LOW_ROWS = range(10, 20)  # snout likelihood 0.2 in these rows

PROTOCOL = """\
schema_version: 1
metadata: {name: m4s1-pose}
arena:
  calibration: synthetic_arena.yaml
  neutral_band_cm: 4
  stimulated: {rule: fixed, side: left}
phases:
  - {name: baseline, duration_s: 1.5, mode: "off"}
  - {name: test, duration_s: 2.3, mode: closed_loop}  # the video is 3.87 s: it completes
tracking:
  background: {source: median, duration_s: 1, n_frames: 20}
"""


def _labels() -> list[dict[str, str]]:
    with (DATA / "m4s1_labels.csv").open(newline="") as handle:
        return list(csv.DictReader(handle))


def write_dlc_csv(path: Path) -> Path:
    """The labels in DeepLabCut's prediction layout (scorer / bodyparts / coords rows)."""
    labels = _labels()
    scorer = "DLC_resnet50_openfieldOct30shuffle1_1030000"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["scorer"] + [scorer] * (3 * len(PARTS)))
        writer.writerow(["bodyparts"] + [p for p in PARTS for _ in range(3)])
        writer.writerow(["coords"] + ["x", "y", "likelihood"] * len(PARTS))
        for i, row in enumerate(labels):
            values: list[str] = [str(i)]
            for part in PARTS:
                likelihood = 0.2 if (part == "snout" and i in LOW_ROWS) else 0.95
                values += [row[f"{part}_x"], row[f"{part}_y"], f"{likelihood}"]
            writer.writerow(values)
    return path


@pytest.fixture(scope="module")
def m4s1_session(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("m4s1")
    protocol = base / "p.yaml"
    protocol.write_text(PROTOCOL)
    video = DATA / "m4s1_labelled_frames.mp4"
    assert main(["replay", str(video), "--protocol", str(protocol), "--out", str(base / "data"), "--animal", "m4s1"]) == 0
    return session_of(base / "data", "m4s1")


def test_dlc_csv_read_with_movement_matches_the_direct_reader(tmp_path: Path) -> None:
    from rig.rescore.pose import _read_dlc_csv, load_pose_tracks

    path = write_dlc_csv(tmp_path / "m4s1DLC.csv")
    via_movement = load_pose_tracks(path)
    direct = _read_dlc_csv(path, None)
    assert via_movement.keypoints == direct.keypoints == PARTS
    assert np.allclose(via_movement.xy_px, direct.xy_px)
    assert np.allclose(via_movement.likelihood, direct.likelihood)
    assert len(via_movement) == 116


def test_dlc_csv_imported_and_rescored(m4s1_session: Path, tmp_path: Path) -> None:
    """--pose dlc.csv --bodypart snout --min-likelihood 0.5: every frame's position is the
    labelled snout, the ten low-likelihood rows are lost, zones follow the snout."""
    dlc = write_dlc_csv(tmp_path / "m4s1DLC.csv")
    out = tmp_path / "out"
    code = main([
        "rescore", str(m4s1_session), "--pose", str(dlc), "--bodypart", "snout",
        "--min-likelihood", "0.5", "--out", str(out), "--workers", "0",
    ])
    assert code == 0
    new = session_of(out, "m4s1")
    labels = _labels()
    rows = read_rows(new / "frames.csv")
    original = read_rows(m4s1_session / "frames.csv")
    assert [r["frame"] for r in rows] == [r["frame"] for r in original]
    assert len(rows) >= 100
    for row in rows:
        i = int(row["frame"])
        if i in LOW_ROWS:
            assert row["tracked"] == "0" and row["zone"] == "lost"
        else:
            assert row["tracked"] == "1"
            assert float(row["x_px"]) == pytest.approx(float(labels[i]["snout_x"]), abs=0.006)  # frames.csv keeps 2 decimals
            assert float(row["y_px"]) == pytest.approx(float(labels[i]["snout_y"]), abs=0.006)  # frames.csv keeps 2 decimals
    header = json.loads((new / "session.json").read_text())
    assert header["rescore"]["mode"] == "pose"
    assert header["rescore"]["pose"] == {"bodypart": "snout", "min_likelihood": 0.5, "frames": "auto", "individual": None}
    assert header["source"]["kind"] == "pose"


def test_centre_is_the_head_tail_base_midpoint(m4s1_session: Path, tmp_path: Path) -> None:
    """--bodypart centre = (mean(snout, ears) + tail base) / 2, the labels' centre."""
    dlc = write_dlc_csv(tmp_path / "m4s1DLC.csv")
    out = tmp_path / "out"
    assert main([
        "rescore", str(m4s1_session), "--pose", str(dlc), "--min-likelihood", "0.1",
        "--out", str(out), "--workers", "0",
    ]) == 0
    labels = _labels()
    for row in read_rows(session_of(out, "m4s1") / "frames.csv"):
        i = int(row["frame"])
        assert float(row["x_px"]) == pytest.approx(float(labels[i]["centre_x"]), abs=0.01)
        assert float(row["y_px"]) == pytest.approx(float(labels[i]["centre_y"]), abs=0.01)


def test_pose_file_shorter_than_the_session_fails_with_the_reason(
    m4s1_session: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dlc = write_dlc_csv(tmp_path / "short.csv")
    lines = dlc.read_text().splitlines(keepends=True)
    dlc.write_text("".join(lines[:3 + 40]))
    code = main(["rescore", str(m4s1_session), "--pose", str(dlc), "--out", str(tmp_path / "o"), "--workers", "0"])
    assert code == 1
    assert "has 40 rows but the session needs frame" in capsys.readouterr().err


def test_unknown_bodypart_names_the_keypoints(m4s1_session: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dlc = write_dlc_csv(tmp_path / "m.csv")
    code = main(["rescore", str(m4s1_session), "--pose", str(dlc), "--bodypart", "tail", "--out", str(tmp_path / "o"), "--workers", "0"])
    assert code == 1
    assert "'tail' is not a keypoint of this file (snout, leftear, rightear, tailbase)" in capsys.readouterr().err


@pytest.mark.parametrize("kind", ["dlc_h5", "sleap_h5"])
def test_h5_pose_files_read_through_movement(tmp_path: Path, kind: str) -> None:
    """The same tracks saved by movement as a DeepLabCut H5 and a SLEAP analysis H5 read
    back identically (format told apart by content, not only the extension)."""
    from movement.io import load_dataset, save_poses

    from rig.rescore.pose import PoseFormat, load_pose_tracks

    csv_path = write_dlc_csv(tmp_path / "m4s1DLC.csv")
    reference = load_pose_tracks(csv_path)
    ds = load_dataset(csv_path, source_software="DeepLabCut")
    path = tmp_path / ("m4s1DLC.h5" if kind == "dlc_h5" else "m4s1.analysis.h5")
    if kind == "dlc_h5":
        save_poses.to_dlc_file(ds, path, split_individuals=False)
    else:
        save_poses.to_sleap_analysis_file(ds, path)
    tracks = load_pose_tracks(path)
    assert tracks.format is (PoseFormat.DEEPLABCUT if kind == "dlc_h5" else PoseFormat.SLEAP)
    assert tracks.keypoints == PARTS
    assert np.allclose(tracks.xy_px, reference.xy_px, equal_nan=True)
    assert np.allclose(tracks.likelihood, reference.likelihood, atol=1e-6)
