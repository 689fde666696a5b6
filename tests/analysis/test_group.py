"""Group analysis: tidy CSV, statistics equal to scipy called directly, input validation."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from rig.analysis.fake import SimulatedPhase, simulate_rtpp_session
from rig.analysis.group import rank_biserial_paired, read_groups, run_group
from rig.errors import ConfigError

PHASES = (SimulatedPhase("baseline", 30.0, "off"), SimulatedPhase("test", 60.0, "closed_loop"))


@pytest.fixture(scope="module")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[Path], Path]:
    root = tmp_path_factory.mktemp("cohort")
    sessions = []
    lines = ["animal,group"]
    for k in range(8):
        group = "ChR2" if k < 4 else "eYFP"
        animal = f"a{k}"
        sessions.append(simulate_rtpp_session(
            root / animal, animal_id=animal, rng=np.random.default_rng(k), fps=10.0,
            avoidance=0.6 if group == "ChR2" else 0.0, phases=PHASES,
            stimulated_side="left" if k % 2 else "right",
        ))
        lines.append(f"{animal},{group}")
    groups = root / "groups.csv"
    groups.write_text("\n".join(lines) + "\n")
    return sessions, groups


def _read(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_group_outputs_and_stats_match_scipy(cohort: tuple[list[Path], Path], tmp_path: Path) -> None:
    sessions, groups = cohort
    result = run_group(sessions, groups, tmp_path / "out")
    names = {p.name for p in (tmp_path / "out").iterdir()}
    assert {"sessions_phases.csv", "animals.csv", "stats_within.csv", "stats_between.csv",
            "stats.md", "stats.html", "paired.png", "paired.pdf"} <= names
    tidy = _read(tmp_path / "out" / "sessions_phases.csv")
    assert len(tidy) == 16 and {r["phase"] for r in tidy} == {"baseline", "test"}
    animals = {a["animal_id"]: a for a in result.animals}
    scores = {}
    for group in ("ChR2", "eYFP"):
        rows = [r for r in tidy if r["group"] == group]
        base = np.array([float(r["time_stim_pct"]) for r in rows if r["phase"] == "baseline"])
        test = np.array([float(r["time_stim_pct"]) for r in rows if r["phase"] == "test"])
        w = next(x for x in result.within if x["group"] == group)
        t = stats.ttest_rel(test, base)
        assert w["n"] == 4
        assert w["paired_t"] == pytest.approx(t.statistic) and w["paired_t_p"] == pytest.approx(t.pvalue)
        wil = stats.wilcoxon(test, base)
        assert w["wilcoxon_w"] == pytest.approx(wil.statistic) and w["wilcoxon_p"] == pytest.approx(wil.pvalue)
        diff = test - base
        assert w["cohen_dz"] == pytest.approx(diff.mean() / diff.std(ddof=1))
        scores[group] = diff
    assert all(animals[f"a{k}"]["group"] == "ChR2" for k in range(4))
    b = result.between[0]
    welch = stats.ttest_ind(scores["ChR2"], scores["eYFP"], equal_var=False)
    assert b["welch_t"] == pytest.approx(welch.statistic) and b["welch_p"] == pytest.approx(welch.pvalue)
    mw = stats.mannwhitneyu(scores["ChR2"], scores["eYFP"], alternative="two-sided")
    assert b["mann_whitney_u"] == pytest.approx(mw.statistic) and b["mann_whitney_p"] == pytest.approx(mw.pvalue)
    assert b["rank_biserial_r"] == pytest.approx(2 * mw.statistic / 16 - 1)
    pooled = np.sqrt((scores["ChR2"].var(ddof=1) + scores["eYFP"].var(ddof=1)) / 2)
    assert b["cohen_d"] == pytest.approx((scores["ChR2"].mean() - scores["eYFP"].mean()) / pooled)
    assert b["difference_mean_a"] < b["difference_mean_b"]  # ChR2 avoids the stimulated side
    assert "| ChR2 vs eYFP | 4 / 4 |" in result.markdown_text


def test_rank_biserial_paired_by_hand() -> None:
    # |d| ranks: 1->1, 2->2, 3->3, -4->4: R+ = 6, R- = 4 -> r = 0.2
    assert rank_biserial_paired(np.array([1.0, 2.0, 3.0, -4.0, 0.0])) == pytest.approx(0.2)


def test_existing_out_and_unknown_animal_rejected(cohort: tuple[list[Path], Path], tmp_path: Path) -> None:
    sessions, groups = cohort
    (tmp_path / "exists").mkdir()
    with pytest.raises(ConfigError, match="already exists"):
        run_group(sessions, groups, tmp_path / "exists")
    partial = tmp_path / "g.csv"
    partial.write_text("animal,group\na0,ChR2\n")
    with pytest.raises(ConfigError, match="animal a1 .* is not listed"):
        run_group(sessions[:2], partial, tmp_path / "new")
    assert not (tmp_path / "new").exists()
    with pytest.raises(ConfigError, match="two sessions"):
        run_group([sessions[0], sessions[0]], groups, tmp_path / "new")


def test_read_groups_errors(tmp_path: Path) -> None:
    f = tmp_path / "g.csv"
    f.write_text("mouse,cohort\nm1,A\n")
    with pytest.raises(ConfigError, match="line 1: header must name columns animal and group"):
        read_groups(f)
    f.write_text("animal,group\nm1,A\nm1,B\n")
    with pytest.raises(ConfigError, match="line 3: animal m1: listed in two groups"):
        read_groups(f)
    f.write_text("animal,group\nm1,A\n\nm2,B\n")
    assert read_groups(f) == {"m1": "A", "m2": "B"}


def test_rig_group_cli(cohort: tuple[list[Path], Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from rig.cli import main

    sessions, groups = cohort
    assert main(["group", *map(str, sessions), "--groups", str(groups), "--out", str(tmp_path / "o")]) == 0
    assert "Between groups" in capsys.readouterr().out
    assert main(["group", *map(str, sessions), "--groups", str(groups), "--out", str(tmp_path / "o")]) == 2
