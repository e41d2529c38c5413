"""The 2 MiB OVMF compat package, end to end, on Debian's real packages (docs/firmware.md).

bookworm's ovmf (2022.11-6+deb12u2) ships ``OVMF.fd`` at 2 MiB and the 2 MiB pflash builds;
trixie's (2025.02-8+deb13u1) ships ``OVMF.fd`` at 4 MiB and no 2 MiB pflash build at all.
``ipxe-compat generate ovmf_2022...deb --size 2m`` makes ``ovmf-2m-compat``: the images carried
unchanged under ``2m-`` names in their own directories. Here it is built (dpkg-buildpackage and
sbuild, the same bytes), judged by bookworm's lintian, installed beside trixie's and sid's ovmf,
and proven to receive a bookworm ``-bios OVMF.fd`` guest where trixie's own OVMF.fd fails: on
QEMU 7.2 at both ends and from bookworm's 7.2 to trixie's 10.0 with the package installed in a
trixie root beside trixie's ovmf.
"""

from __future__ import annotations

import hashlib
import json
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests import archive
from tests.conftest import _cannot, require_tool
from tests.dpkg import dpkg_root
from tests.qemu_run import Qemu, migrate_paused, version
from tests.roots import Root, RootSpec, ensure_root
from tests.tools import explain, run

pytestmark = [pytest.mark.integration, pytest.mark.slow]

EPOCH = "1700000000"
ENV = {"DEBFULLNAME": "Test Maintainer", "DEBEMAIL": "test@example.org", "SOURCE_DATE_EPOCH": EPOCH}
PACKAGE = "ovmf-2m-compat"
VERSION = "2022.11-1+deb12u1"  # for bookworm: docs/generated-package.md, "Versions"
TREE = f"{PACKAGE}-2022.11"
DEB = f"{PACKAGE}_{VERSION}_all.deb"
DSC = f"{PACKAGE}_{VERSION}.dsc"
#: What the package installs: each a byte-identical copy of bookworm's file of the original name.
INSTALLED = {
    "usr/share/ovmf/2m-OVMF.fd": ("usr/share/ovmf/OVMF.fd", 2097152),
    "usr/share/OVMF/2m-OVMF_CODE.fd": ("usr/share/OVMF/OVMF_CODE.fd", 1966080),
    "usr/share/OVMF/2m-OVMF_CODE.ms.fd": ("usr/share/OVMF/OVMF_CODE.ms.fd", 1966080),
    "usr/share/OVMF/2m-OVMF_CODE.secboot.fd": ("usr/share/OVMF/OVMF_CODE.secboot.fd", 1966080),
    "usr/share/OVMF/2m-OVMF_VARS.fd": ("usr/share/OVMF/OVMF_VARS.fd", 131072),
    "usr/share/OVMF/2m-OVMF_VARS.ms.fd": ("usr/share/OVMF/OVMF_VARS.ms.fd", 131072),
}
QEMU = ["qemu-system-x86_64"]
MACHINES = ("pc-i440fx-7.2", "pc-q35-7.2")


def _fetch(package: str, suite: str) -> list[Path]:
    require_tool("apt-get")
    try:
        return archive.fetch_firmware(package, suite)
    except (RuntimeError, OSError) as error:
        _cannot(str(error))


@pytest.fixture(scope="module")
def bookworm_ovmf() -> Path:
    (deb,) = _fetch("ovmf", "bookworm")
    return deb


@pytest.fixture(scope="module")
def trixie_ovmf() -> Path:
    (deb,) = _fetch("ovmf", "trixie")
    return deb


def ipxe_compat(*args: str | Path, cwd: Path, env: dict[str, str] | None = None,
                check: bool = True) -> subprocess.CompletedProcess[str]:
    return run([sys.executable, "-m", "ipxe_compat", *map(str, args)], cwd=cwd,
               env={**ENV, **(env or {})}, check=check)


def generate(origin: Path, out: Path, cwd: Path, *extra: str,
             env: dict[str, str] | None = None) -> None:
    ipxe_compat("generate", origin, "--size", "2m", "-o", out, "--distribution", "bookworm",
                "--build-source", *extra, cwd=cwd, env=env)


@pytest.fixture(scope="module")
def built(bookworm_ovmf: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """generate --build-source, then dpkg-buildpackage: the directory holding it all."""
    require_tool("dpkg-buildpackage", "dh", "fakeroot")
    out = tmp_path_factory.mktemp("ovmf-compat")
    generate(bookworm_ovmf, out / "pkg", out)
    run(["dpkg-buildpackage", "-us", "-uc", "-b"], cwd=out / "pkg" / TREE, env=ENV)
    return out / "pkg"


def _unpack(deb: Path, into: Path) -> Path:
    run(["dpkg-deb", "-x", deb, into])
    return into


def test_the_package_holds_bookworms_2m_images_unchanged(built: Path, bookworm_ovmf: Path,
                                                          tmp_path: Path) -> None:
    package = _unpack(built / DEB, tmp_path / "package")
    origin = _unpack(bookworm_ovmf, tmp_path / "origin")
    firmware = sorted(str(p.relative_to(package)) for p in package.rglob("*.fd"))
    assert firmware == sorted(INSTALLED)
    for path, (original, size) in INSTALLED.items():
        data = (package / path).read_bytes()
        assert len(data) == size and data == (origin / original).read_bytes(), path
    control = run(["dpkg-deb", "-f", built / DEB], cwd=tmp_path).stdout
    assert "Package: ovmf-2m-compat\n" in control
    assert "Built-Using: edk2 (= 2022.11-6+deb12u2)\n" in control
    assert "Depends: ovmf" not in control and "Conflicts" not in control


def test_lintian_of_the_target_is_clean(built: Path, tmp_path: Path) -> None:
    require_tool("lintian")
    result = run(["lintian", "--pedantic", "-I", "-E", "--fail-on", "error,warning",
                  built / DSC, built / DEB], cwd=tmp_path, check=False)
    assert result.returncode == 0, explain(result)
    assert not [line for line in result.stdout.splitlines() if line.startswith(("E:", "W:"))]


def test_generate_is_reproducible(bookworm_ovmf: Path, built: Path, tmp_path: Path) -> None:
    """Another time zone, umask and directory give the very same files."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    run([sys.executable, "-m", "ipxe_compat", "generate", bookworm_ovmf, "--size", "2m", "-o",
         tmp_path / "again", "--distribution", "bookworm", "--build-source"],
        cwd=elsewhere, env={**ENV, "TZ": "Pacific/Kiritimati", "LC_ALL": "C.UTF-8"}, umask=0o077)
    assert len(_digests(built)) == 4
    assert _digests(tmp_path / "again") == _digests(built)


def _digests(top: Path) -> dict[str, str]:
    """generate's source outputs (dpkg-buildpackage's are not generate's)."""
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(top.iterdir())
            if p.name.endswith((".dsc", ".orig.tar.xz", ".debian.tar.xz", "_source.changes"))}


def test_sbuild_builds_the_same_deb(built: Path, sbuild_chroot: Path, tmp_path: Path) -> None:
    require_tool("sbuild")
    for path in built.glob(f"{PACKAGE}_*"):
        if path.suffix in (".dsc", ".xz"):
            shutil.copy(path, tmp_path)
    result = run(["sbuild", "--chroot-mode=unshare", f"--chroot={sbuild_chroot}", "-d",
                  "bookworm", "--no-run-lintian", "--no-run-piuparts", "--no-run-autopkgtest",
                  f"--build-dir={tmp_path}", DSC], cwd=tmp_path, check=False)
    assert result.returncode == 0, explain(result, tail=4000)
    assert (tmp_path / DEB).read_bytes() == (built / DEB).read_bytes()


@pytest.mark.parametrize("suite", ["bookworm", "trixie", "sid"])
def test_coinstallable_with_ovmf(suite: str, built: Path, tmp_path: Path) -> None:
    """Beside each suite's ovmf (sid: the metapackage and the packages it depends on): no file
    shared, no Conflicts needed, each keeps its own OVMF.fd."""
    require_tool("dpkg", "dpkg-query")
    debs = _fetch("ovmf", suite)
    if suite == "sid":
        debs.append(archive.fetch("2026.08+ds-2", "ovmf"))  # the metapackage itself
    root = dpkg_root(tmp_path)
    run(["dpkg", f"--root={root}", "--force-script-chrootless", "--install", *debs,
         built / DEB], cwd=tmp_path)
    status = run(["dpkg-query", f"--admindir={root}/var/lib/dpkg", "-W", "-f",
                  "${Package} ${db:Status-Abbrev}\n"], cwd=tmp_path).stdout
    assert f"{PACKAGE} ii" in status and "ovmf ii" in status
    assert (root / "usr/share/ovmf/2m-OVMF.fd").stat().st_size == 2097152
    assert (root / "usr/share/ovmf/OVMF.fd").stat().st_size == (
        2097152 if suite == "bookworm" else 4194304)


def check_json(*sources: str | Path, cwd: Path) -> dict[str, Any]:
    result = ipxe_compat("check", "--json", *sources, cwd=cwd, check=False)
    assert result.returncode in (0, 1), result.stderr
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def test_check_pairs_the_compat_package_with_its_origin(bookworm_ovmf: Path, trixie_ovmf: Path,
                                                        built: Path, tmp_path: Path) -> None:
    upgrade = check_json(bookworm_ovmf, trixie_ovmf, cwd=tmp_path)
    rows = {row["name"]: row for row in upgrade["roms"]}
    assert rows["OVMF.fd"]["verdict"] == "breaks-migration"
    assert rows["OVMF.fd"]["block"] == "pc.bios"
    assert {n for n, r in rows.items() if r["verdict"] == "removed"} == {
        "OVMF_CODE.fd", "OVMF_CODE.ms.fd", "OVMF_CODE.secboot.fd", "OVMF_VARS.fd",
        "OVMF_VARS.ms.fd"}
    compat = check_json(bookworm_ovmf, built / DEB, cwd=tmp_path)
    verdicts = {row["name"]: row["verdict"] for row in compat["roms"]}
    assert {n for n, v in verdicts.items() if v == "ok"} == {
        original.rsplit("/", 1)[1] for original, _ in INSTALLED.values()}
    assert set(verdicts.values()) == {"ok", "only-old"}  # the 4 MiB builds are not carried


def verify(*args: str | Path, cwd: Path) -> dict[str, Any]:
    result = ipxe_compat("verify-migration", "--json", *args, cwd=cwd,
                         env={"TMPDIR": str(cwd)}, check=False)
    assert result.returncode in (0, 1), result.stderr
    data: dict[str, Any] = json.loads(result.stdout)
    return data


@pytest.mark.parametrize("machine", MACHINES)
def test_verify_migration_on_qemu_7_2(machine: str, bookworm_ovmf: Path, trixie_ovmf: Path,
                                      built: Path, tmp_path: Path) -> None:
    require_tool("qemu-system-x86_64")
    upgrade = verify(bookworm_ovmf, trixie_ovmf, "--machine", machine, cwd=tmp_path)
    bios = {r["device"]: r for r in upgrade["migrations"]}["-bios"]
    assert bios["status"] == "failed"
    assert bios["size_mismatch"] == {"block": "pc.bios", "source_size": 2097152,
                                     "destination_size": 4194304}
    # the 2 MiB pflash builds trixie removed: cases that cannot run, failures, as check's
    # "removed" (review-1 #6: they were left out, and --device pflash0 exited 0)
    missing = {r["from_rom"] for r in upgrade["migrations"] if r["status"] == "missing"}
    assert missing == {"OVMF_CODE.fd", "OVMF_CODE.ms.fd", "OVMF_CODE.secboot.fd", "OVMF_VARS.fd",
                       "OVMF_VARS.ms.fd"}
    assert upgrade["summary"]["missing"] == 5
    only_code = ipxe_compat("verify-migration", bookworm_ovmf, trixie_ovmf, "--device", "pflash0",
                            "--machine", machine, cwd=tmp_path, env={"TMPDIR": str(tmp_path)},
                            check=False)
    assert only_code.returncode == 1, only_code.stdout
    assert "(3 cannot run: TO lacks the file)" in only_code.stdout
    assert "not tested: OVMF_VARS.fd, OVMF_VARS.ms.fd: not chosen by --device (TO lacks it)" \
        in only_code.stdout
    compat = verify(bookworm_ovmf, built / DEB, "--machine", machine, cwd=tmp_path)
    cases = {(r["device"], r["to_rom"]): r["status"] for r in compat["migrations"]}
    assert cases == {("-bios", "2m-OVMF.fd"): "completed",
                     ("pflash0", "2m-OVMF_CODE.fd"): "completed",
                     ("pflash0", "2m-OVMF_CODE.ms.fd"): "completed",
                     ("pflash0", "2m-OVMF_CODE.secboot.fd"): "completed",
                     ("pflash1", "2m-OVMF_VARS.fd"): "completed",
                     ("pflash1", "2m-OVMF_VARS.ms.fd"): "completed"}


@pytest.fixture(scope="module")
def trixie(built: Path) -> Root:
    """trixie with QEMU 10.0, its own ovmf and the compat package installed beside it."""
    require_tool("mmdebstrap", "unshare", "qemu-system-x86_64")
    try:
        return ensure_root(RootSpec("trixie", ("qemu-system-x86", "ovmf"), (built / DEB,)))
    except RuntimeError as error:
        _cannot(str(error))


@pytest.mark.parametrize("machine", MACHINES)
def test_bookworm_guest_into_trixie_with_the_package_installed(
        machine: str, bookworm_ovmf: Path, built: Path, trixie: Root, tmp_path: Path) -> None:
    """A guest started on bookworm's QEMU 7.2 with bookworm's -bios OVMF.fd, received by
    trixie's QEMU 10.0 booting the installed /usr/share/ovmf/2m-OVMF.fd: completed; booting
    trixie's own /usr/share/ovmf/OVMF.fd: the Size mismatch on pc.bios."""
    origin = _unpack(bookworm_ovmf, tmp_path / "bookworm")
    target = trixie.command(QEMU, [tmp_path])
    with Qemu(target, tmp_path, "version", []) as running:
        assert version(running).startswith("10.0.")
    source = ["-machine", machine, "-bios", str(origin / "usr/share/ovmf/OVMF.fd")]
    into_compat = migrate_paused(QEMU, target, tmp_path, source,
                                 ["-machine", machine, "-bios", "/usr/share/ovmf/2m-OVMF.fd"])
    assert into_compat.status == "completed", into_compat
    into_trixie = migrate_paused(QEMU, target, tmp_path, source,
                                 ["-machine", machine, "-bios", "/usr/share/ovmf/OVMF.fd"])
    assert into_trixie.status == "failed"
    assert (into_trixie.error or "").startswith("Size mismatch: pc.bios: 0x200000 != 0x400000")
    # the pflash code guests too: bookworm's OVMF_CODE.fd into the installed 2m- copy
    code = str(origin / "usr/share/OVMF/OVMF_CODE.fd")
    flash = "if=pflash,format=raw,unit=0,readonly=on,file={}"
    outcome = migrate_paused(QEMU, target, tmp_path,
                             ["-machine", machine, "-drive", flash.format(code)],
                             ["-machine", machine, "-drive",
                              flash.format("/usr/share/OVMF/2m-OVMF_CODE.fd")])
    assert outcome.status == "completed", outcome


def test_verify_migration_from_7_2_to_10_0(bookworm_ovmf: Path, trixie_ovmf: Path, built: Path,
                                           trixie: Root, tmp_path: Path) -> None:
    to_qemu = shlex.join(trixie.command(QEMU, [tmp_path]))
    upgrade = verify(bookworm_ovmf, trixie_ovmf, "--to-qemu", to_qemu, "--machine",
                     "pc-q35-7.2", cwd=tmp_path)
    assert upgrade["destination_qemu"]["version"].startswith("10.0.")
    bios = {r["device"]: r for r in upgrade["migrations"]}["-bios"]
    assert bios["size_mismatch"]["block"] == "pc.bios"
    compat = verify(bookworm_ovmf, built / DEB, "--to-qemu", to_qemu, "--machine",
                    "pc-q35-7.2", cwd=tmp_path)
    assert compat["summary"] == {"completed": 6, "failed": 0, "missing": 0, "not_tested": 0}


def test_unstable_package_is_clean_under_sids_lintian(bookworm_ovmf: Path,
                                                      tmp_path: Path) -> None:
    """The default target (unstable): built and judged in the cached sid root, as for iPXE."""
    from tests.test_targets import BUILD_AND_LINT, problems  # the iPXE package's very bar

    require_tool("mmdebstrap", "unshare")
    root = ensure_root(RootSpec("sid", ("lintian", "debhelper"), variant="buildd"))
    out = tmp_path / "out"
    ipxe_compat("generate", bookworm_ovmf, "--size", "2m", "-o", out, "--build-source",
                cwd=tmp_path, env={"SOURCE_DATE_EPOCH": "1790000000"})
    result = root.run(["/bin/sh", "-c", BUILD_AND_LINT, "lint", str(out)], shares=[tmp_path],
                      check=False)
    assert result.returncode == 0 and problems(result.stdout) == [], explain(result)


def test_texts_pass_spellintian(bookworm_ovmf: Path, built: Path) -> None:
    require_tool("spellintian")
    debian = built / TREE / "debian"
    spelling = run(["spellintian", debian / "control", debian / "README.Debian",
                    debian / "README.source"], cwd=built)
    assert spelling.stdout == ""
