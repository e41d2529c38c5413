"""Firmware classes and their rules (core/firmware.py), the compat name rule, and what the
commands make of firmware sets, in memory: sources, check, inspect, the plan, qemu-config,
verify-migration's cases. The rules themselves are proven on real QEMU in
tests/test_firmware_rules.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from ipxe_compat.check.compare import Verdict, compare, compare_chain, compare_roms
from ipxe_compat.check.report import inspect_roms
from ipxe_compat.core.compat import package_names, split_compat_name
from ipxe_compat.core.devices import BUILTIN
from ipxe_compat.core.firmware import (
    FileClass,
    block_class,
    block_name,
    block_rule,
    block_size,
    classify,
    flash_unit,
    load_error,
    migrates,
)
from ipxe_compat.errors import RomTooLargeError, SourceError, UsageError
from ipxe_compat.input import Origin, RomFile, RomSet, read_source
from ipxe_compat.package.plan import exact_fitting, make_plan
from ipxe_compat.qemu.config import ConfigRequest, qemu_config_text
from ipxe_compat.qemu.discover import QemuFacts
from ipxe_compat.qemu.firmware import firmware_mappings
from ipxe_compat.qemu.migration import Ends, plan_cases
from tests import factory

MIB = 1 << 20


@pytest.mark.parametrize(("name", "kind"), [
    ("efi-virtio.rom", FileClass.OPTION_ROM), ("pxe-e1000.rom", FileClass.OPTION_ROM),
    ("256k-efi-virtio.rom", FileClass.OPTION_ROM), ("vgabios-stdvga.bin", FileClass.OPTION_ROM),
    ("vgabios-bochs-display.bin", FileClass.OPTION_ROM),
    ("bios-256k.bin", FileClass.BIOS), ("bios.bin", FileClass.BIOS),
    ("bios-microvm.bin", FileClass.BIOS), ("qboot.rom", FileClass.BIOS),
    ("OVMF.fd", FileClass.BIOS), ("2m-OVMF.fd", FileClass.BIOS),
    ("OVMF.amdsev.fd", FileClass.BIOS),
    ("OVMF_CODE.fd", FileClass.PFLASH), ("OVMF_CODE_4M.secboot.fd", FileClass.PFLASH),
    ("OVMF_VARS.ms.fd", FileClass.PFLASH), ("2m-OVMF_VARS.fd", FileClass.PFLASH),
    ("OVMF32_CODE_4M.secboot.fd", FileClass.PFLASH),
    ("kvmvapic.bin", FileClass.GENROM), ("vapic.bin", FileClass.GENROM),
    ("linuxboot.bin", FileClass.GENROM), ("linuxboot_dma.bin", FileClass.GENROM),
    ("multiboot_dma.bin", FileClass.GENROM), ("pvh.bin", FileClass.GENROM),
    ("sgabios.bin", FileClass.GENROM), ("vgabios.bin", FileClass.GENROM),
    ("vgabios-ramfb.bin", FileClass.GENROM), ("vgabios-isavga.bin", FileClass.GENROM),
    ("slof.bin", FileClass.OTHER), ("openbios-ppc", FileClass.OTHER),
    ("u-boot-sam460-20100605.bin", FileClass.OTHER), ("QEMU,VGA.bin", FileClass.OTHER),
    ("60-edk2-x86_64.json", FileClass.OTHER), ("acpi-dsdt.aml", FileClass.OTHER),
    ("PkKek-1-snakeoil.pem", FileClass.OTHER), ("s390-ccw.img", FileClass.OTHER),
])
def test_classify_by_name(name: str, kind: FileClass) -> None:
    assert classify(name) is kind


def test_block_rules() -> None:
    # option ROMs: the bucket; exactly 2**n is its own bucket
    assert block_size(FileClass.OPTION_ROM, 39936) == 65536
    assert block_size(FileClass.OPTION_ROM, 262144) == 262144
    # -bios and pflash: the size itself, not a bucket (3 x 64 KiB stays 196608)
    assert block_size(FileClass.BIOS, 196608) == 196608
    assert block_size(FileClass.PFLASH, 1966080) == 1966080
    # fw_cfg ROMs: the page-rounded size of their block on pc-i440fx-1.7
    assert block_size(FileClass.GENROM, 1536) == 4096
    assert block_size(FileClass.GENROM, 9216) == 12288
    assert block_size(FileClass.OTHER, 100) is None
    # equal blocks migrate; a resizeable fw_cfg block takes a smaller one, never a larger one
    assert migrates(FileClass.BIOS, 2 * MIB, 2 * MIB)
    assert not migrates(FileClass.BIOS, 2 * MIB, 4 * MIB)
    assert not migrates(FileClass.BIOS, 4 * MIB, 2 * MIB)
    assert migrates(FileClass.GENROM, 4096, 8192)
    assert not migrates(FileClass.GENROM, 8192, 4096)


def test_block_names_and_back() -> None:
    assert block_name(FileClass.BIOS, "OVMF.fd") == "pc.bios"
    assert block_name(FileClass.PFLASH, "OVMF_VARS.fd", flash_unit("OVMF_VARS.fd")) == \
        "system.flash1"
    assert flash_unit("2m-OVMF_CODE.secboot.fd") == 0
    assert block_name(FileClass.GENROM, "kvmvapic.bin") == "/rom@genroms/kvmvapic.bin"
    assert block_name(FileClass.GENROM, "vgabios-ramfb.bin") == "/rom@vgaroms/vgabios-ramfb.bin"
    # an option ROM's block is named by the device that loads it: no name, a rule
    assert block_name(FileClass.OPTION_ROM, "vgabios-stdvga.bin") is None
    assert block_rule(FileClass.OPTION_ROM, "vgabios-stdvga.bin") == "ADDR/TYPE.rom"
    assert block_rule(FileClass.BIOS, "OVMF.fd") == "pc.bios"
    assert block_rule(FileClass.OTHER, "x.json") is None
    for block, kind in (("pc.bios", FileClass.BIOS), ("system.flash0", FileClass.PFLASH),
                        ("/rom@genroms/linuxboot_dma.bin", FileClass.GENROM),
                        ("0000:00:02.0/vga.rom", FileClass.OPTION_ROM),
                        ("0000:00:03.0/virtio-net-pci-non-transitional", FileClass.OPTION_ROM)):
        assert block_class(block) is kind
    for block in ("pc.ram", "pc.rom", "isa-bios", "0000:00:02.0/vga.vram", "/rom@etc/acpi/tables"):
        assert block_class(block) is None


def test_load_errors_are_qemus() -> None:
    assert load_error(FileClass.BIOS, 65536) is None
    assert "multiple of 64 KiB" in (load_error(FileClass.BIOS, 65536 + 512) or "")
    assert "multiple of 4 KiB" in (load_error(FileClass.PFLASH, 4096 + 1) or "")
    assert load_error(FileClass.PFLASH, 131072) is None
    assert load_error(FileClass.GENROM, 1536) is None


@pytest.mark.parametrize(("name", "split"), [
    ("2m-OVMF.fd", ("2m-", "OVMF.fd")), ("compat-256k-efi-virtio.rom", ("compat-256k-",
                                                                        "efi-virtio.rom")),
    ("512k-efi-e1000.rom", ("512k-", "efi-e1000.rom")), ("OVMF.fd", None),
    ("bios-256k.bin", None), ("efi-virtio.rom", None),
    # Debian's own 4M images are no compat names (review 4: read as "ms.fd" behind a prefix
    # "OVMF_CODE_4M.", a set of them passed check as a compat set)
    ("OVMF_CODE_4M.ms.fd", None), ("OVMF_VARS_4M.ms.fd", None),
    ("OVMF_CODE_4M.secboot.fd", None), ("OVMF_CODE_4M.snakeoil.fd", None),
])
def test_compat_names_split(name: str, split: tuple[str, str] | None) -> None:
    assert split_compat_name(name) == split


def test_firmware_package_names_are_lower_case() -> None:
    assert package_names("2m", "ovmf") == ("ovmf-2m-compat", "ovmf-2m-compat")
    assert package_names("256k") == ("ipxe-qemu-256k-compat", "ipxe-qemu-256k-compat-efi-roms")


# --- sets in memory ----------------------------------------------------------------------

def fileset(label: str, sizes: dict[str, int], kind: str = "dir",
            paths: dict[str, str] | None = None) -> RomSet:
    origin = Origin(kind, label, package="ovmf" if kind == "deb" else None,
                    version="2022.11-6" if kind == "deb" else None)
    rom = factory.efi_rom()
    files = []
    for name, size in sorted(sizes.items()):
        data = (rom + b"\xff" * (size - len(rom))) if classify(name) is FileClass.OPTION_ROM \
            else bytes(size)
        files.append(RomFile(name, data, 0, (paths or {}).get(name, name), origin))
    return RomSet(tuple(files), (origin,))


BOOKWORM = {"OVMF.fd": 2 * MIB, "OVMF_CODE.fd": 1966080, "OVMF_VARS.fd": 131072,
            "OVMF_CODE_4M.fd": 3653632, "OVMF_VARS_4M.fd": 540672}
TRIXIE = {"OVMF.fd": 4 * MIB, "OVMF_CODE_4M.fd": 3653632, "OVMF_VARS_4M.fd": 540672}


def test_check_judges_each_class_by_its_rule() -> None:
    rows = {r.name: r for r in compare(fileset("b", BOOKWORM), fileset("t", TRIXIE))}
    assert rows["OVMF.fd"].verdict is Verdict.BREAKS and rows["OVMF.fd"].block == "pc.bios"
    assert rows["OVMF_CODE.fd"].verdict is Verdict.REMOVED
    assert rows["OVMF_VARS_4M.fd"].verdict is Verdict.OK
    outcome = compare_roms(fileset("b", BOOKWORM), fileset("t", TRIXIE))
    assert outcome.problems[0] == (
        "t/OVMF.fd: block pc.bios changes from 2097152 to 4194304 bytes (system firmware "
        "(-bios): the file's size, exactly), which breaks live migration")
    assert "b/OVMF_CODE.fd: removed (pflash image)" in outcome.problems[1]
    assert outcome.data["summary"]["removed"] == 2


def test_exact_size_changes_break_within_a_bucket() -> None:
    """1966080 -> 2031616 is the same power of two: a bucket rule would call it ok."""
    rows = compare(fileset("o", {"OVMF_CODE.fd": 1966080}),
                   fileset("n", {"OVMF_CODE.fd": 2031616}))
    assert [r.verdict for r in rows] == [Verdict.BREAKS]


def test_fw_cfg_roms_are_noted_never_failed() -> None:
    rows = compare(fileset("o", {"vgabios-ramfb.bin": 29184, "kvmvapic.bin": 9216}),
                   fileset("n", {"vgabios-ramfb.bin": 28672, "kvmvapic.bin": 20000}))
    verdicts = {r.name: (r.verdict, r.note) for r in rows}
    assert verdicts["vgabios-ramfb.bin"][0] is Verdict.OK
    assert "0x8000 does not fit 0x7000" in verdicts["vgabios-ramfb.bin"][1]
    assert verdicts["kvmvapic.bin"][0] is Verdict.OK


def test_a_file_of_another_class_is_classified_not_failed() -> None:
    """qboot.rom on a trixie host is a -bios image, not a broken option ROM."""
    new = fileset("host", {"efi-virtio.rom": 262144, "qboot.rom": 65536})
    outcome = compare_roms(fileset("old", {"efi-virtio.rom": 249344}), new)
    assert outcome.problems == ()
    assert {r["name"]: r["class"] for r in outcome.data["roms"]} == {
        "efi-virtio.rom": "option-rom", "qboot.rom": "bios"}
    report = inspect_roms(new)
    assert report.problems == ()
    assert "system firmware (-bios), block pc.bios of 65536 bytes" in report.text


def test_a_compat_set_carries_some_files_by_design() -> None:
    rows = compare(fileset("o", BOOKWORM), fileset("c", {"2m-OVMF.fd": 2 * MIB}))
    verdicts = {r.name: r.verdict for r in rows}
    assert verdicts["OVMF.fd"] is Verdict.OK
    assert {v for n, v in verdicts.items() if n != "OVMF.fd"} == {Verdict.ONLY_OLD}


def test_chain_compares_each_step() -> None:
    outcome = compare_chain([fileset("bullseye", BOOKWORM), fileset("bookworm", BOOKWORM),
                             fileset("trixie", TRIXIE)])
    assert [step["summary"]["breaks_migration"] for step in outcome.data["steps"]] == [False, True]
    assert outcome.data["breaks_migration"]
    assert outcome.problems[0].startswith("bookworm -> trixie: trixie/OVMF.fd: block pc.bios")
    assert "bullseye -> bookworm\n" in outcome.text


def test_a_block_the_file_does_not_name_is_said_truly() -> None:
    """No placeholder in the output: an option ROM's block is named by the device that loads
    it (JSON: block null, block_rule ADDR/TYPE.rom), a file that fixes no block has none."""
    report = inspect_roms(fileset("d", {"efi-virtio.rom": 249344, "rand.bin": 70000,
                                        "OVMF.fd": 2 * MIB}))
    blocks = {r["name"]: (r["block"], r["block_rule"]) for r in report.data["roms"]}
    assert blocks == {"efi-virtio.rom": (None, "ADDR/TYPE.rom"), "rand.bin": (None, None),
                      "OVMF.fd": ("pc.bios", "pc.bios")}
    assert "None" not in report.text and "TYPE.rom of the device that loads it" in report.text
    assert "rand.bin: 70000 bytes (68.359 KiB), not loaded into a migrated block, from" in \
        report.text
    row = compare_roms(fileset("o", {"efi-virtio.rom": 249344}),
                       fileset("n", {"efi-virtio.rom": 249344})).data["roms"][0]
    assert (row["block"], row["block_rule"]) == (None, "ADDR/TYPE.rom")


def test_inspect_refuses_what_qemu_refuses() -> None:
    report = inspect_roms(fileset("d", {"bios-odd.bin": 65536 + 512, "OVMF_VARS.fd": 4097}))
    assert len(report.problems) == 2
    assert all("QEMU refuses it" in line for line in report.problems)


def test_plan_carries_exact_classes_unchanged_in_their_own_directory() -> None:
    paths = {"OVMF.fd": "usr/share/ovmf/OVMF.fd", "OVMF_CODE.fd": "usr/share/OVMF/OVMF_CODE.fd",
             "OVMF_VARS.fd": "usr/share/OVMF/OVMF_VARS.fd",
             "OVMF_CODE_4M.fd": "usr/share/OVMF/OVMF_CODE_4M.fd",
             "OVMF_VARS_4M.fd": "usr/share/OVMF/OVMF_VARS_4M.fd"}
    romset = fileset("ovmf.deb", BOOKWORM, "deb", paths)
    chosen = exact_fitting(romset, 2 * MIB)
    assert chosen == ("OVMF.fd", "OVMF_CODE.fd", "OVMF_VARS.fd")  # not VARS_4M without its code
    plan = make_plan(romset, size=2 * MIB, globs=chosen, prefix="2m-", pad_byte=0xFF)
    assert [(r.name, r.size, r.pad_byte, r.install_dir) for r in plan] == [
        ("2m-OVMF.fd", 2 * MIB, None, "/usr/share/ovmf"),
        ("2m-OVMF_CODE.fd", 1966080, None, "/usr/share/OVMF"),
        ("2m-OVMF_VARS.fd", 131072, None, "/usr/share/OVMF")]
    assert all(r.data == r.original.data for r in plan)
    placed = make_plan(romset, size=2 * MIB, globs=chosen, prefix="2m-", pad_byte=0xFF,
                       install_dir="/usr/share/qemu")
    assert {r.install_dir for r in placed} == {"/usr/share/qemu"}
    with pytest.raises(RomTooLargeError, match=r"OVMF_CODE_4M\.fd"):
        make_plan(romset, size=2 * MIB, globs=("OVMF_CODE_4M.fd",), prefix="2m-", pad_byte=0xFF)


COMPAT = {"2m-OVMF.fd": 2 * MIB, "2m-OVMF_CODE.fd": 1966080, "2m-OVMF_VARS.fd": 131072}
COMPAT_PATHS = {"2m-OVMF.fd": "usr/share/ovmf/2m-OVMF.fd",
                "2m-OVMF_CODE.fd": "usr/share/OVMF/2m-OVMF_CODE.fd",
                "2m-OVMF_VARS.fd": "usr/share/OVMF/2m-OVMF_VARS.fd"}


def test_firmware_mappings_name_original_path_and_class() -> None:
    maps = firmware_mappings(fileset("c.deb", COMPAT, "deb", COMPAT_PATHS))
    assert {o: (m.path, m.kind, m.unit) for o, m in maps.items()} == {
        "OVMF.fd": ("/usr/share/ovmf/2m-OVMF.fd", FileClass.BIOS, None),
        "OVMF_CODE.fd": ("/usr/share/OVMF/2m-OVMF_CODE.fd", FileClass.PFLASH, 0),
        "OVMF_VARS.fd": ("/usr/share/OVMF/2m-OVMF_VARS.fd", FileClass.PFLASH, 1)}
    assert firmware_mappings(fileset("d", COMPAT), "/srv/fw")["OVMF.fd"].path == \
        "/srv/fw/2m-OVMF.fd"
    assert firmware_mappings(fileset("d", {"OVMF.fd": 2 * MIB})) == {}
    with pytest.raises(SourceError, match=r"OVMF\.fd pairs ambiguously with 2m-OVMF\.fd and "
                       r"4m-OVMF\.fd"):
        firmware_mappings(fileset("d", {"2m-OVMF.fd": 2 * MIB, "4m-OVMF.fd": 4 * MIB}))


def test_qemu_config_for_firmware() -> None:
    romset = fileset("c.deb", COMPAT, "deb", COMPAT_PATHS)
    args, _ = qemu_config_text(romset, ConfigRequest.of("args", None, None, False, False))
    assert "-bios /usr/share/ovmf/2m-OVMF.fd\n" in args
    assert "-drive if=pflash,format=raw,unit=0,readonly=on,file=/usr/share/OVMF/2m-OVMF_CODE.fd" \
        in args
    xml, _ = qemu_config_text(romset, ConfigRequest.of("libvirt", None, None, False, False))
    assert "<loader readonly='yes' type='rom'>/usr/share/ovmf/2m-OVMF.fd</loader>" in xml
    assert "<loader readonly='yes' type='pflash'>/usr/share/OVMF/2m-OVMF_CODE.fd</loader>" in xml
    assert "<nvram template='/usr/share/OVMF/2m-OVMF_VARS.fd'/>" in xml
    with pytest.raises(UsageError, match="--format c takes option ROMs only"):
        qemu_config_text(romset, ConfigRequest.of("c", "7_2", None, False, False))


def test_verify_migration_plans_a_case_per_image() -> None:
    facts = QemuFacts(("qemu",), "7.2.22", "pc-i440fx-7.2", {"pc": "pc-i440fx-7.2"}, BUILTIN)
    ends = Ends(facts, facts, "pc-i440fx-7.2")
    cases = plan_cases(fileset("b", BOOKWORM), fileset("c", COMPAT), (), ends)
    assert [(c.device, c.source and c.source.name, c.target and c.target.name)
            for c in cases] == [("-bios", "OVMF.fd", "2m-OVMF.fd"),
                                ("pflash0", "OVMF_CODE.fd", "2m-OVMF_CODE.fd"),
                                ("pflash1", "OVMF_VARS.fd", "2m-OVMF_VARS.fd")]
    only = plan_cases(fileset("b", BOOKWORM), fileset("c", COMPAT), ["-bios"], ends)
    assert [c.device for c in only] == ["-bios"]


# --- sources on disk -----------------------------------------------------------------------

def test_a_directory_reads_firmware_and_leaves_the_rest(tmp_path: Path) -> None:
    (tmp_path / "qboot.rom").write_bytes(bytes(65536))
    (tmp_path / "kvmvapic.bin").write_bytes(bytes(9216))
    (tmp_path / "openbios-ppc").write_bytes(b"x")
    (tmp_path / "descriptor.json").write_text("{}")
    _, files = read_source(str(tmp_path))
    assert sorted((f.name, f.kind) for f in files) == [
        ("kvmvapic.bin", FileClass.GENROM), ("qboot.rom", FileClass.BIOS)]


def test_a_root_is_read_as_qemu_finds_its_files(tmp_path: Path) -> None:
    """microvm's bios-microvm.bin: /usr/share/qemu's (qboot, 64 KiB) before seabios' (128 KiB)."""
    for directory, size in (("usr/share/qemu", 65536), ("usr/share/seabios", 131072)):
        (tmp_path / directory).mkdir(parents=True)
        (tmp_path / directory / "bios-microvm.bin").write_bytes(bytes(size))
    (tmp_path / "usr/share/ovmf").mkdir(parents=True)
    (tmp_path / "usr/share/ovmf/OVMF.fd").write_bytes(bytes(2 * MIB))
    origin, files = read_source(str(tmp_path))
    assert origin.kind == "root"
    assert {f.name: (f.size, f.installed) for f in files} == {
        "bios-microvm.bin": (65536, "/usr/share/qemu/bios-microvm.bin"),
        "OVMF.fd": (2 * MIB, "/usr/share/ovmf/OVMF.fd")}


def test_a_metapackage_names_its_dependencies(tmp_path: Path) -> None:
    deb = tmp_path / "ovmf.deb"
    deb.write_bytes(factory.deb({"usr/share/doc/ovmf/README": b"hi"}, package="ovmf",
                                depends="ovmf-generic, ovmf-amdsev"))
    with pytest.raises(SourceError, match="it depends on 'ovmf-generic, ovmf-amdsev'"):
        read_source(str(deb))


def test_firmware_in_a_package_is_read_from_every_firmware_directory(tmp_path: Path) -> None:
    deb = tmp_path / "fw.deb"
    deb.write_bytes(factory.deb({"usr/share/ovmf/OVMF.fd": bytes(2 * MIB),
                                 "usr/share/OVMF/OVMF_CODE.fd": bytes(1966080),
                                 "usr/share/seabios/bios-256k.bin": bytes(262144),
                                 "usr/share/qemu/firmware/60-edk2.json": b"{}"}))
    _, files = read_source(str(deb))
    assert {(f.name, f.path) for f in files} == {
        ("OVMF.fd", "usr/share/ovmf/OVMF.fd"), ("OVMF_CODE.fd", "usr/share/OVMF/OVMF_CODE.fd"),
        ("bios-256k.bin", "usr/share/seabios/bios-256k.bin")}


def test_apply_rewrites_a_loader_that_names_the_original() -> None:
    from ipxe_compat.qemu import apply_xml, compat_paths

    romset = fileset("c.deb", COMPAT, "deb", COMPAT_PATHS)
    paths = compat_paths(romset)
    assert paths.loaders == {
        "/usr/share/ovmf/OVMF.fd": "/usr/share/ovmf/2m-OVMF.fd",
        "/usr/share/qemu/OVMF.fd": "/usr/share/ovmf/2m-OVMF.fd",  # Debian's link
        "/usr/share/OVMF/OVMF_CODE.fd": "/usr/share/OVMF/2m-OVMF_CODE.fd",
        "/usr/share/qemu/OVMF_CODE.fd": "/usr/share/OVMF/2m-OVMF_CODE.fd",
        # variables images: for <nvram template> (tests/test_host.py)
        "/usr/share/OVMF/OVMF_VARS.fd": "/usr/share/OVMF/2m-OVMF_VARS.fd",
        "/usr/share/qemu/OVMF_VARS.fd": "/usr/share/OVMF/2m-OVMF_VARS.fd"}
    domain = ("<domain type='kvm'><name>g</name><os><type arch='x86_64'>hvm</type>"
              "<loader readonly='yes' type='pflash'>/usr/share/OVMF/OVMF_CODE.fd</loader>"
              "</os></domain>")
    applied = apply_xml(domain, paths)
    assert ">/usr/share/OVMF/2m-OVMF_CODE.fd</loader>" in applied.xml
    assert apply_xml(applied.xml, paths).changed == ()  # its own output changes nothing
    mine = domain.replace("/usr/share/OVMF/OVMF_CODE.fd", "/srv/own/OVMF_CODE.fd")
    assert apply_xml(mine, paths).changed == ()  # a copy of the user's own is left alone
