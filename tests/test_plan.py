"""The compat plan: selection, padding, copying, and refusing what does not fit."""

from __future__ import annotations

from pathlib import Path

import pytest

from ipxe_compat.errors import RomFormatError, RomTooLargeError, UsageError
from ipxe_compat.plan import PlanOptions, make_plan, parse_pad_byte
from ipxe_compat.sources import read_sources
from tests import factory


def romset(tmp_path: Path, roms: dict[str, bytes]):  # type: ignore[no-untyped-def]
    for name, data in roms.items():
        (tmp_path / name).write_bytes(data)
    return read_sources([str(tmp_path)])


def test_pad_to_exact_size_keeping_original_bytes(tmp_path: Path) -> None:
    original = factory.efi_rom(1024, 2048)
    plan = make_plan(romset(tmp_path, {"efi-virtio.rom": original, "pxe-virtio.rom": original}),
                     PlanOptions(size=8192))
    assert [rom.name for rom in plan] == ["8k-efi-virtio.rom"]  # default glob is efi-*.rom
    (rom,) = plan
    assert rom.size == 8192
    assert rom.data[: len(original)] == original
    assert set(rom.data[len(original):]) == {0xFF}


def test_padding_into_a_bigger_bucket_is_flagged(tmp_path: Path) -> None:
    small = factory.efi_rom(1024, 1024)  # 2 KiB bucket
    (rom,) = make_plan(romset(tmp_path, {"efi-virtio.rom": small}), PlanOptions(size=8192))
    assert rom.changes_bucket
    (same,) = make_plan(romset(tmp_path, {"efi-virtio.rom": small}), PlanOptions(size=2048))
    assert not same.changes_bucket


def test_copy_keeps_the_file_unchanged(tmp_path: Path) -> None:
    original = factory.efi_rom()
    (rom,) = make_plan(romset(tmp_path, {"efi-virtio.rom": original}),
                       PlanOptions(size=4096, pad=False, prefix="compat-4k-"))
    assert (rom.name, rom.data, rom.pad_byte) == ("compat-4k-efi-virtio.rom", original, None)


def test_pad_byte_and_exact_fit(tmp_path: Path) -> None:
    original = factory.efi_rom(2048, 2048)  # exactly 4096: already in the 4k bucket
    (rom,) = make_plan(romset(tmp_path, {"efi-x.rom": original}),
                       PlanOptions(size=4096, pad_byte=0))
    assert rom.data == original


def test_oversized_rom_is_refused_never_truncated(tmp_path: Path) -> None:
    roms = {"efi-big.rom": factory.efi_rom(2048, 3072), "efi-small.rom": factory.efi_rom()}
    with pytest.raises(RomTooLargeError, match=r"efi-big.rom \(5120 bytes\)") as caught:
        make_plan(romset(tmp_path, roms), PlanOptions(size=4096))
    assert "efi-small" not in str(caught.value)
    assert caught.value.exit_code == 1


def test_invalid_rom_is_refused(tmp_path: Path) -> None:
    bad = factory.legacy_image(good_checksum=False) + factory.efi_image()
    with pytest.raises(RomFormatError, match="checksum") as caught:
        make_plan(romset(tmp_path, {"efi-bad.rom": bad}), PlanOptions(size=4096))
    assert caught.value.offset == 0 and "efi-bad.rom" in str(caught.value)


def test_glob_matching_nothing_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="'efi-virtoi.rom' matches no ROM"):
        make_plan(romset(tmp_path, {"efi-virtio.rom": factory.efi_rom()}),
                  PlanOptions(globs=("efi-virtoi.rom",)))


@pytest.mark.parametrize(("text", "value"), [("0xff", 255), ("0", 0), ("255", 255), ("0x00", 0)])
def test_parse_pad_byte(text: str, value: int) -> None:
    assert parse_pad_byte(text) == value


@pytest.mark.parametrize("text", ["256", "-1", "ff", "", "0x100"])
def test_parse_pad_byte_refuses(text: str) -> None:
    with pytest.raises(UsageError):
        parse_pad_byte(text)


def test_real_bookworm_efi_roms_pad_to_256k(bookworm_deb: Path) -> None:
    plan = make_plan(read_sources([str(bookworm_deb)]), PlanOptions())
    assert len(plan) == 8
    for rom in plan:
        assert rom.name == "256k-" + rom.original.name
        assert rom.size == 262144
        assert rom.data.startswith(rom.original.data)
