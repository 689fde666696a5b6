"""The cohort file: who the animals are, their group, and their stimulated side.

``cohort.csv`` (UTF-8, comma-separated, header row): ``animal_id`` and ``group`` are
required; ``sex``, ``cage``, ``stim_side`` (left/right or empty) and ``notes`` are
optional; other columns are kept as they are. One row per animal.

- ``rig cohort assign cohort.csv [--seed N]`` fills the empty ``stim_side`` cells so that
  each group (and, when the sex column is filled, each sex within a group) has as many
  left as right animals, counting the sides already given. Deterministic: the same file
  and seed give the same sides; an animal that already has a side is never changed, so
  re-running changes nothing.
- ``rig run/replay --cohort cohort.csv`` takes the animal's side from its row (every day
  of an animal gets the same side) and records the file's sha256 in ``session.json``.
- ``rig group --cohort cohort.csv`` takes the groups from the same file.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import random
from dataclasses import dataclass, replace
from pathlib import Path

from rig.errors import ConfigError

REQUIRED_COLUMNS = ("animal_id", "group")
KNOWN_COLUMNS = ("animal_id", "group", "sex", "cage", "stim_side", "notes")
SIDES = ("left", "right")


@dataclass(frozen=True)
class Animal:
    animal_id: str
    group: str
    sex: str = ""
    cage: str = ""
    stim_side: str = ""  # "" until assigned
    notes: str = ""
    line: int = 0  # line in the file (for messages)
    extra: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Cohort:
    path: Path
    sha256: str
    columns: tuple[str, ...]
    animals: tuple[Animal, ...]

    def find(self, animal_id: str) -> Animal | None:
        for animal in self.animals:
            if animal.animal_id == animal_id:
                return animal
        return None

    def groups(self) -> dict[str, str]:
        return {a.animal_id: a.group for a in self.animals}


def load_cohort(path: str | os.PathLike[str]) -> Cohort:
    """Read and check a cohort file; errors name the file, line, column and reason."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{path}: cohort file not found") from None
    except OSError as err:
        raise ConfigError(f"{path}: cannot read the cohort file ({err.strerror})") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text") from None
    rows = list(csv.reader(io.StringIO(text)))
    rows = [r for r in rows if any(cell.strip() for cell in r)]
    if not rows:
        raise ConfigError(f"{path}: empty (expected a header row: {','.join(KNOWN_COLUMNS)})")
    header = [h.strip() for h in rows[0]]
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise ConfigError(
            f"{path}:1 header: missing column(s) {', '.join(missing)} "
            f"(expected {','.join(KNOWN_COLUMNS)})"
        )
    duplicated = sorted({h for h in header if header.count(h) > 1})
    if duplicated:
        raise ConfigError(f"{path}:1 header: repeated column(s) {', '.join(duplicated)}")
    problems: list[str] = []
    animals: list[Animal] = []
    seen: dict[str, int] = {}
    for number, row in enumerate(rows[1:], start=2):
        if len(row) > len(header):
            problems.append(f"{path}:{number}: {len(row)} fields, the header has {len(header)}")
            continue
        cells = {name: (row[i].strip() if i < len(row) else "") for i, name in enumerate(header)}
        animal_id = cells["animal_id"]
        if not animal_id:
            problems.append(f"{path}:{number} animal_id: empty")
            continue
        if animal_id in seen:
            problems.append(
                f"{path}:{number} animal_id: {animal_id} is listed twice (also line {seen[animal_id]})"
            )
            continue
        seen[animal_id] = number
        if not cells["group"]:
            problems.append(f"{path}:{number} group: empty for animal {animal_id}")
        side = cells.get("stim_side", "").lower()
        if side not in ("", *SIDES):
            problems.append(
                f"{path}:{number} stim_side: expected left, right or empty, got {cells['stim_side']!r}"
            )
        animals.append(
            Animal(
                animal_id=animal_id,
                group=cells["group"],
                sex=cells.get("sex", ""),
                cage=cells.get("cage", ""),
                stim_side=side,
                notes=cells.get("notes", ""),
                line=number,
                extra=tuple((k, v) for k, v in cells.items() if k not in KNOWN_COLUMNS),
            )
        )
    if problems:
        raise ConfigError("\n".join(problems))
    return Cohort(path, hashlib.sha256(raw).hexdigest(), tuple(header), tuple(animals))


def assign_sides(cohort: Cohort, seed: int) -> tuple[Cohort, list[Animal]]:
    """Fill the empty sides, balanced within group (and sex); return (cohort, newly assigned).

    For each group, strata are its sexes (one stratum when no sex is given). Animals without
    a side are taken in an order shuffled from ``seed``, the group and the sex (independent
    of the file's row order), and each gets the side with fewer animals in its stratum;
    a tie goes to the side with fewer animals in the whole group, then to a side drawn from
    the same generator. Animals that already have a side are counted and never changed.
    """
    by_id = {a.animal_id: a for a in cohort.animals}
    assigned: list[Animal] = []
    for group in sorted({a.group for a in cohort.animals}):
        members = [a for a in cohort.animals if a.group == group]
        group_count = {s: sum(1 for a in members if a.stim_side == s) for s in SIDES}
        for sex in sorted({a.sex.lower() for a in members}):
            stratum = [a for a in members if a.sex.lower() == sex]
            count = {s: sum(1 for a in stratum if a.stim_side == s) for s in SIDES}
            todo = sorted((a for a in stratum if not a.stim_side), key=lambda a: a.animal_id)
            rng = random.Random(f"{seed}|{group}|{sex}")
            rng.shuffle(todo)
            for animal in todo:
                if count["left"] != count["right"]:
                    side = "left" if count["left"] < count["right"] else "right"
                elif group_count["left"] != group_count["right"]:
                    side = "left" if group_count["left"] < group_count["right"] else "right"
                else:
                    side = rng.choice(SIDES)
                count[side] += 1
                group_count[side] += 1
                updated = replace(animal, stim_side=side)
                by_id[animal.animal_id] = updated
                assigned.append(updated)
    animals = tuple(by_id[a.animal_id] for a in cohort.animals)
    return replace(cohort, animals=animals), assigned


def cohort_csv_text(cohort: Cohort) -> str:
    """The cohort as CSV text: the file's columns in its order (stim_side added if absent)."""
    columns = list(cohort.columns)
    if "stim_side" not in columns:
        columns.append("stim_side")
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for a in cohort.animals:
        values = {
            "animal_id": a.animal_id, "group": a.group, "sex": a.sex, "cage": a.cage,
            "stim_side": a.stim_side, "notes": a.notes, **dict(a.extra),
        }
        writer.writerow([values.get(c, "") for c in columns])
    return out.getvalue()


def write_cohort(cohort: Cohort) -> None:
    """Rewrite the cohort file atomically (temp file in the same folder, fsync, replace)."""
    path = cohort.path
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", encoding="utf-8", newline="") as handle:
        handle.write(cohort_csv_text(cohort))
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def side_from_cohort(cohort: Cohort, animal_id: str) -> Animal:
    """The animal's row, which must have a side; ConfigError naming the file otherwise."""
    animal = cohort.find(animal_id)
    if animal is None:
        raise ConfigError(
            f"{cohort.path}: animal {animal_id} is not listed; add a row for it "
            "(animal_id,group,...) and run `rig cohort assign`"
        )
    if not animal.stim_side:
        raise ConfigError(
            f"{cohort.path}:{animal.line} stim_side: empty for animal {animal_id}; run "
            f"`rig cohort assign {cohort.path}` first"
        )
    return animal
