"""Parser for PCI option ROM files: a chain of legacy x86 and EFI images.

Implements the layout of the PCI Firmware Specification 3.0 (section 5.1, "PCI Expansion ROMs")
and UEFI/EFI 1.10 section 12.4 ("EFI PCI Option ROMs"), as iPXE writes them (util/efirom.c,
util/catrom.pl). Every image starts on a 512-byte boundary with ``55 AA``; its PCI Data Structure
("PCIR") gives the image length and the last-image bit. Bytes after the last image are padding,
which firmware ignores and which we report.

The parser is pure (bytes in, dataclasses out), never reads past the buffer, always advances
(an image length of 0 is an error), and raises only :class:`RomFormatError`. :func:`rom_errors`
is the one place where a ROM's defects become errors, for every command.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum

from ..errors import RomFormatError, SourceError

__all__ = ["CodeType", "EfiHeader", "Image", "Rom", "not_empty", "parse_rom", "rom_errors",
           "valid_rom"]

IMAGE_ALIGN = 512
ROM_SIGNATURE = b"\x55\xaa"
PCIR_SIGNATURE = b"PCIR"
EFI_SIGNATURE = 0x0EF1

# Option ROM header, common part: signature (2s), bytes 2..0x17 type-specific, PCIR offset (u16 at
# 0x18). The header must therefore hold at least 0x1A bytes.
_ROM_HEADER_LEN = 0x1A
_PCIR_OFFSET = struct.Struct("<H")  # at +0x18
# PCIR: signature (4s), vendor (H), device (H), device list pointer (H), structure length (H),
# revision (B), class code (3s), image length in 512-byte units (H), code revision (H),
# code type (B), indicator (B, bit 7 = last image). 0x18 bytes, the PCI 2.2 length; PCI 3.0 fields
# after it are not needed to walk the chain.
_PCIR = struct.Struct("<4sHHHHB3sHHBB2x")
# EFI image header after the signature: initialization size in 512-byte units (H, +2),
# EFI signature (I, +4), subsystem (H, +8), machine type (H, +0xA), compression type (H, +0xC),
# 8 reserved bytes, offset of the EFI image (H, +0x16).
_EFI_HEADER = struct.Struct("<HIHHH8xH")
# Legacy x86 header after the signature: initialization size in 512-byte units (B, +2).
_LEGACY_SIZE = struct.Struct("<B")


class CodeType(IntEnum):
    """PCIR code type (PCI Firmware spec table 5-2)."""

    X86 = 0
    OPEN_FIRMWARE = 1
    PA_RISC = 2
    EFI = 3


class EfiSubsystem(IntEnum):
    BOOT_SERVICE_DRIVER = 0x0B
    RUNTIME_DRIVER = 0x0C


class EfiMachine(IntEnum):
    IA32 = 0x014C
    IA64 = 0x0200
    EBC = 0x0EBC
    X64 = 0x8664
    ARM = 0x01C2
    AARCH64 = 0xAA64
    RISCV64 = 0x5064
    LOONGARCH64 = 0x6264


class EfiCompression(IntEnum):
    NONE = 0
    EFI_COMPRESSED = 1


def _enum_name(enum: type[IntEnum], value: int) -> str:
    try:
        return enum(value).name.lower()
    except ValueError:
        return f"{value:#x}"


@dataclass(frozen=True)
class EfiHeader:
    """The EFI-specific part of an EFI image header."""

    init_size: int
    subsystem: int
    machine: int
    compression: int
    image_offset: int

    @property
    def subsystem_name(self) -> str:
        return _enum_name(EfiSubsystem, self.subsystem)

    @property
    def machine_name(self) -> str:
        return _enum_name(EfiMachine, self.machine)

    @property
    def compression_name(self) -> str:
        return _enum_name(EfiCompression, self.compression)


@dataclass(frozen=True)
class Image:
    """One image of the chain, as found at ``offset`` in the file."""

    offset: int
    length: int
    code_type: int
    vendor_id: int
    device_id: int
    class_code: int
    revision: int
    last: bool
    init_size: int | None  # legacy: bytes covered by the checksum
    checksum_ok: bool | None  # legacy only: the init area sums to 0 mod 256
    efi: EfiHeader | None

    @property
    def code_type_name(self) -> str:
        return _enum_name(CodeType, self.code_type)

    @property
    def pci_id(self) -> str:
        return f"{self.vendor_id:04x}:{self.device_id:04x}"


@dataclass(frozen=True)
class Rom:
    """A parsed ROM file: its images and what follows the last one."""

    name: str
    size: int
    images: tuple[Image, ...]
    padding_length: int
    padding_byte: int | None  # the one byte repeated in the padding; None if none or mixed

    @property
    def chain_end(self) -> int:
        """Bytes used by the images, i.e. the offset where padding starts."""
        return self.size - self.padding_length

    @property
    def problems(self) -> tuple[tuple[int, str], ...]:
        """(offset, text) of every defect firmware would reject beyond the structure itself."""
        return tuple(
            (image.offset, "legacy image checksum does not sum to 0 mod 256")
            for image in self.images
            if image.checksum_ok is False
        )


def not_empty(data: bytes, where: str) -> bytes:
    """An empty file is unusable input (exit 2), never a ROM with a problem: QEMU refuses an
    empty ROM file, and it has no bucket. Every reader and command asks here."""
    if not data:
        raise SourceError("empty file: not a firmware file (QEMU refuses an empty ROM file)",
                          path=where)
    return data


def parse_rom(data: bytes, name: str) -> Rom:
    """Parse the whole image chain of a ROM file; raise RomFormatError with file and offset."""
    not_empty(data, name)
    images: list[Image] = []
    offset = 0
    while True:
        image = _parse_image(data, offset, name)
        images.append(image)
        offset += image.length
        if image.last:
            break
        if offset >= len(data):
            raise RomFormatError(
                "image chain does not end: no image has the last-image bit set",
                path=name,
                offset=image.offset,
            )
    padding = data[offset:]
    byte = padding[0] if padding and padding.count(padding[0]) == len(padding) else None
    return Rom(name, len(data), tuple(images), len(padding), byte)


def rom_errors(data: bytes, where: str) -> tuple[Rom | None, tuple[RomFormatError, ...]]:
    """The parsed ROM (None when its structure is broken) and every defect firmware would reject,
    each as an error naming ``where`` and the offset: inspect lists them, generate refuses."""
    try:
        rom = parse_rom(data, where)
    except RomFormatError as error:
        return None, (error,)
    return rom, tuple(RomFormatError(text, path=where, offset=at) for at, text in rom.problems)


def valid_rom(data: bytes, where: str) -> Rom:
    """The parsed ROM if firmware would accept it; else its first error is raised."""
    rom, errors = rom_errors(data, where)
    if rom is None or errors:
        raise errors[0]
    return rom


def _parse_image(data: bytes, offset: int, name: str) -> Image:
    def fail(message: str, at: int = offset) -> RomFormatError:
        return RomFormatError(message, path=name, offset=at)

    if offset + _ROM_HEADER_LEN > len(data):
        raise fail(
            f"truncated image header: need {_ROM_HEADER_LEN} bytes, file ends at {len(data)}"
        )
    if data[offset : offset + 2] != ROM_SIGNATURE:
        raise fail(f"no option ROM signature 55 aa (found {data[offset:offset + 2].hex(' ')})")
    (pcir_rel,) = _PCIR_OFFSET.unpack_from(data, offset + 0x18)
    pcir = offset + pcir_rel
    if pcir_rel < _ROM_HEADER_LEN or pcir + _PCIR.size > len(data):
        raise fail(f"PCI data structure offset {pcir_rel:#x} lies outside the file", offset + 0x18)
    (sig, vendor, device, _devlist, _pcir_len, revision, class_code, length_units, _code_rev,
     code_type, indicator) = _PCIR.unpack_from(data, pcir)  # fmt: skip
    if sig != PCIR_SIGNATURE:
        raise fail(f"no PCIR signature at PCI data structure (found {sig!r})", pcir)
    length = length_units * IMAGE_ALIGN
    if length == 0:
        raise fail("image length is 0", pcir + 0x10)
    if offset + length > len(data):
        raise fail(f"image of {length} bytes runs past the end of the file ({len(data)} bytes)")
    if pcir + _PCIR.size > offset + length:
        raise fail("PCI data structure lies outside its image", pcir)

    efi = None
    init_size = checksum_ok = None
    if code_type == CodeType.EFI:
        init_units, efi_sig, subsystem, machine, compression, image_offset = (
            _EFI_HEADER.unpack_from(data, offset + 2)
        )
        if efi_sig != EFI_SIGNATURE:
            raise fail(f"EFI image without EFI signature 0x0ef1 (found {efi_sig:#x})", offset + 4)
        if image_offset >= length:
            raise fail(f"EFI image offset {image_offset:#x} lies outside the image", offset + 0x16)
        efi = EfiHeader(init_units * IMAGE_ALIGN, subsystem, machine, compression, image_offset)
    elif code_type == CodeType.X86:
        (init_units,) = _LEGACY_SIZE.unpack_from(data, offset + 2)
        init_size = init_units * IMAGE_ALIGN
        if init_size == 0 or init_size > length:
            raise fail(
                f"legacy initialization size {init_size} is not within the image", offset + 2
            )
        checksum_ok = sum(data[offset : offset + init_size]) % 256 == 0
    return Image(
        offset=offset,
        length=length,
        code_type=code_type,
        vendor_id=vendor,
        device_id=device,
        class_code=int.from_bytes(class_code, "little"),
        revision=revision,
        last=bool(indicator & 0x80),
        init_size=init_size,
        checksum_ok=checksum_ok,
        efi=efi,
    )
