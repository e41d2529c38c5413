"""The build-time guard where it matters: an ipxe-like package built in sbuild.

tests/data/ipxe-like stands in for the ipxe source package: ``Build-Depends: ipxe-compat``, and its
debian/rules runs ``ipxe-compat check --expect 'efi-*.rom=256k' ...`` on the ROMs it installs and
``ipxe-compat check debian/previous-roms ...`` against the previous release's ROMs it ships. The
test fills both with Debian bookworm's ipxe-qemu ROMs and builds it in sbuild (unshare mode, a
clean bookworm buildd chroot) with this session's ipxe-compat .deb as an extra package, the only
way ipxe-compat reaches the chroot, as it would from the archive: the guard passes the real ROMs
and fails the build when efi-virtio.rom grows to 300544 bytes, as in Debian bug #881263.
"""

from __future__ import annotations

import re
import shutil
import time
from pathlib import Path

import pytest
from debian.debfile import DebFile

from ipxe_compat import __version__
from ipxe_compat.input import read_source
from tests import toolpkg
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
