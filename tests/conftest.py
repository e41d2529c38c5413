"""Shared fixtures: real archive packages and real tools, which CI may not skip."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests import archive

IN_CI = os.environ.get("CI") == "true"


def require_tool(*names: str) -> None:
    """Skip without a Debian tool locally; under CI=true a missing tool is a failure."""
    missing = [name for name in names if shutil.which(name) is None]
    if missing:
        message = f"missing tool(s): {', '.join(missing)} (apt-get install them; see .ci/run)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)


def _fetch(version: str) -> Path:
    require_tool("apt-get")
    try:
        return archive.fetch(version)
    except (RuntimeError, OSError) as error:
        if IN_CI:
            pytest.fail(str(error))
        pytest.skip(str(error))


@pytest.fixture(scope="session")
def bookworm_deb() -> Path:
    """Debian bookworm's ipxe-qemu: efi ROMs of 243712..249856 bytes in usr/lib/ipxe/qemu."""
    return _fetch(archive.BOOKWORM_VERSION)


@pytest.fixture(scope="session")
def trixie_deb() -> Path:
    return _fetch(archive.TRIXIE_VERSION)


@pytest.fixture(scope="session")
def sid_deb() -> Path:
    return _fetch(archive.SID_VERSION)


@pytest.fixture
def maintainer_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEBFULLNAME", "Test Maintainer")
    monkeypatch.setenv("DEBEMAIL", "test@example.org")
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
