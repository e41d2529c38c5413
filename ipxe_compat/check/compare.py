"""``check``: find firmware size changes that break live migration, before they reach the
archive. Pure.

Each file is judged by its class's rule (core/firmware.py; docs/firmware.md): an option ROM by
its bucket (QEMU allocates ``romsize`` if the device has one, QEMU >= 6.0, else pow2ceil(file
size)), a -bios or pflash image by its exact size, a fw_cfg ROM by its page-rounded size (a
resizeable block, migrated only on pc-i440fx-1.7: a change there is noted, never a failure).
Migration refuses a block of another size. A firmware file of OLD that NEW lacks is ``removed``
(guests that use it can neither start nor migrate), unless NEW is a compat set, which carries
only some files by design (``only-old``). Every file compared or guarded is validated as
``inspect`` validates it: a structurally broken one makes its row ``invalid`` (unless the row
already breaks migration or is removed), never ``ok``. Ubuntu's check-rom-sizes gets a
262144-byte ROM wrong (it says 512k) and loops on a 0-byte one; here an empty file is an error
and exactly 2**n bytes is the 2**n bucket.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from itertools import pairwise
from typing import Any

from ..core import compat
from ..core.firmware import (
    FW_CFG_BLOCK_MACHINES,
    FileClass,
    block_name,
    block_size,
    classify,
    flash_unit,
    migrates,
)
from ..core.names import pair, select
from ..core.outcome import Outcome, aligned
from ..core.rom import not_empty
from ..core.sizes import bucket, human, parse_block_size, size_text
from ..errors import RomFormatError, SourceError, UsageError
from ..input import RomFile, RomSet
from .report import block_fields, error_dicts, file_errors

__all__ = ["Expectation", "compare_chain", "compare_roms", "guard_roms", "parse_expectation"]


class Verdict(StrEnum):
    OK = "ok"
    BREAKS = "breaks-migration"
    REMOVED = "removed"
    ONLY_OLD = "only-old"
    ONLY_NEW = "only-new"
    INVALID = "invalid"  # a file of the row is structurally broken (as inspect finds it)


#: Verdicts that break migration (the summary's ``breaks_migration``).
BREAKING = (Verdict.BREAKS, Verdict.REMOVED)
#: Verdicts that fail the check (exit 1).
FAILING = (*BREAKING, Verdict.INVALID)
#: The table's and the JSON's order of rows: failing first.
ORDER = (Verdict.BREAKS, Verdict.REMOVED, Verdict.INVALID, Verdict.OK, Verdict.ONLY_OLD,
         Verdict.ONLY_NEW)


def qemu_block(rom: RomFile, romsize: int | None = None) -> int:
    """The RAM block QEMU gives ``rom``: an option ROM's ``romsize`` if pinned, else its class's
    rule (pow2ceil for option ROMs, the exact size for -bios and pflash images)."""
    not_empty(rom.data, rom.location)
    if rom.kind is not FileClass.OPTION_ROM:
        return block_size(rom.kind, rom.size) or rom.size
    if romsize is None:
        return bucket(rom.size)
    if rom.size > romsize:
        raise SourceError(f"{rom.size} bytes is too large for ROM size {romsize}",
                          path=rom.location)
    return romsize


@dataclass(frozen=True)
class Row:
    """One file name across the two sets."""

    name: str
    old: RomFile | None
    new: RomFile | None
    old_bucket: int | None  # the block each becomes (a bucket for option ROMs)
    new_bucket: int | None
    verdict: Verdict
    kind: FileClass = FileClass.OPTION_ROM
    note: str = ""
    errors: tuple[RomFormatError, ...] = ()  # of both files, filled by :func:`validated`

    @property
    def block(self) -> str | None:
        """The RAM block's name where the file fixes it (``pc.bios``, ``system.flash0``); None
        for an option ROM, which the loading device names (``ADDR/TYPE.rom``)."""
        return block_name(self.kind, self.name, flash_unit(self.name))


def problem(row: Row) -> str | None:
    """The error line of a row that breaks migration or is removed: the file (NEW's, as it is
    the one that changed), the block and both sizes. An invalid file's lines are its errors."""
    if row.verdict is Verdict.REMOVED and row.old is not None:
        return (f"{row.old.location}: removed ({row.kind.description}): guests that use it can "
                "neither start nor migrate")
    if row.verdict is not Verdict.BREAKS:
        return None
    where = row.new.location if row.new is not None else row.name
    if row.kind is FileClass.OPTION_ROM:
        return (f"{where}: QEMU bucket changes from {size_text(row.old_bucket or 0)} to "
                f"{size_text(row.new_bucket or 0)}, which breaks live migration")
    return (f"{where}: block {row.block} changes from {row.old_bucket} to "
            f"{row.new_bucket} bytes ({row.kind.description}: the file's size, exactly), which "
            "breaks live migration")


def compare_roms(old: RomSet, new: RomSet, globs: Sequence[str] = (),
                 romsize: int | None = None) -> Outcome:
    """``check OLD NEW``: every file's verdict; one that changes block, is removed or is
    structurally invalid is a problem."""
    rows = validated(compare(old, new, globs, romsize))
    problems = tuple(line for row in rows if (line := problem(row)) is not None)
    problems += tuple(str(error) for row in rows for error in row.errors)
    return Outcome(compare_json(rows, _label(old), _label(new)), compare_table(rows), problems)


def validated(rows: Sequence[Row]) -> list[Row]:
    """``rows`` with the structural errors of their files (as inspect finds them): a row that
    would pass becomes ``invalid``, so a broken build of the right size never reads ``ok``; one
    that breaks migration or is removed keeps that verdict and lists the errors too."""
    checked = []
    for row in rows:
        errors = tuple(e for rom in (row.old, row.new) if rom for e in file_errors(rom))
        verdict = Verdict.INVALID if errors and row.verdict not in FAILING else row.verdict
        checked.append(replace(row, verdict=verdict, errors=errors))
    return sorted(checked, key=_order)


def _order(row: Row) -> tuple[int, str]:
    return ORDER.index(row.verdict), row.name


def compare_chain(sets: Sequence[RomSet], globs: Sequence[str] = (),
                  romsize: int | None = None) -> Outcome:
    """``check A B C ...``: each upgrade step (A -> B, B -> C, ...) compared as ``check OLD
    NEW`` does; a problem in any step is a problem. JSON: ``{"steps": [...]}``."""
    steps = [compare_roms(old, new, globs, romsize)
             for old, new in pairwise(sets)]
    text = "\n".join(f"{step.data['old']} -> {step.data['new']}\n{step.text}" for step in steps)
    problems = tuple(f"{step.data['old']} -> {step.data['new']}: {line}"
                     for step in steps for line in step.problems)
    breaks = any(step.data["summary"]["breaks_migration"] for step in steps)
    invalid = any(step.data["summary"][Verdict.INVALID.value] for step in steps)
    return Outcome({"steps": [step.data for step in steps], "breaks_migration": breaks,
                    "invalid": invalid}, text, problems)


def guard_roms(romset: RomSet, expectations: Sequence[Expectation], at_most: bool = False,
               romsize: int | None = None) -> Outcome:
    """``check --expect GLOB=SIZE SOURCE``: a ROM outside its expected bucket, or structurally
    invalid, is a problem."""
    rows = [replace(row, errors=file_errors(row.rom))
            for row in guard(romset, expectations, at_most, romsize)]
    problems = tuple(f"{row.rom.location}: {_where(row)}, expected "
                     f"{'at most ' if at_most else ''}{size_text(row.expected)}"
                     for row in rows if not row.in_bucket)
    # a ROM two expectations match is one file: its errors once
    problems += tuple(dict.fromkeys(str(error) for row in rows for error in row.errors))
    return Outcome(guard_json(rows, at_most), guard_table(rows, at_most), problems)


def _where(row: GuardRow) -> str:
    """An option ROM is in a bucket (pow2ceil); a -bios or pflash image's block is its size."""
    if row.rom.kind is FileClass.OPTION_ROM:
        return f"in the {size_text(row.bucket)} bucket"
    return f"its block is {size_text(row.bucket)}"


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
    # a compat set carries some files of its origin by design: the rest are not removals
    carried_only = compat.is_compat_set(new_by)
    rows = []
    for name, (old_name, new_name) in pairs.items():
        if name not in chosen:
            continue
        o = old_by[old_name] if old_name else None
        n = new_by[new_name] if new_name else None
        kind = classify(name)
        ob = qemu_block(o, romsize) if o else None
        nb = qemu_block(n, romsize) if n else None
        note = ""
        if o is None:
            verdict = Verdict.ONLY_NEW
        elif n is None:
            verdict = Verdict.ONLY_OLD if carried_only else Verdict.REMOVED
        elif ob is not None and nb is not None and migrates(kind, ob, nb):
            verdict = Verdict.OK
            if kind is FileClass.GENROM and ob != nb:
                note = f"fw_cfg data; a block only on {', '.join(FW_CFG_BLOCK_MACHINES)}"
        elif kind is FileClass.GENROM:
            verdict = Verdict.OK  # not migrated on any machine type QEMU >= 8.2 has
            note = (f"fw_cfg data; on {', '.join(FW_CFG_BLOCK_MACHINES)} {ob:#x} does not fit "
                    f"{nb:#x}")
        else:
            verdict = Verdict.BREAKS
        rows.append(Row(name, o, n, ob, nb, verdict, kind, note))
    return sorted(rows, key=_order)


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
    in_bucket: bool
    errors: tuple[RomFormatError, ...] = ()  # filled by guard_roms

    @property
    def ok(self) -> bool:
        """In its expected bucket and structurally valid."""
        return self.in_bucket and not self.errors

    @property
    def result(self) -> str:
        if not self.in_bucket:  # an option ROM's block is a bucket; an image's its size
            return "WRONG BUCKET" if self.rom.kind is FileClass.OPTION_ROM else "WRONG SIZE"
        return "INVALID" if self.errors else "ok"


def parse_expectation(text: str) -> Expectation:
    """``efi-*.rom=256k`` -> Expectation('efi-*.rom', 262144). Any size: an option ROM's
    bucket is a power of two, but a firmware image's block is exactly its size
    (``OVMF_CODE_4M.fd=3568k``); an option ROM never meets another size, and says so."""
    glob, sep, size = text.rpartition("=")
    if not sep or not glob:
        raise UsageError(f"--expect {text!r} is not GLOB=SIZE (e.g. 'efi-*.rom=256k')")
    return Expectation(glob, parse_block_size(size))


def guard(romset: RomSet, expectations: Sequence[Expectation], at_most: bool = False,
          romsize: int | None = None) -> list[GuardRow]:
    """Every ROM matching an expectation must be in its bucket (or smaller, with at_most);
    by size alone (:func:`guard_roms` validates)."""
    rows = []
    for expectation in expectations:
        matched = select((rom.name for rom in romset.roms), [expectation.glob], "--expect")
        for rom in (rom for rom in romset.roms if rom.name in matched):
            if rom.kind is FileClass.OPTION_ROM and expectation.size & (expectation.size - 1):
                raise UsageError(f"--expect {expectation.glob}={size_text(expectation.size)}: "
                                 f"{rom.name} is an option ROM, whose block is a power of two "
                                 "(a bucket); give one, e.g. 256k")
            block = qemu_block(rom, romsize)
            fits = block <= expectation.size if at_most else block == expectation.size
            rows.append(GuardRow(rom, block, expectation.size, fits))
    return rows


# --- output -------------------------------------------------------------------------------

def _size_cell(rom: RomFile | None) -> str:
    return "-" if rom is None else f"{rom.size} ({human(rom.size)})"


def _bucket_cell(block: int | None) -> str:
    return "-" if block is None else human(block)


def compare_table(rows: Sequence[Row]) -> str:
    """An aligned table; failing rows come first and are marked with ``!!``."""
    body = [
        ["!!" if row.verdict in FAILING else "", row.name, row.kind.value, _size_cell(row.old),
         _bucket_cell(row.old_bucket), _size_cell(row.new), _bucket_cell(row.new_bucket),
         row.verdict.value + (f" ({row.note})" if row.note else "")]
        for row in rows
    ]
    counts = ", ".join(f"{n} {verdict}" for verdict, n in summary(rows).items())
    return aligned(["", "ROM", "CLASS", "OLD SIZE", "OLD BLOCK", "NEW SIZE", "NEW BLOCK",
                    "VERDICT"], body) + f"{len(rows)} ROMs: {counts}\n"


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
                "class": row.kind.value,
                **block_fields(row.kind, row.name),
                "old_size": row.old.size if row.old else None,
                "old_bucket": row.old_bucket,
                "new_size": row.new.size if row.new else None,
                "new_bucket": row.new_bucket,
                "verdict": row.verdict.value,
                "valid": not row.errors,
                "errors": error_dicts(row.errors),
                **({"note": row.note} if row.note else {}),
            }
            for row in rows
        ],
        "summary": {
            **summary(rows),
            "breaks_migration": any(r.verdict in BREAKING for r in rows),
        },
    }


def guard_table(rows: Sequence[GuardRow], at_most: bool) -> str:
    body = [
        ["" if row.ok else "!!", row.rom.name, _size_cell(row.rom), _bucket_cell(row.bucket),
         ("<= " if at_most else "") + size_text(row.expected), row.result]
        for row in sorted(rows, key=lambda r: (r.ok, r.rom.name))
    ]
    return aligned(["", "FILE", "SIZE", "BLOCK", "EXPECTED", "RESULT"], body)


def guard_json(rows: Sequence[GuardRow], at_most: bool) -> dict[str, Any]:
    return {
        "roms": [{"name": r.rom.name, "size": r.rom.size, "bucket": r.bucket,
                  "expected": r.expected, "at_most": at_most, "ok": r.ok,
                  "valid": not r.errors, "errors": error_dicts(r.errors)} for r in rows],
        "summary": {"checked": len(rows), "wrong_bucket": sum(not r.in_bucket for r in rows),
                    "invalid": sum(bool(r.errors) for r in rows)},
    }
