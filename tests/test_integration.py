"""End to end on Debian's real bookworm ipxe-qemu, with the real Debian tools.

generate -> dpkg-source -> dpkg-buildpackage (lintian per target: test_targets.py), then install
beside ipxe-qemu with dpkg --root. Under CI=true a missing tool or package fails these tests
instead of skipping them.
"""

from __future__ import annotations

import hashlib
import json
import lzma
import re
import shutil
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest
from debian.arfile import ArFile
from debian.debfile import DebFile

from tests import factory
from tests.conftest import require_root, require_tool
from tests.dpkg import dpkg_roms, dpkg_root
from tests.roots import RootSpec, ensure_root
from tests.tools import explain, run

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parent.parent
ENV = {"DEBFULLNAME": "Test Maintainer", "DEBEMAIL": "test@example.org",
       "SOURCE_DATE_EPOCH": "1700000000"}
TREE = "ipxe-qemu-256k-compat-1.0.0+git-20190125.36a4c85"
DEB = "ipxe-qemu-256k-compat-efi-roms_1.0.0+git-20190125.36a4c85-1+deb12u1_all.deb"
DSC = "ipxe-qemu-256k-compat_1.0.0+git-20190125.36a4c85-1+deb12u1.dsc"


def sh(*argv: str | Path, cwd: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    return run(argv, cwd=cwd, env=ENV, check=check)


def generate(deb: Path, out: Path, *extra: str, ipxe_compat: list[str] | None = None) -> None:
    command = ipxe_compat or [sys.executable, "-m", "ipxe_compat"]
    sh(*command, "generate", deb, "-o", out, *extra, cwd=out.parent)


@pytest.fixture(scope="module")
def built(bookworm_deb: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The generated source package, built from source with --build-source and dpkg-buildpackage."""
    require_tool("dpkg-source", "dpkg-genchanges", "dpkg-buildpackage", "dh", "fakeroot")
    out = tmp_path_factory.mktemp("built") / "out"
    # built here, on bookworm, so it targets bookworm (unstable's debhelper compat 14 is not here)
    generate(bookworm_deb, out, "--build-source", "--distribution", "bookworm")
    sh("dpkg-buildpackage", "-us", "-uc", cwd=out / TREE)
    return out


def test_source_package_files(built: Path) -> None:
    names = sorted(p.name for p in built.iterdir())
    for expected in (DSC, DEB, "ipxe-qemu-256k-compat_1.0.0+git-20190125.36a4c85.orig.tar.xz",
                     "ipxe-qemu-256k-compat_1.0.0+git-20190125.36a4c85-1+deb12u1.debian.tar.xz",
                     "ipxe-qemu-256k-compat_1.0.0+git-20190125.36a4c85-1+deb12u1_source.changes"):
        assert expected in names
    changes = (
        built / "ipxe-qemu-256k-compat_1.0.0+git-20190125.36a4c85-1+deb12u1_source.changes"
    ).read_text()
    assert "Architecture: source\n" in changes


def test_orig_tarball_is_the_one_the_docs_promise(built: Path) -> None:
    """docs/generated-package.md names the orig tarball's sha256 of bookworm's package, "in every
    run"."""
    promised = re.search(r"On the real bookworm\s+package it is `([0-9a-f]{64})`",
                         (REPO / "docs" / "generated-package.md").read_text())
    assert promised is not None
    orig = built / "ipxe-qemu-256k-compat_1.0.0+git-20190125.36a4c85.orig.tar.xz"
    assert hashlib.sha256(orig.read_bytes()).hexdigest() == promised[1]


def test_deb_holds_exactly_the_padded_efi_roms(built: Path, bookworm_deb: Path) -> None:
    by_name = dpkg_roms(bookworm_deb)  # the originals as dpkg unpacks them
    deb = DebFile(str(built / DEB))
    control = deb.debcontrol()
    assert control["Built-Using"] == "ipxe (= 1.0.0+git-20190125.36a4c85-5.1)"
    assert (control["Architecture"], control["Multi-Arch"]) == ("all", "foreign")
    roms = {str(name): deb.data.get_content(str(name)) for name in deb.data
            if name.endswith(".rom")}
    deb.close()
    expected = {f"./usr/share/qemu/256k-{n}" for n in by_name if n.startswith("efi-")}
    assert set(roms) == expected and len(roms) == 8
    for name, data in roms.items():
        original = by_name[name.rsplit("/", 1)[-1].removeprefix("256k-")]
        assert len(data) == 262144
        assert data[: len(original)] == original
        assert set(data[len(original):]) == {0xFF}


def test_corrupted_rom_fails_the_build(bookworm_deb: Path, tmp_path: Path) -> None:
    require_tool("dpkg-buildpackage", "dh", "fakeroot")
    out = tmp_path / "out"
    generate(bookworm_deb, out, "--distribution", "bookworm")
    rom = out / TREE / "usr/lib/ipxe/qemu/efi-virtio.rom"  # the pristine ROM the build pads
    data = bytearray(rom.read_bytes())
    data[1000] ^= 0x01
    rom.write_bytes(bytes(data))
    result = sh("dpkg-buildpackage", "-us", "-uc", "-b", cwd=out / TREE, check=False)
    assert result.returncode != 0
    assert "verify-roms: 256k-efi-virtio.rom: sha256" in result.stderr + result.stdout
    assert not list(out.glob("*.deb"))


def test_rules_never_cut_a_rom_larger_than_the_size(bookworm_deb: Path, tmp_path: Path) -> None:
    """A pristine ROM swapped for a bigger one fails debian/rules before verify-roms runs: the
    padding step refuses it; nothing cuts it to size."""
    require_tool("dh")
    out = tmp_path / "out"
    generate(bookworm_deb, out, "--distribution", "bookworm")
    rom = out / TREE / "usr/lib/ipxe/qemu/efi-virtio.rom"
    rom.write_bytes(rom.read_bytes() + b"\0" * (300544 - rom.stat().st_size))
    result = sh("debian/rules", "build", cwd=out / TREE, check=False)
    assert result.returncode != 0
    assert "verify-roms" not in result.stdout + result.stderr  # it stopped at the padding step
    assert (out / TREE / "compat-roms/256k-efi-virtio.rom").stat().st_size == 300544


@pytest.mark.parametrize("origin", ["bookworm_deb", "trixie_deb", "sid_deb"])
def test_coinstallable_with_ipxe_qemu(built: Path, tmp_path: Path, origin: str,
                                      request: pytest.FixtureRequest) -> None:
    require_tool("dpkg")
    ipxe_qemu: Path = request.getfixturevalue(origin)
    root = dpkg_root(tmp_path)
    sh("dpkg", f"--root={root}", "--install", ipxe_qemu, built / DEB, cwd=tmp_path)
    status = sh("dpkg-query", f"--admindir={root}/var/lib/dpkg", "-W", "-f",
                "${Package} ${db:Status-Abbrev}\n", cwd=tmp_path).stdout
    assert "ipxe-qemu ii" in status and "ipxe-qemu-256k-compat-efi-roms ii" in status
    assert (root / "usr/share/qemu/256k-efi-virtio.rom").stat().st_size == 262144
    assert any(
        (root / d / "efi-virtio.rom").exists() for d in ("usr/lib/ipxe/qemu", "usr/share/qemu")
    )


def _repack_zstd(deb: Path, target: Path) -> None:
    """The same package with its data member recompressed with zstd, as Ubuntu ships."""
    members = []
    with open(deb, "rb") as handle:
        ar = ArFile(fileobj=handle)
        for name in ar.getnames():
            data = ar.getmember(name).read()
            if name == "data.tar.xz":
                members.append(("data.tar.zst", factory.compress(lzma.decompress(data), "zst")))
            else:
                members.append((name, data))
    target.write_bytes(factory.ar_archive(members))


def _digests(top: Path) -> dict[str, str]:
    return {str(p.relative_to(top)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(top.rglob("*")) if p.is_file()}


def test_zstd_repacked_package_generates_the_same_output(
    bookworm_deb: Path, tmp_path: Path
) -> None:
    require_tool("zstd")
    zst = tmp_path / bookworm_deb.name
    _repack_zstd(bookworm_deb, zst)
    with open(zst, "rb") as handle:
        assert "data.tar.zst" in ArFile(fileobj=handle).getnames()
    generate(bookworm_deb, tmp_path / "from-xz")
    generate(zst, tmp_path / "from-zst")
    xz, zstd = _digests(tmp_path / "from-xz"), _digests(tmp_path / "from-zst")
    recipe = f"{TREE}/debian/ipxe-compat.recipe"
    readme = f"{TREE}/debian/README.source"
    assert {k: v for k, v in xz.items() if k not in (recipe, readme)} == {
        k: v for k, v in zstd.items() if k not in (recipe, readme)}
    # README.source names the input .deb by its sha256, and only that differs
    assert [
        (a, b)
        for a, b in zip(
            (tmp_path / "from-xz" / readme).read_text().splitlines(),
            (tmp_path / "from-zst" / readme).read_text().splitlines(),
            strict=True,
        )
        if a != b
    ] == [
        (
            f"    sha256:     {hashlib.sha256(bookworm_deb.read_bytes()).hexdigest()}",
            f"    sha256:     {hashlib.sha256(zst.read_bytes()).hexdigest()}",
        )
    ]
    # the recipe records each input's own sha256, and only that differs
    lines = [(a, b) for a, b in zip((tmp_path / "from-xz" / recipe).read_text().splitlines(),
                                    (tmp_path / "from-zst" / recipe).read_text().splitlines(),
                                    strict=True)
             if a != b]
    assert lines == [(f"SHA256: {hashlib.sha256(bookworm_deb.read_bytes()).hexdigest()}",
                      f"SHA256: {hashlib.sha256(zst.read_bytes()).hexdigest()}")]


def test_wheel_install_generates_from_an_unrelated_directory(
    bookworm_deb: Path, tmp_path: Path
) -> None:
    """Every subpackage, templates/ and debian-skel/ ship in the wheel: a pip-installed copy
    works anywhere, for every command."""
    # build from a copy: no build/ left in the checkout, and bytecode caches planted where a
    # test run (one that writes bytecode) leaves them, which must not reach the wheel
    source = tmp_path / "source"
    shutil.copytree(REPO, source, ignore=shutil.ignore_patterns(
        ".git", ".venv", "build", "*.egg-info", "__pycache__", ".*_cache", "demo"))
    for data in ("templates", "debian-skel", "ipxe_compat"):
        (source / data / "__pycache__").mkdir()
        (source / data / "__pycache__" / "__init__.cpython-311.pyc").write_bytes(b"")
    wheels = tmp_path / "wheels"
    built = sh(sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", wheels, source,
               cwd=tmp_path)
    # a quiet build: no setuptools warning (e.g. a data directory "would be ignored"); pip's
    # own notes about this machine's extra package indexes are not the project's
    warnings = [line for line in (built.stdout + built.stderr).splitlines()
                if "warning" in line.lower() and "Location '" not in line]
    assert warnings == []
    (wheel,) = wheels.glob("ipxe_compat-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        shipped = set(archive.namelist())
    assert [name for name in shipped if "__pycache__" in name or name.endswith(".pyc")] == []
    for top, package in (("templates", "templates"), ("debian-skel", "debian_skel"),
                         ("ipxe_compat", "")):
        for path in (REPO / top).rglob("*"):
            if path.is_file() and "__pycache__" not in path.parts:
                assert str(Path("ipxe_compat", package, path.relative_to(REPO / top))) in shipped
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    sh(env_dir / "bin/pip", "install", "-q", wheel, cwd=tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    bookworm = ("--distribution", "bookworm")  # its tree is built below, on this bookworm host
    generate(bookworm_deb, elsewhere / "out", *bookworm,
             ipxe_compat=[str(env_dir / "bin/ipxe-compat")])
    generate(bookworm_deb, tmp_path / "checkout-out", *bookworm)
    assert _digests(elsewhere / "out") == _digests(tmp_path / "checkout-out")
    assert shutil.which("ipxe-compat", path=str(env_dir / "bin"))
    installed = str(env_dir / "bin/ipxe-compat")
    (tree,) = (elsewhere / "out").glob("ipxe-qemu-256k-compat-*")
    sh("debian/rules", "build", cwd=tree)  # makes the compat ROMs from the pristine ones
    tree = tree / "compat-roms"
    inspected = sh(installed, "inspect", bookworm_deb, "--roms", "efi-virtio.rom", cwd=elsewhere)
    assert "efi-virtio.rom: 249344 bytes" in inspected.stdout
    checked = sh(installed, "check", bookworm_deb, tree, "--roms", "efi-*", "--json", cwd=elsewhere)
    assert {row["verdict"] for row in json.loads(checked.stdout)["roms"]} == {"ok"}
    config = sh(installed, "qemu-config", tree, cwd=elsewhere)
    assert "-global virtio-net-pci-base.romfile=256k-efi-virtio.rom\n" in config.stdout


def test_check_old_package_against_the_built_compat_package(
    built: Path, bookworm_deb: Path
) -> None:
    """Every carried ROM keeps its bucket: check pairs 256k-efi-x.rom with efi-x.rom."""
    result = sh(sys.executable, "-m", "ipxe_compat", "check", bookworm_deb, built / DEB, "--json",
                cwd=built)
    rows = json.loads(result.stdout)["roms"]
    assert {r["name"] for r in rows if r["verdict"] == "ok"} == {
        f"efi-{n}.rom" for n in ("e1000", "e1000e", "eepro100", "ne2k_pci", "pcnet", "rtl8139",
                                 "virtio", "vmxnet3")}
    assert {r["verdict"] for r in rows if r["name"].startswith("pxe-")} == {"only-old"}
    # the tree dpkg-buildpackage built stands for the files its build made, as the .deb holds
    # them, never for the originals under its usr/ (review-1 #1: 16 of 16 "ok" with themselves)
    tree = sh(sys.executable, "-m", "ipxe_compat", "check", bookworm_deb, built / TREE, "--json",
              cwd=built)
    assert json.loads(tree.stdout)["roms"] == rows


def test_autopkgtest_of_the_built_package_passes(built: Path) -> None:
    """The package's own test, run as Debian's CI would: autopkgtest ... -- null (as root)."""
    require_tool("autopkgtest", "qemu-system-x86_64")
    require_root("autopkgtest -- null installs the package on this machine")
    try:
        result = sh("autopkgtest", built / DEB, built / TREE, "--", "null", cwd=built, check=False)
    finally:
        subprocess.run(["dpkg", "--purge", "ipxe-qemu-256k-compat-efi-roms"], capture_output=True,
                       check=False)
    assert result.returncode == 0, explain(result)
    assert (
        "ok: virtio-net-pci: migrated from a 249344-byte ROM to 256k-efi-virtio.rom"
        in result.stdout
    )
    assert "command1             PASS" in result.stdout


@pytest.mark.slow
def test_piuparts_installs_and_purges_the_built_package(built: Path) -> None:
    """Debian's piuparts in a minimal bookworm root (cached, tests/roots.py): install, remove,
    purge, and no file left behind or touched outside the package. No --ignore is needed. The
    upgrade test is skipped by piuparts itself: the archive has no earlier version to upgrade
    from."""
    require_tool("piuparts", "mmdebstrap")
    base = ensure_root(RootSpec("bookworm", variant="minbase"))
    # --existing-chroot copies the cached root; --keep-sources-list keeps its mirror line,
    # --no-check-valid-until because that mirror is a frozen snapshot
    result = sh("piuparts", f"--existing-chroot={base.path}", "--distribution=bookworm",
                "--keep-sources-list", "--no-check-valid-until", built / DEB, cwd=built,
                check=False)
    assert result.returncode == 0, explain(result)
    assert "PASS: All tests." in result.stdout + result.stderr
