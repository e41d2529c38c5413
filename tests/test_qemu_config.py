"""qemu-config and verify-migration planning, without running QEMU."""

from __future__ import annotations

from pathlib import Path

import pytest

from ipxe_compat.core.devices import BUILTIN, NicTable, devices_driven_by
from ipxe_compat.core.families import Family, families
from ipxe_compat.errors import SourceError, UsageError
from ipxe_compat.input import Origin, RomFile, RomSet, read_sources
from ipxe_compat.qemu import compat_paths, qemu_config
from ipxe_compat.qemu.config import mappings, render
from ipxe_compat.qemu.discover import QemuFacts, pci_nic_models
from ipxe_compat.qemu.migration import Ends, parse_globals, plan_cases, plan_installed
from ipxe_compat.qemu.patch import (
    QemuSource,
    RomfileEntry,
    control_patch,
    patched_source,
)


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


def test_args_name_each_family_once() -> None:
    text = render(mappings(COMPAT, BUILTIN, None), "args")
    assert text == (
        "-global e1000-base.romfile=256k-efi-e1000.rom\n"
        "-global virtio-net-pci-base.romfile=256k-efi-virtio.rom\n"
    )  # efi-eepro100.rom is nobody's default: mapping it would change i8255x's ROM size


def test_a_family_is_the_highest_type_whose_every_model_loads_the_rom() -> None:
    parents: dict[str, str | None] = {
        "virtio-net-pci": "virtio-net-pci-base",
        "virtio-net-pci-transitional": "virtio-net-pci-base",
        "virtio-net-pci-base": "virtio-pci",
        "virtio-blk-pci": "virtio-blk-pci-base",
        "virtio-blk-pci-base": "virtio-pci",
        "virtio-pci": "pci-device",
        "rtl8139": "pci-device",
        "pci-device": "device",
        "device": None,
    }
    abstract = frozenset({"virtio-net-pci-base", "virtio-blk-pci-base", "virtio-pci",
                          "pci-device", "device"})
    defaults = {"virtio-net-pci": "efi-virtio.rom", "virtio-net-pci-transitional": "efi-virtio.rom",
                "rtl8139": "efi-rtl8139.rom"}
    assert families(defaults, parents, abstract) == [
        Family("rtl8139", "efi-rtl8139.rom", ("rtl8139",)),
        Family("virtio-net-pci-base", "efi-virtio.rom",
               ("virtio-net-pci", "virtio-net-pci-transitional"))]
    # a member with another default splits the family: each model stands for itself
    split = {**defaults, "virtio-net-pci-transitional": "pxe-virtio.rom"}
    assert [f.driver for f in families(split, parents, abstract)] == [
        "rtl8139", "virtio-net-pci", "virtio-net-pci-transitional"]


def test_pci_nics_are_read_from_device_help() -> None:
    text = ('Network devices:\nname "e1000", bus PCI, alias "e1000-82540em", desc "Intel"\n'
            'name "ne2k_isa", bus ISA\nname "virtio-net-pci", bus PCI, alias "virtio-net"\n'
            'name "virtio-net-device", bus virtio-bus\n\nStorage devices:\n'
            'name "virtio-blk-pci", bus PCI\n')
    assert pci_nic_models(text) == ["e1000", "virtio-net-pci"]


def test_libvirt_uses_the_install_dir_of_the_package() -> None:
    deb = romset(["256k-efi-virtio.rom"], kind="deb", directory="usr/lib/ipxe/qemu")
    text = render(mappings(deb, BUILTIN, None), "libvirt")
    assert text.startswith(
        "<!-- virtio-net-pci: instead of efi-virtio.rom -->\n"
        "<interface type='network'>\n"
        "  <source network='default'/>\n"
        "  <model type='virtio'/>\n"
        "  <rom file='/usr/lib/ipxe/qemu/256k-efi-virtio.rom'/>\n"
        "</interface>\n"
    )
    # libvirt names concrete models: one interface per model of the family
    assert [line for line in text.splitlines() if "<model" in line] == [
        "  <model type='virtio'/>", "  <model type='virtio-non-transitional'/>",
        "  <model type='virtio-transitional'/>"]
    assert "/opt/roms/256k-efi-virtio.rom" in render(mappings(deb, BUILTIN, "/opt/roms"),
                                                      "libvirt")


def test_c_entries_name_the_compat_array() -> None:
    text = render(mappings(romset(["256k-efi-virtio.rom"]), BUILTIN, None), "c", "7_2")
    assert text.splitlines()[0].startswith("/* In hw_compat_7_2[]")
    assert (
        text.splitlines()[-1] == '    { "virtio-net-pci-base", "romfile", "256k-efi-virtio.rom" },'
    )


def test_plain_roms_are_not_compat_roms() -> None:
    with pytest.raises(UsageError, match="no compat ROM"):
        mappings(romset(["efi-virtio.rom"]), BUILTIN, None)


def test_two_compat_roms_of_one_default_are_refused_as_check_refuses_them() -> None:
    """Ubuntu's and Debian's name for one original in one set: no two conflicting -global
    lines, no duplicate C entries, no --apply that picks one (the pairing error of check)."""
    both = romset(["compat-256k-efi-e1000.rom", "compat-256k-efi-virtio.rom",
                   "256k-efi-virtio.rom"])
    error = ("efi-virtio.rom pairs ambiguously with 256k-efi-virtio.rom and "
             "compat-256k-efi-virtio.rom")
    for fmt in ("args", "libvirt", "c"):
        with pytest.raises(SourceError, match=error):
            qemu_config(both, fmt, "7_2" if fmt == "c" else None)
    with pytest.raises(SourceError, match=error):
        compat_paths(both)  # qemu-config --apply, preflight --apply


def test_any_prefix_pairs_as_check_pairs_it() -> None:
    """One rule: any prefix that ends in a dash (generate --prefix old-) pairs in qemu-config
    too; a name that merely ends in a ROM's name is no compat name of it."""
    assert qemu_config(romset(["old-efi-virtio.rom"])) == (
        "-global virtio-net-pci-base.romfile=old-efi-virtio.rom\n")
    with pytest.raises(UsageError, match="no compat ROM"):
        qemu_config(romset(["oldefi-virtio.rom"]))


@pytest.mark.parametrize(("value", "fragment"), [("7.2", "--machine-compat"),
                                                 ("\u0667_\u0662", "--machine-compat"),
                                                 ("_7", "--machine-compat"),
                                                 ("/usr/../x", "install dir")])
def test_qemu_config_options_are_validated(value: str, fragment: str) -> None:
    option = {"machine_compat": value} if fragment.startswith("--") else {"install_dir": value}
    with pytest.raises(UsageError, match=fragment):
        qemu_config(COMPAT, **option)  # type: ignore[arg-type]


ENDS = Ends(QemuFacts(("qemu",), "7.2.22", "pc-i440fx-7.2", {"pc": "pc-i440fx-7.2"}, BUILTIN),
            QemuFacts(("qemu",), "7.2.22", "pc-i440fx-7.2", {"pc": "pc-i440fx-7.2"},
                      NicTable.build({m: r for m, r in BUILTIN.defaults.items()
                                      if m != "i82801"}, {}, frozenset())),
            "pc-i440fx-7.2")


def test_migration_cases_pair_by_stripped_name() -> None:
    old = romset(["efi-virtio.rom", "efi-e1000.rom", "pxe-virtio.rom"])
    cases = plan_cases(old, COMPAT, (), ENDS)
    assert [(c.device, c.source and c.source.name, c.target and c.target.name)
            for c in cases] == [
        ("e1000", "efi-e1000.rom", "256k-efi-e1000.rom"),
        ("e1000-82544gc", "efi-e1000.rom", "256k-efi-e1000.rom"),
        ("e1000-82545em", "efi-e1000.rom", "256k-efi-e1000.rom"),
        ("virtio-net-pci", "efi-virtio.rom", "256k-efi-virtio.rom"),
        ("virtio-net-pci-non-transitional", "efi-virtio.rom", "256k-efi-virtio.rom"),
        ("virtio-net-pci-transitional", "efi-virtio.rom", "256k-efi-virtio.rom"),
    ]  # pxe-virtio.rom has no partner in TO
    only = plan_cases(old, COMPAT, ["virtio-net-pci-non-transitional"], ENDS)
    assert [c.device for c in only] == ["virtio-net-pci-non-transitional"]
    with pytest.raises(UsageError, match="unknown device model"):
        plan_cases(old, COMPAT, ["virtio-net"], ENDS)
    with pytest.raises(UsageError, match="unknown device model"):  # not on the destination
        plan_cases(old, COMPAT, ["i82801"], ENDS)
    with pytest.raises(UsageError, match="no file of FROM has a partner"):
        plan_cases(romset(["efi-rtl8139.rom"]), COMPAT, (), ENDS)


def test_installed_mode_tries_every_model_both_qemus_have() -> None:
    devices = [c.device for c in plan_installed((), ENDS)]
    assert len(devices) == len(BUILTIN.defaults) - 1 and "i82801" not in devices
    assert all(c.source is None and c.target is None for c in plan_installed((), ENDS))


def test_to_config_takes_only_global_lines() -> None:
    assert parse_globals("-global virtio-net-pci-base.romfile=256k-efi-virtio.rom\n\n") == (
        "virtio-net-pci-base.romfile=256k-efi-virtio.rom",)
    for bad in ("-device e1000", "-global x.romfile=a;rm", "-global a.b=c -S"):
        with pytest.raises(UsageError, match="--to-config line 1"):
            parse_globals(bad)


def test_migration_pairs_compat_to_compat_and_names_a_tie() -> None:
    cases = plan_cases(romset(["256k-efi-virtio.rom"]), romset(["256k-efi-virtio.rom"]), (), ENDS)
    assert cases[0].device == "virtio-net-pci"
    with pytest.raises(SourceError, match="pairs ambiguously"):
        plan_cases(romset(["efi-virtio.rom"]),
                   romset(["256k-efi-virtio.rom", "512k-efi-virtio.rom"]), (), ENDS)


MACHINE_C = """GlobalProperty hw_compat_8_0[] = {
    { "migration", "multifd-flush-after-each-section", "on" },
};

GlobalProperty hw_compat_7_2[] = {
    { "e1000e", "migrate-timadj", "off" },
};
const size_t hw_compat_7_2_len = G_N_ELEMENTS(hw_compat_7_2);
"""


def test_patched_source_appends_to_the_one_array() -> None:
    entry = RomfileEntry("virtio-net-pci-base", "256k-efi-virtio.rom")
    new = patched_source(MACHINE_C, "hw_compat_7_2", [entry], "machine.c")
    compat_7_2 = new.split("hw_compat_7_2[] = {", 1)[1].split("};", 1)[0]
    assert compat_7_2.rstrip().endswith(entry.c()) and entry.c() not in new.split("7_2")[0]
    with pytest.raises(SourceError, match="applied already"):
        patched_source(new, "hw_compat_7_2", [entry], "machine.c")
    with pytest.raises(UsageError, match="hw_compat_6_2"):
        patched_source(MACHINE_C, "hw_compat_6_2", [entry], "machine.c")


def test_control_patch_adds_the_dependency_once() -> None:
    control = ("Source: qemu\n\nPackage: qemu-system-x86\nDepends: ${misc:Depends},\n"
               " ipxe-qemu,\nRecommends: ovmf\n\nPackage: qemu-utils\nDepends: x\n")
    diff = control_patch(control, "ipxe-qemu-256k-compat-efi-roms")
    assert "+ ipxe-qemu-256k-compat-efi-roms,\n" in diff and diff.count("\n+ ") == 1
    new = control.replace(" ipxe-qemu,\n", " ipxe-qemu,\n ipxe-qemu-256k-compat-efi-roms,\n")
    with pytest.raises(SourceError, match="already depends"):
        control_patch(new, "ipxe-qemu-256k-compat-efi-roms")
    one_line = control_patch("Package: qemu-system-x86\nDepends: a\n", "b")
    assert "-Depends: a\n+Depends: a,\n+ b\n" in one_line
    assert QemuSource("d", "hw/core/machine.c", "", None).control is None


def test_qemu_config_of_a_built_ovmf_tree_names_the_installed_paths(tmp_path: Path) -> None:
    from tests.test_sources import _built_tree

    romset = read_sources([str(_built_tree(tmp_path))])
    text = qemu_config(romset)
    assert "-bios /usr/share/ovmf/2m-OVMF.fd" in text
    assert "/usr/share/qemu" not in text
