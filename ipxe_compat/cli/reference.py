"""The command reference as data, read from the click objects: what ``--help`` prints, for the man
pages (debian/make-manpages renders it as troff) and docs/commands.md (rendered here as Markdown).

Both come from the same objects as ``--help``, so neither can drift from it: tests/test_docs.py
fails when the committed docs/commands.md differs from :func:`markdown`, and says how to write it
again::

    .venv/bin/python -m ipxe_compat.cli.reference docs/commands.md
"""

from __future__ import annotations

import inspect
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import click

from . import PROG, cli

__all__ = ["Block", "Page", "markdown", "pages"]


@dataclass(frozen=True)
class Block:
    """A paragraph of help text: ``verbatim`` (click's ``\\b``, examples and tables) keeps its
    lines; any other is running text, one line."""

    verbatim: bool
    lines: tuple[str, ...]


@dataclass(frozen=True)
class Page:
    """One command as ``--help`` describes it."""

    path: str  # "ipxe-compat generate"
    summary: str  # the one-line help, without its full stop
    usage: str  # what follows the path in the usage line
    blocks: tuple[Block, ...]
    options: tuple[tuple[str, str], ...]  # (tag, help): "-o, --output OUTDIR", "Directory ..."
    commands: tuple[tuple[str, str], ...]  # a group's subcommands: (name, short help)

    @property
    def title(self) -> str:
        return self.path.replace(" ", "-")


def _blocks(help_text: str) -> tuple[Block, ...]:
    found = []
    for block in re.split(r"\n\s*\n", inspect.cleandoc(help_text).partition("\f")[0].strip()):
        lines = block.splitlines()
        if lines[0].strip() == "\b":
            found.append(Block(True, tuple(lines[1:])))
        else:
            found.append(Block(False, (" ".join(line.strip() for line in lines),)))
    return tuple(found)


def _page(command: click.Command, ctx: click.Context) -> Page:
    records = [r for r in (p.get_help_record(ctx) for p in command.get_params(ctx)
                           if isinstance(p, click.Option)) if r]
    subcommands: tuple[tuple[str, str], ...] = ()
    if isinstance(command, click.Group):
        subcommands = tuple((name, sub.get_short_help_str(limit=200))
                            for name, sub in sorted(command.commands.items()) if not sub.hidden)
    return Page(ctx.command_path, command.get_short_help_str(limit=200).rstrip("."),
                " ".join(command.collect_usage_pieces(ctx)), _blocks(command.help or ""),
                tuple(records), subcommands)


def pages() -> list[Page]:
    """``ipxe-compat`` itself, then each command by name."""
    top = click.Context(cli, info_name=PROG, **cli.context_settings)
    found = [_page(cli, top)]
    for name, command in sorted(cli.commands.items()):
        if not command.hidden:
            found.append(_page(command, click.Context(command, info_name=name, parent=top)))
    return found


def _cell(text: str) -> str:
    return text.replace("|", r"\|")


def markdown() -> str:
    """docs/commands.md."""
    out = ["# Command reference", "",
           "Generated from the click definitions by `python -m ipxe_compat.cli.reference` (as the",
           "man pages are, by debian/make-manpages): edit the help in `ipxe_compat/cli/`, then",
           "write this file again. tests/test_docs.py holds it to the code.", ""]
    listed = pages()
    out += [f"- [`{page.path}`](#{page.title}): {page.summary}" for page in listed]
    for page in listed:
        out += ["", f'<a id="{page.title}"></a>', "", f"## `{page.path}`", "", "```",
                f"{page.path} {page.usage}", "```"]
        for block in page.blocks:
            out += ["", *(["```", *block.lines, "```"] if block.verbatim else block.lines)]
        if page.options:
            out += ["", "| option | meaning |", "|---|---|",
                    *(f"| `{_cell(tag)}` | {_cell(text)} |" for tag, text in page.options)]
        if page.commands:
            out += ["", "| command | what it does |", "|---|---|",
                    *(f"| [`{name}`](#{PROG}-{name}) | {_cell(text)} |"
                      for name, text in page.commands)]
    return "\n".join(out) + "\n"


def main(argv: list[str]) -> None:
    """``python -m ipxe_compat.cli.reference [FILE]``: write docs/commands.md (or stdout)."""
    text = markdown()
    if argv:
        Path(argv[0]).write_text(text)
    else:
        sys.stdout.write(text)


if __name__ == "__main__":
    main(sys.argv[1:])
