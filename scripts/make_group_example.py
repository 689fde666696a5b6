"""Build docs/group-example/: a simulated two-group RTPP cohort analysed by `rig group`.

Sixteen synthetic sessions are written at the record level (rig.analysis.fake): a random-walk
mouse in a 50 x 25 cm two-compartment arena, 5 min baseline (light off), 10 min
closed-loop test, 5 min reversal (sides swapped) and 5 min post-test (light off). ChR2
animals are pushed out of the stimulated side while the light is on (avoidance); eYFP
animals have no preference. Sides come from `rig cohort assign` (balanced within group
and sex); each animal gets its own random seed and small baseline side bias. The sessions
are simulated, so the analysis includes them on purpose (include_simulated in group.yaml).

    rig group SESSIONS... --cohort docs/group-example/cohort.csv \
        --declare docs/group-example/group.yaml --out OUT

    .venv/bin/python scripts/make_group_example.py [--out docs/group-example]

The output folder is this script's own product: it is replaced on each run.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from rig.analysis.fake import SimulatedPhase, simulate_rtpp_session
from rig.analysis.group import run_group
from rig.cohort import assign_sides, load_cohort, write_cohort

PHASES = (
    SimulatedPhase("baseline", 300.0, "off"),
    SimulatedPhase("test", 600.0, "closed_loop"),
    SimulatedPhase("reversal", 300.0, "closed_loop", swap_sides=True),
    SimulatedPhase("posttest", 300.0, "off"),
)

GROUP_YAML = """\
# Declared before the sessions were analysed (rig group --declare group.yaml).
primary:
  endpoint: difference_score   # stim % in `phase` minus stim % in `baseline_phase`
  phase: test
  baseline_phase: baseline
  groups: [ChR2, eYFP]         # comparison order: effect = ChR2 - eYFP
exclusions:
  baseline_bias_max_pct: 65    # baseline time on the preferred side (of compartment time)
  lost_tracking_max_pct: 10    # % of frames without a position
  include_simulated: true      # this worked example is simulated on purpose
"""


def build(
    root: Path, seed: int = 2026, scale: float = 1.0, fps: float = 15.0, n_animals: int = 16
) -> tuple[list[Path], Path, Path]:
    """Write the cohort file, group.yaml and the simulated sessions below ``root``.

    ``scale`` shortens every phase (tests use short phases); everything is drawn from
    ``seed``, so the same arguments give the same sessions.
    """
    rng = np.random.default_rng(seed)
    cohort_path = root / "cohort.csv"
    lines = ["animal_id,group,sex,cage,stim_side,notes"]
    for k in range(n_animals):
        group = "ChR2" if k < n_animals // 2 else "eYFP"
        sex = "F" if k % 2 == 0 else "M"
        lines.append(f"m{k + 1:03d},{group},{sex},c{k // 4 + 1},,")
    cohort_path.write_text("\n".join(lines) + "\n")
    cohort, _ = assign_sides(load_cohort(cohort_path), seed=seed)
    write_cohort(cohort)
    declared = root / "group.yaml"
    declared.write_text(GROUP_YAML)
    phases = tuple(
        SimulatedPhase(p.name, p.duration_s * scale, p.mode, p.swap_sides) for p in PHASES
    )
    sessions = []
    for k, animal in enumerate(cohort.animals):
        avoidance = float(rng.uniform(0.35, 0.7)) if animal.group == "ChR2" else 0.0
        session = simulate_rtpp_session(
            root / "sessions" / f"2026-01-{10 + k:02d}_10-00-00_{animal.animal_id}_rtpp-sim",
            animal_id=animal.animal_id,
            rng=np.random.default_rng(int(rng.integers(1 << 31))),
            avoidance=avoidance,
            stimulated_side=animal.stim_side,
            baseline_bias=float(rng.normal(0, 0.04)),
            phases=phases,
            fps=fps,
            started_at=f"2026-01-{10 + k:02d}T10:00:00.000+00:00",
        )
        sessions.append(session)
    return sessions, cohort_path, declared


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent.parent / "docs" / "group-example")
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        sessions, cohort_path, declared = build(root, args.seed)
        staging = root / "group-example"
        here = Path.cwd()
        os.chdir(root)  # so the report names cohort.csv and group.yaml, not a temporary path
        try:
            result = run_group(
                [p.relative_to(root) for p in sessions], None, staging,
                cohort=Path(cohort_path.name), declared_path=Path(declared.name),
            )
        finally:
            os.chdir(here)
        shutil.copy(cohort_path, staging / "cohort.csv")
        shutil.copy(declared, staging / "group.yaml")
        if args.out.exists():
            shutil.rmtree(args.out)
        shutil.copytree(staging, args.out)
    print(result.markdown_text)
    total = sum(p.stat().st_size for p in args.out.iterdir())
    print(f"written {args.out} ({total / 1e6:.2f} MB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
