"""Cached Debian roots made with mmdebstrap, and commands that run inside them.

A test that needs another distribution's tools (trixie's or sid's QEMU, sid's lintian) asks for
``ensure_root(RootSpec(suite, packages, debs, setup))``; one that needs a clean testbed (sbuild,
autopkgtest) asks for ``ensure_tarball(...)`` of the same. The root is built once into the test
cache, keyed by everything that goes into it (suite, packages, the bytes of extra .debs, the setup
commands, the mirror), in a temporary directory renamed into place only when complete, under a
lock so that two test runs never build the same root twice or see half a root.

``Root.command(shares)`` is an argv prefix that runs a program inside the root in a private mount
namespace (``unshare --mount``): /proc, /dev, a fresh tmpfs on /tmp and every shared host directory
bind-mounted at the same path. The mounts exist only in that namespace, so they vanish with its
last process whatever happens (no cleanup step to forget, no leftover mounts on the host), and a
unix socket made by a QEMU inside the root is reachable from a QEMU on the host at the same path.
The prefix joined with ``shlex.join`` is a valid ``--to-qemu`` command; ``Root.wrapper`` writes it
as an executable script for callers that want one path. As with ``chroot(8)``, the program starts
in the root's ``/``, so a stray ``*.rom`` in the caller's directory is never picked up.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import shlex
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from tests import archive

# Bump when the way a root is made changes, so that old cached roots are not reused.
FORMAT = 1
APT_OPTIONS = ('Acquire::Check-Valid-Until "false"', 'Acquire::Check-Date "false"')

# Runs inside `unshare --mount --propagation private`: "$1" is the root, then the shared
# directories up to "--", then the command. Mounts made here never reach the host.
_ENTER = r"""
root=$1; shift
mount -t proc proc "$root/proc"
mount --rbind /dev "$root/dev"
mount -t tmpfs -o mode=1777 tmpfs "$root/tmp"
while [ "$1" != -- ]; do
    mkdir -p "$root$1"
    mount --bind "$1" "$root$1"
    shift
done
shift
exec chroot "$root" /usr/bin/env -u PYTHONPATH PATH=/usr/sbin:/usr/bin:/sbin:/bin "$@"
"""


@dataclass(frozen=True)
class RootSpec:
    """What goes into a root; its cache key is derived from all of it."""

    suite: str
    packages: tuple[str, ...] = ()
    debs: tuple[Path, ...] = ()  # extra local .debs, installed with dpkg -i after the packages
    setup: tuple[str, ...] = ()  # shell commands run inside the root last, in order
    variant: str = "apt"

    def key(self) -> str:
        identity = {
            "format": FORMAT, "suite": self.suite, "packages": sorted(self.packages),
            "debs": [hashlib.sha256(deb.read_bytes()).hexdigest() for deb in self.debs],
            "setup": list(self.setup), "variant": self.variant, "mirror": archive.mirror(),
        }
        digest = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()
        return f"{self.suite}-{digest[:16]}"


@dataclass(frozen=True)
class Root:
    """A complete root directory in the cache."""

    path: Path
    spec: RootSpec = field(compare=False)

    def command(self, program: Sequence[str], shares: Sequence[Path] = ()) -> list[str]:
        """argv that runs ``program`` (plus any arguments appended) inside the root."""
        for share in shares:
            if not Path(share).is_absolute() or not Path(share).is_dir():
                raise ValueError(f"a share must be an existing absolute directory: {share}")
        return ["unshare", "--mount", "--propagation", "private", "--", "/bin/sh", "-ec", _ENTER,
                "enter-root", str(self.path), *map(str, shares), "--", *program]

    def wrapper(self, script: Path, program: Sequence[str], shares: Sequence[Path] = ()) -> Path:
        """An executable script at ``script`` that runs ``program "$@"`` inside the root."""
        script.write_text(f"#!/bin/sh\nexec {shlex.join(self.command(program, shares))} \"$@\"\n")
        script.chmod(0o755)
        return script

    def run(self, argv: Sequence[str], shares: Sequence[Path] = (),
            check: bool = True, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        return subprocess.run(self.command(argv, shares), capture_output=True, text=True,
                              check=check, timeout=timeout)


def roots_dir() -> Path:
    path = archive.cache_dir() / "roots"
    path.mkdir(exist_ok=True)
    return path


@contextmanager
def locked(path: Path) -> Iterator[None]:
    with open(path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def mmdebstrap_argv(spec: RootSpec, target: Path) -> list[str]:
    """The mmdebstrap call that makes ``spec`` in ``target`` (root mode: we are root)."""
    argv = ["mmdebstrap", "--mode=root", f"--variant={spec.variant}", "--quiet",
            *(f"--aptopt={option}" for option in APT_OPTIONS)]
    if spec.packages:
        argv.append("--include=" + ",".join(spec.packages))
    for deb in spec.debs:
        argv += [f"--customize-hook=copy-in {deb} /tmp",
                 f'--customize-hook=chroot "$1" dpkg -i /tmp/{deb.name}',
                 f'--customize-hook=rm "$1/tmp/{deb.name}"']
    for step in spec.setup:
        argv.append(f'--customize-hook=chroot "$1" /bin/sh -ec {shlex.quote(step)}')
    argv += [spec.suite, str(target), f"deb {archive.mirror()} {spec.suite} main"]
    return argv


def _build(spec: RootSpec, final: Path) -> None:
    """Make ``final`` with mmdebstrap unless it exists: a directory, or a tarball (by suffix)."""
    with locked(roots_dir() / f".{final.name}.lock"):
        if final.exists():
            return
        scratch = Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=roots_dir()))
        partial = scratch / final.name  # mmdebstrap wants to create its target itself
        started = time.monotonic()
        try:
            result = subprocess.run(mmdebstrap_argv(spec, partial), capture_output=True,
                                    text=True, check=False)
            if result.returncode != 0:
                raise RuntimeError(f"mmdebstrap {spec.suite} failed: {result.stderr[-3000:]}")
            partial.rename(final)
        finally:
            shutil.rmtree(scratch)
        record_cost(final, time.monotonic() - started, {
            "suite": spec.suite, "variant": spec.variant, "packages": sorted(spec.packages),
            "debs": [deb.name for deb in spec.debs], "setup": list(spec.setup)})


def disk_bytes(path: Path) -> int:
    """What ``path`` (a file or a tree) takes, counted by file sizes."""
    if not path.is_dir():
        return path.stat().st_size
    return sum(entry.lstat().st_size for entry in path.rglob("*") if not entry.is_dir())


def record_cost(entry: Path, seconds: float, what: dict[str, object]) -> None:
    """``ENTRY.json`` beside a cache entry: what it is, what making it cost and when, for
    bench/caches.py (what a cold cache costs) and for no test."""
    cost = {**what, "seconds": round(seconds, 1), "bytes": disk_bytes(entry),
            "made": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    entry.with_name(f"{entry.name}.json").write_text(json.dumps(cost, indent=1) + "\n")


def ensure_root(spec: RootSpec) -> Root:
    """The root for ``spec``, built with mmdebstrap unless the cache already has it."""
    final = roots_dir() / spec.key()
    _build(spec, final)
    return Root(final, spec)


def ensure_tarball(spec: RootSpec) -> Path:
    """The root for ``spec`` as a .tar.zst, for sbuild --chroot-mode=unshare and
    autopkgtest-virt-unshare, which unpack a fresh copy for every build or test run."""
    final = roots_dir() / f"{spec.key()}.tar.zst"
    _build(spec, final)
    return final
