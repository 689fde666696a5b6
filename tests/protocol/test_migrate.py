"""Schema 1 -> 2: every example protocol migrates to a file that loads to the same protocol."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from rig.cli import main
from rig.cli.migrate import migrate_file
from rig.protocol.load import load_protocol, parse_protocol

ROOT = Path(__file__).resolve().parents[2]
SCHEMA1 = sorted((ROOT / "tests" / "data" / "protocols_schema1").glob("*.yaml"))
CURRENT = {p.name: p for p in [*(ROOT / "protocols").glob("*.yaml"), ROOT / "rig" / "protocol" / "default.yaml"]}


@pytest.mark.parametrize("path", SCHEMA1, ids=[p.name for p in SCHEMA1])
def test_every_example_protocol_migrates(path: Path, tmp_path: Path) -> None:
    """The schema-1 originals of the examples: loaded (converted), migrated, identical."""
    copy = tmp_path / path.name
    shutil.copy(path, copy)
    for cal in (ROOT / "calibration").glob("*.yaml"):
        shutil.copy(cal, tmp_path / cal.name)
    before = parse_protocol(copy)
    assert before.schema_version == 2
    target, _notes = migrate_file(copy)
    assert target.name == f"{path.stem}.schema2.yaml"
    assert "schema_version: 2" in target.read_text()
    assert "debounce_frames" not in target.read_text() and "max_jump_cm" not in target.read_text()
    after = parse_protocol(target)
    assert after == before
    # the committed example is the migrated file (plus, in some, a declared analysis section)
    committed = parse_protocol(CURRENT[path.name])
    assert committed.model_copy(update={"analysis": after.analysis}) == after
    with pytest.raises(Exception, match="already exists"):
        migrate_file(copy)


def test_schema1_load_is_converted_and_noted(tmp_path: Path) -> None:
    src = ROOT / "tests" / "data" / "protocols_schema1" / "rtpp_redondo2014.yaml"
    copy = tmp_path / src.name
    text = src.read_text().replace("camera_fps: 30", "camera_fps: 60")
    copy.write_text(text)
    for cal in (ROOT / "calibration").glob("*.yaml"):
        shutil.copy(cal, tmp_path / cal.name)
    loaded = load_protocol(copy)
    assert loaded.file_schema_version == 1
    d = loaded.protocol.decision
    assert d.debounce_s == pytest.approx(2 / 60, abs=1e-6)
    assert d.tracking_loss_grace_s == pytest.approx(5 / 60, abs=1e-6)
    assert loaded.protocol.tracking.max_speed_cm_s == pytest.approx(15 * 60)
    assert any("debounce_frames 3 -> debounce_s" in n and "60 fps" in n for n in loaded.conversion)


def test_alternate_rule_refused_on_load(tmp_path: Path) -> None:
    src = ROOT / "tests" / "data" / "protocols_schema1" / "rtpp_redondo2014.yaml"
    copy = tmp_path / src.name
    copy.write_text(src.read_text().replace("rule: fixed", "rule: alternate"))
    with pytest.raises(Exception, match="stimulated.rule.*cohort"):
        parse_protocol(copy)


def test_migrate_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = ROOT / "tests" / "data" / "protocols_schema1" / "inhibition_rtpp_continuous.yaml"
    copy = tmp_path / "p.yaml"
    shutil.copy(src, copy)
    out = tmp_path / "p2.yaml"
    assert main(["migrate", str(copy), "--out", str(out)]) == 0
    assert "debounce_s" in capsys.readouterr().out
    assert out.exists()
    assert main(["migrate", str(out)]) == 2  # already schema 2
