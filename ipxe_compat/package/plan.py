"""The compat plan: which ROMs are carried, under which names, padded how. Pure.

A compat ROM keeps the original bytes and only grows: padded (``--pad``) to exactly the target
bucket with a fill byte firmware ignores (it lies after the last image), or copied unchanged
(``--copy``). A ROM larger than the bucket is refused, never truncated, and nothing is planned.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

from ..core.names import select
from ..core.rom import Rom, valid_rom
from ..core.sizes import bucket, size_label
from ..errors import RomTooLargeError
from ..input import Origin, RomFile, RomSet

__all__ = ["CompatRom", "make_plan", "used_origins"]


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


def make_plan(romset: RomSet, *, size: int, globs: Sequence[str], prefix: str,
              pad_byte: int | None) -> tuple[CompatRom, ...]:
    """Plan every ROM ``globs`` select, padded with ``pad_byte`` (None: copied), or raise for the
    first invalid ROM / all oversized ones."""
    chosen = select((rom.name for rom in romset.roms), globs)
    parsed = [(rom, valid_rom(rom.data, rom.location)) for rom in romset.roms if rom.name in chosen]
    too_large = [rom for rom, _ in parsed if bucket(rom.size) > size]
    if too_large:
        listing = ", ".join(f"{rom.name} ({rom.size} bytes)" for rom in too_large)
        raise RomTooLargeError(
            f"does not fit the {size_label(size)} bucket ({size} bytes), "
            f"refusing to truncate: {listing}",
            path=too_large[0].origin.spec,
        )
    return tuple(
        CompatRom(
            original=rom,
            parsed=info,
            name=prefix + rom.name,
            data=rom.data if pad_byte is None else _pad(rom.data, size, pad_byte),
            pad_byte=pad_byte,
        )
        for rom, info in parsed
    )


def _pad(data: bytes, size: int, byte: int) -> bytes:
    return data + bytes([byte]) * (size - len(data))
