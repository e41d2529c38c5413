"""Debian's QEMU source with one more quilt patch, built as a minimal x86_64-softmmu, cached.

The source comes from Debian's archive through a private apt configuration with a ``deb-src``
line (the machine's own apt sources are never touched). ``dpkg-source -x`` applies the package's
own series; the extra patch is appended to ``debian/patches/series`` and applied with
``quilt push -a``, exactly as a maintainer would add it. The build follows the recipe measured in
docs/background.md: the ``+ds`` source ships no python wheels, so meson >= 1.5 comes from
PyPI in a venv given to configure with ``--python``; fdt and slirp are Debian's. Only the
``qemu-system-x86_64`` target is built (not the test programs), and only that binary is kept,
under a directory keyed by (source version, patch sha256, recipe): a warm run costs nothing.
Firmware is not installed (``--disable-install-blobs``): run the binary with ``-L`` directories.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from tests import archive
from tests.roots import locked

TRIXIE_QEMU = "1:10.0.13+ds-0+deb13u1"
RECIPE = 1  # bump when the configure options below change
CONFIGURE = ("--target-list=x86_64-softmmu", "--without-default-features", "--enable-slirp",
             "--enable-fdt=system", "--disable-docs", "--disable-werror",
             "--disable-install-blobs")
BUILD_DEPENDS = ("quilt", "ninja-build", "libglib2.0-dev", "libpixman-1-dev", "libfdt-dev",
                 "libslirp-dev", "gcc", "pkg-config", "python3-venv")
TOOLS = ("quilt", "ninja", "gcc", "pkg-config", "dpkg-source", "/usr/bin/python3", "patch")


def _run(argv: list[str], cwd: Path, env: dict[str, str] | None = None) -> None:
    result = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, check=False,
                            env=env)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[:3])} failed in {cwd}:\n"
                           f"{result.stdout[-3000:]}{result.stderr[-3000:]}")


def _apt_src(suite: str) -> list[str]:
    """apt options reading only ``deb-src URL suite main`` from a private directory."""
    root = archive.cache_dir() / f"apt-src-{suite}"
    for sub in ("lists/partial", "cache/archives/partial"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    sources = root / "sources.list"
    sources.write_text(f"deb-src [signed-by={archive.KEYRING}] {archive.mirror()} {suite} main\n")
    return ["-o", f"Dir::Etc::SourceList={sources}", "-o", "Dir::Etc::SourceParts=/nonexistent",
            "-o", f"Dir::State::Lists={root / 'lists'}", "-o", f"Dir::Cache={root / 'cache'}",
            "-o", "Dir::State::status=/dev/null", "-o", "APT::Sandbox::User=root",
            "-o", "Debug::NoLocking=1"]


def fetch_source(version: str = TRIXIE_QEMU, suite: str = "trixie") -> Path:
    """The .dsc of ``qemu=version`` (with its orig and debian tarballs), downloaded once."""
    where = archive.cache_dir() / "qemu-source"
    where.mkdir(exist_ok=True)
    dsc = where / f"qemu_{version.split(':', 1)[-1]}.dsc"
    with locked(where / ".lock"):
        if not dsc.exists():
            options = _apt_src(suite)
            _run(["apt-get", *options, "-q", "update"], cwd=where)
            _run(["apt-get", *options, "-q", "source", "--download-only", f"qemu={version}"],
                 cwd=where)
    return dsc


def _meson_python() -> Path:
    """A venv with meson >= 1.5 from PyPI (bookworm's meson 1.0 is too old for QEMU 10)."""
    venv = archive.cache_dir() / "meson-venv"
    with locked(archive.cache_dir() / ".meson-venv.lock"):
        if not (venv / "bin" / "meson").exists():
            shutil.rmtree(venv, ignore_errors=True)
            _run(["/usr/bin/python3", "-m", "venv", str(venv)], cwd=archive.cache_dir())
            _run([str(venv / "bin" / "pip"), "install", "-q", "meson>=1.5"], cwd=venv)
    return venv / "bin" / "python3"


def toolchain(python: Path) -> str:
    """The versions of what compiles QEMU (Debian's packages, meson from PyPI): part of the key,
    so a cache shared between machines (CI's fresh root and its host) never hands out a binary
    built by another toolchain."""
    packages = subprocess.run(
        ["dpkg-query", "-W", "-f", "${Package}=${Version}\n", *BUILD_DEPENDS[1:]],
        capture_output=True, text=True, check=False).stdout
    meson = subprocess.run([str(python), "-m", "mesonbuild.mesonmain", "--version"],
                           capture_output=True, text=True, check=False).stdout
    compiler = subprocess.run(["gcc", "--version"], capture_output=True, text=True,
                              check=False).stdout.partition("\n")[0]
    return f"{packages}meson={meson.strip()}\n{compiler}\n"


def build_key(dsc: Path, patch: Path, tools: str = "") -> str:
    """The build's cache key: everything that goes into the binary (source, patch, configure
    options, recipe, toolchain)."""
    digest = hashlib.sha256()
    for part in (dsc.name.encode(), dsc.read_bytes(), patch.read_bytes(), repr(CONFIGURE).encode(),
                 str(RECIPE).encode(), tools.encode()):
        digest.update(hashlib.sha256(part).digest())
    return digest.hexdigest()[:16]


def unpack_patched(dsc: Path, patch: Path, into: Path) -> Path:
    """The source tree of ``dsc`` with its own series and then ``patch`` applied by quilt."""
    tree = into / "src"
    _run(["dpkg-source", "--no-check", "-x", str(dsc), str(tree)], cwd=into)
    shutil.copy(patch, tree / "debian" / "patches" / patch.name)
    with open(tree / "debian" / "patches" / "series", "a") as series:
        series.write(f"{patch.name}\n")
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "QUILT_PATCHES": "debian/patches",
           "HOME": str(into)}
    _run(["quilt", "push", "-a"], cwd=tree, env=env)
    return tree


def patched_qemu(patch: Path, version: str = TRIXIE_QEMU, suite: str = "trixie") -> Path:
    """The ``qemu-system-x86_64`` built from Debian's ``qemu=version`` plus ``patch``."""
    dsc = fetch_source(version, suite)
    builds = archive.cache_dir() / "qemu-builds"
    builds.mkdir(exist_ok=True)
    python = _meson_python()
    final = builds / f"{dsc.stem}-{build_key(dsc, patch, toolchain(python))}"
    with locked(builds / f".{final.name}.lock"):
        if not (final / "qemu-system-x86_64").exists():
            with tempfile.TemporaryDirectory(prefix=".build-", dir=builds) as scratch:
                started = time.monotonic()
                tree = unpack_patched(dsc, patch, Path(scratch))
                seconds = {"unpack and quilt": time.monotonic() - started}
                build = tree / "build"
                build.mkdir()
                for step, argv in (("configure", ["../configure", f"--python={python}",
                                                  *CONFIGURE]),
                                   ("ninja", ["ninja", "qemu-system-x86_64"])):
                    started = time.monotonic()
                    _run(argv, cwd=build)
                    seconds[step] = time.monotonic() - started
                staged = Path(scratch) / "out"
                staged.mkdir()
                shutil.copy2(build / "qemu-system-x86_64", staged)
                # What the cold build cost, for the lead and bench/ (never asserted on).
                (staged / "timings.json").write_text(
                    json.dumps({k: round(v, 1) for k, v in seconds.items()}) + "\n")
                shutil.rmtree(final, ignore_errors=True)
                staged.rename(final)
    return final / "qemu-system-x86_64"
