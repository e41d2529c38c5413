"""Archive-ready and reproducible: byte-identical regeneration, builds, reprotest, sbuild, recipe.

Real tools from Debian's packages (faketime, reprotest, sbuild, mmdebstrap); under CI=true a
missing tool fails.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests import archive
from tests.conftest import require_tool
from tests.tools import explain, run

pytestmark = [pytest.mark.integration, pytest.mark.slow]

EPOCH = "1700000000"
ENV = {"DEBFULLNAME": "Test Maintainer", "DEBEMAIL": "test@example.org"}
TREE = "ipxe-qemu-256k-compat-1.0.0+git-20190125.36a4c85"
DEB = "ipxe-qemu-256k-compat-efi-roms_1.0.0+git-20190125.36a4c85-1+deb12u1_all.deb"
DSC = "ipxe-qemu-256k-compat_1.0.0+git-20190125.36a4c85-1+deb12u1.dsc"
DEBIAN_TARBALL = "ipxe-qemu-256k-compat_1.0.0+git-20190125.36a4c85-1+deb12u1.debian.tar.xz"
ORIG = "ipxe-qemu-256k-compat_1.0.0+git-20190125.36a4c85.orig.tar.xz"
#: these packages are built here and in a bookworm chroot, so they target bookworm
BOOKWORM = ("--distribution", "bookworm")


def sh(*argv: str | Path, cwd: Path, env: dict[str, str] | None = None, umask: int = 0o022,
       check: bool = True) -> subprocess.CompletedProcess[str]:
    return run(argv, cwd=cwd, env={**ENV, **(env or {})}, umask=umask, check=check)


def ipxe_compat(*args: str | Path, cwd: Path, env: dict[str, str] | None = None,
                umask: int = 0o022, wrapper: tuple[str, ...] = (),
                check: bool = True) -> subprocess.CompletedProcess[str]:
    return sh(*wrapper, sys.executable, "-m", "ipxe_compat", *args, cwd=cwd, env=env, umask=umask,
              check=check)


def snapshot(top: Path) -> dict[str, tuple[str, int, int]]:
    """sha256, mode and mtime of every file and directory below ``top``."""
    out = {}
    for path in sorted(top.rglob("*")):
        info = path.lstat()
        digest = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "dir"
        out[str(path.relative_to(top))] = (digest, info.st_mode, int(info.st_mtime))
    return out


@pytest.fixture(scope="module")
def source_package(bookworm_deb: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    require_tool("dpkg-source", "dpkg-genchanges")
    out = tmp_path_factory.mktemp("source") / "out"
    ipxe_compat("generate", bookworm_deb, "-o", out, "--build-source", *BOOKWORM, cwd=out.parent,
                env={"SOURCE_DATE_EPOCH": EPOCH})
    return out


def test_generate_is_identical_across_clock_tz_umask_locale_and_cwd(
        bookworm_deb: Path, source_package: Path, tmp_path: Path) -> None:
    require_tool("faketime")
    elsewhere = tmp_path / "a" / "b"
    elsewhere.mkdir(parents=True)
    ipxe_compat("generate", bookworm_deb, "-o", "../../again", "--build-source", *BOOKWORM,
                cwd=elsewhere,
                env={"SOURCE_DATE_EPOCH": EPOCH, "TZ": "America/St_Johns", "LC_ALL": "fr_FR.UTF-8",
                     "LANG": "fr_FR.UTF-8"},
                umask=0o077, wrapper=("faketime", "+600 days"))
    assert snapshot(tmp_path / "again") == snapshot(source_package)


def test_orig_tarball_ignores_date_and_revision(bookworm_deb: Path, source_package: Path,
                                                tmp_path: Path) -> None:
    """A later Debian revision regenerates the very orig tarball the archive already has."""
    changelog = source_package / TREE / "debian" / "changelog"
    ipxe_compat("generate", bookworm_deb, "-o", "next", "--changelog-from", changelog,
                "--newversion", "1.0.0+git-20190125.36a4c85-2", "--message", "Rebuild.",
                "--date", "Sat, 09 Mar 2024 16:00:00 +0000", cwd=tmp_path)
    assert (tmp_path / "next" / ORIG).read_bytes() == (source_package / ORIG).read_bytes()
    text = (tmp_path / "next" / TREE / "debian" / "changelog").read_text()
    assert text.startswith("ipxe-qemu-256k-compat (1.0.0+git-20190125.36a4c85-2) unstable;")
    assert text.endswith(changelog.read_text())
    result = ipxe_compat("generate", bookworm_deb, "-o", "older", "--changelog-from", changelog,
                         "--newversion", "1.0.0+git-20190125.36a4c85-1", cwd=tmp_path, check=False)
    assert result.returncode == 2 and "not greater" in result.stderr


def test_binary_builds_identically_in_two_places(source_package: Path, tmp_path: Path) -> None:
    require_tool("dpkg-buildpackage", "dpkg-source", "fakeroot")
    debs = []
    for name, env, umask in (("one", {"TZ": "UTC"}, 0o022),
                             ("two", {"TZ": "Asia/Kathmandu", "LC_ALL": "de_DE.UTF-8"}, 0o077)):
        where = tmp_path / name / "deeper"
        where.mkdir(parents=True)
        sh("dpkg-source", "-x", source_package / DSC, "tree", cwd=where)
        sh("dpkg-buildpackage", "-us", "-uc", "-b", cwd=where / "tree", env=env, umask=umask)
        debs.append((where / DEB).read_bytes())
    assert debs[0] == debs[1]


def test_reprotest(source_package: Path, tmp_path: Path) -> None:
    require_tool("reprotest", "faketime", "disorderfs", "diffoscope")
    for name in (DSC, ORIG, DEBIAN_TARBALL):
        shutil.copy(source_package / name, tmp_path)
    result = sh("reprotest", "--variations=+all,-user_group,time.faketimes+=+600days", DSC,
                "--", "null", cwd=tmp_path, check=False)
    assert result.returncode == 0, explain(result, tail=4000)
    assert "Reproduction successful" in result.stdout


def test_sbuild_builds_the_same_deb_as_dpkg_buildpackage(source_package: Path, sbuild_chroot: Path,
                                                         tmp_path: Path) -> None:
    require_tool("sbuild", "dpkg-buildpackage")
    for name in (DSC, ORIG, DEBIAN_TARBALL):
        shutil.copy(source_package / name, tmp_path)
    result = sh("sbuild", "--chroot-mode=unshare", f"--chroot={sbuild_chroot}", "-d", "bookworm",
                "--no-run-lintian", "--no-run-piuparts", "--no-run-autopkgtest",
                f"--build-dir={tmp_path}", DSC, cwd=tmp_path, check=False)
    assert result.returncode == 0, explain(result, tail=4000)
    local = tmp_path / "local"
    local.mkdir()
    sh("dpkg-source", "-x", source_package / DSC, "tree", cwd=local)
    sh("dpkg-buildpackage", "-us", "-uc", "-b", cwd=local / "tree")
    assert (tmp_path / DEB).read_bytes() == (local / DEB).read_bytes()


def test_recipe_regenerates_the_identical_package(bookworm_deb: Path, source_package: Path,
                                                  sid_deb: Path, tmp_path: Path) -> None:
    recipe = source_package / TREE / "debian" / "ipxe-compat.recipe"
    text = recipe.read_text()
    assert f"Date: @{EPOCH}" in text and "ipxe-qemu_1.0.0+git-20190125.36a4c85-5.1_all.deb" in text
    ipxe_compat("generate", "--recipe", recipe, bookworm_deb, "-o", "again", "--build-source",
                cwd=tmp_path)
    assert snapshot(tmp_path / "again") == snapshot(source_package)
    wrong = ipxe_compat("generate", "--recipe", recipe, sid_deb, "-o", "wrong", cwd=tmp_path,
                        check=False)
    assert wrong.returncode == 2 and "not the recipe's" in wrong.stderr
    assert not (tmp_path / "wrong").exists()
    fixed = ipxe_compat("generate", "--recipe", recipe, bookworm_deb, "-o", "x", "--size", "512k",
                        cwd=tmp_path, check=False)
    assert fixed.returncode == 2 and "drop --size" in fixed.stderr


def test_apt_source_is_verified_cached_and_regenerates(
    source_package: Path, tmp_path: Path
) -> None:
    """apt:NAME=VERSION downloads into $XDG_CACHE_HOME/ipxe-compat, checked against apt's SHA256."""
    require_tool("apt-get", "apt-cache")
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache")}
    recipe = source_package / TREE / "debian" / "ipxe-compat.recipe"
    ipxe_compat("generate", "--recipe", recipe, "-o", "via-apt", "--build-source", cwd=tmp_path,
                env=env)  # no SOURCE: the recipe's package is fetched again with apt
    assert snapshot(tmp_path / "via-apt") == snapshot(source_package)
    cached = tmp_path / "cache" / "ipxe-compat" / "ipxe-qemu_1.0.0+git-20190125.36a4c85-5.1_all.deb"
    inode = cached.stat().st_ino
    spec = f"apt:ipxe-qemu={archive.BOOKWORM_VERSION}"
    ipxe_compat("inspect", spec, "--roms", "efi-virtio.rom", cwd=tmp_path, env=env)
    assert cached.stat().st_ino == inode  # reused, not downloaded again
    cached.write_bytes(b"corrupted")
    ipxe_compat("inspect", spec, "--roms", "efi-virtio.rom", cwd=tmp_path, env=env)
    assert hashlib.sha256(cached.read_bytes()).hexdigest() == \
        "5c2419ce07f4d80ac5e88e32ac09cdc523c048af86c4730d682ba969d3189db2"
    unknown = ipxe_compat("inspect", "apt:ipxe-qemu=0.0.1-1", cwd=tmp_path, env=env, check=False)
    assert unknown.returncode == 2
    assert unknown.stderr.startswith("ipxe-compat: error: apt:ipxe-qemu=0.0.1-1: apt does not know")
