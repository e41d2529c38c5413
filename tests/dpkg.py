"""The ROMs of a real .deb as dpkg itself unpacks them: the reference the tests compare against.

Tests must not take their "original" bytes through ipxe-compat's own reader (the code under
test); ``dpkg-deb -x`` is Debian's reading of the package.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from tests.conftest import require_tool
from tests.tools import run

ROM_DIRS = ("usr/lib/ipxe/qemu", "usr/share/qemu")


def dpkg_roms(deb: Path) -> dict[str, bytes]:
    """Every ``*.rom`` that ``dpkg-deb -x`` installs into QEMU's ROM directories, by name."""
    require_tool("dpkg-deb")
    with tempfile.TemporaryDirectory(prefix="dpkg-roms-") as root:
        run(["dpkg-deb", "-x", deb, root])
        return {path.name: path.read_bytes()
                for directory in ROM_DIRS for path in sorted((Path(root) / directory).glob("*.rom"))
                if path.is_file()}


def dpkg_root(tmp_path: Path) -> Path:
    """An empty dpkg database under ``tmp_path/root``, for ``dpkg --root`` co-installation."""
    root = tmp_path / "root"
    (root / "var/lib/dpkg/info").mkdir(parents=True)
    (root / "var/lib/dpkg/updates").mkdir()
    (root / "var/log").mkdir(parents=True)
    (root / "var/lib/dpkg/status").touch()
    return root
