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


def _private_apt(suites: list[str]) -> list[str]:
    root = cache_dir() / "apt"
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


def fetch(version: str, package: str = "ipxe-qemu") -> Path:
    """The .deb of ``package=version``, downloaded once into the cache."""
    target = cache_dir() / f"{package}_{version.split(':', 1)[-1]}_all.deb"
    if target.exists():
        return target
    options: list[str] = []
    if version != BOOKWORM_VERSION:
        options = _private_apt(["trixie", "sid"])
        update = subprocess.run(["apt-get", *options, "-q", "update"], capture_output=True,
                                text=True, check=False)
        if update.returncode != 0:
            raise tool_error(update)
    result = subprocess.run(["apt-get", *options, "-q", "download", f"{package}={version}"],
                            cwd=cache_dir(), capture_output=True, text=True, check=False)
    if result.returncode != 0 or not target.exists():
        raise tool_error(result)
    return target
