"""``ipxe-compat check``: compare firmware sets by each file's block rule (two, or a chain of
release steps), or guard buckets at build time."""

from __future__ import annotations

import click

from ..errors import UsageError
from .common import CONTEXT, globs, report

__all__ = ["check"]


@click.command(context_settings=CONTEXT,
               short_help="Find firmware size changes that break live migration (also a build "
               "guard).")
@click.argument("sources", nargs=-1, required=True, metavar="OLD NEW [NEWER]... | SOURCE")
@click.option("--expect", "expectations", multiple=True, metavar="GLOB=SIZE",
              help="Guard mode: every file matching GLOB must have a block of SIZE (an option "
              "ROM's bucket; a -bios or pflash image's exact size) (repeatable).")
@click.option("--at-most", is_flag=True, help="Guard mode: SIZE or a smaller bucket is fine too.")
@click.option("--roms", "patterns", multiple=True, metavar="GLOB", callback=globs,
              help="Compare mode: only ROMs whose name matches GLOB (repeatable). Default: all.")
@click.option("--romsize", metavar="SIZE",
              help="Assume QEMU's romsize= property pins every ROM block to SIZE (e.g. 256k).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of a table.")
def check(sources: tuple[str, ...], expectations: tuple[str, ...], at_most: bool,
          patterns: tuple[str, ...], romsize: str | None, as_json: bool) -> None:
    """Catch firmware size changes that break QEMU live migration.

    \b
    Compare mode:  ipxe-compat check OLD NEW [NEWER]...
      Pairs files by name (a compat name such as 256k-efi-virtio.rom pairs with
      efi-virtio.rom) and judges each by its class: an option ROM by its QEMU bucket,
      a -bios or pflash image (OVMF.fd, OVMF_CODE.fd) by its exact size, a fw_cfg ROM
      (kvmvapic.bin) by its page-rounded size. Verdicts: ok, breaks-migration, removed
      (guests using it can neither start nor migrate), invalid (a structurally broken
      file, as inspect finds it), only-old (a compat set does not carry it), only-new.
      Exit 1 if any file breaks migration, is removed or is invalid.
      More than two sources: each step (OLD -> NEW, NEW -> NEWER, ...) in turn; --json
      then prints {"steps": [...]}, one object per step.

    \b
    Guard mode:  ipxe-compat check --expect 'efi-*.rom=256k' SOURCE
      For debian/rules: every ROM matching GLOB must be in bucket SIZE (or smaller with
      --at-most); a SIZE without k/M/G is bytes. A -bios or pflash image's block is its
      exact size: --expect 'OVMF_CODE_4M.fd=3568k'. Exit 1 on any mismatch or invalid
      file, 2 if a GLOB matches nothing.

    The bucket is QEMU's: pow2ceil(file size), so 262144 bytes is 256k and 262145 is 512k.

    {sources}
    """
    from ..check import compare_chain, compare_roms, guard_roms, parse_expectation
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
    if len(sources) < len(("OLD", "NEW")):
        raise UsageError(f"compare mode takes two sources or more, OLD NEW [NEWER]... "
                         f"(got {len(sources)})")
    sets = [read_sources([source]) for source in sources]
    if len(sets) == len(("OLD", "NEW")):
        report(compare_roms(sets[0], sets[1], patterns, pinned), as_json)
    else:
        report(compare_chain(sets, patterns, pinned), as_json)

