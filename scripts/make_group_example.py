"""Build docs/group-example/: a simulated two-group RTPP cohort analysed by `rig group`.

Ten synthetic sessions are written at the record level (rig.analysis.fake): a random-walk
mouse in a 50 x 25 cm two-compartment arena, 5 min baseline (light off) then 10 min
closed-loop test. ChR2 animals are pushed out of the stimulated side while the light is
on (avoidance); eYFP animals have no preference. Each animal gets its own random seed,
stimulated side (counterbalanced) and small baseline side bias.

    .venv/bin/python scripts/make_group_example.py [--out docs/group-example]

The output folder is this script's own product: it is replaced on each run.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

import numpy as np

from rig.analysis.fake import simulate_rtpp_session
from rig.analysis.group import run_group


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent.parent / "docs" / "group-example")
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        sessions = []
        rows = ["animal,group"]
        for k in range(10):
            group = "ChR2" if k < 5 else "eYFP"
            animal = f"m{k + 1:03d}"
            side = "left" if k % 2 == 0 else "right"
            avoidance = float(rng.uniform(0.35, 0.7)) if group == "ChR2" else 0.0
            session = simulate_rtpp_session(
                root / f"2026-01-{15 + k:02d}_10-00-00_{animal}_rtpp-sim",
                animal_id=animal,
                rng=np.random.default_rng(int(rng.integers(1 << 31))),
                avoidance=avoidance,
                stimulated_side=side,
                baseline_bias=float(rng.normal(0, 0.04)),
                started_at=f"2026-01-{15 + k:02d}T10:00:00.000+00:00",
            )
            sessions.append(session)
            rows.append(f"{animal},{group}")
            print(f"simulated {animal} ({group}, stim {side}, avoidance {avoidance:.2f})")
        groups = root / "groups.csv"
        groups.write_text("\n".join(rows) + "\n")
        staging = root / "group-example"
        result = run_group(sessions, groups, staging)
        shutil.copy(groups, staging / "groups.csv")
        if args.out.exists():
            shutil.rmtree(args.out)
        shutil.copytree(staging, args.out)
    print(result.markdown_text)
    total = sum(p.stat().st_size for p in args.out.iterdir())
    print(f"written {args.out} ({total / 1e6:.2f} MB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
