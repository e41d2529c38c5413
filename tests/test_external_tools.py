"""One list of external programs: the hint a user reads and the package's Recommends.

Each place that runs a program is run here with an empty PATH: its error names the Debian package
from ipxe_compat.core.tools, the very list debian/rules turns into Recommends.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import ipxe_compat
from ipxe_compat.core.compat import DEFAULT_QEMU
from ipxe_compat.core.tools import TOOLS, install_hint, package, substvars
from ipxe_compat.errors import IpxeCompatError
from ipxe_compat.input import apt, read_source
from ipxe_compat.package.build import build_source_package
from ipxe_compat.qemu import find_qemu
from tests import factory

SOURCE = Path(ipxe_compat.__file__).parent  # the package under test, installed or not


@pytest.fixture
def no_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")


def test_missing_dpkg_source_names_dpkg_dev(no_path: None, tmp_path: Path) -> None:
    with pytest.raises(
        IpxeCompatError, match=r"cannot run dpkg-source \(apt-get install dpkg-dev\)"
    ):
        build_source_package(tmp_path, "tree", "x_source.changes", 0)


def test_missing_zstd_names_zstd(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    deb = tmp_path / "ipxe-qemu_1.0-1_all.deb"
    deb.write_bytes(factory.ipxe_qemu_deb({"efi-virtio.rom": factory.efi_rom()}, compression="zst"))
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(IpxeCompatError, match=r"apt-get install zstd"):
        read_source(str(deb))


def test_missing_apt_names_apt(no_path: None) -> None:
    with pytest.raises(IpxeCompatError, match=r"cannot run apt-cache: .* \(no apt: "):
        apt.fetch("apt:ipxe-qemu")


def test_missing_qemu_names_qemu_system_x86(no_path: None) -> None:
    with pytest.raises(IpxeCompatError, match=r"apt-get install qemu-system-x86"):
        find_qemu(DEFAULT_QEMU)


def test_an_unlisted_program_cannot_be_looked_up() -> None:
    with pytest.raises(KeyError, match="curl"):
        install_hint("curl")


def test_every_listed_program_is_run_somewhere() -> None:
    """No stale entry: each program is named in the code that runs it."""
    code = "\n".join(path.read_text() for path in SOURCE.rglob("*.py")
                     if path.name != "tools.py" or path.parent.name != "core")
    for tool in TOOLS:
        assert f'"{tool.program}"' in code, tool.program


def test_substvars_is_the_recommends_line() -> None:
    assert substvars() == ("ipxe-compat:Recommends=apt, dpkg-dev, python3-libvirt, "
                           "qemu-system-x86, zstd\n")
    assert package("dpkg-genchanges") == "dpkg-dev"
