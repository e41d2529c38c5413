"""Write the generated source package: the orig tarball and the unpacked tree, atomically.

Everything is first written into a private staging directory inside OUTDIR, with every file's
mode and mtime set explicitly (dpkg-source clamps only newer mtimes; older ones and the umask's
modes would leak into its tarballs), and only then renamed into place. An error or a SIGINT /
SIGTERM leaves no partial output, and an existing output is replaced only when forced.
"""

from __future__ import annotations

import contextlib
import io
import lzma
import os
import shutil
import tarfile
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from ..errors import OutputError, OutputExistsError, signals_as_exceptions

__all__ = ["Entry", "check_outdir", "orig_tarball", "staging", "write_file", "write_tree"]

DIR_MODE = 0o755
#: xz preset 6 is what dpkg-source uses; lzma in CPython is single-threaded, so the bytes are
#: stable.
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
        raise OutputError(f"cannot write: {error.strerror}", path=str(path)) from error


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


def check_outdir(outdir: Path, names: Sequence[str], force: bool) -> None:
    """Refuse, before any work and without creating anything, an OUTDIR that is no directory and
    outputs that exist (unless forced)."""
    if outdir.exists() and not outdir.is_dir():
        raise OutputError("output directory is not a directory", path=str(outdir))
    if not force:
        existing = [name for name in names if os.path.lexists(outdir / name)]
        if existing:
            raise OutputExistsError(
                f"{', '.join(existing)} already exists; use --force to replace it", path=str(outdir)
            )


@contextmanager
def staging(outdir: Path, force: bool) -> Iterator[Path]:
    """A private directory in OUTDIR; what the block leaves in it is moved into OUTDIR at the end.

    OUTDIR (and its missing parents) is created here, and removed again if the block fails, so
    on any exception, or SIGINT/SIGTERM, the disk is as before.
    """
    with signals_as_exceptions():
        created = _make_dirs(outdir)
        try:
            try:
                stage = Path(tempfile.mkdtemp(prefix=".ipxe-compat-", dir=outdir))
            except OSError as error:
                raise OutputError(f"cannot write: {error.strerror}", path=str(outdir)) from error
            try:
                yield stage
                _commit(stage, outdir, force)
            finally:
                shutil.rmtree(stage, ignore_errors=True)
        except BaseException:
            for directory in reversed(created):  # only what we made, and only if left empty
                with contextlib.suppress(OSError):
                    directory.rmdir()
            raise


def _make_dirs(outdir: Path) -> list[Path]:
    """Create OUTDIR and its missing parents; return those created, outermost first."""
    missing = [path for path in [outdir, *outdir.parents] if not path.exists()][::-1]
    try:
        for path in missing:
            path.mkdir()
    except OSError as error:
        for path in reversed(missing):
            with contextlib.suppress(OSError):
                path.rmdir()
        raise OutputError(f"cannot create output directory: {error.strerror}",
                          path=str(outdir)) from error
    return missing


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
    except OSError as error:
        _undo(stage, outdir, moved_in, moved_aside)
        raise OutputError(f"cannot replace: {error.strerror} (nothing was replaced)",
                          path=str(error.filename or outdir)) from error
    except BaseException:
        _undo(stage, outdir, moved_in, moved_aside)
        raise


def _undo(stage: Path, outdir: Path, moved_in: list[str], moved_aside: list[str]) -> None:
    for name in reversed(moved_in):
        os.rename(outdir / name, stage / name)
    for name in reversed(moved_aside):
        os.rename(stage / _ASIDE / name, outdir / name)
