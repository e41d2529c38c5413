"""Which firmware files QEMU loads into migrated RAM blocks, and the size rule of each block. Pure.

Live migration copies RAM blocks by name and refuses a block whose size differs at the
destination ("Size mismatch: pc.bios: 0x200000 != 0x400000"). A file fixes the size of a block
in one of four ways, by its class (docs/cli.md, "Every firmware QEMU migrates"):

- a PCI option ROM (NIC ``efi-*.rom``, VGA ``vgabios-*.bin``): block ``ADDR/TYPE.rom`` of
  pow2ceil(file size) (hw/pci/pci.c, pci_add_option_rom; ``romsize=`` pins it);
- a system firmware image (``-bios``: ``bios-256k.bin``, ``OVMF.fd``, ``qboot.rom``): block
  ``pc.bios`` of exactly the file's size (hw/i386/x86.c, x86_bios_rom_init);
- a pflash image (``OVMF_CODE*.fd``, ``OVMF_VARS*.fd``): ``system.flash0`` / ``system.flash1`` of
  exactly the file's size (hw/i386/pc_sysfw.c);
- a fw_cfg option ROM (``linuxboot_dma.bin``, ``kvmvapic.bin``, ``pvh.bin``): ``/rom@genroms/NAME``
  as hw/core/loader.c sizes it (rom_add_file, rom_set_mr);
- anything else (firmware descriptors, other architectures' images) fixes no migrated block.

:func:`classify` gives a file's class from its name (a compat name such as ``2m-OVMF.fd`` or
``256k-efi-virtio.rom`` is classed as its original); :func:`block_size` the block it becomes;
:func:`block_class` which class, if any, fixes a RAM block QEMU reports (``info ramblock``).
"""

from __future__ import annotations

import fnmatch
import re
from enum import StrEnum

from .sizes import bucket

__all__ = ["HOST_PAGE", "FileClass", "block_class", "block_name", "block_size", "classify"]

#: QEMU rounds RAM block lengths up to the host page (x86-64: 4 KiB).
HOST_PAGE = 4096


class FileClass(StrEnum):
    """What a firmware file becomes in a guest; the value is how reports and JSON name it."""

    OPTION_ROM = "option-rom"
    BIOS = "bios"
    PFLASH = "pflash"
    GENROM = "genrom"
    OTHER = "not-migrated"

    @property
    def exact(self) -> bool:
        """Whether the block is exactly the file's size (padding would change the block)."""
        return self in (FileClass.BIOS, FileClass.PFLASH)


#: First match wins; each pattern starts with ``*`` so that a compat prefix does not change the
#: class. The fw_cfg ROMs are the ones QEMU's x86 code loads by name (hw/i386/*.c).
_PATTERNS: tuple[tuple[str, FileClass], ...] = (
    ("*vgabios*.bin", FileClass.OPTION_ROM),
    ("*bios*.bin", FileClass.BIOS),
    ("*qboot.rom", FileClass.BIOS),
    ("*kvmvapic.bin", FileClass.GENROM),
    ("*linuxboot.bin", FileClass.GENROM),
    ("*linuxboot_dma.bin", FileClass.GENROM),
    ("*multiboot.bin", FileClass.GENROM),
    ("*multiboot_dma.bin", FileClass.GENROM),
    ("*pvh.bin", FileClass.GENROM),
    ("*_CODE*.fd", FileClass.PFLASH),
    ("*_VARS*.fd", FileClass.PFLASH),
    ("*.fd", FileClass.BIOS),
    ("*.rom", FileClass.OPTION_ROM),
)


def classify(name: str) -> FileClass:
    """The class of a firmware file, by its file name."""
    for pattern, kind in _PATTERNS:
        if fnmatch.fnmatchcase(name, pattern):
            return kind
    return FileClass.OTHER


def block_size(kind: FileClass, size: int) -> int | None:
    """The RAM block a file of ``size`` bytes becomes (None: it fixes no block)."""
    if kind is FileClass.OPTION_ROM:
        return bucket(size)
    if kind.exact:
        return size
    if kind is FileClass.GENROM:
        return -(-size // HOST_PAGE) * HOST_PAGE
    return None


def block_name(kind: FileClass, name: str, flash_unit: int = 0) -> str | None:
    """The RAM block's name (an option ROM's depends on the device: ``*/TYPE.rom``)."""
    if kind is FileClass.OPTION_ROM:
        return "*/TYPE.rom"
    if kind is FileClass.BIOS:
        return "pc.bios"
    if kind is FileClass.PFLASH:
        return f"system.flash{flash_unit}"
    if kind is FileClass.GENROM:
        return f"/rom@genroms/{name}"
    return None


#: ``0000:00:02.0/virtio-net-pci.rom``: a PCI device path (behind bridges and root ports one
#: ``:SLOT.FN`` per hop, as q35 guests have: ``0000:00:02.1:00.0/virtio-net-pci.rom``,
#: ``0000:00:02.0:00.0:01.0/e1000.rom``), then the ROM's name, which QEMU cuts
#: at 31 characters (pci_add_option_rom's ``char name[32]``: ``virtio-net-pci-non-transitional``
#: loses its ``.rom``).
_ROM_NAME_CUT = 31
_PCI_ROM = re.compile(r"(?:[0-9a-f]{4}:)?[0-9a-f]{2}:[0-9a-f]{2}\.[0-7](?::[0-9a-f]{2}\.[0-7])*/"
                      r"(?P<rom>[^/]+)")


def block_class(block: str) -> FileClass | None:
    """Which class of file fixes the RAM block named ``block`` (None: no file does, e.g.
    ``pc.ram``, ``vga.vram``, ACPI tables ``/rom@etc/...``)."""
    if block == "pc.bios":
        return FileClass.BIOS
    if re.fullmatch(r"system\.flash[01]", block):
        return FileClass.PFLASH
    if block.startswith(("/rom@genroms/", "/rom@vgaroms/")):
        return FileClass.GENROM
    match = _PCI_ROM.fullmatch(block)
    if match and (match["rom"].endswith(".rom") or len(match["rom"]) == _ROM_NAME_CUT):
        return FileClass.OPTION_ROM
    return None
