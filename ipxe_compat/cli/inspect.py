"""``ipxe-compat inspect``: describe and validate every ROM of the sources."""

from __future__ import annotations

import click

from .common import CONTEXT, globs, report

__all__ = ["inspect"]


@click.command(context_settings=CONTEXT,
               short_help="Show each ROM's images, ids, checksums and padding; validate it.")
@click.argument("sources", nargs=-1, required=True, metavar="SOURCE...")
@click.option("--roms", "patterns", multiple=True, metavar="GLOB", callback=globs,
              help="Only ROMs whose file name matches GLOB (repeatable). Default: all.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of text.")
def inspect(sources: tuple[str, ...], patterns: tuple[str, ...], as_json: bool) -> None:
    """Show the structure of every ROM: images, ids, checksums, EFI headers, padding.

    Exit 1 if any ROM is structurally invalid (each named on stderr with its byte offset).

    {sources}

    \b
    Example:
      ipxe-compat inspect ipxe-qemu_1.0.0+git-20190125.36a4c85-5.1_all.deb --roms 'efi-*'
    """
    from ..check import inspect_roms
    from ..input import read_sources

    report(inspect_roms(read_sources(sources), patterns), as_json)

