"""``rig report``, ``rig group`` and ``rig export-nwb``: analysis of recorded sessions."""

from __future__ import annotations

import argparse
from pathlib import Path

from rig.cli._common import add_command

ORDER = 60


def _report(args: argparse.Namespace) -> int:
    import json

    from rig.analysis.report import build_report
    from rig.analysis.summary import format_summary_table

    html_path = build_report(Path(args.session_dir), args.out, bias_threshold=args.bias_threshold)
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
    out = run_group(list(dict.fromkeys(sessions)), Path(args.groups), Path(args.out))
    print(out.markdown_text)
    print(f"group analysis written to {out.out_dir}")
    return 0


def _export_nwb(args: argparse.Namespace) -> int:
    from rig.analysis.nwb import export_nwb

    path = export_nwb(Path(args.session_dir), Path(args.out) if args.out else None)
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
        "compare groups of animals (tidy CSV, paired plots, statistics)",
        "Collect per-phase metrics of many sessions into one tidy CSV (one row per session "
        "x phase), plot baseline -> test stim %% per animal for each group, and test: paired "
        "t-test and Wilcoxon within each group (baseline vs test stim %%), Welch t-test and "
        "Mann-Whitney U between groups on the difference score, with effect sizes and n. "
        "Sessions are matched to groups by session.json animal_id. OUT must not exist.",
        "  rig group sessions/* --groups groups.csv --out results/rtpp-cohort1\n"
        "  rig group --index data --query 'protocol=rtpp complete' --groups groups.csv --out results/c1\n"
        "  (groups.csv:  animal,group / m017,ChR2 / m018,eYFP ...)\n",
    )
    g.add_argument("sessions", nargs="*", metavar="SESSION_DIR", help="session folders")
    g.add_argument("--query", metavar="TEXT",
                   help="sessions from the index (rig index), e.g. 'protocol=rtpp complete since=2026-11-01'")
    g.add_argument("--index", default=".", metavar="DIR", help="data root holding the index (default .)")
    g.add_argument("--groups", required=True, metavar="FILE.csv",
                   help="CSV with columns animal,group")
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
