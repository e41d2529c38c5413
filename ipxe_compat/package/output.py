"""Write the generated source package into OUTDIR as one transaction: every output replaced or
none, the previous output never lost, whatever interrupts it (an error, SIGINT, SIGTERM, SIGHUP,
SIGKILL, a second run, a full disk, a file that cannot be removed).

Files are written with every mode and mtime set explicitly (dpkg-source clamps only newer mtimes;
older ones and the umask's modes would leak into its tarballs) into a private staging directory
S = ``OUTDIR/.ipxe-compat-XXXXXXXX/`` on OUTDIR's file system, so that one rename puts each output
in place::

    S/new/       the outputs (orig tarball, tree, dpkg-source's files), written by the caller
    S/tmp/       TMPDIR of the tools run there (what they leave goes with S)
    S/journal    "ipxe-compat staging 1", then each output's name; written whole (renamed from
                 journal.tmp) before anything in OUTDIR moves
    S/old/       the outputs being replaced, each moved here by one rename

No record is kept of a rename but the rename itself: output NAME has been moved in iff the journal
names it and S/new/NAME is gone; it has been moved aside iff S/old/NAME exists. So whenever the
process dies, the disk says where each output is, and the next run (holding the lock, so that
S's run is gone) puts it right and says what it did. The steps, by the name tests inject a fault
at (:func:`_fault`), and what is on disk if the process dies there:

=================================  ===================================  ===========================
step                               OUTDIR holds                         the next run
=================================  ===================================  ===========================
``made outdir``: OUTDIR and its    the old output (OUTDIR empty if      nothing to do
missing parents made               this run made it)
``locked``: an exclusive flock     the old output                       nothing to do
on OUTDIR; stale S recovered
``made staging``: S, S/new, S/tmp  the old output; S                    removes S
``written``: the outputs in S/new  the old output; S with the new one   removes S
(dpkg-source's too)
``journal``: S/journal written     the old output; S                    removes S (nothing moved)
``aside NAME``: OUTDIR/NAME        old outputs not yet moved; the       moves back what went in,
moved to S/old/NAME                others in S/old                      then what went aside: the
                                                                        old output
``in NAME``: S/new/NAME moved to   new outputs moved in; the old ones   the same: the old output
OUTDIR/NAME                        in S/old
``committed``: all are in          the new output; S (with S/old)       removes S (says the run had
                                                                        completed)
``cleaned``: S removed             the new output                       nothing to do
=================================  ===================================  ===========================

Up to ``written`` a signal (SIGINT, SIGTERM, SIGHUP) interrupts: S is removed, OUTDIR holds what
it held, exit 130. From ``journal`` on, signals wait until ``cleaned``: a few renames and the
removal of what was replaced; the run then completes and reports a complete output as complete
(exit 0), never as interrupted. Recovery and rollback, too, run with signals waiting.

- **One run at a time**: an exclusive flock on OUTDIR's directory; nothing is written for it, the
  kernel releases it when the process dies (even by SIGKILL), and no child inherits it. A second
  run waits for the first and says so; a staging directory it then finds is stale.
- **Paths**: OUTDIR is resolved once, before anything moves (``-o ..`` from inside the tree being
  replaced, ``-o OUT/TREE/..``); nothing afterwards uses the working directory, which may be
  inside what is replaced.
- **Mount points** at or below an output to be replaced are refused before anything moves; the
  remover never enters another file system or mount point (a bind mount keeps its files).
- **What cannot be removed** (an immutable file, an append-only OUTDIR, a read-only directory)
  is reported, never ignored: :attr:`Published.left` names each path and why, and generate exits
  4 (the new output is complete; the next run removes what is left). A rollback that fails is
  :class:`~ipxe_compat.errors.OutputRestoreError`, exit 5: the message says where the previous
  output is, and the next run restores it. So generate's exit status says what is on disk: 0 the
  new output and nothing else, 4 the new output and leftovers, 1/2/3/130 the old output as it was,
  5 neither complete.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import io
import lzma
import os
import re
import stat
import tarfile
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import (
    OutputError,
    OutputExistsError,
    OutputRestoreError,
    deferred_signals,
    shown,
    signals_as_exceptions,
)

__all__ = ["Entry", "Published", "check_outdir", "orig_tarball", "publish", "write_file",
           "write_tree"]

DIR_MODE = 0o755
#: xz preset 6 is what dpkg-source uses; lzma in CPython is single-threaded, so the bytes are
#: stable.
XZ_PRESET = 6
STAGING_PREFIX = ".ipxe-compat-"
JOURNAL_HEADER = "ipxe-compat staging 1"
#: What a staging directory of ours may hold; anything else is not ours and is left alone.
_STAGING_ENTRIES = frozenset({"new", "old", "tmp", "journal", "journal.tmp"})


def _fault(step: str) -> None:
    """Called at every step of a transaction: tests inject a fault there (an exception, a signal,
    SIGKILL). Does nothing."""


# --- the files --------------------------------------------------------------------------------

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
    try:
        root.mkdir(mode=DIR_MODE)
    except OSError as error:
        raise OutputError(f"cannot write: {error.strerror}", path=str(root)) from error
    dirs = {root}
    for entry in entries:
        target = root / entry.path
        for parent in reversed(target.relative_to(root).parents[:-1]):
            directory = root / parent
            if directory not in dirs:
                try:
                    directory.mkdir(mode=DIR_MODE)
                except OSError as error:
                    raise OutputError(f"cannot write: {error.strerror}",
                                      path=str(directory)) from error
                dirs.add(directory)
        write_file(target, entry.data, entry.mode, entry.mtime)
    for directory in sorted(dirs, key=lambda d: len(d.parts), reverse=True):
        os.chmod(directory, DIR_MODE)  # the umask must not decide
        os.utime(directory, (dir_mtime, dir_mtime))


# --- checks before any work -------------------------------------------------------------------

def check_outdir(outdir: Path, names: Sequence[str], force: bool) -> None:
    """Refuse, before any work and without creating anything, an OUTDIR that is no directory,
    outputs that exist (unless forced) and outputs to replace that hold a mount point. A stale
    staging directory defers the existence check to the run that recovers it (under the lock)."""
    real = Path(os.path.realpath(outdir))
    if os.path.lexists(real) and not real.is_dir():
        raise OutputError("output directory is not a directory", path=str(outdir))
    if not real.is_dir() or _stale_stagings(real):
        return
    existing = [name for name in names if os.path.lexists(real / name)]
    if existing and not force:
        raise OutputExistsError(
            f"{', '.join(existing)} already exists; use --force to replace it", path=str(outdir))
    _refuse_mounts(real, existing, outdir)


# --- the transaction --------------------------------------------------------------------------

@dataclass
class Published:
    """What a finished transaction could not remove, each as ``path: why``; empty when nothing
    of it remains in OUTDIR."""

    left: list[str] = field(default_factory=list)


@contextmanager
def publish(outdir: Path, names: Sequence[str], force: bool,
            notify: Callable[[str], None] = lambda _: None) -> Iterator[tuple[Path, Published]]:
    """The staging directory ``new/`` for the outputs ``names``, and the report; when the block
    ends, what it wrote there is moved into OUTDIR as one transaction (see the module docstring).
    ``notify`` hears what happens on the way (waiting for another run, what a stale staging
    directory held and what became of it) as it happens.
    """
    with signals_as_exceptions():
        real = Path(os.path.realpath(outdir))  # before anything moves: the cwd may go with it
        report = Published()
        created = _make_dirs(real, outdir)
        lock: int | None = None
        waited: list[bool] = []  # set as soon as another run holds the lock
        try:
            _fault("made outdir")
            lock = _lock(real, outdir, notify, waited)
            with deferred_signals():
                _recover(real, outdir, notify)
            existing = [name for name in names if os.path.lexists(real / name)]
            if existing and not force:
                raise OutputExistsError(f"{', '.join(existing)} already exists; use --force to "
                                        "replace it", path=str(outdir))
            _refuse_mounts(real, existing, outdir)
            stage = _make_stage(real, outdir)
            try:
                _fault("made staging")
                yield stage / "new", report
                _fault("written")
            except BaseException:  # steps 2-3: nothing of OUTDIR was touched; S goes
                _discard(stage, notify)
                raise
            _finish(real, stage, outdir, force, report, notify)
        except BaseException:
            if not waited:  # only what we made, only if left empty, and only if no other run
                for directory in reversed(created):  # may be about to write there
                    with contextlib.suppress(OSError):
                        directory.rmdir()
            raise
        finally:
            if lock is not None:
                os.close(lock)


def _finish(real: Path, stage: Path, outdir: Path, force: bool, report: Published,
            notify: Callable[[str], None]) -> None:
    """Steps 4-7 with signals deferred: once the moves begin the run completes (a signal that
    came meanwhile does not turn a complete output into an "interrupted" one); on a failure the
    previous output is put back and the staging directory removed."""
    committed = False
    try:
        with deferred_signals(reraise=False):
            _commit(real, stage, outdir, force)
            committed = True
            _fault("committed")
            report.left += _remove_stage(stage)
            _fault("cleaned")
    except OutputRestoreError:
        raise  # the previous output is in the staging directory: keep it for the next run
    except BaseException:
        if not committed:
            _discard(stage, notify)
        raise


def _discard(stage: Path, notify: Callable[[str], None]) -> None:
    """Remove a staging directory whose outputs were not moved in; say so if it stays."""
    with deferred_signals(reraise=False):
        left = _remove_stage(stage)
    if left:
        notify(f"could not remove {shown(str(stage))}: {left[0]}")


def _make_dirs(real: Path, outdir: Path) -> list[Path]:
    """Create OUTDIR and its missing parents; return those created, outermost first."""
    missing = [path for path in [real, *real.parents] if not path.exists()][::-1]
    try:
        for path in missing:
            path.mkdir()
    except FileExistsError:
        pass  # another run made it: fine, the lock decides who writes
    except OSError as error:
        for path in reversed(missing):
            with contextlib.suppress(OSError):
                path.rmdir()
        raise OutputError(f"cannot create output directory: {error.strerror}",
                          path=str(outdir)) from error
    return missing


def _lock(real: Path, outdir: Path, notify: Callable[[str], None], waited: list[bool]) -> int:
    """An exclusive flock on OUTDIR, waiting (interruptibly) for another run that holds one;
    ``waited`` gets an entry, before the wait, if one does."""
    while True:
        try:
            fd = os.open(real, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError as error:
            raise OutputError(f"cannot open output directory: {error.strerror}",
                              path=str(outdir)) from error
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if not waited:
                    notify(f"waiting for another ipxe-compat writing into {shown(str(outdir))}")
                waited.append(True)
                fcntl.flock(fd, fcntl.LOCK_EX)
            _fault("locked")
            if os.path.samestat(os.fstat(fd), os.stat(real)):
                return fd
        except FileNotFoundError:
            pass  # the other run made OUTDIR, failed and removed it: make it again
        except OSError as error:
            os.close(fd)
            raise OutputError(f"cannot lock output directory: {error.strerror}",
                              path=str(outdir)) from error
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)
        _make_dirs(real, outdir)


def _make_stage(real: Path, outdir: Path) -> Path:
    try:
        stage = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=real))
        (stage / "new").mkdir()
        (stage / "tmp").mkdir()
    except OSError as error:
        raise OutputError(f"cannot write: {error.strerror}", path=str(outdir)) from error
    return stage


def _commit(real: Path, stage: Path, outdir: Path, force: bool) -> None:
    """Steps 4-6: the journal, the old outputs aside, the new ones in; on a failure, every move
    undone (the previous output restored) and the error raised."""
    names = sorted(os.listdir(stage / "new"))
    where = outdir
    try:
        journal = stage / "journal.tmp"
        journal.write_text("".join(f"{line}\n" for line in [JOURNAL_HEADER, *names]),
                           encoding="utf-8")
        os.rename(journal, stage / "journal")
        _fault("journal")
        (stage / "old").mkdir()
        for name in names:
            where = outdir / name
            if os.path.lexists(real / name):
                if not force:
                    raise OutputExistsError("appeared while generating; use --force to replace "
                                            "it", path=str(where))
                _fault(f"aside {name}")
                os.rename(real / name, stage / "old" / name)
                _fault(f"aside {name} done")
        for name in names:
            where = outdir / name
            _fault(f"in {name}")
            os.rename(stage / "new" / name, real / name)
            _fault(f"in {name} done")
    except OSError as error:
        _roll_back(real, stage, outdir)
        raise OutputError(f"cannot replace: {error.strerror} (nothing was replaced)",
                          path=str(where)) from error
    except BaseException:
        _roll_back(real, stage, outdir)
        raise


def _journal(stage: Path) -> list[str] | None:
    """The output names a staging directory's journal lists; None if it has none (nothing of
    OUTDIR was moved); OutputError for a journal of another format."""
    try:
        lines = (stage / "journal").read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as error:
        raise OutputError(f"unreadable staging journal: {error}", path=str(stage)) from error
    if not lines or lines[0] != JOURNAL_HEADER:
        raise OutputError("a staging journal of another format", path=str(stage))
    return lines[1:]


def _roll_back(real: Path, stage: Path, outdir: Path) -> list[str]:
    """Put the previous outputs back, each moved in back to new/ first, then each moved aside
    back to OUTDIR; returns those restored. A move that fails, or a name that something else
    took meanwhile (never overwritten), is exit 5 naming where the previous output is."""
    names = _journal(stage) or []
    restored = []
    try:
        for name in reversed(names):
            if not os.path.lexists(stage / "new" / name) and os.path.lexists(real / name):
                _fault(f"back out {name}")
                os.rename(real / name, stage / "new" / name)
        for name in reversed(names):
            if os.path.lexists(stage / "old" / name):
                if os.path.lexists(real / name):
                    raise FileExistsError(errno.EEXIST, "something else took its name",
                                          str(real / name))
                _fault(f"back in {name}")
                os.rename(stage / "old" / name, real / name)
                restored.append(name)
    except OSError as error:
        raise OutputRestoreError(
            f"cannot put the previous output back ({error.strerror}): it is in "
            f"{shown(str(stage / 'old'))}; the next ipxe-compat generate -o "
            f"{shown(str(outdir))} restores it") from error
    return restored


def _stale_stagings(real: Path) -> list[Path]:
    try:
        return sorted(path for path in real.iterdir() if path.name.startswith(STAGING_PREFIX)
                      and path.is_dir() and not path.is_symlink())
    except OSError:
        return []


def _recover(real: Path, outdir: Path, notify: Callable[[str], None]) -> None:
    """Put right what a run that died left (we hold the lock: it is gone). Its outputs go back
    (or, when all of them were in, stay: the run had completed but for cleanup), and its staging
    directory goes. Says what it did; a directory that is not a staging directory of ours is
    left alone and named."""
    for stage in _stale_stagings(real):
        try:
            ours = set(os.listdir(stage)) <= _STAGING_ENTRIES
            names = _journal(stage) if ours else None
        except OutputError as error:
            ours, names = False, None
            notify(str(error))
        if not ours:
            notify(f"{shown(str(stage))} is not a staging directory of this ipxe-compat: left "
                   "alone (remove it when no ipxe-compat runs)")
            continue
        if names is None:
            what = "an interrupted run's unfinished output: removed"
        elif all(not os.path.lexists(stage / "new" / n) and os.path.lexists(real / n)
                 for n in names):
            what = (f"an interrupted run had put its output in place ({', '.join(names)}): "
                    "removed what it replaced")
        else:
            restored = _roll_back(real, stage, outdir)
            what = (f"restored the previous {', '.join(sorted(restored))} of an interrupted run"
                    if restored else "an interrupted run's unfinished output: removed")
        left = _remove_stage(stage)
        why = f"; could not remove it: {left[0]}" if left else ""
        notify(f"{shown(str(stage))}: {what}{why}")


# --- mount points and removal -----------------------------------------------------------------

#: /proc/self/mountinfo: the mount point is the fifth field (proc(5)).
_MOUNT_POINT_FIELD = 4


def _mount_points() -> set[str] | None:
    """Every mount point of this process's mount namespace (None without /proc)."""
    try:
        with open("/proc/self/mountinfo", encoding="utf-8", errors="surrogateescape") as info:
            rows = [line.split(" ") for line in info.read().splitlines()]
    except OSError:
        return None
    return {_unescape(row[_MOUNT_POINT_FIELD]) for row in rows if len(row) > _MOUNT_POINT_FIELD}


def _unescape(field: str) -> str:
    """mountinfo writes space, tab, newline and backslash as octal escapes (``\\040``)."""
    return re.sub(r"\\([0-7]{3})", lambda match: chr(int(match[1], 8)), field)


def _mounts_under(path: Path, points: set[str] | None) -> list[str]:
    """Mount points at or below ``path``: by mountinfo, and by device number (without /proc,
    and for what mountinfo would not show). A symlink is not followed."""
    if not os.path.isdir(path) or os.path.islink(path):
        return []
    top = str(path)
    found = sorted(p for p in points or () if p == top or p.startswith(top.rstrip("/") + "/"))
    device = os.lstat(path).st_dev
    for directory, subdirs, _ in os.walk(path):
        for name in subdirs:
            sub = os.path.join(directory, name)
            with contextlib.suppress(OSError):
                if os.lstat(sub).st_dev != device and sub not in found:
                    found.append(sub)
    return found


def _refuse_mounts(real: Path, names: Sequence[str], outdir: Path) -> None:
    points = _mount_points()
    for name in names:
        mounts = _mounts_under(real / name, points)
        if mounts:
            raise OutputError(f"{shown(mounts[0])} is a mount point: an output holding one is "
                              "never replaced (unmount it first)", path=str(outdir / name))


def _remove_stage(stage: Path) -> list[str]:
    """Remove a staging directory, its journal last: while any of it is left, the journal still
    says what it is (a run that completed, or one to roll back)."""
    errors = [error for part in ("old", "new", "tmp", "journal.tmp")
              for error in _remove(stage / part)]
    if errors:
        return errors
    return _remove(stage / "journal") + _remove(stage)


def _remove(top: Path) -> list[str]:
    """Remove ``top`` and all below it, never following a symlink nor entering another file
    system or mount point; keep going past errors and return them (``path: why``), the first
    one first. Iterative: a deep tree cannot exhaust the stack."""
    errors: list[str] = []
    try:
        device = os.lstat(top).st_dev
    except FileNotFoundError:
        return errors
    except OSError as error:
        return [f"{shown(str(top))}: {error.strerror}"]
    points = (_mount_points() or set()) - {str(top)}
    # (path, children listed?): a directory is visited twice, to list it, then to remove it
    stack: list[tuple[str, bool]] = [(str(top), False)]
    while stack:
        path, listed = stack.pop()
        try:
            if listed:
                os.rmdir(path)
                continue
            info = os.lstat(path)
            if not stat.S_ISDIR(info.st_mode):
                os.unlink(path)
                continue
            if info.st_dev != device or path in points:
                errors.append(f"{shown(path)}: a mount point, not entered")
                continue
            stack.append((path, True))
            with os.scandir(path) as entries:
                stack.extend((entry.path, False) for entry in entries)
        except FileNotFoundError:
            continue
        except OSError as error:
            if error.errno != errno.ENOTEMPTY or not errors:  # a child's error says why
                errors.append(f"{shown(path)}: {error.strerror}")
    return errors
