"""Fetch real ipxe-qemu packages from Debian's archive with apt, cached between runs.

Bookworm's package comes from the machine's own apt configuration. Other suites (trixie, sid)
are read through a private apt configuration (own sources list, lists and cache directories)
pointing at the same mirror host, so the machine's apt setup is never changed.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.tools import tool_error

BOOKWORM_VERSION = "1.0.0+git-20190125.36a4c85-5.1"
TRIXIE_VERSION = "1.21.1+git20250501.dad20602+dfsg-1"
SID_VERSION = "2.0.0+dfsg-5"
KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"


def cache_dir() -> Path:
    base = os.environ.get("IPXE_COMPAT_TEST_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "ipxe-compat-tests"
    )
    path = Path(base)
    path.mkdir(parents=True, exist_ok=True)
    return path


def mirror() -> str:
    """The Debian mirror apt already uses (the only host the network allows)."""
    out = subprocess.run(["apt-get", "indextargets", "--format", "$(REPO_URI)"],
                         capture_output=True, text=True, check=False).stdout
    for uri in out.split():
        if uri.rstrip("/").endswith("/debian"):
            return uri.rstrip("/")
    return "http://deb.debian.org/debian"


def _private_apt(suites: list[str], name: str = "apt") -> list[str]:
    root = cache_dir() / name
    for sub in ("lists/partial", "cache/archives/partial"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    sources = root / "sources.list"
    url = mirror()
    sources.write_text("".join(f"deb [signed-by={KEYRING}] {url} {s} main\n" for s in suites))
    return [
        "-o", f"Dir::Etc::SourceList={sources}", "-o", "Dir::Etc::SourceParts=/nonexistent",
        "-o", f"Dir::State::Lists={root / 'lists'}", "-o", f"Dir::Cache={root / 'cache'}",
        "-o", "Dir::State::status=/dev/null", "-o", "APT::Sandbox::User=root",
        "-o", "Debug::NoLocking=1",
    ]


#: Every firmware package QEMU loads from, per suite, as the archive here serves them (sid's
#: ovmf is a metapackage: its Depends hold the files). docs/firmware.md's release matrix.
SUITES = ("bullseye", "bookworm", "trixie", "sid")
FIRMWARE: dict[str, dict[str, tuple[tuple[str, str], ...]]] = {
    "ipxe-qemu": {
        "bullseye": (("ipxe-qemu", BOOKWORM_VERSION),),
        "bookworm": (("ipxe-qemu", BOOKWORM_VERSION),),
        "trixie": (("ipxe-qemu", TRIXIE_VERSION),),
        "sid": (("ipxe-qemu", SID_VERSION),),
    },
    "seabios": {
        "bullseye": (("seabios", "1.14.0-2"),),
        "bookworm": (("seabios", "1.16.2-1"),),
        "trixie": (("seabios", "1.16.3-2"),),
        "sid": (("seabios", "1.17.0-1"),),
    },
    "ovmf": {
        "bullseye": (("ovmf", "2020.11-2+deb11u2"),),
        "bookworm": (("ovmf", "2022.11-6+deb12u2"),),
        "trixie": (("ovmf", "2025.02-8+deb13u1"),),
        "sid": (("ovmf-generic", "2026.08+ds-2"), ("ovmf-amdsev", "2026.08+ds-2"),
                ("ovmf-inteltdx", "2026.08+ds-2")),
    },
    "qemu-system-data": {
        "bullseye": (("qemu-system-data", "1:5.2+dfsg-11+deb11u3"),),
        "bookworm": (("qemu-system-data", "1:7.2+dfsg-7+deb12u18"),),
        "trixie": (("qemu-system-data", "1:10.0.13+ds-0+deb13u1"),),
        "sid": (("qemu-system-data", "1:11.1.3+ds-1"),),
    },
}


def fetch(version: str, package: str = "ipxe-qemu") -> Path:
    """The .deb of ``package=version``, downloaded once into the cache (apt names a file with an
    epoch ``NAME_1%3aVERSION_all.deb``; it is renamed to the epoch-less name)."""
    plain = version.split(":", 1)[-1]
    target = cache_dir() / f"{package}_{plain}_all.deb"
    if target.exists():
        return target
    options: list[str] = []
    if (package, version) != ("ipxe-qemu", BOOKWORM_VERSION):
        # bookworm's firmware too: the machine's apt may lack a point release's older version
        options = _private_apt(["bullseye", "bookworm", "trixie", "sid"], "apt-all")
        update = subprocess.run(["apt-get", *options, "-q", "update"], capture_output=True,
                                text=True, check=False)
        if update.returncode != 0:
            raise tool_error(update)
    result = subprocess.run(["apt-get", *options, "-q", "download", f"{package}={version}"],
                            cwd=cache_dir(), capture_output=True, text=True, check=False)
    epoch = cache_dir() / f"{package}_{version.replace(':', '%3a')}_all.deb"
    if epoch != target and epoch.exists():
        epoch.rename(target)
    if result.returncode != 0 or not target.exists():
        raise tool_error(result)
    return target


def fetch_firmware(package: str, suite: str) -> list[Path]:
    """The .debs that hold ``package``'s firmware in ``suite`` (FIRMWARE)."""
    return [fetch(version, name) for name, version in FIRMWARE[package][suite]]
