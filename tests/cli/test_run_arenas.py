"""``rig run`` and ``rig demo`` take the arenas from the rig file (issue 16): each arena's
region, laser channel (its pin in session.json), animal from ``--arena NAME=ANIMAL[:PROTOCOL]``
and protocol. Fails on the old code (no ``arenas`` in the rig file, no ``--arena``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from rig.cli import main

ROOT = Path(__file__).resolve().parents[2]

RIG = """schema_version: 1
name: two-box-mock
board:
  kind: mock
laser:
  channels: [{pin: 9}, {pin: 10}]
loop_stall_ms: 3000          # a loaded CI machine; the limit has its own tests
camera:
  source: synthetic
  width: 1280
  height: 480
arenas:
  - {name: left-box, region: {x: 0, y: 0, width: 640, height: 480}, channel: 0}
  - {name: right-box, region: {x: 640, y: 0, width: 640, height: 480}, channel: 1, animal: m2}
"""


def short_protocol(tmp_path: Path) -> Path:
    data = yaml.safe_load((ROOT / "rig" / "protocol" / "default.yaml").read_text())
    data["phases"] = [
        {"name": "baseline", "duration_s": 2, "mode": "off"},
        {"name": "test", "duration_s": 4, "mode": "closed_loop"},
    ]
    data.setdefault("tracking", {})["background"] = {"source": "median", "duration_s": 2, "n_frames": 10}
    path = tmp_path / "short.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def sessions(out: Path) -> dict[str, dict[str, object]]:
    found = {}
    for path in out.rglob("session.json"):
        data = json.loads(path.read_text())
        found[data["source"]["arena"]] = data
    return found


def test_rig_run_runs_every_arena_of_the_rig_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rig = tmp_path / "rig.yaml"
    rig.write_text(RIG)
    protocol = short_protocol(tmp_path)
    out = tmp_path / "out"
    code = main(["run", str(protocol), "--rig", str(rig), "--speed", "max", "--arena", "left-box=m1",
                 "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    found = sessions(out)
    assert set(found) == {"left-box", "right-box"}
    left, right = found["left-box"], found["right-box"]
    assert left["animal_id"] == "m1" and right["animal_id"] == "m2"  # rig file's default
    assert left["rig"]["laser_pin"] == 9 and right["rig"]["laser_pin"] == 10  # type: ignore[index]
    assert right["source"]["region_px"] == [640, 0, 640, 480]  # type: ignore[index]
    assert [left["source"]["laser_channel"], right["source"]["laser_channel"]] == [0, 1]  # type: ignore[index]
    assert left["source"]["run_id"] == right["source"]["run_id"]  # type: ignore[index]
    (run_file,) = out.glob("run_*.json")
    assert [a["arena"] for a in json.loads(run_file.read_text())["arenas"]] == ["left-box", "right-box"]


def test_rig_run_names_a_missing_animal_and_an_unknown_arena(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rig = tmp_path / "rig.yaml"
    rig.write_text(RIG)
    protocol = short_protocol(tmp_path)
    out = tmp_path / "out"
    assert main(["run", str(protocol), "--rig", str(rig), "--out", str(out)]) == 2
    assert "arena left-box: no animal: give --arena left-box=ANIMAL" in capsys.readouterr().err
    assert main(["run", str(protocol), "--rig", str(rig), "--arena", "C=m3", "--out", str(out)]) == 2
    assert "--arena C: no such arena" in capsys.readouterr().err
    assert main(["run", str(protocol), "--rig", str(rig), "--arena", "m3", "--out", str(out)]) == 2
    assert "NAME=ANIMAL" in capsys.readouterr().err
    assert not out.exists() or not any(out.rglob("session.json"))  # nothing was started


def test_rig_demo_takes_the_arenas_from_the_rig_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rig = tmp_path / "rig.yaml"
    rig.write_text(RIG)
    out = tmp_path / "demo"
    assert main(["demo", "--rig", str(rig), "--duration-s", "5", "--out", str(out)]) == 0, capsys.readouterr().err
    found = sessions(out)
    assert set(found) == {"left-box", "right-box"}
    assert found["right-box"]["rig"]["laser_pin"] == 10  # type: ignore[index]
