"""The compat plan: selection, padding, copying, and refusing what does not fit."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ipxe_compat.core.compat import DEFAULT_GLOBS
from ipxe_compat.core.fields import pad_byte as parse_pad_byte
from ipxe_compat.errors import RomFormatError, RomTooLargeError, UsageError
from ipxe_compat.input import RomSet, read_sources
from ipxe_compat.package.plan import CompatRom, make_plan
from tests import factory
from tests.dpkg import dpkg_roms


def romset(tmp_path: Path, roms: dict[str, bytes]) -> RomSet:
    for name, data in roms.items():
        (tmp_path / name).write_bytes(data)
    return read_sources([str(tmp_path)])


def plan(roms: RomSet, size: int = 4096, globs: tuple[str, ...] = DEFAULT_GLOBS,
         prefix: str | None = None, pad_byte: int | None = 0xFF) -> tuple[CompatRom, ...]:
    label = f"{size >> 10}k-"
    return make_plan(roms, size=size, globs=globs, prefix=label if prefix is None else prefix,
                     pad_byte=pad_byte)


def test_pad_to_exact_size_keeping_original_bytes(tmp_path: Path) -> None:
    original = factory.efi_rom(1024, 2048)
    planned = plan(romset(tmp_path, {"efi-virtio.rom": original, "pxe-virtio.rom": original}),
                   size=8192)
    assert [rom.name for rom in planned] == ["8k-efi-virtio.rom"]  # default glob is efi-*.rom
    (rom,) = planned
    assert rom.size == 8192
    assert rom.data[: len(original)] == original
    assert set(rom.data[len(original):]) == {0xFF}


def test_padding_into_a_bigger_bucket_is_flagged(tmp_path: Path) -> None:
    small = factory.efi_rom(1024, 1024)  # 2 KiB bucket
    (rom,) = plan(romset(tmp_path, {"efi-virtio.rom": small}), size=8192)
    assert rom.changes_bucket
    (same,) = plan(romset(tmp_path, {"efi-virtio.rom": small}), size=2048)
    assert not same.changes_bucket


def test_copy_keeps_the_file_unchanged(tmp_path: Path) -> None:
    original = factory.efi_rom()
    (rom,) = plan(romset(tmp_path, {"efi-virtio.rom": original}), pad_byte=None,
                  prefix="compat-4k-")
    assert (rom.name, rom.data, rom.pad_byte) == ("compat-4k-efi-virtio.rom", original, None)


def test_pad_byte_fills_what_follows_the_original(tmp_path: Path) -> None:
    original = factory.efi_rom(1024, 1024)  # 2048 bytes: 2048 to fill up to 4k
    (rom,) = plan(romset(tmp_path, {"efi-x.rom": original}), pad_byte=0x00)
    assert (rom.size, rom.pad_byte) == (4096, 0x00)
    assert rom.data[:2048] == original and rom.data[2048:] == bytes(2048)


def test_exact_fit_gets_no_padding(tmp_path: Path) -> None:
    original = factory.efi_rom(2048, 2048)  # exactly 4096: already in the 4k bucket
    (rom,) = plan(romset(tmp_path, {"efi-x.rom": original}), pad_byte=0x00)
    assert rom.data == original


def test_oversized_rom_is_refused_never_truncated(tmp_path: Path) -> None:
    roms = {"efi-big.rom": factory.efi_rom(2048, 3072), "efi-small.rom": factory.efi_rom()}
    with pytest.raises(RomTooLargeError, match=r"efi-big.rom \(5120 bytes\)") as caught:
        plan(romset(tmp_path, roms))
    assert "efi-small" not in str(caught.value)
    assert caught.value.exit_code == 1


def test_invalid_rom_is_refused(tmp_path: Path) -> None:
    bad = factory.legacy_image(good_checksum=False) + factory.efi_image()
    with pytest.raises(RomFormatError, match="checksum") as caught:
        plan(romset(tmp_path, {"efi-bad.rom": bad}))
    assert caught.value.offset == 0 and "efi-bad.rom" in str(caught.value)


def test_glob_matching_nothing_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"'efi-virtoi\.rom' matches no ROM"):
        plan(romset(tmp_path, {"efi-virtio.rom": factory.efi_rom()}), globs=("efi-virtoi.rom",))


@pytest.mark.parametrize(("text", "value"), [("0xff", 255), ("0", 0), ("255", 255), ("0x00", 0)])
def test_parse_pad_byte(text: str, value: int) -> None:
    assert parse_pad_byte(text) == value


@pytest.mark.parametrize("text", ["256", "-1", "ff", "", "0x100"])
def test_parse_pad_byte_refuses(text: str) -> None:
    with pytest.raises(UsageError, match=f"pad byte '{re.escape(text)}' is not a byte value"):
        parse_pad_byte(text)


@pytest.mark.integration
def test_real_bookworm_efi_roms_pad_to_256k(bookworm_deb: Path) -> None:
    planned = plan(read_sources([str(bookworm_deb)]), size=262144)
    originals = dpkg_roms(bookworm_deb)
    assert sorted(rom.original.name for rom in planned) == sorted(
        name for name in originals if name.startswith("efi-"))
    for rom in planned:
        original = originals[rom.original.name]
        assert rom.name == "256k-" + rom.original.name
        assert rom.size == 262144
        assert rom.data[:len(original)] == original
        assert set(rom.data[len(original):]) == {0xFF}
