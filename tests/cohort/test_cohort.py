"""Cohort file: balanced, deterministic, stable side assignment; sides from the file."""

from __future__ import annotations

from pathlib import Path

import pytest

from rig.cli import main
from rig.cohort import assign_sides, load_cohort
from rig.errors import ConfigError
from rig.protocol.models import SideAssignment
from rig.session.sides import assign_side


def _write(path: Path, rows: list[str], header: str = "animal_id,group,sex,cage,stim_side,notes") -> Path:
    path.write_text(header + "\n" + "\n".join(rows) + "\n")
    return path


def _eight(tmp_path: Path, with_sex: bool = False) -> Path:
    rows = []
    for i in range(8):
        group = "ChR2" if i % 2 == 0 else "eYFP"
        sex = ("F" if i % 4 < 2 else "M") if with_sex else ""
        rows.append(f"m{i + 1},{group},{sex},c{i // 4},,")
    return _write(tmp_path / "cohort.csv", rows)


@pytest.mark.parametrize("with_sex", [False, True])
def test_eight_animals_two_groups_balanced_and_rerun_changes_nothing(tmp_path: Path, with_sex: bool) -> None:
    """Old code had no cohort: `random` with one seed gave all animals one side."""
    path = _eight(tmp_path, with_sex)
    assert main(["cohort", "assign", str(path), "--seed", "5"]) == 0
    cohort = load_cohort(path)
    for group in ("ChR2", "eYFP"):
        sides = [a.stim_side for a in cohort.animals if a.group == group]
        assert sides.count("left") == 2 and sides.count("right") == 2
        if with_sex:
            for sex in ("F", "M"):
                sub = [a.stim_side for a in cohort.animals if a.group == group and a.sex == sex]
                assert sorted(sub) == ["left", "right"]
    before = path.read_bytes()
    assert main(["cohort", "assign", str(path), "--seed", "99"]) == 0
    assert path.read_bytes() == before


def test_deterministic_from_seed_and_never_changes_a_given_side(tmp_path: Path) -> None:
    a = load_cohort(_eight(tmp_path))
    one, _ = assign_sides(a, seed=3)
    two, _ = assign_sides(a, seed=3)
    assert [x.stim_side for x in one.animals] == [x.stim_side for x in two.animals]
    rows = ["m1,A,,,right,", "m2,A,,,right,", "m3,A,,,,", "m4,A,,,,", "m5,A,,,,", "m6,A,,,,"]
    fixed = load_cohort(_write(tmp_path / "c2.csv", rows))
    out, new = assign_sides(fixed, seed=1)
    sides = {x.animal_id: x.stim_side for x in out.animals}
    assert sides["m1"] == sides["m2"] == "right"
    assert [x.stim_side for x in out.animals].count("left") == 3
    assert {x.animal_id for x in new} == {"m3", "m4", "m5", "m6"}


def test_day_two_gets_the_same_side(tmp_path: Path) -> None:
    path = _eight(tmp_path)
    main(["cohort", "assign", str(path)])
    cohort = load_cohort(path)
    rule = SideAssignment(rule="fixed", side="left")
    day1 = assign_side(rule, "m3", cohort=cohort)
    day2 = assign_side(rule, "m3", cohort=load_cohort(path))
    assert day1.side == day2.side == cohort.find("m3").stim_side  # type: ignore[union-attr]
    assert day1.rule == "cohort" and day1.cohort is not None
    assert day1.cohort["sha256"] == cohort.sha256 and day1.cohort["group"] == "ChR2"


def test_errors_name_file_line_and_column(tmp_path: Path) -> None:
    bad = _write(tmp_path / "bad.csv", ["m1,A,,,up,", "m1,B,,,,"])
    with pytest.raises(ConfigError) as err:
        load_cohort(bad)
    assert "bad.csv:2 stim_side" in str(err.value) and "bad.csv:3 animal_id" in str(err.value)
    path = _write(tmp_path / "c.csv", ["m1,A,,,,"])
    with pytest.raises(ConfigError, match="c.csv:2 stim_side: empty.*rig cohort assign"):
        assign_side(SideAssignment(), "m1", cohort=load_cohort(path))
    with pytest.raises(ConfigError, match="m9 is not listed"):
        assign_side(SideAssignment(), "m9", cohort=load_cohort(path))
    with pytest.raises(ConfigError, match="needs a cohort file"):
        assign_side(SideAssignment(rule="cohort"), "m1")
