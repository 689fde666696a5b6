from __future__ import annotations

import json
from pathlib import Path

import pytest

from rig.errors import ConfigError
from rig.protocol.models import SideAssignment
from rig.session.sides import assign_side


def _assign(rule: SideAssignment, animal: str = "m1", out: Path = Path("/nonexistent"), **kw: str) -> str:
    return assign_side(rule, animal, out_dir=out, protocol_name="p", **kw).side


def test_fixed_and_override() -> None:
    assert _assign(SideAssignment(rule="fixed", side="right")) == "right"
    choice = assign_side(SideAssignment(), "m1", out_dir=Path("."), protocol_name="p", override="right")
    assert choice.side == "right" and choice.rule == "override"


def test_animal_id_parity() -> None:
    rule = SideAssignment(rule="animal_id", side="left")
    assert _assign(rule, "m12") == "left"
    assert _assign(rule, "m13") == "right"
    with pytest.raises(ConfigError, match="digit"):
        _assign(rule, "mouse")


def test_alternate_rule_is_gone() -> None:
    """The session-counting rule swapped an animal's side between days; it is refused."""
    with pytest.raises(ValueError):
        SideAssignment(rule="alternate", side="left")  # type: ignore[arg-type]


def test_random_differs_between_animals_with_one_seed() -> None:
    """Old code: a fixed seed gave m1-m6 all the same side."""
    rule = SideAssignment(rule="random", seed=3)
    sides = {_assign(rule, f"m{i}") for i in range(1, 7)}
    assert sides == {"left", "right"}


def test_random_is_reproducible_from_its_seed() -> None:
    choice = assign_side(SideAssignment(rule="random"), "m1", out_dir=Path("."), protocol_name="p")
    assert choice.seed is not None
    again = assign_side(SideAssignment(rule="random", seed=choice.seed), "m1", out_dir=Path("."), protocol_name="p")
    assert again.side == choice.side
