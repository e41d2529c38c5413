"""``check``: find ROM size changes that break live migration, before they reach the archive. Pure.

Only the bucket matters (background.md): QEMU allocates ``romsize`` if the device has one (QEMU >=
6.0; the file must not be larger), else pow2ceil(file size), and migration refuses a block of another
size. Ubuntu's check-rom-sizes gets a 262144-byte ROM wrong (it says 512k) and loops on a 0-byte
one; here an empty ROM is an error and exactly 2**n bytes is the 2**n bucket.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

from . import fields
from .errors import SourceError, UsageError
from .fields import excerpt
from .sizes import bucket, human, parse_size, size_label
from .sources import RomFile, RomSet
from .tables import aligned


class Verdict(str, Enum):
    OK = "ok"
    BREAKS = "breaks-migration"
    ONLY_OLD = "only-old"
    ONLY_NEW = "only-new"


def qemu_block(rom: RomFile, romsize: int | None = None) -> int:
    """The RAM block QEMU gives ``rom``: ``romsize`` if pinned, else pow2ceil(size)."""
    if rom.size == 0:
        raise SourceError("ROM file is empty; QEMU refuses it", path=rom.location)
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


def match_names(old: Sequence[str], new: Sequence[str]) -> list[tuple[str | None, str | None]]:
    """Pair names, the same way whatever the order: equal names first, then a name with its
    compat form (``256k-efi-virtio.rom`` with ``efi-virtio.rom``). A name with two possible
    partners is ambiguous: it is named (exit 2), never decided by set order."""
    exact = sorted(set(old) & set(new))
    old_left = sorted(set(old) - set(exact))
    new_left = sorted(set(new) - set(exact))

    def related(a: str, b: str) -> bool:
        return a.endswith("-" + b) or b.endswith("-" + a)

    partners = {name: [n for n in new_left if related(name, n)] for name in old_left}
    for name in new_left:
        claims = [o for o in old_left if related(o, name)]
        if len(claims) > 1:
            raise UsageError(f"ambiguous pairing: {name} could pair with {' or '.join(claims)}")
    pairs: list[tuple[str | None, str | None]] = [(name, name) for name in exact]
    for name in old_left:
        if len(partners[name]) > 1:
            raise UsageError(f"ambiguous pairing: {name} could pair with "
                             f"{' or '.join(partners[name])}")
        pairs.append((name, partners[name][0] if partners[name] else None))
    paired = {n for _, n in pairs}
    pairs.extend((None, name) for name in new_left if name not in paired)
    return pairs


def compare(old: RomSet, new: RomSet, globs: Sequence[str] = (),
            romsize: int | None = None) -> list[Row]:
    """A row per ROM name: breaking rows first, then ok, only-old, only-new; by name within."""
    old_by, new_by = old.by_name(), new.by_name()
    rows = []
    for old_name, new_name in match_names(sorted(old_by), sorted(new_by)):
        name = _base_name(old_name, new_name)
        if globs and not any(fnmatch.fnmatchcase(name, g) for g in globs):
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
    if globs and not rows:
        raise UsageError(f"--roms {' '.join(globs)} matches no ROM in either set")
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
        raise UsageError(f"--expect {excerpt(text)} is not GLOB=SIZE (e.g. 'efi-*.rom=256k')")
    fields.glob(glob, "--expect pattern")
    return Expectation(glob, parse_size(size))


def guard(romset: RomSet, expectations: Sequence[Expectation], at_most: bool = False,
          romsize: int | None = None) -> list[GuardRow]:
    """Every ROM matching an expectation must be in its bucket (or smaller, with at_most)."""
    rows = []
    for expectation in expectations:
        matched = [r for r in romset.roms if fnmatch.fnmatchcase(r.name, expectation.glob)]
        if not matched:
            names = ", ".join(r.name for r in romset.roms)
            raise UsageError(f"--expect {expectation.glob!r} matches no ROM (there are: {names})")
        for rom in matched:
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
            {"name": row.name,
             "old_size": row.old.size if row.old else None, "old_bucket": row.old_bucket,
             "new_size": row.new.size if row.new else None, "new_bucket": row.new_bucket,
             "verdict": row.verdict.value}
            for row in rows
        ],
        "summary": {**summary(rows), "breaks_migration": any(r.verdict == Verdict.BREAKS for r in rows)},
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
