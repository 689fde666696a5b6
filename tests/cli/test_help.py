"""Every `rig` command's --help: a description, examples that parse as written, units.

Issue 18: `rig --help` showed `rig replay video.mp4 --protocol ... --speed max` without the
required --out, `rig group --help` printed a literal `%%`, and `rig board ports/info/
test-pulse` had no description or examples. These tests walk the real parser.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import shlex
from collections.abc import Iterator

import pytest

from rig.cli import build_parser


def _subparsers(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            yield from action.choices.values()


def all_parsers() -> list[argparse.ArgumentParser]:
    """The top-level parser and every command and subcommand, depth first."""
    out: list[argparse.ArgumentParser] = []

    def walk(parser: argparse.ArgumentParser) -> None:
        out.append(parser)
        for sub in _subparsers(parser):
            walk(sub)

    walk(build_parser())
    return out


def examples(parser: argparse.ArgumentParser) -> list[str]:
    """Command lines in the epilog: lines starting with `rig `, `\\` continuations joined."""
    text = parser.epilog or ""
    commands: list[str] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if pending:
            line = pending + " " + line
            pending = ""
        elif not line.startswith("rig "):
            continue
        if line.endswith("\\"):
            pending = line[:-1].strip()
            continue
        # An explanation after three spaces is not part of the command, nor a shell
        # redirection or pipe.
        command = line.split("   ")[0].strip()
        for operator in (" > ", " | ", " < ", " && "):
            command = command.split(operator)[0]
        commands.append(command.strip())
    return commands


PARSERS = all_parsers()
IDS = [p.prog for p in PARSERS]


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = build_parser()
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        try:
            return parser.parse_args(argv)
        except SystemExit:
            raise AssertionError(f"`rig {shlex.join(argv)}` does not parse: {err.getvalue()}") from None


@pytest.mark.parametrize("parser", PARSERS, ids=IDS)
def test_every_command_has_a_description_and_examples(parser: argparse.ArgumentParser) -> None:
    assert parser.description and len(parser.description) > 20, parser.prog
    assert examples(parser), f"{parser.prog}: no `rig ...` example in its --help"


@pytest.mark.parametrize("parser", PARSERS, ids=IDS)
def test_every_example_parses_with_the_real_parser(parser: argparse.ArgumentParser) -> None:
    for command in examples(parser):
        argv = shlex.split(command)[1:]
        args = _parse(argv)
        assert getattr(args, "func", None) is not None, f"{command}: names no command"


def test_replay_example_without_out_is_caught() -> None:
    """The example the old `rig --help` showed fails to parse (--out is required)."""
    with pytest.raises(AssertionError, match="--out"):
        _parse(shlex.split("replay video.mp4 --protocol protocols/rtpp_redondo2014.yaml --speed max"))


@pytest.mark.parametrize("parser", PARSERS, ids=IDS)
def test_help_renders_without_format_escapes(parser: argparse.ArgumentParser) -> None:
    text = parser.format_help()
    assert "%%" not in text, parser.prog
    assert "%(" not in text, parser.prog


@pytest.mark.parametrize("parser", PARSERS, ids=IDS)
def test_every_option_has_help_and_quantities_have_units(parser: argparse.ArgumentParser) -> None:
    units = ("s)", " s ", " s,", "ms", "Hz", "cm", "px", "fraction", "factor", "frames",
             "x real time", "mW", "%", "seconds", " us", "dB")
    for action in parser._actions:
        if isinstance(action, (argparse._HelpAction, argparse._VersionAction,
                               argparse._SubParsersAction)):
            continue
        if action.help == argparse.SUPPRESS:
            continue
        name = action.option_strings[-1] if action.option_strings else action.dest
        assert action.help, f"{parser.prog} {name}: no help text"
        if action.type in (float, int) and action.choices is None:
            assert any(u in action.help for u in units) or "count" in action.help or \
                "seed" in action.help or "number" in action.help, \
                f"{parser.prog} {name}: a number without a unit in its help: {action.help!r}"
