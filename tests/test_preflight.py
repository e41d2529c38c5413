"""preflight with real libvirt on both sides: a bookworm host (libvirt 9.0, QEMU 7.2, its
ipxe-qemu) and an upgraded trixie host (libvirt 11.3, QEMU 10.0, efi-virtio.rom grown to 300544
bytes, the compat .deb installed), each a session libvirtd in a cached root
(tests/libvirt_session.RootLibvirt), both running at once.

The source's fleet: running, paused, managed-saved and inactive domains on pc-i440fx-7.2 and
pc-q35-7.2 with virtio, e1000, e1000e and rtl8139 NICs and a VGA device (one interface written
on one line), a ``-bios OVMF.fd`` guest (bookworm's 2 MiB OVMF.fd; trixie's is 4 MiB), and a
``virsh save`` image. preflight must name exactly the virtio ROM blocks and the OVMF guest's
pc.bios, then say ok with the iPXE and the OVMF compat packages applied (both installed on
trixie); the applied XML must restore, managed-save-start and migrate on trixie; no twin may
outlive the command, even interrupted; and every source domain's XML must be byte-identical
before and after. The destination is trixie's libvirt (--to-uri) or its QEMU command
(--to-qemu): the same verdicts.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ipxe_compat.host.report import ROUTES
from tests import archive
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
    "ovmf-i440fx": ("pc-i440fx-7.2", ["e1000"], "paused"),  # started paused: OVMF never runs
    "uefi-q35": ("pc-q35-7.2", ["e1000e"], "inactive"),
}
#: guests with firmware of their own: bookworm's OVMF.fd with -bios (2 MiB; trixie's is 4 MiB),
#: and the 4 MiB pflash build (the same on both) whose twins must leave no variable store behind
OVMF_GUESTS = {
    "ovmf-i440fx": "    <loader type='rom'>/usr/share/ovmf/OVMF.fd</loader>\n",
    "uefi-q35": "    <loader readonly='yes' type='pflash'>/usr/share/OVMF/OVMF_CODE_4M.fd"
                "</loader>\n    <nvram template='/usr/share/OVMF/OVMF_VARS_4M.fd'/>\n",
}
VIRTIO = (0x40000, 0x80000)  # 249344 bytes (256 KiB block) -> 300544 (512 KiB)
#: the exact blocks that break, as each machine type addresses them, and both sizes
BREAKING = {
    "run-i440fx": {"0000:00:03.0/virtio-net-pci.rom": VIRTIO},
    "run-q35": {"0000:00:02.0:00.0/virtio-net-pci.rom": VIRTIO},
    "paused-q35": {"0000:00:02.1:00.0/virtio-net-pci.rom": VIRTIO},
    "msave-i440fx": {"0000:00:03.0/virtio-net-pci.rom": VIRTIO},
    "off-oneline": {"0000:00:03.0/virtio-net-pci.rom": VIRTIO},
    "ovmf-i440fx": {"pc.bios": (2097152, 4194304)},
    "saved-q35": {"0000:00:02.1:00.0/virtio-net-pci.rom": VIRTIO},
}
ENV = {"DEBFULLNAME": "Test Maintainer", "DEBEMAIL": "test@example.org",
       "SOURCE_DATE_EPOCH": "1700000000"}


def _xml(name: str, machine: str, models: list[str]) -> str:
    xml = domain_xml(name, machine, [(m, None) for m in models])
    xml = xml.replace("</type>\n  </os>", "</type>\n    <boot dev='hd'/>\n  </os>")  # idle
    xml = xml.replace("  </devices>", VGA + "  </devices>")
    xml = xml.replace("</type>\n", "</type>\n" + OVMF_GUESTS.get(name, ""))
    if "pflash" in OVMF_GUESTS.get(name, ""):  # libvirt: "UEFI requires ACPI"
        xml = xml.replace("  <devices>", "  <features><acpi/></features>\n  <devices>")
    if not models:  # a line-based edit's trap: an interface on one line
        xml = xml.replace("  </devices>", "    <interface type='user'><model type='virtio'/>"
                          "</interface>\n  </devices>")
    return xml


@pytest.fixture(scope="module")
def ovmf_compat_deb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """ovmf-2m-compat: bookworm's 2 MiB OVMF images under 2m- names, by today's generate and
    dpkg-buildpackage (reproducible: the root it goes into stays cached)."""
    require_tool("dpkg-buildpackage", "dh", "fakeroot")
    try:
        (origin,) = archive.fetch_firmware("ovmf", "bookworm")
    except (RuntimeError, OSError) as error:
        _cannot(str(error))
    out = tmp_path_factory.mktemp("ovmf-compat")
    subprocess.run([sys.executable, "-m", "ipxe_compat", "generate", str(origin), "--size", "2m",
                    "-o", str(out), "--distribution", "bookworm"], env={**os.environ, **ENV},
                   check=True, capture_output=True)
    (tree,) = out.glob("ovmf-2m-compat-*/")
    subprocess.run(["dpkg-buildpackage", "-us", "-uc", "-b"], cwd=tree, env={**os.environ, **ENV},
                   check=True, capture_output=True)
    (deb,) = out.glob("ovmf-2m-compat_*_all.deb")
    return deb


@pytest.fixture(scope="module")
def hosts(compat_deb: Path, ovmf_compat_deb: Path
          ) -> Iterator[tuple[RootLibvirt, RootLibvirt, Path]]:
    require_tool("mmdebstrap", "unshare", "setpriv", "virsh")
    try:
        old = ensure_root(RootSpec("bookworm", LIBVIRT))
        new = ensure_root(RootSpec("trixie", LIBVIRT, (compat_deb, ovmf_compat_deb),
                                   (GROW_EFI_VIRTIO,)))
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
                if state == "paused" and name in OVMF_GUESTS:
                    source.virsh("start", "--paused", name)
                elif state != "inactive":
                    source.virsh("start", name)
                if state == "paused" and name not in OVMF_GUESTS:
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


def _preflight(source: RootLibvirt, destination: RootLibvirt | str, *args: str,
               share: Path) -> subprocess.CompletedProcess[str]:
    """preflight from the bookworm daemon to the trixie daemon, or to a QEMU command."""
    to = ["--to-qemu", destination] if isinstance(destination, str) else \
        ["--to-uri", destination.uri]
    return subprocess.run([sys.executable, "-m", "ipxe_compat", "preflight", "-c", source.uri,
                           *to, "--saved", str(share / "saved-q35.save"), *args],
                          capture_output=True, text=True, check=False, timeout=300)


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


def _breaks(report: dict[str, Any]) -> dict[str, dict[str, tuple[int, int]]]:
    """Each breaking domain's blocks and both sizes, from preflight's JSON."""
    return {d["name"]: {b["block"]: (b["source"], b["destination"]) for b in d["blocks"]}
            for d in report["domains"] if d["verdict"] == "breaks"}


def _judge_fleet(source: RootLibvirt, destination: RootLibvirt | str, fixes: tuple[Path, ...],
                 share: Path) -> tuple[dict[str, Any], str, float]:
    """preflight of the whole fleet: exactly BREAKING breaks; with every fix applied, every
    guest is ok and the fix lines name both packages. The report, the fixed text, seconds."""
    start = time.monotonic()
    plain = _preflight(source, destination, "--json", share=share)
    seconds = time.monotonic() - start
    assert plain.returncode == 1, plain.stderr
    report = json.loads(plain.stdout)
    assert _breaks(report) == BREAKING, plain.stdout
    assert all(d["error"] is None for d in report["domains"]), plain.stdout

    fixed = _preflight(source, destination, *(w for f in fixes for w in ("--apply", str(f))),
                       share=share)
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    lines = [line for line in fixed.stdout.splitlines() if "): " in line and line[0] != " "]
    assert len(lines) == len(FLEET) + 1 and all(line.endswith(": ok") for line in lines), \
        fixed.stdout
    # each guest says whether it needs the change: exactly those that broke without it
    assert fixed.stdout.count("  without it: breaks: ") == len(BREAKING), fixed.stdout
    assert "off-q35 (inactive): ok\n  fix: install ipxe-qemu-256k-compat-efi-roms on the " \
        "destination; " in fixed.stdout
    assert "\n  without it: ok (the change is not needed, and harmless)\n" in fixed.stdout
    fix = {line.split(" (")[0]: after.strip() for line, after in
           zip(fixed.stdout.splitlines(), fixed.stdout.splitlines()[1:], strict=False)
           if line.endswith(": ok") and after.startswith("  fix: ")}
    # each guest's fix names the packages whose files its XML now names, and the change
    assert fix["run-i440fx"].startswith(
        "fix: install ipxe-qemu-256k-compat-efi-roms on the destination; interface ")
    assert fix["ovmf-i440fx"].startswith(
        "fix: install ipxe-qemu-256k-compat-efi-roms, ovmf-2m-compat on the destination; ")
    assert "<loader> /usr/share/ovmf/OVMF.fd -> /usr/share/ovmf/2m-OVMF.fd" in fix["ovmf-i440fx"]
    return report, fixed.stdout, seconds


def test_preflight_names_the_breaking_blocks_then_ok_with_the_fix(
        hosts: tuple[RootLibvirt, RootLibvirt, Path], compat_deb: Path,
        ovmf_compat_deb: Path) -> None:
    source, destination, share = hosts
    before = _snapshot(source)
    plain = _preflight(source, destination, share=share)  # the text, for the record
    report, fixed, seconds = _judge_fleet(source, destination, (compat_deb, ovmf_compat_deb),
                                          share)
    verdicts = {d["name"]: d for d in report["domains"]}
    assert "libvirt 9.0." in report["source"] and "QEMU 7.2." in report["source"]
    assert "libvirt 11.3." in report["destination"] and "QEMU 10.0." in report["destination"]
    assert {n: d["state"] for n, d in verdicts.items() if n in FLEET} == {
        n: s for n, (_, _, s) in FLEET.items()}
    assert verdicts["saved-q35"]["state"] == "saved"
    assert verdicts["saved-q35"]["file"] == str(share / "saved-q35.save")
    assert verdicts["off-q35"]["verdict"] == "ok"
    assert verdicts["run-i440fx"]["source_sizes_from"] == "live"
    assert verdicts["ovmf-i440fx"]["source_sizes_from"] == "live"
    assert verdicts["saved-q35"]["source_sizes_from"] == "image"
    assert verdicts["msave-i440fx"]["source_sizes_from"] == "twin"
    assert _twins(destination) == []
    assert _twins(source) == []
    # the pflash guest's twins (one on each host) left no variable store in either nvram dir
    assert verdicts["uefi-q35"]["verdict"] == "ok"
    assert [*source.top.rglob("ipxe-compat-twin-*VARS*"),
            *destination.top.rglob("ipxe-compat-twin-*VARS*")] == []
    assert _snapshot(source) == before
    print(f"\npreflight --to-uri of {len(FLEET) + 1} guests: {seconds:.2f} s\n{plain.stdout}\n"
          f"{fixed}")


def test_preflight_to_a_qemu_command_judges_as_the_destinations_libvirt(
        hosts: tuple[RootLibvirt, RootLibvirt, Path], compat_deb: Path,
        ovmf_compat_deb: Path) -> None:
    """The destination as trixie's QEMU command (the root's prefix, which shares nothing of
    this machine's /tmp): the same blocks, sizes and verdicts as its libvirt gives, without any
    libvirt on that side."""
    source, destination, share = hosts
    before = _snapshot(source)
    qemu = shlex.join(destination.root.command(["qemu-system-x86_64"]))
    plain = _preflight(source, qemu, share=share)
    _, fixed, seconds = _judge_fleet(source, qemu, (compat_deb, ovmf_compat_deb), share)
    assert "destination QEMU 10.0." in plain.stdout
    assert _twins(source) == []
    assert _snapshot(source) == before
    print(f"\npreflight --to-qemu of {len(FLEET) + 1} guests: {seconds:.2f} s\n{plain.stdout}\n"
          f"{fixed}")


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
    assert failed.returncode != 0  # libvirt 11.3's words, as docs/admin-guide.md quotes them
    assert "error: operation failed: job 'start' failed: load of migration failed: Invalid " \
        "argument" in failed.stderr, failed.stderr
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
    # as preflight prints it for a running guest (--migrateuri: this sandbox's hostname does not
    # resolve)
    printed = ROUTES["running"].replace("DOMAIN", name).replace("TO-URI", destination.uri) \
        .replace("FIXED-INACTIVE.xml", str(persistent_xml)).replace("FIXED.xml", str(live))
    assert shlex.split(printed)[:2] == ["virsh", "migrate"]
    source.virsh(*shlex.split(printed)[1:], "--migrateuri", uri)
    assert destination.virsh("domstate", name).stdout.strip() == "running"
    assert "256k-efi-virtio.rom" in destination.virsh("dumpxml", "--inactive", name).stdout


def test_the_ovmf_guest_migrates_with_the_applied_xml(
        hosts: tuple[RootLibvirt, RootLibvirt, Path], ovmf_compat_deb: Path) -> None:
    """bookworm's -bios OVMF.fd guest refused by trixie (pc.bios 2 MiB != 4 MiB), then received
    with <loader> naming ovmf-2m-compat's 2m-OVMF.fd, as preflight --apply judged."""
    source, destination, share = hosts
    name = "ovmf-i440fx"
    uri = f"unix://{share}/migrate-ovmf.sock"
    plain = source.virsh("migrate", name, destination.uri, "--migrateuri", uri, check=False)
    assert plain.returncode != 0 and "load of migration failed" in plain.stderr
    assert "Size mismatch: pc.bios: 0x200000 != 0x400000" in destination.domain_log(name)
    live = _apply(ovmf_compat_deb, source.virsh("dumpxml", "--migratable", name).stdout, share)
    assert ">/usr/share/ovmf/2m-OVMF.fd</loader>" in live.read_text()
    source.virsh("migrate", name, destination.uri, "--migrateuri", uri, "--xml", str(live))
    assert destination.virsh("domstate", name).stdout.strip() == "paused"
    assert "/usr/share/ovmf/2m-OVMF.fd" in destination.virsh("dumpxml", name).stdout


def test_no_qemu_twin_outlives_an_interrupted_preflight(
        hosts: tuple[RootLibvirt, RootLibvirt, Path], tmp_path: Path) -> None:
    """--to-qemu: each twin is a QEMU started by preflight itself; interrupted (Ctrl-C) or
    killed (SIGKILL) while twins start, none of them, nor anything they started, runs on."""
    source, destination, _share = hosts
    token = str(time.monotonic_ns() % 10**9)
    qemu = tmp_path / "slow-qemu"  # a twin's QEMU starts 30 s late: the signal lands meanwhile
    qemu.write_text(f'#!/bin/sh\ncase "$*" in *ipxe-compat-twin-*) sleep 30.{token} ;; esac\n'
                    f'exec {shlex.join(destination.root.command(["qemu-system-x86_64"]))} "$@"\n')
    qemu.chmod(0o755)
    for sig in (signal.SIGINT, signal.SIGKILL):
        proc = subprocess.Popen([sys.executable, "-m", "ipxe_compat", "preflight", "-c",
                                 source.uri, "--to-qemu", str(qemu), "-j", "2"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 60
        while len(_running(token)) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(_running(token)) == 2, "two twins were never seen starting"
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
        if sig == signal.SIGINT:
            assert proc.returncode == 130, err
            assert err.strip().endswith("ipxe-compat: error: interrupted"), err
        deadline = time.monotonic() + 5  # SIGKILL: each twin's group dies with its lifeline
        while _running(token) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _running(token) == [], sig


def _running(token: str) -> list[str]:
    """Command lines of this machine's processes that carry ``token``."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            text = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if token in text and "slow-qemu" not in text:
            found.append(text)
    return found


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


def _daemon_pid(host: RootLibvirt) -> int:
    """The pid (here) of the libvirtd that runs inside ``host``'s namespace."""
    assert host._proc is not None
    parents = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        parents[int(stat.parent.name)] = int(fields[1])
    for pid in parents:
        try:
            if Path(f"/proc/{pid}/comm").read_text().strip() != "libvirtd":
                continue
        except OSError:
            continue
        ancestor = pid
        while ancestor > 1:
            ancestor = parents.get(ancestor, 1)
            if ancestor == host._proc.pid:
                return pid
    raise AssertionError("the destination's libvirtd was not found")


@pytest.mark.parametrize("sig", [None, signal.SIGTERM])
def test_a_destination_libvirtd_stopped_mid_run_cannot_hold_preflight(
        hosts: tuple[RootLibvirt, RootLibvirt, Path], sig: signal.Signals | None) -> None:
    """The destination's libvirtd stopped (SIGSTOP) while twins run there: exit 2 once a call
    has gone unanswered for --timeout, or exit 130 at once on a signal; once it runs again, it
    destroys the twins it was left with."""
    source, destination, _share = hosts
    daemon = _daemon_pid(destination)
    proc = subprocess.Popen([sys.executable, "-m", "ipxe_compat", "preflight", "-c", source.uri,
                             "--to-uri", destination.uri, "-j", "2", "--timeout", "5"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not _twins(destination) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _twins(destination), "no twin was ever seen"
        os.kill(daemon, signal.SIGSTOP)
        try:
            since = time.monotonic()
            if sig is not None:
                time.sleep(0.5)
                since = time.monotonic()
                proc.send_signal(sig)
            _, err = proc.communicate(timeout=30)
            took = time.monotonic() - since
        finally:
            os.kill(daemon, signal.SIGCONT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    print(f"\ndestination stopped, {sig or 'no signal'}: exit {proc.returncode} after "
          f"{took:.2f} s: {err.strip()}")
    if sig is None:
        assert proc.returncode == 2, err
        assert re.fullmatch(rf"ipxe-compat: error: destination {re.escape(destination.uri)}: no "
                            r"answer to [^\n]+ within 5 s \(--timeout\)\n", err), err
        assert took < 5 + 4, f"{took:.1f} s"
    else:
        assert proc.returncode == 130, err
        assert err == "ipxe-compat: error: interrupted\n"
        assert took < 3, f"{took:.1f} s"
    deadline = time.monotonic() + 15  # the daemon, running again, sees the connection closed
    while _twins(destination) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _twins(destination) == []
    assert _twins(source) == []
