"""What verify-migration runs for FROM TO, and that it skips nothing in silence (review-1 #6): a
file TO lacks is a case that cannot run (a failure), a VGA option ROM runs with its display
devices, a file no case covers is named with why, and --to-config takes -global lines only.
Pure: no QEMU runs (the QEMU command below does not exist)."""

from __future__ import annotations

import pytest

from ipxe_compat.core.devices import BUILTIN, DISPLAY_ROMFILE, displays_driven_by
from ipxe_compat.errors import UsageError
from ipxe_compat.input import Origin, RomFile, RomSet
from ipxe_compat.qemu.discover import QemuFacts, pci_display_models
from ipxe_compat.qemu.migration import (
    Ends,
    Plan,
    migrate,
    parse_globals,
    plan_installed,
    plan_sets,
    results_json,
    results_table,
)

MIB = 1 << 20
DISPLAYS = ("VGA", "cirrus-vga", "bochs-display", "virtio-gpu-pci", "secondary-vga")


def ends(displays: tuple[str, ...] = DISPLAYS) -> Ends:
    facts = QemuFacts(("no-such-qemu",), "7.2.22", "pc-i440fx-7.2",
                      {"pc-i440fx-7.2": "pc-i440fx-7.2"}, BUILTIN, True, displays)
    return Ends(facts, facts, "pc-i440fx-7.2")


def files(label: str, sizes: dict[str, int]) -> RomSet:
    origin = Origin("dir", label)
    return RomSet(tuple(RomFile(name, b"\x55\xaa" + bytes(size - 2), 0, name, origin)
                        for name, size in sorted(sizes.items())), (origin,))


BOOKWORM_OVMF = {"OVMF.fd": 2 * MIB, "OVMF_CODE.fd": 1966080, "OVMF_VARS.fd": 131072,
                 "OVMF_CODE_4M.fd": 3653632, "OVMF_VARS_4M.fd": 540672}
TRIXIE_OVMF = {"OVMF.fd": 4 * MIB, "OVMF_CODE_4M.fd": 3653632, "OVMF_VARS_4M.fd": 540672}


def cases(plan: Plan) -> list[tuple[str, str | None, str | None]]:
    return [(c.device, c.source and c.source.name, c.target and c.target.name)
            for c in plan.cases]


def test_an_image_to_lacks_is_a_case_that_cannot_run() -> None:
    plan = plan_sets(files("b", BOOKWORM_OVMF), files("t", TRIXIE_OVMF), (), ends())
    assert cases(plan) == [("-bios", "OVMF.fd", "OVMF.fd"),
                           ("pflash0", "OVMF_CODE.fd", None),
                           ("pflash0", "OVMF_CODE_4M.fd", "OVMF_CODE_4M.fd"),
                           ("pflash1", "OVMF_VARS.fd", None),
                           ("pflash1", "OVMF_VARS_4M.fd", "OVMF_VARS_4M.fd")]
    missing = [c for c in plan.cases if c.missing]
    result = migrate(ends(), missing[0])  # no QEMU starts: the command does not exist
    assert (result.status, result.error) == (
        "missing", "TO has no OVMF_CODE.fd: a guest that uses it cannot start there")
    assert not result.ok
    table = results_table(ends(), [result])
    assert "pflash0  OVMF_CODE.fd (1966080)  -   missing: TO has no OVMF_CODE.fd" in table
    assert "0 of 1 migrations completed (1 cannot run: TO lacks the file)" in table
    summary = results_json(ends(), [result])["summary"]
    assert summary == {"completed": 0, "failed": 0, "missing": 1, "not_tested": 0}


def test_device_leaves_out_a_missing_image_and_says_so() -> None:
    plan = plan_sets(files("b", BOOKWORM_OVMF), files("t", TRIXIE_OVMF), ["pflash0"], ends())
    assert [c.device for c in plan.cases] == ["pflash0", "pflash0"]
    assert [(u.rom.name, u.reason) for u in plan.untested] == [
        ("OVMF.fd", "not chosen by --device"),
        ("OVMF_VARS.fd", "not chosen by --device (TO lacks it)"),
        ("OVMF_VARS_4M.fd", "not chosen by --device")]


def test_a_compat_set_lacks_nothing() -> None:
    """A compat set carries some files of its origin by design (check: only-old)."""
    plan = plan_sets(files("b", BOOKWORM_OVMF), files("c", {"2m-OVMF.fd": 2 * MIB}), (), ends())
    assert cases(plan) == [("-bios", "OVMF.fd", "2m-OVMF.fd")]
    assert plan.untested == ()


def test_vga_roms_run_with_their_display_devices() -> None:
    old = files("vo", {"vgabios-stdvga.bin": 39936, "vgabios-cirrus.bin": 39424,
                       "vgabios-qxl.bin": 39936, "bios-256k.bin": 262144,
                       "kvmvapic.bin": 9216})
    new = files("vn", {"vgabios-stdvga.bin": 70000, "vgabios-cirrus.bin": 39424,
                       "vgabios-qxl.bin": 39936, "bios-256k.bin": 262144,
                       "kvmvapic.bin": 9216})
    plan = plan_sets(old, new, (), ends())
    assert cases(plan) == [("-bios", "bios-256k.bin", "bios-256k.bin"),
                           ("VGA", "vgabios-stdvga.bin", "vgabios-stdvga.bin"),
                           ("cirrus-vga", "vgabios-cirrus.bin", "vgabios-cirrus.bin")]
    # qxl-vga is no display of these QEMUs; a fw_cfg ROM is loaded by name, not from a file
    assert [(u.rom.name, u.reason) for u in plan.untested] == [
        ("kvmvapic.bin", "fw_cfg option ROM: QEMU loads it by name from its own directory, and "
                         "migrates it as a RAM block only on pc-i440fx-1.7"),
        ("vgabios-qxl.bin", "no NIC or display model of both QEMUs loads it")]
    json_ = results_json(ends(), [], plan.untested)
    assert json_["not_tested"][0] == {"name": "kvmvapic.bin", "class": "genrom",
                                      "reason": plan.untested[0].reason}
    table = results_table(ends(), [], plan.untested)
    assert "not tested: vgabios-qxl.bin: no NIC or display model of both QEMUs loads it\n" in table
    only = plan_sets(old, new, ["VGA"], ends())
    assert cases(only) == [("VGA", "vgabios-stdvga.bin", "vgabios-stdvga.bin")]
    compat = plan_sets(old, files("c", {"64k-vgabios-stdvga.bin": 65536}), (), ends())
    assert cases(compat) == [("VGA", "vgabios-stdvga.bin", "64k-vgabios-stdvga.bin")]
    with pytest.raises(UsageError, match=r"unknown device model\(s\) qxl-vga"):
        plan_sets(old, new, ["qxl-vga"], ends())


def test_a_fw_cfg_rom_to_lacks_is_a_failure_too() -> None:
    plan = plan_sets(files("o", {"kvmvapic.bin": 9216, "bios-256k.bin": 262144}),
                     files("n", {"bios-256k.bin": 262144}), (), ends())
    assert cases(plan) == [("-", "kvmvapic.bin", None), ("-bios", "bios-256k.bin",
                                                         "bios-256k.bin")]
    assert plan.cases[0].missing


def test_installed_mode_runs_nic_models_only() -> None:
    assert "VGA" not in {c.device for c in plan_installed((), ends())}
    with pytest.raises(UsageError, match="installed-ROMs mode runs the NIC models"):
        plan_installed(["VGA"], ends())


def test_to_config_refuses_firmware_lines() -> None:
    """qemu-config's args for a firmware compat package: -bios and pflash lines, which the
    installed-ROMs mode cannot apply (it was silently dropping them)."""
    text = ("# guests started with OVMF.fd:\n-bios /usr/share/ovmf/2m-OVMF.fd\n"
            "-global e1000-base.romfile=256k-efi-e1000.rom\n")
    with pytest.raises(UsageError, match=r"--to-config line 2 names a -bios or pflash image .*"
                       r"applies -global lines only; verify firmware images with FROM TO"):
        parse_globals(text)
    pflash = "-drive if=pflash,format=raw,unit=0,readonly=on,file=/usr/share/OVMF/2m-OVMF_CODE.fd"
    with pytest.raises(UsageError, match="--to-config line 1 names a -bios or pflash image"):
        parse_globals(pflash)


def test_display_models_and_their_roms() -> None:
    listing = ('Display devices:\nname "ati-vga", bus PCI\nname "isa-vga", bus ISA\n'
               'name "VGA", bus PCI\n\nNetwork devices:\nname "e1000", bus PCI\n')
    assert pci_display_models(listing) == ["ati-vga", "VGA"]
    assert displays_driven_by("vgabios-stdvga.bin") == ("VGA",)
    assert displays_driven_by("compat-64k-vgabios-cirrus.bin") == ("cirrus-vga",)
    assert displays_driven_by("vgabios-isavga.bin") == ()  # isa-vga: fw_cfg
    assert displays_driven_by("efi-virtio.rom") == ()
    assert len(set(DISPLAY_ROMFILE.values())) == len(DISPLAY_ROMFILE)
