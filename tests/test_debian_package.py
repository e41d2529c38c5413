"""ipxe-compat as a Debian package, judged with Debian's own tools.

The package is built once per session (conftest.tool_build: dpkg-buildpackage in a copy of the
repository, with bookworm's python3, setuptools 66 and libraries). Then: what it holds and
depends on, bookworm's and sid's lintian, the man pages, nocheck, the version check, sbuild in a
clean bookworm chroot, a build with trixie's packages, reprotest, its autopkgtest in a fresh
bookworm testbed, and a quiet `pip install .` with the newest setuptools. Under CI=true a missing
tool fails.
"""

from __future__ import annotations

import gzip
import re
import shutil
import time
import venv
from pathlib import Path

import click
import pytest
from debian.deb822 import Deb822, PkgRelation
from debian.debfile import DebFile

from ipxe_compat import __version__
from ipxe_compat.cli import cli
from ipxe_compat.core.tools import substvars
from tests import archive, toolpkg
from tests.conftest import require_tool
from tests.roots import RootSpec, ensure_root, ensure_tarball
from tests.tools import explain, run

pytestmark = pytest.mark.integration

LINTIAN = ("lintian", "--pedantic", "-I", "-E", "--fail-on", "error,warning")
PAGES = ["ipxe-compat", *(f"ipxe-compat-{name}" for name, command in cli.commands.items()
                          if not command.hidden)]


def copy_source(build: toolpkg.Build, target: Path) -> Path:
    """The .dsc and its tarball in ``target``; the .dsc's path."""
    for name in (toolpkg.DSC, toolpkg.TARBALL):
        shutil.copy(build.parent / name, target)
    return target / toolpkg.DSC


@pytest.mark.slow
def test_package_holds_the_tool_its_pages_and_relations(tool_build: toolpkg.Build) -> None:
    assert toolpkg.passed_tests(tool_build.log) > 100, tool_build.log[-3000:]  # the unit tests ran
    deb = DebFile(str(tool_build.parent / toolpkg.DEB))
    control = deb.debcontrol()
    names = {str(name).removeprefix("./") for name in deb.data}
    metadata = deb.data.get_content(
        f"./usr/lib/python3/dist-packages/ipxe_compat-{__version__}.dist-info/METADATA")
    deb.close()
    assert (control["Package"], control["Version"], control["Architecture"]) == (
        "ipxe-compat", __version__, "all")
    depends = {rel[0]["name"] for rel in PkgRelation.parse_relations(control["Depends"])}
    assert {"python3-click", "python3-debian", "python3-jinja2"} <= depends
    assert f"ipxe-compat:Recommends={control['Recommends']}\n" == substvars()
    expected = {"usr/bin/ipxe-compat", "usr/share/bash-completion/completions/ipxe-compat",
                "usr/share/doc/ipxe-compat/README.md.gz",
                "usr/share/doc/ipxe-compat/docs/cli.md.gz",
                "usr/lib/python3/dist-packages/ipxe_compat/cli/__init__.py",
                "usr/lib/python3/dist-packages/ipxe_compat/templates/debian/control.j2",
                "usr/lib/python3/dist-packages/ipxe_compat/debian_skel/debian/verify-roms",
                *(f"usr/share/man/man1/{page}.1.gz" for page in PAGES)}
    assert expected <= names
    assert {name for name in names if "/man1/" in name and name.endswith(".gz")} == {
        f"usr/share/man/man1/{page}.1.gz" for page in PAGES}
    assert not [name for name in names if name.startswith("usr/lib/python3/dist-packages/tests")]
    # bookworm's setuptools 66 gets the license through setup.py in the form it knows
    assert b"\nLicense: GPL-2.0-or-later\n" in metadata


@pytest.mark.slow
def test_man_pages_render_cleanly_and_carry_every_option(tool_build: toolpkg.Build,
                                                        tmp_path: Path) -> None:
    require_tool("man", "dpkg-deb")
    run(["dpkg-deb", "-x", tool_build.parent / toolpkg.DEB, tmp_path], cwd=tmp_path)
    commands = {"ipxe-compat": cli, **{f"ipxe-compat-{name}": command
                                       for name, command in cli.commands.items()}}
    for page in PAGES:
        path = tmp_path / f"usr/share/man/man1/{page}.1.gz"
        result = run(["man", "--warnings", "-l", path], cwd=tmp_path,
                     env={**toolpkg.ENV, "LC_ALL": "C.UTF-8", "MANWIDTH": "80"}, check=False)
        assert result.returncode == 0 and result.stderr == "", explain(result)
        assert re.search(rf"^NAME\n\s+{page}\s+-\s+\w", result.stdout, re.MULTILINE), result.stdout
        source = gzip.decompress(path.read_bytes()).decode()
        flags = [flag for param in commands[page].params if isinstance(param, click.Option)
                 for flag in (*param.opts, *param.secondary_opts)]
        assert flags
        for flag in flags:
            assert flag.replace("-", "\\-") in source, (page, flag)


@pytest.mark.slow
def test_lintian_bookworm_clean(tool_build: toolpkg.Build) -> None:
    require_tool("lintian")
    result = run([*LINTIAN, f"ipxe-compat_{__version__}_amd64.changes"], cwd=tool_build.parent,
                 check=False)
    print(
        "\nbookworm lintian "
        f"({run(['lintian', '--version'], cwd=tool_build.parent).stdout.strip()}):"
        f"\n{result.stdout}"
    )
    tags = [line for line in result.stdout.splitlines() if line[:2] in ("E:", "W:")]
    assert tags == [] and result.returncode == 0, explain(result)


@pytest.mark.slow
def test_lintian_sid_clean(tool_build: toolpkg.Build) -> None:
    """unstable's lintian, in a cached sid root, on the same files."""
    require_tool("mmdebstrap", "unshare")
    root = ensure_root(RootSpec("sid", ("lintian",)))
    changes = tool_build.parent / f"ipxe-compat_{__version__}_amd64.changes"
    result = root.run([*LINTIAN, str(changes)], shares=[tool_build.parent], check=False)
    version = root.run(["lintian", "--version"], check=False).stdout.strip()
    print(f"\nsid lintian ({version}):\n{result.stdout}")
    tags = [line for line in result.stdout.splitlines() if line[:2] in ("E:", "W:")]
    assert tags == [] and result.returncode == 0, explain(result)


@pytest.mark.slow
def test_nocheck_builds_in_sbuild_without_the_test_dependencies(tool_build: toolpkg.Build,
                                                               sbuild_chroot: Path,
                                                               tmp_path: Path) -> None:
    """DEB_BUILD_OPTIONS=nocheck and the nocheck profile: no test runs, the <!nocheck>
    Build-Depends are not installed (so nothing else needs them), and not one byte changes."""
    dsc = copy_source(tool_build, tmp_path)
    result = run(["sbuild", "--chroot-mode=unshare", f"--chroot={sbuild_chroot}", "-d", "bookworm",
                  "--profiles=nocheck", "--no-run-lintian", "--no-run-piuparts",
                  "--no-run-autopkgtest", f"--build-dir={tmp_path}", dsc.name], cwd=tmp_path,
                 env={**toolpkg.ENV, "DEB_BUILD_OPTIONS": "nocheck"}, check=False)
    (log_file,) = tmp_path.glob(f"ipxe-compat_{__version__}_amd64-*.build")
    log = log_file.read_text()
    assert result.returncode == 0, explain(result) + log[-5000:]
    installed = re.search(r"^Package versions: (.*)$", log, re.MULTILINE)
    assert installed is not None
    for package in ("python3-pytest", "python3-hypothesis", "python3-debian", "python3-jinja2",
                    "zstd"):
        assert f" {package}_" not in f" {installed.group(1)}", package
    assert "-m pytest" not in log and toolpkg.passed_tests(log) == 0
    assert (tmp_path / toolpkg.DEB).read_bytes() == (tool_build.parent / toolpkg.DEB).read_bytes()


def test_changelog_version_must_be_the_python_version(tmp_path: Path) -> None:
    require_tool("dpkg-buildpackage")
    tree = toolpkg.copy_tree(tmp_path)
    changelog = tree / "debian/changelog"
    text = changelog.read_text()
    changelog.write_text(text.replace(f"ipxe-compat ({__version__})", "ipxe-compat (99.0)", 1))
    built = toolpkg.build(tree, "-b")
    assert built.result.returncode != 0
    assert f"debian/changelog says 99.0 but ipxe_compat.__version__ is {__version__}" in built.log
    assert not list(tmp_path.glob("*.deb"))


@pytest.mark.slow
def test_sbuild_in_a_clean_bookworm_chroot(tool_build: toolpkg.Build, sbuild_chroot: Path,
                                           tmp_path: Path) -> None:
    """Only bookworm's packages and the declared Build-Depends; the unit tests run inside."""
    dsc = copy_source(tool_build, tmp_path)
    start = time.monotonic()
    result = run(["sbuild", "--chroot-mode=unshare", f"--chroot={sbuild_chroot}", "-d", "bookworm",
                  "--no-run-lintian", "--no-run-piuparts", "--no-run-autopkgtest",
                  f"--build-dir={tmp_path}", dsc.name], cwd=tmp_path, env=toolpkg.ENV, check=False)
    print(f"\nsbuild of ipxe-compat (bookworm, unshare): {time.monotonic() - start:.1f} s")
    (log,) = tmp_path.glob(f"ipxe-compat_{__version__}_amd64-*.build")
    assert result.returncode == 0, explain(result) + log.read_text()[-5000:]
    assert toolpkg.passed_tests(log.read_text()) > 100
    assert (tmp_path / toolpkg.DEB).read_bytes() == (tool_build.parent / toolpkg.DEB).read_bytes()


def _build_depends() -> tuple[str, ...]:
    """Every Build-Depends of debian/control (nocheck ones included), and build-essential."""
    with open(toolpkg.REPO / "debian/control") as handle:
        source = Deb822(handle)
    relations = PkgRelation.parse_relations(source["Build-Depends"])
    return ("build-essential", *sorted(rel[0]["name"] for rel in relations))


@pytest.mark.slow
def test_builds_with_trixie_packages(tool_build: toolpkg.Build, tmp_path: Path) -> None:
    """trixie's python3 3.13, setuptools 78, pytest 8, dh-python 6: builds, tests pass."""
    require_tool("mmdebstrap", "unshare", "dpkg-source")
    root = ensure_root(RootSpec("trixie", _build_depends()))
    run(["dpkg-source", "-x", copy_source(tool_build, tmp_path), "src"], cwd=tmp_path)
    start = time.monotonic()
    result = root.run(["sh", "-c", f"cd {tmp_path / 'src'} && dpkg-buildpackage -us -uc -b"],
                      shares=[tmp_path], check=False, timeout=1800)
    print(f"\ndpkg-buildpackage of ipxe-compat in trixie: {time.monotonic() - start:.1f} s")
    log = result.stdout + result.stderr
    assert result.returncode == 0, explain(result)
    assert "python3.13" in log and toolpkg.passed_tests(log) > 100
    deb = DebFile(str(tmp_path / toolpkg.DEB))
    control = deb.debcontrol()
    names = {str(name).removeprefix("./") for name in deb.data}
    metadata = deb.data.get_content(
        f"./usr/lib/python3/dist-packages/ipxe_compat-{__version__}.dist-info/METADATA")
    deb.close()
    assert {"python3-click", "python3-debian", "python3-jinja2"} <= {
        rel[0]["name"] for rel in PkgRelation.parse_relations(control["Depends"])}
    assert {f"usr/share/man/man1/{page}.1.gz" for page in PAGES} <= names
    # trixie's setuptools 78 takes the SPDX expression (PEP 639)
    assert b"\nLicense-Expression: GPL-2.0-or-later\n" in metadata


@pytest.mark.slow
def test_reprotest(tool_build: toolpkg.Build, tmp_path: Path) -> None:
    """The variations the generated package passes (test_reproducible.py), on the tool itself."""
    require_tool("reprotest", "faketime", "disorderfs", "diffoscope")
    dsc = copy_source(tool_build, tmp_path)
    start = time.monotonic()
    result = run(["reprotest", "--variations=+all,-user_group,time.faketimes+=+600days",
                  dsc.name, "--", "null"], cwd=tmp_path, env=toolpkg.ENV, check=False)
    print(f"\nreprotest of ipxe-compat: {time.monotonic() - start:.1f} s")
    assert result.returncode == 0, explain(result)
    assert "Reproduction successful" in result.stdout


@pytest.mark.slow
def test_autopkgtest_in_a_fresh_bookworm_testbed(tool_build: toolpkg.Build,
                                                 tmp_path: Path) -> None:
    """debian/tests on the installed .deb in a minimal bookworm (apt variant): the unit tests
    import /usr/lib/python3/dist-packages, man and bash completion work, and generate +
    dpkg-buildpackage run on the archive's ipxe-qemu (fetched through apt inside)."""
    require_tool("autopkgtest", "mmdebstrap", "unshare")
    tarball = ensure_tarball(RootSpec("bookworm"))
    dsc = copy_source(tool_build, tmp_path)
    start = time.monotonic()
    result = run(["autopkgtest", "-o", tmp_path / "out", "--setup-commands=apt-get update",
                  tool_build.parent / toolpkg.DEB, dsc, "--", "unshare", "-t", tarball],
                 cwd=tmp_path, check=False)
    print(f"\nautopkgtest of ipxe-compat (unshare, bookworm): {time.monotonic() - start:.1f} s")
    summary = (tmp_path / "out/summary").read_text() if (tmp_path / "out/summary").exists() else ""
    print(summary)
    assert result.returncode == 0, explain(result)
    results = dict(line.split()[:2] for line in summary.splitlines())
    assert results == {"unit": "PASS", "manpages-completion": "PASS", "generate-build": "PASS"}
    unit = (tmp_path / "out/unit-stdout").read_text()
    assert "ipxe_compat from /usr/lib/python3/dist-packages/ipxe_compat/__init__.py" in unit
    assert toolpkg.passed_tests(unit) > 100
    assert (
        "ok: bash completes the commands"
        in (tmp_path / "out/manpages-completion-stdout").read_text()
    )
    assert f"ROMs of ipxe-qemu {archive.BOOKWORM_VERSION} carried into" in (
        tmp_path / "out/generate-build-stdout").read_text()


def test_pip_install_is_quiet_with_the_newest_setuptools(tmp_path: Path) -> None:
    """`pip install .` builds with the newest setuptools from PyPI and prints no warning.

    The machine's pip configuration adds local indexes that do not exist (pip warns about each
    for every lookup); they are switched off here, as a user's machine would not have them.
    """
    tree = toolpkg.copy_tree(tmp_path)
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    env = {**toolpkg.ENV, "PIP_EXTRA_INDEX_URL": "", "PIP_FIND_LINKS": "",
           "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    result = run([env_dir / "bin/python", "-m", "pip", "install", "--no-deps", "."], cwd=tree,
                 env=env, check=False)
    assert result.returncode == 0, explain(result)
    noise = [line for line in (result.stdout + result.stderr).splitlines()
             if re.search(r"warn|deprecat|!!", line, re.IGNORECASE)]
    assert noise == [], explain(result)
    (metadata,) = env_dir.glob("lib/python3*/site-packages/ipxe_compat-*.dist-info/METADATA")
    assert "\nLicense-Expression: GPL-2.0-or-later\n" in metadata.read_text()
