"""preflight with real libvirt on both sides: a bookworm host (libvirt 9.0, QEMU 7.2, its
ipxe-qemu) and an upgraded trixie host (libvirt 11.3, QEMU 10.0, efi-virtio.rom grown to 300544
bytes, the compat .deb installed), each a session libvirtd in a cached root
(tests/libvirt_session.RootLibvirt), both running at once.

The source's fleet: running, paused, managed-saved and inactive domains on pc-i440fx-7.2 and
pc-q35-7.2 with virtio, e1000, e1000e and rtl8139 NICs and a VGA device (one interface written
on one line), and a ``virsh save`` image. preflight must name exactly the virtio ROM blocks, then
say ok with the compat package applied; the applied XML must restore, managed-save-start and
migrate live on trixie; no twin may outlive the command, even interrupted; and every source
domain's XML must be byte-identical before and after.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import _cannot, require_tool
from tests.libvirt_session import RootLibvirt, domain_xml
from tests.roots import RootSpec, ensure_root

pytestmark = [pytest.mark.integration, pytest.mark.slow]

LIBVIRT = ("qemu-system-x86", "libvirt-daemon", "libvirt-daemon-driver-qemu", "libvirt-clients",
           "ovmf")
GROW_EFI_VIRTIO = ("f=/usr/share/qemu/efi-virtio.rom; "
                   "head -c $((300544 - $(stat -c %s $f))) /dev/zero | tr '\\0' '\\377' >> $f; "
                   "test $(stat -c %s $f) -eq 300544")
VGA = "    <video><model type='vga'/></video>\n"
#: name -> (machine, NIC models, state); the virtio ROM block is what breaks
FLEET = {
    "run-i440fx": ("pc-i440fx-7.2", ["virtio", "e1000", "rtl8139"], "running"),
    "run-q35": ("pc-q35-7.2", ["virtio", "e1000e"], "running"),
    "paused-q35": ("pc-q35-7.2", ["rtl8139", "virtio"], "paused"),
    "msave-i440fx": ("pc-i440fx-7.2", ["virtio", "e1000"], "managed-saved"),
    "off-q35": ("pc-q35-7.2", ["e1000", "rtl8139"], "inactive"),
    "off-oneline": ("pc-i440fx-7.2", [], "inactive"),
}
BREAKING = {  # the exact blocks, as each machine type addresses the first virtio NIC
    "run-i440fx": ["0000:00:03.0/virtio-net-pci.rom"],
    "run-q35": ["0000:00:02.0:00.0/virtio-net-pci.rom"],
    "paused-q35": ["0000:00:02.1:00.0/virtio-net-pci.rom"],
    "msave-i440fx": ["0000:00:03.0/virtio-net-pci.rom"],
    "off-oneline": ["0000:00:03.0/virtio-net-pci.rom"],
    "saved-q35": ["0000:00:02.1:00.0/virtio-net-pci.rom"],
}


def _xml(name: str, machine: str, models: list[str]) -> str:
    xml = domain_xml(name, machine, [(m, None) for m in models])
    xml = xml.replace("</type>\n  </os>", "</type>\n    <boot dev='hd'/>\n  </os>")  # idle
    xml = xml.replace("  </devices>", VGA + "  </devices>")
    if not models:  # the seed's trap: an interface on one line
        xml = xml.replace("  </devices>", "    <interface type='user'><model type='virtio'/>"
                          "</interface>\n  </devices>")
    return xml


@pytest.fixture(scope="module")
def hosts(compat_deb: Path) -> Iterator[tuple[RootLibvirt, RootLibvirt, Path]]:
    require_tool("mmdebstrap", "unshare", "setpriv", "virsh")
    try:
        old = ensure_root(RootSpec("bookworm", LIBVIRT))
        new = ensure_root(RootSpec("trixie", LIBVIRT, (compat_deb,), (GROW_EFI_VIRTIO,)))
    except RuntimeError as error:
        _cannot(str(error))
    try:
        import libvirt  # noqa: F401 (preflight's binding, in the venv through .[libvirt])
    except ImportError:
        _cannot("libvirt-python is missing (.ci/setup installs the libvirt extra)")
    top = Path(tempfile.mkdtemp(prefix="ipxe-pf-", dir="/tmp"))  # sockets: <= 107 bytes
    share = top / "share"
    share.mkdir()
    os.chown(share, 65534, 65534)
    top.chmod(0o755)
    try:
        with RootLibvirt(old, top / "bw", [share]) as source, \
                RootLibvirt(new, top / "tx", [share]) as destination:
            for name, (machine, models, state) in FLEET.items():
                path = source.top / "files" / f"{name}.xml"
                path.write_text(_xml(name, machine, models))
                source.virsh("define", str(path))
                if state != "inactive":
                    source.virsh("start", name)
                if state == "paused":
                    source.virsh("suspend", name)
                if state == "managed-saved":
                    source.virsh("managedsave", name)
            path = source.top / "files" / "saved-q35.xml"
            path.write_text(_xml("saved-q35", "pc-q35-7.2", ["virtio", "rtl8139"]))
            source.virsh("create", str(path))
            source.virsh("save", "saved-q35", str(share / "saved-q35.save"))
            yield source, destination, share
    finally:
        shutil.rmtree(top, ignore_errors=True)


def _preflight(source: RootLibvirt, destination: RootLibvirt, *args: str,
               share: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ipxe_compat", "preflight", "-c", source.uri,
                           "--to-uri", destination.uri, "--saved", str(share / "saved-q35.save"),
                           *args], capture_output=True, text=True, check=False, timeout=300)


def _snapshot(source: RootLibvirt) -> dict[str, str]:
    """Every source domain's XML as libvirt holds it: live, persistent, managed save."""
    xml = {}
    for name in FLEET:
        xml[f"{name} live"] = source.virsh("dumpxml", name).stdout
        xml[f"{name} inactive"] = source.virsh("dumpxml", "--inactive", name).stdout
    xml["msave-i440fx managedsave"] = source.virsh("managedsave-dumpxml", "msave-i440fx").stdout
    return xml


def _twins(destination: RootLibvirt) -> list[str]:
    listed = destination.virsh("list", "--all", "--name").stdout.split()
    return [name for name in listed if name.startswith("ipxe-compat-twin-")]


def test_preflight_names_the_breaking_blocks_then_ok_with_the_fix(
        hosts: tuple[RootLibvirt, RootLibvirt, Path], compat_deb: Path) -> None:
    source, destination, share = hosts
    before = _snapshot(source)

    start = time.monotonic()
    plain = _preflight(source, destination, "--json", share=share)
    seconds = time.monotonic() - start
    assert plain.returncode == 1, plain.stderr
    report = json.loads(plain.stdout)
    assert "libvirt 9.0." in report["source"] and "QEMU 7.2." in report["source"]
    assert "libvirt 11.3." in report["destination"] and "QEMU 10.0." in report["destination"]
    verdicts = {d["name"]: d for d in report["domains"]}
    assert {n: d["state"] for n, d in verdicts.items() if n in FLEET} == {
        n: s for n, (_, _, s) in FLEET.items()}
    assert verdicts["saved-q35"]["state"].startswith("saved: ")
    assert {n: [b["block"] for b in d["blocks"]] for n, d in verdicts.items()
            if d["verdict"] == "breaks"} == BREAKING, plain.stdout
    for name in BREAKING:
        assert verdicts[name]["blocks"][0]["source"] == 0x40000
        assert verdicts[name]["blocks"][0]["destination"] == 0x80000
    assert verdicts["off-q35"]["verdict"] == "ok"
    assert verdicts["run-i440fx"]["source_sizes_from"] == "live"
    assert verdicts["saved-q35"]["source_sizes_from"] == "image"
    assert verdicts["msave-i440fx"]["source_sizes_from"] == "twin"

    fixed = _preflight(source, destination, "--apply", str(compat_deb), share=share)
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    lines = [line for line in fixed.stdout.splitlines() if "): " in line and line[0] != " "]
    assert len(lines) == len(FLEET) + 1 and all(line.endswith(": ok") for line in lines), \
        fixed.stdout
    assert "fix: install ipxe-qemu-256k-compat-efi-roms on the destination" in fixed.stdout

    assert _twins(destination) == []
    assert _twins(source) == []
    assert _snapshot(source) == before
    print(f"\npreflight of {len(FLEET) + 1} guests: {seconds:.2f} s\n{plain.stdout}\n"
          f"{fixed.stdout}")


def _apply(compat_deb: Path, xml: str, share: Path) -> Path:
    result = subprocess.run([sys.executable, "-m", "ipxe_compat", "qemu-config", str(compat_deb),
                             "--format", "libvirt", "--apply", "-"], input=xml,
                            capture_output=True, text=True, check=True)
    path = Path(tempfile.mkstemp(suffix=".xml", dir=share)[1])
    path.write_text(result.stdout)
    path.chmod(0o644)
    return path


def test_the_applied_xml_restores_managed_save_starts_and_migrates(
        hosts: tuple[RootLibvirt, RootLibvirt, Path], compat_deb: Path) -> None:
    source, destination, share = hosts
    image = share / "saved-q35.save"
    failed = destination.virsh("restore", str(image), check=False)
    assert failed.returncode != 0 and "load of migration failed" in failed.stderr
    assert "Size mismatch: 0000:00:02.1:00.0/virtio-net-pci.rom: 0x40000 != 0x80000" in \
        destination.domain_log("saved-q35")
    xml = source.virsh("save-image-dumpxml", str(image)).stdout
    destination.virsh("restore", str(image), "--xml", str(_apply(compat_deb, xml, share)))
    assert destination.virsh("domstate", "saved-q35").stdout.strip() == "running"
    destination.virsh("destroy", "saved-q35")

    # managed save across the upgrade: the definition and its image move to the new host
    name = "msave-i440fx"
    saved = source.virsh("managedsave-dumpxml", name).stdout
    persistent = source.virsh("dumpxml", "--inactive", name).stdout
    destination.virsh("define", str(_apply(compat_deb, persistent, share)))
    into = destination.top / "config/libvirt/qemu/save" / f"{name}.save"
    shutil.copyfile(source.top / "config/libvirt/qemu/save" / f"{name}.save", into)
    os.chown(into, 65534, 65534)
    destination.virsh("managedsave-define", name, str(_apply(compat_deb, saved, share)))
    destination.virsh("start", name)
    assert destination.virsh("domstate", name).stdout.strip() == "running"
    assert "256k-efi-virtio.rom" in destination.virsh("dumpxml", "--inactive", name).stdout
    destination.virsh("destroy", name)

    # live migration, the running guest's XML and its persistent definition both fixed
    name = "run-i440fx"
    live = _apply(compat_deb, source.virsh("dumpxml", "--migratable", name).stdout, share)
    persistent_xml = _apply(compat_deb, source.virsh("dumpxml", "--inactive", "--migratable",
                                                     name).stdout, share)
    uri = f"unix://{share}/migrate.sock"
    plain = source.virsh("migrate", "--live", name, destination.uri, "--migrateuri", uri,
                         check=False)
    assert plain.returncode != 0 and "load of migration failed" in plain.stderr
    source.virsh("migrate", "--live", "--persistent", name, destination.uri, "--migrateuri", uri,
                 "--xml", str(live), "--persistent-xml", str(persistent_xml))
    assert destination.virsh("domstate", name).stdout.strip() == "running"
    assert "256k-efi-virtio.rom" in destination.virsh("dumpxml", "--inactive", name).stdout


def test_no_twin_outlives_an_interrupted_preflight(
        hosts: tuple[RootLibvirt, RootLibvirt, Path]) -> None:
    source, destination, _share = hosts
    for sig in (signal.SIGINT, signal.SIGKILL):
        proc = subprocess.Popen([sys.executable, "-m", "ipxe_compat", "preflight", "-c",
                                 source.uri, "--to-uri", destination.uri, "-j", "2"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 60
        while not _twins(destination) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _twins(destination), "no twin was ever seen"
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
        if sig == signal.SIGINT:
            assert proc.returncode == 130, err
            assert err.strip().endswith("ipxe-compat: error: interrupted"), err
        if sig == signal.SIGKILL:  # libvirt destroys a killed client's AUTODESTROY twins
            deadline = time.monotonic() + 10  # when it sees the connection close
            while _twins(destination) and time.monotonic() < deadline:
                time.sleep(0.1)
        assert _twins(destination) == [], sig
        assert _twins(source) == [], sig
