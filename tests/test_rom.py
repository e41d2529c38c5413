"""The ROM parser on ROMs built byte by byte, malformed ones, and Debian's real ROMs."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from ipxe_compat.core.rom import CodeType, parse_rom, rom_errors, valid_rom
from ipxe_compat.errors import RomFormatError, SourceError
from tests.dpkg import dpkg_roms
from tests.factory import PCIR_AT, efi_image, efi_rom, legacy_image


def test_legacy_then_efi_image_chain() -> None:
    rom = parse_rom(efi_rom(1536, 2048, vendor=0x8086, device=0x100E), "efi-e1000.rom")
    assert rom.size == 3584
    legacy, efi = rom.images
    assert (legacy.offset, legacy.length, legacy.code_type, legacy.last) == (
        0,
        1536,
        CodeType.X86,
        False,
    )
    assert legacy.pci_id == "8086:100e"
    assert legacy.checksum_ok is True
    assert (efi.offset, efi.length, efi.code_type, efi.last) == (1536, 2048, CodeType.EFI, True)
    assert efi.efi is not None
    assert (efi.efi.machine_name, efi.efi.subsystem_name, efi.efi.compression_name) == (
        "x64", "boot_service_driver", "none")
    assert rom.padding_length == 0 and rom.padding_byte is None
    assert rom.problems == ()


def test_padding_after_the_last_image_is_reported() -> None:
    rom = parse_rom(efi_rom(padding=b"\xff" * 1000), "x.rom")
    assert (rom.padding_length, rom.padding_byte, rom.chain_end) == (1000, 0xFF, 2048)
    mixed = parse_rom(efi_rom(padding=b"\xff\x00"), "x.rom")
    assert (mixed.padding_length, mixed.padding_byte) == (2, None)


def test_bad_legacy_checksum_is_a_problem_not_a_crash() -> None:
    rom = parse_rom(legacy_image(good_checksum=False) + efi_image(), "x.rom")
    assert rom.images[0].checksum_ok is False
    assert rom.problems == ((0, "legacy image checksum does not sum to 0 mod 256"),)


def test_rom_problems_become_errors_in_one_place() -> None:
    bad = legacy_image(good_checksum=False) + efi_image()
    parsed, errors = rom_errors(bad, "x.rom")
    assert parsed is not None and [str(e) for e in errors] == [
        "x.rom: offset 0x0: legacy image checksum does not sum to 0 mod 256"]
    with pytest.raises(RomFormatError, match="checksum"):
        valid_rom(bad, "x.rom")
    assert valid_rom(GOOD, "good.rom").size == len(GOOD)


def test_an_empty_file_is_unusable_input_not_a_broken_rom() -> None:
    """Exit 2 wherever an empty file is met (a .deb member, a file, a set), never exit 1."""
    for call in (parse_rom, rom_errors, valid_rom):
        with pytest.raises(SourceError, match=r"^e\.rom: empty file: not a firmware file"):
            call(b"", "e.rom")


def _patch(data: bytes, offset: int, fmt: str, value: int) -> bytes:
    """``data`` with one little-endian field at ``offset`` replaced."""
    out = bytearray(data)
    struct.pack_into(fmt, out, offset, value)
    return bytes(out)


GOOD = efi_rom()
MALFORMED = [
    ("no-signature", b"\x00" + GOOD[1:], 0, "no option ROM signature"),
    ("random-bytes", bytes(range(256)) * 8, 0, "no option ROM signature"),
    ("truncated-header", GOOD[:20], 0, "truncated image header"),
    ("pcir-outside-file", _patch(GOOD, 0x18, "<H", 0xFFF0), 0x18, "outside the file"),
    (
        "pcir-no-signature",
        GOOD[:PCIR_AT] + b"XXXX" + GOOD[PCIR_AT + 4 :],
        PCIR_AT,
        "no PCIR signature",
    ),
    (
        "zero-image-length",
        _patch(GOOD, PCIR_AT + 0x10, "<H", 0),
        PCIR_AT + 0x10,
        "image length is 0",
    ),
    ("image-past-end", GOOD[:1536], 1024, "runs past the end"),
    ("no-last-image", legacy_image() + efi_image(last=False), 1024, "chain does not end"),
    ("legacy-alone-not-last", legacy_image(), 0, "chain does not end"),
    ("efi-bad-signature", legacy_image() + efi_image(signature=0x1234), 1024 + 4, "EFI signature"),
    (
        "efi-offset-outside",
        legacy_image() + efi_image(image_offset=0x900),
        1024 + 0x16,
        "EFI image offset",
    ),
    ("legacy-init-size-zero", legacy_image(init_units=0) + efi_image(), 2, "initialization size"),
    (
        "legacy-init-size-too-big",
        legacy_image(init_units=9) + efi_image(),
        2,
        "initialization size",
    ),
]


@pytest.mark.parametrize(("data", "offset", "message"), [m[1:] for m in MALFORMED],
                         ids=[m[0] for m in MALFORMED])
def test_malformed_rom_names_file_and_offset(data: bytes, offset: int, message: str) -> None:
    with pytest.raises(RomFormatError, match=message) as caught:
        parse_rom(data, "bad.rom")
    assert caught.value.path == "bad.rom"
    assert caught.value.offset == offset
    assert str(caught.value).startswith(f"bad.rom: offset {offset:#x}: ")
    assert caught.value.exit_code == 1


@pytest.mark.integration
def test_debian_bookworm_roms_parse(bookworm_deb: Path) -> None:
    """Every ROM of the real package: efi-* are legacy + uncompressed x64 EFI, unpadded."""
    roms = dpkg_roms(bookworm_deb)
    assert len([name for name in roms if name.startswith("efi-")]) == 8
    for name, data in roms.items():
        rom = parse_rom(data, name)
        assert rom.problems == ()
        assert rom.images[-1].last
    rom = parse_rom(roms["efi-virtio.rom"], "efi-virtio.rom")
    assert rom.size == 249344
    assert [i.code_type_name for i in rom.images] == ["x86", "efi"]
    assert {i.pci_id for i in rom.images} == {"1af4:1041"}
    assert rom.images[1].efi is not None and rom.images[1].efi.compression_name == "none"
    assert rom.padding_length == 0


@pytest.mark.integration
def test_debian_sid_roms_are_padded_with_ff(sid_deb: Path) -> None:
    rom = parse_rom(dpkg_roms(sid_deb)["efi-virtio.rom"], "efi-virtio.rom")
    assert rom.size == 262144 and rom.padding_byte == 0xFF and rom.padding_length > 0
    assert rom.images[1].efi is not None and rom.images[1].efi.compression_name == "efi_compressed"
