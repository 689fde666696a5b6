"""Which compartment is stimulated: the cohort file or the protocol's rule, applied once.

A cohort file (``--cohort cohort.csv``, see ``rig.cohort``) always decides when given: the
animal's row holds its side, so every session of the animal (day 1, day 2, ...) gets the
same side, and the file's sha256 goes into the record. Without one the protocol's rule
applies (``fixed``, ``animal_id``, ``random``; ``cohort`` then refuses to start). The
result, the rule and any seed are written to ``session.json``.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rig.cohort import Cohort, side_from_cohort
from rig.errors import ConfigError
from rig.protocol.models import SideAssignment


@dataclass(frozen=True, slots=True)
class SideChoice:
    side: str  # "left" | "right"
    rule: str  # the protocol's rule, "cohort", or "override" when --side was given
    seed: int | None = None
    detail: str = ""
    #: the cohort file the side came from: path, sha256, group, sex (None without one)
    cohort: dict[str, Any] | None = None


def _other(side: str) -> str:
    return "right" if side == "left" else "left"


def assign_side(
    rule: SideAssignment,
    animal_id: str,
    *,
    out_dir: Path | None = None,
    protocol_name: str = "",
    override: str | None = None,
    cohort: Cohort | None = None,
) -> SideChoice:
    """Apply the cohort file, the operator's ``override`` or ``rule``; return the side.

    ``out_dir`` and ``protocol_name`` are no longer used (the session-counting
    ``alternate`` rule is gone) and kept for callers. Raises ConfigError when the side
    cannot be decided (animal missing from the cohort file, no digit for ``animal_id``).
    """
    del out_dir, protocol_name
    if cohort is not None:
        animal = side_from_cohort(cohort, animal_id)
        record = {
            "file": str(cohort.path),
            "sha256": cohort.sha256,
            "group": animal.group,
            "sex": animal.sex or None,
        }
        if override is not None and override != animal.stim_side:
            raise ConfigError(
                f"--side {override} contradicts {cohort.path}:{animal.line} "
                f"(stim_side {animal.stim_side} for {animal_id}); change the cohort file instead"
            )
        return SideChoice(
            animal.stim_side, "cohort", None, f"{cohort.path.name} line {animal.line}", record
        )
    if override is not None:
        if override not in ("left", "right"):
            raise ConfigError(f"--side: must be left or right, got {override!r}")
        return SideChoice(override, "override", None, f"protocol rule {rule.rule} overridden")
    if rule.rule == "fixed":
        return SideChoice(rule.side, "fixed")
    if rule.rule == "cohort":
        raise ConfigError(
            "arena.stimulated.rule: cohort needs a cohort file: pass --cohort cohort.csv "
            "(fill its sides with `rig cohort assign cohort.csv`)"
        )
    if rule.rule == "animal_id":
        digits = re.findall(r"\d", animal_id)
        if not digits:
            raise ConfigError(
                f"arena.stimulated.rule: animal_id needs a digit in the animal ID, got {animal_id!r}"
            )
        last = int(digits[-1])
        side = rule.side if last % 2 == 0 else _other(rule.side)
        return SideChoice(side, "animal_id", None, f"last digit {last}")
    # random: the seed and the animal ID together, so one protocol seed does not give every
    # animal the same side (still not balanced: use a cohort file for that).
    seed = rule.seed if rule.seed is not None else random.SystemRandom().randrange(2**31)
    side = random.Random(f"{seed}|{animal_id}").choice(["left", "right"])
    return SideChoice(side, "random", seed, "drawn from the seed and the animal ID")
