"""Read what ipxe-compat needs from a binary ``.deb``: its control fields, firmware and copyright.

The file is opened once and read once, front to back, through its ar (:mod:`.ar`), compression
(:mod:`.compress`) and tar (:mod:`.tar`) layers: its sha256 is of the
very bytes parsed. Members are read, never extracted by path; symlinks and hard links are resolved
against the package's own tree only. Only what can be used is kept in memory: firmware files
(those :func:`~ipxe_compat.core.firmware.classify` gives a class QEMU loads, or the target of a
link to one) and ``usr/share/doc/*/copyright``, within a total budget and a file count, so a
package cannot make ipxe-compat hold more than a fixed amount.
"""

from __future__ import annotations

import hashlib
import lzma
import posixpath
import re
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from debian.deb822 import Deb822

from ..core.compat import MAX_KEPT, MAX_ROM_FILE, MAX_ROMS
from ..core.firmware import classify
from ..errors import CorruptError, DebFormatError, SourceError, shown
from .ar import MAX_DEB_FILE, ArMember, HashingReader, ar_members
from .compress import (
    CONTROL_SUFFIXES,
    DATA_SUFFIXES,
    MAX_CONTROL_UNPACKED,
    MAX_DATA_UNPACKED,
    Unpacked,
)
from .files import open_regular
from .tar import TarReader

__all__ = ["FIRMWARE_DIRS", "ROM_DIRS", "DebContents", "DigestMismatch", "Member", "read_deb"]

#: Where Debian's packages put the firmware QEMU loads: QEMU's firmware path in its search order
#: (``/usr/share/qemu``, ``/usr/share/seabios``, ``/usr/lib/ipxe/qemu``), then OVMF's two
#: directories, which guests name by full path (docs/firmware.md).
FIRMWARE_DIRS = ("usr/share/qemu", "usr/share/seabios", "usr/lib/ipxe/qemu", "usr/share/ovmf",
                 "usr/share/OVMF")
#: The older name: the ROM directories were the first firmware directories read.
ROM_DIRS = FIRMWARE_DIRS
MAX_MEMBER = MAX_ROM_FILE
#: A control file is a few hundred bytes; a larger one is refused before it is read.
MAX_CONTROL = 1 << 20
#: A copyright file: Debian's largest are a few hundred KB.
MAX_COPYRIGHT = 4 << 20
_MAX_SYMLINK_HOPS = 40


@dataclass(frozen=True)
class Member:
    """A regular file read from the data member: its package path, bytes and mtime."""

    path: str
    data: bytes
    mtime: int
    target: str = ""  # the regular file a symlink resolves to; "" when ``path`` is that file


@dataclass(frozen=True)
class DebContents:
    """What a .deb tells ipxe-compat: control fields, ROM members, the copyright text, and the
    sha256 of the bytes they were read from."""

    control: Deb822
    roms: tuple[Member, ...]
    copyright: str | None
    sha256: str


class DigestMismatch(SourceError):
    """The bytes read are not the ones an index (apt's) promised."""


#: Errors a corrupt compressed stream can raise besides DebFormatError.
_STREAM_ERRORS = (lzma.LZMAError, zlib.error, OSError, EOFError, ValueError)


def read_deb(path: str, expected_sha256: str | None = None) -> DebContents:
    """Read control fields, the firmware in FIRMWARE_DIRS and /usr/share/doc/<package>/copyright.

    With ``expected_sha256``, bytes that hash otherwise are refused (DigestMismatch), also when
    they do not parse: a wrong download is named as such, not as a malformed package.
    """
    with open_regular(path) as (handle, info):
        if info.st_size > MAX_DEB_FILE:
            raise SourceError(f"{info.st_size} bytes is larger than any ipxe package "
                              f"({MAX_DEB_FILE >> 20} MiB at most)", path=path)
        reader = HashingReader(handle)
        try:
            parsed = _parse(reader)
        except (DebFormatError, *_STREAM_ERRORS) as error:
            if expected_sha256 is not None:
                _verify(reader.hexdigest(), expected_sha256, path)
            raise SourceError(
                f"not a readable Debian binary package: {error}", path=path
            ) from error
        digest = reader.hexdigest()
    if expected_sha256 is not None:
        _verify(digest, expected_sha256, path)
    control, roms, copyright_text = parsed
    return DebContents(control, roms, copyright_text, digest)


def _verify(actual: str, expected: str, path: str) -> None:
    if actual != expected:
        raise DigestMismatch(f"sha256 {actual}, but apt's index says {expected}", path=path)


# one branch per member kind, in dpkg's order, reads best as one function
def _parse(reader: HashingReader) -> tuple[Deb822, tuple[Member, ...], str | None]:  # noqa: PLR0912
    """The members in dpkg's order; anything another reader could read otherwise is refused."""
    control: Deb822 | None = None
    tree: _Tree | None = None
    binary = False
    for member in ar_members(reader):
        name = member.name
        if not binary:
            if name != "debian-binary":
                raise DebFormatError(f"first member is {name!r}, not debian-binary")
            version = member.read(64)
            if member.left or not re.fullmatch(rb"2\.[0-9]+\n", version):
                raise DebFormatError(
                    f"debian-binary is {version[:16]!r}: dpkg reads format 2.x only"
                )
            binary = True
        elif name.startswith("_"):
            continue  # dpkg skips members named _*
        elif name.startswith("control.tar"):
            if control is not None or tree is not None:
                raise DebFormatError(f"a second control member {name} (dpkg reads the first)")
            suffix = _suffix(name, "control.tar", CONTROL_SUFFIXES)
            with _corrupt("control", name):
                control = _read_control(member, suffix)
        elif name.startswith("data.tar"):
            if control is None:
                raise DebFormatError(f"{name} comes before the control member")
            if tree is not None:
                raise DebFormatError(f"a second data member {name} (dpkg reads the first)")
            suffix = _suffix(name, "data.tar", DATA_SUFFIXES)
            with _corrupt("data", name):
                tree = _scan_data(member, suffix)
        else:
            raise DebFormatError(f"unexpected member {name!r} (dpkg reads debian-binary, "
                                 "control.tar*, data.tar*)")
    if control is None:
        raise DebFormatError("no control member")
    if tree is None:
        raise DebFormatError("no data member")
    return control, tree.roms(), tree.copyright(control["Package"])


@contextmanager
def _corrupt(kind: str, name: str) -> Iterator[None]:
    """Name the member whose bytes are damaged."""
    try:
        yield
    except (CorruptError, *_STREAM_ERRORS) as error:
        raise DebFormatError(f"corrupt {kind} member {name}: {error}") from error


def _suffix(name: str, stem: str, allowed: tuple[str, ...]) -> str:
    suffix = name[len(stem):]
    if suffix not in allowed:
        raise DebFormatError(f"member {name}: unsupported compression (dpkg reads "
                             f"{', '.join(stem + s for s in allowed)})")
    return suffix


def _read_control(member: ArMember, suffix: str) -> Deb822:
    """The one ``./control`` of the control member, streamed and bounded like the data member."""
    stream = Unpacked(member, suffix, MAX_CONTROL_UNPACKED)
    text: str | None = None
    try:
        tar = TarReader(stream, member.name)
        for entry in tar.entries():
            if _normalize(entry.path) != "control":
                continue
            if text is not None:
                raise DebFormatError(f"{member.name} holds two control files (dpkg reads the last, "
                                     "other tools the first)")
            if entry.type != "file":
                raise DebFormatError(f"{member.name}: control is not a regular file")
            if entry.size > MAX_CONTROL:
                raise DebFormatError(f"control file is {entry.size} bytes, over {MAX_CONTROL}")
            try:
                text = tar.content(entry).decode("utf-8")
            except UnicodeDecodeError as error:
                raise DebFormatError(f"control file is not UTF-8: {error}") from error
        stream.finish()
    finally:
        stream.close()
    if text is None:
        raise DebFormatError(f"no control file in {member.name}")
    control = Deb822(text)
    if not control.get("Package"):
        raise DebFormatError("control member has no Package field")
    return control


def _firmware(path: str) -> bool:
    return classify(posixpath.basename(path)).firmware


def _wanted(path: str) -> bool:
    """Regular files worth keeping: firmware anywhere (links may point at it) and copyrights."""
    return _firmware(path) or (
        posixpath.basename(path) == "copyright"
        and posixpath.dirname(posixpath.dirname(path)) == "usr/share/doc"
    )


class _Tree:
    """What the data member holds, as far as ipxe-compat needs it, within fixed bounds."""

    def __init__(self, where: str):
        self.where = where
        self.files: dict[str, Member] = {}
        self.digests: dict[str, bytes] = {}
        self.links: dict[str, str] = {}
        # every path seen (by digest, so memory stays small): what it was, to refuse a path
        # given twice with different content (tar and dpkg would each keep another one)
        self._seen: dict[bytes, tuple[str, bytes]] = {}
        self.kept = 0
        self.rom_count = 0

    @staticmethod
    def _key(path: str) -> bytes:
        return hashlib.blake2b(path.encode("utf-8", "surrogateescape"), digest_size=16).digest()

    def has(self, path: str) -> bool:
        return self._key(path) in self._seen

    def see(self, path: str, fingerprint: tuple[str, bytes]) -> None:
        key = self._key(path)
        before = self._seen.get(key)
        if before is not None and (before != fingerprint or before[0] == "other"
                                   or before == ("file", b"")):
            raise DebFormatError(f"{self.where}: {shown(path)} is given twice, with different "
                                 "content")
        self._seen[key] = fingerprint

    def spend(self, size: int, path: str) -> None:
        self.kept += size
        if self.kept > MAX_KEPT:
            raise DebFormatError(f"{self.where}: the firmware and copyright files together exceed "
                                 f"{MAX_KEPT >> 20} MiB (at {shown(path)})")

    def count_rom(self, path: str) -> None:
        if _firmware(path):
            self.rom_count += 1
            if self.rom_count > MAX_ROMS:
                raise DebFormatError(f"{self.where}: more than {MAX_ROMS} firmware files")

    def roms(self) -> tuple[Member, ...]:
        roms: dict[str, Member] = {}
        for name in sorted(set(self.files) | set(self.links)):
            if posixpath.dirname(name) in FIRMWARE_DIRS and _firmware(name):
                target = self.resolve(name)
                if target is None:
                    link = shown(self.links.get(name) or "")
                    raise DebFormatError(f"symlink {shown(name)} -> {link} does not resolve to a "
                                         "firmware file inside the package")
                member = self.files[target]
                roms[name] = Member(name, member.data, member.mtime,
                                    "" if target == name else target)
        return tuple(roms.values())

    def copyright(self, package: str) -> str | None:
        target = self.resolve(f"usr/share/doc/{package}/copyright")
        if target is None:
            return None
        return self.files[target].data.decode("utf-8", errors="replace")

    def resolve(self, name: str) -> str | None:
        """Follow symlinks within the package; None if the chain ends at nothing we kept."""
        path = name
        for _ in range(_MAX_SYMLINK_HOPS):
            if path in self.files:
                return path
            # a symlink may be the file itself or one of its parent directories
            parts = path.split("/")
            for i in range(len(parts), 0, -1):
                prefix = "/".join(parts[:i])
                if prefix in self.links:
                    target = self.links[prefix]
                    base = "" if target.startswith("/") else posixpath.dirname(prefix)
                    resolved = _normalize(posixpath.join(base, target, *parts[i:]))
                    if resolved is None:
                        raise DebFormatError(
                            f"symlink {name} points outside the package ({target})"
                        )
                    path = resolved
                    break
            else:
                return None
        raise DebFormatError(f"symlink {shown(name)}: too many levels of symbolic links")


def _scan_data(member: ArMember, suffix: str) -> _Tree:
    """One streaming pass: keep wanted regular files (hard links resolved), every symlink."""
    tree = _Tree(member.name)
    stream = Unpacked(member, suffix, MAX_DATA_UNPACKED)
    try:
        tar = TarReader(stream, member.name)
        for entry in tar.entries():
            path = _normalize(entry.path)
            if path is None:
                continue  # leaves the package root: never used
            if entry.type == "file":
                if not _wanted(path):
                    tree.see(path, ("file", b""))
                    continue
                limit = MAX_MEMBER if _firmware(path) else MAX_COPYRIGHT
                if entry.size > limit:
                    what = "no firmware file is that large" if limit == MAX_MEMBER else "too large"
                    raise DebFormatError(
                        f"member {shown(path)} is {entry.size} bytes, over {limit}: {what}"
                    )
                tree.count_rom(path)
                tree.spend(entry.size, path)
                data = tar.content(entry)
                tree.digests[path] = hashlib.sha256(data).digest()
                tree.see(path, ("file", tree.digests[path]))
                tree.files[path] = Member(path, data, entry.mtime)
            elif entry.type == "hardlink":
                _hard_link(tree, path, entry.linkname)
            elif entry.type == "symlink":
                tree.see(path, ("symlink", entry.linkname.encode("utf-8", "surrogateescape")))
                tree.spend(len(path) + len(entry.linkname), path)
                tree.links[path] = entry.linkname
            else:
                tree.see(path, (entry.type, b""))
        stream.finish()
    finally:
        stream.close()
    return tree


def _hard_link(tree: _Tree, path: str, linkname: str) -> None:
    """A hard link is the earlier member it names (tar's rule), as ``dpkg-deb --build`` makes
    them for identical files: the link gets that member's bytes."""
    target = _normalize(linkname)
    link = f"hard link {shown(path)} -> {shown(linkname)}"
    if target is None:
        raise DebFormatError(f"{link} points outside the package")
    source = tree.files.get(target)
    if source is None:
        if not tree.has(target):
            raise DebFormatError(f"{link}: no member of that name comes before it in the package")
        if _wanted(path):
            raise DebFormatError(f"{link}: no firmware or copyright file of that name comes "
                                 "before it in the package")
        tree.see(path, ("file", b""))
        return
    tree.digests[path] = tree.digests[target]
    tree.see(path, ("file", tree.digests[path]))
    tree.count_rom(path)
    tree.files[path] = Member(path, source.data, source.mtime)


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
