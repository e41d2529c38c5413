"""qemu-config and verify-migration planning, without running QEMU."""

from __future__ import annotations

import pytest

from ipxe_compat.errors import UsageError
from ipxe_compat.migration import plan_cases
from ipxe_compat.qemu_config import mappings, render
from ipxe_compat.qemu_devices import DEFAULT_ROMFILE, devices_driven_by, split_compat_name, stem
from ipxe_compat.sources import Origin, RomFile, RomSet


def romset(names: list[str], kind: str = "dir", directory: str = "usr/share/qemu") -> RomSet:
    origin = Origin(kind, "set")
    return RomSet(tuple(RomFile(n, b"\x55\xaa", 0, f"{directory}/{n}" if kind == "deb" else n,
                                origin) for n in names), (origin,))


COMPAT = romset(["256k-efi-virtio.rom", "256k-efi-e1000.rom", "256k-efi-eepro100.rom"])


def test_split_compat_name_and_stem() -> None:
    assert split_compat_name("256k-efi-virtio.rom") == ("256k-", "efi-virtio.rom")
    assert split_compat_name("compat-256k-efi-e1000.rom") == ("compat-256k-", "efi-e1000.rom")
    assert split_compat_name("efi-virtio.rom") == ("", "efi-virtio.rom")
    assert stem("256k-efi-eepro100.rom") == stem("pxe-eepro100.rom") == "eepro100"
    assert devices_driven_by("efi-eepro100.rom")[:2] == ("i82550", "i82551")


def test_args_only_for_devices_whose_default_is_replaced() -> None:
    text = render(mappings(COMPAT, DEFAULT_ROMFILE, None), "args")
    assert text == (
        "-global e1000.romfile=256k-efi-e1000.rom\n"
        "-global e1000-82544gc.romfile=256k-efi-e1000.rom\n"
        "-global e1000-82545em.romfile=256k-efi-e1000.rom\n"
        "-global virtio-net-pci.romfile=256k-efi-virtio.rom\n"
    )  # efi-eepro100.rom is nobody's default: mapping it would change i8255x's ROM size


def test_libvirt_uses_the_install_dir_of_the_package() -> None:
    deb = romset(["256k-efi-virtio.rom"], kind="deb", directory="usr/lib/ipxe/qemu")
    assert render(mappings(deb, DEFAULT_ROMFILE, None), "libvirt") == (
        "<!-- virtio-net-pci: instead of efi-virtio.rom -->\n"
        "<interface type='network'>\n"
        "  <source network='default'/>\n"
        "  <model type='virtio'/>\n"
        "  <rom file='/usr/lib/ipxe/qemu/256k-efi-virtio.rom'/>\n"
        "</interface>\n"
    )
    assert "/opt/roms/256k-efi-virtio.rom" in render(mappings(deb, DEFAULT_ROMFILE, "/opt/roms"),
                                                      "libvirt")


def test_c_entries_name_the_compat_array() -> None:
    text = render(mappings(romset(["256k-efi-virtio.rom"]), DEFAULT_ROMFILE, None), "c", "7_2")
    assert text.splitlines()[0].startswith("/* In hw_compat_7_2[]")
    assert text.splitlines()[-1] == '    { "virtio-net-pci", "romfile", "256k-efi-virtio.rom" },'


def test_plain_roms_are_not_compat_roms() -> None:
    with pytest.raises(UsageError, match="no compat ROM"):
        mappings(romset(["efi-virtio.rom"]), DEFAULT_ROMFILE, None)


def test_migration_cases_pair_by_stripped_name() -> None:
    old = romset(["efi-virtio.rom", "efi-e1000.rom", "pxe-virtio.rom"])
    cases = plan_cases(old, COMPAT)
    assert [(c.device, c.source.name, c.target.name) for c in cases][:4] == [
        ("e1000", "efi-e1000.rom", "256k-efi-e1000.rom"),
        ("e1000-82544gc", "efi-e1000.rom", "256k-efi-e1000.rom"),
        ("e1000-82545em", "efi-e1000.rom", "256k-efi-e1000.rom"),
        ("virtio-net-pci", "efi-virtio.rom", "256k-efi-virtio.rom"),
    ]
    assert len(cases) == 4  # pxe-virtio.rom has no partner in TO
    only = plan_cases(old, COMPAT, devices=["virtio-net-pci"])
    assert [c.device for c in only] == ["virtio-net-pci"]
    with pytest.raises(UsageError, match="unknown NIC model"):
        plan_cases(old, COMPAT, devices=["virtio-net"])
    with pytest.raises(UsageError, match="no ROM of FROM has a partner"):
        plan_cases(romset(["efi-rtl8139.rom"]), COMPAT)
