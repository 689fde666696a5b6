"""Writing a new arena calibration into a rig file (issue 15: the calibration editor's
"Write into the rig file" choice was offered but did nothing; these fail on the old code,
which had no ``rig.rigfile.edit``)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from rig.protocol.load import load_default_protocol
from rig.rigfile.edit import edited_text, write_rig_calibration
from rig.rigfile.load import load_rig

RIG = """# Room 2.14 rig: keep this comment
schema_version: 1
name: bench
board:
  kind: mock   # practice board
interlock:
  pin: 2       # door switch
calibration: old.yaml   # made in March
"""


def _calibration(folder: Path, name: str) -> Path:
    source = load_default_protocol().calibration_path
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / name
    shutil.copyfile(source, target)
    return target


def test_one_line_edit_keeps_comments_and_validates(tmp_path: Path) -> None:
    _calibration(tmp_path, "old.yaml")
    new = _calibration(tmp_path / "calibration", "bench-2.yaml")
    rig_file = tmp_path / "rig.yaml"
    rig_file.write_text(RIG, encoding="utf-8")
    written = write_rig_calibration(rig_file, new)
    assert written.in_place and written.path == rig_file
    text = rig_file.read_text(encoding="utf-8")
    assert 'calibration: "calibration/bench-2.yaml"   # made in March' in text
    assert "# Room 2.14 rig: keep this comment" in text and "# door switch" in text
    assert text.count("calibration:") == 1
    rig = load_rig(rig_file)
    assert rig.calibration_path is not None and rig.calibration_path.resolve() == new.resolve()
    assert written.backup is not None and written.backup.read_text(encoding="utf-8") == RIG
    assert not (tmp_path / "rig.new.yaml").exists()


def test_appends_the_key_when_the_rig_has_none(tmp_path: Path) -> None:
    new = _calibration(tmp_path / "elsewhere", "c.yaml")
    rig_dir = tmp_path / "rigs"
    rig_dir.mkdir()
    rig_file = rig_dir / "rig.yaml"
    rig_file.write_text("schema_version: 1\nname: bench  # no newline at end", encoding="utf-8")
    write_rig_calibration(rig_file, new)
    rig = load_rig(rig_file)
    assert rig.calibration_path is not None and rig.calibration_path.resolve() == new.resolve()
    assert "# no newline at end" in rig_file.read_text(encoding="utf-8")


def test_an_invalid_rig_file_is_left_untouched(tmp_path: Path) -> None:
    new = _calibration(tmp_path, "c.yaml")
    rig_file = tmp_path / "rig.yaml"
    bad = "schema_version: 1\nlaser:\n  pin: 1\n"  # D1 is the serial link: invalid
    rig_file.write_text(bad, encoding="utf-8")
    with pytest.raises(Exception, match="pin 1"):
        write_rig_calibration(rig_file, new)
    assert rig_file.read_text(encoding="utf-8") == bad
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.yaml", "rig.yaml"]


def test_a_block_value_gets_a_new_file_beside_it(tmp_path: Path) -> None:
    new = _calibration(tmp_path, "c.yaml")
    rig_file = tmp_path / "rig.yaml"
    original = "schema_version: 1\ncalibration:\n  c.yaml\n"
    assert edited_text(original, "c.yaml") is None
    rig_file.write_text(original, encoding="utf-8")
    written = write_rig_calibration(rig_file, new)
    assert not written.in_place and written.path != rig_file
    assert rig_file.read_text(encoding="utf-8") == original
    assert load_rig(written.path).calibration_path is not None
