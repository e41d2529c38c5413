"""The host side's pure parts: the domain XML edit of qemu-config --apply, a domain's twin, RAM
blocks from info ramblock and from save images, and the verdict. Fast; libvirt itself is
exercised in tests/test_preflight.py."""

from __future__ import annotations

import struct
import subprocess
import sys
import threading
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from ipxe_compat.core.domxml import parse
from ipxe_compat.core.firmware import FileClass, block_class
from ipxe_compat.errors import SourceError, UsageError
from ipxe_compat.host import PreflightRequest, preflight
from ipxe_compat.host.argv import twin_argv
from ipxe_compat.host.bare import MAX_MESSAGE, BareQemu
from ipxe_compat.host.blocks import BlockDiff, differing, parse_ramblock, parse_save_image
from ipxe_compat.host.connection import Calls, Cancelled, Failed, Unanswered
from ipxe_compat.host.report import ROUTES, DomainResult, fix_lines, report
from ipxe_compat.host.twin import twin_xml
from ipxe_compat.qemu import Applied, CompatPaths, apply_xml, combine
from tests import factory
from tests.cli_run import run_cli

VIRTIO = "/usr/share/qemu/256k-efi-virtio.rom"
PATHS = CompatPaths({"virtio": VIRTIO, "e1000": "/usr/share/qemu/256k-efi-e1000.rom",
                     "rtl8139": "/usr/share/qemu/256k-efi-rtl8139.rom"}, {}, ("compat-pkg",))

DOMAIN = """<domain type='kvm' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>
  <name>web1</name>
  <uuid>6c1f0e0a-3b7e-4d57-9a41-0c2b8d1e5f01</uuid>
  <memory unit='KiB'>1048576</memory>
  <memoryBacking><hugepages/><locked/></memoryBacking>
  <vcpu placement='static' cpuset='0-1'>2</vcpu>
  <cputune><vcpupin vcpu='0' cpuset='0'/></cputune>
  <os>
    <type arch='x86_64' machine='pc-q35-7.2'>hvm</type>
    <loader readonly='yes' type='pflash'>/usr/share/OVMF/OVMF_CODE_4M.fd</loader>
    <nvram>/var/lib/libvirt/qemu/nvram/web1_VARS.fd</nvram>
  </os>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <!-- the system disk -->
    <disk type='file' device='disk'>
      <source file='/srv/web1.qcow2'/><target dev='vda' bus='virtio'/>
    </disk>
    <interface type='bridge'>
      <mac address='52:54:00:00:00:01'/>
      <source bridge='br0'/>
      <model type='virtio'/>
      <driver name='vhost'/>
      <address type='pci' domain='0x0000' bus='0x01' slot='0x00' function='0x0'/>
    </interface>
    <interface type='network'><source network='default'/><model type='e1000'/></interface>
    <interface type='network'>
      <model type='rtl8139'/>
      <rom file='/srv/own.rom'/>
    </interface>
    <interface type='hostdev'><source><address type='pci' bus='0x05'/></source></interface>
    <serial type='file'><source path='/var/log/web1.console'/></serial>
    <graphics type='vnc' port='5901'/>
    <video><model type='vga'/></video>
    <hostdev mode='subsystem' type='pci'><source><address bus='0x06'/></source></hostdev>
    <tpm model='tpm-crb'><backend type='emulator'/></tpm>
  </devices>
  <qemu:commandline>
    <qemu:arg value='-global'/>
    <qemu:arg value='e1000e.romfile=old.rom'/>
    <qemu:arg value='-drive'/>
    <qemu:arg value='file=/srv/extra.img'/>
  </qemu:commandline>
</domain>
"""


def _roms(xml: str) -> list[str | None]:
    root = ET.fromstring(xml)
    found = []
    for interface in root.iter("interface"):
        rom = interface.find("rom")
        found.append(rom.get("file") if rom is not None else None)
    return found


def test_apply_adds_the_compat_rom_to_each_mapped_interface_and_leaves_others() -> None:
    applied = apply_xml(DOMAIN, PATHS)
    assert _roms(applied.xml) == [VIRTIO, "/usr/share/qemu/256k-efi-e1000.rom", "/srv/own.rom",
                                  None]
    assert len(applied.changed) == 2
    assert applied.left_alone == ("interface #2 (rtl8139): names another ROM file /srv/own.rom, "
                                  "left alone",)
    # everything else means what it meant: the prefix, the comment, the disk, the loader
    assert '<qemu:arg value="-global" />' in applied.xml
    assert "ns0:" not in applied.xml
    assert "<!-- the system disk -->" in applied.xml
    assert "/srv/web1.qcow2" in applied.xml


def test_apply_finds_an_interface_written_on_one_line() -> None:
    one_line = ("<domain type='qemu'><name>d</name><os><type arch='x86_64'>hvm</type></os>"
                "<devices><interface type='user'><model type='virtio'/></interface></devices>"
                "</domain>")
    applied = apply_xml(one_line, PATHS)
    assert _roms(applied.xml) == [VIRTIO]
    assert "<model type=\"virtio\" /><rom file=\"" + VIRTIO + "\" /></interface>" in applied.xml


def test_apply_is_idempotent() -> None:
    once = apply_xml(DOMAIN, PATHS)
    twice = apply_xml(once.xml, PATHS)
    assert twice.xml == once.xml
    assert twice.changed == ()


def test_apply_reads_a_missing_model_as_libvirts_x86_default() -> None:
    xml = ("<domain type='qemu'><name>d</name><os><type arch='x86_64'>hvm</type></os><devices>"
           "<interface type='user'/></devices></domain>")
    assert _roms(apply_xml(xml, PATHS).xml) == ["/usr/share/qemu/256k-efi-rtl8139.rom"]


def test_apply_changes_nothing_when_nothing_maps() -> None:
    xml = ("<domain type='qemu'><name>d</name><devices><interface type='user'>"
           "<model type='pcnet'/></interface></devices></domain>")
    assert apply_xml(xml, PATHS).xml == xml + "\n"


@pytest.mark.parametrize(("text", "message"), [
    ("<domain><name>x", "not well-formed"),
    ("<network><name>x</name></network>", "not a libvirt <domain>"),
], ids=["broken", "not-a-domain"])
def test_apply_refuses_what_is_no_domain(text: str, message: str) -> None:
    with pytest.raises(SourceError, match=message):
        apply_xml(text, PATHS)


def test_twin_keeps_the_rom_carrying_devices_and_nothing_of_the_guests() -> None:
    twin = twin_xml(parse(DOMAIN), "ipxe-compat-twin-1-0")
    root = ET.fromstring(twin.xml)
    assert root.findtext("name") == "ipxe-compat-twin-1-0"
    assert root.find("uuid") is None
    for gone in ("memoryBacking", "cputune", "os/nvram", "devices/disk", "devices/serial",
                 "devices/graphics", "devices/hostdev", "devices/tpm"):
        assert root.find(gone) is None, gone
    assert root.find("vcpu").get("cpuset") is None  # type: ignore[union-attr]
    assert root.find("os/loader") is not None and root.find("devices/video") is not None
    nics = root.findall("devices/interface")
    assert [n.get("type") for n in nics] == ["user", "user", "user"]  # the SR-IOV one is gone
    first = nics[0]
    assert [c.tag for c in first] == ["mac", "model", "address"]  # no bridge, no vhost
    assert first.find("address").get("bus") == "0x01"  # type: ignore[union-attr]
    assert _roms(twin.xml)[2] == "/srv/own.rom"
    args = [a.get("value") for a in root.iter("{http://libvirt.org/schemas/domain/qemu/1.0}arg")]
    assert args == ["-global", "e1000e.romfile=old.rom"]
    assert "ns0:" not in twin.xml
    assert any("SR-IOV" in item for item in twin.left_out)
    assert any("qemu:commandline" in item for item in twin.left_out)


HEAD = "              Block Name    PSize              Offset               Used              Total"
RAMBLOCK_7_2 = "\n".join([
    HEAD,
    "                  pc.ram    4 KiB  0x0000000000000000 0x0000000004000000 0x0000000004000000",
    "                 pc.bios    4 KiB  0x0000000004000000 0x0000000000040000 0x0000000000040000",
    "0000:00:03.0/virtio-net-pci.rom    4 KiB  0x0000000004080000 0x0000000000040000 "
    "0x0000000000040000",
    "    0000:00:02.0/vga.rom    4 KiB  0x0000000005140000 0x0000000000010000 0x0000000000010000",
])
RAMBLOCK_10_0 = "\n".join([  # QEMU 10.0 adds HVA and RO
    HEAD + "                HVA  RO",
    "                  pc.ram    4 KiB  0x0000000000000000 0x0000000004000000 0x0000000004000000 "
    "0x00007ff6d3e00000  rw",
    "0000:00:03.0/virtio-net-pci.rom    4 KiB  0x0000000004080000 0x0000000000080000 "
    "0x0000000000080000 0x00007ff6d2a00000  ro",
    "                 pc.bios    4 KiB  0x0000000004000000 0x0000000000040000 0x0000000000040000 "
    "0x00007ff71c200000  ro",
])


def test_ramblock_of_both_qemus_and_the_differing_file_fixed_blocks() -> None:
    old, new = parse_ramblock(RAMBLOCK_7_2), parse_ramblock(RAMBLOCK_10_0)
    assert old["0000:00:03.0/virtio-net-pci.rom"] == 0x40000
    assert new["0000:00:03.0/virtio-net-pci.rom"] == 0x80000
    diffs = differing(old, new)
    # pc.ram is equal, and is no file's block anyway; vga.rom is missing at the destination
    assert [(d.block, d.source, d.destination) for d in diffs] == [
        ("0000:00:02.0/vga.rom", 0x10000, None),
        ("0000:00:03.0/virtio-net-pci.rom", 0x40000, 0x80000)]


def test_ramblock_without_blocks_is_refused() -> None:
    with pytest.raises(SourceError, match="lists no block"):
        parse_ramblock("unknown command: 'info ramblock'")


@pytest.mark.parametrize("name", ["0000:00:02.1:00.0/virtio-net-pci.rom",
                                  "0000:00:02.0:00.0:01.0/e1000.rom",
                                  "0000:00:03.0/virtio-net-pci-non-transitional"])
def test_option_rom_blocks_behind_bridges_are_fixed_by_a_file(name: str) -> None:
    assert block_class(name) is FileClass.OPTION_ROM


def _save_image(blocks: dict[str, int], compressed: int = 0, xml: str = "<domain/>") -> bytes:
    data = xml.encode() + b"\0" * 7
    header = b"LibvirtQemudSave" + struct.pack("<5I", 2, len(data), 1, compressed, 0) + b"\0" * 56
    total = sum(blocks.values())
    stream = b"QEVM\x00\x00\x00\x03" + b"\x07" + struct.pack(">I", 10) + b"pc-q35-7.2"
    stream += b"\x01" + struct.pack(">I", 3) + b"\x03ram" + struct.pack(">II", 0, 4)
    stream += struct.pack(">Q", total | 0x04)
    for name, size in blocks.items():
        stream += bytes([len(name)]) + name.encode() + struct.pack(">Q", size)
    return header + data + stream + b"\x00" * 64


def test_save_image_gives_its_xml_machine_and_blocks() -> None:
    blocks = {"pc.ram": 0x4000000, "0000:00:02.1:00.0/virtio-net-pci.rom": 0x40000}
    image = parse_save_image(_save_image(blocks, xml="<domain><name>s1</name></domain>"), "s1")
    assert image.xml == "<domain><name>s1</name></domain>"
    assert image.machine == "pc-q35-7.2"
    assert image.blocks == blocks


def test_save_image_compressed_or_cut_gives_no_blocks() -> None:
    blocks = {"pc.ram": 0x4000000}
    assert parse_save_image(_save_image(blocks, compressed=1), "x").blocks is None
    assert parse_save_image(_save_image(blocks)[:-80], "x").blocks is None


def test_not_a_save_image_is_refused() -> None:
    with pytest.raises(SourceError, match="not a libvirt save image"):
        parse_save_image(b"QFI\xfb" + b"\0" * 200, "disk.qcow2")


@pytest.fixture
def compat_dir(tmp_path: Path) -> Path:
    roms = tmp_path / "roms"
    roms.mkdir()
    for name in ("256k-efi-virtio.rom", "256k-efi-e1000.rom", "256k-efi-rtl8139.rom"):
        (roms / name).write_bytes(factory.efi_rom())
    return roms


def _cli(*args: str, stdin: str = "", cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ipxe_compat", *args], input=stdin, cwd=cwd,
                          capture_output=True, text=True, check=False)


def test_qemu_config_apply_from_stdin_and_a_file(compat_dir: Path, tmp_path: Path) -> None:
    result = _cli("qemu-config", str(compat_dir), "--format", "libvirt", "--apply", "-",
                  stdin=DOMAIN, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert _roms(result.stdout)[:3] == ["/usr/share/qemu/256k-efi-virtio.rom",
                                        "/usr/share/qemu/256k-efi-e1000.rom", "/srv/own.rom"]
    assert result.stderr == ("ipxe-compat: warning: standard input: interface #2 (rtl8139): "
                             "names another ROM file /srv/own.rom, left alone\n")
    (tmp_path / "fixed.xml").write_text(result.stdout)
    again = _cli("qemu-config", str(compat_dir), "--format", "libvirt", "--apply",
                 str(tmp_path / "fixed.xml"), cwd=tmp_path)
    assert again.stdout == result.stdout


def test_qemu_config_apply_needs_the_libvirt_format(compat_dir: Path, tmp_path: Path) -> None:
    result = _cli("qemu-config", str(compat_dir), "--apply", "-", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr == "ipxe-compat: error: --apply goes with --format libvirt\n"


def test_preflight_without_the_binding_names_the_package(tmp_path: Path) -> None:
    blocker = tmp_path / "nolibvirt"
    blocker.mkdir()
    (blocker / "libvirt.py").write_text("raise ImportError('no libvirt here')\n")
    result = subprocess.run([sys.executable, "-c", "import sys; sys.path.insert(0, sys.argv[1]);"
                             "from ipxe_compat.cli import main; main(sys.argv[2:])",
                             str(blocker), "preflight", "--to-uri", "test:///default"],
                            capture_output=True, text=True, check=False, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("ipxe-compat: error: libvirt's Python binding is missing")
    assert "apt-get install python3-libvirt (or pip install libvirt-python)" in result.stderr


def test_preflight_needs_a_destination(tmp_path: Path) -> None:
    result = _cli("preflight", cwd=tmp_path)
    assert result.returncode == 2
    assert "--to-uri" in result.stderr


Q35 = """<domain type='qemu'>
  <name>q</name>
  <os firmware='efi'>
    <type arch='x86_64' machine='pc-q35-7.2'>hvm</type>
    <firmware><feature enabled='no' name='secure-boot'/></firmware>
    <loader readonly='yes' type='pflash' format='raw'>/usr/share/OVMF/OVMF_CODE_4M.fd</loader>
    <nvram template='/usr/share/OVMF/OVMF_VARS_4M.fd'>/var/lib/libvirt/qemu/nvram/q_VARS.fd</nvram>
  </os>
  <devices>
    <controller type='usb' index='0' model='qemu-xhci'>
      <address type='pci' domain='0x0000' bus='0x05' slot='0x00' function='0x0'/>
    </controller>
    <controller type='pci' index='0' model='pcie-root'/>
    <controller type='pci' index='1' model='pcie-root-port'>
      <model name='pcie-root-port'/>
      <target chassis='1' port='0x10'/>
      <address type='pci' domain='0x0000' bus='0x00' slot='0x02' function='0x0' multifunction='on'/>
    </controller>
    <controller type='pci' index='2' model='pcie-root-port'>
      <model name='pcie-root-port'/>
      <target chassis='2' port='0x11'/>
      <address type='pci' domain='0x0000' bus='0x00' slot='0x02' function='0x1'/>
    </controller>
    <controller type='pci' index='4' model='pcie-to-pci-bridge'>
      <model name='pcie-pci-bridge'/>
      <address type='pci' domain='0x0000' bus='0x01' slot='0x00' function='0x0'/>
    </controller>
    <interface type='network'>
      <mac address='52:54:00:ef:fa:1f'/>
      <source network='default'/>
      <model type='virtio'/>
      <address type='pci' domain='0x0000' bus='0x02' slot='0x00' function='0x0'/>
    </interface>
    <interface type='user'>
      <model type='rtl8139'/>
      <rom bar='off'/>
      <address type='pci' domain='0x0000' bus='0x04' slot='0x01' function='0x0'/>
    </interface>
    <interface type='user'>
      <model type='e1000'/>
      <rom file='/srv/a,b.rom'/>
      <address type='pci' domain='0x0000' bus='0x04' slot='0x02' function='0x0'/>
    </interface>
    <interface type='user'><rom enabled='no'/></interface>
    <video>
      <model type='qxl' primary='yes'/>
      <address type='pci' domain='0x0000' bus='0x00' slot='0x01' function='0x0'/>
    </video>
    <video><model type='virtio'/></video>
    <disk type='file' device='disk'><source file='/srv/q.qcow2'/><target dev='vda'/></disk>
  </devices>
</domain>
"""


@pytest.mark.parametrize("xml", [Q35, Q35.replace("<model name='pcie-pci-bridge'/>", "")],
                         ids=["dumpxml", "no-model-name"])
def test_twin_argv_places_each_rom_device_where_libvirt_does(xml: str) -> None:
    twin = twin_xml(parse(xml), "ipxe-compat-twin-1-0")
    assert twin_argv(twin.xml, twin.name) == [
        "-name", "ipxe-compat-twin-1-0", "-machine", "pc-q35-7.2",
        "-drive", "if=pflash,format=raw,unit=0,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.fd",
        # libvirt 11.3's own command line for this domain, as key=value (tests/test_preflight
        # compares the blocks such a twin gets with the libvirt twin's)
        "-device", "pcie-root-port,id=pci.1,chassis=1,port=16,bus=pcie.0,addr=0x2,"
        "multifunction=on",
        "-device", "pcie-root-port,id=pci.2,chassis=2,port=17,bus=pcie.0,addr=0x2.0x1",
        "-device", "pcie-pci-bridge,id=pci.4,bus=pci.1,addr=0x0",
        "-device", "virtio-net-pci,id=net0,mac=52:54:00:ef:fa:1f,bus=pci.2,addr=0x0",
        "-device", "rtl8139,id=net1,bus=pci.4,addr=0x1,rombar=0",
        "-device", "e1000,id=net2,bus=pci.4,addr=0x2,romfile=/srv/a,,b.rom",
        "-device", "rtl8139,id=net3,romfile=",
        "-device", "qxl-vga,id=video0,bus=pcie.0,addr=0x1",
        "-device", "virtio-gpu-pci,id=video1",
    ]


def test_twin_argv_of_an_i440fx_bios_guest_with_a_global() -> None:
    xml = ("<domain type='qemu' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>"
           "<name>o</name><os><type machine='pc-i440fx-7.2'>hvm</type>"
           "<loader type='rom'>/usr/share/ovmf/OVMF.fd</loader></os><devices>"
           "<controller type='pci' index='0' model='pci-root'/><interface type='user'>"
           "<model type='virtio'/><address type='pci' bus='0x00' slot='0x03'/></interface>"
           "</devices><qemu:commandline><qemu:arg value='-global'/>"
           "<qemu:arg value='e1000.romfile=x.rom'/></qemu:commandline></domain>")
    twin = twin_xml(parse(xml), "t")
    assert twin_argv(twin.xml, "t") == [
        "-name", "t", "-machine", "pc-i440fx-7.2", "-bios", "/usr/share/ovmf/OVMF.fd",
        "-device", "virtio-net-pci,id=net0,bus=pci.0,addr=0x3",
        "-global", "e1000.romfile=x.rom"]


@pytest.mark.parametrize(("change", "message"), [
    (("machine='pc-q35-7.2'", ""), "names no machine type"),
    (("<model name='pcie-pci-bridge'/>", "<model name='pxb-pcie'/>"),
     "PCI controller 'pcie-to-pci-bridge' \\(pxb-pcie\\) is not one a twin can build"),
    (("model type='qxl'", "model type='gop'"), "video model 'gop'"),
], ids=["no-machine", "controller", "video"])
def test_twin_argv_refuses_what_it_cannot_build(change: tuple[str, str], message: str) -> None:
    twin = twin_xml(parse(Q35.replace(*change)), "t")
    with pytest.raises(SourceError, match=message):
        twin_argv(twin.xml, "t")


def test_twin_of_a_pflash_guest_makes_no_variable_store() -> None:
    os_ = ET.fromstring(twin_xml(parse(Q35), "t").xml).find("os")
    assert os_ is not None and os_.get("firmware") is None and os_.find("firmware") is None
    assert os_.find("nvram") is None
    loader = os_.find("loader")
    assert loader is not None and loader.get("stateless") == "yes"
    assert loader.text == "/usr/share/OVMF/OVMF_CODE_4M.fd"


def test_twin_of_unresolved_firmware_autoselection_is_refused() -> None:
    xml = ("<domain type='qemu'><name>e</name><os firmware='efi'><type machine='pc-q35-7.2'>"
           "hvm</type></os></domain>")
    with pytest.raises(SourceError, match="firmware auto-selection"):
        twin_xml(parse(xml), "t")


@pytest.mark.parametrize("qemu", ["false", "no-such-qemu-here"])
def test_preflight_to_an_unusable_qemu_is_exit_2(qemu: str, tmp_path: Path) -> None:
    result = _cli("preflight", "--to-qemu", qemu, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("ipxe-compat: error: ")
    assert result.stderr.count("\n") == 1
    assert "--to-qemu false is not a QEMU" in result.stderr or "not found" in result.stderr


def test_preflight_takes_one_destination(tmp_path: Path) -> None:
    result = _cli("preflight", "--to-uri", "test:///default", "--to-qemu", "qemu", cwd=tmp_path)
    assert result.returncode == 2
    assert "one destination: --to-uri URI or --to-qemu CMD" in result.stderr


def test_several_compat_sets_apply_together_unless_they_clash() -> None:
    ovmf = CompatPaths({}, {"/usr/share/ovmf/OVMF.fd": "/usr/share/ovmf/2m-OVMF.fd"},
                       ("ovmf-2m-compat",), {"/usr/share/ovmf/2m-OVMF.fd": "ovmf-2m-compat"})
    ipxe = CompatPaths(PATHS.nics, {}, ("compat-pkg",), dict.fromkeys(PATHS.nics.values(),
                                                                       "compat-pkg"))
    both = combine([ipxe, ovmf, ipxe])
    assert both.nics == PATHS.nics
    assert both.loaders == ovmf.loaders
    assert both.packages == ("compat-pkg", "ovmf-2m-compat")
    # a guest's fix names only the packages whose files its XML now names
    assert both.packages_of(["/usr/share/ovmf/2m-OVMF.fd"]) == ("ovmf-2m-compat",)
    assert both.packages_of([VIRTIO, "/usr/share/ovmf/2m-OVMF.fd"]) == ("compat-pkg",
                                                                       "ovmf-2m-compat")
    other = CompatPaths({"virtio": "/usr/share/qemu/512k-efi-virtio.rom"}, {}, ("other",))
    with pytest.raises(UsageError, match="two compat sets replace NIC model virtio"):
        combine([PATHS, other])


FIRMWARE = CompatPaths({}, {
    "/usr/share/ovmf/OVMF.fd": "/usr/share/ovmf/2m-OVMF.fd",
    "/usr/share/qemu/OVMF.fd": "/usr/share/ovmf/2m-OVMF.fd",
    "/usr/share/OVMF/OVMF_CODE.fd": "/usr/share/OVMF/2m-OVMF_CODE.fd",
    "/usr/share/OVMF/OVMF_VARS.fd": "/usr/share/OVMF/2m-OVMF_VARS.fd"}, ("ovmf-2m-compat",))
PFLASH_GUEST = """<domain type='kvm'><name>uefi</name><os>
  <type arch='x86_64' machine='pc-q35-7.2'>hvm</type>
  <loader readonly='yes' type='pflash'>/usr/share/OVMF/OVMF_CODE.fd</loader>
  <nvram template='/usr/share/OVMF/OVMF_VARS.fd'>/var/lib/libvirt/qemu/nvram/uefi_VARS.fd</nvram>
</os></domain>
"""


def test_apply_names_the_compat_code_image_and_variables_template() -> None:
    applied = apply_xml(PFLASH_GUEST, FIRMWARE)
    os_ = ET.fromstring(applied.xml).find("os")
    assert os_ is not None
    assert os_.findtext("loader") == "/usr/share/OVMF/2m-OVMF_CODE.fd"
    nvram = os_.find("nvram")
    assert nvram is not None and nvram.get("template") == "/usr/share/OVMF/2m-OVMF_VARS.fd"
    assert nvram.text == "/var/lib/libvirt/qemu/nvram/uefi_VARS.fd"  # the guest's own, kept
    assert applied.changed == (
        "<loader> /usr/share/OVMF/OVMF_CODE.fd -> /usr/share/OVMF/2m-OVMF_CODE.fd",
        "<nvram template> /usr/share/OVMF/OVMF_VARS.fd -> /usr/share/OVMF/2m-OVMF_VARS.fd")
    assert applied.used == ("/usr/share/OVMF/2m-OVMF_CODE.fd", "/usr/share/OVMF/2m-OVMF_VARS.fd")
    assert apply_xml(applied.xml, FIRMWARE).changed == ()


def test_apply_leaves_a_loader_of_the_same_name_elsewhere_alone() -> None:
    xml = ("<domain><name>b</name><os><type machine='pc-i440fx-7.2'>hvm</type>"
           "<loader type='rom'>/srv/firmware/OVMF.fd</loader></os></domain>")
    applied = apply_xml(xml, FIRMWARE)
    assert applied.changed == ()
    assert applied.left_alone == ("<loader> /srv/firmware/OVMF.fd: not where the firmware "
                                  "packages install OVMF.fd, left alone",)


def test_a_libvirt_call_without_an_answer_is_bounded_and_cancellable() -> None:
    never = threading.Event()
    calls = Calls(0.2)
    with pytest.raises(Unanswered, match=r"^host x: no answer to getURI within 0.2 s"):
        calls.run((), "host x", "getURI", never.wait, 5)
    with pytest.raises(Failed, match=r"^ValueError: refused$"):
        calls.run((ValueError,), "host x", "call", _refuse)
    calls.cancel()
    with pytest.raises(Cancelled, match=r"^getURI$"):
        calls.run((), "host x", "getURI", never.wait, 5)
    assert calls.run((), "host x", "close", len, "ab", cleanup=True) == 2
    never.set()


def _refuse() -> None:
    raise ValueError("refused")


@pytest.mark.parametrize("field", ["source_uri", "to_uri", "domains", "saved"])
def test_preflight_refuses_names_libvirt_cannot_take(field: str) -> None:
    """A command line's bytes that are not UTF-8 (surrogate escapes): exit 2, shown escaped."""
    value = "qemu:///session?socket=/tmp/\udcff"
    request = PreflightRequest(
        **{"to_uri": "test:///default",
           field: (value,) if field in ("domains", "saved") else value})  # type: ignore[arg-type]
    with pytest.raises(UsageError, match=r"\$'qemu:///session\?socket=/tmp/\\xff': not UTF-8"):
        preflight(request)


def test_a_flooding_qemu_command_gives_a_bounded_error_line() -> None:
    flood = "sh -c 'head -c 100000 /dev/zero | tr \"\\0\" x >&2; exit 1'"
    with pytest.raises(UsageError, match=r"ask: .*x \.\.\. \(\d+ characters cut\) \.\.\. x") \
            as raised:
        BareQemu(flood, 10)
    assert len(raised.value.message) < MAX_MESSAGE + 300


def _result(**change: object) -> DomainResult:
    fields: dict[str, object] = {
        "name": "web1", "state": "running", "source_from": "live", "diffs": (), "error": None,
        "applied": Applied("<domain/>", ("interface 1: <rom file=/usr/share/qemu/256k-efi-virtio"
                                         ".rom/>",), (), (VIRTIO,)),
        "without": (BlockDiff("0000:00:03.0/virtio-net-pci.rom", 0x40000, 0x80000),)}
    return DomainResult(**{**fields, **change})  # type: ignore[arg-type]


def test_each_printed_migrate_is_persistent_with_its_persistent_xml() -> None:
    """virsh: 'Option --persistent is required by option --persistent-xml'."""
    for state in ROUTES:
        result = _result(state=state, file="/srv/w.save" if state == "saved" else None)
        (line,) = fix_lines(result, PATHS, "qemu+ssh://new/system")
        if "--persistent-xml" in line:
            assert " --persistent " in line, line
            assert "web1 qemu+ssh://new/system --xml" in line, line


def test_report_says_whether_the_change_is_needed_and_which_guests_were_not_judged() -> None:
    results = [_result(),
               _result(name="off", state="inactive", without=()),
               _result(name="s", state="saved", file="/srv/s.save", without=None, applied=None,
                       diffs=(BlockDiff("pc.bios", 2 << 20, 4 << 20),)),
               _result(name="gone", state="inactive", source_from="", without=None,
                       error="the source cannot start the guest: failed to find romfile")]
    outcome = report("src", "dst", results, PATHS, "qemu+ssh://new/system")
    verdicts = {d["name"]: d for d in outcome.data["domains"]}
    assert {n: (d["verdict"], d["needed"]) for n, d in verdicts.items()} == {
        "web1": ("ok", True), "off": ("ok", False), "s": ("breaks", None),
        "gone": ("error", None)}
    assert (verdicts["s"]["state"], verdicts["s"]["file"]) == ("saved", "/srv/s.save")
    assert verdicts["gone"]["fix"] == []
    assert outcome.data["summary"] == {"ok": 2, "breaks": 1, "error": 1}
    assert "  without it: breaks: 0000:00:03.0/virtio-net-pci.rom" in outcome.text
    assert "off (inactive): ok\n  fix: install compat-pkg" in outcome.text
    assert "  without it: ok (the change is not needed, and harmless)" in outcome.text
    assert "s (saved: /srv/s.save): breaks: pc.bios" in outcome.text
    assert "gone (inactive): error: not judged: the source cannot start" in outcome.text
    assert outcome.problems[-1] == ("gone (inactive) could not be judged: the source cannot "
                                    "start the guest: failed to find romfile")



def test_report_never_offers_a_change_that_breaks_a_guest_fine_as_it_is() -> None:
    """Review 3: a guest already on the destination's ROMs breaks with the compat ROM and
    migrates without it; the change was offered as the fix and called harmless."""
    grown = (BlockDiff("0000:00:03.0/virtio-net-pci.rom", 0x80000, 0x40000),)
    outcome = report("src", "dst", [_result(diffs=grown, without=())], PATHS, "qemu:///x")
    (domain,) = outcome.data["domains"]
    assert (domain["verdict"], domain["needed"], domain["blocks"]) == ("ok", False, [])
    assert domain["fix"] == ["leave its XML as it is: the change would break it "
                             "(0000:00:03.0/virtio-net-pci.rom 524288 (512 KiB) -> 262144 "
                             "(256 KiB))"]
    assert "install" not in outcome.text and "harmless" not in outcome.text
    assert outcome.problems == ()


def test_a_change_that_mends_nothing_is_not_needed() -> None:
    """Review 3: the OVMF guest judged with the iPXE package alone breaks the same with and
    without the change; needed was true."""
    bios = (BlockDiff("pc.bios", 2 << 20, 4 << 20),)
    outcome = report("src", "dst", [_result(diffs=bios, without=bios)], PATHS, "qemu:///x")
    (domain,) = outcome.data["domains"]
    assert (domain["verdict"], domain["needed"]) == ("breaks", False)
    assert "without it: breaks: pc.bios" in outcome.text
    assert "(the change does not help)" in outcome.text


def test_report_names_a_commandline_romfile_the_fix_overrides() -> None:
    """A <qemu:commandline> -global romfile loses to the added <rom file>: said, not silent."""
    said = "interface #1 (virtio): <rom file> overrides -global virtio-net-pci.romfile=x.rom"
    applied = Applied("<domain/>", ("interface 1: <rom file=/usr/share/qemu/256k-efi-virtio"
                                    ".rom/>",), (), (VIRTIO,), (said,))
    outcome = report("src", "dst", [_result(applied=applied)], PATHS, "qemu+ssh://new/system")
    assert f"  note: {said}" in outcome.text.splitlines()
    assert outcome.data["domains"][0]["overrides"] == [said]


@pytest.mark.parametrize("seconds", ["nan", "0", "-1", "3601"])
def test_preflight_timeout_is_checked_as_verify_migrations(seconds: str, tmp_path: Path) -> None:
    """One rule for --timeout (core/compat.check_timeout), before any host is asked."""
    result = run_cli(["preflight", "--to-uri", "test:///default", "--timeout", seconds],
                     tmp_path)
    assert result.returncode == 2, result.stderr
    assert result.stderr == (f"ipxe-compat: error: --timeout {float(seconds)} is not a number of "
                             "seconds in (0, 3600]\n")
