"""Shared fixtures: real archive packages and real tools, which CI may not skip."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests import archive, toolpkg
from tests.roots import RootSpec, ensure_tarball

IN_CI = os.environ.get("CI") == "true"
#: Fixtures that fetch real packages from Debian's archive (network, apt).
ARCHIVE_FIXTURES = {"bookworm_deb", "trixie_deb", "sid_deb"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test on a real archive package is an integration test, whatever its module says.

    So ``-m "not integration"`` (the Debian package build, its autopkgtest) never needs the
    network, and a test cannot forget the marker.
    """
    for item in items:
        if ARCHIVE_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.integration)


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


@pytest.fixture(scope="session")
def tool_build(tmp_path_factory: pytest.TempPathFactory) -> toolpkg.Build:
    """ipxe-compat's own package (.dsc, .tar.xz, .deb, .changes), built once per session with
    dpkg-buildpackage from a copy of the repository, with Debian's python3 and libraries."""
    require_tool("git", "dpkg-buildpackage", "dh", "pybuild")
    built = toolpkg.build(toolpkg.copy_tree(tmp_path_factory.mktemp("ipxe-compat-package")))
    if built.result.returncode != 0:
        pytest.fail(built.failure())
    print(f"\nipxe-compat package: dpkg-buildpackage took {built.seconds:.1f} s")
    return built


@pytest.fixture(scope="session")
def sbuild_chroot() -> Path:
    """A clean bookworm buildd chroot tarball for sbuild --chroot-mode=unshare (made once with
    mmdebstrap, about 30 s, and cached): only what the Build-Depends bring comes on top."""
    require_tool("sbuild", "mmdebstrap", "newuidmap")
    try:
        return ensure_tarball(RootSpec("bookworm", ("debhelper",), variant="buildd"))
    except RuntimeError as error:
        if IN_CI:
            pytest.fail(str(error))
        pytest.skip(str(error))
