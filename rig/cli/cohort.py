"""``rig cohort assign cohort.csv``: balanced stimulated sides for a cohort."""

from __future__ import annotations

import argparse

from rig.cli._common import add_command

ORDER = 24


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = add_command(
        subparsers,
        "cohort",
        help_text="counterbalance stimulated sides in a cohort file",
        description=(
            "cohort.csv lists the animals: animal_id, group (required), sex, cage, stim_side, "
            "notes (optional). `assign` fills empty stim_side cells so that each group (and "
            "each sex within a group, when given) has as many left as right animals. The same "
            "file and --seed always give the same sides; an animal that already has a side is "
            "never changed, so adding animals later and re-running keeps every earlier side. "
            "Then run sessions with `rig run ... --cohort cohort.csv` (the side comes from the "
            "file, the same on every day) and analyse with `rig group ... --cohort cohort.csv`."
        ),
        examples=(
            "  rig cohort assign cohort.csv\n"
            "  rig cohort assign cohort.csv --seed 7 --dry-run\n"
            "  rig cohort show cohort.csv\n"
        ),
    )
    sub = parser.add_subparsers(dest="cohort_command", metavar="ACTION", required=True)
    assign = add_command(
        sub, "assign", "fill empty stim_side cells, balanced",
        "Fill the empty stim_side cells of a cohort file so that each group (and each sex "
        "within a group) has as many left as right animals; sides already set are kept. "
        "The file is rewritten atomically; --dry-run only prints.",
        "  rig cohort assign cohort.csv\n  rig cohort assign cohort.csv --seed 7 --dry-run\n",
    )
    assign.add_argument("path", metavar="CSV", help="cohort file (rewritten in place, atomically)")
    assign.add_argument("--seed", type=int, default=1, help="seed of the assignment (default 1)")
    assign.add_argument("--dry-run", action="store_true", help="print, do not write")
    assign.set_defaults(func=run_assign)
    show = add_command(
        sub, "show", "print the cohort with counts per group and side",
        "Print the animals of a cohort file and how many are stimulated on each side per "
        "group (and sex), so an unbalanced cohort shows before the first session.",
        "  rig cohort show cohort.csv\n",
    )
    show.add_argument("path", metavar="CSV", help="cohort file")
    show.set_defaults(func=run_show)


def _counts(cohort: object) -> str:
    from rig.cohort import Cohort

    assert isinstance(cohort, Cohort)
    lines = []
    for group in sorted({a.group for a in cohort.animals}):
        members = [a for a in cohort.animals if a.group == group]
        parts = []
        for sex in sorted({a.sex for a in members}):
            sub = [a for a in members if a.sex == sex]
            left = sum(a.stim_side == "left" for a in sub)
            right = sum(a.stim_side == "right" for a in sub)
            label = f"{sex}: " if sex else ""
            parts.append(f"{label}{left} left / {right} right")
        lines.append(f"  {group}: " + "; ".join(parts))
    return "\n".join(lines)


def run_assign(args: argparse.Namespace) -> int:
    from rig.cohort import assign_sides, load_cohort, write_cohort

    cohort = load_cohort(args.path)
    updated, assigned = assign_sides(cohort, args.seed)
    for animal in assigned:
        print(f"{animal.animal_id}: {animal.stim_side} (group {animal.group}"
              f"{', ' + animal.sex if animal.sex else ''})")
    if not assigned:
        print(f"{args.path}: every animal already has a side; nothing changed")
    elif args.dry_run:
        print("(dry run: the file was not changed)")
    else:
        write_cohort(updated)
        print(f"wrote {args.path} (seed {args.seed})")
    print(_counts(updated))
    return 0


def run_show(args: argparse.Namespace) -> int:
    from rig.cohort import load_cohort

    cohort = load_cohort(args.path)
    for a in cohort.animals:
        print(f"{a.animal_id},{a.group},{a.sex},{a.cage},{a.stim_side or '(none)'}")
    print(_counts(cohort))
    return 0
