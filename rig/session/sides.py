"""Which compartment is stimulated: the protocol's counterbalancing rule, applied once.

The result, the rule and any seed are written to ``session.json``.
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass
from pathlib import Path

from rig.errors import ConfigError
from rig.protocol.models import SideAssignment


@dataclass(frozen=True, slots=True)
class SideChoice:
    side: str  # "left" | "right"
    rule: str  # the protocol's rule, or "override" when --side was given
    seed: int | None = None
    detail: str = ""


def _other(side: str) -> str:
    return "right" if side == "left" else "left"


def count_earlier_sessions(out_dir: Path, protocol_name: str) -> int:
    """Number of session folders of ``protocol_name`` below ``out_dir`` (up to 3 levels)."""
    if not out_dir.is_dir():
        return 0
    count = 0
    for pattern in ("*/session.json", "*/*/session.json", "*/*/*/session.json"):
        for path in out_dir.glob(pattern):
            try:
                header = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            protocol = header.get("protocol", {}) if isinstance(header, dict) else {}
            if isinstance(protocol, dict) and protocol.get("name") == protocol_name:
                count += 1
    return count


def assign_side(
    rule: SideAssignment,
    animal_id: str,
    *,
    out_dir: Path,
    protocol_name: str,
    override: str | None = None,
) -> SideChoice:
    """Apply ``rule`` (or the operator's ``override``) and return the stimulated side.

    Raises ConfigError when the rule cannot be applied (``animal_id`` without a digit).
    """
    if override is not None:
        if override not in ("left", "right"):
            raise ConfigError(f"--side: must be left or right, got {override!r}")
        return SideChoice(override, "override", None, f"protocol rule {rule.rule} overridden")
    if rule.rule == "fixed":
        return SideChoice(rule.side, "fixed")
    if rule.rule == "animal_id":
        digits = re.findall(r"\d", animal_id)
        if not digits:
            raise ConfigError(
                f"arena.stimulated.rule: animal_id needs a digit in the animal ID, got {animal_id!r}"
            )
        last = int(digits[-1])
        side = rule.side if last % 2 == 0 else _other(rule.side)
        return SideChoice(side, "animal_id", None, f"last digit {last}")
    if rule.rule == "alternate":
        earlier = count_earlier_sessions(out_dir, protocol_name)
        side = rule.side if earlier % 2 == 0 else _other(rule.side)
        return SideChoice(side, "alternate", None, f"{earlier} earlier sessions")
    seed = rule.seed if rule.seed is not None else random.SystemRandom().randrange(2**31)
    side = random.Random(seed).choice(["left", "right"])
    return SideChoice(side, "random", seed)
