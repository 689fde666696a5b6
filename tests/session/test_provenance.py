"""Every input of a session is copied from the exact bytes that were validated, with its
sha256 in session.json (issue 18).

Old code: the laser power calibration was read from disk again when the record was created
(so an edit between loading and starting reached the record unvalidated) and its
session.json entry had no sha256; `rig run --calibration` read the calibration twice.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

from rig.cli.run import _with_calibration
from rig.devices.mock_board import MockBoard
from rig.protocol.load import bundled_data_dir, load_protocol
from rig.session.runner import EndReason, SessionRunner
from tests.session.helpers import ScriptedSource, ScriptedTracker

ROOT = Path(__file__).resolve().parents[2]

PROTOCOL = """\
schema_version: 1
metadata: {name: provenance}
arena:
  calibration: arena.yaml
  stimulated: {rule: fixed, side: left}
phases:
  - {name: only, duration_s: 0.5, mode: "off"}
stimulation:
  wavelength_nm: 473
  target_power_mw: 5
  power_calibration: power.yaml
tracking:
  background: {source: median, duration_s: 0.2, n_frames: 4}
"""


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _inputs(tmp_path: Path) -> Path:
    folder = tmp_path / "inputs"
    folder.mkdir()
    shutil.copyfile(bundled_data_dir() / "synthetic_arena.yaml", folder / "arena.yaml")
    shutil.copyfile(ROOT / "calibration" / "laser_473nm_example.yaml", folder / "power.yaml")
    (folder / "protocol.yaml").write_text(PROTOCOL, encoding="utf-8")
    return folder


def _run(loaded: object, out: Path) -> Path:
    runner = SessionRunner(
        loaded, ScriptedSource(), MockBoard(), out, "m1", speed=None,  # type: ignore[arg-type]
        tracker_factory=lambda _loaded, _size: ScriptedTracker([(100.0, 100.0)]),
    )
    assert runner.run() is EndReason.COMPLETED
    assert runner.session_dir is not None
    return runner.session_dir


def test_inputs_are_the_validated_bytes_with_their_sha256(tmp_path: Path) -> None:
    folder = _inputs(tmp_path)
    validated = {name: (folder / name).read_bytes() for name in ("protocol.yaml", "arena.yaml", "power.yaml")}
    loaded = load_protocol(folder / "protocol.yaml")
    # Edited on disk after validation, before the session starts: the record must not see it.
    for name in validated:
        with open(folder / name, "ab") as handle:
            handle.write(b"\n# edited after validation\n")

    session = _run(loaded, tmp_path / "out")
    header = json.loads((session / "session.json").read_text(encoding="utf-8"))
    copies = {
        "protocol": ("protocol.yaml", validated["protocol.yaml"]),
        "calibration": ("calibration.yaml", validated["arena.yaml"]),
        "power_calibration": ("power_calibration.yaml", validated["power.yaml"]),
    }
    for key, (copy_name, original) in copies.items():
        copied = (session / copy_name).read_bytes()
        assert copied == original, f"{copy_name} is not the validated bytes"
        assert header[key]["file"] == copy_name
        assert header[key]["sha256"] == _sha(copied), f"session.json {key}.sha256"
    assert header["power_calibration"]["laser"]


def test_calibration_option_copies_the_bytes_it_validated(tmp_path: Path) -> None:
    folder = _inputs(tmp_path)
    other = folder / "other_arena.yaml"
    shutil.copyfile(folder / "arena.yaml", other)
    validated = other.read_bytes()
    loaded = _with_calibration(load_protocol(folder / "protocol.yaml"), str(other))
    with open(other, "ab") as handle:
        handle.write(b"\n# edited\n")
    session = _run(loaded, tmp_path / "out")
    header = json.loads((session / "session.json").read_text(encoding="utf-8"))
    assert (session / "calibration.yaml").read_bytes() == validated
    assert header["calibration"]["sha256"] == _sha(validated)
