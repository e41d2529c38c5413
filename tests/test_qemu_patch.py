"""The QEMU side of the fix as a Debian quilt patch (tests/data/256k-compat-roms.patch), proven on
trixie's real qemu source: it applies on top of the package's own series, and the QEMU built from
it receives a guest started on bookworm's QEMU 7.2 with no ``-global`` at all. The patch is
what ``ipxe-compat qemu-config --format patch`` writes; the migrations run through
``ipxe-compat verify-migration``.

The patched QEMU's default efi-*.rom are bookworm's grown to 300544 bytes (a future ipxe whose
ROMs crossed 256 KiB); its 256k-efi-*.rom come from the compat .deb built from bookworm's
ipxe-qemu. The build (minimal x86_64-softmmu: minutes, cold) is cached by
tests/qemu_build.py, keyed by source version, patch and toolchain.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from debian.deb822 import Deb822

from tests.conftest import _cannot, require_tool
from tests.qemu_build import TOOLS, fetch_source, patched_qemu
from tests.qemu_run import Qemu, QmpFailure
from tests.tools import run

pytestmark = [pytest.mark.integration, pytest.mark.slow]

#: What ``qemu-config --format patch --machine-compat 7_2`` writes for the compat .deb on trixie's
#: qemu source with PATCH_ENV (test_generated_patch_... holds it): the build is keyed by its bytes.
PATCH = Path(__file__).parent / "data" / "256k-compat-roms.patch"
PATCH_ENV = {"DEBFULLNAME": "Test Maintainer", "DEBEMAIL": "test@example.org",
             "SOURCE_DATE_EPOCH": "1700000000"}
GROWN = 300544
SOURCE = ["qemu-system-x86_64"]
MACHINES = ("pc-i440fx-7.2", "pc-q35-7.2")
# One model per family the patch maps, and every model of the two families it maps by base type.
FAMILIES = {
    "virtio-net-pci-base": ["virtio-net-pci", "virtio-net-pci-transitional",
                            "virtio-net-pci-non-transitional"],
    "e1000-base": ["e1000", "e1000-82544gc", "e1000-82545em"],
    "e1000e": ["e1000e"], "ne2k_pci": ["ne2k_pci"], "pcnet": ["pcnet"],
    "rtl8139": ["rtl8139"], "vmxnet3": ["vmxnet3"],
}
MODELS = [model for members in FAMILIES.values() for model in members]
SIZE_MISMATCH = re.compile(r"^Size mismatch: 0000:00:0\w\.0/[\w.-]+: 0x40000 != 0x80000")


def _needs_build_tools() -> None:
    require_tool("qemu-system-x86_64", *TOOLS)


@pytest.fixture(scope="module")
def patched() -> Path:
    _needs_build_tools()
    try:
        return patched_qemu(PATCH)
    except RuntimeError as error:
        _cannot(str(error))


@pytest.fixture(scope="module")
def firmware(bookworm_deb: Path, compat_deb: Path,
             tmp_path_factory: pytest.TempPathFactory) -> Path:
    """bookworm's efi-*.rom grown to 300544 bytes, beside the compat .deb's 256k-efi-*.rom."""
    top = tmp_path_factory.mktemp("firmware")
    for deb in (bookworm_deb, compat_deb):
        subprocess.run(["dpkg-deb", "-x", str(deb), str(top / "x")], check=True)
    roms = top / "roms"
    roms.mkdir()
    for rom in (top / "x" / "usr" / "lib" / "ipxe" / "qemu").glob("efi-*.rom"):
        data = rom.read_bytes()
        assert len(data) < GROWN
        (roms / rom.name).write_bytes(data + b"\xff" * (GROWN - len(data)))
    for rom in (top / "x" / "usr" / "share" / "qemu").glob("256k-efi-*.rom"):
        (roms / rom.name).write_bytes(rom.read_bytes())
    return roms


def _target(patched: Path, firmware: Path) -> list[str]:
    return [str(patched), "-L", str(firmware), "-L", "/usr/share/qemu", "-L", "/usr/share/seabios"]


def _devices(models: list[str]) -> list[str]:
    return [w for i, m in enumerate(models) for w in ("-device", f"{m},id=nic{i}")]


def ipxe_compat(
    *args: str | Path, cwd: Path, check: bool = True
) -> subprocess.CompletedProcess[str]:
    return run([sys.executable, "-m", "ipxe_compat", *map(str, args)], cwd=cwd, env=PATCH_ENV,
               check=check)


def test_generated_patch_applies_with_quilt_on_top_of_the_package_series(
        compat_deb: Path, tmp_path: Path) -> None:
    """qemu-config --format patch on trixie's real source gives PATCH (the one built below), it
    applies with quilt after the package's own series, and its debian/control change applies."""
    _needs_build_tools()
    tree = tmp_path / "src"
    run(["dpkg-source", "--no-check", "-x", fetch_source(), tree], cwd=tmp_path)
    control = tmp_path / "control.diff"
    generated = ipxe_compat("qemu-config", compat_deb, "--format", "patch", "--machine-compat",
                            "7_2", "--qemu-source", tree, "--control-patch", control,
                            cwd=tmp_path).stdout
    assert generated == PATCH.read_text()
    again = ipxe_compat("qemu-config", compat_deb, "--format", "patch", "--machine-compat", "7_2",
                        "--qemu-source", tree, "--control-patch", control, cwd=tmp_path,
                        check=False)
    assert again.returncode == 2 and "not overwriting" in again.stderr  # the user's file stays
    for bad in ("\u0667_\u0662", "_7", "7.2"):
        refused = ipxe_compat("qemu-config", compat_deb, "--format", "patch", "--machine-compat",
                              bad, "--qemu-source", tree, cwd=tmp_path, check=False)
        assert refused.returncode == 2 and refused.stdout == "", refused.stderr
        assert (
            refused.stderr
            == f"ipxe-compat: error: --machine-compat {bad!r} is not of the form 7_2\n"
        )

    (tree / "debian" / "patches" / PATCH.name).write_text(generated)
    with open(tree / "debian" / "patches" / "series", "a") as series:
        series.write(f"{PATCH.name}\n")
    env = {"QUILT_PATCHES": "debian/patches", "HOME": str(tmp_path)}
    run(["quilt", "push", "-a"], cwd=tree, env=env)
    applied = run(["quilt", "applied"], cwd=tree, env=env).stdout.split()
    series_names = (tree / "debian" / "patches" / "series").read_text().split()
    assert [Path(p).name for p in applied] == series_names and series_names[-1] == PATCH.name
    machine_c = (tree / "hw" / "core" / "machine.c").read_text()
    compat_7_2 = machine_c.split("GlobalProperty hw_compat_7_2[] = {", 1)[1].split("};", 1)[0]
    assert '{ "virtio-net-pci-base", "romfile", "256k-efi-virtio.rom" },' in compat_7_2
    assert '{ "e1000-base", "romfile", "256k-efi-e1000.rom" },' in compat_7_2

    run(["patch", "-p1", "-i", control], cwd=tree)
    with open(tree / "debian" / "control") as control_file:
        (x86,) = [p for p in Deb822.iter_paragraphs(control_file)
                  if p.get("Package") == "qemu-system-x86"]
    depends = [d.strip() for d in x86["Depends"].split(",")]
    assert "ipxe-qemu-256k-compat-efi-roms" in depends and "ipxe-qemu" in depends


def _verify(patched: Path, firmware: Path, machine: str, tmp_path: Path,
            *extra: str | Path) -> dict[str, Any]:
    to_qemu = shlex.join(_target(patched, firmware))
    result = ipxe_compat("verify-migration", "--to-qemu", to_qemu, "--machine", machine, "--json",
                         *extra, cwd=tmp_path, check=False)
    assert result.returncode in (0, 1), result.stderr
    report: dict[str, Any] = json.loads(result.stdout)
    assert report["source_qemu"]["version"].startswith("7.2.")
    assert report["destination_qemu"]["version"] == "10.0.13"
    return report


@pytest.mark.parametrize("machine", MACHINES)
def test_bookworm_guest_migrates_into_the_patched_qemu_without_any_global(
        machine: str, patched: Path, firmware: Path, tmp_path: Path) -> None:
    report = _verify(patched, firmware, machine, tmp_path)
    assert report["destination_globals"] == []
    rows = {r["device"]: r for r in report["migrations"]}
    assert set(MODELS) <= set(rows)
    assert {d: r["status"] for d, r in rows.items()} == dict.fromkeys(rows, "completed")
    assert {m: rows[m]["destination_romfile"] for m in MODELS} == {
        m: f"256k-{_default_rom(m)}" for m in MODELS}


@pytest.mark.parametrize("machine", MACHINES)
def test_forcing_the_default_rom_back_fails_with_the_size_mismatch(
        machine: str, patched: Path, firmware: Path, tmp_path: Path) -> None:
    forced = tmp_path / "forced.args"
    forced.write_text("".join(f"-global {family}.romfile={_default_rom(members[0])}\n"
                              for family, members in FAMILIES.items()))
    report = _verify(patched, firmware, machine, tmp_path, "--to-config", forced,
                     *(w for m in MODELS for w in ("--device", m)))
    rows = {r["device"]: r for r in report["migrations"]}
    assert set(rows) == set(MODELS)
    for model, row in rows.items():
        assert row["status"] == "failed", row
        assert SIZE_MISMATCH.match(row["error"] or ""), (model, row)


def test_newer_machine_types_keep_the_default_roms(patched: Path, firmware: Path,
                                                   tmp_path: Path) -> None:
    with Qemu(_target(patched, firmware), tmp_path, "new",
              ["-machine", "pc-q35-10.0", *_devices(MODELS)]) as qemu:
        got = {m: qemu.command("qom-get", path=f"/machine/peripheral/nic{i}", property="romfile")
               for i, m in enumerate(MODELS)}
    assert got == {m: _default_rom(m) for m in MODELS}


def test_an_old_machine_type_needs_the_compat_roms_installed(patched: Path,
                                                             tmp_path: Path) -> None:
    """Why qemu-system-x86 must depend on the compat package once it carries the patch."""
    bare = tmp_path / "no-compat-roms"  # the firmware QEMU needs, but no 256k-*.rom
    bare.mkdir()
    (bare / "kvmvapic.bin").symlink_to("/usr/share/qemu/kvmvapic.bin")
    old = Qemu([str(patched), "-L", str(bare), "-L", "/usr/share/seabios"], tmp_path, "old",
               ["-machine", "pc-i440fx-7.2", "-device", "virtio-net-pci"])
    with pytest.raises(QmpFailure, match=r'failed to find romfile "256k-efi-virtio\.rom"'), old:
        pass


def _default_rom(model: str) -> str:
    """QEMU's default romfile of a model the patch maps (see tests/nics.py for the real probe)."""
    family = next(f for f, members in FAMILIES.items() if model in members)
    return {"virtio-net-pci-base": "efi-virtio.rom", "e1000-base": "efi-e1000.rom"}.get(
        family, f"efi-{family}.rom")
