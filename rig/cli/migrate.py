"""``rig migrate FILE``: write a schema-2 copy of a schema-1 protocol (times in seconds)."""

from __future__ import annotations

import argparse
from pathlib import Path

from rig.cli._common import add_command

ORDER = 22


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = add_command(
        subparsers,
        "migrate",
        help_text="write a schema-2 copy of a schema-1 protocol",
        description=(
            "Schema 1 counted decision times in frames (debounce_frames, "
            "tracking_loss_grace_frames, max_jump_cm per frame); schema 2 states them in "
            "seconds and cm/s so dropped frames cannot stretch them. This writes a copy with "
            "the times converted at the protocol's tracking.camera_fps (comments kept), "
            "checks that the copy loads to the same protocol, and never overwrites a file. "
            "Schema-1 files still run: they are converted the same way on loading and the "
            "conversion is written to session.json."
        ),
        examples=(
            "  rig migrate protocols/old.yaml                 writes protocols/old.schema2.yaml\n"
            "  rig migrate protocols/old.yaml --out new.yaml\n"
        ),
    )
    parser.add_argument("path", metavar="FILE", help="schema-1 protocol file")
    parser.add_argument("--out", metavar="FILE", help="where to write (default FILE.schema2.yaml)")
    parser.set_defaults(func=run)


def migrate_file(path: Path, out: Path | None = None) -> tuple[Path, tuple[str, ...]]:
    """Write the schema-2 copy of ``path``; return (written path, conversion notes)."""
    from rig.errors import ConfigError
    from rig.protocol.load import parse_protocol
    from rig.protocol.migrate import convert_data, migrate_text
    from rig.protocol.yamlfile import ProtocolFileError, read_yaml

    doc = read_yaml(path, ProtocolFileError, "protocol")
    if doc.data.get("schema_version") != 1:
        raise ConfigError(
            f"{path}: schema_version: {doc.data.get('schema_version')!r}; only schema-1 files "
            "need migrating"
        )
    before = parse_protocol(path)  # the schema-1 file must be valid in the first place
    conversion = convert_data(doc.data)
    target = out if out is not None else path.with_name(f"{path.stem}.schema2.yaml")
    if target.exists():
        raise ConfigError(f"--out: {target} already exists (nothing is overwritten)")
    text = migrate_text(doc.raw.decode("utf-8"), conversion)
    tmp = target.with_name(f".{target.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    try:
        after = parse_protocol(tmp)
        if after != before:
            raise ConfigError(
                f"{path}: the rewritten copy does not load to the same protocol; convert by hand "
                "(see docs/protocol.md)"
            )
        tmp.rename(target)
    finally:
        tmp.unlink(missing_ok=True)
    return target, conversion.notes


def run(args: argparse.Namespace) -> int:
    target, notes = migrate_file(Path(args.path), Path(args.out) if args.out else None)
    print(f"wrote {target} (schema 2)")
    for note in notes:
        print(f"  {note}")
    return 0
