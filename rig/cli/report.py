"""``rig report``, ``rig group`` and ``rig export-nwb``: analysis of recorded sessions."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rig.cli._common import add_command

ORDER = 60


def _report(args: argparse.Namespace) -> int:
    import json

    from rig.cli._console import StatusLine, StepProgress
    from rig.errors import ConfigError

    session_dir = Path(args.session_dir)
    if not session_dir.is_dir():
        raise ConfigError(f"{session_dir}: not a session folder (no such directory)")
    line = StatusLine()
    line.print(f"report: {session_dir} (summary.json recomputed, report folder "
               f"{args.out if args.out is not None else session_dir / 'report'})")
    line.update("loading the analysis libraries ...", force=True)
    from rig.analysis.report import build_report
    from rig.analysis.summary import format_summary_table

    line.clear()
    html_path = build_report(
        session_dir, args.out, bias_threshold=args.bias_threshold, progress=StepProgress(line)
    )
    line.end()
    summary = json.loads((Path(args.session_dir) / "summary.json").read_text(encoding="utf-8"))
    print(format_summary_table(summary))
    print(f"summary: {Path(args.session_dir) / 'summary.json'}")
    print(f"report:  {html_path}")
    return 0


def _group(args: argparse.Namespace) -> int:
    from rig.analysis.group import run_group
    from rig.errors import ConfigError

    sessions = [Path(p) for p in args.sessions]
    if args.query is not None:
        from rig.index import SessionIndex, parse_query

        with SessionIndex(Path(args.index)).open(create=False) as index:
            sessions += [row.path for row in index.query(parse_query(args.query))]
    if not sessions:
        raise ConfigError("rig group: give session folders or --query (no session matched)")
    out = run_group(
        list(dict.fromkeys(sessions)),
        Path(args.groups) if args.groups else None,
        Path(args.out),
        cohort=Path(args.cohort) if args.cohort else None,
        declared_path=Path(args.declare) if args.declare else None,
        allow_mixed_protocols=args.allow_mixed_protocols,
        include_simulated=args.include_simulated,
    )
    print(out.markdown_text)
    for warning in out.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    print(f"group analysis written to {out.out_dir}")
    return 0


def _export_nwb(args: argparse.Namespace) -> int:
    from rig.cli._console import StatusLine, StepProgress
    from rig.errors import ConfigError

    session_dir = Path(args.session_dir)
    out = Path(args.out) if args.out else session_dir / f"{session_dir.name}.nwb"
    # The checks that can fail come first, before seconds of imports and work.
    if not session_dir.is_dir():
        raise ConfigError(f"{session_dir}: not a session folder (no such directory)")
    if out.exists():
        raise ConfigError(f"{out}: already exists; NWB files are never overwritten")
    if not out.parent.is_dir():
        raise ConfigError(f"{out}: folder {out.parent} does not exist")
    line = StatusLine()
    line.print(f"export-nwb: {session_dir} -> {out}")
    line.update("loading the NWB libraries ...", force=True)
    from rig.analysis.nwb import export_nwb

    line.clear()
    path = export_nwb(session_dir, out, progress=StepProgress(line))
    line.end()
    print(f"NWB file written: {path}")
    return 0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = add_command(
        subparsers,
        "report",
        "per-session report (HTML + PNG/PDF figures) and summary.json",
        "Recompute summary.json (atomically; the only file rewritten) from frames.csv and "
        "events.csv, then write a new report folder (SESSION_DIR/report, or report-2, "
        "report-3... if it exists) with a self-contained report.html, PNG and PDF figures "
        "and per-phase CSV tables. Works on a crashed session (torn last line, no summary).",
        "  rig report sessions/2026-11-28_10-22-05_m017_rtpp\n"
        "  rig report sessions/2026-11-28_10-22-05_m017_rtpp --out /tmp/m017-report\n"
        "  rig report SESSION_DIR --bias-threshold 0.70\n",
    )
    p.add_argument("session_dir", metavar="SESSION_DIR", help="a session folder")
    p.add_argument("--out", type=Path, default=None, metavar="DIR",
                   help="report folder (default SESSION_DIR/report; -2, -3... if it exists)")
    p.add_argument("--bias-threshold", type=float, default=0.65, metavar="FRACTION",
                   help="flag an animal whose baseline time on its preferred side (share of "
                        "compartment time) exceeds this fraction (default 0.65)")
    p.set_defaults(func=_report)

    g = add_command(
        subparsers,
        "group",
        "compare groups of animals: a declared primary test first, Holm-corrected secondary tests",
        "Groups come from the cohort file (--cohort; or the older --groups animal,group CSV); "
        "one session per animal, matched by session.json animal_id. The primary endpoint is "
        "declared before analysis in group.yaml (--declare) or the protocol's analysis section; "
        "default: difference score (stim % in the first closed-loop phase minus the first "
        "off phase) between groups, Welch t-test (2 groups) or Welch ANOVA (more). Secondary "
        "tests (pairwise groups, every other phase incl. reversal and post-test, each phase vs "
        "baseline within groups, stimulated side as a covariate, the 1-min time course as a "
        "mixed model group x minute with a random animal, speed and immobility in the "
        "stimulated compartment) are Holm-corrected; effects come with 95 % CIs (statsmodels). "
        "Sessions of different protocols are refused unless --allow-mixed-protocols; "
        "incomplete, simulated (unless --include-simulated), side-biased, badly tracked and "
        "audit-failing sessions are excluded and listed; n < 5 per group gives a warning. "
        "Writes stats.csv, stats.md/html, animals.csv, excluded.csv, timecourse.csv, "
        "sessions_phases.csv and figures. OUT must not exist.",
        "  rig group sessions/* --cohort cohort.csv --out results/rtpp-cohort1\n"
        "  rig group sessions/* --cohort cohort.csv --declare group.yaml --out results/c1\n"
        "  rig group --index data --query 'protocol=rtpp complete' --cohort cohort.csv --out results/c2\n"
        "  (group.yaml: primary: {endpoint: difference_score, phase: test, baseline_phase: "
        "baseline, groups: [ChR2, eYFP]}\n"
        "               exclusions: {baseline_bias_max_pct: 65, lost_tracking_max_pct: 10})\n",
    )
    g.add_argument("sessions", nargs="*", metavar="SESSION_DIR", help="session folders")
    g.add_argument("--query", metavar="TEXT",
                   help="sessions from the index (rig index), e.g. 'protocol=rtpp complete since=2026-11-01'")
    g.add_argument("--index", default=".", metavar="DIR", help="data root holding the index (default .)")
    src = g.add_mutually_exclusive_group(required=True)
    src.add_argument("--cohort", metavar="CSV", help="cohort file (animal_id, group, ...)")
    src.add_argument("--groups", metavar="FILE.csv", help="older CSV with columns animal,group")
    g.add_argument("--declare", metavar="group.yaml",
                   help="the declared primary endpoint and exclusion limits")
    g.add_argument("--allow-mixed-protocols", action="store_true",
                   help="pool sessions of different protocols (name, version or file differ)")
    g.add_argument("--include-simulated", action="store_true",
                   help="include simulated sessions (synthetic, replayed or mock board)")
    g.add_argument("--out", required=True, metavar="DIR", help="output folder (must not exist)")
    g.set_defaults(func=_group)

    n = add_command(
        subparsers,
        "export-nwb",
        "export a session to Neurodata Without Borders (NWB)",
        "Write one NWB file with subject and session metadata, position (cm), compartment "
        "occupancy and laser gate windows as time intervals, the optogenetic stimulus site "
        "and series, and the protocol text. Never overwrites an existing file.",
        "  rig export-nwb sessions/2026-11-28_10-22-05_m017_rtpp\n"
        "  rig export-nwb SESSION_DIR --out /data/nwb/m017.nwb\n",
    )
    n.add_argument("session_dir", metavar="SESSION_DIR", help="a session folder")
    n.add_argument("--out", default=None, metavar="FILE.nwb",
                   help="output file (default SESSION_DIR/<folder name>.nwb)")
    n.set_defaults(func=_export_nwb)
