"""Helpers shared by the subcommand modules."""

from __future__ import annotations

import argparse
import textwrap


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Descriptions wrapped to the terminal's width (blank lines keep paragraphs apart);
    the examples epilog shown exactly as written, so each example can be copied."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        if text.lstrip().startswith(("examples:", "example:")):
            return super()._fill_text(text, width, indent)
        return "\n\n".join(
            textwrap.fill(
                " ".join(paragraph.split()), width, initial_indent=indent, subsequent_indent=indent
            )
            for paragraph in text.split("\n\n")
        )


def add_command(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
    name: str,
    help_text: str,
    description: str,
    examples: str,
) -> argparse.ArgumentParser:
    """Add a (sub)command whose --help shows a description and examples (one per line,
    each starting with ``rig``; tests/cli/test_help.py parses every one)."""
    return subparsers.add_parser(
        name,
        help=help_text,
        description=description,
        epilog="examples:\n" + examples,
        formatter_class=HelpFormatter,
    )
