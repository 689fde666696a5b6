"""A small archive of recorded sessions for the re-scoring and index tests.

Three replays (animals m001-m003) of 5-s synthetic-arena videos (150 frames each) with a
2 s light-off baseline and a 3 s closed-loop test: short, so the whole folder re-scores in
about a second per session.
"""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

PROTOCOL = """\
schema_version: 1
metadata: {name: rs-test}
arena:
  calibration: synthetic_arena.yaml
  neutral_band_cm: 4
  stimulated: {rule: fixed, side: left}
phases:
  - {name: baseline, duration_s: 2, mode: "off"}
  - {name: test, duration_s: 3, mode: closed_loop}
tracking:
  background: {source: median, duration_s: 1, n_frames: 10}
"""


@dataclass(frozen=True)
class Archive:
    root: Path  # data root: root/sessions/<three session folders>
    protocol: Path
    videos: dict[str, Path]  # animal -> video file
    sessions: dict[str, Path]  # animal -> session folder


def make_video(path: Path, seed: int, duration_s: float = 5.0) -> Path:
    import cv2

    from rig.devices.synthetic import SyntheticArena
    from rig.protocol.load import load_default_protocol

    loaded = load_default_protocol()
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), 30.0, (640, 480), True)
    with SyntheticArena(loaded.calibration, fps=30, seed=seed, duration_s=duration_s) as source:
        while (frame := source.read()) is not None:
            writer.write(cv2.cvtColor(frame.image, cv2.COLOR_GRAY2BGR))
    writer.release()
    return path


def session_of(out: Path, animal: str) -> Path:
    found = [p for p in (out / "sessions").iterdir() if f"_{animal}_" in p.name]
    assert len(found) == 1, found
    return found[0]


def folder_digest(folder: Path) -> str:
    """sha256 over every file's name and bytes (to prove a folder was not touched)."""
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            digest.update(str(path.relative_to(folder)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def read_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="session")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Archive]:
    from rig.cli import main

    base = tmp_path_factory.mktemp("archive")
    protocol = base / "rs.yaml"
    protocol.write_text(PROTOCOL)
    root = base / "data"
    videos: dict[str, Path] = {}
    sessions: dict[str, Path] = {}
    for seed, animal in enumerate(("m001", "m002", "m003"), start=1):
        video = make_video(base / f"{animal}.avi", seed)
        videos[animal] = video
        code = main(["replay", str(video), "--protocol", str(protocol), "--out", str(root), "--animal", animal])
        assert code == 0
        sessions[animal] = session_of(root, animal)
    yield Archive(root, protocol, videos, sessions)
