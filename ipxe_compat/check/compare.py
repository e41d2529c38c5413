"""``check``: find ROM size changes that break live migration, before they reach the archive. Pure.

Only the bucket matters (docs/cli.md): QEMU allocates ``romsize`` if the device has one (QEMU
>= 6.0; the file must not be larger), else pow2ceil(file size), and migration refuses a block of
another size. Ubuntu's check-rom-sizes gets a 262144-byte ROM wrong (it says 512k) and loops on a
0-byte one; here an empty ROM is an error and exactly 2**n bytes is the 2**n bucket.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from ..core.names import pair, select
from ..core.outcome import Outcome, aligned
from ..core.rom import not_empty
from ..core.sizes import bucket, human, parse_size, size_label
from ..errors import SourceError, UsageError
from ..input import RomFile, RomSet
from .report import invalid

__all__ = ["Expectation", "compare_roms", "guard_roms", "parse_expectation"]


class Verdict(StrEnum):
    OK = "ok"
    BREAKS = "breaks-migration"
    ONLY_OLD = "only-old"
    ONLY_NEW = "only-new"


def qemu_block(rom: RomFile, romsize: int | None = None) -> int:
    """The RAM block QEMU gives ``rom``: ``romsize`` if pinned, else pow2ceil(size)."""
    not_empty(rom.data, rom.location)
    if romsize is None:
        return bucket(rom.size)
    if rom.size > romsize:
        raise SourceError(f"{rom.size} bytes is too large for ROM size {romsize}",
                          path=rom.location)
    return romsize


@dataclass(frozen=True)
class Row:
    """One ROM name across the two sets."""

    name: str
    old: RomFile | None
    new: RomFile | None
    old_bucket: int | None
    new_bucket: int | None
    verdict: Verdict


def compare_roms(old: RomSet, new: RomSet, globs: Sequence[str] = (),
                 romsize: int | None = None) -> Outcome:
    """``check OLD NEW``: every ROM's verdict; a ROM that changes bucket is a problem."""
    rows = compare(old, new, globs, romsize)
    problems = tuple(f"{row.name}: QEMU bucket changes from {size_label(row.old_bucket or 0)} to "
                     f"{size_label(row.new_bucket or 0)}, which breaks live migration"
                     for row in rows if row.verdict == Verdict.BREAKS)
    # validated as inspect does: a structurally broken ROM of the right size must not pass
    problems += tuple(invalid([rom for row in rows for rom in (row.old, row.new) if rom]))
    return Outcome(compare_json(rows, _label(old), _label(new)), compare_table(rows), problems)


def guard_roms(romset: RomSet, expectations: Sequence[Expectation], at_most: bool = False,
               romsize: int | None = None) -> Outcome:
    """``check --expect GLOB=SIZE SOURCE``: a ROM outside its expected bucket is a problem."""
    rows = guard(romset, expectations, at_most, romsize)
    problems = tuple(f"{row.rom.location}: in the {size_label(row.bucket)} bucket, expected "
                     f"{'at most ' if at_most else ''}{size_label(row.expected)}"
                     for row in rows if not row.ok)
    problems += tuple(invalid(list({row.rom.location: row.rom for row in rows}.values())))
    return Outcome(guard_json(rows, at_most), guard_table(rows, at_most), problems)


def _label(romset: RomSet) -> str:
    return ", ".join(origin.spec for origin in romset.origins)


def compare(old: RomSet, new: RomSet, globs: Sequence[str] = (),
            romsize: int | None = None) -> list[Row]:
    """A row per ROM name: breaking rows first, then ok, only-old, only-new; by name within.

    ROMs pair by :func:`~ipxe_compat.core.names.pair`; ``globs`` select by the row's name (the
    original's, for a compat pair)."""
    old_by, new_by = old.by_name(), new.by_name()
    pairs = {_base_name(o, n): (o, n) for o, n in pair(old_by, new_by)}
    chosen = select(pairs, globs)
    rows = []
    for name, (old_name, new_name) in pairs.items():
        if name not in chosen:
            continue
        o = old_by[old_name] if old_name else None
        n = new_by[new_name] if new_name else None
        ob = qemu_block(o, romsize) if o else None
        nb = qemu_block(n, romsize) if n else None
        if o is None:
            verdict = Verdict.ONLY_NEW
        elif n is None:
            verdict = Verdict.ONLY_OLD
        else:
            verdict = Verdict.OK if ob == nb else Verdict.BREAKS
        rows.append(Row(name, o, n, ob, nb, verdict))
    order = [Verdict.BREAKS, Verdict.OK, Verdict.ONLY_OLD, Verdict.ONLY_NEW]
    return sorted(rows, key=lambda r: (order.index(r.verdict), r.name))


def _base_name(old: str | None, new: str | None) -> str:
    """The shorter of the two names, i.e. the one without a compat prefix."""
    names = [n for n in (old, new) if n]
    return min(names, key=len)


@dataclass(frozen=True)
class Expectation:
    glob: str
    size: int


@dataclass(frozen=True)
class GuardRow:
    rom: RomFile
    bucket: int
    expected: int
    ok: bool


def parse_expectation(text: str) -> Expectation:
    """``efi-*.rom=256k`` -> Expectation('efi-*.rom', 262144)."""
    glob, sep, size = text.rpartition("=")
    if not sep or not glob:
        raise UsageError(f"--expect {text!r} is not GLOB=SIZE (e.g. 'efi-*.rom=256k')")
    return Expectation(glob, parse_size(size))


def guard(romset: RomSet, expectations: Sequence[Expectation], at_most: bool = False,
          romsize: int | None = None) -> list[GuardRow]:
    """Every ROM matching an expectation must be in its bucket (or smaller, with at_most)."""
    rows = []
    for expectation in expectations:
        matched = select((rom.name for rom in romset.roms), [expectation.glob], "--expect")
        for rom in (rom for rom in romset.roms if rom.name in matched):
            block = qemu_block(rom, romsize)
            ok = block <= expectation.size if at_most else block == expectation.size
            rows.append(GuardRow(rom, block, expectation.size, ok))
    return rows


# --- output -------------------------------------------------------------------------------

def _size_cell(rom: RomFile | None) -> str:
    return "-" if rom is None else f"{rom.size} ({human(rom.size)})"


def _bucket_cell(block: int | None) -> str:
    return "-" if block is None else human(block)


def compare_table(rows: Sequence[Row]) -> str:
    """An aligned table; breaking rows come first and are marked with ``!!``."""
    body = [
        ["!!" if row.verdict == Verdict.BREAKS else "", row.name, _size_cell(row.old),
         _bucket_cell(row.old_bucket), _size_cell(row.new), _bucket_cell(row.new_bucket),
         row.verdict.value]
        for row in rows
    ]
    counts = ", ".join(f"{n} {verdict}" for verdict, n in summary(rows).items())
    return aligned(["", "ROM", "OLD SIZE", "OLD BUCKET", "NEW SIZE", "NEW BUCKET", "VERDICT"],
                  body) + f"{len(rows)} ROMs: {counts}\n"


def summary(rows: Sequence[Row]) -> dict[str, int]:
    counts = {verdict.value: 0 for verdict in Verdict}
    for row in rows:
        counts[row.verdict.value] += 1
    return counts


def compare_json(rows: Sequence[Row], old: str, new: str) -> dict[str, Any]:
    return {
        "old": old,
        "new": new,
        "roms": [
            {
                "name": row.name,
                "old_size": row.old.size if row.old else None,
                "old_bucket": row.old_bucket,
                "new_size": row.new.size if row.new else None,
                "new_bucket": row.new_bucket,
                "verdict": row.verdict.value,
            }
            for row in rows
        ],
        "summary": {
            **summary(rows),
            "breaks_migration": any(r.verdict == Verdict.BREAKS for r in rows),
        },
    }


def guard_table(rows: Sequence[GuardRow], at_most: bool) -> str:
    body = [
        ["" if row.ok else "!!", row.rom.name, _size_cell(row.rom), _bucket_cell(row.bucket),
         ("<= " if at_most else "") + size_label(row.expected), "ok" if row.ok else "WRONG BUCKET"]
        for row in sorted(rows, key=lambda r: (r.ok, r.rom.name))
    ]
    return aligned(["", "ROM", "SIZE", "BUCKET", "EXPECTED", "RESULT"], body)


def guard_json(rows: Sequence[GuardRow], at_most: bool) -> dict[str, Any]:
    return {
        "roms": [{"name": r.rom.name, "size": r.rom.size, "bucket": r.bucket,
                  "expected": r.expected, "at_most": at_most, "ok": r.ok} for r in rows],
        "summary": {"checked": len(rows), "wrong_bucket": sum(not r.ok for r in rows)},
    }
