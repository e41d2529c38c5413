"""Across vendors: Ubuntu's iPXE ROMs against Debian's, and the compat set that bridges them.

Ubuntu pads its ``efi-*.rom`` to 512 KiB with 0xff (Canonical's multipass vendors Ubuntu's
efi-virtio.rom at 524288 bytes: the images, then 0xff) and ships the ROMs of its 2015 iPXE as
``compat-256k-efi-{e1000,ne2k_pci,pcnet,rtl8139,virtio}.rom`` in ipxe-qemu-256k-compat-efi-roms.
Ubuntu's archive is not reachable here, so the test makes such packages the way Ubuntu does, from
Debian's own ROMs: trixie's EFI ROMs cut at the end of their last image and padded with 0xff to
524288 bytes, and bookworm's five (2019, unpadded, 256k bucket) under Ubuntu's compat names, each
package with a zstd data member as Ubuntu's are. Then, on the real QEMU 7.2: check and
verify-migration Ubuntu -> Debian and Debian -> Ubuntu (the 512k and 256k blocks refuse each
other), and generate making the 512k compat package a Debian host needs to receive Ubuntu guests.
Ubuntu's own machine types (pc-i440fx-jammy, ...) do not exist in Debian's QEMU: cross-vendor
migration is defined on the upstream ones only, which the guests here use.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from ipxe_compat.core.rom import parse_rom
from tests.conftest import require_tool
from tests.dpkg import dpkg_roms
from tests.tools import run

pytestmark = [pytest.mark.integration, pytest.mark.slow]

UBUNTU_SIZE = 524288
UBUNTU_VERSION = "1.21.1+git20250501.dad20602+dfsg-1ubuntu1"
UBUNTU_COMPAT = ("e1000", "ne2k_pci", "pcnet", "rtl8139", "virtio")
ENV = {"DEBFULLNAME": "Test Maintainer", "DEBEMAIL": "test@example.org",
       "SOURCE_DATE_EPOCH": "1700000000"}
SIZE_MISMATCH = "Size mismatch: 0000:00:02.0/virtio-net-pci.rom: 0x{:x} != 0x{:x}"


def build_deb(tmp: Path, name: str, version: str, files: dict[str, bytes], copyright_text: str,
              description: str) -> Path:
    """A binary package as dpkg-deb builds it, with a zstd data member (Ubuntu's)."""
    require_tool("dpkg-deb", "zstd")
    tree = tmp / f"{name}-tree"
    for path, data in files.items():
        (tree / path).parent.mkdir(parents=True, exist_ok=True)
        (tree / path).write_bytes(data)
    doc = tree / "usr/share/doc" / name
    doc.mkdir(parents=True, exist_ok=True)
    (doc / "copyright").write_text(copyright_text)
    (tree / "DEBIAN").mkdir()
    (tree / "DEBIAN/control").write_text(
        f"Package: {name}\nVersion: {version}\nArchitecture: all\nSource: ipxe ({version})\n"
        f"Maintainer: Test Maintainer <test@example.org>\nDescription: {description}\n")
    deb = tmp / f"{name}_{version}_all.deb"
    run(["dpkg-deb", "--root-owner-group", "-Zzstd", "--build", tree, deb])
    return deb


@pytest.fixture(scope="module")
def ubuntu(trixie_deb: Path, bookworm_deb: Path,
           tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Ubuntu-style ipxe-qemu (efi-*.rom at 512 KiB) and ipxe-qemu-256k-compat-efi-roms."""
    tmp = tmp_path_factory.mktemp("ubuntu")
    copyright_dir = tmp / "copyright"
    run(["dpkg-deb", "-x", trixie_deb, copyright_dir])
    text = (copyright_dir / "usr/share/doc/ipxe-qemu/copyright").read_text()
    roms = {}
    for name, data in dpkg_roms(trixie_deb).items():
        images = data[:parse_rom(data, name).chain_end]
        padded = images + b"\xff" * (UBUNTU_SIZE - len(images))
        roms[f"usr/lib/ipxe/qemu/{name}"] = padded if name.startswith("efi-") else data
    ipxe = build_deb(tmp, "ipxe-qemu", UBUNTU_VERSION, roms, text,
                     "PXE boot firmware - ROM images for qemu (Ubuntu-style, made by the tests)")
    old = dpkg_roms(bookworm_deb)
    compat = build_deb(
        tmp, "ipxe-qemu-256k-compat-efi-roms", "1.0.0+git-20150424.a25a16d-0ubuntu2",
        {f"usr/lib/ipxe/qemu/compat-256k-efi-{nic}.rom": old[f"efi-{nic}.rom"]
         for nic in UBUNTU_COMPAT}, text, "PXE boot firmware - Compat EFI ROM images for qemu")
    return {"ipxe": ipxe, "compat": compat}


def ipxe_compat(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return run([sys.executable, "-m", "ipxe_compat", *map(str, args)], cwd=cwd,
               env={**ENV, "TMPDIR": str(cwd)}, check=False)


def as_json(result: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert result.returncode in (0, 1), result.stderr
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def test_the_ubuntu_set_is_what_ubuntu_ships(ubuntu: dict[str, Path], tmp_path: Path) -> None:
    listing = run(["dpkg-deb", "-c", ubuntu["ipxe"]], cwd=tmp_path).stdout
    contents = run(["ar", "t", ubuntu["ipxe"]], cwd=tmp_path).stdout.split()
    assert "data.tar.zst" in contents
    assert f"{UBUNTU_SIZE} " in listing
    report = as_json(ipxe_compat("inspect", "--json", ubuntu["ipxe"], cwd=tmp_path))
    efi = {r["name"]: r for r in report["roms"] if r["name"].startswith("efi-")}
    assert len(efi) == 8
    for row in efi.values():
        assert row["size"] == UBUNTU_SIZE and row["bucket"] == UBUNTU_SIZE and row["valid"]
        assert row["padding"]["byte"] == "0xff" and row["padding"]["length"] > 262144


@pytest.mark.parametrize("direction", ["ubuntu-to-debian", "debian-to-ubuntu"])
def test_check_across_vendors(direction: str, ubuntu: dict[str, Path], trixie_deb: Path,
                              tmp_path: Path) -> None:
    pair = (ubuntu["ipxe"], trixie_deb)
    old, new = pair if direction == "ubuntu-to-debian" else pair[::-1]
    result = ipxe_compat("check", "--json", old, new, cwd=tmp_path)
    assert result.returncode == 1
    rows = {r["name"]: r for r in as_json(result)["roms"]}
    broken = {n for n, r in rows.items() if r["verdict"] == "breaks-migration"}
    assert broken == {n for n in rows if n.startswith("efi-")}
    expected = (UBUNTU_SIZE, 262144) if direction == "ubuntu-to-debian" else (262144, UBUNTU_SIZE)
    assert (rows["efi-virtio.rom"]["old_bucket"], rows["efi-virtio.rom"]["new_bucket"]) == expected
    assert {r["verdict"] for n, r in rows.items() if n.startswith("pxe-")} == {"ok"}


@pytest.mark.parametrize("direction", ["ubuntu-to-debian", "debian-to-ubuntu"])
def test_verify_migration_across_vendors(direction: str, ubuntu: dict[str, Path],
                                         trixie_deb: Path, tmp_path: Path) -> None:
    require_tool("qemu-system-x86_64")
    pair = (ubuntu["ipxe"], trixie_deb)
    source, target = pair if direction == "ubuntu-to-debian" else pair[::-1]
    report = as_json(ipxe_compat("verify-migration", "--json", source, target, "--device",
                                 "virtio-net-pci", "--device", "e1000", cwd=tmp_path))
    rows = {(r["device"], r["from_rom"]): r for r in report["migrations"]}
    sizes = (0x80000, 0x40000) if direction == "ubuntu-to-debian" else (0x40000, 0x80000)
    virtio = rows["virtio-net-pci", "efi-virtio.rom"]
    assert virtio["status"] == "failed"
    assert virtio["error"].startswith(SIZE_MISMATCH.format(*sizes))
    assert rows["e1000", "efi-e1000.rom"]["status"] == "failed"
    # the pxe ROMs (128k at both vendors) migrate
    assert rows["virtio-net-pci", "pxe-virtio.rom"]["status"] == "completed"


def test_ubuntus_compat_roms_pair_with_debians(ubuntu: dict[str, Path], bookworm_deb: Path,
                                               tmp_path: Path) -> None:
    """Ubuntu's compat-256k- ROMs are the 256k set a bookworm guest needs."""
    result = ipxe_compat("check", "--json", bookworm_deb, ubuntu["compat"], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    verdicts = {r["name"]: r["verdict"] for r in as_json(result)["roms"]}
    assert {n for n, v in verdicts.items() if v == "ok"} == {
        f"efi-{nic}.rom" for nic in UBUNTU_COMPAT}


def test_generate_the_512k_set_a_debian_host_needs(ubuntu: dict[str, Path],
                                                   tmp_path: Path) -> None:
    """A Debian host receiving Ubuntu guests keeps Ubuntu's 512 KiB ROMs as 512k-efi-*.rom."""
    require_tool("dpkg-buildpackage", "dh", "fakeroot", "qemu-system-x86_64")
    out = tmp_path / "out"
    made = ipxe_compat("generate", ubuntu["ipxe"], "--size", "512k", "-o", out,
                       "--distribution", "bookworm", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    (tree,) = out.glob("ipxe-qemu-512k-compat-*/")
    run(["dpkg-buildpackage", "-us", "-uc", "-b"], cwd=tree, env=ENV)
    (deb,) = out.glob("ipxe-qemu-512k-compat-efi-roms_*_all.deb")
    listing = run(["dpkg-deb", "-c", deb], cwd=tmp_path).stdout
    assert listing.count(f" {UBUNTU_SIZE} ") == 8
    assert "/usr/share/qemu/512k-efi-virtio.rom" in listing
    check = ipxe_compat("check", "--json", ubuntu["ipxe"], deb, cwd=tmp_path)
    assert check.returncode == 0, check.stderr
    report = as_json(ipxe_compat("verify-migration", "--json", ubuntu["ipxe"], deb, cwd=tmp_path))
    assert report["summary"]["failed"] == 0 and report["summary"]["completed"] >= 22
    config = ipxe_compat("qemu-config", deb, cwd=tmp_path).stdout
    assert "-global virtio-net-pci-base.romfile=512k-efi-virtio.rom" in config
    shutil.rmtree(out)
