"""Read what ipxe-compat needs from a binary ``.deb``: its control fields, ROMs and copyright.

The ar container and the control member are read with python-debian (``debian.debfile``). The
data member is streamed once through :mod:`tarfile` in stream mode (``r|*``) so a large package
costs flat memory; python-debian's own ``tgz()`` would hold a zstd member in memory, so zstd
(Ubuntu's choice) is piped through the ``zstd`` tool instead. Members are read, never extracted
by path; symlinks are resolved against the package's own tree only.
"""

from __future__ import annotations

import posixpath
import subprocess
import tarfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO, cast

from debian.arfile import ArError, ArMember
from debian.deb822 import Deb822
from debian.debfile import DebError, DebFile

from .errors import SourceError

#: Directories whose ``*.rom`` files QEMU finds (Debian's QEMU firmware path, background.md).
ROM_DIRS = ("usr/lib/ipxe/qemu", "usr/share/qemu")
#: No iPXE ROM comes near this; a member above it is refused before it is read.
MAX_MEMBER = 16 << 20
_MAX_SYMLINK_HOPS = 40
_COPY_CHUNK = 1 << 16


@dataclass(frozen=True)
class Member:
    """A regular file read from the data member: its package path, bytes and mtime."""

    path: str
    data: bytes
    mtime: int


@dataclass(frozen=True)
class DebContents:
    """What a .deb tells ipxe-compat: control fields, ROM members and the copyright text."""

    control: Deb822
    roms: tuple[Member, ...]
    copyright: str | None


def read_deb(path: str) -> DebContents:
    """Read control fields, the ROMs in ROM_DIRS and /usr/share/doc/<package>/copyright."""
    try:
        deb = DebFile(path)
        control = deb.debcontrol()
        data_name = next(n for n in deb.getnames() if n.startswith("data.tar"))
        data_member = deb.getmember(data_name)
    except (ArError, DebError, OSError, StopIteration, ValueError, KeyError) as error:
        raise SourceError(f"not a readable Debian binary package: {error}", path=path) from error
    package = control.get("Package")
    if not package:
        raise SourceError("control member has no Package field", path=path)
    copyright_path = f"usr/share/doc/{package}/copyright"
    try:
        files, links = _scan_data(data_member, data_name)
    except (tarfile.TarError, EOFError, OSError, ValueError) as error:
        raise SourceError(f"corrupt data member {data_name}: {error}", path=path) from error
    finally:
        deb.close()
    roms: dict[str, Member] = {}
    for name in sorted(set(files) | set(links)):
        if posixpath.dirname(name) in ROM_DIRS and name.endswith(".rom"):
            target = _resolve(name, files, links, path)
            if target is not None:
                member = files[target]
                roms[name] = Member(name, member.data, member.mtime)
    copyright_target = _resolve(copyright_path, files, links, path)
    copyright_text = None
    if copyright_target is not None:
        copyright_text = files[copyright_target].data.decode("utf-8", errors="replace")
    return DebContents(control, tuple(roms.values()), copyright_text)


def _wanted(name: str) -> bool:
    """Regular files worth keeping: ROMs anywhere (symlinks may point at them) and doc files."""
    return name.endswith(".rom") or name.startswith("usr/share/doc/")


def _scan_data(member: ArMember, name: str) -> tuple[dict[str, Member], dict[str, str]]:
    """One streaming pass: keep wanted regular files and every symlink (path -> target)."""
    files: dict[str, Member] = {}
    links: dict[str, str] = {}
    with _decompressed(member, name) as stream, tarfile.open(fileobj=stream, mode="r|*") as tar:
        for info in tar:
            path = _normalize(info.name)
            if path is None:
                continue  # leaves the package root: never used
            if info.issym():
                links[path] = info.linkname
            elif info.isreg() and _wanted(path):
                if info.size > MAX_MEMBER:
                    raise ValueError(f"member {path} is {info.size} bytes, over {MAX_MEMBER}")
                fileobj = tar.extractfile(info)
                assert fileobj is not None  # regular member
                files[path] = Member(path, fileobj.read(), int(info.mtime))
    return files, links


def _normalize(name: str) -> str | None:
    """``./usr/x`` -> ``usr/x``; None for a path that leaves the root or is the root."""
    parts: list[str] = []
    for part in name.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if not parts:
                return None
            parts.pop()
        else:
            parts.append(part)
    return "/".join(parts) or None


def _resolve(name: str, files: dict[str, Member], links: dict[str, str], deb: str) -> str | None:
    """Follow symlinks within the package; None if the chain ends at nothing we kept."""
    path = name
    for _ in range(_MAX_SYMLINK_HOPS):
        if path in files:
            return path
        # a symlink may be the file itself or one of its parent directories
        parts = path.split("/")
        for i in range(len(parts), 0, -1):
            prefix = "/".join(parts[:i])
            if prefix in links:
                target = links[prefix]
                base = "" if target.startswith("/") else posixpath.dirname(prefix)
                joined = posixpath.join(base, target, *parts[i:])
                resolved = _normalize(joined)
                if resolved is None:
                    raise SourceError(
                        f"symlink {name} points outside the package ({target})", path=deb
                    )
                path = resolved
                break
        else:
            return None
    raise SourceError(f"symlink {name}: too many levels of symbolic links", path=deb)


@contextmanager
def _decompressed(member: ArMember, name: str) -> Iterator[IO[bytes]]:
    """Yield a readable stream of the uncompressed tar; zstd goes through the zstd tool."""
    if not name.endswith(".zst"):
        yield cast(IO[bytes], member)  # tarfile's r|* handles none, gz, bz2 and xz itself
        return
    try:
        proc = subprocess.Popen(
            ["zstd", "-q", "-d", "-c"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
    except OSError as error:
        raise SourceError(f"cannot run zstd to read {name} (apt-get install zstd): {error}") from error
    assert proc.stdin is not None and proc.stdout is not None

    def feed() -> None:
        try:
            while chunk := member.read(_COPY_CHUNK):
                proc.stdin.write(chunk)  # type: ignore[union-attr]
        except (BrokenPipeError, OSError):
            pass
        finally:
            proc.stdin.close()  # type: ignore[union-attr]

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    try:
        yield proc.stdout
        # drain so a truncated read of the tar does not hide a zstd failure
        while proc.stdout.read(_COPY_CHUNK):
            pass
    finally:
        proc.stdout.close()
        feeder.join()
        code = proc.wait()
    if code != 0:
        raise ValueError(f"zstd could not decompress {name} (exit {code})")
