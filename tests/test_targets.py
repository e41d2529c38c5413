"""Upload-ready for the target's Debian: each target's own lintian, a pristine orig tarball.

A package for unstable is built and judged in a sid root (sid's debhelper and lintian, made once
with mmdebstrap and cached, see tests/roots.py); one for bookworm on this bookworm host. Both with
``lintian --pedantic -I -E``: no E: or W:, no unused override, no alien tag, for bookworm's,
trixie's and sid's ipxe-qemu as origin. The orig tarball holds the origin's ROMs byte for byte at
their paths in the origin .deb (unpacked with dpkg-deb) and stays the same across option changes.
"""

from __future__ import annotations

import hashlib
import io
import lzma
import re
import sys
import tarfile
from pathlib import Path

import pytest

from ipxe_compat.package.targets import TARGETS, target_of
from tests.conftest import require_tool
from tests.roots import Root, RootSpec, ensure_root
from tests.tools import explain, run

pytestmark = pytest.mark.integration

#: a date after sid's Standards-Version 4.7.4 was released: an older changelog date is
#: lintian's timewarp-standards-version warning (a real upload is dated now)
ENV = {"DEBFULLNAME": "Test Maintainer", "DEBEMAIL": "test@example.org",
       "SOURCE_DATE_EPOCH": "1790000000"}
ORIGINS = ["bookworm_deb", "trixie_deb", "sid_deb"]
LINTIAN = ["lintian", "--pedantic", "-I", "-E", "--fail-on", "error,warning"]
BUILD_AND_LINT = (
    'set -e; cd "$1"; cd ./*/; dpkg-buildpackage -us -uc >../build.log 2>&1 || '
    '{ tail -30 ../build.log; exit 1; }; cd ..; '
    'exec lintian --pedantic -I -E --fail-on error,warning ./*.dsc ./*.deb ./*.changes')


def generate(deb: Path, out: Path, *options: str) -> Path:
    run([sys.executable, "-m", "ipxe_compat", "generate", deb, "-o", out, "--build-source",
         *options], cwd=out.parent, env=ENV)
    return out


def problems(output: str) -> list[str]:
    """What blocks an upload: errors, warnings, overrides that match nothing, unknown tags."""
    return [line for line in output.splitlines()
            if line[:2] in ("E:", "W:") or "unused-override" in line or "alien-tag" in line]


@pytest.fixture(scope="module")
def sid_root() -> Root:
    require_tool("mmdebstrap", "unshare")
    return ensure_root(RootSpec("sid", ("lintian", "debhelper"), variant="buildd"))


@pytest.mark.slow
@pytest.mark.parametrize("origin", ORIGINS)
def test_unstable_package_is_clean_under_sids_lintian(sid_root: Root, origin: str, tmp_path: Path,
                                                      request: pytest.FixtureRequest) -> None:
    out = generate(request.getfixturevalue(origin), tmp_path / "out")  # default: unstable
    control = next(out.glob("*/debian/control")).read_text()
    assert "debhelper-compat (= 14)" in control and "Standards-Version: 4.7.4" in control
    assert "Priority:" not in control and "Rules-Requires-Root:" not in control
    result = sid_root.run(["/bin/sh", "-c", BUILD_AND_LINT, "lint", str(out)], shares=[tmp_path],
                          check=False)
    assert result.returncode == 0 and problems(result.stdout) == [], explain(result)
    version = sid_root.run(["lintian", "--version"]).stdout.split()[-1].lstrip("v")
    assert version == TARGETS[0].lintian  # the row was checked with this very lintian


@pytest.mark.parametrize("origin", ORIGINS)
def test_bookworm_package_is_clean_under_bookworms_lintian(origin: str, tmp_path: Path,
                                                           request: pytest.FixtureRequest) -> None:
    require_tool("lintian", "spellintian", "dpkg-buildpackage", "dh")
    out = generate(request.getfixturevalue(origin), tmp_path / "out", "--distribution", "bookworm")
    (tree,) = out.glob("*/debian")
    spelling = run(["spellintian", tree / "control", tree / "README.Debian",
                    tree / "README.source"], cwd=out)
    assert spelling.stdout == ""  # e.g. no "QEMU QEMU (duplicate word)" across synopsis and body
    run(["dpkg-buildpackage", "-us", "-uc"], cwd=tree.parent, env=ENV)
    result = run([*LINTIAN, *sorted(out.glob("*.dsc")), *sorted(out.glob("*.deb")),
                  *sorted(out.glob("*.changes"))], cwd=out, check=False)
    # trixie's 32-character upstream version plus bookworm's +deb12u1 makes the upload's .changes
    # and .buildinfo names longer than lintian's 80 (adjusted for the longest architecture); the
    # .deb's own is overridden in the package, these two cannot be (they are not in it)
    long_upload_names = [line for line in problems(result.stdout)
                         if re.fullmatch(r"W: \S+ (changes|buildinfo): package-has-long-file-name "
                                         r"\S{70,}\.(changes|buildinfo)", line)]
    assert (origin == "trixie_deb") == bool(long_upload_names), result.stdout
    assert [line for line in problems(result.stdout) if line not in long_upload_names] == [], \
        explain(result)
    version = run(["lintian", "--version"], cwd=out).stdout.split()[-1].lstrip("v")
    assert version == target_of("bookworm").lintian  # the row was checked with this lintian


def _orig(out: Path) -> Path:
    (orig,) = out.glob("*.orig.tar.xz")
    return orig


def _members(orig: Path) -> dict[str, str]:
    """sha256 of every regular file, by path below the top directory."""
    with tarfile.open(fileobj=io.BytesIO(lzma.decompress(orig.read_bytes()))) as tar:
        return {m.name.split("/", 1)[1]: hashlib.sha256(tar.extractfile(m).read()).hexdigest()
                for m in tar.getmembers() if m.isfile()}  # type: ignore[union-attr]


@pytest.mark.parametrize("origin", ["bookworm_deb", "trixie_deb"])
def test_orig_tarball_is_the_origin_roms_whatever_the_options(
        origin: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    require_tool("dpkg-deb", "dpkg-source")
    deb: Path = request.getfixturevalue(origin)
    unpacked = tmp_path / "deb"
    run(["dpkg-deb", "-x", deb, unpacked], cwd=tmp_path)
    archive = {str(p.relative_to(unpacked)): hashlib.sha256(p.read_bytes()).hexdigest()
               for p in unpacked.rglob("*.rom") if p.is_file() and not p.is_symlink()}
    assert len(archive) == 16
    first = generate(deb, tmp_path / "first")
    assert _members(_orig(first)) == archive  # every ROM, same bytes, same path, nothing else
    changelog = next(first.glob("*/debian/changelog"))
    name = "--source-name", "ipxe-qemu-256k-compat"  # --size would change the default name
    others = {
        "selection-prefix-pad-byte": ("--roms", "efi-virtio.rom", "--roms", "pxe-*.rom",
                                      "--prefix", "compat-256k-", "--pad-byte", "0", *name),
        "size-copy-bookworm": ("--size", "512k", "--copy", "--distribution", "bookworm", *name),
        "next-revision": ("--changelog-from", str(changelog), "--newversion",
                          changelog.read_text().split("(", 1)[1].split(")")[0][:-1] + "2"),
    }
    digest = hashlib.sha256(_orig(first).read_bytes()).hexdigest()
    for label, options in others.items():
        out = generate(deb, tmp_path / label, *options)
        assert hashlib.sha256(_orig(out).read_bytes()).hexdigest() == digest, label
        assert _orig(out).name == _orig(first).name
    # only debian/ changed: dpkg-source built each against that very orig tarball
    rules = {label: next((tmp_path / label).glob("*/debian/rules")).read_text()
             for label in others}
    assert "compat-roms/compat-256k-efi-virtio.rom" in rules["selection-prefix-pad-byte"]
    assert "tr '\\000' '\\000'" in rules["selection-prefix-pad-byte"]
    assert "head -c" not in rules["size-copy-bookworm"]


@pytest.mark.parametrize("origin", ["trixie_deb", "sid_deb"])
def test_copyright_keeps_every_choice_and_holder_of_the_origin(
        origin: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    """The origin's ``BSD-3-clause or GPL-2`` stays a choice: a whole ``, and``-separated group of
    the ROMs' License field (DEP-5: ``and`` binds tighter unless after a comma)."""
    require_tool("dpkg-deb")
    deb: Path = request.getfixturevalue(origin)
    unpacked = tmp_path / "deb"
    run(["dpkg-deb", "-x", deb, unpacked], cwd=tmp_path)
    source = (unpacked / "usr/share/doc/ipxe-qemu/copyright").read_text()
    choices = {" ".join(line.split()[1:]) for line in source.splitlines()
               if line.startswith("License:") and " or " in line}
    assert {"BSD-3-clause or GPL-2", "MPL-1.1 or GPL-2"} <= choices
    out = generate(deb, tmp_path / "out")
    written = next(out.glob("*/debian/copyright")).read_text()
    (roms,) = [p for p in written.split("\n\n") if p.startswith("Files: usr/share/qemu/*.rom")]
    license_line = next(line for line in roms.splitlines() if line.startswith("License: "))
    groups = license_line.removeprefix("License: ").split(", and ")
    assert choices <= set(groups), license_line
    assert all(" or " not in group for group in groups[:1])  # the plain licences come first
    holders = {line.removeprefix("Copyright:").strip() for line in source.splitlines()
               if line.startswith("Copyright:") and "no copyright" not in line.lower()}
    assert {h for h in holders if h} <= {line.strip().removeprefix("Copyright:").strip()
                                          for line in roms.splitlines()}


def test_words_match_the_bytes(bookworm_deb: Path, trixie_deb: Path, tmp_path: Path) -> None:
    """trixie's EFI ROMs are already 262144 bytes: nothing is padded, and nothing says so."""
    trixie = generate(trixie_deb, tmp_path / "trixie")
    readme = next(trixie.glob("*/debian/README.Debian")).read_text()
    changelog = next(trixie.glob("*/debian/changelog")).read_text()
    assert "padded" not in readme.replace("none needed padding", "")
    assert readme.count("carried unchanged") == 8
    assert "Carried unchanged (already 262144 bytes): 256k-efi-e1000.rom," in changelog
    assert "pads" not in changelog
    bookworm = generate(bookworm_deb, tmp_path / "bookworm")
    readme = " ".join(next(bookworm.glob("*/debian/README.Debian")).read_text().split())
    changelog = " ".join(next(bookworm.glob("*/debian/changelog")).read_text().split())
    # efi-virtio.rom is 249344 bytes: 12800 bytes of padding
    assert ("256k-efi-virtio.rom from usr/lib/ipxe/qemu/efi-virtio.rom (249344 bytes), padded "
            "with 12800 bytes of 0xff to 262144 bytes") in readme
    assert "256k-efi-virtio.rom (+12800 bytes)" in changelog and "unchanged (" not in changelog


def test_readme_source_check_against_the_archive_works(bookworm_deb: Path, tmp_path: Path) -> None:
    """README.source's commands, run as written (the .deb comes from the test cache instead of
    apt-get download), confirm every ROM of the orig tarball against the archive's package."""
    require_tool("dpkg-deb", "sha256sum")
    out = generate(bookworm_deb, tmp_path / "out")
    text = next(out.glob("*/debian/README.source")).read_text()
    section = text.split("Checking the orig tarball against the archive\n", 1)[1].split("\n\n")[0]
    commands = [line.strip() for line in section.splitlines()
                if not line.strip().startswith("apt-get download")]
    work = tmp_path / "check"
    work.mkdir()
    (work / bookworm_deb.name).write_bytes(bookworm_deb.read_bytes())
    (work / _orig(out).name).write_bytes(_orig(out).read_bytes())
    result = run(["sh", "-ec", "\n".join(commands)], cwd=work)
    assert result.stdout.count(": OK") == 16 and "FAILED" not in result.stdout
    assert hashlib.sha256(bookworm_deb.read_bytes()).hexdigest() in result.stdout
