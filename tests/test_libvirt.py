"""libvirt for real: a domain whose interfaces name the compat ROMs validates, starts under a
private libvirtd (tests/libvirt_session.py), and its running QEMU reports and maps those ROMs.

Debian bookworm's libvirt 9.0 and QEMU 7.2; under CI=true a missing tool fails.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import require_tool
from tests.libvirt_session import PrivateLibvirt, domain_xml
from tests.tools import run

pytestmark = pytest.mark.integration

# libvirt <model type> -> (QOM type QEMU instantiates, the compat ROM for its family)
MODELS = {
    "virtio": ("virtio-net-pci", "256k-efi-virtio.rom"),
    "virtio-transitional": ("virtio-net-pci-transitional", "256k-efi-virtio.rom"),
    "virtio-non-transitional": ("virtio-net-pci-non-transitional", "256k-efi-virtio.rom"),
    "e1000": ("e1000", "256k-efi-e1000.rom"),
    "e1000e": ("e1000e", "256k-efi-e1000e.rom"),
    "rtl8139": ("rtl8139", "256k-efi-rtl8139.rom"),
}


@pytest.fixture(scope="module")
def compat_roms(compat_deb: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The compat .deb's files, unpacked (so the test does not install it on the host)."""
    tree = tmp_path_factory.mktemp("compat-roms")
    subprocess.run(["dpkg-deb", "-x", str(compat_deb), str(tree)], check=True)
    return tree / "usr" / "share" / "qemu"


@pytest.mark.parametrize("machine", ["pc-i440fx-7.2", "pc-q35-7.2"])
def test_domain_with_compat_roms_validates_starts_and_loads_them(compat_roms: Path,
                                                                 machine: str,
                                                                 tmp_path: Path) -> None:
    require_tool("libvirtd", "virsh", "virt-xml-validate", "qemu-system-x86_64")
    with PrivateLibvirt() as libvirt:
        roms = {p.name: p for p in libvirt.share(sorted(compat_roms.glob("256k-efi-*.rom")))}
        xml = domain_xml("ipxe-compat", machine,
                         [(model, str(roms[rom])) for model, (_, rom) in MODELS.items()])
        (tmp_path / "domain.xml").write_text(xml)
        valid = subprocess.run(["virt-xml-validate", str(tmp_path / "domain.xml"), "domain"],
                               capture_output=True, text=True, check=False)
        assert valid.returncode == 0, valid.stderr
        (libvirt.top / "files" / "domain.xml").write_text(xml)
        libvirt.virsh("define", str(libvirt.top / "files" / "domain.xml"))
        libvirt.virsh("start", "--paused", "ipxe-compat")
        assert libvirt.virsh("domstate", "ipxe-compat").stdout.strip() == "paused"

        for index, (qom_type, rom) in enumerate(MODELS.values()):
            path = f"/machine/peripheral/net{index}"
            assert libvirt.qmp("ipxe-compat", "qom-get", path=path, property="type") == qom_type
            assert libvirt.qmp("ipxe-compat", "qom-get", path=path,
                               property="romfile") == str(roms[rom])
        # QEMU sized every NIC's ROM block from the 262144-byte compat file: 256 KiB.
        blocks = libvirt.virsh("qemu-monitor-command", "ipxe-compat", "--hmp",
                               "info ramblock").stdout
        # "0000:00:03.0/e1000.rom  4 KiB  OFFSET  USED  TOTAL" (names cut at 31 characters)
        sizes = dict(re.findall(r"^\s*([0-9a-f]{4}:\S+)\s+\d+ \w+\s+0x\w+\s+(0x\w+)", blocks,
                                re.MULTILINE))
        assert len(sizes) == len(MODELS), blocks
        assert set(sizes.values()) == {"0x0000000000040000"}, blocks


@pytest.mark.parametrize("machine", ["pc-i440fx-7.2", "pc-q35-7.2"])
def test_qemu_config_libvirt_output_starts_a_domain_with_the_compat_roms(
        compat_deb: Path, compat_roms: Path, machine: str, tmp_path: Path) -> None:
    """``qemu-config --format libvirt`` pasted into a domain: one interface per concrete model,
    the transitional ones included; it validates, starts, and QEMU loads the compat ROMs."""
    require_tool("libvirtd", "virsh", "virt-xml-validate", "qemu-system-x86_64")
    with PrivateLibvirt() as libvirt:
        shared = libvirt.share(sorted(compat_roms.glob("256k-efi-*.rom")))
        snippet = run([sys.executable, "-m", "ipxe_compat", "qemu-config", compat_deb,
                       "--format", "libvirt", "--install-dir", str(shared[0].parent)],
                      cwd=tmp_path).stdout
        models = re.findall(r"<model type='([^']+)'/>", snippet)
        assert {"virtio", "virtio-transitional", "virtio-non-transitional", "e1000",
                "e1000-82544gc", "e1000-82545em", "e1000e", "rtl8139"} <= set(models)
        # The private daemon has no 'default' network: the same interfaces in user mode.
        user = snippet.replace("<interface type='network'>\n  <source network='default'/>\n",
                               "<interface type='user'>\n")
        assert user.count("<interface type='user'>") == len(models)
        xml = domain_xml("from-qemu-config", machine, []).replace(
            "  </devices>", "".join(f"    {line}\n" for line in user.splitlines()) + "  </devices>")
        (libvirt.top / "files" / "domain.xml").write_text(xml)
        valid = subprocess.run(["virt-xml-validate", str(libvirt.top / "files" / "domain.xml"),
                                "domain"], capture_output=True, text=True, check=False)
        assert valid.returncode == 0, valid.stderr + xml
        libvirt.virsh("define", str(libvirt.top / "files" / "domain.xml"))
        libvirt.virsh("start", "--paused", "from-qemu-config")
        roms = re.findall(r"<rom file='([^']+)'/>", snippet)
        for index, rom in enumerate(roms):
            assert (
                libvirt.qmp(
                    "from-qemu-config",
                    "qom-get",
                    path=f"/machine/peripheral/net{index}",
                    property="romfile",
                )
                == rom
            )
        assert {Path(rom).name for rom in roms} == {p.name for p in shared} - {
            "256k-efi-eepro100.rom"}  # no model loads efi-eepro100.rom by default
