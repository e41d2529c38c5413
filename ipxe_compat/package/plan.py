"""The compat plan: which files are carried, under which names, padded how, installed where.
Pure.

A compat option ROM keeps the original bytes and only grows: padded (``--pad``) to exactly the
target bucket with a fill byte firmware ignores (it lies after the last image), or copied
unchanged (``--copy``). A ROM larger than the bucket is refused, never truncated, and nothing is
planned. Every other firmware class is carried unchanged whatever the mode: a -bios or pflash
image's block is its exact size, so padding would change the very block the compat file exists
to keep (core/firmware.py); ``--size`` is then its label and upper bound. An option ROM goes to
``--install-dir`` (QEMU's firmware directory by default); another file, unless ``--install-dir``
is given, to the directory its origin package had it in (``/usr/share/OVMF``), where guests name
it by path.
"""

from __future__ import annotations

import hashlib
import posixpath
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

from ..core import compat
from ..core.firmware import FileClass
from ..core.names import select
from ..core.rom import Rom, valid_rom
from ..core.sizes import bucket, size_label
from ..errors import RomTooLargeError
from ..input import Origin, RomFile, RomSet

__all__ = ["CompatRom", "exact_fitting", "install_dir_of", "make_plan", "used_origins"]


@dataclass(frozen=True)
class CompatRom:
    """One ROM of the compat package: the original and the bytes that will be installed."""

    original: RomFile
    parsed: Rom | None  # the option ROM's image chain; None for another class
    name: str
    data: bytes
    pad_byte: int | None  # None when copied unchanged
    install_dir: str = compat.DEFAULT_INSTALL_DIR

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
              pad_byte: int | None, install_dir: str | None = None) -> tuple[CompatRom, ...]:
    """Plan every file ``globs`` select, option ROMs padded with ``pad_byte`` (None: copied),
    or raise for the first invalid ROM / all oversized files."""
    chosen = select((rom.name for rom in romset.roms), globs)
    parsed = [(rom, valid_rom(rom.data, rom.location) if rom.kind is FileClass.OPTION_ROM
               else None) for rom in romset.roms if rom.name in chosen]
    too_large = [rom for rom, _ in parsed
                 if (bucket(rom.size) if rom.kind is FileClass.OPTION_ROM else rom.size) > size]
    if too_large:
        listing = ", ".join(f"{rom.name} ({rom.size} bytes)" for rom in too_large)
        roms = all(rom.kind is FileClass.OPTION_ROM for rom in too_large)
        limit = f"the {size_label(size)} bucket" if roms else f"--size {size_label(size)}"
        raise RomTooLargeError(
            f"does not fit {limit} ({size} bytes), refusing to truncate: {listing}",
            path=too_large[0].origin.spec,
        )
    return tuple(
        CompatRom(
            original=rom,
            parsed=info,
            name=prefix + rom.name,
            data=rom.data if pad_byte is None or info is None else _pad(rom.data, size, pad_byte),
            pad_byte=pad_byte if info is not None else None,
            install_dir=install_dir_of(rom, install_dir),
        )
        for rom, info in parsed
    )


def install_dir_of(rom: RomFile, given: str | None) -> str:
    """Where the compat copy of ``rom`` is installed (see the module's docstring)."""
    if given is not None:
        return given
    if rom.kind is not FileClass.OPTION_ROM and rom.installed is not None:
        return posixpath.dirname(rom.installed)
    return compat.DEFAULT_INSTALL_DIR


def exact_fitting(romset: RomSet, size: int) -> tuple[str, ...]:
    """The default selection of a set without EFI ROMs (seabios, ovmf): every -bios and pflash
    image whose block fits ``size`` (``--size 2m`` on bookworm's ovmf: its 2 MiB builds). A
    variables image goes with the code of its build only (``OVMF_VARS_4M.fd`` with
    ``OVMF_CODE_4M.fd``: edk2's NEWS.Debian, 2 MiB variables do not fit 4 MiB code)."""
    fits = [rom for rom in romset.roms if rom.kind.exact and rom.size <= size]
    codes = {_build(rom.name) for rom in fits if "_CODE" in rom.name}
    return tuple(rom.name for rom in fits if "_VARS" not in rom.name or _build(rom.name) in codes)


def _build(name: str) -> str:
    """``OVMF_CODE_4M.ms.fd`` and ``OVMF_VARS_4M.fd`` -> ``OVMF_4M``: code and variables of one
    build."""
    head = name.split(".", 1)[0]
    return head.replace("_CODE", "").replace("_VARS", "")


def _pad(data: bytes, size: int, byte: int) -> bytes:
    return data + bytes([byte]) * (size - len(data))
