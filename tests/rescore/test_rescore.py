"""`rig rescore`: a batch of recorded sessions through the same engine as `rig replay`.

Before this feature there was no `rig rescore` (the command did not parse: argparse exits
with code 2), so every test here fails on the old code.
"""

from __future__ import annotations

import csv
import hashlib
import json
import shutil
from pathlib import Path

import pytest

from rig.cli import main

from .conftest import Archive, folder_digest, read_rows, session_of

WIDE = "arena: {neutral_band_cm: 12}\n"


def _wide_protocol(archive: Archive, tmp_path: Path) -> Path:
    text = archive.protocol.read_text().replace("neutral_band_cm: 4", "neutral_band_cm: 12")
    # the calibration is named relative to the protocol's folder or bundled: bundled here
    path = tmp_path / "rs_wide.yaml"
    path.write_text(text)
    return path


def _without_latency(rows: list[dict[str, str]]) -> list[dict[str, str]]:
    # latency_ms is this computer's processing time, the one column that cannot repeat
    return [{k: v for k, v in row.items() if k != "latency_ms"} for row in rows]


@pytest.mark.slow
def test_dask_local_cluster_rescore_equals_sequential_replays_and_survives_a_failing_session(
    archive: Archive, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Three sessions re-scored with a new protocol on a 2-worker Dask LocalCluster give,
    row for row, the frames.csv and events.csv of three sequential `rig replay` runs; a
    fourth, broken session (its video is gone) is reported FAILED with its reason and the
    others complete. The originals are not touched."""
    protocol = _wide_protocol(archive, tmp_path)
    tree = tmp_path / "tree"
    for animal, session in archive.sessions.items():
        shutil.copytree(session, tree / session.name)
    broken = tree / "2026-01-01_00-00-00_m009_rs-test"
    shutil.copytree(archive.sessions["m001"], broken)
    header = json.loads((broken / "session.json").read_text())
    header["source"]["detail"] = str(tmp_path / "gone.avi")
    header["animal_id"] = "m009"
    (broken / "session.json").write_text(json.dumps(header))
    before = {p.name: folder_digest(p) for p in tree.iterdir()}

    out = tmp_path / "rescored"
    code = main(["rescore", str(tree), "--protocol", str(protocol), "--out", str(out), "--scheduler", "local:2"])
    captured = capsys.readouterr()
    assert code == 1, captured  # one session failed
    assert "FAILED" in captured.err and "no saved video" in captured.err
    assert "3 of 4 session(s) re-scored; 1 failed" in captured.out
    assert {p.name: folder_digest(p) for p in tree.iterdir()} == before

    sequential = tmp_path / "sequential"
    for animal, video in archive.videos.items():
        assert main(["replay", str(video), "--protocol", str(protocol), "--out", str(sequential), "--animal", animal]) == 0
    capsys.readouterr()
    for animal, original in archive.sessions.items():
        new = session_of(out, animal)
        ref = session_of(sequential, animal)
        new_frames = _without_latency(read_rows(new / "frames.csv"))
        assert len(new_frames) == 150
        assert new_frames == _without_latency(read_rows(ref / "frames.csv"))
        assert read_rows(new / "events.csv") == read_rows(ref / "events.csv")
        # the new zones were applied: the wider band holds more frames than the original's
        neutral_new = sum(r["zone"] == "neutral" for r in new_frames)
        neutral_old = sum(r["zone"] == "neutral" for r in read_rows(original / "frames.csv"))
        assert neutral_new >= neutral_old
        # marked as a re-score of the original, with its hash
        link = json.loads((new / "session.json").read_text())["rescore"]
        assert link["original_session"] == original.name
        copy = tree / original.name
        assert link["original_session_json_sha256"] == hashlib.sha256((copy / "session.json").read_bytes()).hexdigest()
        assert link["mode"] == "video" and link["input"]["path"] == str(archive.videos[animal].resolve())
        assert (new / "protocol.yaml").read_bytes() == protocol.read_bytes()
    assert not any("m009" in p.name for p in (out / "sessions").iterdir())


def test_a_failing_session_is_reported_and_the_batch_goes_on_local_processes(
    archive: Archive, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """2 local worker processes: a session with a damaged frames.csv fails with its file
    and line; the good one is re-scored; exit code 1 and the summary says which."""
    tree = tmp_path / "tree"
    good = shutil.copytree(archive.sessions["m002"], tree / archive.sessions["m002"].name)
    bad = shutil.copytree(archive.sessions["m003"], tree / archive.sessions["m003"].name)
    lines = (bad / "frames.csv").read_text().splitlines(keepends=True)
    lines[5] = "1,2,3\n"
    (bad / "frames.csv").write_text("".join(lines))

    out = tmp_path / "out"
    code = main(["rescore", str(tree), "--positions", "--out", str(out), "--workers", "2"])
    captured = capsys.readouterr()
    assert code == 1
    assert f"FAILED {bad.name}" in captured.err
    assert "frames.csv: line 6: expected" in captured.err
    assert "1 of 2 session(s) re-scored; 1 failed" in captured.out
    assert [p.name for p in (out / "sessions").iterdir()] == [session_of(out, "m002").name]
    assert good.exists()


def test_positions_rescore_keeps_the_saved_positions_and_applies_the_new_zones(
    archive: Archive, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--positions --zones: no tracking; the same pixel positions and times, zones from the
    new band (12 cm: neutral between x = 19 and 31 cm), the merged protocol recorded."""
    zones = tmp_path / "wide.yaml"
    zones.write_text(WIDE)
    out = tmp_path / "out"
    original = archive.sessions["m001"]
    assert main(["rescore", str(original), "--positions", "--zones", str(zones), "--out", str(out), "--workers", "0"]) == 0
    new = session_of(out, "m001")
    old_rows = read_rows(original / "frames.csv")
    new_rows = read_rows(new / "frames.csv")
    assert [(r["frame"], r["t_s"], r["x_px"], r["y_px"], r["tracked"]) for r in new_rows] == [
        (r["frame"], r["t_s"], r["x_px"], r["y_px"], r["tracked"]) for r in old_rows
    ]
    for row in new_rows:
        if row["tracked"] == "1":
            x_cm = float(row["x_cm"])
            expected = "neutral" if 19.0 <= x_cm <= 31.0 else ("left" if x_cm < 25 else "right")
            if abs(x_cm - 19.0) > 1e-6 and abs(x_cm - 31.0) > 1e-6:
                assert row["zone"] == expected, row
    header = json.loads((new / "session.json").read_text())
    assert header["source"]["kind"] == "positions"
    assert header["rescore"]["zones_file"]["sha256"] == hashlib.sha256(zones.read_bytes()).hexdigest()
    assert "neutral_band_cm: 12" in (new / "protocol.yaml").read_text()
    assert not (new / "video.avi").exists()
    assert json.loads((new / "summary.json").read_text())["complete"] is True


def test_bad_zones_file_fails_at_once_and_writes_nothing(
    archive: Archive, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    zones = tmp_path / "bad.yaml"
    zones.write_text("arena: {neutral_band_cm: -3}\n")
    out = tmp_path / "out"
    code = main(["rescore", str(archive.root), "--zones", str(zones), "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2
    assert "bad.yaml: arena.neutral_band_cm" in err
    assert not out.exists()  # nothing written, not even the output folder


def test_a_tree_walk_skips_earlier_rescores(archive: Archive, tmp_path: Path) -> None:
    from rig.rescore.batch import find_sessions

    tree = tmp_path / "tree"
    shutil.copytree(archive.sessions["m001"], tree / "orig" / archive.sessions["m001"].name)
    assert main(["rescore", str(tree), "--positions", "--out", str(tree / "rescored"), "--workers", "0"]) == 0
    assert len(find_sessions([tree])) == 1
    assert len(find_sessions([tree], include_rescored=True)) == 2


def test_a_camera_sessions_own_video_gets_the_original_frame_indices_and_times(
    archive: Archive, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A live session's video.avi holds only the processed frames, at a nominal rate; the
    re-score must keep the record's frame indices (gaps = camera drops) and capture times,
    not invent index/fps ones. (Before RecordedVideoSource the re-score numbered the video's
    frames 0, 1, 2... at 1/30 s.)"""
    protocol = tmp_path / "save.yaml"
    protocol.write_text(archive.protocol.read_text() + "recording: {save_video: true}\n")
    data = tmp_path / "data"
    assert main(["run", str(protocol), "--animal", "m010", "--source", "synthetic:4", "--board", "mock",
                 "--speed", "max", "--out", str(data)]) == 0
    session = session_of(data, "m010")
    assert (session / "video.avi").is_file()
    # as a camera that dropped every other frame and has jittery capture times would record
    rows = read_rows(session / "frames.csv")
    for i, row in enumerate(rows):
        row["frame"] = str(2 * i + 7)
        row["t_s"] = f"{float(row['t_s']) + 0.003 * (i % 2):.6f}"
    with (session / "frames.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)

    out = tmp_path / "out"
    assert main(["rescore", str(session), "--out", str(out), "--workers", "0"]) == 0
    new_rows = read_rows(session_of(out, "m010") / "frames.csv")
    assert len(new_rows) == len(rows)
    assert [r["frame"] for r in new_rows] == [r["frame"] for r in rows]
    assert [float(r["t_s"]) for r in new_rows] == pytest.approx([float(r["t_s"]) for r in rows], abs=1e-6)
    tracked = [(float(a["x_px"]), float(b["x_px"])) for a, b in zip(new_rows, rows) if a["tracked"] == b["tracked"] == "1"]
    assert len(tracked) >= 0.9 * len(rows)
    assert sorted(abs(a - b) for a, b in tracked)[len(tracked) // 2] < 2.0  # same frames, re-encoded


def test_scheduler_choices_are_validated_before_anything_runs() -> None:
    from rig.errors import ConfigError
    from rig.rescore.batch import Scheduler, parse_scheduler

    assert parse_scheduler(None, 3) == Scheduler(workers=3)
    assert parse_scheduler("local:2", None) == Scheduler(local_workers=2)
    assert parse_scheduler("tcp://10.0.0.5:8786", None) == Scheduler(address="tcp://10.0.0.5:8786")
    with pytest.raises(ConfigError, match="local:N needs N >= 1"):
        parse_scheduler("local:0", None)
    with pytest.raises(ConfigError, match="local:N with N a number"):
        parse_scheduler("local:two", None)
    with pytest.raises(ConfigError, match="not with --scheduler"):
        parse_scheduler("local:2", 4)
    with pytest.raises(ConfigError, match="must be >= 0"):
        parse_scheduler(None, -1)
