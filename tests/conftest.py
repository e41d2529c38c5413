"""Shared fixtures: real archive packages and real tools, which CI may not skip."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

import pytest

from tests import archive, toolpkg
from tests.roots import RootSpec, ensure_tarball, locked
from tests.tools import run

IN_CI = os.environ.get("CI") == "true"
#: Fixtures that download from Debian's archive: a test using one must be marked integration.
ARCHIVE_FIXTURES = frozenset({"bookworm_deb", "trixie_deb", "sid_deb"})


def _cannot(message: str) -> NoReturn:
    """Skip locally; under CI=true what a test needs and lacks is a failure, never a skip."""
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)


def require_tool(*names: str) -> None:
    """Skip without a Debian tool locally; under CI=true a missing tool is a failure."""
    missing = [name for name in names if shutil.which(name) is None]
    if missing:
        _cannot(f"missing tool(s): {', '.join(missing)} (apt-get install them; see .ci/run)")


def require_root(why: str) -> None:
    """Skip when not root locally; under CI=true (which runs as root) it is a failure."""
    if os.geteuid() != 0:
        _cannot(f"needs root: {why}")


@pytest.hookimpl(tryfirst=True)  # before pytest's own tmp_path plugin reads the option
def pytest_configure(config: pytest.Config) -> None:
    """With pytest-xdist (-n), a short base directory for tmp_path: the workers' own add
    ``popen-gwN/`` to pytest's ``/tmp/pytest-of-USER/pytest-N/``, and a QEMU socket in a test's
    directory then passes the 107 bytes a unix socket path may have ("AF_UNIX path too long")."""
    if (getattr(config.option, "numprocesses", None) and not config.option.basetemp
            and "PYTEST_XDIST_WORKER" not in os.environ):
        config.option.basetemp = tempfile.mkdtemp(prefix="pytest-")
        config.add_cleanup(lambda: shutil.rmtree(config.option.basetemp, ignore_errors=True))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test that downloads from the archive must say so (-m 'not integration' stays offline)."""
    unmarked = [item.nodeid for item in items
                if ARCHIVE_FIXTURES & set(getattr(item, "fixturenames", ()))
                and item.get_closest_marker("integration") is None]
    if unmarked:
        raise pytest.UsageError("archive packages used by tests not marked integration: "
                                + ", ".join(unmarked))


def _fetch(version: str) -> Path:
    require_tool("apt-get")
    try:
        # one download at a time: parallel workers (pytest -n) share the cache and its apt lists
        with locked(archive.cache_dir() / ".fetch.lock"):
            return archive.fetch(version)
    except (RuntimeError, OSError) as error:
        _cannot(str(error))


def once(factory: pytest.TempPathFactory, name: str,
         make: Callable[[Path], dict[str, Any]]) -> tuple[Path, dict[str, Any]]:
    """A session fixture's work done once per test run, also when pytest-xdist runs the tests in
    several worker processes: the first worker makes it in a directory they share (under a
    lock), the others wait and take its result. ``make(directory)`` returns what the fixture
    needs as JSON-able data; returns (directory, that data)."""
    if "PYTEST_XDIST_WORKER" not in os.environ:
        where = factory.mktemp(name)
        return where, make(where)
    shared = factory.getbasetemp().parent  # pytest-xdist: the workers' common base directory
    where, done = shared / name, shared / f"{name}.json"
    with locked(shared / f".{name}.lock"):
        if not done.exists():
            shutil.rmtree(where, ignore_errors=True)  # a worker that failed half-way
            where.mkdir()
            done.write_text(json.dumps(make(where)))
    return where, json.loads(done.read_text())


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
def compat_deb(bookworm_deb: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The compat .deb made from bookworm's ipxe-qemu by today's generate + dpkg-buildpackage.

    Reproducible (fixed SOURCE_DATE_EPOCH), so its bytes, and the cache keys of the roots it is
    installed in, change only when generate's output does.
    """
    require_tool("dpkg-buildpackage", "dh", "fakeroot")

    def make(out: Path) -> dict[str, Any]:
        env = {"DEBFULLNAME": "Test Maintainer", "DEBEMAIL": "test@example.org",
               "SOURCE_DATE_EPOCH": "1700000000"}
        # built here, on Debian 12: a package for bookworm (unstable's wants sid's debhelper 14)
        run([sys.executable, "-m", "ipxe_compat", "generate", bookworm_deb, "-o", out,
             "--distribution", "bookworm"], env=env)
        (tree,) = out.glob("ipxe-qemu-256k-compat-*/")
        run(["dpkg-buildpackage", "-us", "-uc", "-b"], cwd=tree, env=env)
        (deb,) = out.glob("ipxe-qemu-256k-compat-efi-roms_*_all.deb")
        return {"deb": deb.name}

    out, made = once(tmp_path_factory, "compat-deb", make)
    return out / made["deb"]


@pytest.fixture(scope="session")
def tool_build(tmp_path_factory: pytest.TempPathFactory) -> toolpkg.Build:
    """ipxe-compat's own package (.dsc, .tar.xz, .deb, .changes), built once per session with
    dpkg-buildpackage from a copy of the repository, with Debian's python3 and libraries."""
    require_tool("git", "dpkg-buildpackage", "dh", "pybuild")

    def make(parent: Path) -> dict[str, Any]:
        built = toolpkg.build(toolpkg.copy_tree(parent))
        return {"tree": built.tree.name, "seconds": built.seconds, "args": built.result.args,
                "returncode": built.result.returncode, "stdout": built.result.stdout,
                "stderr": built.result.stderr}

    parent, made = once(tmp_path_factory, "ipxe-compat-package", make)
    built = toolpkg.Build(parent / made["tree"], subprocess.CompletedProcess(
        made["args"], made["returncode"], made["stdout"], made["stderr"]), made["seconds"])
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
        _cannot(str(error))
