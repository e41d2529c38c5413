"""The compat plan: which ROMs are carried, under which names, padded how. Pure.

A compat ROM keeps the original bytes and only grows: padded (``--pad``) to exactly the target
bucket with a fill byte firmware ignores (it lies after the last image), or copied unchanged
(``--copy``). A ROM larger than the bucket is refused, never truncated, and nothing is planned.
"""

from __future__ import annotations

import fnmatch
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

from .errors import RomFormatError, RomTooLargeError, UsageError
from .rom import Rom, parse_rom
from .sizes import MAX_ROM_FILE, bucket, size_label
from .sources import Origin, RomFile, RomSet

DEFAULT_SIZE = 256 << 10
#: The largest bucket a compat ROM may be padded to: well below the member read limit.
MAX_SIZE = MAX_ROM_FILE // 2
DEFAULT_GLOBS = ("efi-*.rom",)


@dataclass(frozen=True)
class PlanOptions:
    size: int = DEFAULT_SIZE
    prefix: str | None = None  # None: "<size label>-", e.g. "256k-"
    pad: bool = True
    pad_byte: int = 0xFF
    globs: tuple[str, ...] = DEFAULT_GLOBS

    def __post_init__(self) -> None:
        if self.size > MAX_SIZE:
            raise UsageError(f"size {size_label(self.size)} is larger than any option ROM "
                             f"(at most {size_label(MAX_SIZE)}; ROM members over "
                             f"{size_label(MAX_ROM_FILE)} are refused unread)")

    @property
    def effective_prefix(self) -> str:
        return f"{size_label(self.size)}-" if self.prefix is None else self.prefix


@dataclass(frozen=True)
class CompatRom:
    """One ROM of the compat package: the original and the bytes that will be installed."""

    original: RomFile
    parsed: Rom
    name: str
    data: bytes
    pad_byte: int | None  # None when copied unchanged

    @property
    def size(self) -> int:
        return len(self.data)

    @cached_property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    @property
    def changes_bucket(self) -> bool:
        """Padding moved it to a bigger QEMU bucket than the original had: guests started with
        the original cannot migrate to it, so it is no compat ROM for them."""
        return bucket(self.size) != bucket(self.original.size)


def used_origins(plan: Sequence[CompatRom]) -> list[Origin]:
    """The origins the planned ROMs come from, in plan order, each once."""
    return list(dict.fromkeys(rom.original.origin for rom in plan))


def parse_pad_byte(text: str) -> int:
    """``0xff``, ``255`` or ``0o377`` -> 255; anything outside 0..255 is a usage error."""
    try:
        value = int(text, 0) if len(text) <= 12 else -1
    except ValueError:
        value = -1
    if not 0 <= value <= 0xFF:
        raise UsageError(f"pad byte {text!r} is not a byte value (0..255, e.g. 0xff)")
    return value


def select(romset: RomSet, globs: Sequence[str]) -> list[RomFile]:
    """ROMs whose name matches any glob; a glob matching nothing is a usage error (a typo)."""
    for glob in globs:
        if not any(fnmatch.fnmatchcase(rom.name, glob) for rom in romset.roms):
            names = ", ".join(rom.name for rom in romset.roms)
            raise UsageError(f"--roms {glob!r} matches no ROM (there are: {names})")
    return [rom for rom in romset.roms if any(fnmatch.fnmatchcase(rom.name, g) for g in globs)]


def make_plan(romset: RomSet, options: PlanOptions) -> tuple[CompatRom, ...]:
    """Plan every selected ROM, or raise for the first invalid ROM / all oversized ones."""
    selected = select(romset, options.globs)
    parsed = [(rom, _validated(rom)) for rom in selected]
    too_large = [rom for rom, _ in parsed if bucket(rom.size) > options.size]
    if too_large:
        listing = ", ".join(f"{rom.name} ({rom.size} bytes)" for rom in too_large)
        raise RomTooLargeError(
            f"does not fit the {size_label(options.size)} bucket ({options.size} bytes), "
            f"refusing to truncate: {listing}",
            path=too_large[0].origin.spec,
        )
    prefix = options.effective_prefix
    return tuple(
        CompatRom(
            original=rom,
            parsed=info,
            name=prefix + rom.name,
            data=_pad(rom.data, options.size, options.pad_byte) if options.pad else rom.data,
            pad_byte=options.pad_byte if options.pad else None,
        )
        for rom, info in parsed
    )


def _validated(rom: RomFile) -> Rom:
    """Parse a ROM and refuse one firmware would reject; errors name the source and member."""
    info = parse_rom(rom.data, rom.location)
    for offset, problem in info.problems:
        raise RomFormatError(problem, path=rom.location, offset=offset)
    return info


def _pad(data: bytes, size: int, byte: int) -> bytes:
    return data + bytes([byte]) * (size - len(data))
