"""The build-time guard where it matters: an ipxe-like, an ovmf-like and a seabios-like package
built in sbuild.

tests/data/ipxe-like stands in for the ipxe source package: ``Build-Depends: ipxe-compat``, and its
debian/rules runs ``ipxe-compat check --expect 'efi-*.rom=256k' ...`` on the ROMs it installs and
``ipxe-compat check debian/previous-roms ...`` against the previous release's ROMs it ships. The
test fills both with Debian bookworm's ipxe-qemu ROMs and builds it in sbuild (unshare mode, a
clean bookworm buildd chroot) with this session's ipxe-compat .deb as an extra package, the only
way ipxe-compat reaches the chroot, as it would from the archive: the guard passes the real ROMs
and fails the build when efi-virtio.rom grows to 300544 bytes, as in Debian bug #881263.
"""

from __future__ import annotations

import io
import re
import shutil
import subprocess
import tarfile
import time
from pathlib import Path

import pytest
from debian.debfile import DebFile

from ipxe_compat import __version__
from ipxe_compat.input import read_source
from tests import archive, toolpkg
from tests.conftest import require_tool
from tests.tools import run

pytestmark = [pytest.mark.integration, pytest.mark.slow]

DATA = Path(__file__).resolve().parent / "data" / "ipxe-like"
DSC = "ipxe-like_1.0.dsc"
DEB = "ipxe-like-qemu_1.0_all.deb"
GROWN = 300544  # bug #881263's efi-virtio.rom: 249344 -> 300544 bytes crosses 256 KiB


def ipxe_like_source(parent: Path, bookworm_deb: Path, grow: str | None = None) -> Path:
    """The .dsc of tests/data/ipxe-like with bookworm's ROMs as both its ROMs and the previous
    release's; ``grow`` names a ROM padded to bug #881263's 300544 bytes in the new set only."""
    tree = parent / "ipxe-like"
    shutil.copytree(DATA, tree)
    _, roms = read_source(str(bookworm_deb))
    for directory in (tree / "roms", tree / "debian" / "previous-roms"):
        directory.mkdir()
        for rom in roms:
            data = rom.data
            if rom.name == grow and directory.name == "roms":
                data += b"\xff" * (GROWN - len(data))
            (directory / rom.name).write_bytes(data)
    run(["dpkg-source", "--build", "ipxe-like"], cwd=parent)
    return parent / DSC


def sbuild(parent: Path, tool_build: toolpkg.Build, tarball: Path) -> tuple[int, str]:
    """sbuild of the ipxe-like .dsc with the session's ipxe-compat .deb: exit code and log."""
    start = time.monotonic()
    result = run(["sbuild", "--chroot-mode=unshare", f"--chroot={tarball}", "-d", "bookworm",
                  f"--extra-package={tool_build.parent / toolpkg.DEB}", "--no-run-lintian",
                  "--no-run-piuparts", "--no-run-autopkgtest", f"--build-dir={parent}", DSC],
                 cwd=parent, check=False)
    print(f"\nsbuild of ipxe-like: {time.monotonic() - start:.1f} s, exit {result.returncode}")
    logs = list(parent.glob("ipxe-like_1.0_amd64-*.build"))
    log = logs[0].read_text() if logs else result.stdout + result.stderr
    return result.returncode, log


def test_guard_passes_bookworms_roms_in_sbuild(bookworm_deb: Path, tool_build: toolpkg.Build,
                                               sbuild_chroot: Path, tmp_path: Path) -> None:
    require_tool("dpkg-source")
    ipxe_like_source(tmp_path, bookworm_deb)
    code, log = sbuild(tmp_path, tool_build, sbuild_chroot)
    assert code == 0, log[-5000:]
    assert f"Unpacking ipxe-compat ({__version__})" in log
    assert "ipxe-compat check --expect 'efi-*.rom=256k'" in log
    assert "16 ROMs: 16 ok, 0 breaks-migration, 0 removed, 0 only-old, 0 only-new" in log
    deb = DebFile(str(tmp_path / DEB))
    roms = [name for name in deb.data if str(name).endswith(".rom")]
    deb.close()
    assert len(roms) == 16


def test_guard_fails_the_sbuild_when_a_rom_grows(bookworm_deb: Path, tool_build: toolpkg.Build,
                                                 sbuild_chroot: Path, tmp_path: Path) -> None:
    require_tool("dpkg-source")
    ipxe_like_source(tmp_path, bookworm_deb, grow="efi-virtio.rom")
    code, log = sbuild(tmp_path, tool_build, sbuild_chroot)
    assert code != 0
    errors = re.findall(r"^ipxe-compat: error: .*$", log, re.MULTILINE)
    expected = ("ipxe-compat: error: debian/ipxe-like-qemu/usr/lib/ipxe/qemu/efi-virtio.rom: "
                "in the 512k bucket, expected 256k")
    assert errors == [expected], log[-5000:]
    assert "Fail-Stage: build" in log and "Status: attempted" in log  # the build step failed
    assert not (tmp_path / DEB).exists()


# --- the firmware packages: an ovmf-like and a seabios-like package, the same guard ----------

FIRMWARE_LIKE = {
    # kind: (origin package, {file in firmware/: its path in the origin .deb})
    "ovmf": ("ovmf", {"OVMF.fd": "usr/share/ovmf/OVMF.fd",
                      "OVMF_CODE.fd": "usr/share/OVMF/OVMF_CODE.fd",
                      "OVMF_VARS.fd": "usr/share/OVMF/OVMF_VARS.fd"}),
    "seabios": ("seabios", {name: f"usr/share/seabios/{name}" for name in (
        "bios-256k.bin", "bios.bin", "vgabios-stdvga.bin", "vgabios-virtio.bin", "vgabios.bin")}),
}


def firmware_like_source(kind: str, parent: Path, changed: dict[str, bytes] | None = None) -> Path:
    """The .dsc of tests/data/KIND-like with bookworm's images as both its firmware/ and the
    previous release's; ``changed`` replaces files of the new set only."""
    require_tool("dpkg-source", "dpkg-deb")
    package, files = FIRMWARE_LIKE[kind]
    parent.mkdir(parents=True, exist_ok=True)
    (deb,) = archive.fetch_firmware(package, "bookworm")
    origin = parent / "origin"
    run(["dpkg-deb", "-x", deb, origin])
    tree = parent / f"{kind}-like"
    shutil.copytree(DATA.parent / f"{kind}-like", tree)
    for directory in (tree / "firmware", tree / "debian" / "previous-firmware"):
        directory.mkdir()
        for name, path in files.items():
            data = (origin / path).read_bytes()
            if directory.name == "firmware" and changed and name in changed:
                data = changed[name]
            (directory / name).write_bytes(data)
    run(["dpkg-source", "--build", f"{kind}-like"], cwd=parent)
    return parent / f"{kind}-like_1.0.dsc"


def sbuild_dsc(parent: Path, dsc: Path, tool_build: toolpkg.Build,
               tarball: Path) -> tuple[int, str]:
    start = time.monotonic()
    result = run(["sbuild", "--chroot-mode=unshare", f"--chroot={tarball}", "-d", "bookworm",
                  f"--extra-package={tool_build.parent / toolpkg.DEB}", "--no-run-lintian",
                  "--no-run-piuparts", "--no-run-autopkgtest", f"--build-dir={parent}", dsc.name],
                 cwd=parent, check=False)
    print(f"\nsbuild of {dsc.name}: {time.monotonic() - start:.1f} s, exit {result.returncode}")
    logs = list(parent.glob(f"{dsc.name.removesuffix('.dsc')}_amd64-*.build"))
    log = logs[0].read_text() if logs else result.stdout + result.stderr
    return result.returncode, log


@pytest.mark.parametrize("kind", ["ovmf", "seabios"])
def test_firmware_guard_passes_bookworms_images_in_sbuild(
        kind: str, tool_build: toolpkg.Build, sbuild_chroot: Path, tmp_path: Path) -> None:
    dsc = firmware_like_source(kind, tmp_path)
    code, log = sbuild_dsc(tmp_path, dsc, tool_build, sbuild_chroot)
    assert code == 0, log[-5000:]
    assert f"ipxe-compat check debian/previous-firmware debian/{kind}-like" in log
    count = len(FIRMWARE_LIKE[kind][1])
    assert f"{count} ROMs: {count} ok, 0 breaks-migration, 0 removed" in log
    assert (tmp_path / f"{kind}-like_1.0_all.deb").exists()


def _trixie_ovmf_fd() -> bytes:
    (deb,) = archive.fetch_firmware("ovmf", "trixie")
    listing = subprocess.run(["dpkg-deb", "--fsys-tarfile", deb], capture_output=True,
                             check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(listing)) as tar:
        member = tar.extractfile("./usr/share/ovmf/OVMF.fd")
        assert member is not None
        return member.read()


@pytest.mark.parametrize(("kind", "name", "expected"), [
    ("ovmf", "OVMF.fd", "ipxe-compat: error: debian/ovmf-like/usr/share/ovmf/OVMF.fd: block "
     "pc.bios changes from 2097152 to 4194304 bytes (system firmware (-bios): the file's size, "
     "exactly), which breaks live migration"),
    ("seabios", "bios-256k.bin", "ipxe-compat: error: debian/seabios-like/usr/share/seabios/"
     "bios-256k.bin: block pc.bios changes from 262144 to 327680 bytes (system firmware (-bios): "
     "the file's size, exactly), which breaks live migration"),
])
def test_firmware_guard_fails_the_sbuild_on_a_size_change(
        kind: str, name: str, expected: str, tool_build: toolpkg.Build, sbuild_chroot: Path,
        tmp_path: Path) -> None:
    """trixie's 4 MiB OVMF.fd in an ovmf-like build of bookworm's; a bios-256k.bin grown by
    64 KiB (still a multiple of 64 KiB, so QEMU would load it) in a seabios-like build."""
    if kind == "ovmf":
        changed = {name: _trixie_ovmf_fd()}
    else:
        origin = tmp_path / "grown"
        (deb,) = archive.fetch_firmware("seabios", "bookworm")
        run(["dpkg-deb", "-x", deb, origin])
        data = (origin / "usr/share/seabios" / name).read_bytes()
        changed = {name: data + b"\xff" * 65536}
    dsc = firmware_like_source(kind, tmp_path / "src", changed)
    code, log = sbuild_dsc(tmp_path / "src", dsc, tool_build, sbuild_chroot)
    assert code != 0
    errors = re.findall(r"^ipxe-compat: error: .*$", log, re.MULTILINE)
    assert errors == [expected], log[-5000:]
    assert "Fail-Stage: build" in log and "Status: attempted" in log
    assert not (tmp_path / "src" / f"{kind}-like_1.0_all.deb").exists()
