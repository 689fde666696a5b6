"""docs/protocol.md and docs/calibration.md are generated from the models and must not drift."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

from rig.calibration import ArenaCalibration, LaserPowerCalibration
from rig.protocol import models

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "gen_protocol_docs.py"


def load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_protocol_docs", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def gen() -> ModuleType:
    return load_script()


def test_generated_docs_are_up_to_date(gen: ModuleType) -> None:
    for path, text in gen.outputs().items():
        assert path.read_text(encoding="utf-8") == text, (
            f"{path.name} is stale: run `.venv/bin/python scripts/gen_protocol_docs.py` "
            "and commit the result"
        )


def _paths(model: type, prefix: str = "") -> list[str]:
    found = []
    for name, info in model.model_fields.items():  # type: ignore[attr-defined]
        path = f"{prefix}{name}"
        found.append(path)
        sub = load_script()._model_of(info.annotation)
        if sub is not None:
            is_list = "list" in str(info.annotation)
            found.extend(_paths(sub, f"{path}[]." if is_list else f"{path}."))
    return found


def test_every_field_is_documented(gen: ModuleType) -> None:
    protocol_md = gen.render_protocol_md()
    for path in _paths(models.Protocol):
        assert f"| `{path}` |" in protocol_md, path
    calibration_md = gen.render_calibration_md()
    for model in (ArenaCalibration, LaserPowerCalibration):
        for path in _paths(model):
            assert f"| `{path}` |" in calibration_md, path


def test_units_and_defaults_are_shown(gen: ModuleType) -> None:
    text = gen.render_protocol_md()
    assert "| `stimulation.frequency_hz` | number | Hz | `20` | > 0 |" in text
    assert "| `phases[].duration_s` | number | s | **required** | > 0 |" in text
