"""``ipxe-compat check``: compare two ROM sets by QEMU bucket, or guard buckets at build time."""

from __future__ import annotations

import click

from ..errors import UsageError
from .common import CONTEXT, globs, report

__all__ = ["check"]


@click.command(context_settings=CONTEXT,
               short_help="Find ROM size changes that break live migration (also a build guard).")
@click.argument("sources", nargs=-1, required=True, metavar="OLD NEW | SOURCE")
@click.option("--expect", "expectations", multiple=True, metavar="GLOB=SIZE",
              help="Guard mode: every ROM matching GLOB must be in bucket SIZE (repeatable).")
@click.option("--at-most", is_flag=True, help="Guard mode: SIZE or a smaller bucket is fine too.")
@click.option("--roms", "patterns", multiple=True, metavar="GLOB", callback=globs,
              help="Compare mode: only ROMs whose name matches GLOB (repeatable). Default: all.")
@click.option("--romsize", metavar="SIZE",
              help="Assume QEMU's romsize= property pins every ROM block to SIZE (e.g. 256k).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of a table.")
def check(sources: tuple[str, ...], expectations: tuple[str, ...], at_most: bool,
          patterns: tuple[str, ...], romsize: str | None, as_json: bool) -> None:
    """Catch ROM size changes that break QEMU live migration.

    \b
    Compare mode:  ipxe-compat check OLD NEW
      Pairs ROMs by file name (a compat name such as 256k-efi-virtio.rom pairs with
      efi-virtio.rom) and gives each a verdict: ok (same QEMU bucket), breaks-migration,
      only-old or only-new. Exit 1 if any ROM breaks migration or is invalid.

    \b
    Guard mode:  ipxe-compat check --expect 'efi-*.rom=256k' SOURCE
      For debian/rules: every ROM matching GLOB must be in bucket SIZE (or smaller with
      --at-most). Exit 1 on any mismatch or invalid ROM, 2 if a GLOB matches nothing.

    The bucket is QEMU's: pow2ceil(file size), so 262144 bytes is 256k and 262145 is 512k.

    {sources}
    """
    from ..check import compare_roms, guard_roms, parse_expectation
    from ..core.sizes import parse_size
    from ..input import read_sources

    pinned = parse_size(romsize) if romsize is not None else None
    if expectations:
        if len(sources) != 1 or patterns:
            raise UsageError("guard mode (--expect) takes one SOURCE and no --roms")
        wanted = [parse_expectation(text) for text in expectations]  # before reading SOURCE
        report(guard_roms(read_sources(sources), wanted, at_most, pinned), as_json)
        return
    if at_most:
        raise UsageError("--at-most goes with --expect")
    if len(sources) != len(("OLD", "NEW")):
        raise UsageError(f"compare mode takes two sources, OLD and NEW (got {len(sources)})")
    old, new = (read_sources([source]) for source in sources)
    report(compare_roms(old, new, patterns, pinned), as_json)

