"""`rig group` on the worked example: declared primary test first, Holm-corrected secondary
tests and CIs equal to statsmodels called directly, guardrails and exclusions."""

from __future__ import annotations

import csv
import importlib.util
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from rig.cli import main
from rig.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "docs" / "group-example"
COLUMNS = ["comparison", "phase", "test", "n_a", "n_b", "statistic", "p", "p_holm",
           "effect", "effect_ci_low", "effect_ci_high", "primary"]
DECLARED = """\
primary: {endpoint: difference_score, phase: test, baseline_phase: baseline, groups: [ChR2, eYFP]}
exclusions: {baseline_bias_max_pct: 100, lost_tracking_max_pct: 10, include_simulated: true}
"""


def _script() -> Any:
    spec = importlib.util.spec_from_file_location("make_group_example", ROOT / "scripts" / "make_group_example.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[Path], Path, Path]:
    """The worked example's cohort and sessions (docs/group-example), with short phases."""
    root = tmp_path_factory.mktemp("example")
    sessions, cohort, _declared = _script().build(root, seed=2026, scale=0.2, fps=4.0, n_animals=12)
    declared = root / "group-test.yaml"
    declared.write_text(DECLARED)
    return sessions, cohort, declared


def _read(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def _f(text: str) -> float:
    return float(text) if text != "" else float("nan")


def test_rig_group_primary_first_holm_and_cis_match_statsmodels(
    example: tuple[list[Path], Path, Path], tmp_path: Path
) -> None:
    from statsmodels.stats.multitest import multipletests
    from statsmodels.stats.weightstats import CompareMeans, DescrStatsW, ttest_ind

    sessions, cohort, declared = example
    out = tmp_path / "out"
    code = main(["group", *map(str, sessions), "--cohort", str(cohort), "--declare", str(declared),
                 "--out", str(out)])
    assert code == 0
    with open(out / "stats.csv", newline="") as handle:
        header = next(csv.reader(handle))
    assert header == COLUMNS
    rows = _read(out / "stats.csv")
    assert rows[0]["primary"] == "True" and all(r["primary"] == "False" for r in rows[1:])
    md = (out / "stats.md").read_text()
    assert md.index("Primary test") < md.index("Secondary tests")
    # every phase is tested: reversal and post-test too
    assert {"test", "reversal", "posttest"} <= {r["phase"] for r in rows}
    assert any("mixed model" in r["test"] for r in rows)
    assert any("stim side" in r["comparison"] for r in rows)
    # the primary test recomputed with statsmodels from animals.csv
    animals = [a for a in _read(out / "animals.csv") if a["included"] == "True"]
    a = np.array([float(x["test_difference_score"]) for x in animals if x["group"] == "ChR2"])
    b = np.array([float(x["test_difference_score"]) for x in animals if x["group"] == "eYFP"])
    t, p, _ = ttest_ind(a, b, usevar="unequal")
    low, high = CompareMeans(DescrStatsW(a), DescrStatsW(b)).tconfint_diff(usevar="unequal")
    primary = rows[0]
    assert primary["comparison"] == "ChR2 vs eYFP" and primary["phase"] == "test"
    assert int(primary["n_a"]) == a.size and int(primary["n_b"]) == b.size
    assert _f(primary["statistic"]) == pytest.approx(t, rel=1e-9)
    assert _f(primary["p"]) == pytest.approx(p, rel=1e-9)
    assert _f(primary["effect"]) == pytest.approx(a.mean() - b.mean(), rel=1e-9)
    assert _f(primary["effect_ci_low"]) == pytest.approx(low, rel=1e-9)
    assert _f(primary["effect_ci_high"]) == pytest.approx(high, rel=1e-9)
    # Holm over the secondary family, as statsmodels computes it
    secondary = [r for r in rows[1:] if r["p"] != ""]
    expected = multipletests([float(r["p"]) for r in secondary], method="holm")[1]
    np.testing.assert_allclose([float(r["p_holm"]) for r in secondary], expected, rtol=1e-9)
    # a within-group paired test recomputed
    diff = np.array([float(x["reversal_difference_score"]) for x in animals if x["group"] == "eYFP"])
    row = next(r for r in rows if r["comparison"] == "eYFP: reversal vs baseline")
    d = DescrStatsW(diff)
    assert _f(row["p"]) == pytest.approx(d.ttest_mean(0.0)[1], rel=1e-9)
    assert (_f(row["effect_ci_low"]), _f(row["effect_ci_high"])) == pytest.approx(d.tconfint_mean(), rel=1e-9)
    for name in ("timecourse.png", "heatmaps.png", "paired.png", "excluded.csv", "stats.html"):
        assert (out / name).exists()


def test_omnibus_for_three_groups(example: tuple[list[Path], Path, Path], tmp_path: Path) -> None:
    from statsmodels.stats.oneway import anova_oneway

    sessions, cohort, declared = example
    text = cohort.read_text().replace(",eYFP,F,", ",Arch,F,")  # eYFP females -> a third group
    three = tmp_path / "cohort3.csv"
    three.write_text(text)
    (tmp_path / "d.yaml").write_text(DECLARED.replace("groups: [ChR2, eYFP]", "groups: [ChR2, eYFP, Arch]"))
    out = tmp_path / "out3"
    assert main(["group", *map(str, sessions), "--cohort", str(three), "--declare", str(tmp_path / "d.yaml"),
                 "--out", str(out)]) == 0
    rows = _read(out / "stats.csv")
    assert rows[0]["primary"] == "True" and "ANOVA" in rows[0]["test"]
    animals = [a for a in _read(out / "animals.csv") if a["included"] == "True"]
    samples = [np.array([float(x["test_difference_score"]) for x in animals if x["group"] == g])
               for g in ("ChR2", "eYFP", "Arch")]
    res = anova_oneway(samples, use_var="unequal")
    assert _f(rows[0]["p"]) == pytest.approx(res.pvalue, rel=1e-9)
    assert sum(1 for r in rows if r["phase"] == "test" and "Welch t-test (difference" in r["test"]) == 3


def _copies(sessions: list[Path], root: Path) -> list[Path]:
    return [Path(shutil.copytree(s, root / s.name)) for s in sessions]


def test_mixed_protocols_refused_exclusions_listed_small_n_warned(
    example: tuple[list[Path], Path, Path], tmp_path: Path
) -> None:
    """Old code pooled sessions of different protocols, incomplete and simulated sessions
    silently, and ran df = 1 tests without a note."""
    from rig.analysis.group import run_group

    sessions, cohort, declared = example
    picked = _copies(sessions[:3] + sessions[6:9], tmp_path / "s")
    header = json.loads((picked[1] / "session.json").read_text())
    header["protocol"]["version"] = "2"
    (picked[1] / "session.json").write_text(json.dumps(header))
    with pytest.raises(ConfigError, match="different protocols.*allow-mixed-protocols"):
        run_group(picked, None, tmp_path / "o1", cohort=cohort, declared_path=declared)
    assert not (tmp_path / "o1").exists()
    # one incomplete session (no end reason, no session_end event)
    header = json.loads((picked[0] / "session.json").read_text())
    header["end_reason"] = None
    (picked[0] / "session.json").write_text(json.dumps(header))
    events = (picked[0] / "events.csv").read_text().splitlines(keepends=True)
    (picked[0] / "events.csv").write_text("".join(e for e in events if "session_end" not in e))
    result = run_group(picked, None, tmp_path / "o", cohort=cohort, declared_path=declared,
                       allow_mixed_protocols=True)
    assert any("mixed protocols" in w for w in result.warnings)
    reasons = {e["animal_id"]: e["reasons"] for e in result.excluded}
    assert "incomplete" in reasons[header["animal_id"]]
    assert any("n = 2" in w and "< 5" in w for w in result.warnings)
    assert "incomplete" in (tmp_path / "o" / "excluded.csv").read_text()
    assert "n = 2 (< 5)" in (tmp_path / "o" / "stats.md").read_text()


def test_simulated_sessions_excluded_unless_asked(example: tuple[list[Path], Path, Path], tmp_path: Path) -> None:
    from rig.analysis.group import run_group

    sessions, cohort, _ = example
    with pytest.raises(ConfigError, match="fewer than 2 groups"):
        run_group(sessions[:2] + sessions[6:8], None, tmp_path / "o", cohort=cohort)


def test_committed_example_has_the_stats_columns_primary_first() -> None:
    with open(EXAMPLE / "stats.csv", newline="") as handle:
        reader = csv.reader(handle)
        assert next(reader) == COLUMNS
        assert next(reader)[-1] == "True"
    md = (EXAMPLE / "stats.md").read_text()
    assert md.index("## Primary test") < md.index("## Secondary tests")
    assert (EXAMPLE / "cohort.csv").exists() and (EXAMPLE / "group.yaml").exists()
