"""Read what ipxe-compat needs from a binary ``.deb``: its control fields, ROMs and copyright.

The ar container and the control member are read with python-debian (``debian.debfile``). The
data member is streamed once through :mod:`tarfile` in stream mode (``r|*``) so a large package
costs flat memory; python-debian's own ``tgz()`` would hold a zstd member in memory, so zstd
(Ubuntu's choice) is piped through the ``zstd`` tool instead. Members are read, never extracted
by path; symlinks are resolved against the package's own tree only.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import posixpath
import subprocess
import tarfile
import threading
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO, cast

from debian.arfile import ArError, ArMember
from debian.deb822 import Deb822
from debian.debfile import DebError, DebFile

from ..core.sizes import MAX_ROM_FILE
from ..errors import SourceError

__all__ = ["ROM_DIRS", "DebContents", "Member", "read_deb"]

#: Directories whose ``*.rom`` files QEMU finds (Debian's QEMU firmware path, background.md).
ROM_DIRS = ("usr/lib/ipxe/qemu", "usr/share/qemu")
MAX_MEMBER = MAX_ROM_FILE
#: A control file is a few hundred bytes; a larger one is refused before it is read.
MAX_CONTROL = 1 << 20
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


#: Errors a corrupt or hostile compressed tar stream can raise while it is read.
_STREAM_ERRORS = (tarfile.TarError, EOFError, OSError, ValueError, lzma.LZMAError, zlib.error,
                  UnicodeError)


def read_deb(path: str) -> DebContents:
    """Read control fields, the ROMs in ROM_DIRS and /usr/share/doc/<package>/copyright."""
    try:
        deb = DebFile(path)  # python-debian checks the ar container and its required parts
    except (ArError, DebError, OSError, ValueError, KeyError) as error:
        raise SourceError(f"not a readable Debian binary package: {error}", path=path) from error
    try:
        names = deb.getnames()
        control_name = next(n for n in names if n.startswith("control.tar"))
        data_name = next(n for n in names if n.startswith("data.tar"))
        try:
            control = _read_control(deb.getmember(control_name), control_name)
        except _STREAM_ERRORS as error:
            raise SourceError(f"corrupt control member {control_name}: {error}", path=path) from error
        package = control.get("Package")
        if not package:
            raise SourceError("control member has no Package field", path=path)
        copyright_path = f"usr/share/doc/{package}/copyright"
        try:
            files, links = _scan_data(deb.getmember(data_name), data_name)
        except _STREAM_ERRORS as error:
            raise SourceError(f"corrupt data member {data_name}: {error}", path=path) from error
    finally:
        deb.close()
    roms: dict[str, Member] = {}
    for name in sorted(set(files) | set(links)):
        if posixpath.dirname(name) in ROM_DIRS and name.endswith(".rom"):
            target = _resolve(name, files, links, path)
            if target is None:
                raise SourceError(f"symlink {name} -> {links.get(name)} does not resolve to a "
                                  "*.rom file inside the package", path=path)
            member = files[target]
            roms[name] = Member(name, member.data, member.mtime)
    copyright_target = _resolve(copyright_path, files, links, path)
    copyright_text = None
    if copyright_target is not None:
        copyright_text = files[copyright_target].data.decode("utf-8", errors="replace")
    return DebContents(control, tuple(roms.values()), copyright_text)


def _read_control(member: ArMember, name: str) -> Deb822:
    """The control file of the control member, streamed and bounded like the data member.

    (python-debian's DebFile.debcontrol() would hold a zstd member wholly in memory.)
    """
    with _decompressed(member, name) as stream, tarfile.open(fileobj=stream, mode="r|") as tar:
        for info in tar:
            if _normalize(info.name) == "control" and info.isreg():
                if info.size > MAX_CONTROL:
                    raise ValueError(f"control file is {info.size} bytes, over {MAX_CONTROL}")
                fileobj = tar.extractfile(info)
                assert fileobj is not None
                return Deb822(fileobj.read().decode("utf-8"))
    raise ValueError("no control file in it")


def _wanted(name: str) -> bool:
    """Regular files worth keeping: ROMs anywhere (symlinks may point at them) and doc files."""
    return name.endswith(".rom") or name.startswith("usr/share/doc/")


def _scan_data(member: ArMember, name: str) -> tuple[dict[str, Member], dict[str, str]]:
    """One streaming pass: keep wanted regular files and every symlink (path -> target)."""
    files: dict[str, Member] = {}
    links: dict[str, str] = {}
    with _decompressed(member, name) as stream, tarfile.open(fileobj=stream, mode="r|") as tar:
        for info in tar:
            path = _normalize(info.name)
            if path is None:
                continue  # leaves the package root: never used
            if info.issym():
                links[path] = info.linkname
            elif info.isreg() and _wanted(path):
                if info.size > MAX_MEMBER:
                    raise ValueError(f"member {path} is {info.size} bytes, over {MAX_MEMBER}: "
                                     "no option ROM is that large")
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


# each is opened under `with` in _decompressed
_DECOMPRESSORS: dict[str, Callable[[IO[bytes]], io.BufferedIOBase]] = {
    ".gz": lambda f: gzip.GzipFile(fileobj=f, mode="rb"),
    ".xz": lambda f: lzma.LZMAFile(f, mode="rb"),  # noqa: SIM115
    ".lzma": lambda f: lzma.LZMAFile(f, mode="rb"),  # noqa: SIM115
    ".bz2": lambda f: bz2.BZ2File(f, mode="rb"),
}


@contextmanager
def _decompressed(member: ArMember, name: str) -> Iterator[IO[bytes]]:
    """Yield the uncompressed tar as a stream, and check the compressed stream's integrity.

    gzip, xz and bzip2 file objects verify their checksums (CRC32, CRC64/CRC32, CRC32) when
    they reach the end, which tarfile's own stream mode does not; so the stream is always read
    to its end. zstd goes through the zstd tool, which checks its frame checksums.
    """
    raw = cast(IO[bytes], member)
    suffix = posixpath.splitext(name)[1]
    if name.endswith(".tar"):
        yield raw
    elif suffix in _DECOMPRESSORS:
        with _DECOMPRESSORS[suffix](raw) as stream:
            yield cast(IO[bytes], stream)
            while stream.read(_COPY_CHUNK):
                pass
    elif suffix == ".zst":
        with _zstd(member, name) as stream:
            yield stream
    else:
        raise ValueError(f"unsupported compression of {name}")


@contextmanager
def _zstd(member: ArMember, name: str) -> Iterator[IO[bytes]]:
    """The zstd tool as a decompressing pipe, fed from the member by a thread."""
    try:
        proc = subprocess.Popen(
            ["zstd", "-q", "-d", "-c"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
    except OSError as error:
        raise SourceError(f"cannot run zstd to read {name} (apt-get install zstd): {error}") from error
    assert proc.stdin is not None and proc.stdout is not None
    stdin = proc.stdin

    def feed() -> None:
        try:
            while chunk := member.read(_COPY_CHUNK):
                stdin.write(chunk)
        except OSError:  # zstd stopped reading (BrokenPipeError): its exit status tells why
            pass
        finally:
            stdin.close()

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
