"""Which original firmware file each file of a compat set stands in for, and where it is
installed: the one mapping behind ``qemu-config``'s ``-bios``/pflash options, its libvirt
``<loader>`` and ``--apply``'s rewrite of a domain's loader. Pure.

A firmware compat set names no device (a NIC's ROM maps onto the NIC models that load it; a
``-bios`` or pflash image is named by path in each guest's configuration), so a compat file's
original is found by its name alone: the name after the compat prefix, by the contract's rule
(:func:`~ipxe_compat.core.compat.split_compat_name`: ``2m-OVMF.fd`` stands in for ``OVMF.fd``).
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass

from ..core import compat, fields
from ..core.firmware import FileClass, flash_unit
from ..core.names import ambiguous
from ..input import RomSet

__all__ = ["FirmwareMapping", "firmware_mappings"]


@dataclass(frozen=True)
class FirmwareMapping:
    """``path`` (file ``name``, class ``kind``) replaces the original file ``original``."""

    original: str  # OVMF_CODE.fd: what a guest's configuration names (the path's last part)
    name: str  # 2m-OVMF_CODE.fd
    path: str  # /usr/share/OVMF/2m-OVMF_CODE.fd: where the compat package installs it
    kind: FileClass

    @property
    def unit(self) -> int | None:
        """The pflash unit a pflash image goes on (0: code, 1: variables); None otherwise."""
        return flash_unit(self.original) if self.kind is FileClass.PFLASH else None


def firmware_mappings(romset: RomSet, install_dir: str | None = None,
                      kinds: tuple[FileClass, ...] = tuple(FileClass)
                      ) -> dict[str, FirmwareMapping]:
    """Original file name -> its compat file, for every file of ``romset`` with a compat name
    (of a class in ``kinds``). A package's files are where it installs them; a directory's or a
    file's are in ``install_dir`` (default: QEMU's firmware directory). Two compat files for one
    original (``2m-`` and ``4m-OVMF.fd``) are the pairing error check gives, naming both."""
    directory = fields.install_dir(install_dir or compat.DEFAULT_INSTALL_DIR)
    found: dict[str, FirmwareMapping] = {}
    for rom in romset.roms:
        split = compat.split_compat_name(rom.name)
        if split is None or rom.kind not in kinds:
            continue
        original = split[1]
        path = rom.installed or posixpath.join(directory, rom.name)
        other = found.get(original)
        if other is not None:
            raise ambiguous(original, [other.name, rom.name])
        found[original] = FirmwareMapping(original, rom.name, path, rom.kind)
    return dict(sorted(found.items()))
