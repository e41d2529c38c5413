"""verify-migration's text report names the ROM file at both ends of every migration, also of one
that failed (where the destination never answered which ROM it loaded). Pure: no QEMU runs."""

from __future__ import annotations

from ipxe_compat.core.devices import BUILTIN
from ipxe_compat.qemu.discover import QemuFacts
from ipxe_compat.qemu.migration import Ends, MigrationCase, MigrationResult, results_table

MISMATCH = ("Size mismatch: 0000:00:02.0/virtio-net-pci.rom: 0x40000 != 0x80000: "
            "Invalid argument")


def facts(version: str) -> QemuFacts:
    return QemuFacts(("qemu-system-x86_64",), version, "pc-i440fx-7.2",
                     {"pc-i440fx-7.2": "pc-i440fx-7.2"}, BUILTIN)


def row(report: str, device: str) -> list[str]:
    (line,) = [line for line in report.splitlines() if line.startswith(f"{device} ")]
    return line.split(maxsplit=3)


def test_a_failed_migration_names_the_destinations_default_rom() -> None:
    ends = Ends(facts("7.2.22"), facts("10.0.13"), "pc-i440fx-7.2")
    failed = MigrationResult(MigrationCase("virtio-net-pci", None, None), "failed", MISMATCH, 0.2)
    assert row(results_table(ends, [failed]), "virtio-net-pci")[:3] == [
        "virtio-net-pci", "efi-virtio.rom", "efi-virtio.rom"]


def test_the_destination_rom_is_the_one_to_config_gave_the_family() -> None:
    """-global on the family's type reaches the model; the last such line wins, as in QEMU."""
    ends = Ends(facts("7.2.22"), facts("10.0.13"), "pc-q35-7.2",
                ("e1000-base.romfile=256k-efi-e1000.rom",
                 "virtio-net-pci-base.romfile=old-efi-virtio.rom",
                 "virtio-net-pci-base.romfile=256k-efi-virtio.rom"))
    results = [
        MigrationResult(MigrationCase("virtio-net-pci-transitional", None, None), "failed",
                        MISMATCH, 0.2),
        MigrationResult(MigrationCase("rtl8139", None, None), "timeout", "still active", 30.0),
        MigrationResult(MigrationCase("e1000", None, None), "completed", None, 0.1,
                        "256k-efi-e1000.rom"),
    ]
    report = results_table(ends, results)
    assert row(report, "virtio-net-pci-transitional")[1:3] == ["efi-virtio.rom",
                                                              "256k-efi-virtio.rom"]
    assert row(report, "rtl8139")[1:3] == ["efi-rtl8139.rom", "efi-rtl8139.rom"]
    assert row(report, "e1000")[1:3] == ["efi-e1000.rom", "256k-efi-e1000.rom"]
    assert "default" not in report
