"""Shared fixtures: thin wrappers around production classes (no hardware, no screen)."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import dataclasses  # noqa: E402
import hashlib  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import pytest  # noqa: E402
import yaml  # noqa: E402

from rig.clock import ManualClock  # noqa: E402
from rig.devices.mock_board import MockBoard  # noqa: E402


def _merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def protocol_variant(loaded: Any, **updates: Any) -> Any:
    """A LoadedProtocol like ``loaded`` with protocol sections replaced/merged (validated).

    ``protocol_variant(loaded, phases=[...], safety={"max_total_on_s": 2})``
    """
    from rig.protocol.models import Protocol

    data = loaded.protocol.model_dump(mode="json")
    data = _merge(data, updates)
    protocol = Protocol.model_validate(data)
    raw = yaml.safe_dump(data, sort_keys=False).encode()
    return dataclasses.replace(
        loaded, protocol=protocol, raw=raw, sha256=hashlib.sha256(raw).hexdigest()
    )


@pytest.fixture
def manual_clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def mock_board() -> Iterator[MockBoard]:
    board = MockBoard()
    yield board
    board.close()


@pytest.fixture
def default_loaded() -> Any:
    from rig.protocol.load import load_default_protocol

    return load_default_protocol()


@pytest.fixture
def synthetic_source(default_loaded: Any) -> Any:
    """The synthetic arena at the default calibration, 30 fps, endless, seed 0."""
    from rig.devices.synthetic import SyntheticArena

    return SyntheticArena(default_loaded.calibration, fps=30.0, seed=0)


@pytest.fixture
def session_dir(tmp_path: Path) -> Path:
    """An output folder for session records (inside tmp_path)."""
    out = tmp_path / "sessions"
    out.mkdir()
    return out


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--hardware",
        action="store_true",
        default=False,
        help="also run tests marked `hardware` (need a real camera or Arduino)",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--hardware"):
        return
    skip = pytest.mark.skip(reason="needs hardware; run with --hardware")
    for item in items:
        if "hardware" in item.keywords:
            item.add_marker(skip)
