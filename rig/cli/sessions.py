"""``rig index`` and ``rig sessions list``: find sessions without knowing folder names."""

from __future__ import annotations

import argparse
from pathlib import Path

from typing import TYPE_CHECKING

from rig.cli._common import add_command

if TYPE_CHECKING:
    from rig.index import Query

ORDER = 65


def _cmd_index(args: argparse.Namespace) -> int:
    from rig.index import SessionIndex

    with SessionIndex(Path(args.root)).open() as index:
        if args.groups:
            n = index.set_groups(Path(args.groups))
            print(f"groups: {n} animal(s) from {args.groups}")
        stats = index.update()
        for error in stats.errors:
            print(f"warning: not indexed: {error}")
        print(f"index {index.path}: {stats.describe()}")
    return 0


def query_from_args(args: argparse.Namespace) -> Query:
    """A ``rig.index.Query`` from --query text and/or the individual flags (flags win)."""
    import dataclasses

    from rig.index import Query, check_date, parse_query

    query = parse_query(args.query) if getattr(args, "query", None) else Query()
    for name in ("animal", "protocol", "since", "until", "group"):
        value = getattr(args, name, None)
        if value is not None:
            if name in ("since", "until"):
                check_date(f"--{name}", value)
            query = dataclasses.replace(query, **{name: value})
    if getattr(args, "complete", False):
        query = dataclasses.replace(query, complete=True)
    return query


def _cmd_list(args: argparse.Namespace) -> int:
    from rig.index import SessionIndex, format_sessions_table

    query = query_from_args(args)
    with SessionIndex(Path(args.index)).open(create=False) as index:
        if args.update:
            index.update()
        rows = index.query(query)
    if args.paths:
        for row in rows:
            print(row.path)
    else:
        print(format_sessions_table(rows))
    return 0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = add_command(
        subparsers,
        "index",
        "build or update the session index (SQLite) of a data folder",
        "Walk DIR for session folders and record each one (animal, protocol, dates, end "
        "reason, completeness, group, per-phase results, re-score link) in "
        "DIR/optorig-index.sqlite. Run it again after new sessions: only sessions whose "
        "session.json or summary.json changed are read again; deleted folders are dropped. "
        "The records stay the truth: the index can be deleted and rebuilt.",
        "  rig index data\n  rig index data --groups groups.csv   (animal,group per line)\n",
    )
    p.add_argument("root", metavar="DIR", help="data folder (searched recursively)")
    p.add_argument("--groups", metavar="FILE.csv",
                   help="animal -> group table (columns animal or animal_id, group) for sessions naming none")
    p.set_defaults(func=_cmd_index)

    s = add_command(
        subparsers,
        "sessions",
        "list sessions from the index (by animal, protocol, date, group, completeness)",
        "Query the index built by `rig index`.",
        "  rig sessions list --index data --animal m017\n"
        "  rig sessions list --index data --protocol rtpp-redondo2014 --since 2026-11-01 --complete\n"
        "  rig sessions list --index data --group ChR2 --paths | xargs rig report\n",
    )
    sub = s.add_subparsers(dest="sessions_command", metavar="ACTION", required=True)
    ls = add_command(
        sub, "list", "list matching sessions",
        "List the sessions of the index (`rig index`) matching all filters given: animal, "
        "protocol, dates, group, completeness; --paths prints only their folders.",
        "  rig sessions list --index data --animal m017\n"
        "  rig sessions list --index data --query 'animal=m017 complete' --paths\n",
    )
    ls.add_argument("--index", default=".", metavar="DIR", help="data root holding the index (default .)")
    ls.add_argument("--animal", help="animal ID")
    ls.add_argument("--protocol", help="protocol name (metadata.name)")
    ls.add_argument("--since", metavar="DATE", help="started on or after (2026-11-01 or 2026-11-01T14:00)")
    ls.add_argument("--until", metavar="DATE", help="started on or before (inclusive)")
    ls.add_argument("--group", help="group (from session.json, or rig index --groups)")
    ls.add_argument("--complete", action="store_true", help="only sessions whose summary says complete")
    ls.add_argument("--query", metavar="TEXT", help="the same filters as text, e.g. 'animal=m017 complete'")
    ls.add_argument("--update", action="store_true", help="update the index first")
    ls.add_argument("--paths", action="store_true", help="print only the folders, one per line")
    ls.set_defaults(func=_cmd_list)
