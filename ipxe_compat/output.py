"""Write the generated source package: the orig tarball and the unpacked tree, atomically.

Everything is first written into a private staging directory inside OUTDIR, with every file's
mode and mtime set explicitly (dpkg-source clamps only newer mtimes; older ones and the umask's
modes would leak into its tarballs), and only then renamed into place. An error or a SIGINT /
SIGTERM leaves no partial output, and an existing output is replaced only when forced.
"""

from __future__ import annotations

import io
import lzma
import os
import shutil
import signal
import tarfile
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from .errors import OutputExistsError, SourceError, UsageError

DIR_MODE = 0o755
#: xz preset 6 is what dpkg-source uses; lzma in CPython is single-threaded, so the bytes are stable.
XZ_PRESET = 6


@dataclass(frozen=True)
class Entry:
    """A file of the output: path relative to the top directory, bytes, mode and mtime."""

    path: str
    data: bytes
    mode: int
    mtime: int


def orig_tarball(top: str, entries: Sequence[Entry]) -> bytes:
    """A reproducible tar.xz: sorted members under ``top/``, owner 0/0 root/root, given mtimes."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.GNU_FORMAT) as tar:
        newest = max((e.mtime for e in entries), default=0)
        for path in [top, *sorted({d for e in entries for d in _parents(e.path)})]:
            tar.addfile(_info(path if path == top else f"{top}/{path}", tarfile.DIRTYPE,
                              DIR_MODE, newest))
        for entry in sorted(entries, key=lambda e: e.path):
            info = _info(f"{top}/{entry.path}", tarfile.REGTYPE, entry.mode, entry.mtime)
            info.size = len(entry.data)
            tar.addfile(info, io.BytesIO(entry.data))
    return lzma.compress(raw.getvalue(), format=lzma.FORMAT_XZ, check=lzma.CHECK_CRC64,
                         preset=XZ_PRESET)


def _parents(path: str) -> Iterator[str]:
    parts = path.split("/")[:-1]
    for i in range(1, len(parts) + 1):
        yield "/".join(parts[:i])


def _info(name: str, kind: bytes, mode: int, mtime: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mode = mode
    info.mtime = mtime
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    return info


def write_file(path: Path, data: bytes, mode: int, mtime: int) -> None:
    """Write a file with an exact mode and mtime: neither the umask nor the clock may show.
    A failure (ENOSPC, EDQUOT) names the file, so the one error line says where."""
    try:
        path.write_bytes(data)
        os.chmod(path, mode)
        os.utime(path, (mtime, mtime))
    except OSError as error:
        raise SourceError(f"cannot write: {error.strerror}", path=str(path)) from error


def write_tree(root: Path, entries: Sequence[Entry], dir_mtime: int) -> None:
    """Write ``entries`` below ``root`` with exact modes and mtimes, directories included."""
    root.mkdir(mode=DIR_MODE)
    dirs = {root}
    for entry in entries:
        target = root / entry.path
        for parent in reversed(target.relative_to(root).parents[:-1]):
            directory = root / parent
            if directory not in dirs:
                directory.mkdir(mode=DIR_MODE)
                dirs.add(directory)
        write_file(target, entry.data, entry.mode, entry.mtime)
    for directory in sorted(dirs, key=lambda d: len(d.parts), reverse=True):
        os.chmod(directory, DIR_MODE)  # the umask must not decide
        os.utime(directory, (dir_mtime, dir_mtime))


def prepare_outdir(outdir: Path, names: Sequence[str], force: bool) -> None:
    """Refuse (before any work) outputs that exist, unless forced. Nothing is created here:
    OUTDIR is made by :func:`staging`, so a refusal before it leaves no empty directory."""
    if outdir.exists() and not outdir.is_dir():
        raise UsageError("output directory is not a directory", path=str(outdir))
    if not force:
        existing = [name for name in names if os.path.lexists(outdir / name)]
        if existing:
            raise OutputExistsError(
                f"{', '.join(existing)} already exists; use --force to replace it", path=str(outdir)
            )


def _make_outdir(outdir: Path) -> list[Path]:
    """Create OUTDIR and missing parents; return those created, outermost first."""
    missing = [p for p in [outdir, *outdir.parents] if not p.exists()][::-1]
    try:
        outdir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UsageError(f"cannot create output directory: {error.strerror}",
                         path=str(outdir)) from error
    return missing


@contextmanager
def staging(outdir: Path, force: bool) -> Iterator[Path]:
    """A private directory in OUTDIR; what the block leaves in it is moved into OUTDIR at the end.

    On any exception, or SIGINT/SIGTERM, the staging directory is removed and OUTDIR is as before
    (a directory this made, OUTDIR or a parent of it, is removed again).
    """
    created = _make_outdir(outdir)
    try:
        try:
            stage = Path(tempfile.mkdtemp(prefix=".ipxe-compat-", dir=outdir))
        except OSError as error:
            raise SourceError(f"cannot write: {error.strerror}", path=str(outdir)) from error
        try:
            with signals_as_exceptions():
                yield stage
                _commit(stage, outdir, force)
        finally:
            shutil.rmtree(stage, ignore_errors=True)
    except BaseException:
        for directory in reversed(created):
            try:
                directory.rmdir()
            except OSError:
                break
        raise


_ASIDE = ".replaced"  # inside the staging directory; no output name starts with a dot


def _commit(stage: Path, outdir: Path, force: bool) -> None:
    """Move the staged outputs into OUTDIR: all of them or, on any failure, none. Outputs being
    replaced (--force) are first moved aside into the staging directory and put back on failure,
    so OUTDIR never holds a new tree beside an old orig tarball."""
    items = sorted(p for p in stage.iterdir() if p.name != _ASIDE)
    aside = stage / _ASIDE
    aside.mkdir()
    moved_aside: list[str] = []
    moved_in: list[str] = []
    try:
        for item in items:
            target = outdir / item.name
            if os.path.lexists(target):
                if not force:
                    raise OutputExistsError("appeared while generating; use --force to replace it",
                                            path=str(target))
                os.rename(target, aside / item.name)
                moved_aside.append(item.name)
        for item in items:
            os.rename(item, outdir / item.name)
            moved_in.append(item.name)
    except BaseException:
        for name in reversed(moved_in):
            os.rename(outdir / name, stage / name)
        for name in reversed(moved_aside):
            os.rename(aside / name, outdir / name)
        raise


@contextmanager
def signals_as_exceptions() -> Iterator[None]:
    """Turn SIGTERM into KeyboardInterrupt so cleanup runs (SIGINT already does)."""

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    previous: Callable[[int, FrameType | None], object] | int | None = None
    try:
        previous = signal.signal(signal.SIGTERM, interrupt)
    except ValueError:  # not the main thread: leave signals alone
        previous = None
    try:
        yield
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
