"""qemu-config and verify-migration planning, without running QEMU."""

from __future__ import annotations

import pytest

from ipxe_compat.core.devices import DEFAULT_ROMFILE, devices_driven_by
from ipxe_compat.errors import SourceError, UsageError
from ipxe_compat.input import Origin, RomFile, RomSet
from ipxe_compat.qemu import qemu_config
from ipxe_compat.qemu.config import mappings, render
from ipxe_compat.qemu.migration import plan_cases


def romset(names: list[str], kind: str = "dir", directory: str = "usr/share/qemu") -> RomSet:
    origin = Origin(kind, "set")
    return RomSet(tuple(RomFile(n, b"\x55\xaa", 0, f"{directory}/{n}" if kind == "deb" else n,
                                origin) for n in names), (origin,))


COMPAT = romset(["256k-efi-virtio.rom", "256k-efi-e1000.rom", "256k-efi-eepro100.rom"])


def test_devices_a_rom_drives_by_name_compat_or_not() -> None:
    family = devices_driven_by("pxe-eepro100.rom")
    assert family[:2] == ("i82550", "i82551") and len(family) == 13
    assert devices_driven_by("efi-eepro100.rom") == family
    assert devices_driven_by("256k-efi-eepro100.rom") == family
    assert devices_driven_by("compat-256k-efi-e1000.rom") == ("e1000", "e1000-82544gc",
                                                              "e1000-82545em")
    assert devices_driven_by("efi-e1000e.rom") == ("e1000e",)  # not efi-e1000.rom's models
    assert devices_driven_by("efi-unknown.rom") == ()


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


def test_any_prefix_pairs_as_check_pairs_it() -> None:
    """One rule: a prefix without a dash (generate --prefix old) pairs in qemu-config too."""
    assert qemu_config(romset(["oldefi-virtio.rom"])) == (
        "-global virtio-net-pci.romfile=oldefi-virtio.rom\n")


@pytest.mark.parametrize(("value", "fragment"), [("7.2", "--machine-compat"),
                                                 ("/usr/../x", "install dir")])
def test_qemu_config_options_are_validated(value: str, fragment: str) -> None:
    option = {"machine_compat": value} if fragment.startswith("--") else {"install_dir": value}
    with pytest.raises(UsageError, match=fragment):
        qemu_config(COMPAT, **option)  # type: ignore[arg-type]


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


def test_migration_pairs_compat_to_compat_and_names_a_tie() -> None:
    cases = plan_cases(romset(["256k-efi-virtio.rom"]), romset(["256k-efi-virtio.rom"]))
    assert [c.device for c in cases] == ["virtio-net-pci"]
    with pytest.raises(SourceError, match="pairs ambiguously"):
        plan_cases(romset(["efi-virtio.rom"]),
                   romset(["256k-efi-virtio.rom", "512k-efi-virtio.rom"]))
