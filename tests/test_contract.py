"""The contract module (ipxe_compat/core/compat.py): one rule per concept, and the two bugs that
came from writing a rule twice (SOURCE_DATE_EPOCH parsed two ways; the compat package named from
the prefix in one place and from the bucket in another)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from ipxe_compat.core import compat
from ipxe_compat.errors import UsageError
from tests.cli_run import run_cli
from tests.factory import efi_rom

MACHINE_C = """GlobalProperty hw_compat_7_2[] = {
    { "e1000e", "migrate-timadj", "off" },
};
"""
CONTROL = "Source: qemu\n\nPackage: qemu-system-x86\nDepends: ${misc:Depends},\n ipxe-qemu,\n"


def cli(*args: str | Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return run_cli(args, Path.cwd(), {"PATH": "/usr/bin:/bin", **(env or {})})


def qemu_tree(top: Path) -> Path:
    (top / "hw" / "core").mkdir(parents=True)
    (top / "hw" / "core" / "machine.c").write_text(MACHINE_C)
    (top / "debian").mkdir()
    (top / "debian" / "control").write_text(CONTROL)
    return top


def compat_set(top: Path, prefix: str) -> Path:
    top.mkdir()
    for nic in ("virtio", "e1000"):
        (top / f"{prefix}efi-{nic}.rom").write_bytes(efi_rom(padding=b"\xff" * 1024))
    return top


@pytest.mark.parametrize("prefix", ["256k-", "compat-256k-"])
def test_control_patch_names_the_package_generate_makes(tmp_path: Path, prefix: str) -> None:
    """Ubuntu's compat-256k- names are ipxe-qemu-256k-compat-efi-roms' ROMs too (not
    ipxe-qemu-compat-256k-compat-efi-roms, which no one makes)."""
    result = cli("qemu-config", compat_set(tmp_path / "set", prefix), "--format", "patch",
                 "--machine-compat", "7_2", "--qemu-source", qemu_tree(tmp_path / "qemu"),
                 "--control-patch", tmp_path / "control.diff")
    assert result.returncode == 0, result.stderr
    assert "\n+ ipxe-qemu-256k-compat-efi-roms,\n" in (tmp_path / "control.diff").read_text()
    source, package = compat.package_names(compat.label_of(256 << 10))
    assert (source, package) == ("ipxe-qemu-256k-compat", "ipxe-qemu-256k-compat-efi-roms")


@pytest.mark.parametrize("value", ["99999999999999999999", "-1", "1e9", "253402300800", " 1"])
def test_source_date_epoch_is_refused_alike_by_every_command(tmp_path: Path, value: str) -> None:
    """qemu-config --format patch and generate read SOURCE_DATE_EPOCH through one parser: the
    same value is the same exit 2 and message (qemu-config used to exit 3, OverflowError)."""
    env = {"SOURCE_DATE_EPOCH": value, "DEBFULLNAME": "A B", "DEBEMAIL": "a@example.org"}
    patch = cli("qemu-config", compat_set(tmp_path / "set", "256k-"), "--format", "patch",
                "--machine-compat", "7_2", "--qemu-source", qemu_tree(tmp_path / "qemu"), env=env)
    generate = cli("generate", tmp_path / "set", "-o", tmp_path / "out", "--roms", "*.rom",
                   "--origin-source", "ipxe", "--origin-version", "1.0-1", env=env)
    expected = "is not a number of seconds from 1970 to the end of year 9999"
    for result in (patch, generate):
        assert result.returncode == 2, result.stderr
        assert result.stderr.startswith("ipxe-compat: error: SOURCE_DATE_EPOCH ")
        assert expected in result.stderr and result.stderr.count("\n") == 1
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(("size", "prefix"), [(256 << 10, "256k-"), (512 << 10, "512k-"),
                                              (1 << 20, "1m-"), (2 << 20, "2m-")])
def test_the_prefix_rule_and_its_inverse_agree(size: int, prefix: str) -> None:
    assert compat.default_prefix(size) == prefix
    label = prefix.removesuffix("-")
    assert compat.package_of_prefix(prefix) == compat.package_names(label)[1]
    assert compat.package_of_prefix(f"compat-{prefix}") == compat.package_names(label)[1]


def test_a_prefix_without_a_bucket_names_no_package() -> None:
    with pytest.raises(UsageError, match=r"prefix 'old-' names no bucket \(e\.g\. 256k-\)"):
        compat.package_of_prefix("old-")


def test_the_epoch_rule_accepts_what_reproducible_builds_gives() -> None:
    assert compat.source_date_epoch({}) is None
    assert compat.source_date_epoch({"SOURCE_DATE_EPOCH": "1700000000"}) == 1700000000
