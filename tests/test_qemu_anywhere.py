"""QEMU commands anywhere (docs/cli.md): a QEMU that does not share this machine's /tmp.

trixie's QEMU 10.0 in a cached root (efi-virtio.rom grown to 300544 bytes, the compat .deb
installed), run as a plain ``chroot ROOT qemu-system-x86_64`` (the example in qemu-config's
help), through ``unshare --mount`` with a fresh tmpfs on /tmp (tests/roots.py), and behind an
ssh-like wrapper that hands the arguments to a shell as one string. None of them sees the
private directory ipxe-compat makes in TMPDIR: QMP goes over each QEMU's stdio, a migration
over TCP on 127.0.0.1, and only FROM/TO ROM files, which must be files QEMU can open, are
refused with a message that says so.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import _cannot, require_tool
from tests.roots import Root, RootSpec, ensure_root
from tests.test_qemu_versions import GROW_EFI_VIRTIO

pytestmark = [pytest.mark.integration, pytest.mark.slow]

QEMU = "qemu-system-x86_64"


@pytest.fixture(scope="module")
def trixie(compat_deb: Path) -> Root:
    """The root of tests/test_qemu_versions.py (same spec, same cached root)."""
    require_tool("mmdebstrap", "unshare", "chroot", QEMU)
    try:
        return ensure_root(RootSpec("trixie", ("qemu-system-x86",), (compat_deb,),
                                    (GROW_EFI_VIRTIO,)))
    except RuntimeError as error:
        _cannot(str(error))


def ipxe_compat(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    """The command line with this machine's own TMPDIR, which no QEMU here shares."""
    return subprocess.run([sys.executable, "-m", "ipxe_compat", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, check=False, timeout=600)


def _ssh_like(root: Root, path: Path) -> Path:
    """A wrapper that, like ``ssh HOST qemu-system-x86_64``, gives the remote side one string
    that a shell splits again (and a root of its own: nothing of this machine's /tmp)."""
    inner = shlex.join(root.command(["/bin/sh", "-c"]))
    path.write_text(f'#!/bin/sh\nexec {inner} "exec {QEMU} $*"\n')
    path.chmod(0o755)
    return path


def test_qemu_config_probes_a_chroots_qemu_as_its_help_says(
        trixie: Root, compat_deb: Path, tmp_path: Path) -> None:
    builtin = ipxe_compat("qemu-config", compat_deb, cwd=tmp_path)
    asked = ipxe_compat("qemu-config", compat_deb, "--qemu", f"chroot {trixie.path} {QEMU}",
                        cwd=tmp_path)
    assert asked.returncode == 0, asked.stderr
    assert asked.stderr == ""
    assert asked.stdout == builtin.stdout  # trixie's QEMU says what the built-in table says


@pytest.mark.parametrize("how", ["unshare-chroot", "ssh-like"])
def test_installed_roms_migrate_to_a_qemu_that_shares_no_tmp(
        how: str, trixie: Root, compat_deb: Path, tmp_path: Path) -> None:
    to = shlex.join(trixie.command([QEMU])) if how == "unshare-chroot" else \
        str(_ssh_like(trixie, tmp_path / "remote-qemu"))
    common = ["verify-migration", "--to-qemu", to, "--machine", "pc-q35-7.2",
              "--device", "virtio-net-pci", "--device", "e1000", "--json"]
    plain = ipxe_compat(*common, cwd=tmp_path)
    assert plain.returncode == 1, plain.stderr
    report = json.loads(plain.stdout)
    assert report["destination_qemu"]["version"].startswith("10.0.")
    results = {m["device"]: m for m in report["migrations"]}
    assert results["e1000"]["status"] == "completed"
    assert results["virtio-net-pci"]["size_mismatch"] == {
        "block": "0000:00:01.0/virtio-net-pci.rom", "source_size": 0x40000,
        "destination_size": 0x80000}

    config = tmp_path / "compat.args"
    config.write_text(ipxe_compat("qemu-config", compat_deb, cwd=tmp_path).stdout)
    fixed = ipxe_compat(*common, "--to-config", config, cwd=tmp_path)
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert [m["status"] for m in json.loads(fixed.stdout)["migrations"]] == ["completed"] * 2


def test_rom_files_for_a_qemu_that_cannot_see_them_are_refused_saying_so(
        trixie: Root, bookworm_deb: Path, compat_deb: Path, tmp_path: Path) -> None:
    result = ipxe_compat("verify-migration", bookworm_deb, compat_deb, "--to-qemu",
                         shlex.join(trixie.command([QEMU])), "--device", "e1000", cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1
    assert "does not see this machine's TMPDIR" in result.stderr
    assert "where FROM and TO files are given to QEMU" in result.stderr
