"""Which firmware files QEMU loads into migrated RAM blocks, and the size rule of each block. Pure.

Live migration copies RAM blocks by name and refuses a block whose size differs at the
destination (``Size mismatch: pc.bios: 0x200000 != 0x400000``, the source's size first). A file
fixes the size of a block in one of four ways, by its class (docs/cli.md, "Every firmware QEMU
migrates"; docs/firmware.md has the QEMU code and the migration that proves each rule):

- a PCI option ROM (NIC ``efi-*.rom``, PCI VGA ``vgabios-<model>.bin``): block
  ``ADDR/TYPE.rom`` of pow2ceil(file size) (QEMU's hw/pci/pci.c, pci_add_option_rom;
  ``romsize=`` pins it);
- a system firmware image (``-bios``: ``bios-256k.bin``, ``OVMF.fd``, ``qboot.rom``): block
  ``pc.bios`` of exactly the file's size, which must be a multiple of 64 KiB (x86_bios_rom_init);
- a pflash image (``OVMF_CODE*.fd`` on unit 0, ``OVMF_VARS*.fd`` on unit 1): ``system.flash0`` /
  ``system.flash1`` of exactly the file's size, a multiple of 4 KiB (hw/i386/pc_sysfw.c);
- a fw_cfg option ROM (``rom_add_option``: ``kvmvapic.bin``, ``linuxboot_dma.bin``, ``pvh.bin``;
  ``rom_add_vga``: ``vgabios.bin`` of isa-vga, ``vgabios-ramfb.bin``, ``sgabios.bin``): plain
  fw_cfg data, migrated as a block only on the machine types in :data:`FW_CFG_BLOCK_MACHINES`
  (QEMU's loader.c gives it a RAM block only where ``option_rom_has_mr`` and
  ``rom_file_has_mr`` both hold). There it is ``/rom@genroms/NAME`` (``/rom@vgaroms/NAME``), a
  resizeable block of the file's size rounded up to the page: an incoming block that is smaller
  is resized, a larger one fails (``Size too large``);
- anything else (firmware descriptors, ACPI tables, other architectures' images) fixes no block.

:func:`classify` gives a file's class from its name (a compat name such as ``2m-OVMF.fd`` or
``256k-efi-virtio.rom`` is classed as its original); :func:`block_size` the block it becomes,
:func:`block_name` its name (:func:`block_rule` where the loading device names it);
:func:`migrates` whether a source block fits the destination's; :func:`block_class` which
class, if any, fixes a RAM block QEMU reports (``info ramblock``).
"""

from __future__ import annotations

import fnmatch
import re
from enum import StrEnum

from .sizes import bucket

__all__ = ["BIOS_ALIGN", "FLASH_SECTOR", "FW_CFG_BLOCK_MACHINES", "HOST_PAGE", "OPTION_ROM_BLOCK",
           "FileClass", "block_class", "block_name", "block_rule", "block_size", "classify",
           "flash_unit", "load_error", "migrates"]

#: QEMU rounds RAM block lengths up to the host page (x86-64: 4 KiB).
HOST_PAGE = 4096
#: x86_bios_rom_init refuses a -bios image that is not a positive multiple of this.
BIOS_ALIGN = 64 << 10
#: pc_system_flash_map refuses a pflash image that is not a positive multiple of this.
FLASH_SECTOR = 4096
#: The machine types on which a fw_cfg option ROM is a migrated RAM block: QEMU 7.2 sets
#: ``option_rom_has_mr`` on pc-i440fx-1.7 only (1.6 and older, and isapc, clear
#: ``rom_file_has_mr``); QEMU 8.2 removed pc-i440fx-1.7. Measured: on pc-i440fx-7.2 a
#: ``linuxboot_dma.bin`` of 5000 bytes migrates to one of 1536 and back.
FW_CFG_BLOCK_MACHINES = ("pc-i440fx-1.7",)


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

    @property
    def firmware(self) -> bool:
        """Whether QEMU loads such a file into a guest (so removing it breaks guests)."""
        return self is not FileClass.OTHER

    @property
    def description(self) -> str:
        """How tables explain the class in a few words."""
        return _DESCRIPTIONS[self]


_DESCRIPTIONS = {
    FileClass.OPTION_ROM: "PCI option ROM",
    FileClass.BIOS: "system firmware (-bios)",
    FileClass.PFLASH: "pflash image",
    FileClass.GENROM: "fw_cfg option ROM",
    FileClass.OTHER: "not loaded into a migrated block",
}

#: First match wins; each pattern starts with ``*`` so that a compat prefix does not change the
#: class. The fw_cfg ROMs are the ones QEMU's x86 code loads by name: rom_add_option (genroms:
#: hw/i386/x86.c, kvmvapic.c; ``extboot.bin``, ``vapic.bin`` are older names bullseye's seabios
#: still ships) and rom_add_vga (vgaroms: vga-isa.c loads ``vgabios.bin``, which Debian's seabios
#: links to ``vgabios-isavga.bin``; ramfb.c, sga.c). Every other ``vgabios-*.bin`` is the
#: ``romfile`` of a PCI display (vga-pci.c, cirrus_vga.c, qxl.c, virtio-vga.c, ...).
_PATTERNS: tuple[tuple[str, FileClass], ...] = (
    ("*kvmvapic.bin", FileClass.GENROM),
    ("*vapic.bin", FileClass.GENROM),
    ("*extboot.bin", FileClass.GENROM),
    ("*linuxboot.bin", FileClass.GENROM),
    ("*linuxboot_dma.bin", FileClass.GENROM),
    ("*multiboot.bin", FileClass.GENROM),
    ("*multiboot_dma.bin", FileClass.GENROM),
    ("*pvh.bin", FileClass.GENROM),
    ("*sgabios.bin", FileClass.GENROM),
    ("*vgabios.bin", FileClass.GENROM),
    ("*vgabios-isavga.bin", FileClass.GENROM),
    ("*vgabios-ramfb.bin", FileClass.GENROM),
    ("*vgabios-*.bin", FileClass.OPTION_ROM),
    ("*bios*.bin", FileClass.BIOS),
    ("*qboot.rom", FileClass.BIOS),
    ("*_CODE*.fd", FileClass.PFLASH),
    ("*_VARS*.fd", FileClass.PFLASH),
    ("*.fd", FileClass.BIOS),
    ("*.rom", FileClass.OPTION_ROM),
)
#: fw_cfg ROMs that rom_add_vga loads: their fw_cfg directory (and block) is ``vgaroms``.
_VGAROMS = ("*sgabios.bin", "*vgabios.bin", "*vgabios-isavga.bin", "*vgabios-ramfb.bin")


def classify(name: str) -> FileClass:
    """The class of a firmware file, by its file name."""
    for pattern, kind in _PATTERNS:
        if fnmatch.fnmatchcase(name, pattern):
            return kind
    return FileClass.OTHER


def block_size(kind: FileClass, size: int) -> int | None:
    """The RAM block a file of ``size`` bytes becomes (None: it fixes no block). For a fw_cfg
    ROM, the block it becomes on :data:`FW_CFG_BLOCK_MACHINES`."""
    if kind is FileClass.OPTION_ROM:
        return bucket(size)
    if kind.exact:
        return size
    if kind is FileClass.GENROM:
        return -(-size // HOST_PAGE) * HOST_PAGE
    return None


def migrates(kind: FileClass, source: int, destination: int) -> bool:
    """Whether a source block of ``source`` bytes loads into the destination's of
    ``destination`` bytes: the same size, or (a fw_cfg ROM's resizeable block) one that fits."""
    if kind is FileClass.GENROM:
        return source <= destination
    return source == destination


def flash_unit(name: str) -> int:
    """The pflash unit an image goes on: variables (``*_VARS*``) on 1, code on 0."""
    return 1 if fnmatch.fnmatchcase(name, "*_VARS*") else 0


#: How QEMU names an option ROM's block: the PCI path of the device that loads it (``0000:00:03.0``,
#: one ``:SLOT.FN`` per bridge), ``/``, the device's QOM type cut at 31 characters, ``.rom``
#: (``0000:00:03.0/virtio-net-pci.rom``). The file alone does not fix it.
OPTION_ROM_BLOCK = "ADDR/TYPE.rom"


def block_name(kind: FileClass, name: str, flash_unit: int = 0) -> str | None:
    """The RAM block's name where the file alone fixes it (``pc.bios``); None for a file that
    fixes no block and for an option ROM, whose block the loading device names
    (:func:`block_rule`)."""
    if kind is FileClass.BIOS:
        return "pc.bios"
    if kind is FileClass.PFLASH:
        return f"system.flash{flash_unit}"
    if kind is FileClass.GENROM:
        directory = "vgaroms" if any(fnmatch.fnmatchcase(name, p) for p in _VGAROMS) else "genroms"
        return f"/rom@{directory}/{name}"
    return None


def block_rule(kind: FileClass, name: str, flash_unit: int = 0) -> str | None:
    """How QEMU names the block: :func:`block_name` where the file fixes it, else the rule
    :data:`OPTION_ROM_BLOCK` (``ADDR`` and ``TYPE`` are the loading device's); None: no block."""
    if kind is FileClass.OPTION_ROM:
        return OPTION_ROM_BLOCK
    return block_name(kind, name, flash_unit)


def load_error(kind: FileClass, size: int) -> str | None:
    """Why QEMU would refuse to load a file of this class and size, or None."""
    if size <= 0:
        return "empty file: QEMU refuses it"
    if kind is FileClass.BIOS and size % BIOS_ALIGN:
        return (f"{size} bytes is not a multiple of 64 KiB: QEMU refuses it as -bios "
                "(could not load PC BIOS)")
    if kind is FileClass.PFLASH and size % FLASH_SECTOR:
        return f"{size} bytes is not a multiple of 4 KiB: QEMU refuses it as a pflash image"
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
    ``pc.ram``, ``pc.rom``, ``isa-bios``, ``vga.vram``, ACPI tables ``/rom@etc/...``)."""
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
