"""QEMU across versions: bookworm's QEMU 7.2 on the host, trixie's 10.0 and sid's 11.1 in cached
mmdebstrap roots (tests/roots.py).

What every real QEMU says about its PCI NICs (default romfile, QOM family), which ``-global``
reaches a whole family, and the migration that the compat package exists for: a guest started
on bookworm's QEMU 7.2 (its 249344-byte efi-virtio.rom) on a 7.2 machine type, received by
trixie's QEMU 10.0 whose efi-virtio.rom grew past 256 KiB (300544 bytes, as in bug #881263) and
that has the compat .deb built from bookworm's ipxe-qemu installed. The expected mapping is
derived here from QEMU itself, independently of ipxe-compat's own tables.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

from ipxe_compat.core.devices import BUILTIN, DISPLAY_ROMFILE
from tests.conftest import _cannot, require_tool
from tests.nics import Nic, pci_display_models, pci_nic_models, probe, romfile_alone
from tests.qemu_run import Qemu, migrate_paused, version
from tests.roots import Root, RootSpec, ensure_root
from tests.tools import run

pytestmark = [pytest.mark.integration, pytest.mark.slow]

MACHINES = ("pc-i440fx-7.2", "pc-q35-7.2")
GROWN = 300544
GROW_EFI_VIRTIO = ("f=/usr/share/qemu/efi-virtio.rom; "
                   "head -c $((300544 - $(stat -c %s $f))) /dev/zero | tr '\\0' '\\377' >> $f; "
                   "test $(stat -c %s $f) -eq 300544")
QEMU = ["qemu-system-x86_64"]
SIZE_MISMATCH = re.compile(r"^Size mismatch: 0000:00:0\w\.0/[\w.-]+: 0x40000 != 0x80000")
VIRTIO = {"virtio-net-pci", "virtio-net-pci-transitional", "virtio-net-pci-non-transitional"}


def ipxe_compat(
    *args: str | Path, share: Path, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """The command line, with its QEMUs' sockets and ROM copies in ``share`` (TMPDIR), the
    directory a QEMU inside a root sees at the same path."""
    return run([sys.executable, "-m", "ipxe_compat", *map(str, args)], cwd=share,
               env={"TMPDIR": str(share)}, check=check)


def _root(spec: RootSpec) -> Root:
    require_tool("mmdebstrap", "unshare", "qemu-system-x86_64")
    try:
        return ensure_root(spec)
    except RuntimeError as error:
        _cannot(str(error))


@pytest.fixture(scope="module")
def trixie(compat_deb: Path) -> Root:
    """trixie + qemu-system-x86 (10.0) + the compat .deb, efi-virtio.rom grown to 300544 B."""
    return _root(RootSpec("trixie", ("qemu-system-x86",), (compat_deb,), (GROW_EFI_VIRTIO,)))


@pytest.fixture(scope="module")
def sid() -> Root:
    return _root(RootSpec("sid", ("qemu-system-x86",)))


@pytest.fixture(scope="module")
def compat_names(compat_deb: Path) -> set[str]:
    listing = subprocess.run(["dpkg-deb", "-c", str(compat_deb)], capture_output=True,
                             text=True, check=True).stdout
    return set(re.findall(r"/usr/share/qemu/(256k-[\w.-]+\.rom)$", listing, re.MULTILINE))


def _qemu(which: str, request: pytest.FixtureRequest, share: Path) -> list[str]:
    require_tool("qemu-system-x86_64")
    if which == "bookworm":
        return QEMU
    root: Root = request.getfixturevalue(which)
    return root.command(QEMU, [share])


def family(nic: Nic) -> str:
    """The most general QOM type a ``-global`` can name to reach every model of the family."""
    return nic.ancestors[0] if nic.ancestors else nic.model


def mapping(nics: Sequence[Nic]) -> list[str]:
    """``-global FAMILY.romfile=256k-ROM`` for every family whose default is an EFI ROM."""
    globals_ = sorted({f"{family(n)}.romfile=256k-{n.romfile}" for n in nics
                       if n.romfile and n.romfile.startswith("efi-")})
    return [word for g in globals_ for word in ("-global", g)]


@pytest.mark.parametrize(("which", "major_minor"),
                         [("bookworm", "7.2"), ("trixie", "10.0"), ("sid", "11.1")])
def test_every_nic_with_an_efi_rom_has_a_compat_rom_and_a_family(
        which: str, major_minor: str, compat_names: set[str], request: pytest.FixtureRequest,
        compat_deb: Path, tmp_path: Path) -> None:
    qemu = _qemu(which, request, tmp_path)
    with Qemu(qemu, tmp_path, "version", []) as running:
        assert version(running).startswith(major_minor + ".")
    nics = {n.model: n for n in probe(qemu, tmp_path, pci_nic_models(qemu))}
    efi = {m: n for m, n in nics.items() if n.romfile and n.romfile.startswith("efi-")}
    assert {f"256k-{n.romfile}" for n in efi.values()} <= compat_names
    assert {m for m, n in efi.items() if family(n) == "virtio-net-pci-base"} == {
        "virtio-net-pci", "virtio-net-pci-transitional", "virtio-net-pci-non-transitional"}
    assert {m for m, n in efi.items() if family(n) == "e1000-base"} == {
        "e1000", "e1000-82544gc", "e1000-82545em"}
    # The rest load no ROM, a 128k pxe ROM (eepro100), or cannot run here (pvrdma: RDMA).
    others = {n.romfile for m, n in nics.items() if m not in efi}
    assert others <= {"", "pxe-eepro100.rom", None}

    # ipxe-compat's built-in table is exactly what this QEMU says: every model loading a ROM,
    # its default, and its family's QOM type.
    assert {m: n.romfile for m, n in nics.items() if n.romfile} == BUILTIN.defaults
    assert {m: BUILTIN.family_of(m).driver for m in efi} == {m: family(n) for m, n in efi.items()}
    # qemu-config --qemu discovers the same from this QEMU (a command: a root's QEMU too).
    command = shlex.join(qemu)
    for fmt in ("args", "libvirt"):
        builtin = ipxe_compat("qemu-config", compat_deb, "--format", fmt, share=tmp_path).stdout
        asked = ipxe_compat("qemu-config", compat_deb, "--format", fmt, "--qemu", command,
                            share=tmp_path).stdout
        assert asked == builtin


@pytest.mark.parametrize(("which", "major_minor"), [("bookworm", "7.2"), ("trixie", "10.0")])
def test_display_models_load_the_vga_roms_of_the_built_in_table(
        which: str, major_minor: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    """core/devices.py's DISPLAY_ROMFILE is what QEMU 7.2 and 10.0 say: each PCI display model
    given on the command line (they cannot be hot-added) asked for its romfile."""
    qemu = _qemu(which, request, tmp_path)
    with Qemu(qemu, tmp_path, "version", []) as running:
        assert version(running).startswith(major_minor + ".")
    models = pci_display_models(qemu)
    loaded = {model: romfile_alone(qemu, tmp_path, model, ("-machine", "pc"))[0]
              for model in models}
    assert {m: rom for m, rom in loaded.items() if rom} == {
        m: rom for m, rom in DISPLAY_ROMFILE.items() if m in models}
    assert {"VGA", "cirrus-vga", "virtio-vga", "vmware-svga", "bochs-display",
            "ati-vga"} <= set(models)


@pytest.mark.parametrize("which", ["bookworm", "trixie", "sid"])
def test_global_on_the_family_type_reaches_every_member(which: str, tmp_path: Path,
                                                       request: pytest.FixtureRequest) -> None:
    qemu = _qemu(which, request, tmp_path)
    members = ["virtio-net-pci", "virtio-net-pci-transitional",
               "virtio-net-pci-non-transitional", "e1000", "e1000-82544gc", "e1000-82545em"]
    devices = [w for i, m in enumerate(members) for w in ("-device", f"{m},id=n{i}")]
    for globals_, reached in (
            (["virtio-net-pci.romfile=pxe-virtio.rom"], {"virtio-net-pci"}),
            (["virtio-net-pci-base.romfile=pxe-virtio.rom", "e1000-base.romfile=pxe-virtio.rom"],
             set(members))):
        args = ["-machine", "pc-q35-7.2", *(w for g in globals_ for w in ("-global", g)), *devices]
        with Qemu(qemu, tmp_path, "global", args) as running:
            got = {m for i, m in enumerate(members)
                   if running.command("qom-get", path=f"/machine/peripheral/n{i}",
                                      property="romfile") == "pxe-virtio.rom"}
        assert got == reached


@pytest.fixture(scope="module")
def both_ends(trixie: Root, tmp_path_factory: pytest.TempPathFactory) -> tuple[list[str], Path,
                                                                              list[Nic]]:
    """trixie's QEMU command sharing a directory, and the NICs both QEMUs have and migrate."""
    require_tool("qemu-system-x86_64")
    share = tmp_path_factory.mktemp("migrate")
    target = trixie.command(QEMU, [share])
    source_nics = {n.model: n for n in probe(QEMU, share, pci_nic_models(QEMU))}
    target_nics = probe(target, share, pci_nic_models(target))
    common = [n for n in target_nics if n.model in source_nics and n.romfile is not None
              and n.model != "rocker"]  # rocker: "State blocked by non-migratable device"
    return target, share, common


def _devices(nics: Sequence[Nic]) -> list[str]:
    return [w for i, n in enumerate(nics) for w in ("-device", f"{n.model},id=nic{i}")]


@pytest.mark.parametrize("machine", MACHINES)
def test_bookworm_guest_to_trixie_with_a_grown_rom(
        machine: str, both_ends: tuple[list[str], Path, list[Nic]]) -> None:
    target, share, nics = both_ends
    with Qemu(target, share, "grown", []) as running:
        assert version(running).startswith("10.0.")
    virtio = [n for n in nics if family(n) == "virtio-net-pci-base"]
    rest = [n for n in nics if n not in virtio]
    assert len(virtio) == 3 and len(rest) >= 20

    # Without the mapping: every virtio-net model fails on the grown ROM; all others complete.
    for nic in virtio:
        args = ["-machine", machine, *_devices([nic])]
        outcome = migrate_paused(QEMU, target, share, args, args)
        assert outcome.status == "failed" and SIZE_MISMATCH.match(outcome.error or ""), outcome
    args = ["-machine", machine, *_devices(rest)]
    assert migrate_paused(QEMU, target, share, args, args).status == "completed"

    # With one -global per family, every model completes, and the destination runs the
    # compat ROM on every NIC whose default is an EFI ROM.
    globals_ = mapping(nics)
    ids = [f"nic{i}" for i in range(len(nics))]
    source = ["-machine", machine, *_devices(nics)]
    outcome = migrate_paused(QEMU, target, share, source, [*source, *globals_], ids=ids)
    assert outcome.status == "completed", outcome
    expected = {f"nic{i}": f"256k-{n.romfile}" if n.romfile.startswith("efi-") else n.romfile
                for i, n in enumerate(nics) if n.romfile is not None}
    assert outcome.romfiles == expected


@pytest.mark.parametrize("machine", MACHINES)
def test_bookworm_to_trixie_through_the_command_line(
        machine: str, trixie: Root, compat_deb: Path, tmp_path: Path) -> None:
    """verify-migration, each end on its own installed ROMs: the host's QEMU 7.2 and bookworm's
    ipxe-qemu; trixie's QEMU 10.0 with the grown efi-virtio.rom and the compat .deb installed.
    Without the mapping the virtio family fails; with exactly what qemu-config prints, every
    model completes on the compat ROMs."""
    require_tool("qemu-system-x86_64")
    to_qemu = shlex.join(trixie.command(QEMU, [tmp_path]))
    common = ["verify-migration", "--to-qemu", to_qemu, "--machine", machine, "--json"]

    without = ipxe_compat(*common, share=tmp_path, check=False)
    assert without.returncode == 1, without.stderr
    report = json.loads(without.stdout)
    assert report["source_qemu"]["version"].startswith("7.2.")
    assert report["destination_qemu"]["version"].startswith("10.0.")
    assert report["machine"] == machine
    rows = {r["device"]: r for r in report["migrations"]}
    assert len(rows) == 24  # every model loading a ROM on both (pvrdma: 7.2 only; igb: no ROM)
    failed = {d for d, r in rows.items() if r["status"] != "completed"}
    assert failed == VIRTIO
    for device in VIRTIO:
        assert SIZE_MISMATCH.match(rows[device]["error"]), rows[device]
        assert rows[device]["size_mismatch"]["destination_size"] == 0x80000

    config = tmp_path / "compat.args"
    config.write_text(ipxe_compat("qemu-config", compat_deb, share=tmp_path).stdout)
    assert "-global virtio-net-pci-base.romfile=256k-efi-virtio.rom" in config.read_text()
    fixed = ipxe_compat(*common, "--to-config", config, share=tmp_path)
    report = json.loads(fixed.stdout)
    assert report["summary"] == {"completed": 24, "failed": 0, "missing": 0, "not_tested": 0}
    loaded = {r["device"]: r["destination_romfile"] for r in report["migrations"]}
    assert loaded == {m: (f"256k-{rom}" if rom.startswith("efi-") else rom)
                      for m, rom in BUILTIN.defaults.items()}
    text = ipxe_compat(*common[:-1], "--to-config", config, "--device",
                       "virtio-net-pci-non-transitional", share=tmp_path).stdout
    assert text.startswith("from QEMU 7.2.") and "\nto   QEMU 10.0." in text
    assert "1 of 1 migrations completed" in text
